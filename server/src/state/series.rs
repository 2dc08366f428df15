//! Task outcomes over time at the five windows the Graphs page shows
//! (5 min by the second, 1 h by 10 s, 24 h by 5 min, 7 days and 30 days by
//! the hour), for the whole cluster and for each task name and each worker,
//! so a chart filtered by either is exact, not sampled from the retained
//! tasks. The 7-day window is the last 168 hours of the 30-day ring, so a
//! series holds four rings: 300 + 360 + 288 + 720 = 1,668 buckets of 8
//! counters, 53 KB, a fixed amount. At most [`MAX_KEYS`] names and as many
//! workers get one, the rest count only in the cluster's: 513 series, 27 MB
//! at the bound (the 30-day window added 18 KB a series, 9 MB there; a
//! cluster of tens of names and workers holds 1–2 MB). Keeping the month by
//! the hour for every series, rather than for the cluster's alone, is what
//! lets a chart filtered by a name or a worker reach as far back as the
//! unfiltered one. Alongside, for the cluster only: the workers online (the
//! most seen in each bucket) and the queue wait (task-sent to task-started,
//! ETA tasks left out) as a coarse histogram per bucket, for its p95. Pure:
//! times come in.

use app::wire::celery::TaskEventKind;
use foldhash::HashMap;

use super::{
    stats::{OUTCOMES, Ring},
    symbols::Sym,
};

/// Task names (and, separately, workers) with a series of their own.
pub const MAX_KEYS: usize = 256;

/// A time window of the charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    FiveMinutes,
    Hour,
    Day,
    Week,
    Month,
}

/// Rings a series holds: one per window but the week, which reads the
/// month's (same bucket width).
pub(super) const RINGS: usize = 4;

impl Window {
    pub const ALL: [Window; 5] = [
        Window::FiveMinutes,
        Window::Hour,
        Window::Day,
        Window::Week,
        Window::Month,
    ];

    /// The window whose ring each ring of a series is, in ring order.
    pub(super) const RINGS: [Window; RINGS] = [
        Window::FiveMinutes,
        Window::Hour,
        Window::Day,
        Window::Month,
    ];

    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::FiveMinutes => "5m",
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
        }
    }

    /// Seconds per bucket.
    pub fn bucket(self) -> u32 {
        match self {
            Window::FiveMinutes => 1,
            Window::Hour => 10,
            Window::Day => 300,
            Window::Week | Window::Month => 3600,
        }
    }

    /// Buckets in the window.
    pub fn buckets(self) -> usize {
        match self {
            Window::FiveMinutes => 300,
            Window::Hour => 360,
            Window::Day => 288,
            Window::Week => 168,
            Window::Month => 720,
        }
    }

    /// The ring of a series that holds this window.
    fn ring(self) -> usize {
        match self {
            Window::FiveMinutes => 0,
            Window::Hour => 1,
            Window::Day => 2,
            Window::Week | Window::Month => 3,
        }
    }
}

/// One series at every window.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows([Ring; RINGS]);

impl Default for Windows {
    fn default() -> Self {
        Windows(Window::RINGS.map(|w| Ring::new(w.bucket(), w.buckets())))
    }
}

impl Windows {
    pub fn add(&mut self, t: f64, outcome: TaskEventKind) {
        for ring in &mut self.0 {
            ring.add(t, outcome);
        }
    }

    pub fn advance(&mut self, now: f64) {
        for ring in &mut self.0 {
            ring.advance(now);
        }
    }

    /// `(bucket start, counts)` for the `window` ending at `now`, oldest
    /// first: exactly `window.buckets()` of them, the last one the bucket
    /// `now` falls in (still filling).
    pub fn window(&self, window: Window, now: f64) -> Vec<(f64, [u32; OUTCOMES])> {
        let (first, last) = bounds(window, now);
        self.0[window.ring()].window(first, last)
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.iter().map(Ring::heap_bytes).sum()
    }

    /// Counts of `kinds` over the `span` seconds before `now`, from the
    /// finest ring that reaches that far back (its first bucket counted
    /// whole: a span is exact to the ring's bucket width). Alert rules
    /// read this.
    pub fn sum_over(&self, span: f64, now: f64, kinds: &[TaskEventKind]) -> Vec<u64> {
        let ring = ring_for(span);
        let mut sums = vec![0u64; kinds.len()];
        for (_, counts) in self.0[ring].window(now - span, now) {
            for (s, k) in sums.iter_mut().zip(kinds) {
                *s += u64::from(counts[k.index()]);
            }
        }
        sums
    }

