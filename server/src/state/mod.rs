//! The model of the cluster and its single owner. `Model` is pure: it
//! decodes what it is given and folds it in with an explicit time; the
//! `owner` thread is the only code that holds one, and the rest of the
//! server reads it through the named questions of `read`. Everything a
//! page, the API or /metrics shows is derived from it.
//!
//! Replaying a stored stream of `(payload, received_at)` into a fresh model
//! rebuilds the same state: nothing here reads a clock.

mod counts;
pub mod graphs;
pub mod index;
pub mod key;
pub mod links;
pub mod metrics;
pub mod owner;
pub mod query;
pub mod queues;
pub mod read;
mod reconcile;
pub mod rest;
pub mod rows;
pub mod saved;
pub mod search;
pub mod series;
pub mod stats;
pub mod symbols;
pub mod task;
pub mod tasks;
pub mod text;
pub mod views;
pub mod workers;

use std::{collections::BTreeMap, sync::Arc};

use foldhash::{HashMap, HashSet};

use crate::broker::{
    envelope::Decoder,
    events::{Event, EventError, TaskEvent, TaskEventType, for_each_event},
};
use app::wire::celery::{TaskEventKind, WorkerEventKind};
pub use counts::{CUSTOM_SLOT, Counters, RETAINED_SLOTS, TypeStats, TypeSummary};
use key::TaskKey;
pub use metrics::Metrics;
use queues::Queues;
use stats::{LogHistogram, Throughput};
use symbols::{Sym, Symbols};
use task::{StateCode, Step, Update};
use tasks::{Limits, TaskStore};
use text::Field;
use workers::Workers;

/// Celery's `CLIENT_CLOCK_SKEW`: clients never sync their Lamport clocks, so
/// a `task-sent` is stamped just behind the receiver's clock.
const CLIENT_CLOCK_SKEW: i64 = -1;

/// The `type` every custom task event is counted under per worker.
pub const CUSTOM_EVENT_TYPE: &str = "task-custom";

/// Child links remembered for parents not seen yet. Past this, new ones are
/// dropped (the child still names its parent).
pub const MAX_PENDING_CHILD_LINKS: usize = 100_000;

/// Workers remembered as "came online, inspect it" between owner turns.
const MAX_JOINED: usize = 1000;

/// Custom states (from custom `task-*` events) given their own code.
const MAX_CUSTOM_STATES: usize = (StateCode::CUSTOM_OVERFLOW.0 - StateCode::FIRST_CUSTOM) as usize;

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub limits: Limits,
    pub max_workers: usize,
    /// Upper bounds of `flower_task_runtime_seconds`.
    pub runtime_buckets: Vec<f64>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            limits: Limits::default(),
            max_workers: workers::DEFAULT_MAX_WORKERS,
            runtime_buckets: stats::DEFAULT_RUNTIME_BUCKETS.to_vec(),
        }
    }
}

/// Workers' replies to one inspection method, as the JSON text each sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    pub method: String,
    pub replies: Vec<(String, Arc<str>)>,
    /// For `active_queues`: the queues each worker consumes.
    pub consumes: Vec<(String, Vec<String>)>,
    /// When the replies came.
    pub at: f64,
}

/// A stretch of time in which events may have been lost (the broker
/// connection was down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gap {
    pub from: f64,
    pub to: Option<f64>,
}

/// Gaps remembered; older ones are dropped.
const MAX_GAPS: usize = 100;

