//! The trail in the history's SQLite file (the `audit` table, created by
//! the store's schema version 2). Appends use a connection of their own
//! beside the store's writer: `BEGIN IMMEDIATE` takes the file's write
//! lock before the last entry is read, so no other writer can slip an
//! entry in between, and a busy timeout waits out a batch of tasks.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter,
    types::{Value, ValueRef},
};

use super::RawEntry;
use crate::{
    audit::{
        Entry, NewEntry, Query,
        chain::{self, Broken, GENESIS, Verifier},
    },
    store::{SCHEMA_VERSION, StoreError, open_beside},
};

/// How long an append waits for the store's writer to finish a batch
/// (or a reader to let go) before it fails and is tried again.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const COLUMNS: &str = "seq, at, who, role, via, client, action, target, params, status, \
                       result, detail, prev_hash, hash";

/// The appending connection. A mutex so the blocking pool can borrow it;
/// only the recorder's task ever takes it.
pub struct SqliteTrail {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteTrail {
    /// Opens the file the store has opened (and so brought to this
    /// schema) for appending. Blocking.
    pub fn open(path: &Path) -> Result<SqliteTrail, StoreError> {
        let conn = open_beside(path, BUSY_TIMEOUT)?;
        Ok(SqliteTrail {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    pub fn reader(&self) -> SqliteReader {
        SqliteReader::new(self.path.clone())
    }

    pub async fn append(
        &mut self,
        entries: Vec<(NewEntry, i64)>,
    ) -> Result<Vec<Entry>, StoreError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| StoreError::Stopped)?;
            append(&mut conn, entries).map_err(|e| StoreError::at(&path, e))
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }
}

fn append(conn: &mut Connection, entries: Vec<(NewEntry, i64)>) -> rusqlite::Result<Vec<Entry>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev) = last
        .map(|(s, h)| (u64::try_from(s).unwrap_or(0), h))
        .unwrap_or((0, GENESIS.to_string()));
    let mut sealed = Vec::with_capacity(entries.len());
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
             ?12, ?13, ?14)"
        ))?;
        for (entry, at) in entries {
            seq += 1;
            let e = chain::seal(entry, seq, at, &prev);
            insert.execute(rusqlite::params![
                i64::try_from(e.seq).unwrap_or(i64::MAX),
                e.at,
                e.who,
                e.role.map(|r| r.as_str()),
                e.via,
                e.client,
                e.action,
                e.target,
                e.params,
                e.outcome.status,
                e.outcome.result.as_str(),
                e.outcome.detail,
                e.prev_hash,
                e.hash,
            ])?;
            prev = e.hash.clone();
            sealed.push(e);
        }
    }
    tx.commit()?;
    Ok(sealed)
}

/// Reads the trail on a read-only connection opened per read (the Audit
/// page and the verifier are rare readers).
#[derive(Clone)]
pub struct SqliteReader {
    path: PathBuf,
}

impl SqliteReader {
    pub fn new(path: PathBuf) -> SqliteReader {
        SqliteReader { path }
    }

    /// A read-only connection, and whether the file has a trail yet (a
    /// version 1 file has none; a newer one is refused).
    fn open(path: &Path) -> Result<(Connection, bool), StoreError> {
        let fail = |e| StoreError::at(path, e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                location: path.display().to_string(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            return Err(StoreError::Foreign(path.display().to_string()));
        }
        Ok((conn, version >= 2))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&path))
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    pub async fn page(&self, q: Query) -> Result<Vec<Entry>, StoreError> {
        self.blocking(move |path| {
            let (conn, has_trail) = Self::open(path)?;
            if !has_trail {
                return Ok(Vec::new());
            }
            page(&conn, &q).map_err(|e| StoreError::at(path, e))
        })
        .await
    }

    pub async fn verify(&self) -> Result<(u64, Option<Broken>), StoreError> {
        self.blocking(move |path| {
            let (conn, has_trail) = Self::open(path)?;
            let mut v = Verifier::default();
            if has_trail {
                let fail = |e| StoreError::at(path, e);
                let mut stmt = conn
                    .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
                    .map_err(fail)?;
                let mut rows = stmt.query([]).map_err(fail)?;
                while let Some(row) = rows.next().map_err(fail)? {
                    v.feed(&read(row).into_entry());
                }
            }
            Ok(v.finish())
        })
        .await
    }
}