    /// The start of the newest bucket, up to `now`, that counts `kind`,
    /// looked for in the finest ring first.
    pub fn last(&self, now: f64, kind: TaskEventKind) -> Option<f64> {
        Window::RINGS.iter().enumerate().find_map(|(i, w)| {
            let reach = f64::from(w.bucket()) * w.buckets() as f64;
            self.0[i]
                .window(now - reach, now)
                .into_iter()
                .rev()
                .find(|(_, c)| c[kind.index()] > 0)
                .map(|(t, _)| t)
        })
    }

    /// Its rings, in the order of [`Window::RINGS`].
    pub(super) fn rings(&self) -> &[Ring; RINGS] {
        &self.0
    }

    pub(super) fn rings_mut(&mut self) -> &mut [Ring; RINGS] {
        &mut self.0
    }
}

/// Queue-wait histogram buckets: two per power of two from 1 ms (each
/// within ±19 %), up to 2^24 ms (4.7 h); longer waits count in the last.
pub(super) const WAIT_BUCKETS: usize = 48;
const WAIT_MIN: f64 = 0.001;

fn wait_bucket(seconds: f64) -> usize {
    if seconds <= WAIT_MIN {
        return 0;
    }
    ((2.0 * (seconds / WAIT_MIN).log2()).floor() as usize).min(WAIT_BUCKETS - 1)
}

/// The upper edge of histogram bucket `i`, in seconds.
fn wait_edge(i: usize) -> f64 {
    WAIT_MIN * 2f64.powf((i + 1) as f64 / 2.0)
}

/// Per-bucket histograms of queue waits at one window.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct WaitRing {
    width: u32,
    hist: Box<[[u32; WAIT_BUCKETS]]>,
    head: i64,
}

impl WaitRing {
    fn new(width: u32, len: usize) -> WaitRing {
        WaitRing {
            width,
            hist: vec![[0; WAIT_BUCKETS]; len].into_boxed_slice(),
            head: i64::MIN,
        }
    }

    fn number(&self, t: f64) -> i64 {
        (t / f64::from(self.width)).floor() as i64
    }

    fn advance(&mut self, now: f64) {
        let n = self.number(now);
        if self.head == i64::MIN {
            self.head = n;
            return;
        }
        let len = self.hist.len() as i64;
        for k in 1..=(n - self.head).clamp(0, len) {
            self.hist[(self.head + k).rem_euclid(len) as usize] = [0; WAIT_BUCKETS];
        }
        self.head = self.head.max(n);
    }

    fn record(&mut self, t: f64, wait: f64) {
        self.advance(t);
        let n = self.number(t);
        let len = self.hist.len() as i64;
        if n <= self.head - len {
            return;
        }
        self.hist[n.rem_euclid(len) as usize][wait_bucket(wait)] += 1;
    }

    /// Seconds per bucket and buckets kept.
    pub(super) fn shape(&self) -> (u32, usize) {
        (self.width, self.hist.len())
    }

    /// The newest bucket's number, once anything moved the ring.
    pub(super) fn head(&self) -> Option<i64> {
        (self.head != i64::MIN).then_some(self.head)
    }

    /// Its buckets that hold a wait, newest first, each with its age (the
    /// newest bucket's number minus its own): the ring's exact content.
    pub(super) fn nonzero(&self) -> impl Iterator<Item = (usize, &[u32; WAIT_BUCKETS])> {
        let len = self.hist.len() as i64;
        let head = self.head;
        let ages = if head == i64::MIN { 0 } else { len };
        (0..ages)
            .map(move |age| {
                (
                    age as usize,
                    &self.hist[(head - age).rem_euclid(len) as usize],
                )
            })
            .filter(|(_, h)| h.iter().any(|c| *c != 0))
    }

