//! One task as its events describe it, and how an event folds into it:
//! Celery's own rules (`celery.events.state.Task.event`), so that events
//! arriving out of order, twice, or for a task never seen before leave the
//! same state Celery's `State` (and so Flower) would. Pure.

pub use app::wire::celery::{TaskEventKind, TaskState};

use super::{key::TaskKey, symbols::Sym, text::Text};

/// A task state as the task store keeps it, in one byte: Celery's states
/// are their [`TaskState`] index; custom states (from custom `task-*`
/// events) are interned after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateCode(pub u8);

impl StateCode {
    pub const PENDING: StateCode = StateCode::of(TaskState::Pending);
    pub const RECEIVED: StateCode = StateCode::of(TaskState::Received);
    pub const STARTED: StateCode = StateCode::of(TaskState::Started);
    pub const SUCCESS: StateCode = StateCode::of(TaskState::Success);
    pub const FAILURE: StateCode = StateCode::of(TaskState::Failure);
    pub const RETRY: StateCode = StateCode::of(TaskState::Retry);
    pub const REVOKED: StateCode = StateCode::of(TaskState::Revoked);
    pub const REJECTED: StateCode = StateCode::of(TaskState::Rejected);
    /// The first code for custom states.
    pub const FIRST_CUSTOM: u8 = TaskState::COUNT as u8;
    /// Marks an unused slot in the task store's columns.
    pub const FREE: StateCode = StateCode(255);
    /// Custom states past the table's capacity share this code.
    pub const CUSTOM_OVERFLOW: StateCode = StateCode(254);

    pub const fn of(state: TaskState) -> StateCode {
        StateCode(state as u8)
    }

    /// The Celery state, unless the code is a custom one.
    pub fn builtin(self) -> Option<TaskState> {
        TaskState::ALL.get(usize::from(self.0)).copied()
    }

    pub fn builtin_name(self) -> Option<&'static str> {
        self.builtin().map(TaskState::name)
    }

    pub fn builtin_by_name(name: &str) -> Option<StateCode> {
        TaskState::of_name(name).map(StateCode::of)
    }

    /// Celery's `states.precedence`: position in
    /// `SUCCESS, FAILURE, <custom>, REVOKED, STARTED, RECEIVED, REJECTED, RETRY, PENDING`;
    /// lower comes later in a task's life.
    pub fn precedence(self) -> u8 {
        match self.builtin() {
            Some(TaskState::Success) => 0,
            Some(TaskState::Failure) => 1,
            None => 2,
            Some(TaskState::Revoked) => 3,
            Some(TaskState::Started) => 4,
            Some(TaskState::Received) => 5,
            Some(TaskState::Rejected) => 6,
            Some(TaskState::Retry) => 7,
            Some(TaskState::Pending) => 8,
        }
    }

    /// Finished: nothing more is expected for the task. Evicted first.
    pub fn is_finished(self) -> bool {
        self.builtin().is_some_and(TaskState::is_finished)
    }
}

/// What an update does to a task: a Celery event, or a custom event that
/// puts the task in a state of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Event(TaskEventKind),
    Custom(StateCode),
}

impl Step {
    /// The Celery event, unless the step is a custom one.
    pub fn event(self) -> Option<TaskEventKind> {
        match self {
            Step::Event(kind) => Some(kind),
            Step::Custom(_) => None,
        }
    }

    /// The state the step means (`TASK_EVENT_TO_STATE`).
    fn state(self) -> StateCode {
        match self {
            Step::Event(kind) => StateCode::of(kind.state()),
            Step::Custom(state) => state,
        }
    }

    /// Its bit in [`Task::seen`]: one per Celery kind, then one shared by
    /// every custom event.
    fn seen_bit(self) -> u16 {
        let position = match self {
            Step::Event(kind) => kind.index(),
            Step::Custom(_) => TaskEventKind::COUNT,
        };
        1 << position
    }
}

/// "No value" for the float fields.
pub const NO_TIME: f64 = f64::NAN;
/// "No value" for `retries`.
pub const NO_RETRIES: u32 = u32::MAX;
/// Children kept per task; a bigger group keeps its first ones.
pub const MAX_CHILDREN: usize = 10_000;

pub mod flags {
    pub const TERMINATED: u8 = 1;
    pub const EXPIRED: u8 = 2;
    pub const REQUEUE: u8 = 4;
    /// An ETA or countdown was set: the task waits on purpose.
    pub const HAS_ETA: u8 = 8;
}

