//! The history store: every task the model has seen, with all its fields,
//! and the model's other state (workers, counters, series), kept on disk
//! so a restart, a crash or an OOM loses at most the last
//! `--state-save-interval`. The model stays the live authority; the store
//! follows it in batches written on the store's own thread
//! ([`Writer`]), so ingestion never waits on the disk; pages, the API and
//! exports read past memory through a [`Reader`].
//!
//! IO and the rows' encoding only: the store never names the model.
//! `poll::history` takes what changed from the model and hands it here;
//! `state::rows` turns tasks into [`TaskRow`]s and back.

mod postgres;
pub mod row;
mod sqlite;
mod status;
mod writer;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub use postgres::{
    ALERT_HISTORY_TABLE, ALERT_RULES_TABLE, ALERT_WEBHOOKS_TABLE, AUDIT_TABLE, Link as PgLink,
    PG_SCHEMA_VERSION, PgUrl, PgUrlError,
};
pub use row::TaskRow;
pub use sqlite::{ALERTS_SCHEMA, AUDIT_SCHEMA, SCHEMA_VERSION, open_beside};
pub use status::{Role, Status, StatusView};
pub use writer::{Reader, Writer, WriterThread, open};

/// Where the history is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// One SQLite file (`--db PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`--db postgresql://…`), which several
    /// replicas may share: one writes, all read.
    Postgres(PgUrl),
}

impl Location {
    /// How logs and `/api/stats` name it (a password masked).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => url.masked().to_string(),
        }
    }
}

/// `--db`, `--persistent`, `--state-save-interval`, `--history-*`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryConfig {
    pub location: Location,
    /// The longest time between writes: a `kill -9` loses at most this.
    pub save_interval: Duration,
    /// Tasks that last changed longer ago than this are pruned.
    pub retention: Option<Duration>,
    /// Past this many bytes, the oldest tasks are pruned.
    pub max_size: Option<u64>,
}

/// Flower's `--state-save-interval` is 0 ("only at shutdown"); celadon
/// writes at least this often when it is 0 or unset.
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// What went wrong with the history. Logged with its cause and shown in
/// `/api/stats`; never fatal to the live model.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{location}: {source}")]
    Postgres {
        location: String,
        source: tokio_postgres::Error,
    },
    #[error("{location}: no answer within {after:?}")]
    Timeout { location: String, after: Duration },
    #[error(
        "{location} was written by a newer celadon (history schema {found}; this one knows up \
         to {known}); it is left as it is"
    )]
    Newer {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("{0} is a database but not celadon's history; it is left as it is")]
    Foreign(String),
    #[error(
        "{location} holds {tables} but no {version_table}: not a history this celadon can \
         vouch for; it is left as it is"
    )]
    Unversioned {
        location: String,
        tables: String,
        version_table: &'static str,
    },
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Another replica holds the writer's lock; this one only reads.
    #[error("another replica writes the history")]
    Standby,
    #[error("the history store has stopped")]
    Stopped,
}

impl StoreError {
    pub(crate) fn at(path: &Path, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the store refused the database as it found it (a newer or
    /// foreign schema): trying again cannot help, a person must look.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::Newer { .. } | StoreError::Foreign(_) | StoreError::Unversioned { .. }
        )
    }
}

/// One write: the tasks changed since the last one, and the model's
/// other state, in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// When it was taken (unix seconds).
    pub at: f64,
    pub tasks: Vec<TaskRow>,
    /// The model's state other than its tasks, encoded by the model.
    pub rest: Option<Vec<u8>>,
}

/// What a start reads back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    /// The newest tasks, newest first.
    pub tasks: Vec<TaskRow>,
    /// Where older tasks continue (the last one's place), if any was read.
    pub next: Option<(f64, i64)>,
    pub rest: Option<Vec<u8>>,
    /// Tasks ever stored, an upper bound (the highest sequence number;
    /// pruned tasks leave gaps).
    pub stored: u64,
}

/// The order of a history page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOrder {
    /// The most recently changed first ([`TaskRow::at`]).
    AtDesc,
    AtAsc,
}

/// A page of history: filters the store can apply, a cursor, a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct PagedQuery {
    /// Any of these states; empty for all.
    pub states: Vec<String>,
    /// The name and worker, compared without case.
    pub name: Option<String>,
    pub worker: Option<String>,
    /// Last changed ([`TaskRow::at`]) in `[from, to]`.
    pub from: Option<f64>,
    pub to: Option<f64>,
    /// Words that must all be words of args or kwargs (the caller checks
    /// the rows against the whole search).
    pub words: Option<String>,
    pub order: TaskOrder,
    /// Continue after this row (its `at` and store sequence).
    pub after: Option<(f64, i64)>,
    pub limit: usize,
}

/// A row of a page, with where the next page continues.
#[derive(Clone, Debug, PartialEq)]
pub struct Paged {
    pub row: TaskRow,
    pub cursor: (f64, i64),
}

/// Opens (creating or migrating) a SQLite history, for other modules'
/// tests.
#[cfg(test)]
pub(crate) fn sqlite_for_tests(path: &Path) -> Result<(), StoreError> {
    sqlite::Sqlite::open(path).map(drop)
}

#[cfg(test)]
mod tests;
