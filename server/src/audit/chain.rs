//! The hash chain (pure). An entry's hash is SHA-256 over an unambiguous
//! encoding of every field and the previous entry's hash: each field is
//! written as its length (8 bytes, big-endian) and its bytes, an absent
//! value as a 0 tag, a present one as a 1 tag before it, numbers as
//! fixed-width big-endian, all after a version tag. No two different
//! entries encode alike, so no field can be moved into another unseen.
//!
//! [`Verifier`] walks entries in `seq` order and keeps the first broken
//! link: a gap in `seq` (an entry deleted), a hash that does not match the
//! entry's fields (an entry altered), or an entry that does not name the
//! previous entry's hash (one altered and its hash recomputed, or entries
//! swapped). Deleting the newest entries leaves a shorter chain that is
//! intact: the log's copy of each entry (with its seq and hash) is the
//! witness for those.

use sha2::{Digest, Sha256};

use super::{Entry, NewEntry};

/// What the first entry chains from: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the encoding, so a later one cannot be mistaken for it.
const VERSION_TAG: &[u8] = b"celadon-audit-1";

/// `entry` at `seq`, recorded `at`, after `prev_hash`: its hash filled in.
pub fn seal(entry: NewEntry, seq: u64, at: i64, prev_hash: &str) -> Entry {
    let mut sealed = Entry {
        seq,
        at,
        who: entry.who,
        role: entry.role,
        via: entry.via,
        client: entry.client,
        action: entry.action,
        target: entry.target,
        params: entry.params,
        outcome: entry.outcome,
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
    };
    sealed.hash = hash(&sealed);
    sealed
}

/// The hash `entry`'s fields and its `prev_hash` give (its own `hash`
/// field is not read).
pub fn hash(entry: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(VERSION_TAG);
    let text = |h: &mut Sha256, s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    let optional = |h: &mut Sha256, s: Option<&str>| match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            text(h, s);
        }
    };
    text(&mut h, &entry.prev_hash);
    h.update(entry.seq.to_be_bytes());
    h.update(entry.at.to_be_bytes());
    text(&mut h, &entry.who);
    optional(&mut h, entry.role.map(|r| r.as_str()));
    text(&mut h, &entry.via);
    text(&mut h, &entry.client);
    text(&mut h, &entry.action);
    optional(&mut h, entry.target.as_deref());
    text(&mut h, &entry.params);
    h.update(entry.outcome.status.to_be_bytes());
    text(&mut h, entry.outcome.result.as_str());
    text(&mut h, &entry.outcome.detail);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// How a link is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakKind {
    /// No entry at this seq, though later ones exist: deleted.
    Missing,
    /// The entry's fields do not give its hash: altered.
    Altered,
    /// The entry does not name the previous one's hash, or is out of
    /// place: the previous one was altered and rehashed, or entries were
    /// swapped or copied.
    Unlinked,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Missing => "missing",
            BreakKind::Altered => "altered",
            BreakKind::Unlinked => "unlinked",
        }
    }
}

/// The first broken link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub kind: BreakKind,
    pub why: String,
}

/// Walks a chain in `seq` order, one entry at a time (so a long chain is
/// never held whole), and keeps the first broken link.
#[derive(Clone, Debug)]
pub struct Verifier {
    next_seq: u64,
    prev_hash: String,
    entries: u64,
    broken: Option<Broken>,
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier {
            next_seq: 1,
            prev_hash: GENESIS.to_string(),
            entries: 0,
            broken: None,
        }
    }
}

impl Verifier {
    /// A verifier for a chain whose older entries were let go (the ring in
    /// memory): it starts at `seq`, after `prev_hash`.
    pub fn from(seq: u64, prev_hash: &str) -> Verifier {
        Verifier {
            next_seq: seq,
            prev_hash: prev_hash.to_string(),
            ..Verifier::default()
        }
    }

    /// Checks the next entry read (in ascending `seq`).
    pub fn feed(&mut self, entry: &Entry) {
        self.entries += 1;
        if self.broken.is_some() {
            return;
        }
        let expected = self.next_seq;
        self.broken = if entry.seq > expected {
            let last = entry.seq - 1;
            let span = match last == expected {
                true => format!("entry {expected} is"),
                false => format!("entries {expected} to {last} are"),
            };
            Some(Broken {
                seq: expected,
                kind: BreakKind::Missing,
                why: format!(
                    "{span} missing (deleted): the chain goes on at {}",
                    entry.seq
                ),
            })
        } else if entry.seq < expected {
            Some(Broken {
                seq: entry.seq,
                kind: BreakKind::Unlinked,
                why: format!(
                    "entry {} appears again after entry {}",
                    entry.seq,
                    expected - 1
                ),
            })
        } else if entry.prev_hash != self.prev_hash {
            Some(Broken {
                seq: entry.seq,
                kind: BreakKind::Unlinked,
                why: match entry.seq {
                    1 => "entry 1 does not start from the chain's beginning".to_string(),
                    n => format!(
                        "entry {n} does not follow entry {}: that entry was altered and its \
                         hash recomputed, or replaced",
                        n - 1
                    ),
                },
            })
        } else if hash(entry) != entry.hash {
            Some(Broken {
                seq: entry.seq,
                kind: BreakKind::Altered,
                why: format!(
                    "entry {} was altered: its fields do not give its hash",
                    entry.seq
                ),
            })
        } else {
            None
        };
        self.next_seq = entry.seq.saturating_add(1);
        self.prev_hash = entry.hash.clone();
    }