    /// Sets the ring to `head` (`None`: nothing recorded) and the buckets
    /// of [`WaitRing::nonzero`]; ages past its length are dropped.
    pub(super) fn restore(&mut self, head: Option<i64>, buckets: &[(usize, [u32; WAIT_BUCKETS])]) {
        self.hist.fill([0; WAIT_BUCKETS]);
        self.head = head.unwrap_or(i64::MIN);
        let len = self.hist.len();
        if let Some(head) = head {
            for (age, h) in buckets.iter().filter(|(age, _)| *age < len) {
                self.hist[(head - *age as i64).rem_euclid(len as i64) as usize] = *h;
            }
        }
    }

    /// The p95 of the buckets from `first` to `last` taken together.
    fn p95_merged(&self, first: i64, last: i64) -> Option<f64> {
        let len = self.hist.len() as i64;
        let mut h = [0u64; WAIT_BUCKETS];
        for n in first..=last {
            if self.head != i64::MIN && n <= self.head && n > self.head - len {
                for (m, c) in h.iter_mut().zip(&self.hist[n.rem_euclid(len) as usize]) {
                    *m += u64::from(*c);
                }
            }
        }
        let total: u64 = h.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (0.95 * total as f64).ceil() as u64;
        let mut seen = 0u64;
        h.iter().enumerate().find_map(|(i, c)| {
            seen += *c;
            (seen >= rank).then(|| wait_edge(i))
        })
    }

    /// The p95 of each bucket from `first` to `last` (bucket numbers), or
    /// `None` where nothing started.
    fn p95(&self, first: i64, last: i64) -> Vec<Option<f64>> {
        let len = self.hist.len() as i64;
        (first..=last)
            .map(|n| {
                let known = self.head != i64::MIN && n <= self.head && n > self.head - len;
                if !known {
                    return None;
                }
                let h = &self.hist[n.rem_euclid(len) as usize];
                let total: u64 = h.iter().map(|c| u64::from(*c)).sum();
                if total == 0 {
                    return None;
                }
                let rank = (0.95 * total as f64).ceil() as u64;
                let mut seen = 0u64;
                h.iter().enumerate().find_map(|(i, c)| {
                    seen += u64::from(*c);
                    (seen >= rank).then(|| wait_edge(i))
                })
            })
            .collect()
    }
}

/// The cluster's gauges over time: workers online and queue wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauges {
    pub(super) online: [super::queues::DepthRing; RINGS],
    pub(super) wait: [WaitRing; RINGS],
}

impl Default for Gauges {
    fn default() -> Self {
        Gauges {
            online: Window::RINGS.map(|w| super::queues::DepthRing::new(w.bucket(), w.buckets())),
            wait: Window::RINGS.map(|w| WaitRing::new(w.bucket(), w.buckets())),
        }
    }
}

impl Gauges {
    /// Notes `n` workers online at `now` (each bucket keeps its highest).
    pub fn record_online(&mut self, now: f64, n: u64) {
        for ring in &mut self.online {
            ring.record(now, n);
        }
    }

    /// Notes a task that waited `wait` seconds in its queue, started at `t`.
    pub fn record_wait(&mut self, t: f64, wait: f64) {
        // A little clock skew between client and worker reads as zero.
        if wait.is_finite() {
            for ring in &mut self.wait {
                ring.record(t, wait.max(0.0));
            }
        }
    }

    /// Workers online per bucket of `window` ending at `now` (0 where not
    /// recorded).
    pub fn online(&self, window: Window, now: f64) -> Vec<u32> {
        let (first, last) = bounds(window, now);
        self.online[window.ring()]
            .window(first, last)
            .into_iter()
            .map(|(_, v)| v.unwrap_or(0))
            .collect()
    }

    /// The p95 queue wait per bucket of `window` ending at `now`.
    pub fn wait_p95(&self, window: Window, now: f64) -> Vec<Option<f64>> {
        let (first, last) = bounds(window, now);
        let w = f64::from(window.bucket());
        self.wait[window.ring()].p95((first / w).floor() as i64, (last / w).floor() as i64)
    }

    /// The p95 of every queue wait recorded in the `span` seconds before
    /// `now` (the finest ring reaching that far), `None` if none was.
    pub fn wait_p95_over(&self, span: f64, now: f64) -> Option<f64> {
        let ring = &self.wait[ring_for(span)];
        let w = f64::from(ring.width);
        ring.p95_merged(((now - span) / w).floor() as i64, (now / w).floor() as i64)
    }

