//! Retries made from celadon: which task was re-sent as which. Celery has
//! no such link (a retry from outside is a new task), so the model keeps
//! it, both ways, for the most recent [`MAX_LINKS`] retries.

use std::collections::{HashMap, VecDeque};

use super::key::TaskKey;

/// Retry links kept; the oldest are forgotten first.
pub const MAX_LINKS: usize = 10_000;

#[derive(Debug, Default)]
pub struct RetryLinks {
    /// New task → the task it retried.
    of: HashMap<TaskKey, String>,
    /// Task → its retries, oldest first.
    as_: HashMap<TaskKey, Vec<String>>,
    /// `(original, retry)` in the order they were made.
    order: VecDeque<(String, String)>,
}

impl RetryLinks {
    pub fn link(&mut self, original: String, retry: String) {
        if self.order.len() >= MAX_LINKS
            && let Some((o, r)) = self.order.pop_front()
        {
            self.of.remove(&TaskKey::of(&r));
            if let Some(list) = self.as_.get_mut(&TaskKey::of(&o)) {
                list.retain(|x| *x != r);
                if list.is_empty() {
                    self.as_.remove(&TaskKey::of(&o));
                }
            }
        }
        self.of.insert(TaskKey::of(&retry), original.clone());
        self.as_
            .entry(TaskKey::of(&original))
            .or_default()
            .push(retry.clone());
        self.order.push_back((original, retry));
    }

    /// The task `key` is a retry of.
    pub fn retry_of(&self, key: TaskKey) -> Option<&str> {
        self.of.get(&key).map(String::as_str)
    }

    /// The retries of task `key`, oldest first.
    pub fn retried_as(&self, key: TaskKey) -> &[String] {
        self.as_.get(&key).map_or(&[], Vec::as_slice)
    }

    /// Every link, `(original, retry)`, oldest first: linking them again
    /// in this order rebuilds the same links.
    pub fn in_order(&self) -> impl Iterator<Item = &(String, String)> {
        self.order.iter()
    }

    pub fn heap_bytes(&self) -> usize {
        self.order
            .iter()
            .map(|(a, b)| 2 * (a.capacity() + b.capacity()) + 64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_both_ways_and_the_oldest_are_forgotten() {
        let mut links = RetryLinks::default();
        links.link("a".into(), "b".into());
        links.link("a".into(), "c".into());
        assert_eq!(links.retry_of(TaskKey::of("b")), Some("a"));
        assert_eq!(links.retried_as(TaskKey::of("a")), ["b", "c"]);
        for i in 0..MAX_LINKS {
            links.link(format!("x{i}"), format!("y{i}"));
        }
        assert_eq!(links.retry_of(TaskKey::of("b")), None);
        assert!(links.retried_as(TaskKey::of("a")).is_empty());
        assert_eq!(links.retry_of(TaskKey::of("y5")), Some("x5"));
    }
}