#[derive(Debug)]
pub struct Model {
    workers: Workers,
    tasks: TaskStore,
    symbols: Symbols,
    custom_states: Vec<Box<str>>,
    /// The receiver's Lamport clock (Celery's `EventReceiver.clock`).
    clock: u64,
    pending_children: HashMap<TaskKey, Vec<TaskKey>>,
    types: HashMap<Sym, TypeStats>,
    throughput: Throughput,
    metrics: Metrics,
    counters: Counters,
    gaps: Vec<Gap>,
    /// Whether the event stream is connected now.
    broker_connected: bool,
    queues: Queues,
    /// Queue names from `task-sent` events, as symbols, to note each once.
    queue_syms: HashSet<Sym>,
    /// Replies to inspections, by worker and method, with when they came.
    inspected: BTreeMap<String, BTreeMap<String, (Arc<str>, f64)>>,
    /// Bumped whenever `inspected` changes, so views know when to look.
    inspect_version: u64,
    /// Workers that came online since the owner last looked, to inspect.
    joined: Vec<String>,
    /// Bumped whenever any task changes; views compare it.
    task_version: u64,
    /// The interned type names of Celery's task events, by kind.
    kind_syms: [Sym; TaskEventKind::COUNT],
    /// Retries made from celadon, both ways.
    retry_links: links::RetryLinks,
    /// Outcomes over time for the charts: the cluster, each name, each worker.
    series: series::SeriesSet,
    /// Bumped whenever the charts' current second moves.
    series_version: u64,
    series_second: u64,
    /// Decodes payloads, kept between them: its body buffer (a fresh one
    /// per payload showed among the owner's larger allocations) and the
    /// envelope tails it knows.
    decoder: Decoder,
}

/// A body buffer grown past this by an unusually large payload is let go.
const BODY_KEPT: usize = 1 << 20;

impl Default for Model {
    fn default() -> Self {
        Model::new(ModelConfig::default())
    }
}

impl Model {
    pub fn new(config: ModelConfig) -> Model {
        let mut symbols = Symbols::default();
        let kind_syms = TaskEventKind::ALL.map(|k| symbols.intern(k.type_name()));
        Model {
            workers: Workers::new(config.max_workers),
            tasks: TaskStore::new(config.limits),
            symbols,
            kind_syms,
            custom_states: Vec::new(),
            clock: 0,
            pending_children: HashMap::default(),
            types: HashMap::default(),
            throughput: Throughput::default(),
            metrics: Metrics::new(config.runtime_buckets),
            counters: Counters::default(),
            gaps: Vec::new(),
            broker_connected: false,
            queues: Queues::default(),
            queue_syms: HashSet::default(),
            inspected: BTreeMap::new(),
            inspect_version: 0,
            joined: Vec::new(),
            task_version: 0,
            retry_links: links::RetryLinks::default(),
            series: series::SeriesSet::default(),
            series_version: 0,
            series_second: 0,
            decoder: Decoder::default(),
        }
    }

    /// Records that `retry` was sent as a retry of `original`.
    pub fn link_retry(&mut self, original: String, retry: String) {
        self.retry_links.link(original, retry);
        self.task_version += 1;
    }

    /// Decodes one PUBLISH payload from an event channel and applies every
    /// event in it. Junk is counted, not fatal; the errors are returned so
    /// the caller can log them.
    pub fn ingest(&mut self, payload: &[u8], received_at: f64) -> Vec<EventError> {
        let mut errors = Vec::new();
        let mut decoder = std::mem::take(&mut self.decoder);
        let decoded = for_each_event(payload, &mut decoder, |event| match event {
            Ok(event) => self.apply(event, received_at),
            Err(error) => {
                self.counters.undecodable += 1;
                errors.push(error);
            }
        });
        if decoder.body.capacity() > BODY_KEPT {
            decoder.body = Vec::new();
        }
        self.decoder = decoder;
        if let Err(error) = decoded {
            self.counters.undecodable += 1;
            errors.push(error);
        }
        errors
    }