    pub fn heap_bytes(&self) -> usize {
        self.online.iter().map(|r| r.heap_bytes()).sum::<usize>()
            + self
                .wait
                .iter()
                .map(|r| r.hist.len() * WAIT_BUCKETS * 4)
                .sum::<usize>()
    }
}

/// The finest ring (index in [`Window::RINGS`]) reaching `span` seconds
/// back.
fn ring_for(span: f64) -> usize {
    Window::RINGS
        .iter()
        .position(|w| f64::from(w.bucket()) * w.buckets() as f64 >= span)
        .unwrap_or(RINGS - 1)
}

/// Start of the first and of the last bucket of `window` ending at `now`.
fn bounds(window: Window, now: f64) -> (f64, f64) {
    let width = f64::from(window.bucket());
    let last = (now / width).floor() * width;
    (last - width * (window.buckets() - 1) as f64, last)
}

/// What a chart can be filtered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    All,
    Task(Sym),
    Worker(Sym),
}

/// The cluster's series, and each task name's and worker's.
#[derive(Debug, Default)]
pub struct SeriesSet {
    pub all: Windows,
    pub(super) by_task: HashMap<Sym, Windows>,
    pub(super) by_worker: HashMap<Sym, Windows>,
    /// Names and workers left without a series of their own.
    pub untracked: u64,
    pub gauges: Gauges,
}

fn keyed<'a>(
    map: &'a mut HashMap<Sym, Windows>,
    key: Sym,
    untracked: &mut u64,
) -> Option<&'a mut Windows> {
    if key.is_none() {
        return None;
    }
    // One lookup while there is room; a full map looks twice.
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        *untracked += 1;
        return None;
    }
    Some(map.entry(key).or_default())
}

impl SeriesSet {
    /// Counts `outcome` at `t` for the cluster, task name `task` and
    /// worker `worker` (either may be `Sym::NONE`: a task-sent has no
    /// worker yet).
    pub fn add(&mut self, t: f64, outcome: TaskEventKind, task: Sym, worker: Sym) {
        self.all.add(t, outcome);
        if let Some(w) = keyed(&mut self.by_task, task, &mut self.untracked) {
            w.add(t, outcome);
        }
        if let Some(w) = keyed(&mut self.by_worker, worker, &mut self.untracked) {
            w.add(t, outcome);
        }
    }

    /// Moves every series to `now`: buckets that fall out of a window are
    /// cleared even if nothing else happens.
    pub fn advance(&mut self, now: f64) {
        self.all.advance(now);
        for w in self.by_task.values_mut().chain(self.by_worker.values_mut()) {
            w.advance(now);
        }
    }

