//! Every question the rest of the server may ask the model: one named
//! method per question, answered with owned values (wire types where the
//! answer is an API's shape). The model's fields are private to `state`;
//! these methods, the views and the subscriptions are the only way out.
//!
//! **Each read is bounded.** The owner runs reads between turns of event
//! ingestion, so a read may do at most one pass over the task columns
//! (what a Tasks page does at every flush), hold at most
//! [`MAX_READ_SPAN`] ranked entries, and copy out at most
//! [`MAX_READ_ROWS`] tasks, [`MAX_UNFINISHED`] task ids, or one list the
//! model's own limits bound (workers, whose inspection replies are shared,
//! not copied; queues; task types; metric series, bounded by the symbol
//! table). A longer answer is read in several reads that continue from a
//! cursor; decoding, formatting and serialising are the caller's.

use std::collections::BTreeMap;

use app::wire::rest;

use super::{
    Model,
    key::TaskKey,
    metrics::{Counted, Observed},
    query::{self, Cursor, TaskQuery},
    rest as to_rest,
    series::{Filter, Window},
    stats::OUTCOMES,
    stats::PromHistogram,
    symbols::Sym,
    text::Field,
};

/// Tasks one read copies out.
pub const MAX_READ_ROWS: usize = 1_000;

/// Entries one read ranks (`offset + limit` of one page): a listing that
/// starts further in skips ahead in several reads.
pub const MAX_READ_SPAN: usize = 10_000;

/// Unfinished tasks one read hands to reconciliation.
pub const MAX_UNFINISHED: usize = 10_000;

/// A page of a listing, and where the next one starts.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskList {
    pub rows: Vec<rest::Task>,
    /// `None` when the listing ended within this page.
    pub next: Option<Cursor>,
}

/// What the model saw of one task (`Model::sightings`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sighting {
    pub state: String,
    /// The worker of its last worker-side event (`task-received` on).
    pub worker: Option<String>,
    pub sent: Option<f64>,
    pub received: Option<f64>,
}

/// One queue as the model knows it (`Model::queue_detail`).
#[derive(Clone, Debug, PartialEq)]
pub struct QueueDetail {
    pub consumers: Vec<String>,
    pub depths: Option<Vec<u64>>,
    pub measured_at: Option<f64>,
    pub unacked: Option<u64>,
    /// Start of the first 5 s bucket of `series`.
    pub series_start: f64,
    /// The highest depth measured in each 5 s bucket (`None`: unknown).
    pub series: Vec<Option<u32>>,
    /// The same per priority step, in the order of `depths`, over the same
    /// buckets; empty when the queue keeps none (one step, or more than
    /// `queues::MAX_PRIORITY_STEPS`).
    pub series_by_step: Vec<Vec<Option<u32>>>,
}

/// The tasks a bulk action would touch.
#[derive(Clone, Debug, PartialEq)]
pub struct Matching {
    /// Every task the query matches.
    pub count: usize,
    /// The ids of the first ones, in the query's order.
    pub ids: Vec<String>,
    /// The first rows, to show.
    pub first: Vec<rest::Task>,
}

/// What `/api/workers` shows of one worker: each inspection's reply as
/// the JSON text the worker sent, with when it came, and its events.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerInfo {
    pub inspected: Vec<(String, std::sync::Arc<str>, f64)>,
    pub events: Option<rest::WorkerEvents>,
}

/// Whose outcomes `/api/stats/throughput` counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesOf {
    Cluster,
    Task(String),
    Worker(String),
}

/// One window of a series: each bucket's start and counts by outcome
/// (`TaskEventKind` index), and the cluster's workers online and p95 queue
/// wait per bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesWindow {
    pub buckets: Vec<(f64, [u32; OUTCOMES])>,
    pub workers_online: Vec<u32>,
    pub wait_p95: Vec<Option<f64>>,
}

/// No worker of that name is known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Unknown worker '{0}'")]
pub struct UnknownWorker(pub String);

