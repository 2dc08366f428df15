//! Aggregates kept alongside the tasks: runtime percentiles per task type,
//! Prometheus-style histograms, and fixed-size throughput rings. Each is a
//! fixed amount of memory, whatever the number of tasks. Pure.

use app::wire::celery::TaskEventKind;

/// Runtime (or wait) distribution with logarithmic buckets: 16 per power of
/// two from 1 µs to about 36 hours, so any percentile is within about 2 %.
#[derive(Clone, Debug, PartialEq)]
pub struct LogHistogram {
    counts: Box<[u32]>,
    total: u64,
    sum: f64,
}

const LOG_MIN: f64 = 1e-6;
const LOG_SUB: f64 = 16.0;
const LOG_BUCKETS: usize = 37 * 16;

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: vec![0; LOG_BUCKETS].into_boxed_slice(),
            total: 0,
            sum: 0.0,
        }
    }
}

impl LogHistogram {
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let i = if value <= LOG_MIN {
            0
        } else {
            ((value / LOG_MIN).log2() * LOG_SUB) as usize
        };
        let i = i.min(LOG_BUCKETS - 1);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
        self.sum += value;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum / self.total as f64)
    }

    /// The `q` quantile (0–1), as the middle of its bucket.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let lo = LOG_MIN * ((i as f64) / LOG_SUB).exp2();
                let hi = LOG_MIN * ((i as f64 + 1.0) / LOG_SUB).exp2();
                return Some((lo * hi).sqrt());
            }
        }
        None
    }

    pub fn heap_bytes(&self) -> usize {
        self.counts.len() * 4
    }

    /// Buckets a histogram has.
    pub(super) const BUCKETS: usize = LOG_BUCKETS;

    /// Its exact content, for `saved`: counts per bucket, count, sum.
    pub(super) fn parts(&self) -> (&[u32], u64, f64) {
        (&self.counts, self.total, self.sum)
    }

    /// The histogram of [`LogHistogram::parts`]; `None` unless `counts`
    /// has [`LogHistogram::BUCKETS`] entries.
    pub(super) fn from_parts(counts: Box<[u32]>, total: u64, sum: f64) -> Option<LogHistogram> {
        (counts.len() == LOG_BUCKETS).then_some(LogHistogram { counts, total, sum })
    }
}

/// A Prometheus histogram with fixed upper bounds (`le`).
#[derive(Clone, Debug, PartialEq)]
pub struct PromHistogram {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    pub counts: Box<[u64]>,
    pub sum: f64,
    pub count: u64,
}

impl PromHistogram {
    pub fn new(bounds: &[f64]) -> PromHistogram {
        PromHistogram {
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, bounds: &[f64], value: f64) {
        if !value.is_finite() {
            return;
        }
        let i = bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sum += value;
        self.count += 1;
    }
}

/// Prometheus' default buckets, which Flower uses unless told otherwise.
pub const DEFAULT_RUNTIME_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Counts per bucket: one per Celery task event kind (an outcome).
pub const OUTCOMES: usize = TaskEventKind::COUNT;

/// Counts per outcome for the last `len` buckets of `width` seconds each:
/// a fixed ring, advanced by the time of what is added.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    width: u32,
    buckets: Box<[[u32; OUTCOMES]]>,
    /// Number (time / width) of the newest bucket; buckets older than
    /// `head - len + 1` have been overwritten.
    head: i64,
    /// The newest bucket's time span and index, so that adding at a time
    /// inside it (nearly every add: events arrive in time order) costs two
    /// comparisons instead of divisions.
    head_span: (f64, f64),
    head_idx: usize,
}

impl Ring {
    pub fn new(width_seconds: u32, len: usize) -> Ring {
        Ring {
            width: width_seconds.max(1),
            buckets: vec![[0; OUTCOMES]; len.max(1)].into_boxed_slice(),
            head: i64::MIN,
            head_span: (f64::INFINITY, f64::NEG_INFINITY),
            head_idx: 0,
        }
    }

    fn number(&self, t: f64) -> i64 {
        (t / f64::from(self.width)).floor() as i64
    }

    fn index(&self, n: i64) -> usize {
        n.rem_euclid(self.buckets.len() as i64) as usize
    }

    fn set_head(&mut self, n: i64) {
        self.head = n;
        let start = n as f64 * f64::from(self.width);
        self.head_span = (start, start + f64::from(self.width));
        self.head_idx = self.index(n);
    }

    /// Moves the ring forward to `now`, clearing the buckets it passes.
    pub fn advance(&mut self, now: f64) {
        if now < self.head_span.1 {
            return;
        }
        let n = self.number(now);
        if self.head == i64::MIN {
            self.set_head(n);
            return;
        }
        if n <= self.head {
            return;
        }
        let len = self.buckets.len() as i64;
        let steps = (n - self.head).min(len);
        for k in 1..=steps {
            let idx = self.index(self.head + k);
            self.buckets[idx] = [0; OUTCOMES];
        }
        self.set_head(n);
    }

    /// Counts `outcome` at time `t`; too old to be in the ring is dropped.
    /// Inlined: an event counts in a dozen rings, almost always in the
    /// newest bucket.
    #[inline]
    pub fn add(&mut self, t: f64, outcome: TaskEventKind) {
        let (start, end) = self.head_span;
        if start <= t && t < end {
            self.buckets[self.head_idx][outcome.index()] += 1;
        } else {
            self.add_elsewhere(t, outcome);
        }
    }