    /// Entries read, and the first broken link, if any.
    pub fn finish(self) -> (u64, Option<Broken>) {
        (self.entries, self.broken)
    }
}

/// Verifies `entries` (in `seq` order).
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> (u64, Option<Broken>) {
    let mut v = Verifier::default();
    for e in entries {
        v.feed(e);
    }
    v.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::{Outcome, Verdict};
    use crate::auth::Role;

    pub(crate) fn new_entry(action: &str) -> NewEntry {
        NewEntry {
            who: "ann".into(),
            role: Some(Role::Admin),
            via: "basic".into(),
            client: "10.0.0.7".into(),
            action: action.into(),
            target: Some("6f1c".into()),
            params: "terminate=true".into(),
            outcome: Outcome {
                status: 200,
                result: Verdict::Ok,
                detail: r#"{"replies":{"w1":{"ok":"revoked"}}}"#.into(),
            },
        }
    }

    pub(crate) fn entry(seq: u64, action: &str) -> Entry {
        seal(
            new_entry(action),
            seq,
            1_700_000_000_000 + seq as i64,
            GENESIS,
        )
    }

    /// A chain of `n` entries, as the appender builds it.
    fn chain(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or(GENESIS.to_string(), |e| e.hash.clone());
            out.push(seal(
                new_entry("task.revoke"),
                seq,
                1_700_000_000_000,
                &prev,
            ));
        }
        out
    }

    fn broken(entries: &[Entry]) -> Option<(u64, BreakKind)> {
        verify(entries).1.map(|b| (b.seq, b.kind))
    }

    #[test]
    fn an_appended_chain_verifies_intact() {
        let entries = chain(5);
        assert_eq!(verify(&entries), (5, None));
        assert_eq!(verify(&[]), (0, None));
        assert_eq!(entries[0].prev_hash, GENESIS);
        assert_eq!(entries[0].hash.len(), 64);
    }

    #[test]
    fn a_deleted_entry_is_reported_as_missing_with_its_seq() {
        let mut entries = chain(5);
        entries.remove(2);
        assert_eq!(broken(&entries), Some((3, BreakKind::Missing)));
        let mut first = chain(3);
        first.remove(0);
        assert_eq!(broken(&first), Some((1, BreakKind::Missing)));
        let mut two = chain(6);
        two.drain(1..3);
        let (_, b) = verify(&two);
        assert!(b.unwrap().why.contains("entries 2 to 3"));
    }

    #[test]
    fn each_altered_field_is_reported_with_its_seq() {
        let alterations: [fn(&mut Entry); 10] = [
            |e| e.who = "bob".into(),
            |e| e.role = None,
            |e| e.via = "open".into(),
            |e| e.client = "10.0.0.8".into(),
            |e| e.action = "task.retry".into(),
            |e| e.target = None,
            |e| e.params.push('x'),
            |e| e.outcome.status = 403,
            |e| e.outcome.result = Verdict::Refused,
            |e| e.at += 1,
        ];
        for alter in alterations {
            let mut entries = chain(4);
            alter(&mut entries[1]);
            assert_eq!(broken(&entries), Some((2, BreakKind::Altered)));
        }
        let mut detail = chain(4);
        detail[3].outcome.detail = "{}".into();
        assert_eq!(broken(&detail), Some((4, BreakKind::Altered)));
    }

    #[test]
    fn an_altered_entry_with_its_hash_recomputed_breaks_the_next_link() {
        let mut entries = chain(4);
        entries[1].who = "mallory".into();
        entries[1].hash = hash(&entries[1]);
        assert_eq!(broken(&entries), Some((3, BreakKind::Unlinked)));
    }

    #[test]
    fn reordered_entries_are_reported() {
        // Read out of order: entry 3 comes where 2 should.
        let mut swapped = chain(4);
        swapped.swap(1, 2);
        assert_eq!(broken(&swapped), Some((2, BreakKind::Missing)));
        // Their seq swapped too, so they read back in seq order.
        let mut renumbered = chain(4);
        renumbered.swap(1, 2);
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        assert_eq!(broken(&renumbered), Some((2, BreakKind::Unlinked)));
    }

    #[test]
    fn fields_cannot_shift_into_each_other_unseen() {
        let mut a = new_entry("task.revoke");
        a.who = "ab".into();
        a.via = "c".into();
        let mut b = new_entry("task.revoke");
        b.who = "a".into();
        b.via = "bc".into();
        assert_ne!(seal(a, 1, 0, GENESIS).hash, seal(b, 1, 0, GENESIS).hash);
    }
}
