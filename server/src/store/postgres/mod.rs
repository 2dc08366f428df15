//! The history in PostgreSQL (tokio-postgres, no TLS), shared by several
//! replicas: each ingests events and reads every page from the database;
//! exactly one writes. The writer is whichever replica holds a
//! session-level advisory lock ([`WRITER_LOCK`]) on the connection it
//! writes on; the others poll for it and take over when its session ends
//! (a killed process's socket closes, the server ends the session and
//! drops the lock). Why a lock rather than a lease row: ARCHITECTURE.md.
//!
//! [`Link`] is one connection and the operations on it; `writer` runs the
//! writer's task (connects, migrates, competes for the lock, writes) and
//! the readers' pool; `schema` the tables and their versions; `rows` the
//! rows' encoding and a page's SQL; `url` the `--db` URL.

mod rows;
mod schema;
mod url;
mod writer;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, Statement};

pub use schema::{
    ALERT_HISTORY_TABLE, ALERT_RULES_TABLE, ALERT_WEBHOOKS_TABLE, AUDIT_TABLE, PG_SCHEMA_VERSION,
};
pub use url::{PgUrl, PgUrlError};
pub use writer::{PgReader, open};

use super::{Batch, Loaded, Paged, PagedQuery, StoreError, TaskOrder, TaskRow};
use schema::{Found, MODEL_TABLE, TASKS_TABLE, VERSION_TABLE};

/// The advisory lock the writing replica holds for as long as its
/// session lives ("celadon" and 1).
pub const WRITER_LOCK: i64 = 0x6365_6c61_646f_6e01;

/// A writer's session idle (or idle in a transaction) this long is ended
/// by the server, which drops its lock: a writer whose machine vanished
/// without closing its socket, or whose process is stopped, is replaced
/// within this and a standby's poll. The writer touches its session more
/// often than this (`writer::PING`). PostgreSQL 14 and later.
const WRITER_IDLE_LIMIT: Duration = Duration::from_secs(8);

