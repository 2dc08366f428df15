//! The history in one SQLite file (WAL mode): the schema and its version,
//! the batched upserts, the reads back. Why SQLite, and what each index
//! and the full-text table cost per row: ARCHITECTURE.md and
//! `docs/measurements.md`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params_from_iter, types::Value};

use super::{
    Batch, Loaded, Paged, PagedQuery, StoreError, TaskOrder,
    row::{TaskRow, row_columns},
};

/// The schema this build writes and reads. A file with a higher version
/// was written by a newer celadon and is refused, untouched. Version 2
/// added the audit trail ([`AUDIT_SCHEMA`]); a version 1 file gets it at
/// open. Version 3 added the alerts' tables ([`ALERTS_SCHEMA`]); an older
/// file gets them at open.
pub const SCHEMA_VERSION: i64 = 3;

/// SQLite's page cache per connection (negative: KiB).
const CACHE_KIB: i64 = 64 * 1024;

const SCHEMA: &str = "
CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    name TEXT, worker TEXT, queue TEXT, exchange TEXT, routing_key TEXT,
    sent REAL, received REAL, started REAL, succeeded REAL, failed REAL,
    retried REAL, revoked REAL, rejected REAL, timestamp REAL,
    runtime REAL, retries INTEGER, clock INTEGER NOT NULL, flags INTEGER NOT NULL,
    seen INTEGER NOT NULL, seen_attempt INTEGER NOT NULL, signum INTEGER,
    root_id TEXT, parent_id TEXT, children TEXT,
    args TEXT, kwargs TEXT, result TEXT, exception TEXT, traceback TEXT,
    eta TEXT, expires TEXT, client TEXT
);
CREATE INDEX tasks_at ON tasks(at);
CREATE INDEX tasks_state_at ON tasks(state, at);
CREATE INDEX tasks_name_at ON tasks(name COLLATE NOCASE, at);
CREATE INDEX tasks_worker_at ON tasks(worker COLLATE NOCASE, at);
CREATE VIRTUAL TABLE tasks_text USING fts5(
    args, kwargs, content='tasks', content_rowid='seq'
);
CREATE TRIGGER tasks_text_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_text(rowid, args, kwargs) VALUES (new.seq, new.args, new.kwargs);
END;
CREATE TRIGGER tasks_text_update AFTER UPDATE OF args, kwargs ON tasks
WHEN old.args IS NOT new.args OR old.kwargs IS NOT new.kwargs BEGIN
    INSERT INTO tasks_text(tasks_text, rowid, args, kwargs)
        VALUES ('delete', old.seq, old.args, old.kwargs);
    INSERT INTO tasks_text(rowid, args, kwargs) VALUES (new.seq, new.args, new.kwargs);
END;
CREATE TRIGGER tasks_text_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO tasks_text(tasks_text, rowid, args, kwargs)
        VALUES ('delete', old.seq, old.args, old.kwargs);
END;
CREATE TABLE model (
    name TEXT PRIMARY KEY,
    saved_at REAL NOT NULL,
    data BLOB NOT NULL
);
";

/// The audit trail (`audit::trail`): one row per entry, keyed by its
/// place in the chain, never updated, never pruned.
pub const AUDIT_SCHEMA: &str = "
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    who TEXT NOT NULL, role TEXT, via TEXT NOT NULL, client TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT, params TEXT NOT NULL,
    status INTEGER NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
";

/// The alerts (`alerts::trail`): each firing, from start to end; the
/// rules and webhooks added on the Alerts page (a rule as its JSON, the
/// shape the page sends).
pub const ALERTS_SCHEMA: &str = "
CREATE TABLE alert_history (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL, severity TEXT NOT NULL,
    subject_kind TEXT NOT NULL, subject TEXT NOT NULL,
    summary TEXT NOT NULL, link TEXT NOT NULL,
    started REAL NOT NULL, ended REAL
);
CREATE INDEX alert_history_started ON alert_history(started);
CREATE TABLE alert_rules (name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE alert_webhooks (
    name TEXT PRIMARY KEY, url TEXT NOT NULL, format TEXT NOT NULL, secret TEXT,
    updated REAL NOT NULL
);
";

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    upsert: String,
}