    /// The series a filter selects; `None` for a name or worker without
    /// one (never seen, or past [`MAX_KEYS`]).
    pub fn get(&self, filter: Filter) -> Option<&Windows> {
        match filter {
            Filter::All => Some(&self.all),
            Filter::Task(s) => self.by_task.get(&s),
            Filter::Worker(s) => self.by_worker.get(&s),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        let map = |m: &HashMap<Sym, Windows>| {
            m.values().map(Windows::heap_bytes).sum::<usize>() + m.capacity() * 16
        };
        self.all.heap_bytes() + map(&self.by_task) + map(&self.by_worker) + self.gauges.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(w: &Windows, window: Window, now: f64, outcome: TaskEventKind) -> u32 {
        w.window(window, now)
            .iter()
            .map(|(_, c)| c[outcome.index()])
            .sum()
    }

    #[test]
    fn every_window_counts_the_same_recent_events() {
        let mut w = Windows::default();
        let t0 = 1_800_000_000.0;
        for i in 0..120 {
            w.add(t0 + f64::from(i), TaskEventKind::Succeeded);
        }
        w.add(t0 + 5.0, TaskEventKind::Failed);
        let now = t0 + 130.0;
        for window in Window::ALL {
            let buckets = w.window(window, now);
            assert_eq!(buckets.len(), window.buckets(), "{window:?}");
            assert_eq!(
                total(&w, window, now, TaskEventKind::Succeeded),
                120,
                "{window:?}"
            );
            assert_eq!(
                total(&w, window, now, TaskEventKind::Failed),
                1,
                "{window:?}"
            );
        }
    }

    #[test]
    fn old_events_leave_the_short_windows_first() {
        let mut w = Windows::default();
        let t0 = 1_800_000_000.0;
        w.add(t0, TaskEventKind::Succeeded);
        let later = t0 + 2.0 * 3600.0;
        w.advance(later);
        assert_eq!(
            total(&w, Window::FiveMinutes, later, TaskEventKind::Succeeded),
            0
        );
        assert_eq!(total(&w, Window::Hour, later, TaskEventKind::Succeeded), 0);
        assert_eq!(total(&w, Window::Day, later, TaskEventKind::Succeeded), 1);
        assert_eq!(total(&w, Window::Week, later, TaskEventKind::Succeeded), 1);
        assert_eq!(total(&w, Window::Month, later, TaskEventKind::Succeeded), 1);
    }

    #[test]
    fn the_month_keeps_by_the_hour_what_the_week_has_forgotten() {
        let mut w = Windows::default();
        let t0 = 1_800_000_000.0;
        w.add(t0, TaskEventKind::Failed);
        w.add(t0 + 3600.0, TaskEventKind::Failed);
        let later = t0 + 10.0 * 86400.0;
        w.add(later, TaskEventKind::Failed);
        assert_eq!(total(&w, Window::Week, later, TaskEventKind::Failed), 1);
        assert_eq!(total(&w, Window::Month, later, TaskEventKind::Failed), 3);
        let month = w.window(Window::Month, later);
        assert_eq!(month.len(), 720);
        assert_eq!(month[1].0 - month[0].0, 3600.0);
        let week = w.window(Window::Week, later);
        assert_eq!(
            week[..],
            month[720 - 168..],
            "the week is the month's last 168 hours"
        );
        let gone = t0 + 31.0 * 86400.0;
        w.advance(gone);
        assert_eq!(total(&w, Window::Month, gone, TaskEventKind::Failed), 1);
        assert_eq!(Window::parse("30d"), Some(Window::Month));
    }

    #[test]
    fn queue_wait_p95_and_workers_online_per_bucket() {
        let mut g = Gauges::default();
        let t = 1_800_000_000.0;
        for i in 0..100 {
            g.record_wait(t, if i < 94 { 0.010 } else { 2.0 });
        }
        g.record_online(t, 3);
        g.record_online(t + 0.5, 2);
        let p95 = g.wait_p95(Window::FiveMinutes, t);
        let last = p95.last().copied().flatten().unwrap();
        assert!((1.5..2.9).contains(&last), "p95 {last}");
        assert_eq!(
            p95[p95.len() - 2],
            None,
            "nothing started the second before"
        );
        assert_eq!(
            g.online(Window::Hour, t).last(),
            Some(&3),
            "a bucket keeps its highest"
        );
    }

    #[test]
    fn names_and_workers_get_their_own_series_up_to_the_limit() {
        let mut set = SeriesSet::default();
        let t = 1_800_000_000.0;
        set.add(t, TaskEventKind::Succeeded, Sym(10 + 1), Sym(10 + 2));
        set.add(t, TaskEventKind::Sent, Sym(10 + 1), Sym::NONE);
        let task = set.get(Filter::Task(Sym(10 + 1))).unwrap();
        assert_eq!(
            total(task, Window::FiveMinutes, t, TaskEventKind::Succeeded),
            1
        );
        assert_eq!(total(task, Window::FiveMinutes, t, TaskEventKind::Sent), 1);
        let worker = set.get(Filter::Worker(Sym(10 + 2))).unwrap();
        assert_eq!(
            total(worker, Window::FiveMinutes, t, TaskEventKind::Sent),
            0
        );
        assert!(set.get(Filter::Worker(Sym(10 + 9))).is_none());
        for i in 0..(MAX_KEYS as u32 + 10) {
            set.add(t, TaskEventKind::Received, Sym(10 + 100 + i), Sym::NONE);
        }
        assert_eq!(
            set.untracked, 11,
            "one name had a series already: 255 more fit"
        );
        let all = set.get(Filter::All).unwrap();
        assert_eq!(
            total(all, Window::FiveMinutes, t, TaskEventKind::Received),
            MAX_KEYS as u32 + 10
        );
    }
}
