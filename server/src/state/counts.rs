//! What the model counts besides tasks: events by type, and per task type
//! its retained tasks by state, its outcomes, its runtimes and its last
//! failure, with the per-type summary the API and the Graphs page show.

use std::collections::BTreeMap;

use app::wire::celery::{TaskEventKind, TaskState, WorkerEventKind};

use super::{
    Model,
    key::TaskKey,
    stats::{LogHistogram, OUTCOMES},
    symbols::Sym,
    task::StateCode,
};
use crate::broker::events::Event;

/// Counts of what arrived on the event channels.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Events decoded, of each Celery task event kind and worker event
    /// kind: arrays, because a map lookup per event is a measurable share
    /// of ingestion under a heavy stream.
    pub(super) task_types: [u64; TaskEventKind::COUNT],
    pub(super) worker_types: [u64; WorkerEventKind::COUNT],
    /// Events decoded, of any other type.
    pub(super) other_types: BTreeMap<String, u64>,
    /// Payloads or events that could not be decoded at all.
    pub undecodable: u64,
    /// Task events that repeated one already applied (redeliveries).
    pub duplicates: u64,
}

impl Counters {
    /// Events decoded, by type.
    pub fn events_by_type(&self) -> BTreeMap<String, u64> {
        let tasks = TaskEventKind::ALL
            .iter()
            .map(|k| (k.type_name(), self.task_types[k.index()]));
        let workers = WorkerEventKind::ALL
            .iter()
            .map(|k| (k.type_name(), self.worker_types[k.index()]));
        let known = tasks
            .chain(workers)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (name.to_string(), n));
        let mut all = self.other_types.clone();
        all.extend(known);
        all
    }

    pub(super) fn count(&mut self, event: &Event<'_>) {
        match event {
            Event::Task(t) => {
                if let Some(kind) = t.kind.celery() {
                    self.task_types[kind.index()] += 1;
                    return;
                }
            }
            Event::Worker(w) => {
                self.worker_types[w.kind.index()] += 1;
                return;
            }
            Event::Other { .. } => {}
        }
        let name = event.type_name();
        match self.other_types.get_mut(name.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.other_types.insert(name.into_owned(), 1);
            }
        }
    }
}

/// Per task type: what its retained tasks are doing, what all of its tasks
/// ever did, and how long they ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypeStats {
    /// Retained tasks by state: Celery's states by [`TaskState`] index,
    /// then one entry ([`CUSTOM_SLOT`]) shared by every custom state.
    pub retained: [u64; RETAINED_SLOTS],
    /// Every task of the type seen since start, by outcome.
    pub outcomes: [u64; OUTCOMES],
    pub runtime: LogHistogram,
    /// The last task of the type that failed.
    pub last_failure: Option<TaskKey>,
}

/// Entries of [`TypeStats::retained`].
pub const RETAINED_SLOTS: usize = TaskState::COUNT + 1;
/// The entry of every custom state.
pub const CUSTOM_SLOT: usize = TaskState::COUNT;

impl TypeStats {
    pub(super) fn retained_slot(state: StateCode) -> usize {
        state.builtin().map_or(CUSTOM_SLOT, TaskState::index)
    }

    /// The state name of a [`TypeStats::retained`] entry.
    pub fn retained_name(slot: usize) -> &'static str {
        TaskState::ALL.get(slot).map_or("CUSTOM", |s| s.name())
    }
}

/// What the per-type table shows of one task type.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeSummary {
    pub name: String,
    /// Retained tasks by state name (only states with tasks).
    pub states: Vec<(String, u64)>,
    /// Every task of the type seen since start, by [`TaskEventKind`].
    pub totals: [u64; OUTCOMES],
    /// succeeded / (succeeded + failed), over every task seen.
    pub success_rate: Option<f64>,
    pub runtime_count: u64,
    pub runtime_mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub last_failure: Option<String>,
}

impl Model {
    /// Every task type's counts, success rate, runtimes and last failure,
    /// by name.
    pub fn type_summaries(&self) -> Vec<TypeSummary> {
        let mut rows: Vec<TypeSummary> = self
            .types
            .iter()
            .filter(|(sym, _)| !sym.is_none())
            .map(|(sym, t)| {
                let states = t
                    .retained
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(slot, n)| (TypeStats::retained_name(slot).to_string(), *n))
                    .collect();
                let (ok, bad) = (
                    t.outcomes[TaskEventKind::Succeeded.index()],
                    t.outcomes[TaskEventKind::Failed.index()],
                );
                TypeSummary {
                    name: self.symbols.text(*sym).to_string(),
                    states,
                    totals: t.outcomes,
                    success_rate: (ok + bad > 0).then(|| ok as f64 / (ok + bad) as f64),
                    runtime_count: t.runtime.count(),
                    runtime_mean: t.runtime.mean(),
                    p50: t.runtime.quantile(0.5),
                    p95: t.runtime.quantile(0.95),
                    p99: t.runtime.quantile(0.99),
                    last_failure: t
                        .last_failure
                        .and_then(|k| self.id_text(k).or_else(|| k.uuid_text())),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    pub(super) fn type_stats(&mut self, name: Sym) -> &mut TypeStats {
        self.types.entry(name).or_default()
    }
}