impl Sqlite {
    /// Opens the history at `path` for writing, creating it if there is
    /// no file. A file that is not a celadon history (another SQLite
    /// database, a Flower shelve file, a damaged one) or was written by a
    /// newer schema is refused and left as it is.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let fail = |e: rusqlite::Error| StoreError::at(path, e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        // The first read of the header: a file that is not SQLite fails here.
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
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(fail)?;
            if tables > 0 {
                return Err(StoreError::Foreign(path.display().to_string()));
            }
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(fail)?;
        // Each version's additions, applied in order to an older file.
        let missing = match version {
            0 => Some(format!("{SCHEMA} {AUDIT_SCHEMA} {ALERTS_SCHEMA}")),
            1 => Some(format!("{AUDIT_SCHEMA} {ALERTS_SCHEMA}")),
            2 => Some(ALERTS_SCHEMA.to_string()),
            _ => None,
        };
        if let Some(tables) = missing {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {tables} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(fail)?;
        }
        let cols = row_columns();
        let updates: Vec<String> = std::iter::once("at".to_string())
            .chain(cols[1..].iter().map(|c| c.to_string()))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let upsert = format!(
            "INSERT INTO tasks (at, {}) VALUES (?1, {}) ON CONFLICT(id) DO UPDATE SET {}",
            cols.join(", "),
            (2..=cols.len() + 1)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", "),
            updates.join(", "),
        );
        Ok(Sqlite {
            conn,
            path: path.to_path_buf(),
            upsert,
        })
    }

    /// Opens the history at `path` to read only (a page, a task, an export).
    pub fn open_read(path: &Path) -> Result<Sqlite, StoreError> {
        let fail = |e: rusqlite::Error| StoreError::at(path, e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB / 4)
            .map_err(fail)?;
        Ok(Sqlite {
            conn,
            path: path.to_path_buf(),
            upsert: String::new(),
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::at(&self.path, e)
    }

    /// Writes a batch in one transaction: every row, then the model's
    /// other state. All or nothing.
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let fail = |e| StoreError::at(&self.path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut upsert = tx.prepare_cached(&self.upsert).map_err(fail)?;
            for row in &batch.tasks {
                upsert
                    .execute(params_from_iter(values(row)))
                    .map_err(fail)?;
            }
            if let Some(rest) = &batch.rest {
                tx.execute(
                    "INSERT INTO model (name, saved_at, data) VALUES ('rest', ?1, ?2) \
                     ON CONFLICT(name) DO UPDATE SET saved_at = excluded.saved_at, data = excluded.data",
                    rusqlite::params![batch.at, rest],
                )
                .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// Deletes up to `limit` of the oldest tasks: those before `before`,
    /// or (with `over` set) the oldest whatever their age. Returns how many.
    pub fn prune(
        &mut self,
        before: Option<f64>,
        over: bool,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let fail = self.fail();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let n = if over {
            self.conn.execute(
                "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks ORDER BY at LIMIT ?1)",
                [limit],
            )
        } else if let Some(before) = before {
            self.conn.execute(
                "DELETE FROM tasks WHERE seq IN \
                 (SELECT seq FROM tasks WHERE at < ?1 ORDER BY at LIMIT ?2)",
                rusqlite::params![before, limit],
            )
        } else {
            Ok(0)
        };
        n.map_err(fail)
    }

    /// Moves the WAL's pages into the main file and empties the WAL.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.fail())
    }

    /// Bytes the history occupies: its pages in use, and the WAL.
    pub fn size(&self) -> Result<u64, StoreError> {
        let fail = self.fail();
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(&fail)?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(&fail)?;
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(&fail)?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(wal).map_or(0, |m| m.len());
        Ok(u64::try_from((pages - free).max(0) * page).unwrap_or(0) + wal)
    }

    /// The newest `limit` tasks (newest first), where the next older ones
    /// continue, and the model's other state.
    pub fn load(&mut self, limit: usize) -> Result<Loaded, StoreError> {
        let fail = self.fail();
        let page = self.page(&PagedQuery {
            states: Vec::new(),
            name: None,
            worker: None,
            from: None,
            to: None,
            words: None,
            order: TaskOrder::AtDesc,
            after: None,
            limit,
        })?;
        let next = page.last().map(|p| p.cursor);
        let tasks = page.into_iter().map(|p| p.row).collect();
        let rest = self
            .conn
            .query_row("SELECT data FROM model WHERE name = 'rest'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
            .map_err(&fail)?;
        // The highest sequence number: one read, where a count would scan.
        let stored: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM tasks", [], |r| r.get(0))
            .map_err(&fail)?;
        Ok(Loaded {
            tasks,
            next,
            rest,
            stored: stored.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        })
    }

    /// One task by its id.
    pub fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM tasks WHERE id = ?1",
            row_columns().join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.fail())?;
        stmt.query_row([id], read_row)
            .optional()
            .map_err(self.fail())
    }

    /// A page of tasks matching `query`, in its order, after `query.after`.
    /// The caller checks the rows against the whole query again (the
    /// text search here finds words; the model's finds substrings).
    pub fn page(&self, query: &PagedQuery) -> Result<Vec<Paged>, StoreError> {
        let (sql, args) = page_sql(query);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.fail())?;
        let width = row_columns().len();
        stmt.query_map(params_from_iter(args), |r| {
            Ok(Paged {
                row: read_row(r)?,
                cursor: (r.get(width)?, r.get(width + 1)?),
            })
        })
        .map_err(self.fail())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(self.fail())
    }
}