    /// Folds in one decoded event, received at `received_at`.
    pub fn apply(&mut self, event: Event<'_>, received_at: f64) {
        self.counters.count(&event);
        match event {
            Event::Worker(w) => {
                let hostname = self.symbols.intern(&w.hostname);
                if let Some(clock) = w.clock {
                    self.adjust_clock(clock);
                }
                self.metrics.observe_worker(hostname, w.kind, w.active);
                let was_online = self.workers.get(&w.hostname).is_some_and(|k| k.online);
                let came_online = w.kind == WorkerEventKind::Online || !was_online;
                if came_online && self.joined.len() < MAX_JOINED {
                    self.joined.push(w.hostname.clone());
                }
                self.workers.apply(w, received_at);
                // An offline worker consumes nothing; it is asked again for
                // its queues when it is back (`joined`).
                let name = self.symbols.text(hostname);
                if was_online && self.workers.get(name).is_some_and(|k| !k.online) {
                    self.queues.forget_consumer(name);
                }
            }
            Event::Task(t) => self.apply_task(&t, received_at),
            Event::Other { .. } => {}
        }
    }

    /// The interned `type` of a task event: a custom one under its own.
    fn type_sym(&mut self, kind: &TaskEventType<'_>) -> Sym {
        match kind {
            TaskEventType::Celery(kind) => self.kind_syms[kind.index()],
            TaskEventType::Custom(_) => self.symbols.intern(&kind.type_name()),
        }
    }

    fn adjust_clock(&mut self, other: u64) {
        self.clock = self.clock.max(other) + 1;
    }

    /// The state code of a custom event subject (`progress` → `PROGRESS`).
    fn custom_state(&mut self, subject: &str) -> StateCode {
        let name = subject.to_uppercase();
        if let Some(code) = StateCode::builtin_by_name(&name) {
            return code;
        }
        let index = match self.custom_states.iter().position(|s| **s == *name) {
            Some(i) => i,
            None if self.custom_states.len() < MAX_CUSTOM_STATES => {
                self.custom_states.push(name.into());
                self.custom_states.len() - 1
            }
            None => return StateCode::CUSTOM_OVERFLOW,
        };
        StateCode(StateCode::FIRST_CUSTOM + u8::try_from(index).unwrap_or(0))
    }

    pub fn state_name(&self, state: StateCode) -> &str {
        if let Some(name) = state.builtin_name() {
            return name;
        }
        let index = usize::from(state.0.saturating_sub(StateCode::FIRST_CUSTOM));
        self.custom_states.get(index).map_or("CUSTOM", |s| s)
    }

    /// The code of a state name, if any task could be in it.
    pub fn state_code(&self, name: &str) -> Option<StateCode> {
        StateCode::builtin_by_name(name).or_else(|| {
            let index = self.custom_states.iter().position(|s| **s == *name)?;
            Some(StateCode(
                StateCode::FIRST_CUSTOM + u8::try_from(index).ok()?,
            ))
        })
    }

