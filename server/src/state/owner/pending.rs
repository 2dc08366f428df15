//! Messages from the event reader not applied yet: the owner applies them
//! a turn at a time, so that a flood of events cannot starve commands or
//! flushes.

use std::collections::VecDeque;

use crate::broker::subscriber::{Batch, Published};

/// Messages from the reader not applied yet, in order.
#[derive(Default)]
pub(super) struct Pending {
    reads: VecDeque<Published>,
    /// Messages of the first read already applied.
    done: usize,
    /// Messages left in all reads.
    left: usize,
}

impl Pending {
    pub(super) fn extend(&mut self, batch: Batch) {
        self.left += batch.iter().map(|p| p.messages.len()).sum::<usize>();
        self.reads.extend(batch);
    }

    pub(super) fn len(&self) -> usize {
        self.left
    }

    pub(super) fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// Hands the next `n` messages (or all left) to `each`.
    pub(super) fn take(&mut self, n: usize, mut each: impl FnMut(&[u8], &[u8], f64)) {
        let mut budget = n;
        while budget > 0 {
            let Some(read) = self.reads.front() else {
                break;
            };
            while budget > 0 {
                let Some((channel, payload)) = read.messages.get(self.done) else {
                    break;
                };
                each(channel, payload, read.received_at);
                self.done += 1;
                self.left -= 1;
                budget -= 1;
            }
            if self.done == read.messages.len() {
                self.reads.pop_front();
                self.done = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::resp::Messages;

    fn read(names: &[&str], at: f64) -> Published {
        let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&b"ch"[..], n.as_bytes())).collect();
        Published {
            messages: Messages::of(&pairs),
            received_at: at,
        }
    }

    /// Turns of two take every message once, in order, across reads and
    /// batches, with each read's receive time.
    #[test]
    fn turns_take_every_message_once_in_order() {
        let mut pending = Pending::default();
        pending.extend(vec![read(&["a", "b", "c"], 1.0), read(&[], 2.0)]);
        pending.extend(vec![read(&["d", "e"], 3.0)]);
        assert_eq!(pending.len(), 5);
        let mut seen = Vec::new();
        while !pending.is_empty() {
            let before = seen.len();
            pending.take(2, |channel, payload, at| {
                assert_eq!(channel, b"ch");
                seen.push((String::from_utf8_lossy(payload).into_owned(), at));
            });
            assert!(seen.len() - before <= 2, "a turn takes at most its share");
        }
        let expected = [("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 3.0), ("e", 3.0)];
        assert_eq!(seen, expected.map(|(p, at)| (p.to_string(), at)).to_vec());
        assert!(pending.reads.is_empty(), "finished reads are let go");
    }
}