fn page(conn: &Connection, q: &Query) -> rusqlite::Result<Vec<Entry>> {
    let mut wheres = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(who) = &q.who {
        wheres.push(format!("who = {}", arg(Value::Text(who.clone()))));
    }
    if let Some(action) = &q.action {
        let a = arg(Value::Text(action.clone()));
        let under = arg(Value::Text(format!("{action}.")));
        wheres.push(format!(
            "(action = {a} OR substr(action, 1, length({under})) = {under})"
        ));
    }
    if let Some(target) = &q.target {
        wheres.push(format!("target = {}", arg(Value::Text(target.clone()))));
    }
    if let Some(since) = q.since {
        wheres.push(format!("at >= {}", arg(Value::Integer(since))));
    }
    if let Some(until) = q.until {
        wheres.push(format!("at <= {}", arg(Value::Integer(until))));
    }
    if let Some(before) = q.before {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        wheres.push(format!("seq < {}", arg(Value::Integer(before))));
    }
    let limit = arg(Value::Integer(i64::try_from(q.limit).unwrap_or(i64::MAX)));
    let offset = arg(Value::Integer(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    let filter = match wheres.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", wheres.join(" AND ")),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit {filter} ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok(read(r).into_entry()))?;
    rows.collect()
}

/// A row as it is, whatever its columns now hold.
fn read(r: &rusqlite::Row<'_>) -> RawEntry {
    let text = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Text(t)) => Some(String::from_utf8_lossy(t).into_owned()),
        Ok(ValueRef::Integer(n)) => Some(n.to_string()),
        Ok(ValueRef::Real(f)) => Some(f.to_string()),
        Ok(ValueRef::Blob(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Ok(ValueRef::Null) | Err(_) => None,
    };
    // A number stored as anything else reads as -1, which no entry has.
    let int = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Integer(n)) => n,
        _ => -1,
    };
    RawEntry {
        seq: int(0),
        at: int(1),
        who: text(2).unwrap_or_default(),
        role: text(3),
        via: text(4).unwrap_or_default(),
        client: text(5).unwrap_or_default(),
        action: text(6).unwrap_or_default(),
        target: text(7),
        params: text(8).unwrap_or_default(),
        status: int(9),
        result: text(10).unwrap_or_default(),
        detail: text(11).unwrap_or_default(),
        prev_hash: text(12).unwrap_or_default(),
        hash: text(13).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{BreakKind, tests::new_entry};
    use crate::store::AUDIT_SCHEMA;

    async fn appended(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(crate::store::sqlite_for_tests(&path));
        let mut trail = SqliteTrail::open(&path).unwrap();
        for i in 0..n {
            let at = 1_700_000_000_000 + i as i64;
            trail
                .append(vec![(new_entry("task.revoke"), at)])
                .await
                .unwrap();
        }
        (dir, path)
    }

    #[tokio::test]
    async fn a_deleted_or_altered_row_is_found_with_its_seq() {
        let (_dir, path) = appended(5).await;
        let reader = SqliteReader::new(path.clone());
        assert_eq!(reader.verify().await.unwrap(), (5, None));
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE audit SET who = 'mallory' WHERE seq = 4", [])
            .unwrap();
        let (_, broken) = reader.verify().await.unwrap();
        assert_eq!(
            broken.map(|b| (b.seq, b.kind)),
            Some((4, BreakKind::Altered))
        );
        conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        let (entries, broken) = reader.verify().await.unwrap();
        assert_eq!(entries, 4);
        assert_eq!(
            broken.map(|b| (b.seq, b.kind)),
            Some((2, BreakKind::Missing))
        );
    }

    #[tokio::test]
    async fn a_value_celadon_never_writes_reads_as_altered() {
        let (_dir, path) = appended(2).await;
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE audit SET role = 'root', status = 'x' WHERE seq = 1",
            [],
        )
        .unwrap();
        let (_, broken) = SqliteReader::new(path).verify().await.unwrap();
        assert_eq!(
            broken.map(|b| (b.seq, b.kind)),
            Some((1, BreakKind::Altered))
        );
    }

    #[test]
    fn a_version_1_history_gains_the_trail_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        drop(crate::store::sqlite_for_tests(&path));
        let conn = Connection::open(&path).unwrap();
        // A version 1 file had neither the trail nor the alerts' tables
        // (schema 3).
        conn.execute_batch(
            "DROP TABLE audit; DROP TABLE alert_history; DROP TABLE alert_rules; \
             DROP TABLE alert_webhooks; PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);
        assert!(
            SqliteTrail::open(&path).is_err(),
            "a version 1 file has no trail"
        );
        drop(crate::store::sqlite_for_tests(&path));
        assert!(SqliteTrail::open(&path).is_ok());
        assert!(AUDIT_SCHEMA.contains("CREATE TABLE audit"));
    }
}
