//! Task key → slot: a hash table of slot numbers, hashed by their tasks'
//! keys. Pure.
//!
//! A map of `(TaskKey, u32)` pairs spends 32 bytes a bucket (the key's
//! 16-byte alignment pads the pair), and under insert/evict churn at the
//! task limit its table grows to several times the tasks it holds: larger
//! than the L2 cache, and every eviction removes a key inserted long ago,
//! so each removal missed the cache. Buckets that hold only the slot are
//! 4 bytes, an eighth of that. The key is compared through the slot (the
//! caller's records), which a lookup reads anyway; a removal knows the
//! slot, compares slot numbers and reads no record at all. The figures are
//! in docs/measurements.md.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::key::TaskKey;

#[derive(Debug, Default)]
pub struct Index {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn hash(&self, key: TaskKey) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Buckets allocated (for the model's measured size).
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The slot of `key`; `key_at` gives the key held in a slot.
    pub fn get(&self, key: TaskKey, key_at: impl Fn(u32) -> TaskKey) -> Option<u32> {
        self.table
            .find(self.hash(key), |&slot| key_at(slot) == key)
            .copied()
    }

    /// Records that `key`, not yet present, is in `slot`. `key_at` is
    /// asked for the keys of other slots when the table grows.
    pub fn insert(&mut self, key: TaskKey, slot: u32, key_at: impl Fn(u32) -> TaskKey) {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, slot, |&other| hasher.hash_one(key_at(other)));
    }

    /// Forgets that `key` is in `slot`; whether it was there.
    pub fn remove(&mut self, key: TaskKey, slot: u32) -> bool {
        match self.table.find_entry(self.hash(key), |&s| s == slot) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }
}

/// Bytes one bucket of an [`Index`] takes: the slot and a control byte.
pub const BUCKET_BYTES: usize = std::mem::size_of::<u32>() + 1;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Random inserts, lookups and removals, with keys that share their
    /// low or high halves, agree with a map at every step.
    #[test]
    fn agrees_with_a_map_under_churn() {
        let mut index = Index::default();
        let mut keys: Vec<TaskKey> = Vec::new(); // by slot; NONE when free
        let mut free: Vec<u32> = Vec::new();
        let mut reference: HashMap<TaskKey, u32> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..200_000u32 {
            let r = next();
            // 3000 distinct keys, so that lookups hit and removals find.
            let n = u128::from(r % 3000);
            let key = TaskKey(if r & 1 == 0 { n } else { n << 64 } + 1);
            let key_at = |s: u32| keys[s as usize];
            assert_eq!(
                index.get(key, key_at),
                reference.get(&key).copied(),
                "step {step}"
            );
            match (reference.get(&key).copied(), r % 3) {
                (None, _) => {
                    let slot = free.pop().unwrap_or_else(|| {
                        keys.push(TaskKey::NONE);
                        (keys.len() - 1) as u32
                    });
                    keys[slot as usize] = key;
                    let keys = &keys;
                    index.insert(key, slot, |s| keys[s as usize]);
                    reference.insert(key, slot);
                }
                (Some(slot), 0) => {
                    assert!(index.remove(key, slot));
                    assert!(!index.remove(key, slot), "removed twice");
                    keys[slot as usize] = TaskKey::NONE;
                    free.push(slot);
                    reference.remove(&key);
                }
                (Some(_), _) => {}
            }
            assert_eq!(index.len(), reference.len());
        }
        assert!(index.len() > 500, "the test keeps the table busy");
    }
}
