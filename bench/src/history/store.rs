//! The history under test and how the benchmark fills it: where it is
//! and how celadon is pointed at it, rows as celadon writes them for the
//! generator's tasks, written straight into a fresh file through the
//! server's own `store` API, and what the file occupies.

use std::{path::Path, sync::Arc, time::Instant};

use server::store::{self, Batch, HistoryConfig, Location, TaskRow};

use crate::{generator, group};

/// Distinct generator tasks the stored rows are copied from.
const ROW_TEMPLATES: u64 = 2_000;

/// Seconds between two stored tasks' last changes (10M span 28 hours).
const SPACING: f64 = 0.01;

/// Every stored task's args name its own order (`order-NNNNNNNN`, one
/// task each) and one of this many customers (`custNN`).
pub(super) const CUSTOMERS: u64 = 100;

/// Task numbers of the stored rows start here, apart from the streams'.
const STORED_IDS: u64 = 0xfff0 << 48;

/// The history store under test, and how celadon is pointed at it.
/// PostgreSQL joins as a second variant: its `Location`, its flags, its
/// bytes on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// One SQLite file in the stage's scratch directory (`--db`).
    Sqlite,
}

impl Backend {
    pub(super) fn location(self, dir: &Path) -> Location {
        match self {
            Backend::Sqlite => Location::Sqlite(dir.join("history.db")),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
        }
    }
}

/// celadon's flags for the history at `location`.
pub(super) fn flags(location: &Location) -> anyhow::Result<Vec<String>> {
    match location {
        Location::Sqlite(path) => Ok(vec![format!("--db={}", path.display())]),
        Location::Postgres(url) => {
            anyhow::bail!(
                "the benchmark builds SQLite histories only, not {}",
                url.masked()
            )
        }
    }
}

/// Bytes the history at `location` occupies: the file and its WAL.
pub(super) fn bytes_on_disk(location: &Location) -> anyhow::Result<u64> {
    match location {
        Location::Postgres(url) => {
            anyhow::bail!(
                "the benchmark builds SQLite histories only, not {}",
                url.masked()
            )
        }
        Location::Sqlite(path) => Ok(["", "-wal"]
            .iter()
            .map(|suffix| {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(p).map_or(0, |m| m.len())
            })
            .sum()),
    }
}

/// Tasks in the SQLite history at `location`, and of them those in a
/// final state (SUCCESS or FAILURE).
pub(super) fn stored_tasks(location: &Location) -> anyhow::Result<(u64, u64)> {
    let Location::Sqlite(path) = location else {
        anyhow::bail!("the benchmark counts the tasks of an SQLite history only");
    };
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (all, finished): (i64, i64) = db.query_row(
        "SELECT count(*), count(*) FILTER (WHERE state IN ('SUCCESS', 'FAILURE')) FROM tasks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((u64::try_from(all)?, u64::try_from(finished)?))
}

/// Bytes per task of each table and index of the SQLite history at
/// `location`, largest first (SQLite's `dbstat`): what the bytes on disk
/// are spent on.
pub(super) fn breakdown(location: &Location, tasks: u64) -> anyhow::Result<Vec<(String, f64)>> {
    let Location::Sqlite(path) = location else {
        anyhow::bail!("the breakdown is of an SQLite history");
    };
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = db.prepare(
        "SELECT name, sum(pgsize) FROM dbstat GROUP BY name HAVING sum(pgsize) > 4096 \
         ORDER BY 2 DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)? as f64 / tasks.max(1) as f64,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stored rows as celadon writes them for the generator's tasks: taken
/// from a model that ingested a rendered stream (what the save loop hands
/// the store), then renumbered, retimed and given args of their own.
pub struct Rows {
    templates: Vec<TaskRow>,
    /// The first row's last change; row `n` is `n * SPACING` later.
    start: f64,
}

impl Rows {
    /// Rows for a history of `total` tasks whose newest is now.
    pub fn new(
        templates: &generator::Templates,
        workers: usize,
        total: u64,
    ) -> anyhow::Result<Rows> {
        let (plan, mut model) =
            crate::plan_and_model(templates, ROW_TEMPLATES, workers, ROW_TEMPLATES as usize);
        model.keep_unsaved();
        let now = generator::clock_now();
        for p in &plan.publishes {
            let errors = model.ingest(p.payload.as_bytes(), now);
            anyhow::ensure!(errors.is_empty(), "{errors:?}");
        }
        let taken = model.take_unsaved(usize::MAX, 0.0);
        anyhow::ensure!(
            taken.tasks.len() as u64 == ROW_TEMPLATES,
            "the model listed {} of {ROW_TEMPLATES} tasks to save",
            taken.tasks.len()
        );
        Ok(Rows {
            templates: taken.tasks,
            start: now - total as f64 * SPACING,
        })
    }

    fn row(&self, n: u64) -> TaskRow {
        let mut row = self.templates[(n % self.templates.len() as u64) as usize].clone();
        let shift = self.start + n as f64 * SPACING - row.at();
        for t in row.times.iter_mut().flatten() {
            *t += shift;
        }
        let id = generator::task_id(STORED_IDS + n);
        if row.root_id.as_deref() == Some(row.id.as_str()) {
            row.root_id = Some(id.clone());
        }
        row.id = id;
        row.text[0] = Some(format!(
            "(7, 35, 'order-{n:08}', 'cust{:02}')",
            n % CUSTOMERS
        ));
        row
    }
}

/// Writes rows `from..to` into the history at `location` through
/// `server::store` (its writer thread, one transaction of the save loop's
/// largest batch at a time), then stops the writer, which folds the WAL
/// into the file. Returns rows per second, that last step included.
pub(super) async fn build(
    location: &Location,
    rows: &Arc<Rows>,
    from: u64,
    to: u64,
) -> anyhow::Result<f64> {
    let config = HistoryConfig {
        location: location.clone(),
        save_interval: store::DEFAULT_SAVE_INTERVAL,
        retention: None,
        max_size: None,
    };
    let status = Arc::new(store::Status::new(location.describe()));
    let (writer, thread, _reader, _loaded) = store::open(&config, 0, status).await?;
    let batch = server::poll::history::MAX_SAVE_ROWS as u64;
    let make = |from: u64| {
        let rows = rows.clone();
        let end = (from + batch).min(to);
        tokio::task::spawn_blocking(move || (from..end).map(|n| rows.row(n)).collect::<Vec<_>>())
    };
    let started = Instant::now();
    let mut next = make(from);
    let mut n = from;
    let mut reported = from;
    while n < to {
        let tasks = next.await?;
        n += tasks.len() as u64;
        next = make(n);
        writer
            .write(Batch {
                at: generator::clock_now(),
                tasks,
                rest: None,
            })
            .await?;
        if n - reported >= 1_000_000 || n == to {
            reported = n;
            println!(
                "    history: {} tasks written ({:.0} rows/s so far)",
                group(n as f64),
                (n - from) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    drop(writer);
    thread.join().await;
    Ok((to - from) as f64 / started.elapsed().as_secs_f64())
}