    #[inline(never)]
    fn add_elsewhere(&mut self, t: f64, outcome: TaskEventKind) {
        self.advance(t);
        let n = self.number(t);
        let len = self.buckets.len() as i64;
        if n <= self.head - len {
            return;
        }
        let idx = self.index(n);
        self.buckets[idx][outcome.index()] += 1;
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    /// `(bucket start time, counts)` for the buckets covering `[from, to]`,
    /// oldest first; buckets outside the ring's memory count zero.
    pub fn window(&self, from: f64, to: f64) -> Vec<(f64, [u32; OUTCOMES])> {
        let (a, b) = (self.number(from), self.number(to));
        let len = self.buckets.len() as i64;
        (a..=b)
            .map(|n| {
                let known = self.head != i64::MIN && n <= self.head && n > self.head - len;
                let counts = if known {
                    self.buckets[n.rem_euclid(len) as usize]
                } else {
                    [0; OUTCOMES]
                };
                (n as f64 * f64::from(self.width), counts)
            })
            .collect()
    }

    pub fn heap_bytes(&self) -> usize {
        self.buckets.len() * OUTCOMES * 4
    }

    /// Buckets it keeps.
    pub(super) fn len(&self) -> usize {
        self.buckets.len()
    }

    /// The newest bucket's number, once anything moved the ring.
    pub(super) fn head(&self) -> Option<i64> {
        (self.head != i64::MIN).then_some(self.head)
    }

    /// Its buckets that count anything, newest first, each with its age
    /// (the newest bucket's number minus its own). Every bucket holds its
    /// own number's counts or zeros, so the ages are the ring's exact
    /// content.
    pub(super) fn nonzero(&self) -> impl Iterator<Item = (usize, &[u32; OUTCOMES])> {
        let len = self.buckets.len();
        (0..len)
            .map(move |age| (age, &self.buckets[(self.head_idx + len - age) % len]))
            .filter(|(_, c)| **c != [0; OUTCOMES])
    }

    /// Sets a fresh ring to `head` and the buckets of [`Ring::nonzero`];
    /// ages past its length are dropped.
    pub(super) fn restore(&mut self, head: i64, buckets: &[(usize, [u32; OUTCOMES])]) {
        self.buckets.fill([0; OUTCOMES]);
        self.set_head(head);
        let len = self.buckets.len();
        for (age, counts) in buckets.iter().filter(|(age, _)| *age < len) {
            self.buckets[(self.head_idx + len - age) % len] = *counts;
        }
    }
}

/// Throughput by outcome: per second for an hour, per minute for a week.
#[derive(Clone, Debug, PartialEq)]
pub struct Throughput {
    pub per_second: Ring,
    pub per_minute: Ring,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput {
            per_second: Ring::new(1, 3600),
            per_minute: Ring::new(60, 7 * 24 * 60),
        }
    }
}

impl Throughput {
    pub fn add(&mut self, t: f64, outcome: TaskEventKind) {
        self.per_second.add(t, outcome);
        self.per_minute.add(t, outcome);
    }

    pub fn advance(&mut self, now: f64) {
        self.per_second.advance(now);
        self.per_minute.advance(now);
    }

    pub fn heap_bytes(&self) -> usize {
        self.per_second.heap_bytes() + self.per_minute.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_few_percent() {
        let mut h = LogHistogram::default();
        for i in 1..=1000 {
            h.record(f64::from(i) / 1000.0);
        }
        for (q, want) in [(0.5, 0.5), (0.95, 0.95), (0.99, 0.99)] {
            let got = h.quantile(q).unwrap();
            assert!((got - want).abs() / want < 0.03, "q{q}: {got}");
        }
        assert_eq!(h.count(), 1000);
        assert!(LogHistogram::default().quantile(0.5).is_none());
    }

    #[test]
    fn rings_keep_the_last_buckets_and_forget_older_ones() {
        let mut r = Ring::new(1, 4);
        r.add(100.2, TaskEventKind::Succeeded);
        r.add(100.7, TaskEventKind::Succeeded);
        r.add(101.0, TaskEventKind::Failed);
        r.add(103.5, TaskEventKind::Succeeded);
        let w = r.window(100.0, 103.0);
        let succeeded: Vec<u32> = w
            .iter()
            .map(|(_, c)| c[TaskEventKind::Succeeded.index()])
            .collect();
        assert_eq!(succeeded, [2, 0, 0, 1]);
        r.add(105.0, TaskEventKind::Failed);
        let failed: Vec<u32> = r
            .window(100.0, 105.0)
            .iter()
            .map(|(_, c)| c[TaskEventKind::Failed.index()])
            .collect();
        assert_eq!(
            failed,
            [0, 0, 0, 0, 0, 1],
            "100 and 101 fell out of a 4-bucket ring"
        );
        r.add(90.0, TaskEventKind::Failed);
        assert_eq!(r.window(90.0, 90.0)[0].1, [0; OUTCOMES], "too old: dropped");
        r.advance(1000.0);
        assert!(
            r.window(997.0, 1000.0)
                .iter()
                .all(|(_, c)| *c == [0; OUTCOMES])
        );
    }

    #[test]
    fn prometheus_buckets_take_values_up_to_their_bound() {
        let bounds = [0.1, 1.0];
        let mut h = PromHistogram::new(&bounds);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.observe(&bounds, v);
        }
        assert_eq!(&*h.counts, &[2, 1, 1]);
        assert_eq!(h.count, 4);
    }
}
