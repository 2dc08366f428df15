//! The saved format's primitives: LEB128 integers (zigzag for signed
//! ones), IEEE doubles as their 8 bytes, length-prefixed UTF-8, and the
//! sparse lists that keep mostly-zero rings small. A [`Reader`] never
//! panics and never allocates more than its input could hold: every
//! failure is a [`SavedError`] naming what was being read and where.

use super::SavedError;

/// Appends the format's primitives to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn len(&mut self, n: usize) {
        self.uint(n as u64);
    }

    pub fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Writer, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                write(self, v);
            }
        }
    }

    /// The non-zero entries of `values` as `(index gap, value)` pairs, the
    /// first gap counted from -1 so every gap is at least 1, closed by 0.
    pub fn sparse(&mut self, values: &[u32]) {
        let mut prev = -1i64;
        for (i, v) in values.iter().enumerate().filter(|(_, v)| **v != 0) {
            self.uint((i as i64 - prev) as u64);
            self.uint(u64::from(*v));
            prev = i as i64;
        }
        self.uint(0);
    }

    /// A list of entries by increasing age: each entry's age gap (from
    /// -1, so at least 1) written before `entry` writes the rest, closed
    /// by 0.
    pub fn aged<T>(
        &mut self,
        entries: impl Iterator<Item = (usize, T)>,
        mut entry: impl FnMut(&mut Writer, T),
    ) {
        let mut prev = -1i64;
        for (age, value) in entries {
            self.uint((age as i64 - prev) as u64);
            entry(self, value);
            prev = age as i64;
        }
        self.uint(0);
    }
}

/// Reads the format's primitives from a slice, refusing anything
/// malformed.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where `bytes` starts in the whole blob, for errors.
    base: usize,
}

type Result<T> = std::result::Result<T, SavedError>;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader { bytes, at: 0, base }
    }

    fn truncated(&self, what: &'static str) -> SavedError {
        SavedError::Truncated {
            what,
            at: self.base + self.bytes.len(),
        }
    }

    pub fn invalid(&self, what: &'static str) -> SavedError {
        SavedError::Invalid {
            what,
            at: self.base + self.at,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.truncated(what))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub fn uint(&mut self, what: &'static str) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.invalid(what));
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.invalid(what))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        let v = self.uint(what)?;
        u32::try_from(v).map_err(|_| self.invalid(what))
    }

    pub fn usize(&mut self, what: &'static str) -> Result<usize> {
        let v = self.uint(what)?;
        usize::try_from(v).map_err(|_| self.invalid(what))
    }

    pub fn int(&mut self, what: &'static str) -> Result<i64> {
        let v = self.uint(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn f64(&mut self, what: &'static str) -> Result<f64> {
        let b = self.take(8, what)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(word)))
    }

    pub fn u128(&mut self, what: &'static str) -> Result<u128> {
        let b = self.take(16, what)?;
        let mut word = [0u8; 16];
        word.copy_from_slice(b);
        Ok(u128::from_le_bytes(word))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SavedError::Invalid {
                what,
                at: self.base + self.at - 1,
            }),
        }
    }

    pub fn string(&mut self, what: &'static str) -> Result<String> {
        let n = self.usize(what)?;
        let at = self.at;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| SavedError::Invalid {
                what,
                at: self.base + at,
            })
    }

    pub fn opt<T>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.bool(what)? {
            false => Ok(None),
            true => read(self).map(Some),
        }
    }

    /// A count of entries each at least `min_bytes` long: refused when the
    /// rest of the input could not hold them, so no list is allocated
    /// larger than its input.
    pub fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<usize> {
        let n = self.usize(what)?;
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(min_bytes.max(1)) > left {
            return Err(self.truncated(what));
        }
        Ok(n)
    }

    /// `n` entries read by `read`.
    pub fn list<T>(
        &mut self,
        what: &'static str,
        min_bytes: usize,
        mut read: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.count(what, min_bytes)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(read(self)?);
        }
        Ok(out)
    }

    /// The entries [`Writer::sparse`] wrote, into `values` (zeroed first);
    /// an index past its end, or a zero value, is refused.
    pub fn sparse(&mut self, what: &'static str, values: &mut [u32]) -> Result<()> {
        values.fill(0);
        let mut prev = -1i64;
        loop {
            let gap = self.uint(what)?;
            if gap == 0 {
                return Ok(());
            }
            let index = i64::try_from(gap)
                .ok()
                .and_then(|g| prev.checked_add(g))
                .filter(|i| (*i as u64) < values.len() as u64)
                .ok_or_else(|| self.invalid(what))?;
            let value = self.u32(what)?;
            if value == 0 {
                return Err(self.invalid(what));
            }
            values[index as usize] = value;
            prev = index;
        }
    }

    /// The entries [`Writer::aged`] wrote, each read by `entry` after its
    /// age: ages strictly increasing and at most `max_age`.
    pub fn aged<T>(
        &mut self,
        what: &'static str,
        max_age: usize,
        mut entry: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Vec<(usize, T)>> {
        let mut out = Vec::new();
        let mut prev = -1i64;
        loop {
            let gap = self.uint(what)?;
            if gap == 0 {
                return Ok(out);
            }
            let age = i64::try_from(gap)
                .ok()
                .and_then(|g| prev.checked_add(g))
                .filter(|a| (*a as u64) <= max_age as u64)
                .ok_or_else(|| self.invalid(what))?;
            out.push((age as usize, entry(self)?));
            prev = age;
        }
    }

    /// Refuses anything left after the last section.
    pub fn end(&self) -> Result<()> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.invalid("the end (bytes follow the last section)"))
        }
    }
}

