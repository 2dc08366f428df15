//! What the history store keeps of one task: every field the model holds,
//! owned and spelled as Celery sent it. The model turns its tasks into
//! these (`state::rows`) and back; the store writes and reads them. Pure.

/// The text fields of a task, as columns, in this order.
pub const TEXT_COLUMNS: [&str; 8] = [
    "args",
    "kwargs",
    "result",
    "exception",
    "traceback",
    "eta",
    "expires",
    "client",
];

/// The times of a task, as columns, in this order (unix seconds).
pub const TIME_COLUMNS: [&str; 9] = [
    "sent",
    "received",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
];

/// A task's columns as both stores name them (after their own `seq` and
/// `at`), in [`TaskRow`]'s order.
pub fn row_columns() -> Vec<&'static str> {
    let mut cols = vec![
        "id",
        "state",
        "name",
        "worker",
        "queue",
        "exchange",
        "routing_key",
    ];
    cols.extend(TIME_COLUMNS);
    cols.extend([
        "runtime",
        "retries",
        "clock",
        "flags",
        "seen",
        "seen_attempt",
        "signum",
        "root_id",
        "parent_id",
        "children",
    ]);
    cols.extend(TEXT_COLUMNS);
    cols
}

/// One task, whole.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    /// The task id as Celery spells it.
    pub id: String,
    /// Celery's state name, or a custom one (`PROGRESS`).
    pub state: String,
    pub name: Option<String>,
    pub worker: Option<String>,
    pub queue: Option<String>,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    /// [`TIME_COLUMNS`]: `None` for an event that has not happened.
    pub times: [Option<f64>; 9],
    pub runtime: Option<f64>,
    pub retries: Option<u32>,
    /// The Lamport clock of the last event merged.
    pub clock: u64,
    /// The model's flags (terminated, expired, requeue, ETA) and the
    /// bookkeeping that tells a duplicate event from a new one, so a task
    /// read back folds later events exactly as before.
    pub flags: u8,
    pub seen: u16,
    pub seen_attempt: u32,
    pub signum: Option<i16>,
    pub root_id: Option<String>,
    pub parent_id: Option<String>,
    /// The children's ids, in the order seen.
    pub children: Vec<String>,
    /// [`TEXT_COLUMNS`].
    pub text: [Option<String>; 8],
}

impl TaskRow {
    /// When the task last changed (Flower's `timestamp`, the default order
    /// of its listings), else when it was received or sent: the time the
    /// store orders, ranges and prunes by.
    pub fn at(&self) -> f64 {
        self.times[8]
            .or(self.times[1])
            .or(self.times[0])
            .unwrap_or(0.0)
    }
}
