//! Task ids as 16-byte keys. Celery's ids are UUID4 strings; those parse to
//! their 128 bits. Any other id (`apply_async(task_id="…")` takes any
//! string) gets a 128-bit hash with the RFC 4122 variant bits cleared, so
//! the two kinds can never collide, and its text is kept with the task.

use std::hash::{Hash, Hasher};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TaskKey(pub u128);

/// The variant bits of an RFC 4122 UUID (`10` in the top bits of octet 8).
const VARIANT_MASK: u128 = 0xC000 << 48;
const VARIANT_RFC: u128 = 0x8000 << 48;

impl TaskKey {
    pub const NONE: TaskKey = TaskKey(0);

    pub fn of(id: &str) -> TaskKey {
        match parse_uuid(id) {
            Some(u) if u & VARIANT_MASK == VARIANT_RFC => TaskKey(u),
            _ => TaskKey(hash128(id) & !VARIANT_MASK),
        }
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Whether the key is a UUID whose text is recoverable from the key.
    pub fn is_uuid(self) -> bool {
        self.0 & VARIANT_MASK == VARIANT_RFC
    }

    /// The canonical text of a UUID key.
    pub fn uuid_text(self) -> Option<String> {
        if !self.is_uuid() {
            return None;
        }
        let h = format!("{:032x}", self.0);
        Some(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }
}

/// Only the canonical lowercase form, so that the text round-trips.
fn parse_uuid(s: &str) -> Option<u128> {
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let four = |at: usize| u64::from(u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]));
    let eight = |first: usize, second: usize| hex8((four(first) << 32) | four(second));
    let high = eight(0, 4)?;
    let mid_high = eight(9, 14)?;
    let mid_low = eight(19, 24)?;
    let low = eight(28, 32)?;
    Some(
        (u128::from(high) << 96)
            | (u128::from(mid_high) << 64)
            | (u128::from(mid_low) << 32)
            | u128::from(low),
    )
}

/// Eight lowercase hex digits (the first in the top byte) as their value,
/// all bytes at once: a task id is parsed at every task event.
fn hex8(w: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    if w & HIGHS != 0 {
        return None;
    }
    // High bit of each byte that is at least `n` (exact per byte: every
    // byte is below 0x80, so no borrow crosses a byte).
    let at_least = |n: u8| ((w | HIGHS) - ONES * u64::from(n)) & HIGHS;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if digit | letter != HIGHS {
        return None;
    }
    // '0'..'9' are 0x30..0x39 and 'a'..'f' are 0x61..0x66: the low nibble,
    // plus 9 for a letter.
    let mut v = (w & (ONES * 0x0f)) + (letter >> 7) * 9;
    v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    u32::try_from(v).ok()
}

fn hash128(s: &str) -> u128 {
    let half = |seed: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        s.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x9e37_79b9)) << 64) | u128::from(half(0x85eb_ca6b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_and_other_ids_do_not_collide_with_them() {
        let id = "dcd84637-0b39-4792-afaa-9a5f315b7cf6";
        let key = TaskKey::of(id);
        assert!(key.is_uuid());
        assert_eq!(key.uuid_text().as_deref(), Some(id));
        for other in [
            "my-task-1",
            "DCD84637-0B39-4792-AFAA-9A5F315B7CF6",
            "00000000-0000-0000-0000-000000000000",
        ] {
            let k = TaskKey::of(other);
            assert!(!k.is_uuid(), "{other}");
            assert_eq!(k, TaskKey::of(other), "stable");
            assert_ne!(k, key);
        }
    }

    #[test]
    fn every_byte_either_parses_as_a_hex_digit_or_spoils_the_uuid() {
        let id = *b"dcd84637-0b39-4792-afaa-9a5f315b7cf6";
        let hex_at = |i: &usize| ![8, 13, 18, 23].contains(i);
        let reference = |b: &[u8]| -> Option<u128> {
            let hex: String = (0..36).filter(hex_at).map(|i| b[i] as char).collect();
            let lower = hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
            lower.then(|| u128::from_str_radix(&hex, 16).ok()).flatten()
        };
        for at in (0..36).filter(hex_at) {
            for c in 0..=255u8 {
                let mut b = id;
                b[at] = c;
                let Ok(s) = std::str::from_utf8(&b) else {
                    continue;
                };
                assert_eq!(parse_uuid(s), reference(&b), "{s:?}");
            }
        }
        assert_eq!(parse_uuid("dcd84637-0b39-4792-afaa-9a5f315b7cf"), None);
        assert_eq!(parse_uuid("dcd84637x0b39-4792-afaa-9a5f315b7cf6"), None);
    }
}
