//! The series behind `/metrics`: Flower's (`flower_*`), kept by Flower
//! 2.2's own rules (`flower/events.py`: `PrometheusMetrics`), so its
//! Grafana dashboard and alert rules read the same things from celadon;
//! and celadon's own queue wait times. Keyed by interned symbols, so the
//! symbol table's bound is the series' bound; rendered by `api::metrics`.
//!
//! Flower's rules, which the model follows event by event:
//! - `flower_events_total{worker, type, task}` counts task events only
//!   (custom `task-*` ones too, under their own type), every delivery;
//!   `worker` is the event's hostname (a client's, for `task-sent`) and
//!   `task` the event's name, else the task's, else "" (never received).
//! - `flower_task_runtime_seconds{worker, task}` observes the `runtime` of
//!   any task event that carries a non-zero one.
//! - The prefetch series leave out tasks with an ETA and tasks whose
//!   `task-received` has not arrived: `task-received` adds one prefetched
//!   task; `task-started` takes it away and sets the prefetch time to
//!   started − received; `task-succeeded`/`task-failed` of a started task
//!   set the time back to 0; `task-revoked`/`task-rejected` of a task that
//!   never started take the prefetched one away.
//! - `flower_worker_online{worker}` is the last worker event's word (online
//!   or heartbeat: 1, offline: 0), not heartbeat expiry;
//!   `flower_worker_number_of_currently_executing_tasks{worker}` is the
//!   last heartbeat's `active`.
//! - A series appears with its first event, and a purged worker's series
//!   all go.
//!
//! One departure, the model's own: a duplicate delivery of a task event is
//! counted in `flower_events_total` (Flower counts every delivery) but
//! changes no other series, as it changes nothing else in the model.
//! Counters and histograms remember when their series appeared, which
//! Flower's Python client exposes as `<name>_created`.

use app::wire::celery::{TaskEventKind, WorkerEventKind};
use foldhash::HashMap;

use super::{
    stats::{LogHistogram, PromHistogram},
    symbols::Sym,
    task::Times,
};

/// Upper bounds of `celadon_queue_wait_seconds`: from a busy queue's
/// milliseconds to a backlog's hour.
pub const QUEUE_WAIT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A counter and when its series appeared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counted {
    pub count: u64,
    pub created: f64,
}

/// A histogram and when its series appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub histogram: PromHistogram,
    pub created: f64,
}

/// What Flower's `observe_task` reads of one task event and of its task
/// after the event was folded in.
#[derive(Clone, Copy, Debug)]
pub struct TaskSeen {
    /// The event's hostname.
    pub worker: Sym,
    /// The event's `type`.
    pub kind: Sym,
    /// Its Celery kind; `None` for a custom event.
    pub event: Option<TaskEventKind>,
    /// The task's name once the event is folded in: the event's, when it
    /// names one (Flower's `event.get('name') or task.name`).
    pub name: Sym,
    /// The event's own `runtime`.
    pub runtime: Option<f64>,
    pub times: Times,
    pub has_eta: bool,
    /// A delivery of an event already applied.
    pub duplicate: bool,
    /// When it was received.
    pub at: f64,
}

#[derive(Debug)]
pub struct Metrics {
    pub runtime_bounds: Vec<f64>,
    /// `flower_events_total{worker, type, task}`.
    pub events: HashMap<(Sym, Sym, Sym), Counted>,
    /// `flower_task_runtime_seconds{worker, task}`.
    pub runtime: HashMap<(Sym, Sym), Observed>,
    /// `flower_task_prefetch_time_seconds{worker, task}`.
    pub prefetch_time: HashMap<(Sym, Sym), f64>,
    /// `flower_worker_prefetched_tasks{worker, task}`.
    pub prefetched: HashMap<(Sym, Sym), i64>,
    /// `flower_worker_online{worker}`.
    pub online: HashMap<Sym, bool>,
    /// `flower_worker_number_of_currently_executing_tasks{worker}`.
    pub executing: HashMap<Sym, u64>,
    /// `celadon_queue_wait_seconds{queue}`: task-sent → task-started.
    pub queue_wait: HashMap<Sym, PromHistogram>,
    /// The same waits, for percentiles.
    pub queue_wait_quantiles: HashMap<Sym, LogHistogram>,
}