    fn apply_task(&mut self, ev: &TaskEvent<'_>, received_at: f64) {
        let step = match &ev.kind {
            TaskEventType::Celery(kind) => Step::Event(*kind),
            TaskEventType::Custom(subject) => Step::Custom(self.custom_state(subject)),
        };
        let is_sent = step == Step::Event(TaskEventKind::Sent);
        let clock = if is_sent {
            let c = (self.clock.max(1) as i64 + CLIENT_CLOCK_SKEW).max(0) as u64;
            self.adjust_clock(c);
            c
        } else {
            match ev.origin.clock {
                Some(c) => {
                    self.adjust_clock(c);
                    c
                }
                None => {
                    self.clock += 1;
                    self.clock
                }
            }
        };
        let hostname = ev.origin.hostname.as_ref();
        let host_sym = self.symbols.intern(hostname);
        let worker = if is_sent { Sym::NONE } else { host_sym };
        let mut intern = |s: &Option<std::borrow::Cow<'_, str>>| {
            s.as_deref().map_or(Sym::NONE, |s| self.symbols.intern(s))
        };
        let name = intern(&ev.name);
        let queue = intern(&ev.queue);
        let exchange = intern(&ev.exchange);
        let routing_key = intern(&ev.routing_key);
        let key = TaskKey::of(&ev.uuid);
        let sent_to = if queue.is_none() { routing_key } else { queue };
        if is_sent && !sent_to.is_none() && self.queue_syms.insert(sent_to) {
            self.queues.note_sent_to(self.symbols.text(sent_to));
        }
        fn link<'e>(id: &'e Option<std::borrow::Cow<'_, str>>) -> Option<(TaskKey, &'e str)> {
            id.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| (TaskKey::of(s), s))
        }
        let update = Update {
            step,
            timestamp: ev.origin.timestamp.unwrap_or(received_at),
            clock,
            worker,
            client: if is_sent {
                Some(hostname).filter(|h| !h.is_empty())
            } else {
                None
            },
            name,
            queue,
            exchange,
            routing_key,
            retries: ev.retries,
            root: link(&ev.root_id),
            parent: link(&ev.parent_id),
            args: ev.args.as_deref(),
            kwargs: ev.kwargs.as_deref(),
            eta: ev.eta.as_deref(),
            expires: ev.expires.as_deref(),
            result: ev.result.as_deref(),
            runtime: ev.runtime,
            exception: ev.exception.as_deref(),
            traceback: ev.traceback.as_deref(),
            terminated: ev.terminated,
            signum: ev.signum,
            expired: ev.expired,
            requeue: ev.requeue,
        };

        let uuid = ev.uuid.as_ref();
        let ((folded, name_before, after), created) = self.tasks.upsert(key, |task, created| {
            if created && !key.is_uuid() {
                task.text.set_many(&[(Field::IdText, Some(uuid))]);
            }
            let name_before = task.name;
            let folded = task.fold(&update);
            (folded, name_before, After::of(task))
        });
        self.task_version += 1;
        if folded.duplicate {
            self.counters.duplicates += 1;
        }

        // Retained counts by type and state.
        if created {
            self.type_stats(after.name).retained[TypeStats::retained_slot(after.state)] += 1;
        } else if (name_before, folded.before) != (after.name, after.state) {
            let old = self.type_stats(name_before);
            let slot = TypeStats::retained_slot(folded.before);
            old.retained[slot] = old.retained[slot].saturating_sub(1);
            self.type_stats(after.name).retained[TypeStats::retained_slot(after.state)] += 1;
        }

        let seen = metrics::TaskSeen {
            worker: host_sym,
            kind: self.type_sym(&ev.kind),
            event: step.event(),
            name: after.name,
            runtime: ev.runtime,
            times: after.times,
            has_eta: after.has_eta,
            duplicate: folded.duplicate,
            at: received_at,
        };
        self.metrics.observe_task(&seen);
        if !is_sent {
            self.workers
                .on_task_event(hostname, step.event(), folded.duplicate, received_at);
        }
        if let Some(kind) = step.event().filter(|_| !folded.duplicate) {
            self.count_outcome(kind, key, &after, received_at);
        }
        self.link_child(key, after.parent, created);
        let types = &mut self.types;
        self.tasks.evict_over_limits(|t| {
            if let Some(stats) = types.get_mut(&t.name) {
                let slot = TypeStats::retained_slot(t.state);
                stats.retained[slot] = stats.retained[slot].saturating_sub(1);
            }
        });
    }

    /// Throughput, per-type outcomes and runtimes, and the queue wait, for
    /// an event applied for the first time.
    fn count_outcome(&mut self, kind: TaskEventKind, key: TaskKey, t: &After, received_at: f64) {
        let outcome = kind;
        self.throughput.add(received_at, outcome);
        // A task-sent is the client's, even when it arrives after the
        // worker's task-received has set the task's worker.
        let worker = if kind == TaskEventKind::Sent {
            Sym::NONE
        } else {
            t.worker
        };
        self.series.add(received_at, outcome, t.name, worker);
        if let Some(wait) = t.queue_wait(kind) {
            self.series.gauges.record_wait(received_at, wait);
            self.metrics.observe_queue_wait(t.queue_or_route(), wait);
        }
        let stats = self.type_stats(t.name);
        stats.outcomes[outcome.index()] += 1;
        if kind == TaskEventKind::Failed {
            stats.last_failure = Some(key);
        }
        if kind == TaskEventKind::Succeeded && t.runtime.is_finite() {
            stats.runtime.record(t.runtime);
        }
    }

    fn link_child(&mut self, child: TaskKey, parent: TaskKey, created: bool) {
        if created && let Some(children) = self.pending_children.remove(&child) {
            self.tasks.update_in_place(child, |t| {
                for c in children {
                    t.add_child(c);
                }
            });
        }
        if parent.is_none() || parent == child {
            return;
        }
        let linked = self.tasks.update_in_place(parent, |p| {
            p.add_child(child);
        });
        if !linked {
            if let Some(waiting) = self.pending_children.get_mut(&parent) {
                if !waiting.contains(&child) && waiting.len() < task::MAX_CHILDREN {
                    waiting.push(child);
                }
            } else if self.pending_children.len() < MAX_PENDING_CHILD_LINKS {
                self.pending_children.insert(parent, vec![child]);
            }
        }
    }

    /// Applies the passage of time: heartbeat expiry, ring advance, and
    /// (with `purge_after`) forgetting long-offline workers.
    pub fn expire(&mut self, now: f64, purge_after: Option<f64>) {
        for hostname in self.workers.expire(now) {
            self.queues.forget_consumer(&hostname);
        }
        self.throughput.advance(now);
        let second = now.floor() as u64;
        if second != self.series_second {
            self.series_second = second;
            self.series.advance(now);
            let online = self
                .workers
                .iter()
                .filter(|w| w.online && w.alive_at(now))
                .count();
            self.series.gauges.record_online(now, online as u64);
            self.series_version += 1;
        }
        if let Some(after) = purge_after {
            for hostname in self.workers.purge_offline(now, after) {
                if let Some(sym) = self.symbols.lookup(&hostname) {
                    self.metrics.forget_worker(sym);
                }
                self.inspected.remove(&hostname);
                self.queues.forget_consumer(&hostname);
            }
        }
    }

    /// Workers that came online since the last call, to inspect.
    pub fn take_joined(&mut self) -> Vec<String> {
        std::mem::take(&mut self.joined)
    }

    /// Workers whose rows changed since the last call.
    pub fn take_changed_workers(&mut self) -> std::collections::BTreeSet<String> {
        self.workers.take_changed()
    }

    /// Measured queue depths, the queues seen in kombu's binding tables, and
    /// the messages held unacknowledged, at `at`.
    pub fn record_queue_depths(
        &mut self,
        at: f64,
        declared: &[String],
        depths: Vec<(String, Vec<u64>)>,
        unacked: Option<crate::broker::queues::Unacked>,
    ) {
        for name in declared {
            self.queues.note_declared(name);
        }
        self.queues.record(at, depths);
        if let Some(unacked) = unacked {
            self.queues
                .record_unacked(unacked.total, unacked.by_routing_key);
        }
    }

    /// The replies to an inspection.
    pub fn record_inspection(&mut self, inspection: Inspection) {
        let Inspection {
            method,
            replies,
            consumes,
            at,
        } = inspection;
        self.inspect_version += 1;
        for (worker, queues) in consumes {
            self.queues.set_consumer(&worker, &queues);
        }
        for (worker, reply) in replies {
            if !self.inspected.contains_key(&worker)
                && self.inspected.len() >= workers::DEFAULT_MAX_WORKERS
            {
                continue;
            }
            self.inspected
                .entry(worker)
                .or_default()
                .insert(method.clone(), (reply, at));
        }
    }

    /// The event stream connected or disconnected at `at`. A disconnection
    /// opens a gap (events may be lost); the next connection closes it.
    pub fn on_link(&mut self, connected: bool, at: f64) {
        match (self.broker_connected, connected) {
            (true, false) => self.record_gap(at, None),
            (false, true) => {
                if let Some(gap) = self.gaps.last_mut().filter(|g| g.to.is_none()) {
                    gap.to = Some(at);
                }
            }
            _ => {}
        }
        self.broker_connected = connected;
    }

    /// Records that events may have been lost from `from` until `to`.
    pub fn record_gap(&mut self, from: f64, to: Option<f64>) {
        if let Some(last) = self.gaps.last_mut()
            && last.from == from
        {
            last.to = to;
            return;
        }
        if self.gaps.len() >= MAX_GAPS {
            self.gaps.remove(0);
        }
        self.gaps.push(Gap { from, to });
    }

    /// The id of a related task (parent, root, child): its uuid, else the
    /// text the event gave, else the id of the task if it is known.
    pub fn link_text(&self, key: TaskKey, text: Option<&str>) -> Option<String> {
        if key.is_none() {
            return None;
        }
        key.uuid_text()
            .or_else(|| text.map(str::to_string))
            .or_else(|| self.id_text(key))
    }

    /// The ids of a task's children, as text.
    pub fn children_text(&self, t: &task::Task) -> Vec<String> {
        t.children
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .filter_map(|c| self.link_text(*c, None))
            .collect()
    }

    /// The text form of a task id.
    pub fn id_text(&self, key: TaskKey) -> Option<String> {
        key.uuid_text().or_else(|| {
            self.tasks
                .get(key)
                .and_then(|t| t.text.get(Field::IdText).map(str::to_string))
        })
    }

    /// The model's own measured size: the heap bytes of everything it holds.
    pub fn heap_bytes(&self) -> usize {
        self.tasks.heap_bytes()
            + self.retry_links.heap_bytes()
            + self.series.heap_bytes()
            + self.symbols.heap_bytes()
            + self.workers.heap_bytes()
            + self.throughput.heap_bytes()
            + self.metrics.heap_bytes()
            + self.types.len()
                * (std::mem::size_of::<TypeStats>() + LogHistogram::default().heap_bytes())
            + self.pending_children.len() * 64
            + self.queues.heap_bytes()
            + self.decoder.heap_bytes()
    }
}

