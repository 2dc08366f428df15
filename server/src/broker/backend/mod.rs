//! The result backend: where Celery's workers store each task's last
//! state, and, with `result_extended`, its call. celadon reads it to catch
//! up after the event stream was interrupted (`poll::reconcile`: a lost
//! `task-succeeded` does not leave a task "STARTED" forever), for a
//! retry's exact arguments (`control::original`), and for the API's
//! results. IO and pure decoding only.
//!
//! One type, [`ResultBackend`], for every kind celadon reads, so its users
//! do not care which: Redis ([`redis`], `celery-task-meta-<id>`), and the
//! SQL stores ([`sql`]): Celery's database backend and
//! django-celery-results, in PostgreSQL ([`postgres`]) or SQLite
//! ([`sqlite`]). Every kind reads by id, in batches of [`BATCH`], and
//! decodes into one [`Meta`]. A database that cannot be reached is an
//! error of the read, which its caller logs; the next read tries again.

mod postgres;
pub mod redis;
pub mod sql;
mod sqlite;

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use serde_json::{Value, value::RawValue};

use super::{
    conn::LazyConnection,
    dial::Endpoint,
    url::{BrokerUrl, BrokerUrlError},
};
use sql::{Database, SqlUrl, SqlUrlError};

/// Task ids read per query (MGET, `= ANY`, `IN`).
pub const BATCH: usize = 500;

/// How long a database read may take, connecting included, before it
/// fails (and the next one connects afresh).
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the backend says of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub status: String,
    /// What the task returned, or its exception as Celery's dict; `None`
    /// when the backend holds it in a form celadon does not read (a
    /// pickle, compressed bytes).
    pub result: Option<Value>,
    pub traceback: Option<String>,
    /// When it finished (unix seconds); `None` for a state that is not
    /// final.
    pub done_at: Option<f64>,
    pub name: Option<String>,
    pub arguments: StoredArguments,
    pub worker: Option<String>,
    pub retries: Option<u32>,
    pub queue: Option<String>,
}

/// The task's call, as the backend keeps it.
#[derive(Clone, Debug)]
pub enum StoredArguments {
    /// Not kept (no `result_extended`).
    Absent,
    /// The JSON text the backend holds, as Python's json wrote the values
    /// the worker received.
    Json {
        args: Box<RawValue>,
        kwargs: Box<RawValue>,
    },
    /// Celery's `argsrepr` and `kwargsrepr` (django-celery-results keeps
    /// only these): Python reprs, perhaps cut.
    Repr { args: String, kwargs: String },
    /// Kept in a form celadon does not read, and why.
    Unreadable(String),
}

/// By the stored text (`RawValue` has no equality of its own).
impl PartialEq for StoredArguments {
    fn eq(&self, other: &Self) -> bool {
        use StoredArguments::{Absent, Json, Repr, Unreadable};
        match (self, other) {
            (Absent, Absent) => true,
            (Json { args, kwargs }, Json { args: a, kwargs: k }) => {
                args.get() == a.get() && kwargs.get() == k.get()
            }
            (Repr { args, kwargs }, Repr { args: a, kwargs: k }) => args == a && kwargs == k,
            (Unreadable(why), Unreadable(w)) => why == w,
            _ => false,
        }
    }
}

/// Which result backend: its URL, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendUrl {
    Redis(BrokerUrl),
    Sql(SqlUrl),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendUrlError {
    #[error("{0}; or a database result backend: {forms}", forms = sql::SQL_FORMS)]
    Redis(#[from] BrokerUrlError),
    #[error(transparent)]
    Sql(#[from] SqlUrlError),
}

impl BackendUrl {
    pub fn parse(text: &str) -> Result<BackendUrl, BackendUrlError> {
        if SqlUrl::claims(text) {
            Ok(BackendUrl::Sql(SqlUrl::parse(text)?))
        } else {
            Ok(BackendUrl::Redis(BrokerUrl::parse(text)?))
        }
    }

    /// The URL with passwords masked.
    pub fn masked(&self) -> String {
        match self {
            BackendUrl::Redis(url) => url.masked(),
            BackendUrl::Sql(url) => url.masked().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("SQLite ({}): {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the read was cut short: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// What celadon does only with a Redis result backend.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The result backend celadon reads.
pub enum ResultBackend {
    Redis {
        conn: LazyConnection,
        /// The backend's `global_keyprefix`.
        prefix: String,
    },
    Postgres(Box<postgres::Postgres>),
    Sqlite(sqlite::Sqlite),
}

impl fmt::Debug for ResultBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultBackend::Redis { .. } => "ResultBackend::Redis",
            ResultBackend::Postgres(_) => "ResultBackend::Postgres",
            ResultBackend::Sqlite(_) => "ResultBackend::Sqlite",
        })
    }
}

impl ResultBackend {
    /// A Redis backend through `endpoint`, its keys under `prefix`.
    pub fn redis(endpoint: Arc<Endpoint>, prefix: String) -> ResultBackend {
        ResultBackend::Redis {
            conn: LazyConnection::new(endpoint),
            prefix,
        }
    }

    /// A SQL backend; nothing is opened until the first read.
    pub fn sql(url: &SqlUrl) -> ResultBackend {
        match &url.database {
            Database::Postgres(config) => ResultBackend::Postgres(Box::new(
                postgres::Postgres::new((**config).clone(), url.store),
            )),
            Database::Sqlite(path) => {
                ResultBackend::Sqlite(sqlite::Sqlite::new(path.clone(), url.store))
            }
        }
    }

    /// The backend's state of `ids`; tasks it has no record of (PENDING,
    /// or expired) are left out.
    pub async fn fetch(&self, ids: &[String]) -> Result<Vec<(String, Meta)>, BackendError> {
        match self {
            ResultBackend::Redis { conn, prefix } => Ok(conn
                .run(async |c| redis::fetch(c, prefix, ids).await)
                .await?),
            ResultBackend::Postgres(db) => db.fetch(ids).await,
            ResultBackend::Sqlite(db) => db.fetch(ids).await,
        }
    }

    /// The backend's state of task `id`: `None` when it has none yet.
    pub async fn get(&self, id: &str) -> Result<Option<Meta>, BackendError> {
        let found = self.fetch(&[id.to_string()]).await?;
        Ok(found.into_iter().next().map(|(_, meta)| meta))
    }

    /// Marks task `id` ABORTED, as Celery's `AbortableAsyncResult.abort()`
    /// does. Only in Redis: celadon does not write to a database the
    /// application owns.
    pub async fn abort(&self, id: &str) -> Result<(), BackendError> {
        match self {
            ResultBackend::Redis { conn, prefix } => {
                let value = redis::aborted_meta(id);
                Ok(conn
                    .run(async |c| redis::store(c, prefix, id, &value).await)
                    .await?)
            }
            ResultBackend::Postgres(_) | ResultBackend::Sqlite(_) => {
                Err(BackendError::Unsupported(
                    "celadon aborts tasks through a Redis result backend only: it does not \
                     write to a database result backend",
                ))
            }
        }
    }
}
