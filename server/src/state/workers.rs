//! Workers as their events describe them: liveness by heartbeat, the
//! counters and load they report. Pure: `now` is always a parameter.

use std::collections::{btree_map::Entry, BTreeMap, BTreeSet};

use crate::broker::events::{WorkerEvent, WorkerEventKind};

/// Celery's `HEARTBEAT_EXPIRE_WINDOW` (200 %): a worker is offline once
/// `freq * 2` seconds pass without a heartbeat. A killed worker sends no
/// `worker-offline`; this is how it is noticed.
pub const HEARTBEAT_EXPIRE_FACTOR: f64 = 2.0;

/// Celery's default heartbeat interval, assumed until a worker states its own.
pub const DEFAULT_FREQ: f64 = 2.0;

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
    /// When the last heartbeat (or `worker-online`) was received, on the
    /// server's clock, as Celery's own state does. Cleared by
    /// `worker-offline`.
    pub last_heartbeat: Option<f64>,
    /// Liveness as of the last `apply` or `expire`.
    pub online: bool,
    /// Bumped whenever anything above changes.
    pub rev: u64,
}

impl Worker {
    fn new(hostname: String) -> Worker {
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
            last_heartbeat: None,
            online: false,
            rev: 0,
        }
    }

    /// Celery's `Worker.alive`: a heartbeat within the expiry window.
    pub fn alive_at(&self, now: f64) -> bool {
        self.last_heartbeat
            .is_some_and(|t| now < t + self.freq * HEARTBEAT_EXPIRE_FACTOR)
    }
}

#[derive(Debug, Default)]
pub struct Workers {
    by_name: BTreeMap<String, Worker>,
    /// Hostnames changed since the last `take_changed`.
    changed: BTreeSet<String>,
    last_rev: u64,
}

impl Workers {
    /// Folds in one worker event received at `received_at`.
    pub fn apply(&mut self, ev: WorkerEvent, received_at: f64) {
        let worker = match self.by_name.entry(ev.hostname) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let hostname = e.key().clone();
                e.insert(Worker::new(hostname))
            }
        };
        if let Some(freq) = ev.freq.filter(|f| f.is_finite() && *f > 0.0) {
            worker.freq = freq;
        }
        merge(&mut worker.pid, ev.pid);
        merge(&mut worker.active, ev.active);
        merge(&mut worker.processed, ev.processed);
        merge(&mut worker.loadavg, ev.loadavg);
        merge(&mut worker.sw_ident, ev.sw_ident);
        merge(&mut worker.sw_ver, ev.sw_ver);
        merge(&mut worker.sw_sys, ev.sw_sys);
        worker.last_heartbeat = match ev.kind {
            WorkerEventKind::Online | WorkerEventKind::Heartbeat => Some(received_at),
            WorkerEventKind::Offline => None,
        };
        worker.online = worker.alive_at(received_at);
        self.last_rev += 1;
        worker.rev = self.last_rev;
        self.changed.insert(worker.hostname.clone());
    }

    /// Marks offline every worker whose heartbeat expired by `now`.
    pub fn expire(&mut self, now: f64) {
        for worker in self.by_name.values_mut() {
            let alive = worker.alive_at(now);
            if worker.online != alive {
                worker.online = alive;
                self.last_rev += 1;
                worker.rev = self.last_rev;
                self.changed.insert(worker.hostname.clone());
            }
        }
    }

    /// Hostnames changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.changed)
    }

    pub fn get(&self, hostname: &str) -> Option<&Worker> {
        self.by_name.get(hostname)
    }

    /// Every worker, by hostname.
    pub fn iter(&self) -> impl Iterator<Item = &Worker> {
        self.by_name.values()
    }
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
        assert!(!w.get("a@h").unwrap().online);
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
    }

    #[test]
    fn every_change_bumps_the_revision() {
        let mut w = Workers::default();
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 100.0);
        let first = w.get("a@h").unwrap().rev;
        w.apply(event(WorkerEventKind::Heartbeat, "b@h"), 100.0);
        w.apply(event(WorkerEventKind::Heartbeat, "a@h"), 102.0);
        assert!(w.get("a@h").unwrap().rev > first);
        w.expire(200.0);
        let names: Vec<_> = w.iter().map(|x| (x.hostname.as_str(), x.online)).collect();
        assert_eq!(names, [("a@h", false), ("b@h", false)]);
    }
}