/// When each event kind last happened (sender's clock), unix seconds;
/// `NAN` when it has not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Times {
    pub sent: f64,
    pub received: f64,
    pub started: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub retried: f64,
    pub revoked: f64,
    pub rejected: f64,
    /// Of the last event that set the state.
    pub timestamp: f64,
}

impl Default for Times {
    fn default() -> Self {
        Times {
            sent: NO_TIME,
            received: NO_TIME,
            started: NO_TIME,
            succeeded: NO_TIME,
            failed: NO_TIME,
            retried: NO_TIME,
            revoked: NO_TIME,
            rejected: NO_TIME,
            timestamp: NO_TIME,
        }
    }
}

impl Times {
    fn set(&mut self, kind: TaskEventKind, at: f64) {
        let slot = match kind {
            TaskEventKind::Sent => &mut self.sent,
            TaskEventKind::Received => &mut self.received,
            TaskEventKind::Started => &mut self.started,
            TaskEventKind::Succeeded => &mut self.succeeded,
            TaskEventKind::Failed => &mut self.failed,
            TaskEventKind::Retried => &mut self.retried,
            TaskEventKind::Revoked => &mut self.revoked,
            TaskEventKind::Rejected => &mut self.rejected,
        };
        *slot = at;
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub key: TaskKey,
    pub state: StateCode,
    /// `flags::*`.
    pub flags: u8,
    /// Event kinds applied in the current attempt ([`Step::seen_bit`]), to
    /// tell a duplicate delivery from a new event.
    pub seen: u16,
    /// The attempt (`retries`) `seen` is about; `NO_RETRIES` until known.
    pub seen_attempt: u32,
    pub retries: u32,
    pub signum: i16,
    pub name: Sym,
    /// The worker that sent the last worker-side event.
    pub worker: Sym,
    pub queue: Sym,
    pub exchange: Sym,
    pub routing_key: Sym,
    /// Lamport clock of the last event merged.
    pub clock: u64,
    pub times: Times,
    pub runtime: f64,
    pub root: TaskKey,
    pub parent: TaskKey,
    pub children: Option<Box<[TaskKey]>>,
    pub text: Text,
}

impl Task {
    pub fn new(key: TaskKey) -> Task {
        Task {
            key,
            state: StateCode::PENDING,
            flags: 0,
            seen: 0,
            seen_attempt: NO_RETRIES,
            retries: NO_RETRIES,
            signum: i16::MIN,
            name: Sym::NONE,
            worker: Sym::NONE,
            queue: Sym::NONE,
            exchange: Sym::NONE,
            routing_key: Sym::NONE,
            clock: 0,
            times: Times::default(),
            runtime: NO_TIME,
            root: TaskKey::NONE,
            parent: TaskKey::NONE,
            children: None,
            text: Text::default(),
        }
    }

    /// Whether an event of `kind` was applied in the current attempt.
    pub fn has_seen(&self, kind: TaskEventKind) -> bool {
        self.seen & Step::Event(kind).seen_bit() != 0
    }

