//! Reads a SQL result backend's table in a SQLite file (rusqlite, on the
//! blocking pool): the file opened read-only for each read, which is
//! cheap, holds no lock between reads and follows a file the workers
//! replace. Rows are read by id in batches (`task_id IN (?, …)`); a
//! database the workers are writing is waited for up to
//! [`DATABASE_TIMEOUT`](super::DATABASE_TIMEOUT).

use std::path::{Path, PathBuf};

use rusqlite::{OpenFlags, types::ValueRef};

use super::{
    BATCH, BackendError, DATABASE_TIMEOUT, Meta,
    sql::{Row, Store, sqlite_time},
};

pub struct Sqlite {
    path: PathBuf,
    store: Store,
}

impl Sqlite {
    pub fn new(path: PathBuf, store: Store) -> Sqlite {
        Sqlite { path, store }
    }

    /// The rows of `ids` that exist; none while the table does not exist
    /// yet (Celery makes it at its first write).
    pub async fn fetch(&self, ids: &[String]) -> Result<Vec<(String, Meta)>, BackendError> {
        let (path, store, ids) = (self.path.clone(), self.store, ids.to_vec());
        // Awaited at once: the blocking task is owned by this read.
        tokio::task::spawn_blocking(move || read(&path, store, &ids))
            .await?
            .map_err(|source| BackendError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }
}

fn read(path: &Path, store: Store, ids: &[String]) -> rusqlite::Result<Vec<(String, Meta)>> {
    let db = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.busy_timeout(DATABASE_TIMEOUT)?;
    let table = store.table();
    let columns = db
        .prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let has = |c: &str| columns.iter().any(|have| have == c);
    let select = match store {
        Store::Celery => {
            let extended = ["name", "args", "kwargs", "worker", "retries", "queue"]
                .iter()
                .all(|c| has(c));
            let extra = if extended {
                "name, args, kwargs, worker, retries, queue"
            } else {
                "NULL, NULL, NULL, NULL, NULL, NULL"
            };
            format!("task_id, status, NULL, NULL, result, traceback, date_done, {extra}")
        }
        Store::Django => "task_id, status, content_type, content_encoding, result, traceback, \
                          date_done, task_name, task_args, task_kwargs, worker, NULL, NULL"
            .to_string(),
    };
    let mut found = Vec::new();
    for chunk in ids.chunks(BATCH) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut statement = db.prepare(&format!(
            "SELECT {select} FROM {table} WHERE task_id IN ({marks})"
        ))?;
        let rows = statement.query_map(rusqlite::params_from_iter(chunk), |r| {
            let content = match (text(r, 2)?, text(r, 3)?) {
                (Some(t), Some(e)) => Some((t, e)),
                _ => None,
            };
            Ok(Row {
                task_id: text(r, 0)?.unwrap_or_default(),
                status: text(r, 1)?.unwrap_or_default(),
                content,
                result: bytes(r, 4)?,
                traceback: text(r, 5)?,
                date_done: text(r, 6)?.as_deref().and_then(sqlite_time),
                name: text(r, 7)?,
                args: bytes(r, 8)?,
                kwargs: bytes(r, 9)?,
                worker: text(r, 10)?,
                retries: r.get(11)?,
                queue: text(r, 12)?,
            })
        })?;
        for row in rows {
            let row = row?;
            found.push((row.task_id.clone(), row.decode(store)));
        }
    }
    Ok(found)
}

/// A column as bytes, whichever of text or blob SQLite holds it as.
fn bytes(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
        ValueRef::Integer(n) => Some(n.to_string().into_bytes()),
        ValueRef::Real(x) => Some(x.to_string().into_bytes()),
    })
}

/// A column as text; bytes that are not UTF-8 are read lossily.
fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(bytes(r, i)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}