/// One connection, and the task that drives it (owned: aborted with it).
pub struct Link {
    client: Client,
    driver: JoinHandle<()>,
    location: String,
    /// The batch upsert, prepared at the first write on this session.
    upsert: Option<Statement>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Link {
    /// Connects (within the URL's connect timeout).
    pub async fn connect(url: &PgUrl) -> Result<Link, StoreError> {
        let location = url.masked().to_string();
        let (client, connection) =
            url.config()
                .connect(NoTls)
                .await
                .map_err(|source| StoreError::Postgres {
                    location: location.clone(),
                    source,
                })?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection to the history's PostgreSQL ended");
            }
        });
        Ok(Link {
            client,
            driver,
            location,
            upsert: None,
        })
    }

    fn fail(&self) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        |source| StoreError::Postgres {
            location: self.location.clone(),
            source,
        }
    }

    /// The connection itself, for the audit trail's own statements
    /// (`audit::trail`), which keep to its table.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The database, its password masked.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the connection has ended (the server went, or ended it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Brings the schema to this build's version, or refuses the database.
    pub async fn migrate(&mut self) -> Result<(), StoreError> {
        let found =
            schema::migrate(&mut self.client)
                .await
                .map_err(|source| StoreError::Postgres {
                    location: self.location.clone(),
                    source,
                })?;
        match found {
            Found::Ready { from } => {
                if from < PG_SCHEMA_VERSION {
                    tracing::info!(
                        location = %self.location,
                        from,
                        to = PG_SCHEMA_VERSION,
                        "history schema migrated"
                    );
                }
                Ok(())
            }
            Found::Newer(found) => Err(StoreError::Newer {
                location: self.location.clone(),
                found,
                known: PG_SCHEMA_VERSION,
            }),
            Found::Unversioned(tables) => Err(StoreError::Unversioned {
                location: self.location.clone(),
                tables: tables.join(", "),
                version_table: VERSION_TABLE,
            }),
        }
    }

    /// Makes this session end on the server when it idles too long (see
    /// [`WRITER_IDLE_LIMIT`]); a server too old for it is left as it is.
    pub async fn limit_idle(&self) {
        let ms = WRITER_IDLE_LIMIT.as_millis();
        let set = format!(
            "SET idle_session_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}"
        );
        if let Err(error) = self.client.batch_execute(&set).await {
            tracing::debug!(%error, "the history's PostgreSQL keeps idle sessions");
        }
    }

    /// Takes the writer's lock if no session holds it.
    pub async fn try_lock(&self) -> Result<bool, StoreError> {
        let row = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
            .await
            .map_err(self.fail())?;
        Ok(row.get(0))
    }

    /// A round trip: the session still lives.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .batch_execute("SELECT 1")
            .await
            .map_err(self.fail())
    }

    /// Writes a batch in one transaction: every row in one statement, then
    /// the model's other state. All or nothing.
    pub async fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let location = self.location.clone();
        let fail = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        if self.upsert.is_none() {
            let prepared = self
                .client
                .prepare(&rows::upsert_sql())
                .await
                .map_err(fail)?;
            self.upsert = Some(prepared);
        }
        let tx = self.client.transaction().await.map_err(fail)?;
        let columns = rows::Columns::of(&batch.tasks);
        if let Some(upsert) = &self.upsert
            && columns.len() > 0
        {
            tx.execute(upsert, &columns.params()).await.map_err(fail)?;
        }
        if let Some(rest) = &batch.rest {
            tx.execute(
                &format!(
                    "INSERT INTO {MODEL_TABLE} (name, saved_at, data) VALUES ('rest', $1, $2) \
                     ON CONFLICT (name) DO UPDATE SET saved_at = excluded.saved_at, \
                     data = excluded.data"
                ),
                &[&batch.at, rest],
            )
            .await
            .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    /// Deletes up to `limit` of the oldest tasks: those before `before`,
    /// or (with `over` set) the oldest whatever their age.
    pub async fn prune(
        &self,
        before: Option<f64>,
        over: bool,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let n = if over {
            self.client
                .execute(
                    &format!(
                        "DELETE FROM {TASKS_TABLE} WHERE seq IN \
                         (SELECT seq FROM {TASKS_TABLE} ORDER BY at, seq LIMIT $1)"
                    ),
                    &[&limit],
                )
                .await
        } else if let Some(before) = before {
            self.client
                .execute(
                    &format!(
                        "DELETE FROM {TASKS_TABLE} WHERE seq IN \
                         (SELECT seq FROM {TASKS_TABLE} WHERE at < $1 ORDER BY at, seq LIMIT $2)"
                    ),
                    &[&before, &limit],
                )
                .await
        } else {
            Ok(0)
        };
        n.map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .map_err(self.fail())
    }

    /// Bytes our tables take, indexes and TOAST included.
    pub async fn size(&self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT (pg_total_relation_size('{TASKS_TABLE}') \
                     + pg_total_relation_size('{MODEL_TABLE}') \
                     + pg_total_relation_size('{VERSION_TABLE}'))::bigint"
                ),
                &[],
            )
            .await
            .map_err(self.fail())?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// The newest `limit` tasks (newest first), where older ones continue,
    /// and the model's other state.
    pub async fn load(&self, limit: usize) -> Result<Loaded, StoreError> {
        let fail = self.fail();
        let page = self
            .page(&PagedQuery {
                states: Vec::new(),
                name: None,
                worker: None,
                from: None,
                to: None,
                words: None,
                order: TaskOrder::AtDesc,
                after: None,
                limit,
            })
            .await?;
        let next = page.last().map(|p| p.cursor);
        let tasks = page.into_iter().map(|p| p.row).collect();
        let rest = self
            .client
            .query_opt(
                &format!("SELECT data FROM {MODEL_TABLE} WHERE name = 'rest'"),
                &[],
            )
            .await
            .map_err(&fail)?
            .map(|r| r.get::<_, Vec<u8>>(0));
        // The highest sequence number: one index read, where a count scans.
        let stored: Option<i64> = self
            .client
            .query_one(&format!("SELECT max(seq) FROM {TASKS_TABLE}"), &[])
            .await
            .map_err(&fail)?
            .get(0);
        Ok(Loaded {
            tasks,
            next,
            rest,
            stored: stored.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        })
    }

    /// One task by its id.
    pub async fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let fail = self.fail();
        let sql = format!(
            "SELECT {} FROM {TASKS_TABLE} WHERE id = $1",
            rows::select_columns()
        );
        self.client
            .query_opt(&sql, &[&id])
            .await
            .map_err(&fail)?
            .map(|r| rows::read_row(&r))
            .transpose()
            .map_err(&fail)
    }

    /// A page of tasks matching `query`, in its order, after `query.after`,
    /// as the SQLite store reads it. The text search finds rows holding
    /// every word (a superset of what the caller's check keeps).
    pub async fn page(&self, query: &PagedQuery) -> Result<Vec<Paged>, StoreError> {
        let fail = self.fail();
        let (sql, args) = rows::page_sql(query);
        let params: Vec<_> = args.iter().map(rows::Param::as_sql).collect();
        let width = super::row::row_columns().len();
        self.client
            .query(&sql, &params)
            .await
            .map_err(&fail)?
            .iter()
            .map(|r| {
                Ok(Paged {
                    row: rows::read_row(r)?,
                    cursor: (r.try_get(width)?, r.try_get(width + 1)?),
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(&fail)
    }
}

/// `f` within `after`, or a timeout error.
pub async fn within<T>(
    location: &str,
    after: Duration,
    f: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(after, f).await.unwrap_or_else(|_| {
        Err(StoreError::Timeout {
            location: location.to_string(),
            after,
        })
    })
}
