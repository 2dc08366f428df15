//! Interned strings for the values tasks repeat: task names, worker
//! hostnames, queues, exchanges, routing keys, custom states. A task stores
//! a 4-byte [`Sym`] instead of a string. The table is bounded: past
//! [`MAX_SYMBOLS`] distinct values, new ones share [`Sym::OVERFLOW`].

use foldhash::HashMap;

/// Distinct strings kept. Real clusters have tens to thousands (task names,
/// hosts, queues); the bound only stops a misbehaving producer from growing
/// the table without end.
pub const MAX_SYMBOLS: usize = 200_000;

/// Shown for values interned after the table filled up.
pub const OVERFLOW_TEXT: &str = "(too many distinct values)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(pub u32);

impl Sym {
    /// No value.
    pub const NONE: Sym = Sym(0);
    pub const OVERFLOW: Sym = Sym(1);

    pub fn is_none(self) -> bool {
        self == Sym::NONE
    }
}

#[derive(Debug)]
pub struct Symbols {
    by_text: HashMap<Box<str>, Sym>,
    texts: Vec<Box<str>>,
    /// Heap bytes of the strings, for the memory report.
    text_bytes: usize,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            by_text: HashMap::default(),
            texts: vec!["".into(), OVERFLOW_TEXT.into()],
            text_bytes: 0,
        }
    }
}

impl Symbols {
    /// The symbol for `text`; the empty string is [`Sym::NONE`].
    pub fn intern(&mut self, text: &str) -> Sym {
        if text.is_empty() {
            return Sym::NONE;
        }
        if let Some(sym) = self.by_text.get(text) {
            return *sym;
        }
        if self.texts.len() >= MAX_SYMBOLS {
            return Sym::OVERFLOW;
        }
        let sym = Sym(u32::try_from(self.texts.len()).unwrap_or(1));
        self.texts.push(text.into());
        self.by_text.insert(text.into(), sym);
        self.text_bytes += 2 * text.len();
        sym
    }

    /// The symbol for `text` if it was ever interned.
    pub fn lookup(&self, text: &str) -> Option<Sym> {
        if text.is_empty() {
            return Some(Sym::NONE);
        }
        self.by_text.get(text).copied()
    }

    /// The text of `sym` ("" for [`Sym::NONE`]).
    pub fn text(&self, sym: Sym) -> &str {
        self.texts.get(sym.0 as usize).map_or("", |t| t)
    }

    /// Estimated heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<Box<str>>();
        self.text_bytes + self.texts.capacity() * entry + self.by_text.capacity() * (entry + 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_empty_is_none() {
        let mut s = Symbols::default();
        let a = s.intern("tasks.add");
        assert_eq!(s.intern("tasks.add"), a);
        assert_ne!(s.intern("tasks.fail"), a);
        assert_eq!(s.text(a), "tasks.add");
        assert_eq!(s.intern(""), Sym::NONE);
        assert_eq!(s.lookup("nope"), None);
    }
}
