//! Workers as their events describe them: liveness by heartbeat, the
//! counters and load they report, and how many events of each task kind
//! they sent. Pure: `now` is always a parameter.

use app::wire::celery::TaskEventKind;
use std::collections::BTreeSet;

use foldhash::HashMap;

use super::stats::Ring;
use crate::broker::events::{WorkerEvent, WorkerEventKind};

/// Celery's `HEARTBEAT_EXPIRE_WINDOW` (200 %): a worker is offline once
/// `freq * 2` seconds pass without a heartbeat. A killed worker sends no
/// `worker-offline`; this is how it is noticed.
pub const HEARTBEAT_EXPIRE_FACTOR: f64 = 2.0;

/// Celery's default heartbeat interval, assumed until a worker states its own.
pub const DEFAULT_FREQ: f64 = 2.0;

/// Signs of life kept per worker (Celery's `Worker.heartbeat_max`).
pub const HEARTBEATS_KEPT: usize = 4;

/// Workers kept (Flower's `--max-workers` default). Past it, the worker
/// offline the longest is forgotten first.
pub const DEFAULT_MAX_WORKERS: usize = 5000;

#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    pub hostname: String,
    pub pid: Option<u32>,
    pub freq: f64,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub sw_ident: Option<String>,
    pub sw_ver: Option<String>,
    pub sw_sys: Option<String>,
    /// Hours west of UTC, as the worker reports it.
    pub utcoffset: Option<f64>,
    /// The worker's Lamport clock in its last event.
    pub clock: u64,
    /// When the last sign of life (heartbeat, `worker-online`, or any task
    /// event) was received, on the server's clock. Cleared by
    /// `worker-offline`.
    pub last_heartbeat: Option<f64>,
    /// The last [`HEARTBEATS_KEPT`] signs of life, oldest first (Celery's
    /// `Worker.heartbeats`, which Flower's workers table shows).
    pub heartbeats: Vec<f64>,
    /// Liveness as of the last `apply` or `expire`.
    pub online: bool,
    /// When it went offline (server clock), while it is.
    pub offline_since: Option<f64>,
    /// When its current process started, as far as celadon saw (server
    /// clock): its `worker-online`, or the first event from a new main
    /// pid. A task it started before then ran in a process that is gone.
    /// Not saved across restarts (`None`: not known).
    pub online_since: Option<f64>,
    /// Celery task events this worker sent, by kind (duplicates not
    /// counted), and custom task events.
    pub task_events: [u64; TaskEventKind::COUNT],
    pub custom_events: u64,
    /// Worker events (online, heartbeat, offline) it sent, by kind.
    pub worker_events: [u64; WorkerEventKind::COUNT],
    /// Tasks it finished, per 5 s for the last minute (server clock).
    pub recent: Ring,
    /// Bumped whenever anything above changes.
    pub rev: u64,
}

impl Worker {
    pub(super) fn new(hostname: String) -> Worker {
        Worker {
            hostname,
            pid: None,
            freq: DEFAULT_FREQ,
            active: None,
            processed: None,
            loadavg: None,
            sw_ident: None,
            sw_ver: None,
            sw_sys: None,
            utcoffset: None,
            clock: 0,
            last_heartbeat: None,
            heartbeats: Vec::new(),
            online: false,
            offline_since: None,
            online_since: None,
            task_events: [0; TaskEventKind::COUNT],
            custom_events: 0,
            worker_events: [0; WorkerEventKind::COUNT],
            recent: Ring::new(RECENT_BUCKET_SECONDS, RECENT_BUCKETS),
            rev: 0,
        }
    }

    /// Celery's `Worker.alive`: a sign of life within the expiry window.
    pub fn alive_at(&self, now: f64) -> bool {
        self.last_heartbeat
            .is_some_and(|t| now < t + self.freq * HEARTBEAT_EXPIRE_FACTOR)
    }

    /// Tasks finished per second over the minute before `now`.
    pub fn rate(&self, now: f64) -> f64 {
        finished_per_second(&self.recent, now)
    }

    pub fn task_count(&self, kind: TaskEventKind) -> u64 {
        self.task_events[kind.index()]
    }

