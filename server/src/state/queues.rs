//! Every queue celadon knows of, wherever it learned of it (kombu's binding
//! tables, `task-sent` events, workers' `active_queues`), with its depth per
//! priority as last measured, a history of its total depth, and an hour's
//! history of its depth per priority step. Queues nobody consumes are kept
//! too: those are the ones that fill up. Pure.

use std::collections::{BTreeMap, BTreeSet};

/// Queues tracked; more are ignored (a binding table gone wild should not
/// grow the model without end).
pub const MAX_QUEUES: usize = 1000;

/// Priority steps whose depth history a queue keeps. The transport options
/// bound each step (a priority 0-255) but not how many there are, so the
/// model bounds them itself: kombu clamps a message's priority to 0-9, so
/// no more than ten steps can ever hold messages. A queue measured with
/// more keeps no history per step (its total history is kept as ever).
pub const MAX_PRIORITY_STEPS: usize = 10;

/// History per priority step: 5 s buckets for an hour, as `Queue::per_5s`.
const STEP_BUCKET_SECONDS: u32 = 5;
const STEP_BUCKETS: usize = 720;

/// Depth history: the largest depth seen in each bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthRing {
    width: u32,
    values: Box<[u32]>,
    head: i64,
}

impl DepthRing {
    pub fn new(width_seconds: u32, len: usize) -> DepthRing {
        DepthRing {
            width: width_seconds.max(1),
            values: vec![0; len.max(1)].into_boxed_slice(),
            head: i64::MIN,
        }
    }

    fn number(&self, t: f64) -> i64 {
        (t / f64::from(self.width)).floor() as i64
    }

    pub fn record(&mut self, t: f64, depth: u64) {
        let n = self.number(t);
        let len = self.values.len() as i64;
        if self.head == i64::MIN || n > self.head {
            let from = if self.head == i64::MIN {
                n
            } else {
                self.head + 1
            };
            for k in from..=n.min(from + len - 1).max(from) {
                self.values[k.rem_euclid(len) as usize] = 0;
            }
            if n - from >= len {
                self.values.iter_mut().for_each(|v| *v = 0);
            }
            self.head = n;
        }
        if n <= self.head - len {
            return;
        }
        let slot = &mut self.values[n.rem_euclid(len) as usize];
        *slot = (*slot).max(u32::try_from(depth).unwrap_or(u32::MAX));
    }

    /// `(bucket start, depth)` for `[from, to]`, `None` where unknown.
    pub fn window(&self, from: f64, to: f64) -> Vec<(f64, Option<u32>)> {
        let len = self.values.len() as i64;
        (self.number(from)..=self.number(to))
            .map(|n| {
                let known = self.head != i64::MIN && n <= self.head && n > self.head - len;
                let v = known.then(|| self.values[n.rem_euclid(len) as usize]);
                (n as f64 * f64::from(self.width), v)
            })
            .collect()
    }

    pub fn heap_bytes(&self) -> usize {
        self.values.len() * 4
    }

    /// Seconds per bucket and buckets kept.
    pub(super) fn shape(&self) -> (u32, usize) {
        (self.width, self.values.len())
    }

    /// The newest bucket's number, once anything was recorded.
    pub(super) fn head(&self) -> Option<i64> {
        (self.head != i64::MIN).then_some(self.head)
    }

    /// Its non-zero values, newest first, each with its age (the newest
    /// bucket's number minus its own). Whether a bucket is known follows
    /// from the head alone, so these are the ring's exact content.
    pub(super) fn nonzero(&self) -> impl Iterator<Item = (usize, u32)> {
        let len = self.values.len() as i64;
        let head = self.head;
        let ages = if head == i64::MIN { 0 } else { len };
        (0..ages).filter_map(move |age| {
            let v = self.values[(head - age).rem_euclid(len) as usize];
            (v != 0).then_some((age as usize, v))
        })
    }

