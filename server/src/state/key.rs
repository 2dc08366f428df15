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
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut value: u128 = 0;
    for group in [&b[0..8], &b[9..13], &b[14..18], &b[19..23], &b[24..36]] {
        let mut part: u64 = 0;
        for c in group {
            let digit = HEX[usize::from(*c)];
            if digit == 0xff {
                return None;
            }
            part = (part << 4) | u64::from(digit);
        }
        value = (value << (4 * group.len())) | u128::from(part);
    }
    Some(value)
}

/// Lowercase hex digit values; 0xff for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

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
}