    /// Task events it sent, by `type`, only the types it sent.
    pub fn task_events_by_type(&self) -> Vec<(&'static str, u64)> {
        let celery = TaskEventKind::ALL
            .iter()
            .map(|k| (k.type_name(), self.task_count(*k)));
        celery
            .chain([(super::CUSTOM_EVENT_TYPE, self.custom_events)])
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Keeps a sign of life received at `at` (Celery's `update_heartbeat`:
    /// only a newer one, and only the last few).
    fn beat(&mut self, at: f64) {
        if self.heartbeats.last().is_none_or(|last| at > *last) {
            if self.heartbeats.len() == HEARTBEATS_KEPT {
                self.heartbeats.remove(0);
            }
            self.heartbeats.push(at);
        }
    }

    /// When its heartbeat window ran out (or it said goodbye).
    fn set_online(&mut self, online: bool, now: f64) {
        if online {
            self.offline_since = None;
        } else if self.online || self.offline_since.is_none() {
            let expired_at = self
                .last_heartbeat
                .map_or(now, |t| t + self.freq * HEARTBEAT_EXPIRE_FACTOR);
            self.offline_since = Some(expired_at.min(now));
        }
        self.online = online;
    }
}

#[derive(Debug)]
pub struct Workers {
    /// In creation order; `index` finds them by hostname without allocating.
    list: Vec<Worker>,
    index: HashMap<String, usize>,
    /// Hostnames changed since the last `take_changed`.
    changed: BTreeSet<String>,
    last_rev: u64,
    /// `last_rev` at the last `take_changed`.
    taken_rev: u64,
    max_workers: usize,
}

impl Default for Workers {
    fn default() -> Self {
        Workers::new(DEFAULT_MAX_WORKERS)
    }
}

impl Workers {
    pub fn new(max_workers: usize) -> Workers {
        Workers {
            list: Vec::new(),
            index: HashMap::default(),
            changed: BTreeSet::new(),
            last_rev: 0,
            taken_rev: 0,
            max_workers: max_workers.max(1),
        }
    }

    /// The position of `hostname`, created if new. Allocates only then:
    /// this runs for every event.
    fn slot(&mut self, hostname: &str) -> usize {
        if let Some(i) = self.index.get(hostname) {
            return *i;
        }
        if self.list.len() >= self.max_workers {
            self.forget_longest_offline();
        }
        self.list.push(Worker::new(hostname.to_string()));
        self.index.insert(hostname.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }

    fn remove(&mut self, hostname: &str) -> bool {
        let Some(i) = self.index.remove(hostname) else {
            return false;
        };
        self.list.swap_remove(i);
        if let Some(moved) = self.list.get(i) {
            self.index.insert(moved.hostname.clone(), i);
        }
        self.changed.insert(hostname.to_string());
        true
    }

    fn forget_longest_offline(&mut self) {
        let victim = self
            .list
            .iter()
            .filter(|w| !w.online)
            .min_by(|a, b| {
                a.offline_since
                    .unwrap_or(0.0)
                    .total_cmp(&b.offline_since.unwrap_or(0.0))
            })
            .map(|w| w.hostname.clone());
        if let Some(name) = victim {
            self.remove(&name);
        }
    }

    fn touched(&mut self, i: usize) {
        self.last_rev += 1;
        let w = &mut self.list[i];
        // A worker touched since the last take is in the set already: one
        // insertion per flush, not a set lookup per event.
        if w.rev <= self.taken_rev {
            self.changed.insert(w.hostname.clone());
        }
        w.rev = self.last_rev;
    }

    /// Folds in one worker event received at `received_at`.
    pub fn apply(&mut self, ev: WorkerEvent, received_at: f64) {
        if ev.kind == WorkerEventKind::Offline && !self.index.contains_key(&ev.hostname) {
            // Celery does not create a worker from its goodbye.
            return;
        }
        let i = self.slot(&ev.hostname);
        let worker = &mut self.list[i];
        if let Some(freq) = ev.freq.filter(|f| f.is_finite() && *f > 0.0) {
            worker.freq = freq;
        }
        let new_process = ev.kind == WorkerEventKind::Online
            || matches!((worker.pid, ev.pid), (Some(old), Some(new)) if old != new);
        if new_process {
            worker.online_since = Some(received_at);
        }
        merge(&mut worker.pid, ev.pid);
        merge(&mut worker.active, ev.active);
        merge(&mut worker.processed, ev.processed);
        merge(&mut worker.loadavg, ev.loadavg);
        merge(&mut worker.sw_ident, ev.sw_ident);
        merge(&mut worker.sw_ver, ev.sw_ver);
        merge(&mut worker.sw_sys, ev.sw_sys);
        merge(&mut worker.utcoffset, ev.utcoffset);
        if let Some(clock) = ev.clock {
            worker.clock = clock;
        }
        let kind_index = ev.kind.index();
        worker.worker_events[kind_index] += 1;
        worker.last_heartbeat = match ev.kind {
            WorkerEventKind::Online | WorkerEventKind::Heartbeat => Some(received_at),
            WorkerEventKind::Offline => None,
        };
        match ev.kind {
            WorkerEventKind::Offline => worker.heartbeats.clear(),
            _ => worker.beat(received_at),
        }
        let alive = worker.alive_at(received_at);
        worker.set_online(alive, received_at);
        self.touched(i);
    }

    /// A task event from `hostname`: as in Celery's `State`, it is a sign of
    /// life of the worker (created if unknown). Counts it unless it is a
    /// duplicate delivery.
    /// `kind` is `None` for a custom event.
    pub fn on_task_event(
        &mut self,
        hostname: &str,
        kind: Option<TaskEventKind>,
        duplicate: bool,
        received_at: f64,
    ) {
        let i = self.slot(hostname);
        let worker = &mut self.list[i];
        if !duplicate {
            match kind {
                Some(kind) => worker.task_events[kind.index()] += 1,
                None => worker.custom_events += 1,
            }
            if let Some(kind @ (TaskEventKind::Succeeded | TaskEventKind::Failed)) = kind {
                worker.recent.add(received_at, kind);
            }
        }
        if worker.last_heartbeat.is_none_or(|t| t < received_at) {
            worker.last_heartbeat = Some(received_at);
        }
        worker.beat(received_at);
        let alive = worker.alive_at(received_at);
        worker.set_online(alive, received_at);
        self.touched(i);
    }

    /// Marks offline every worker whose heartbeat expired by `now`, and
    /// returns their hostnames.
    pub fn expire(&mut self, now: f64) -> Vec<String> {
        let mut expired = Vec::new();
        for i in 0..self.list.len() {
            let worker = &mut self.list[i];
            let alive = worker.alive_at(now);
            if worker.online != alive {
                worker.set_online(alive, now);
                if !alive {
                    expired.push(worker.hostname.clone());
                }
                self.touched(i);
            }
        }
        expired
    }

    /// Forgets workers offline for longer than `after` seconds (Flower's
    /// `--purge-offline-workers`). Returns their hostnames.
    pub fn purge_offline(&mut self, now: f64, after: f64) -> Vec<String> {
        let gone: Vec<String> = self
            .list
            .iter()
            .filter(|w| !w.online && w.offline_since.is_some_and(|t| now - t > after))
            .map(|w| w.hostname.clone())
            .collect();
        for name in &gone {
            self.remove(name);
        }
        gone
    }

    /// Hostnames changed since the last call (including removed ones).
    pub fn take_changed(&mut self) -> BTreeSet<String> {
        self.taken_rev = self.last_rev;
        std::mem::take(&mut self.changed)
    }

    pub fn get(&self, hostname: &str) -> Option<&Worker> {
        self.index.get(hostname).map(|i| &self.list[*i])
    }

    /// Every worker, by hostname.
    pub fn iter(&self) -> impl Iterator<Item = &Worker> {
        let mut sorted: Vec<&Worker> = self.list.iter().collect();
        sorted.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        sorted.into_iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every worker, in the order they were first seen (the order the cap
    /// breaks ties in).
    pub(super) fn in_creation_order(&self) -> &[Worker] {
        &self.list
    }

    /// Replaces every worker by `list` (in the order first seen, hostnames
    /// distinct), then judges each alive or not at `now` by its heartbeats,
    /// as [`Workers::expire`] does: a worker last heard from longer ago
    /// than its window is offline from when the window ran out until it
    /// beats again, whatever it was when `list` was taken. Past the cap,
    /// the workers offline longest are forgotten first. Revisions continue
    /// from the highest in `list`; every worker, old and new, counts as
    /// changed.
    pub(super) fn restore(&mut self, list: Vec<Worker>, now: f64) {
        let before = std::mem::take(&mut self.list);
        self.changed.extend(before.into_iter().map(|w| w.hostname));
        self.index = list
            .iter()
            .enumerate()
            .map(|(i, w)| (w.hostname.clone(), i))
            .collect();
        self.list = list;
        self.changed
            .extend(self.list.iter().map(|w| w.hostname.clone()));
        let highest = self.list.iter().map(|w| w.rev).max().unwrap_or(0);
        self.last_rev = self.last_rev.max(highest);
        self.expire(now);
        while self.list.len() > self.max_workers {
            let len = self.list.len();
            self.forget_longest_offline();
            if self.list.len() == len
                && let Some(last) = self.list.last().map(|w| w.hostname.clone())
            {
                self.remove(&last);
            }
        }
    }

    /// Estimated heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.list
            .iter()
            .map(|w| {
                std::mem::size_of::<Worker>() + w.recent.heap_bytes() + 2 * w.hostname.len() + 64
            })
            .sum()
    }
}

/// Width and number of the buckets of [`Worker::recent`]: a minute.
const RECENT_BUCKET_SECONDS: u32 = 5;
const RECENT_BUCKETS: usize = 12;

/// Succeeded and failed per second in `ring` over the minute before `now`,
/// the current (partial) bucket left out.
pub fn finished_per_second(ring: &Ring, now: f64) -> f64 {
    let width = f64::from(ring.width());
    let buckets = ring.window(now - 60.0, now - width);
    let n: u64 = buckets
        .iter()
        .map(|(_, c)| {
            u64::from(c[TaskEventKind::Succeeded.index()] + c[TaskEventKind::Failed.index()])
        })
        .sum();
    n as f64 / (buckets.len() as f64 * width).max(1.0)
}

/// Keeps the last known value when an event omits a field, as Celery does.
fn merge<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: WorkerEventKind, host: &str) -> WorkerEvent {
        WorkerEvent {
            kind,
            hostname: host.into(),
            timestamp: None,
            utcoffset: Some(-2.0),
            clock: Some(5),
            pid: Some(10),
            freq: Some(2.0),
            active: Some(1),
            processed: Some(5),
            loadavg: Some([0.5, 0.25, 0.1]),
            sw_ident: Some("py-celery".into()),
            sw_ver: Some("5.7.0".into()),
            sw_sys: Some("Linux".into()),
        }
    }

    #[test]
    fn heartbeat_makes_a_worker_online_until_twice_its_interval_passes() {
        let mut w = Workers::default();
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 100.0);
        assert!(w.get("a@h").unwrap().online);
        w.take_changed();
        w.expire(103.9);
        assert!(w.get("a@h").unwrap().online);
        assert!(w.take_changed().is_empty());
        w.expire(104.0);
        let a = w.get("a@h").unwrap();
        assert!(!a.online);
        assert_eq!(a.offline_since, Some(104.0));
        assert_eq!(w.take_changed().into_iter().collect::<Vec<_>>(), ["a@h"]);
    }

    #[test]
    fn offline_event_takes_a_worker_offline_at_once() {
        let mut w = Workers::default();
        w.apply(event(WorkerEventKind::Online, "a@h"), 100.0);
        w.apply(event(WorkerEventKind::Offline, "a@h"), 100.5);
        assert!(!w.get("a@h").unwrap().online);
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 101.0);
        assert!(w.get("a@h").unwrap().online, "a heartbeat brings it back");
        w.apply(event(WorkerEventKind::Offline, "ghost@h"), 101.0);
        assert!(
            w.get("ghost@h").is_none(),
            "a goodbye alone creates nothing"
        );
    }