    /// Sets the ring to `head` (`None`: nothing recorded) and the values
    /// of [`DepthRing::nonzero`]; ages past its length are dropped.
    pub(super) fn restore(&mut self, head: Option<i64>, values: &[(usize, u32)]) {
        self.values.fill(0);
        self.head = head.unwrap_or(i64::MIN);
        let len = self.values.len();
        if let Some(head) = head {
            for (age, v) in values.iter().filter(|(age, _)| *age < len) {
                self.values[(head - *age as i64).rem_euclid(len as i64) as usize] = *v;
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    pub name: String,
    /// Messages per priority step, as last measured (`None`: never).
    pub depths: Option<Vec<u64>>,
    pub measured_at: Option<f64>,
    /// Messages held by workers unacknowledged, when measured by queue.
    pub unacked: Option<u64>,
    /// Workers consuming it, per their last `active_queues` reply.
    pub consumers: BTreeSet<String>,
    /// Seen in kombu's binding tables (declared by some Celery process).
    pub declared: bool,
    /// Named by a `task-sent` event.
    pub sent_to: bool,
    /// Depth per 5 s for an hour, per minute for a week, and per hour for
    /// 30 days.
    pub per_5s: DepthRing,
    pub per_minute: DepthRing,
    pub per_hour: DepthRing,
    /// Depth per 5 s for an hour of each priority step, in the order of
    /// `depths`: one ring per step when measured with 2 to
    /// [`MAX_PRIORITY_STEPS`] steps, else none (one step's history is
    /// `per_5s`). Measured with another number of steps (the transport
    /// options changed), it starts again.
    pub per_step_5s: Vec<DepthRing>,
}

impl Queue {
    pub(super) fn new(name: &str) -> Queue {
        Queue {
            name: name.to_string(),
            depths: None,
            measured_at: None,
            unacked: None,
            consumers: BTreeSet::new(),
            declared: false,
            sent_to: false,
            per_5s: DepthRing::new(5, 720),
            per_minute: DepthRing::new(60, 7 * 24 * 60),
            per_hour: DepthRing::new(3600, 30 * 24),
            per_step_5s: Vec::new(),
        }
    }

    /// A fresh ring of the history per priority step.
    pub(super) fn step_ring() -> DepthRing {
        DepthRing::new(STEP_BUCKET_SECONDS, STEP_BUCKETS)
    }

    /// Records `depths` (per priority step) measured at `t`.
    fn record(&mut self, t: f64, depths: Vec<u64>) {
        let total = depths.iter().sum();
        self.per_5s.record(t, total);
        self.per_minute.record(t, total);
        self.per_hour.record(t, total);
        let steps = depths.len();
        if !(2..=MAX_PRIORITY_STEPS).contains(&steps) {
            self.per_step_5s = Vec::new();
        } else {
            if self.per_step_5s.len() != steps {
                self.per_step_5s = (0..steps).map(|_| Queue::step_ring()).collect();
            }
            for (ring, depth) in self.per_step_5s.iter_mut().zip(&depths) {
                ring.record(t, *depth);
            }
        }
        self.depths = Some(depths);
        self.measured_at = Some(t);
    }

    /// Messages waiting, all priorities.
    pub fn messages(&self) -> u64 {
        self.depths.as_ref().map_or(0, |d| d.iter().sum())
    }
}

#[derive(Debug, Default)]
pub struct Queues {
    pub(super) by_name: BTreeMap<String, Queue>,
    /// `HLEN unacked`, as last measured.
    pub unacked_total: Option<u64>,
    /// Bumped by every change, so views know when to look again.
    pub version: u64,
}

impl Queues {
    fn entry(&mut self, name: &str) -> Option<&mut Queue> {
        if name.is_empty() {
            return None;
        }
        if !self.by_name.contains_key(name) {
            if self.by_name.len() >= MAX_QUEUES {
                return None;
            }
            self.by_name.insert(name.to_string(), Queue::new(name));
            self.version += 1;
        }
        self.by_name.get_mut(name)
    }

    pub fn note_sent_to(&mut self, name: &str) {
        if let Some(q) = self.entry(name) {
            q.sent_to = true;
        }
    }

    pub fn note_declared(&mut self, name: &str) {
        if let Some(q) = self.entry(name) {
            q.declared = true;
        }
    }

    /// A worker's current queues, from its `active_queues` reply.
    pub fn set_consumer(&mut self, worker: &str, queues: &[String]) {
        self.version += 1;
        for q in self.by_name.values_mut() {
            q.consumers.remove(worker);
        }
        for name in queues {
            if let Some(q) = self.entry(name) {
                q.consumers.insert(worker.to_string());
            }
        }
    }

    /// A worker that is gone consumes nothing.
    pub fn forget_consumer(&mut self, worker: &str) {
        self.version += 1;
        for q in self.by_name.values_mut() {
            q.consumers.remove(worker);
        }
    }

    /// Depths measured at `at`, per queue and priority step.
    pub fn record(&mut self, at: f64, depths: Vec<(String, Vec<u64>)>) {
        self.version += 1;
        for (name, d) in depths {
            if let Some(q) = self.entry(&name) {
                q.record(at, d);
            }
        }
    }

    /// Unacknowledged messages: the total, and by routing key when
    /// measured so (a routing key is taken to name its queue, as with
    /// Celery's default direct exchange).
    pub fn record_unacked(&mut self, total: u64, by_routing_key: Option<BTreeMap<String, u64>>) {
        self.version += 1;
        self.unacked_total = Some(total);
        for q in self.by_name.values_mut() {
            q.unacked = by_routing_key
                .as_ref()
                .map(|m| m.get(&q.name).copied().unwrap_or(0));
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Queue> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Queue> {
        self.by_name.values()
    }

    pub fn heap_bytes(&self) -> usize {
        self.by_name
            .values()
            .map(|q| {
                std::mem::size_of::<Queue>()
                    + q.per_5s.heap_bytes()
                    + q.per_minute.heap_bytes()
                    + q.per_hour.heap_bytes()
                    + q.per_step_5s
                        .iter()
                        .map(|r| std::mem::size_of::<DepthRing>() + r.heap_bytes())
                        .sum::<usize>()
                    + 64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_from_every_source_are_kept_with_their_depths() {
        let mut q = Queues::default();
        q.note_sent_to("celery");
        q.note_declared("orphans");
        q.set_consumer("w1@h", &["celery".to_string()]);
        q.record(
            100.0,
            vec![
                ("orphans".into(), vec![5, 0, 2, 0]),
                ("celery".into(), vec![1, 0, 0, 0]),
            ],
        );
        let orphans = q.get("orphans").unwrap();
        assert_eq!(orphans.messages(), 7);
        assert!(
            orphans.consumers.is_empty(),
            "nobody consumes it, still listed"
        );
        assert_eq!(q.get("celery").unwrap().consumers.len(), 1);
        q.set_consumer("w1@h", &[]);
        assert!(q.get("celery").unwrap().consumers.is_empty());
        assert_eq!(q.names(), ["celery", "orphans"]);
    }

    #[test]
    fn depth_history_keeps_the_peak_of_each_bucket() {
        let mut r = DepthRing::new(5, 4);
        r.record(100.0, 3);
        r.record(101.0, 9);
        r.record(104.0, 2);
        r.record(111.0, 1);
        let w = r.window(100.0, 114.0);
        let values: Vec<_> = w.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, [Some(9), Some(0), Some(1)]);
        r.record(1000.0, 4);
        assert_eq!(r.window(100.0, 100.0)[0].1, None, "forgotten");
    }

    /// Each step's window of values.
    fn by_step(q: &Queue, from: f64, to: f64) -> Vec<Vec<Option<u32>>> {
        q.per_step_5s
            .iter()
            .map(|r| r.window(from, to).into_iter().map(|(_, v)| v).collect())
            .collect()
    }

    #[test]
    fn depth_per_priority_step_keeps_the_peak_of_each_5s_bucket_for_an_hour() {
        let mut q = Queues::default();
        q.record(100.0, vec![("celery".into(), vec![4, 0, 1, 0])]);
        q.record(102.0, vec![("celery".into(), vec![2, 7, 0, 0])]);
        q.record(106.0, vec![("celery".into(), vec![1, 3, 0, 9])]);
        let c = q.get("celery").unwrap();
        assert_eq!(
            by_step(c, 100.0, 114.0),
            [
                [Some(4), Some(1), None],
                [Some(7), Some(3), None],
                [Some(1), Some(0), None],
                [Some(0), Some(9), None],
            ],
            "the future is unknown"
        );
        let total: Vec<_> = c
            .per_5s
            .window(100.0, 109.0)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(total, [Some(9), Some(13)], "the total keeps its own peak");

        // An hour later the first buckets are forgotten, the last kept.
        q.record(100.0 + 3600.0, vec![("celery".into(), vec![5, 0, 0, 0])]);
        let c = q.get("celery").unwrap();
        assert_eq!(by_step(c, 100.0, 100.0), [[None], [None], [None], [None]]);
        assert_eq!(
            by_step(c, 105.0, 105.0),
            [[Some(1)], [Some(3)], [Some(0)], [Some(9)]]
        );
        assert_eq!(by_step(c, 3700.0, 3700.0)[0], [Some(5)]);
        assert_eq!(c.per_step_5s.len(), 4);
        assert!(c.per_step_5s.iter().all(|r| r.shape() == (5, 720)));
    }

    #[test]
    fn history_per_step_is_bounded_and_starts_again_when_the_steps_change() {
        let mut q = Queues::default();
        q.record(
            100.0,
            vec![
                ("one".into(), vec![3]),
                ("ten".into(), vec![1; MAX_PRIORITY_STEPS]),
                ("eleven".into(), vec![1; MAX_PRIORITY_STEPS + 1]),
            ],
        );
        assert!(
            q.get("one").unwrap().per_step_5s.is_empty(),
            "its total is its step"
        );
        assert_eq!(q.get("ten").unwrap().per_step_5s.len(), MAX_PRIORITY_STEPS);
        let eleven = q.get("eleven").unwrap();
        assert!(
            eleven.per_step_5s.is_empty(),
            "more steps than kombu can fill"
        );
        assert_eq!(eleven.messages(), 11, "measured all the same");

        q.record(105.0, vec![("ten".into(), vec![2, 6, 4])]);
        let ten = q.get("ten").unwrap();
        assert_eq!(
            by_step(ten, 100.0, 109.0),
            [[Some(0), Some(2)], [Some(0), Some(6)], [Some(0), Some(4)]],
            "another number of steps: the old history is not theirs"
        );
        let before = q.heap_bytes();
        q.record(110.0, vec![("ten".into(), vec![9])]);
        assert!(q.get("ten").unwrap().per_step_5s.is_empty());
        assert_eq!(
            before - q.heap_bytes(),
            3 * (std::mem::size_of::<DepthRing>() + 720 * 4)
        );
    }
}
