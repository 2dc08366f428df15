//! How the history is doing, for `/api/stats`, `/metrics`, the pages and
//! the log: whether it is being written, how far behind the model it is,
//! how big it is, and the last error.

use std::sync::Mutex;

/// Shared by the writer's thread, the save loop and the handlers that
/// show it. A mutex rather than atomics: the fields change together
/// (an error and whether writing stopped), and each holder only copies
/// or sets a few fields, never waiting on anything while holding it.
#[derive(Debug)]
pub struct Status(Mutex<StatusView>);

/// A copy of the status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusView {
    /// The file or database, as logs name it.
    pub location: String,
    /// Whether this replica writes the history or another one does.
    pub role: Role,
    /// The store opened: history is read and written.
    pub available: bool,
    /// The last write succeeded.
    pub writing: bool,
    /// Why the store is unavailable or the last write failed.
    pub last_error: Option<String>,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Tasks in the store when it opened, plus those written since
    /// (an upper bound: a task written twice counts twice).
    pub rows_written: u64,
    pub batches_written: u64,
    /// Writes that failed (each retried until it succeeds).
    pub write_errors: u64,
    pub tasks_pruned: u64,
    /// Seconds since the oldest change not yet written (0 when none).
    pub lag_seconds: f64,
    /// Rows per second over the last write.
    pub write_rate: f64,
    /// When the last write finished (unix seconds).
    pub last_write_at: Option<f64>,
    /// Changes the model let go unwritten because the store was too far
    /// behind (see `state::rows`).
    pub unsaved_dropped: u64,
    /// Tasks read back at start.
    pub loaded_tasks: u64,
}

/// Which replica writes. SQLite has one process, always the writer; on
/// PostgreSQL the replica holding the writer's lock writes, the others
/// stand by (see `store::postgres`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    Writer,
    Standby,
    /// Not known: the database has not been reached (yet, or again).
    #[default]
    Unknown,
}

impl Role {
    /// As `/api/stats` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Standby => "standby",
            Role::Unknown => "unknown",
        }
    }
}

impl Status {
    pub fn new(location: String) -> Status {
        Status(Mutex::new(StatusView {
            location,
            ..StatusView::default()
        }))
    }

    pub fn get(&self) -> StatusView {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn update(&self, f: impl FnOnce(&mut StatusView)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }
}