    #[test]
    fn on_demand_heartbeat_keeps_the_counters_and_widens_the_window() {
        let mut w = Workers::default();
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 100.0);
        let mut on_demand = event(WorkerEventKind::Heartbeat, "a@h");
        on_demand.freq = Some(5.0);
        (on_demand.active, on_demand.processed, on_demand.loadavg) = (None, None, None);
        w.apply(on_demand, 101.0);
        let a = w.get("a@h").unwrap();
        assert_eq!((a.active, a.processed), (Some(1), Some(5)));
        assert_eq!(a.loadavg, Some([0.5, 0.25, 0.1]));
        assert!(a.alive_at(110.9) && !a.alive_at(111.0));
        assert_eq!(a.utcoffset, Some(-2.0));
    }

    #[test]
    fn task_events_count_by_kind_and_keep_a_worker_alive() {
        let mut w = Workers::default();
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 100.0);
        w.on_task_event("a@h", Some(TaskEventKind::Received), false, 103.0);
        w.on_task_event("a@h", Some(TaskEventKind::Received), true, 103.1);
        w.on_task_event("a@h", Some(TaskEventKind::Succeeded), false, 103.2);
        w.expire(106.0);
        let a = w.get("a@h").unwrap();
        assert!(a.online, "the task event at 103 counts as a sign of life");
        assert_eq!(
            a.task_count(TaskEventKind::Received),
            1,
            "the duplicate is not counted"
        );
        assert_eq!(a.task_count(TaskEventKind::Succeeded), 1);
    }

    #[test]
    fn long_offline_workers_are_purged_and_the_cap_forgets_the_oldest_offline() {
        let mut w = Workers::new(2);
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 100.0);
        w.apply(event(WorkerEventKind::Heartbeat, "b@h"), 200.0);
        w.expire(300.0);
        w.apply(event(WorkerEventKind::Heartbeat, "c@h"), 300.0);
        let names: Vec<_> = w.iter().map(|x| x.hostname.as_str()).collect();
        assert_eq!(names, ["b@h", "c@h"], "a@h was offline longest");
        assert_eq!(w.purge_offline(300.0, 50.0), ["b@h"]);
        assert_eq!(w.len(), 1);
    }
}