impl Metrics {
    pub fn new(runtime_bounds: Vec<f64>) -> Metrics {
        Metrics {
            runtime_bounds,
            events: HashMap::default(),
            runtime: HashMap::default(),
            prefetch_time: HashMap::default(),
            prefetched: HashMap::default(),
            online: HashMap::default(),
            executing: HashMap::default(),
            queue_wait: HashMap::default(),
            queue_wait_quantiles: HashMap::default(),
        }
    }

    /// One task event, as Flower's `PrometheusMetrics.observe_task`.
    pub fn observe_task(&mut self, e: &TaskSeen) {
        self.events
            .entry((e.worker, e.kind, e.name))
            .or_insert(Counted {
                count: 0,
                created: e.at,
            })
            .count += 1;
        if e.duplicate {
            return;
        }
        // Flower tests the runtime for truth: 0 is not observed.
        if let Some(runtime) = e.runtime.filter(|r| *r != 0.0) {
            let bounds = &self.runtime_bounds;
            self.runtime
                .entry((e.worker, e.name))
                .or_insert_with(|| Observed {
                    histogram: PromHistogram::new(bounds),
                    created: e.at,
                })
                .histogram
                .observe(bounds, runtime);
        }
        // A task with an ETA waits on purpose; one not received yet was
        // never prefetched.
        let t = &e.times;
        if e.has_eta || !t.received.is_finite() {
            return;
        }
        let key = (e.worker, e.name);
        let started = t.started.is_finite();
        match e.event {
            Some(TaskEventKind::Received) => {
                *self.prefetched.entry(key).or_insert(0) += 1;
            }
            Some(TaskEventKind::Started) if started => {
                self.prefetch_time.insert(key, t.started - t.received);
                *self.prefetched.entry(key).or_insert(0) -= 1;
            }
            Some(TaskEventKind::Succeeded | TaskEventKind::Failed) if started => {
                self.prefetch_time.insert(key, 0.0);
            }
            Some(TaskEventKind::Revoked | TaskEventKind::Rejected) if !started => {
                *self.prefetched.entry(key).or_insert(0) -= 1;
            }
            _ => {}
        }
    }

    /// One worker event, as Flower's `PrometheusMetrics.observe_worker`.
    pub fn observe_worker(&mut self, worker: Sym, kind: WorkerEventKind, active: Option<u64>) {
        self.online.insert(worker, kind != WorkerEventKind::Offline);
        if let (WorkerEventKind::Heartbeat, Some(active)) = (kind, active) {
            self.executing.insert(worker, active);
        }
    }

    /// One task's wait in `queue`, task-sent to task-started; a little clock
    /// skew between client and worker reads as zero.
    pub fn observe_queue_wait(&mut self, queue: Sym, wait: f64) {
        let wait = wait.max(0.0);
        self.queue_wait
            .entry(queue)
            .or_insert_with(|| PromHistogram::new(&QUEUE_WAIT_BUCKETS))
            .observe(&QUEUE_WAIT_BUCKETS, wait);
        self.queue_wait_quantiles
            .entry(queue)
            .or_default()
            .record(wait);
    }

    /// Drops every series of a purged worker (Flower's `remove_workers`).
    pub fn forget_worker(&mut self, worker: Sym) {
        self.events.retain(|(w, _, _), _| *w != worker);
        self.runtime.retain(|(w, _), _| *w != worker);
        self.prefetch_time.retain(|(w, _), _| *w != worker);
        self.prefetched.retain(|(w, _), _| *w != worker);
        self.online.remove(&worker);
        self.executing.remove(&worker);
    }

    pub fn heap_bytes(&self) -> usize {
        let histogram = std::mem::size_of::<Observed>() + 8 * (self.runtime_bounds.len() + 1);
        self.events.capacity() * (13 + std::mem::size_of::<Counted>())
            + self.runtime.capacity() * (9 + histogram)
            + (self.prefetch_time.capacity() + self.prefetched.capacity()) * 17
            + (self.online.capacity() + self.executing.capacity()) * 13
            + self.queue_wait.capacity() * (5 + 8 * 16 + 32)
            + self.queue_wait_quantiles.len() * LogHistogram::default().heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::state::{
        Model,
        tests::{event, ingest},
    };

    const A: &str = "00000000-0000-4000-8000-00000000000a";
    const B: &str = "00000000-0000-4000-8000-00000000000b";

    /// A task event from `w1@h` at `at`, received at `at`.
    fn t(kind: &str, uuid: &str, at: f64, extra: Value) -> (Value, f64) {
        (event(kind, uuid, at, extra), at)
    }

    /// A worker event from `host` at `at`.
    fn w(kind: &str, host: &str, at: f64, extra: Value) -> (Value, f64) {
        let mut e = json!({"type": kind, "hostname": host, "timestamp": at, "freq": 2.0});
        if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(extra.clone());
        }
        (e, at)
    }

