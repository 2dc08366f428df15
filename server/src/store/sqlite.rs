//! The history in one SQLite file (WAL mode): the schema and its version,
//! the batched upserts, the reads back. Why SQLite, and what each index
//! and the full-text table cost per row: ARCHITECTURE.md and
//! `docs/measurements.md`.

use std::path::{Path, PathBuf};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, ToSql, params_from_iter, types::Value,
};

use super::{
    Batch, Loaded, Paged, PagedQuery, StoreError, TaskOrder,
    row::{TaskRow, row_columns},
};

/// The schema this build writes and reads. A file with a higher version
/// was written by a newer celadon and is refused, untouched. Version 2
/// added the audit trail ([`AUDIT_SCHEMA`]); a version 1 file gets it at
/// open. Version 3 added the alerts' tables ([`ALERTS_SCHEMA`]); an older
/// file gets them at open. Version 4 keeps the full-text index in step
/// from the writer ([`Sqlite::write`]) instead of by triggers on insert
/// and update ([`DROP_TEXT_TRIGGERS`]): an older celadon, which relies on
/// them, must not write a version 4 file.
pub const SCHEMA_VERSION: i64 = 4;

/// SQLite's page cache per connection (negative: KiB).
const CACHE_KIB: i64 = 64 * 1024;

/// The WAL's size past which the writer does not start a write until the
/// checkpointer ([`Checkpointer`]) has moved the WAL into the file, and
/// the size the WAL file is cut back to once it has been. Checkpoints
/// normally run beside the writer, after each write; this bounds the WAL
/// while writes follow one another with no pause for a checkpoint to
/// finish (a WAL restarts only from a finished one).
pub const WAL_LIMIT: u64 = 128 << 20;

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

/// Version 4: the writer adds a task's words itself ([`Sqlite::write`]).
/// A trigger on an insert or an update made SQLite keep a statement
/// journal for every row (a copy of each page the row touched, so that
/// the row alone could be undone), which cost the writer most of its time.
/// Pruning keeps its trigger: one statement deletes many rows.
pub const DROP_TEXT_TRIGGERS: &str = "
DROP TRIGGER IF EXISTS tasks_text_insert;
DROP TRIGGER IF EXISTS tasks_text_update;
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
    sql: WriteSql,
}

/// The writer's statements, each prepared once ([`Connection::prepare_cached`]).
#[derive(Default)]
struct WriteSql {
    find: String,
    insert: String,
    update: String,
}

