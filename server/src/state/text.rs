//! A task's free text (args, kwargs, result, traceback, …) in one heap
//! block: a presence mask, the lengths of the present fields, then their
//! bytes. A task without text costs nothing but the pointer; one with three
//! fields costs one allocation instead of three strings' worth of headers.

/// The text fields a task can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    Args = 0,
    Kwargs,
    Result,
    Exception,
    Traceback,
    Eta,
    Expires,
    /// The hostname of the client that sent the task.
    Client,
    /// The task id, when it is not a canonical UUID.
    IdText,
    ParentIdText,
    RootIdText,
}

const FIELDS: usize = 11;
const HEADER: usize = 2;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(Option<Box<[u8]>>);

impl Text {
    fn mask(&self) -> u16 {
        match &self.0 {
            Some(b) if b.len() >= HEADER => u16::from_le_bytes([b[0], b[1]]),
            _ => 0,
        }
    }

    /// Byte range of `field` within the block, if present: after the
    /// lengths, past the bytes of the present fields before it.
    fn range(&self, field: Field) -> Option<(usize, usize)> {
        let mask = self.mask();
        let bit = 1u16 << field as u16;
        if mask & bit == 0 {
            return None;
        }
        let block = self.0.as_deref()?;
        let len = |i: usize| {
            let at = HEADER + 4 * i;
            u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]) as usize
        };
        let before = (mask & (bit - 1)).count_ones() as usize;
        let start = HEADER + 4 * mask.count_ones() as usize + (0..before).map(len).sum::<usize>();
        Some((start, start + len(before)))
    }

    /// Byte ranges of every field within the block, in one pass.
    fn ranges(&self) -> [Option<(usize, usize)>; FIELDS] {
        let mut out = [None; FIELDS];
        let Some(block) = self.0.as_deref() else {
            return out;
        };
        let mask = self.mask();
        let mut offset = HEADER + 4 * mask.count_ones() as usize;
        let mut at = HEADER;
        for (f, range) in out.iter_mut().enumerate() {
            if mask & (1 << f) == 0 {
                continue;
            }
            let len = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
                as usize;
            *range = Some((offset, offset + len));
            offset += len;
            at += 4;
        }
        out
    }

    /// The bytes of `field` (valid UTF-8: they came from JSON strings).
    pub fn bytes(&self, field: Field) -> Option<&[u8]> {
        let (start, end) = self.range(field)?;
        self.0.as_deref().map(|b| &b[start..end])
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.bytes(field).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Sets several fields at once (one reallocation). `None` values are
    /// skipped: an event that omits a field leaves it as it was.
    /// Most events carry no text or repeat what the task holds (a
    /// task-received repeats its task-sent's args), so the fields are
    /// compared one by one first and the block rebuilt only for a change.
    pub fn set_many(&mut self, updates: &[(Field, Option<&str>)]) {
        let changed = updates
            .iter()
            .any(|(field, value)| value.is_some_and(|v| self.bytes(*field) != Some(v.as_bytes())));
        if !changed {
            return;
        }
        let ranges = self.ranges();
        let block = self.0.as_deref().unwrap_or_default();
        let mut values: [Option<&[u8]>; FIELDS] = ranges.map(|r| r.map(|(a, b)| &block[a..b]));
        for (field, value) in updates {
            if let Some(v) = value {
                values[*field as usize] = Some(v.as_bytes());
            }
        }
        self.0 = Some(encode(&values));
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |b| b.len())
    }

    /// The bytes of every present field, for substring search.
    pub fn all_bytes(&self) -> impl Iterator<Item = (Field, &[u8])> {
        (0..FIELDS).filter_map(move |f| {
            let field = field_at(f);
            self.bytes(field).map(|b| (field, b))
        })
    }
}

fn field_at(i: usize) -> Field {
    match i {
        0 => Field::Args,
        1 => Field::Kwargs,
        2 => Field::Result,
        3 => Field::Exception,
        4 => Field::Traceback,
        5 => Field::Eta,
        6 => Field::Expires,
        7 => Field::Client,
        8 => Field::IdText,
        9 => Field::ParentIdText,
        _ => Field::RootIdText,
    }
}

fn encode(values: &[Option<&[u8]>; FIELDS]) -> Box<[u8]> {
    let mut mask = 0u16;
    let mut total = HEADER;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            mask |= 1 << i;
            total += 4 + v.len();
        }
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&mask.to_le_bytes());
    for v in values.iter().flatten() {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
    }
    for v in values.iter().flatten() {
        out.extend_from_slice(v);
    }
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_missing_ones_are_none() {
        let mut t = Text::default();
        assert_eq!(t.get(Field::Args), None);
        assert_eq!(t.heap_bytes(), 0);
        t.set_many(&[(Field::Args, Some("(1, 2)")), (Field::Kwargs, Some("{}"))]);
        t.set_many(&[(Field::Result, Some("3")), (Field::Args, None)]);
        assert_eq!(t.get(Field::Args), Some("(1, 2)"));
        assert_eq!(t.get(Field::Kwargs), Some("{}"));
        assert_eq!(t.get(Field::Result), Some("3"));
        assert_eq!(t.get(Field::Traceback), None);
        t.set_many(&[(Field::Args, Some("é ü"))]);
        assert_eq!(t.get(Field::Args), Some("é ü"));
        assert_eq!(t.get(Field::Result), Some("3"));
    }

    #[test]
    fn any_sequence_of_sets_reads_back_like_a_map_of_fields() {
        let values = ["", "a", "(1, 2)", "{'k': 'v'}", "é ü", "x"];
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..200 {
            let mut t = Text::default();
            let mut expect: [Option<&str>; FIELDS] = [None; FIELDS];
            for _ in 0..12 {
                let updates: Vec<(Field, Option<&str>)> = (0..1 + next(4))
                    .map(|_| {
                        let field = field_at(next(FIELDS));
                        let value = (next(4) > 0).then(|| values[next(values.len())]);
                        (field, value)
                    })
                    .collect();
                t.set_many(&updates);
                for (field, value) in &updates {
                    if value.is_some() {
                        expect[*field as usize] = *value;
                    }
                }
                for (f, want) in expect.iter().enumerate() {
                    assert_eq!(t.get(field_at(f)), *want, "{updates:?}");
                }
            }
        }
    }
}
