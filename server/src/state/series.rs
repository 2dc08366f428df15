//! Task outcomes over time at the four windows the Graphs page shows
//! (5 min by the second, 1 h by 10 s, 24 h by 5 min, 7 days by the hour),
//! for the whole cluster and for each task name and each worker, so a chart
//! filtered by either is exact, not sampled from the retained tasks. Each
//! series is a fixed amount of memory (1,116 buckets of 8 counters, 36 KB);
//! at most [`MAX_KEYS`] names and as many workers get one, the rest count
//! only in the cluster's. Pure: times come in.

use foldhash::HashMap;

use super::{
    stats::{Outcome, Ring, OUTCOMES},
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
}

impl Window {
    pub const ALL: [Window; 4] = [Window::FiveMinutes, Window::Hour, Window::Day, Window::Week];

    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::FiveMinutes => "5m",
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    /// Seconds per bucket.
    pub fn bucket(self) -> u32 {
        match self {
            Window::FiveMinutes => 1,
            Window::Hour => 10,
            Window::Day => 300,
            Window::Week => 3600,
        }
    }

    /// Buckets in the window.
    pub fn buckets(self) -> usize {
        match self {
            Window::FiveMinutes => 300,
            Window::Hour => 360,
            Window::Day => 288,
            Window::Week => 168,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One series at every window.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows([Ring; 4]);

impl Default for Windows {
    fn default() -> Self {
        Windows(Window::ALL.map(|w| Ring::new(w.bucket(), w.buckets())))
    }
}

impl Windows {
    pub fn add(&mut self, t: f64, outcome: Outcome) {
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
        let width = f64::from(window.bucket());
        let last = (now / width).floor() * width;
        let first = last - width * (window.buckets() - 1) as f64;
        self.0[window.index()].window(first, last)
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.iter().map(Ring::heap_bytes).sum()
    }
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
    by_task: HashMap<Sym, Windows>,
    by_worker: HashMap<Sym, Windows>,
    /// Names and workers left without a series of their own.
    pub untracked: u64,
}

fn keyed<'a>(
    map: &'a mut HashMap<Sym, Windows>,
    key: Sym,
    untracked: &mut u64,
) -> Option<&'a mut Windows> {
    if key.is_none() {
        return None;
    }
    if !map.contains_key(&key) {
        if map.len() >= MAX_KEYS {
            *untracked += 1;
            return None;
        }
        map.insert(key, Windows::default());
    }
    map.get_mut(&key)
}

impl SeriesSet {
    /// Counts `outcome` at `t` for the cluster, task name `task` and
    /// worker `worker` (either may be `Sym::NONE`: a task-sent has no
    /// worker yet).
    pub fn add(&mut self, t: f64, outcome: Outcome, task: Sym, worker: Sym) {
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
        self.all.heap_bytes() + map(&self.by_task) + map(&self.by_worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(w: &Windows, window: Window, now: f64, outcome: Outcome) -> u32 {
        w.window(window, now)
            .iter()
            .map(|(_, c)| c[outcome as usize])
            .sum()
    }

    #[test]
    fn every_window_counts_the_same_recent_events() {
        let mut w = Windows::default();
        let t0 = 1_800_000_000.0;
        for i in 0..120 {
            w.add(t0 + f64::from(i), Outcome::Succeeded);
        }
        w.add(t0 + 5.0, Outcome::Failed);
        let now = t0 + 130.0;
        for window in Window::ALL {
            let buckets = w.window(window, now);
            assert_eq!(buckets.len(), window.buckets(), "{window:?}");
            assert_eq!(
                total(&w, window, now, Outcome::Succeeded),
                120,
                "{window:?}"
            );
            assert_eq!(total(&w, window, now, Outcome::Failed), 1, "{window:?}");
        }
    }

    #[test]
    fn old_events_leave_the_short_windows_first() {
        let mut w = Windows::default();
        let t0 = 1_800_000_000.0;
        w.add(t0, Outcome::Succeeded);
        let later = t0 + 2.0 * 3600.0;
        w.advance(later);
        assert_eq!(total(&w, Window::FiveMinutes, later, Outcome::Succeeded), 0);
        assert_eq!(total(&w, Window::Hour, later, Outcome::Succeeded), 0);
        assert_eq!(total(&w, Window::Day, later, Outcome::Succeeded), 1);
        assert_eq!(total(&w, Window::Week, later, Outcome::Succeeded), 1);
    }

    #[test]
    fn names_and_workers_get_their_own_series_up_to_the_limit() {
        let mut set = SeriesSet::default();
        let t = 1_800_000_000.0;
        set.add(t, Outcome::Succeeded, Sym(10 + 1), Sym(10 + 2));
        set.add(t, Outcome::Sent, Sym(10 + 1), Sym::NONE);
        let task = set.get(Filter::Task(Sym(10 + 1))).unwrap();
        assert_eq!(total(task, Window::FiveMinutes, t, Outcome::Succeeded), 1);
        assert_eq!(total(task, Window::FiveMinutes, t, Outcome::Sent), 1);
        let worker = set.get(Filter::Worker(Sym(10 + 2))).unwrap();
        assert_eq!(total(worker, Window::FiveMinutes, t, Outcome::Sent), 0);
        assert!(set.get(Filter::Worker(Sym(10 + 9))).is_none());
        for i in 0..(MAX_KEYS as u32 + 10) {
            set.add(t, Outcome::Received, Sym(10 + 100 + i), Sym::NONE);
        }
        assert_eq!(
            set.untracked, 11,
            "one name had a series already: 255 more fit"
        );
        let all = set.get(Filter::All).unwrap();
        assert_eq!(
            total(all, Window::FiveMinutes, t, Outcome::Received),
            MAX_KEYS as u32 + 10
        );
    }
}