impl WriteSql {
    fn new() -> WriteSql {
        let cols = row_columns();
        let insert = format!(
            "INSERT INTO tasks (at, {}) VALUES ({})",
            cols.join(", "),
            (1..=cols.len() + 1)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        // The parameters are the insert's (`?2`, the id, unused: it is how
        // the row was found) and then the row's `seq`.
        let sets: Vec<String> = std::iter::once("at = ?1".to_string())
            .chain(
                cols.iter()
                    .enumerate()
                    .skip(1)
                    .map(|(i, c)| format!("{c} = ?{}", i + 2)),
            )
            .collect();
        let update = format!(
            "UPDATE tasks SET {} WHERE seq = ?{}",
            sets.join(", "),
            cols.len() + 2
        );
        WriteSql {
            find: "SELECT seq, args, kwargs FROM tasks WHERE id = ?1".to_string(),
            insert,
            update,
        }
    }
}

const TEXT_INSERT: &str = "INSERT INTO tasks_text(rowid, args, kwargs) VALUES (?1, ?2, ?3)";
const TEXT_DELETE: &str =
    "INSERT INTO tasks_text(tasks_text, rowid, args, kwargs) VALUES ('delete', ?1, ?2, ?3)";

/// A read-write connection to a history file beside its writer's, for the
/// tables others keep in it (the audit trail, the alerts'); waits up to
/// `busy` for the writer's lock. A file of another version is refused.
pub fn open_beside(path: &Path, busy: std::time::Duration) -> Result<Connection, StoreError> {
    let fail = |e| StoreError::at(path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.busy_timeout(busy).map_err(fail)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(fail)?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Newer {
            location: path.display().to_string(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(conn)
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
        // The checkpointer's thread moves the WAL into the file, not the
        // writer at its commits (SQLite's default, every 1,000 pages): a
        // checkpoint writes and syncs the file, which held up writes.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(fail)?;
        conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)
            .map_err(fail)?;
        // Each version's changes, applied in order to an older file.
        let missing = match version {
            0 => Some(format!("{SCHEMA} {AUDIT_SCHEMA} {ALERTS_SCHEMA}")),
            1 => Some(format!(
                "{AUDIT_SCHEMA} {ALERTS_SCHEMA} {DROP_TEXT_TRIGGERS}"
            )),
            2 => Some(format!("{ALERTS_SCHEMA} {DROP_TEXT_TRIGGERS}")),
            3 => Some(DROP_TEXT_TRIGGERS.to_string()),
            _ => None,
        };
        if let Some(tables) = missing {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {tables} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(fail)?;
        }
        Ok(Sqlite {
            conn,
            path: path.to_path_buf(),
            sql: WriteSql::new(),
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
            sql: WriteSql::default(),
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::at(&self.path, e)
    }

    /// Writes a batch in one transaction: every row, then the model's
    /// other state. All or nothing. A row is found by its id, then
    /// inserted or updated, and its args and kwargs put in the full-text
    /// index (taken out first if they changed): single-row statements
    /// without triggers, which SQLite runs without a statement journal.
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let fail = |e| StoreError::at(&self.path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut find = tx.prepare_cached(&self.sql.find).map_err(fail)?;
            let mut insert = tx.prepare_cached(&self.sql.insert).map_err(fail)?;
            let mut update = tx.prepare_cached(&self.sql.update).map_err(fail)?;
            let mut text_insert = tx.prepare_cached(TEXT_INSERT).map_err(fail)?;
            let mut text_delete = tx.prepare_cached(TEXT_DELETE).map_err(fail)?;
            for row in &batch.tasks {
                let owned = Owned::of(row);
                let values = values(row, &owned);
                let (args, kwargs) = (&row.text[0], &row.text[1]);
                let found = find
                    .query_row([&row.id], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    })
                    .optional()
                    .map_err(fail)?;
                match found {
                    None => {
                        insert.execute(&values[..]).map_err(fail)?;
                        let seq = tx.last_insert_rowid();
                        text_insert.execute((seq, args, kwargs)).map_err(fail)?;
                    }
                    Some((seq, old_args, old_kwargs)) => {
                        update
                            .execute(params_from_iter(
                                values.iter().copied().chain([&seq as &dyn ToSql]),
                            ))
                            .map_err(fail)?;
                        if old_args != *args || old_kwargs != *kwargs {
                            text_delete
                                .execute((seq, &old_args, &old_kwargs))
                                .map_err(fail)?;
                            text_insert.execute((seq, args, kwargs)).map_err(fail)?;
                        }
                    }
                }
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

    /// Bytes in the WAL file.
    pub fn wal_bytes(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
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
        Ok(u64::try_from((pages - free).max(0) * page).unwrap_or(0) + self.wal_bytes())
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

/// The history's checkpoints, on a connection of their own, so that the
/// writer never waits for one (see `writer::checkpoints`).
pub struct Checkpointer {
    conn: Connection,
    path: PathBuf,
}

impl Checkpointer {
    /// Opens the history the writer has opened (and so brought to this
    /// schema).
    pub fn open(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::at(path, e))?;
        Ok(Checkpointer {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Moves what the WAL holds into the file, beside the writer (which
    /// goes on appending) and readers (up to the oldest one's snapshot):
    /// `PASSIVE`, which waits for no one.
    pub fn passive(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| StoreError::at(&self.path, e))
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

/// Columns of a row after `at` ([`row_columns`]).
pub(super) const ROW_WIDTH: usize = 34;

/// What a row's parameters need that the row does not hold as stored.
struct Owned {
    at: f64,
    clock: i64,
    children: Option<String>,
}

impl Owned {
    fn of(row: &TaskRow) -> Owned {
        Owned {
            at: row.at(),
            clock: i64::try_from(row.clock).unwrap_or(i64::MAX),
            children: (!row.children.is_empty())
                .then(|| serde_json::to_string(&row.children).unwrap_or_default()),
        }
    }
}

/// A row's parameters, in the insert's order (`at` first), borrowed from
/// the row: nothing is copied.
fn values<'a>(row: &'a TaskRow, owned: &'a Owned) -> [&'a dyn ToSql; ROW_WIDTH + 1] {
    let t = &row.times;
    let x = &row.text;
    [
        &owned.at,
        &row.id,
        &row.state,
        &row.name,
        &row.worker,
        &row.queue,
        &row.exchange,
        &row.routing_key,
        &t[0],
        &t[1],
        &t[2],
        &t[3],
        &t[4],
        &t[5],
        &t[6],
        &t[7],
        &t[8],
        &row.runtime,
        &row.retries,
        &owned.clock,
        &row.flags,
        &row.seen,
        &row.seen_attempt,
        &row.signum,
        &row.root_id,
        &row.parent_id,
        &owned.children,
        &x[0],
        &x[1],
        &x[2],
        &x[3],
        &x[4],
        &x[5],
        &x[6],
        &x[7],
    ]
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