/// The SQL and its parameters for a page.
fn page_sql(q: &PagedQuery) -> (String, Vec<Value>) {
    let mut wheres: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let arg = |v: Value, args: &mut Vec<Value>| {
        args.push(v);
        format!("?{}", args.len())
    };
    if !q.states.is_empty() {
        let marks: Vec<String> = q
            .states
            .iter()
            .map(|s| arg(Value::Text(s.clone()), &mut args))
            .collect();
        wheres.push(format!("state IN ({})", marks.join(", ")));
    }
    if let Some(name) = &q.name {
        let m = arg(Value::Text(name.clone()), &mut args);
        wheres.push(format!("name = {m} COLLATE NOCASE"));
    }
    if let Some(worker) = &q.worker {
        let m = arg(Value::Text(worker.clone()), &mut args);
        wheres.push(format!("worker = {m} COLLATE NOCASE"));
    }
    if let Some(from) = q.from {
        let m = arg(Value::Real(from), &mut args);
        wheres.push(format!("at >= {m}"));
    }
    if let Some(to) = q.to {
        let m = arg(Value::Real(to), &mut args);
        wheres.push(format!("at <= {m}"));
    }
    if let Some(words) = q.words.as_deref().and_then(fts_phrase) {
        let m = arg(Value::Text(words), &mut args);
        wheres.push(format!(
            "seq IN (SELECT rowid FROM tasks_text WHERE tasks_text MATCH {m})"
        ));
    }
    let (col, desc) = match q.order {
        TaskOrder::AtDesc => ("at", true),
        TaskOrder::AtAsc => ("at", false),
    };
    if let Some((at, seq)) = q.after {
        let a = arg(Value::Real(at), &mut args);
        let s = arg(Value::Integer(seq), &mut args);
        let cmp = if desc { "<" } else { ">" };
        wheres.push(format!("({col}, seq) {cmp} ({a}, {s})"));
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let limit = arg(
        Value::Integer(i64::try_from(q.limit).unwrap_or(i64::MAX)),
        &mut args,
    );
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wheres.join(" AND "))
    };
    let sql = format!(
        "SELECT {}, at, seq FROM tasks {filter} ORDER BY {col} {dir}, seq {dir} LIMIT {limit}",
        row_columns().join(", ")
    );
    (sql, args)
}

/// Free text as an FTS5 query: every word, whole (as PostgreSQL's word
/// index matches them). `None` when the text has no word.
fn fts_phrase(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

/// A row's parameters, in the upsert's order (`at` first).
fn values(row: &TaskRow) -> Vec<Value> {
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    let real = |f: Option<f64>| f.map_or(Value::Null, Value::Real);
    let mut v = vec![
        Value::Real(row.at()),
        Value::Text(row.id.clone()),
        Value::Text(row.state.clone()),
        text(&row.name),
        text(&row.worker),
        text(&row.queue),
        text(&row.exchange),
        text(&row.routing_key),
    ];
    v.extend(row.times.iter().map(|t| real(*t)));
    v.extend([
        real(row.runtime),
        row.retries
            .map_or(Value::Null, |r| Value::Integer(r.into())),
        Value::Integer(i64::try_from(row.clock).unwrap_or(i64::MAX)),
        Value::Integer(row.flags.into()),
        Value::Integer(row.seen.into()),
        Value::Integer(row.seen_attempt.into()),
        row.signum.map_or(Value::Null, |s| Value::Integer(s.into())),
        text(&row.root_id),
        text(&row.parent_id),
        if row.children.is_empty() {
            Value::Null
        } else {
            Value::Text(serde_json::to_string(&row.children).unwrap_or_default())
        },
    ]);
    v.extend(row.text.iter().map(text));
    v
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<TaskRow> {
    let mut i = 0;
    let mut next = || {
        i += 1;
        i - 1
    };
    let id = r.get(next())?;
    let state = r.get(next())?;
    let name = r.get(next())?;
    let worker = r.get(next())?;
    let queue = r.get(next())?;
    let exchange = r.get(next())?;
    let routing_key = r.get(next())?;
    let mut times = [None; 9];
    for t in &mut times {
        *t = r.get(next())?;
    }
    let runtime = r.get(next())?;
    let retries = r.get(next())?;
    let clock: i64 = r.get(next())?;
    let flags = r.get(next())?;
    let seen = r.get(next())?;
    let seen_attempt = r.get(next())?;
    let signum = r.get(next())?;
    let root_id = r.get(next())?;
    let parent_id = r.get(next())?;
    let children: Option<String> = r.get(next())?;
    let mut text: [Option<String>; 8] = Default::default();
    for t in &mut text {
        *t = r.get(next())?;
    }
    Ok(TaskRow {
        id,
        state,
        name,
        worker,
        queue,
        exchange,
        routing_key,
        times,
        runtime,
        retries,
        clock: u64::try_from(clock).unwrap_or(0),
        flags,
        seen,
        seen_attempt,
        signum,
        root_id,
        parent_id,
        // A list this code wrote; anything else reads as no children.
        children: children
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        text,
    })
}