/// A 64-bit checksum of `bytes`, word by word (multiply and rotate, each
/// step a bijection of the state), so damage to any one word always
/// changes it and other damage almost always does. It guards against
/// accidents (a torn write, a flipped bit), not against forgery.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let step = |h: u64, word: u64| (h ^ word).wrapping_mul(K).rotate_left(29);
    let mut h = step(0x6365_6c61_646f_6e21, bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        h = step(h, u64::from_le_bytes(word));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(word));
    }
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_strings_and_sparse_lists_read_back_as_written() {
        let mut w = Writer::default();
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            w.uint(v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            w.int(v);
        }
        w.f64(f64::NAN);
        w.f64(-0.0);
        w.str("héllo");
        w.sparse(&[0, 5, 0, 0, 7]);
        w.aged([(0, 1u64), (3, 2)].into_iter(), |w, v| w.uint(v));
        let mut r = Reader::new(&w.buf, 0);
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(r.uint("u").unwrap(), v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.int("i").unwrap(), v);
        }
        assert!(r.f64("f").unwrap().is_nan());
        assert_eq!(r.f64("f").unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(r.string("s").unwrap(), "héllo");
        let mut values = [9; 5];
        r.sparse("sparse", &mut values).unwrap();
        assert_eq!(values, [0, 5, 0, 0, 7]);
        assert_eq!(
            r.aged("aged", 3, |r| r.uint("v")).unwrap(),
            [(0, 1), (3, 2)]
        );
        r.end().unwrap();
    }

    #[test]
    fn malformed_primitives_are_errors() {
        let overlong = [0xff; 11];
        assert!(matches!(
            Reader::new(&overlong, 0).uint("n"),
            Err(SavedError::Invalid { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x80], 0).uint("n"),
            Err(SavedError::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&[2, 0xff, 0xfe], 0).string("s"),
            Err(SavedError::Invalid { .. })
        ));
        assert!(matches!(
            Reader::new(&[2], 0).bool("b"),
            Err(SavedError::Invalid { .. })
        ));
        let huge = {
            let mut w = Writer::default();
            w.uint(u64::MAX);
            w.buf
        };
        assert!(matches!(
            Reader::new(&huge, 0).count("list", 1),
            Err(SavedError::Truncated { .. })
        ));
        let past_end = [6, 1, 0];
        assert!(matches!(
            Reader::new(&past_end, 0).sparse("sparse", &mut [0; 5]),
            Err(SavedError::Invalid { .. })
        ));
        assert_eq!(
            Reader::new(&[1, 7, 0], 0).aged("aged", 0, |r| r.uint("v")),
            Ok(vec![(0, 7)])
        );
        let too_old = [2, 7, 0];
        assert!(matches!(
            Reader::new(&too_old, 0).aged("aged", 0, |r| r.uint("v")),
            Err(SavedError::Invalid { .. })
        ));
    }

    #[test]
    fn any_one_changed_word_changes_the_checksum() {
        let base: Vec<u8> = (0..100u8).collect();
        let sum = checksum(&base);
        for i in 0..base.len() {
            let mut damaged = base.clone();
            damaged[i] ^= 0x10;
            assert_ne!(checksum(&damaged), sum, "byte {i}");
        }
        assert_ne!(checksum(&base[..99]), sum);
        assert_ne!(checksum(&[0]), checksum(&[]), "a zero byte counts");
    }
}