    /// Adds a child once; at most [`MAX_CHILDREN`].
    pub fn add_child(&mut self, child: TaskKey) -> bool {
        let children = self.children.as_deref().unwrap_or(&[]);
        if children.contains(&child) || children.len() >= MAX_CHILDREN {
            return false;
        }
        let mut v = children.to_vec();
        v.push(child);
        self.children = Some(v.into_boxed_slice());
        true
    }
}

/// One task event, its strings interned by the caller.
#[derive(Clone, Debug)]
pub struct Update<'a> {
    /// A Celery event, or a custom one with its state (`task-progress` →
    /// `PROGRESS`).
    pub step: Step,
    pub timestamp: f64,
    pub clock: u64,
    /// The worker, for worker-side events; `NONE` for `task-sent`.
    pub worker: Sym,
    pub client: Option<&'a str>,
    pub name: Sym,
    pub queue: Sym,
    pub exchange: Sym,
    pub routing_key: Sym,
    pub retries: Option<u32>,
    pub root: Option<(TaskKey, &'a str)>,
    pub parent: Option<(TaskKey, &'a str)>,
    pub args: Option<&'a str>,
    pub kwargs: Option<&'a str>,
    pub eta: Option<&'a str>,
    pub expires: Option<&'a str>,
    pub result: Option<&'a str>,
    pub runtime: Option<f64>,
    pub exception: Option<&'a str>,
    pub traceback: Option<&'a str>,
    pub terminated: Option<bool>,
    pub signum: Option<i32>,
    pub expired: Option<bool>,
    pub requeue: Option<bool>,
}

/// What folding an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Folded {
    pub before: StateCode,
    pub after: StateCode,
    /// The same kind of event was already applied in this attempt (a
    /// duplicate delivery): counters must not count it again.
    pub duplicate: bool,
}

impl Task {
    /// Folds in one event, as `celery.events.state.Task.event` does:
    /// - the event's own time field (`received`, `started`, …) is always set;
    /// - an event whose state comes logically *before* the current one (by
    ///   precedence) does not change the state, and a late `task-received`
    ///   contributes only `name, args, kwargs, parent_id, root_id, retries,
    ///   eta, expires`;
    /// - RETRY always wins, both ways, so retries that reuse the uuid move on.
    ///
    /// One departure: a field the event omits or sends as null never erases
    /// what an earlier event said (Celery would store `None`).
    pub fn fold(&mut self, u: &Update<'_>) -> Folded {
        let before = self.state;
        let bit = u.step.seen_bit();
        // Retries reuse the uuid: events naming another attempt (`task-sent`
        // and `task-received` carry `retries`) start a fresh `seen`.
        if let Some(r) = u.retries
            && self.seen_attempt != r
        {
            if self.seen_attempt != NO_RETRIES {
                self.seen = 0;
            }
            self.seen_attempt = r;
        }
        let duplicate = u.step.event().is_some() && self.seen & bit != 0;
        self.seen |= bit;

        if let Some(kind) = u.step.event() {
            self.times.set(kind, u.timestamp);
        }
        if !u.worker.is_none() {
            self.worker = u.worker;
        }

        let state = u.step.state();
        let happened_before = state != StateCode::RETRY
            && self.state != StateCode::RETRY
            && state.precedence() > self.state.precedence();
        if happened_before {
            if state == StateCode::RECEIVED {
                self.merge_received(u);
            } else {
                self.merge_all(u);
            }
        } else {
            self.merge_all(u);
            self.state = state;
            self.times.timestamp = u.timestamp;
        }
        Folded {
            before,
            after: self.state,
            duplicate,
        }
    }

    /// Celery's merge rule for a late RECEIVED.
    fn merge_received(&mut self, u: &Update<'_>) {
        use super::text::Field;
        if u.eta.is_some() {
            self.flags |= flags::HAS_ETA;
        }
        set_sym(&mut self.name, u.name);
        if let Some(r) = u.retries {
            self.retries = r;
        }
        self.merge_links(u);
        self.text.set_many(&[
            (Field::Args, u.args),
            (Field::Kwargs, u.kwargs),
            (Field::Eta, u.eta),
            (Field::Expires, u.expires),
        ]);
    }

    fn merge_links(&mut self, u: &Update<'_>) {
        use super::text::Field;
        if let Some((key, text)) = u.root {
            self.root = key;
            if !key.is_uuid() {
                self.text.set_many(&[(Field::RootIdText, Some(text))]);
            }
        }
        if let Some((key, text)) = u.parent {
            self.parent = key;
            if !key.is_uuid() {
                self.text.set_many(&[(Field::ParentIdText, Some(text))]);
            }
        }
    }

    fn merge_all(&mut self, u: &Update<'_>) {
        if u.eta.is_some() {
            self.flags |= flags::HAS_ETA;
        }
        use super::text::Field;
        set_sym(&mut self.name, u.name);
        set_sym(&mut self.queue, u.queue);
        set_sym(&mut self.exchange, u.exchange);
        set_sym(&mut self.routing_key, u.routing_key);
        if let Some(r) = u.retries {
            self.retries = r;
        }
        if let Some(r) = u.runtime.filter(|r| r.is_finite()) {
            self.runtime = r;
        }
        self.clock = u.clock;
        self.merge_links(u);
        let flag = |flags: &mut u8, bit: u8, value: Option<bool>| match value {
            Some(true) => *flags |= bit,
            Some(false) => *flags &= !bit,
            None => {}
        };
        flag(&mut self.flags, flags::TERMINATED, u.terminated);
        flag(&mut self.flags, flags::EXPIRED, u.expired);
        flag(&mut self.flags, flags::REQUEUE, u.requeue);
        if let Some(s) = u.signum {
            self.signum = i16::try_from(s).unwrap_or(i16::MIN);
        }
        self.text.set_many(&[
            (Field::Args, u.args),
            (Field::Kwargs, u.kwargs),
            (Field::Eta, u.eta),
            (Field::Expires, u.expires),
            (Field::Result, u.result),
            (Field::Exception, u.exception),
            (Field::Traceback, u.traceback),
            (Field::Client, u.client),
        ]);
    }
}

fn set_sym(slot: &mut Sym, value: Sym) {
    if !value.is_none() {
        *slot = value;
    }
}
