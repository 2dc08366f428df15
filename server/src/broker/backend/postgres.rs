//! Reads a SQL result backend's table in PostgreSQL (tokio-postgres, no
//! TLS): one connection, opened at the first read and again after a
//! failure, its driver task owned by the connection (aborted with it).
//! Rows are read by id in batches (`task_id = ANY($1)`), every read within
//! [`DATABASE_TIMEOUT`](super::DATABASE_TIMEOUT).

use tokio::{sync::Mutex, task::JoinHandle};
use tokio_postgres::{Client, NoTls, error::SqlState};

use super::{
    BATCH, BackendError, DATABASE_TIMEOUT, Meta,
    sql::{Row, Store},
};

/// An open connection and the task that drives it.
struct Link {
    client: Client,
    driver: JoinHandle<()>,
    /// Whether `celery_taskmeta` has the `result_extended` columns, once
    /// the table has been seen.
    extended: Option<bool>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

pub struct Postgres {
    config: tokio_postgres::Config,
    store: Store,
    /// One read at a time; reads are rare (reconciliation, a retry, a
    /// result asked for).
    link: Mutex<Option<Link>>,
}

impl Postgres {
    pub fn new(config: tokio_postgres::Config, store: Store) -> Postgres {
        Postgres {
            config,
            store,
            link: Mutex::new(None),
        }
    }

    /// The rows of `ids` that exist; none while the table does not exist
    /// yet (Celery makes it at its first write).
    pub async fn fetch(&self, ids: &[String]) -> Result<Vec<(String, Meta)>, BackendError> {
        let mut slot = self.link.lock().await;
        let read = tokio::time::timeout(DATABASE_TIMEOUT, self.read(&mut slot, ids)).await;
        let outcome = match read {
            Ok(outcome) => outcome,
            Err(_) => Err(BackendError::Timeout(DATABASE_TIMEOUT)),
        };
        if outcome.is_err() {
            // Whatever failed, the next read starts on a fresh connection.
            *slot = None;
        }
        outcome
    }

    async fn read(
        &self,
        slot: &mut Option<Link>,
        ids: &[String],
    ) -> Result<Vec<(String, Meta)>, BackendError> {
        if slot.as_ref().is_none_or(|l| l.client.is_closed()) {
            *slot = Some(self.connect().await?);
        }
        let Some(link) = slot.as_mut() else {
            return Ok(Vec::new());
        };
        if self.store == Store::Celery && link.extended.is_none() {
            link.extended = extended_columns(&link.client).await?;
            if link.extended.is_none() {
                return Ok(Vec::new());
            }
        }
        let query = match self.store {
            Store::Celery => celery_query(link.extended == Some(true)),
            Store::Django => DJANGO_QUERY.to_string(),
        };
        let statement = match link.client.prepare(&query).await {
            Ok(statement) => statement,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                link.extended = None;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let mut found = Vec::new();
        for chunk in ids.chunks(BATCH) {
            for row in link.client.query(&statement, &[&chunk]).await? {
                let row = self.row(&row)?;
                found.push((row.task_id.clone(), row.decode(self.store)));
            }
        }
        Ok(found)
    }

    async fn connect(&self) -> Result<Link, BackendError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the connection to the result backend's PostgreSQL ended");
            }
        });
        Ok(Link {
            client,
            driver,
            extended: None,
        })
    }

    /// One row of [`celery_query`] or [`DJANGO_QUERY`], in their column
    /// order.
    fn row(&self, row: &tokio_postgres::Row) -> Result<Row, BackendError> {
        Ok(match self.store {
            Store::Celery => Row {
                task_id: row.try_get(0)?,
                status: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
                result: row.try_get(2)?,
                content: None,
                traceback: row.try_get(3)?,
                date_done: row.try_get(4)?,
                name: row.try_get(5)?,
                args: row.try_get(6)?,
                kwargs: row.try_get(7)?,
                worker: row.try_get(8)?,
                retries: row.try_get::<_, Option<i32>>(9)?.map(i64::from),
                queue: row.try_get(10)?,
            },
            Store::Django => {
                let text = |i: usize| -> Result<Option<Vec<u8>>, tokio_postgres::Error> {
                    Ok(row.try_get::<_, Option<String>>(i)?.map(String::into_bytes))
                };
                Row {
                    task_id: row.try_get(0)?,
                    status: row.try_get(1)?,
                    content: Some((row.try_get(2)?, row.try_get(3)?)),
                    result: text(4)?,
                    traceback: row.try_get(5)?,
                    date_done: row.try_get(6)?,
                    name: row.try_get(7)?,
                    args: text(8)?,
                    kwargs: text(9)?,
                    worker: row.try_get(10)?,
                    retries: None,
                    queue: None,
                }
            }
        })
    }
}

/// Whether `celery_taskmeta` has `result_extended`'s columns; `None`
/// while the table does not exist.
async fn extended_columns(client: &Client) -> Result<Option<bool>, BackendError> {
    let rows = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'celery_taskmeta' \
             AND table_schema = ANY (current_schemas(false))",
            &[],
        )
        .await?;
    let columns: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if columns.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        ["name", "args", "kwargs", "worker", "retries", "queue"]
            .iter()
            .all(|c| columns.iter().any(|have| have == c)),
    ))
}

/// Celery's table; the extended columns as NULLs when it has none.
fn celery_query(extended: bool) -> String {
    let columns = if extended {
        "name, args, kwargs, worker, retries, queue"
    } else {
        "NULL::text, NULL::bytea, NULL::bytea, NULL::text, NULL::int4, NULL::text"
    };
    format!(
        "SELECT task_id, status, result, traceback, \
         extract(epoch FROM date_done)::float8, {columns} \
         FROM celery_taskmeta WHERE task_id = ANY ($1)"
    )
}

/// django-celery-results' table. `date_done` is `timestamptz` there (or a
/// UTC `timestamp` without `USE_TZ`): its epoch either way.
const DJANGO_QUERY: &str = "SELECT task_id, status, content_type, content_encoding, result, \
     traceback, extract(epoch FROM date_done)::float8, task_name, task_args, task_kwargs, worker \
     FROM django_celery_results_taskresult WHERE task_id = ANY ($1)";