/// What a retry needs to know of a task from its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySeed {
    pub name: Option<String>,
    /// Its routing key, else its queue.
    pub queue: Option<String>,
    /// The reprs of its arguments, as its events gave them.
    pub args_repr: Option<String>,
    pub kwargs_repr: Option<String>,
}

/// Unfinished tasks to reconcile with the result backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfinished {
    pub tasks: Vec<(TaskKey, String)>,
    /// The slot to continue from, if the store was not read to its end.
    pub next: Option<u32>,
}

/// The series of `/metrics`, labels resolved to text, sorted by label (in
/// interning order), so the rendering is stable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSample {
    pub runtime_bounds: Vec<f64>,
    /// `(worker, type, task)`.
    pub events: Vec<([String; 3], Counted)>,
    /// `(worker, task)`.
    pub runtime: Vec<([String; 2], Observed)>,
    pub prefetch_time: Vec<([String; 2], f64)>,
    pub prefetched: Vec<([String; 2], i64)>,
    pub online: Vec<(String, bool)>,
    /// Tasks currently executing, by worker.
    pub executing: Vec<(String, u64)>,
    pub queue_lengths: Vec<(String, u64)>,
    pub queue_wait: Vec<(String, PromHistogram)>,
    pub events_by_type: BTreeMap<String, u64>,
    pub undecodable: u64,
    pub duplicates: u64,
    pub broker_connected: bool,
    pub gaps: usize,
    pub tasks: usize,
    pub bytes: usize,
    pub max_tasks: usize,
    /// `None`: no byte budget.
    pub max_bytes: Option<usize>,
    pub evicted: u64,
}

/// Tasks in STARTED one alert read lists, the oldest first.
pub const MAX_STUCK: usize = 100;

/// Spans and windows one alert read sums over, of each sort: the rules'
/// distinct values; more are not read (their rules see no data). Each
/// span is a walk of at most 720 buckets per queue or task type, so this
/// bounds the read to a few million bucket visits at the model's limits.
pub const MAX_ALERT_SPANS: usize = 16;

/// How much earlier than its worker's coming online (server clock) a task
/// may have started (worker clock) and still be that process's: the
/// worker's `task-started` can bear a time just before the server received
/// its `worker-online`.
pub const RESTART_MARGIN: f64 = 5.0;

/// What the alert rules need from the model (`alerts::eval::ask`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertAsk {
    /// Seconds back over which each queue's lowest depth is wanted.
    pub depth_spans: Vec<f64>,
    /// Seconds back over which each task type's outcomes are summed.
    pub outcome_windows: Vec<f64>,
    /// Seconds back over which the cluster's p95 queue wait is wanted.
    pub wait_windows: Vec<f64>,
    /// List tasks STARTED at least this long ago (`None`: none).
    pub stuck_after: Option<f64>,
}

/// A worker as the alert rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerSeen {
    pub hostname: String,
    /// Its last heartbeat (or other sign of life).
    pub last_seen: Option<f64>,
    /// Online and alive (a sign of life within its heartbeat window).
    pub online: bool,
}

/// A queue as the alert rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSeen {
    pub name: String,
    /// Messages waiting as last measured (`None`: never measured).
    pub depth: Option<u64>,
    /// Per [`AlertAsk::depth_spans`]: the lowest depth recorded in that
    /// span, `None` where its history does not cover the whole span.
    pub lowest: Vec<Option<u64>>,
}

/// A task type's outcomes as the alert rules see them.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeOutcomes {
    pub name: String,
    /// Per [`AlertAsk::outcome_windows`]: (succeeded, failed).
    pub windows: Vec<(u64, u64)>,
    /// The start of the newest bucket holding a success.
    pub last_success: Option<f64>,
}

/// A task in STARTED.
#[derive(Clone, Debug, PartialEq)]
pub struct StartedTask {
    pub id: String,
    pub name: String,
    pub worker: String,
    pub started: f64,
}

