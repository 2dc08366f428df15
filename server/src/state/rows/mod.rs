//! The model's tasks as the history store keeps them ([`TaskRow`]) and
//! back: what changed is taken for writing; at start, the newest stored
//! tasks are put back as they were, so later events fold into them
//! exactly as before the restart. Pure.

use app::wire::rest;

use super::{
    Model, TypeStats,
    key::TaskKey,
    symbols::Sym,
    task::{NO_RETRIES, NO_TIME, StateCode, Task, Times, flags},
    text::Field,
};
use crate::store::row::TaskRow;

/// The text fields a row keeps as columns, in `TaskRow::text`'s order.
const ROW_TEXT: [Field; 8] = [
    Field::Args,
    Field::Kwargs,
    Field::Result,
    Field::Exception,
    Field::Traceback,
    Field::Eta,
    Field::Expires,
    Field::Client,
];

/// What [`Model::restore_older_tasks`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Tasks put back.
    pub put: usize,
    /// The model reached its limits: put back no more.
    pub full: bool,
}

/// What one take hands the history store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unsaved {
    pub tasks: Vec<TaskRow>,
    /// More changed tasks are waiting than this take carried.
    pub more: bool,
    /// Evicted tasks let go unwritten so far (the store was far behind).
    pub dropped: u64,
    /// With the take that leaves nothing unwritten: everything else the
    /// model holds (`state::saved`), written with the tasks.
    pub rest: Option<Vec<u8>>,
}

fn time(t: f64) -> Option<f64> {
    t.is_finite().then_some(t)
}

fn times_of(t: &Times) -> [Option<f64>; 9] {
    [
        t.sent,
        t.received,
        t.started,
        t.succeeded,
        t.failed,
        t.retried,
        t.revoked,
        t.rejected,
        t.timestamp,
    ]
    .map(time)
}

fn times_from(t: &[Option<f64>; 9]) -> Times {
    let at = |i: usize| t[i].unwrap_or(NO_TIME);
    Times {
        sent: at(0),
        received: at(1),
        started: at(2),
        succeeded: at(3),
        failed: at(4),
        retried: at(5),
        revoked: at(6),
        rejected: at(7),
        timestamp: at(8),
    }
}

impl Model {
    /// Starts listing changed tasks for the history store. Tasks put back
    /// with [`Model::restore_tasks`] before this are not listed again.
    pub fn keep_unsaved(&mut self) {
        self.tasks.keep_unsaved();
    }

    /// Takes up to `max` tasks changed since the last take, each in its
    /// latest state, and, when nothing is left after them, the rest of the
    /// model as of `now`. Bounded: `max` rows and one encoding of the
    /// model's other state (its size is bounded by its own limits).
    pub fn take_unsaved(&mut self, max: usize, now: f64) -> Unsaved {
        let taken = self.tasks.take_unsaved(max);
        let retained = taken.slots.iter().filter_map(|s| self.tasks.at(*s));
        let rows = taken
            .evicted
            .iter()
            .chain(retained)
            .map(|t| self.row_of(t))
            .collect();
        Unsaved {
            tasks: rows,
            more: taken.more,
            dropped: self.tasks.unsaved_dropped(),
            rest: (!taken.more).then(|| self.save_besides_tasks(now)),
        }
    }

    /// Puts stored tasks back, oldest first, as they were written. A task
    /// already in the model is left as it is (the model is newer). Counts
    /// by type follow the tasks; the model's limits apply as to any task.
    pub fn restore_tasks(&mut self, rows: impl IntoIterator<Item = TaskRow>) {
        for row in rows {
            let key = TaskKey::of(&row.id);
            if self.tasks.get(key).is_some() {
                continue;
            }
            let task = self.task_of(key, &row);
            let (name, state) = (task.name, task.state);
            self.tasks.upsert(key, |t, _| *t = task);
            self.type_stats(name).retained[TypeStats::retained_slot(state)] += 1;
            let types = &mut self.types;
            self.tasks.evict_over_limits(|t| {
                if let Some(stats) = types.get_mut(&t.name) {
                    let slot = TypeStats::retained_slot(t.state);
                    stats.retained[slot] = stats.retained[slot].saturating_sub(1);
                }
            });
        }
        self.task_version += 1;
    }

    /// Puts back stored tasks older than every task the model holds (read
    /// a chunk at a time after the model started, newest first): each is
    /// first in line for eviction and not written again. Tasks the model
    /// already holds keep the model's copy. Stops at the model's limits.
    pub fn restore_older_tasks(&mut self, rows: Vec<TaskRow>) -> Restored {
        let mut put = 0;
        let mut full = false;
        for row in rows {
            if self.tasks.len() >= self.tasks.limits().max_tasks
                || self.tasks.accounted_bytes() >= self.tasks.limits().max_bytes
            {
                full = true;
                break;
            }
            let key = TaskKey::of(&row.id);
            if self.tasks.get(key).is_some() {
                continue;
            }
            let task = self.task_of(key, &row);
            let (name, state) = (task.name, task.state);
            if self.tasks.place_older(task) {
                self.type_stats(name).retained[TypeStats::retained_slot(state)] += 1;
                put += 1;
            }
        }
        self.task_version += 1;
        Restored { put, full }
    }