    fn received(uuid: &str, at: f64, name: &str) -> (Value, f64) {
        t(
            "task-received",
            uuid,
            at,
            json!({"name": name, "retries": 0}),
        )
    }

    /// Every Flower series of the model, one line each, sorted.
    fn series(model: &Model) -> Vec<String> {
        let m = model.metrics_sample();
        let mut out = Vec::new();
        for ([w, k, n], c) in &m.events {
            out.push(format!("events{{{w},{k},{n}}} {}", c.count));
        }
        for ([w, n], h) in &m.runtime {
            let h = &h.histogram;
            out.push(format!("runtime{{{w},{n}}} {} {}", h.count, h.sum));
        }
        for ([w, n], v) in &m.prefetch_time {
            out.push(format!("prefetch_time{{{w},{n}}} {v}"));
        }
        for ([w, n], v) in &m.prefetched {
            out.push(format!("prefetched{{{w},{n}}} {v}"));
        }
        for (w, v) in &m.online {
            out.push(format!("online{{{w}}} {}", u8::from(*v)));
        }
        for (w, v) in &m.executing {
            out.push(format!("executing{{{w}}} {v}"));
        }
        out.sort();
        out
    }

    /// Applies `events` (each received at its time) to a fresh model and
    /// compares its Flower series with `expect`, in any order.
    fn check(events: &[(Value, f64)], expect: &[&str]) -> Model {
        let mut model = Model::default();
        for (e, at) in events {
            ingest(&mut model, std::slice::from_ref(e), *at);
        }
        let mut expect: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        expect.sort();
        assert_eq!(series(&model), expect);
        model
    }

    #[test]
    fn worker_events_are_not_counted_and_set_the_worker_gauges() {
        check(
            &[
                w("worker-online", "w1@h", 1.0, json!({"active": 0})),
                w("worker-heartbeat", "w1@h", 2.0, json!({"active": 3})),
                // On request: no `active`.
                w("worker-heartbeat", "w2@h", 2.0, json!({"freq": 5.0})),
                w("worker-offline", "w2@h", 3.0, json!({"active": 1})),
                w("worker-offline", "w3@h", 3.0, json!({})),
            ],
            &[
                "online{w1@h} 1",
                "online{w2@h} 0",
                "online{w3@h} 0",
                "executing{w1@h} 3",
            ],
        );
    }

    #[test]
    fn the_online_gauge_waits_for_worker_offline_not_for_the_heartbeat_to_expire() {
        let mut model = check(
            &[w("worker-heartbeat", "w1@h", 1.0, json!({"active": 0}))],
            &["online{w1@h} 1", "executing{w1@h} 0"],
        );
        model.expire(1000.0, None);
        assert_eq!(series(&model), ["executing{w1@h} 0", "online{w1@h} 1"]);
    }