/// The model as the alert rules see it at one time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertInputs {
    pub workers: Vec<WorkerSeen>,
    pub queues: Vec<QueueSeen>,
    /// Each task type with a series (at most `series::MAX_KEYS`).
    pub outcomes: Vec<TypeOutcomes>,
    /// Per [`AlertAsk::wait_windows`].
    pub wait_p95: Vec<Option<f64>>,
    /// The oldest STARTED tasks that may still be running, at most
    /// [`MAX_STUCK`]: their worker is online and has not come online again
    /// since they started (a task whose worker's process is gone will
    /// never finish, and its worker's own alert says why).
    pub started: Vec<StartedTask>,
    /// Since when celadon has heard every event (the end of its last gap:
    /// a restart or a lost connection); `None` while it hears nothing. A
    /// worker is silent only for as long as celadon was listening.
    pub listening_since: Option<f64>,
}

/// Entries of `map` sorted by key, labels resolved by `label`.
fn sorted<K: Ord + Copy, V: Clone, L, S>(
    map: &std::collections::HashMap<K, V, S>,
    label: impl Fn(K) -> L,
) -> Vec<(L, V)> {
    let mut v: Vec<_> = map.iter().map(|(k, v)| (*k, v.clone())).collect();
    v.sort_by_key(|a| a.0);
    v.into_iter().map(|(k, v)| (label(k), v)).collect()
}

impl Model {
    /// One task, as the read API shows it.
    pub fn rest_task(&self, key: TaskKey) -> Option<rest::Task> {
        self.tasks.get(key).map(|t| to_rest::task(self, t))
    }

    /// The page of `q` after `skip` tasks, at most `take` of them
    /// (`skip + take` at most [`MAX_READ_SPAN`], `take` at most
    /// [`MAX_READ_ROWS`]: larger asks are cut to those).
    pub fn task_list(&self, q: &TaskQuery, skip: usize, take: usize) -> TaskList {
        let take = take.min(MAX_READ_ROWS);
        let skip = skip.min(MAX_READ_SPAN - take);
        let q = TaskQuery {
            offset: skip,
            limit: Some(take),
            ..q.clone()
        };
        let page = query::listing(self, &q);
        TaskList {
            rows: page
                .slots
                .iter()
                .filter_map(|s| self.tasks.at(*s))
                .map(|t| to_rest::task(self, t))
                .collect(),
            next: page.next,
        }
    }