    fn task_of(&mut self, key: TaskKey, row: &TaskRow) -> Task {
        let mut sym = |s: &Option<String>| match s {
            Some(s) => self.symbols.intern(s),
            None => Sym::NONE,
        };
        let name = sym(&row.name);
        let worker = sym(&row.worker);
        let queue = sym(&row.queue);
        let exchange = sym(&row.exchange);
        let routing_key = sym(&row.routing_key);
        let state = self.state_from_name(&row.state);
        let link = |id: &Option<String>| id.as_deref().map(TaskKey::of).unwrap_or(TaskKey::NONE);
        let children: Vec<TaskKey> = row.children.iter().map(|c| TaskKey::of(c)).collect();
        let mut task = Task::new(key);
        task.state = state;
        task.flags = row.flags;
        task.seen = row.seen;
        task.seen_attempt = row.seen_attempt;
        task.retries = row.retries.unwrap_or(NO_RETRIES);
        task.signum = row.signum.unwrap_or(i16::MIN);
        task.name = name;
        task.worker = worker;
        task.queue = queue;
        task.exchange = exchange;
        task.routing_key = routing_key;
        task.clock = row.clock;
        task.times = times_from(&row.times);
        task.runtime = row.runtime.unwrap_or(NO_TIME);
        task.root = link(&row.root_id);
        task.parent = link(&row.parent_id);
        task.children = (!children.is_empty()).then(|| children.into_boxed_slice());
        let mut text: Vec<(Field, Option<&str>)> = ROW_TEXT
            .iter()
            .zip(&row.text)
            .map(|(f, v)| (*f, v.as_deref()))
            .collect();
        // Ids that are not UUIDs keep their text, as when first seen.
        if !key.is_uuid() {
            text.push((Field::IdText, Some(&row.id)));
        }
        if !task.root.is_uuid() {
            text.push((Field::RootIdText, row.root_id.as_deref()));
        }
        if !task.parent.is_uuid() {
            text.push((Field::ParentIdText, row.parent_id.as_deref()));
        }
        task.text.set_many(&text);
        task
    }

    /// A state by name: Celery's, or a custom one (interned as events do).
    fn state_from_name(&mut self, name: &str) -> StateCode {
        StateCode::builtin_by_name(name).unwrap_or_else(|| self.custom_state(name))
    }
}

impl Model {
    /// One task as a row.
    pub(super) fn row_of(&self, t: &Task) -> TaskRow {
        let sym = |s: Sym| (!s.is_none()).then(|| self.symbols.text(s).to_string());
        let link = |key: TaskKey, field: Field| {
            (!key.is_none()).then(|| {
                key.uuid_text()
                    .or_else(|| t.text.get(field).map(str::to_string))
                    .unwrap_or_else(|| format!("{:032x}", key.0))
            })
        };
        TaskRow {
            id: t
                .key
                .uuid_text()
                .or_else(|| t.text.get(Field::IdText).map(str::to_string))
                .unwrap_or_default(),
            state: self.state_name(t.state).to_string(),
            name: sym(t.name),
            worker: sym(t.worker),
            queue: sym(t.queue),
            exchange: sym(t.exchange),
            routing_key: sym(t.routing_key),
            times: times_of(&t.times),
            runtime: time(t.runtime),
            retries: (t.retries != NO_RETRIES).then_some(t.retries),
            clock: t.clock,
            flags: t.flags,
            seen: t.seen,
            seen_attempt: t.seen_attempt,
            signum: (t.signum != i16::MIN).then_some(t.signum),
            root_id: link(t.root, Field::RootIdText),
            parent_id: link(t.parent, Field::ParentIdText),
            children: self.children_text(t),
            text: ROW_TEXT.map(|f| t.text.get(f).map(str::to_string)),
        }
    }
}

/// A stored task as the read API shows it (Flower's `/api/task/info`),
/// for a task no longer in memory. Retry links are the model's and are
/// not known here.
pub fn rest_of_row(row: &TaskRow) -> rest::Task {
    let t = &row.times;
    let text = |i: usize| row.text[i].clone();
    let revoked = t[6].is_some();
    let children = row.children.clone();
    rest::Task {
        uuid: row.id.clone(),
        name: row.name.clone(),
        state: row.state.clone(),
        received: t[1],
        sent: t[0],
        started: t[2],
        rejected: t[7],
        succeeded: t[3],
        failed: t[4],
        retried: t[5],
        revoked: t[6],
        args: text(0),
        kwargs: text(1),
        eta: text(5),
        expires: text(6),
        retries: row.retries,
        worker: row.worker.clone(),
        result: text(2),
        exception: text(3),
        timestamp: t[8],
        runtime: row.runtime,
        traceback: text(4),
        exchange: row.exchange.clone(),
        routing_key: row.routing_key.clone(),
        clock: row.clock,
        client: text(7),
        root_id: row.root_id.clone(),
        root: row.root_id.clone(),
        parent_id: row.parent_id.clone(),
        parent: row.parent_id.clone(),
        children,
        queue: row.queue.clone(),
        terminated: revoked.then_some(row.flags & flags::TERMINATED != 0),
        signum: row.signum.map(i32::from),
        expired: revoked.then_some(row.flags & flags::EXPIRED != 0),
        retry_of: None,
        retried_as: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