/// What the rest of `apply_task` needs from the task after folding.
struct After {
    state: StateCode,
    name: Sym,
    worker: Sym,
    queue: Sym,
    routing_key: Sym,
    parent: TaskKey,
    runtime: f64,
    times: task::Times,
    has_eta: bool,
    /// The task started in its current attempt.
    started: bool,
}

impl After {
    fn of(t: &task::Task) -> After {
        After {
            state: t.state,
            name: t.name,
            worker: t.worker,
            queue: t.queue,
            routing_key: t.routing_key,
            parent: t.parent,
            runtime: t.runtime,
            times: t.times,
            has_eta: t.flags & task::flags::HAS_ETA != 0,
            started: t.has_seen(TaskEventKind::Started),
        }
    }

    /// The task's wait in its queue (task-sent to task-started), once an
    /// event of `kind` makes both known: usually at task-started; at
    /// task-sent when that arrives after the start (Celery publishes a
    /// task's message before its task-sent event, so a fast worker can
    /// start it first). Tasks with an ETA wait on purpose and are left
    /// out, as Flower does.
    fn queue_wait(&self, kind: TaskEventKind) -> Option<f64> {
        let known = match kind {
            TaskEventKind::Started => true,
            TaskEventKind::Sent => self.started,
            _ => false,
        };
        let wait = self.times.started - self.times.sent;
        (known && !self.has_eta && wait.is_finite()).then_some(wait)
    }

    fn queue_or_route(&self) -> Sym {
        if self.queue.is_none() {
            self.routing_key
        } else {
            self.queue
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