    /// Which of `keys` are retained; only the first [`MAX_READ_ROWS`] are
    /// looked up (the rest answer `false`).
    pub fn retained(&self, keys: &[TaskKey]) -> Vec<bool> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| i < MAX_READ_ROWS && self.tasks.get(*k).is_some())
            .collect()
    }

    /// How many tasks `q` matches, the ids of the first `ids` and the rows
    /// of the first `rows` (each at most [`MAX_READ_ROWS`]).
    pub fn matching(&self, q: &TaskQuery, ids: usize, rows: usize) -> Matching {
        let (ids, rows) = (ids.min(MAX_READ_ROWS), rows.min(MAX_READ_ROWS));
        let q = TaskQuery {
            offset: 0,
            limit: Some(ids.max(rows)),
            after: None,
            ..q.clone()
        };
        let page = query::run(self, &q);
        let tasks: Vec<_> = page
            .slots
            .iter()
            .filter_map(|s| self.tasks.at(*s))
            .collect();
        Matching {
            count: page.filtered,
            ids: tasks
                .iter()
                .take(ids)
                .filter_map(|t| self.id_text(t.key))
                .collect(),
            first: tasks
                .iter()
                .take(rows)
                .map(|t| to_rest::task(self, t))
                .collect(),
        }
    }

    /// Every task type seen, sorted.
    pub fn task_type_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .types
            .keys()
            .filter(|s| !s.is_none())
            .map(|s| self.symbols.text(*s).to_string())
            .collect();
        names.sort();
        names
    }

    /// `/api/workers`: every worker known from events or inspections, or
    /// only `name`.
    pub fn rest_workers(
        &self,
        name: Option<&str>,
    ) -> Result<BTreeMap<String, WorkerInfo>, UnknownWorker> {
        Ok(self
            .worker_names(name)?
            .into_iter()
            .map(|n| {
                let w = to_rest::worker(self, &n);
                (n, w)
            })
            .collect())
    }

    /// `/api/workers?status=1`: whether each worker is online.
    pub fn workers_online(
        &self,
        name: Option<&str>,
    ) -> Result<BTreeMap<String, bool>, UnknownWorker> {
        Ok(self
            .worker_names(name)?
            .into_iter()
            .map(|n| {
                let online = self.workers.get(&n).is_some_and(|w| w.online);
                (n, online)
            })
            .collect())
    }

    fn worker_names(&self, name: Option<&str>) -> Result<Vec<String>, UnknownWorker> {
        if let Some(n) = name {
            return if self.workers.get(n).is_some() || self.inspected.contains_key(n) {
                Ok(vec![n.to_string()])
            } else {
                Err(UnknownWorker(n.to_string()))
            };
        }
        let mut names: Vec<String> = self.workers.iter().map(|w| w.hostname.clone()).collect();
        names.extend(self.inspected.keys().cloned());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Flower's workers table (`/workers?json=1`).
    pub fn workers_table(&self, now: f64) -> rest::WorkersTable {
        to_rest::workers_table(self, now)
    }

    /// Workers online at `now` (a sign of life within their window).
    pub fn online_workers(&self, now: f64) -> Vec<String> {
        self.workers
            .iter()
            .filter(|w| w.online && w.alive_at(now))
            .map(|w| w.hostname.clone())
            .collect()
    }

    pub fn knows_worker(&self, name: &str) -> bool {
        self.workers.get(name).is_some()
    }

    /// Every queue known (from events, inspections and binding tables).
    pub fn queue_names(&self) -> Vec<String> {
        self.queues.names()
    }

    /// What the model saw of the tasks `keys` name (the first
    /// [`MAX_READ_ROWS`]): for the queue browser, which worker holds a
    /// message and since when a waiting one was sent.
    pub fn sightings(&self, keys: &[TaskKey]) -> Vec<Option<Sighting>> {
        keys.iter()
            .take(MAX_READ_ROWS)
            .map(|k| {
                let t = self.tasks.get(*k)?;
                let time = |t: f64| t.is_finite().then_some(t);
                Some(Sighting {
                    state: self.state_name(t.state).to_string(),
                    worker: (!t.worker.is_none()).then(|| self.symbols.text(t.worker).to_string()),
                    sent: time(t.times.sent),
                    received: time(t.times.received),
                })
            })
            .collect()
    }

    /// One queue as the model knows it: its consumers, its depths as last
    /// measured, and its depth per 5 s over the hour before `now`.
    pub fn queue_detail(&self, name: &str, now: f64) -> Option<QueueDetail> {
        let q = self.queues.get(name)?;
        let (from, to) = (now - 3600.0, now);
        let series = q.per_5s.window(from, to);
        let values = |w: Vec<(f64, Option<u32>)>| w.into_iter().map(|(_, v)| v).collect();
        Some(QueueDetail {
            consumers: q.consumers.iter().cloned().collect(),
            depths: q.depths.clone(),
            measured_at: q.measured_at,
            unacked: q.unacked,
            series_start: series.first().map_or(now, |(t, _)| *t),
            series: values(series),
            series_by_step: q
                .per_step_5s
                .iter()
                .map(|r| values(r.window(from, to)))
                .collect(),
        })
    }

    pub fn queue_lengths(&self) -> rest::QueueLengths {
        to_rest::queue_lengths(self)
    }

    /// `/api/stats`, with the reader's `dropped` count.
    pub fn rest_stats(&self, dropped: u64) -> rest::Stats {
        to_rest::stats(self, dropped)
    }

    /// `/api/stats/types`.
    pub fn task_type_stats(&self) -> Vec<rest::TaskTypeStats> {
        self.type_summaries()
            .into_iter()
            .map(to_rest::task_type_stats)
            .collect()
    }

    /// `/api/stats/throughput`'s series: `None` when the model has none
    /// for the task or worker.
    pub fn series_window(&self, window: Window, of: &SeriesOf, now: f64) -> Option<SeriesWindow> {
        let filter = match of {
            SeriesOf::Cluster => Filter::All,
            SeriesOf::Task(t) => Filter::Task(self.symbols.lookup(t)?),
            SeriesOf::Worker(w) => Filter::Worker(self.symbols.lookup(w)?),
        };
        Some(SeriesWindow {
            buckets: self.series.get(filter)?.window(window, now),
            workers_online: self.series.gauges.online(window, now),
            wait_p95: self.series.gauges.wait_p95(window, now),
        })
    }

    /// What a retry needs from the task's events.
    pub fn retry_seed(&self, key: TaskKey) -> Option<RetrySeed> {
        let t = self.tasks.get(key)?;
        let text = |f| t.text.get(f).map(str::to_string);
        let sym = |s: Sym| Some(self.symbols.text(s).to_string()).filter(|s| !s.is_empty());
        Some(RetrySeed {
            name: sym(t.name),
            queue: sym(t.routing_key).or_else(|| sym(t.queue)),
            args_repr: text(Field::Args),
            kwargs_repr: text(Field::Kwargs),
        })
    }

    /// Unfinished tasks whose last event is at or before `silent_since`
    /// (or who have none), from slot `from` on: at most
    /// [`MAX_UNFINISHED`], with where to continue.
    pub fn unfinished(&self, silent_since: f64, from: u32) -> Unfinished {
        let cols = &self.tasks.cols;
        let end = self.tasks.slot_count();
        let mut tasks = Vec::new();
        let mut slot = from as usize;
        while slot < end && tasks.len() < MAX_UNFINISHED {
            let state = cols.state[slot];
            let stamp = cols.timestamp[slot];
            let silent = stamp.is_nan() || stamp <= silent_since;
            if state != super::task::StateCode::FREE
                && !state.is_finished()
                && silent
                && let Some(t) = self.tasks.at(slot as u32)
                && let Some(id) = self.id_text(t.key)
            {
                tasks.push((t.key, id));
            }
            slot += 1;
        }
        Unfinished {
            tasks,
            next: (slot < end).then(|| u32::try_from(slot).unwrap_or(u32::MAX)),
        }
    }

    /// What the alert rules need at `now`: workers, queues with their
    /// lowest depth over each span, each task type's outcomes over each
    /// window, the cluster's p95 queue wait, and the oldest STARTED tasks
    /// (one pass over the state column).
    pub fn alert_inputs(&self, ask: &AlertAsk, now: f64) -> AlertInputs {
        use app::wire::celery::TaskEventKind;
        let cap = |v: &[f64]| v.iter().copied().take(MAX_ALERT_SPANS).collect::<Vec<_>>();
        let (depth_spans, outcome_windows, wait_windows) = (
            cap(&ask.depth_spans),
            cap(&ask.outcome_windows),
            cap(&ask.wait_windows),
        );
        let workers = self
            .workers
            .iter()
            .map(|w| WorkerSeen {
                hostname: w.hostname.clone(),
                // A goodbye (`worker-offline`) clears the heartbeat: its
                // last sign of life is then when it went offline.
                last_seen: w.last_heartbeat.or(w.offline_since),
                online: w.online && w.alive_at(now),
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .map(|q| QueueSeen {
                name: q.name.clone(),
                depth: q.depths.as_ref().map(|d| d.iter().sum()),
                lowest: depth_spans
                    .iter()
                    .map(|span| {
                        let ring = if *span <= 3600.0 {
                            &q.per_5s
                        } else {
                            &q.per_minute
                        };
                        ring.window(now - span, now)
                            .into_iter()
                            .map(|(_, v)| v.map(u64::from))
                            .try_fold(u64::MAX, |low, v| v.map(|v| low.min(v)))
                    })
                    .collect(),
            })
            .collect();
        let kinds = [TaskEventKind::Succeeded, TaskEventKind::Failed];
        let mut outcomes: Vec<TypeOutcomes> = self
            .series
            .by_task
            .iter()
            .map(|(sym, w)| TypeOutcomes {
                name: self.symbols.text(*sym).to_string(),
                windows: outcome_windows
                    .iter()
                    .map(|span| {
                        let s = w.sum_over(*span, now, &kinds);
                        (s[0], s[1])
                    })
                    .collect(),
                last_success: w.last(now, TaskEventKind::Succeeded),
            })
            .collect();
        outcomes.sort_by(|a, b| a.name.cmp(&b.name));
        let wait_p95 = wait_windows
            .iter()
            .map(|span| self.series.gauges.wait_p95_over(*span, now))
            .collect();
        let mut started = Vec::new();
        if let Some(after) = ask.stuck_after {
            let cols = &self.tasks.cols;
            let cutoff = now - after;
            // Workers that are running now, by symbol, with when they came
            // online (bounded by the workers the model keeps).
            let running: std::collections::HashMap<Sym, Option<f64>> = self
                .workers
                .iter()
                .filter(|w| w.online && w.alive_at(now))
                .filter_map(|w| Some((self.symbols.lookup(&w.hostname)?, w.online_since)))
                .collect();
            let may_run = |slot: usize, at: f64| {
                running
                    .get(&cols.worker[slot])
                    .is_some_and(|since| since.is_none_or(|s| at >= s - RESTART_MARGIN))
            };
            // The oldest MAX_STUCK, kept in a max-heap by start time.
            let mut heap: std::collections::BinaryHeap<(OrdF64, u32)> =
                std::collections::BinaryHeap::new();
            for (slot, state) in cols.state.iter().enumerate() {
                let at = cols.started[slot];
                if *state == super::task::StateCode::STARTED && at <= cutoff && may_run(slot, at) {
                    heap.push((OrdF64(at), slot as u32));
                    if heap.len() > MAX_STUCK {
                        heap.pop();
                    }
                }
            }
            let mut oldest = heap.into_vec();
            oldest.sort();
            started = oldest
                .into_iter()
                .filter_map(|(at, slot)| {
                    let t = self.tasks.at(slot)?;
                    Some(StartedTask {
                        id: self.id_text(t.key)?,
                        name: self.symbols.text(t.name).to_string(),
                        worker: self.symbols.text(t.worker).to_string(),
                        started: at.0,
                    })
                })
                .collect();
        }
        let listening_since = self.broker_connected.then(|| {
            self.gaps
                .last()
                .map_or(f64::NEG_INFINITY, |g| g.to.unwrap_or(f64::INFINITY))
        });
        AlertInputs {
            workers,
            queues,
            outcomes,
            wait_p95,
            started,
            listening_since,
        }
    }

    /// The series of `/metrics`.
    pub fn metrics_sample(&self) -> MetricsSample {
        let s = |sym: Sym| self.symbols.text(sym).to_string();
        let m = &self.metrics;
        let limits = self.tasks.limits();
        MetricsSample {
            runtime_bounds: m.runtime_bounds.clone(),
            events: sorted(&m.events, |(w, k, t)| [s(w), s(k), s(t)]),
            runtime: sorted(&m.runtime, |(w, t)| [s(w), s(t)]),
            prefetch_time: sorted(&m.prefetch_time, |(w, t)| [s(w), s(t)]),
            prefetched: sorted(&m.prefetched, |(w, t)| [s(w), s(t)]),
            online: sorted(&m.online, s),
            executing: sorted(&m.executing, s),
            queue_lengths: self
                .queues
                .iter()
                .map(|q| (q.name.clone(), q.messages()))
                .collect(),
            queue_wait: sorted(&m.queue_wait, s),
            events_by_type: self.counters.events_by_type(),
            undecodable: self.counters.undecodable,
            duplicates: self.counters.duplicates,
            broker_connected: self.broker_connected,
            gaps: self.gaps.len(),
            tasks: self.tasks.len(),
            bytes: self.heap_bytes(),
            max_tasks: limits.max_tasks,
            max_bytes: (limits.max_bytes != usize::MAX).then_some(limits.max_bytes),
            evicted: self.tasks.evicted_total(),
        }
    }
}

/// A time ordered totally (NaN never reaches it: a STARTED task's start
/// compared `<=` a cutoff is a number).
#[derive(Clone, Copy, Debug)]
struct OrdF64(f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