    #[test]
    fn task_events_are_counted_by_hostname_type_and_name_custom_ones_under_their_own_type() {
        check(
            &[
                t(
                    "task-sent",
                    A,
                    1.0,
                    json!({"hostname": "client@h", "name": "t.a"}),
                ),
                received(A, 2.0, "t.a"),
                t("task-progress", A, 3.0, json!({})),
                t("task-progress", A, 3.5, json!({})),
                // Never received: no name anywhere.
                t("task-started", B, 4.0, json!({})),
            ],
            &[
                "events{client@h,task-sent,t.a} 1",
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-progress,t.a} 2",
                "events{w1@h,task-started,} 1",
                "prefetched{w1@h,t.a} 1",
            ],
        );
    }

    #[test]
    fn a_runtime_is_observed_from_any_event_that_carries_a_non_zero_one() {
        check(
            &[
                received(A, 1.0, "t.a"),
                t("task-progress", A, 1.5, json!({"runtime": 0.25})),
                t("task-succeeded", A, 2.0, json!({"runtime": 0.0})),
                received(B, 3.0, "t.a"),
                t("task-succeeded", B, 4.0, json!({"runtime": 0.5})),
            ],
            &[
                "events{w1@h,task-received,t.a} 2",
                "events{w1@h,task-progress,t.a} 1",
                "events{w1@h,task-succeeded,t.a} 2",
                "runtime{w1@h,t.a} 2 0.75",
                "prefetched{w1@h,t.a} 2",
            ],
        );
    }

    #[test]
    fn prefetch_time_is_set_at_start_and_reset_when_a_started_task_ends() {
        let mut events = vec![
            received(A, 1.0, "t.a"),
            t("task-started", A, 3.5, json!({})),
        ];
        let model = check(
            &events,
            &[
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-started,t.a} 1",
                "prefetch_time{w1@h,t.a} 2.5",
                "prefetched{w1@h,t.a} 0",
            ],
        );
        drop(model);
        events.push(t("task-failed", A, 4.0, json!({})));
        check(
            &events,
            &[
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-started,t.a} 1",
                "events{w1@h,task-failed,t.a} 1",
                "prefetch_time{w1@h,t.a} 0",
                "prefetched{w1@h,t.a} 0",
            ],
        );
    }

    #[test]
    fn a_revoke_or_reject_before_the_start_takes_the_prefetched_task_away() {
        check(
            &[
                received(A, 1.0, "t.a"),
                received(B, 1.0, "t.a"),
                t("task-revoked", A, 2.0, json!({})),
                t("task-rejected", B, 2.0, json!({})),
            ],
            &[
                "events{w1@h,task-received,t.a} 2",
                "events{w1@h,task-revoked,t.a} 1",
                "events{w1@h,task-rejected,t.a} 1",
                "prefetched{w1@h,t.a} 0",
            ],
        );
    }

    #[test]
    fn a_revoke_after_the_start_leaves_the_prefetched_count_alone() {
        check(
            &[
                received(A, 1.0, "t.a"),
                t("task-started", A, 1.0, json!({})),
                t("task-revoked", A, 2.0, json!({"terminated": true})),
            ],
            &[
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-started,t.a} 1",
                "events{w1@h,task-revoked,t.a} 1",
                "prefetch_time{w1@h,t.a} 0",
                "prefetched{w1@h,t.a} 0",
            ],
        );
    }

    #[test]
    fn tasks_with_an_eta_and_tasks_never_received_leave_the_prefetch_series_alone() {
        check(
            &[
                t(
                    "task-received",
                    A,
                    1.0,
                    json!({"name": "t.a", "eta": "2027-01-15T08:00:00+00:00"}),
                ),
                t("task-started", A, 9.0, json!({})),
                t("task-started", B, 9.0, json!({})),
                t("task-revoked", B, 9.5, json!({})),
            ],
            &[
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-started,t.a} 1",
                "events{w1@h,task-started,} 1",
                "events{w1@h,task-revoked,} 1",
            ],
        );
    }

    #[test]
    fn a_duplicate_delivery_is_counted_as_an_event_and_changes_nothing_else() {
        check(
            &[
                received(A, 1.0, "t.a"),
                received(A, 1.0, "t.a"),
                t("task-succeeded", A, 2.0, json!({"runtime": 0.5})),
                t("task-succeeded", A, 2.0, json!({"runtime": 0.5})),
            ],
            &[
                "events{w1@h,task-received,t.a} 2",
                "events{w1@h,task-succeeded,t.a} 2",
                "runtime{w1@h,t.a} 1 0.5",
                "prefetched{w1@h,t.a} 1",
            ],
        );
    }

    #[test]
    fn a_purged_worker_loses_every_series_and_others_keep_theirs() {
        let mut model = check(
            &[
                w("worker-online", "w1@h", 1.0, json!({})),
                received(A, 1.0, "t.a"),
                t("task-succeeded", A, 2.0, json!({"runtime": 0.5})),
                w("worker-offline", "w1@h", 3.0, json!({})),
                w("worker-heartbeat", "w2@h", 99.0, json!({"active": 1})),
            ],
            &[
                "events{w1@h,task-received,t.a} 1",
                "events{w1@h,task-succeeded,t.a} 1",
                "runtime{w1@h,t.a} 1 0.5",
                "prefetched{w1@h,t.a} 1",
                "online{w1@h} 0",
                "online{w2@h} 1",
                "executing{w2@h} 1",
            ],
        );
        model.expire(100.0, Some(60.0));
        assert_eq!(series(&model), ["executing{w2@h} 1", "online{w2@h} 1"]);
    }
}
