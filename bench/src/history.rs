//! The history store's stages (`--history`, and part of the full run):
//! 1. ingest at the headline rate, the same rendered stream to celadon
//!    with `--persistent=false` and then with its store: tasks kept, the
//!    whole process's CPU per event, and the store's lag as `/api/stats`
//!    reports it every [`LAG_SAMPLE`];
//! 2. a restart over `--history-restart-tasks` stored tasks: process start
//!    to the Tasks page answering 200, at that `--max-tasks` and at the
//!    default; Flower's `--persistent` restart over [`FLOWER_TASKS`];
//! 3. over `--history-tasks` stored tasks: filtered pages and text
//!    searches through `/api/tasks`, a CSV export's rate and the server's
//!    RSS during it, and bytes on disk per task (beside Flower's shelve for
//!    the same [`FLOWER_TASKS`] tasks).
//!
//! The stored histories of 2 and 3 are written straight into a fresh file
//! through the server's own `store` API (its writer thread, one
//! transaction per batch), from rows a model made of the generator's
//! tasks: building millions through Redis would take hours here.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use kit::{CeladonBinary, Flower, FlowerOptions, Redis, Scratch};
use server::store::{self, Batch, HistoryConfig, Location, TaskRow};

use crate::{
    Bench, FAIL_EVERY, HEADLINE_RATE,
    generator::{self, Spec},
    group, verdict,
};

/// How often the store's lag is read from `/api/stats` during a stage.
const LAG_SAMPLE: Duration = Duration::from_millis(250);

/// Once the stream has ended, the store has caught up when `/api/stats`
/// reports a lag under this (the save loop reads it after every write and
/// every `--state-save-interval`).
const CAUGHT_UP: f64 = 0.5;

/// How long a start that reads back a large history may take.
const RESTART_DEADLINE: Duration = Duration::from_secs(180);

/// Tasks Flower's `--persistent` file holds in the comparison: the
/// count its restart and celadon's default `--max-tasks` share.
pub const FLOWER_TASKS: u64 = 100_000;

/// Distinct generator tasks the stored rows are copied from.
const ROW_TEMPLATES: u64 = 2_000;

/// Seconds between two stored tasks' last changes (10M span 28 hours).
const SPACING: f64 = 0.01;

/// Every stored task's args name its own order (`order-NNNNNNNN`, one
/// task each) and one of this many customers (`custNN`).
const CUSTOMERS: u64 = 100;

/// Task numbers of the stored rows start here, apart from the streams'.
const STORED_IDS: u64 = 0xfff0 << 48;

/// Rows of the CSV export.
const EXPORT_ROWS: u64 = 1_000_000;

/// Most the server's RSS may grow while it streams the export for its
/// memory to count as constant (its read connections' caches are 16 MiB).
const EXPORT_RSS_GROWTH: u64 = 64 << 20;

/// `--max-tasks` over the large history: small, so pages come from the
/// store.
const LARGE_MAX_TASKS: u64 = 100;

/// The history store under test, and how celadon is pointed at it.
/// PostgreSQL joins as a second variant: its `Location`, its flags, its
/// bytes on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// One SQLite file in the stage's scratch directory (`--db`).
    Sqlite,
}

impl Backend {
    fn location(self, dir: &Path) -> Location {
        match self {
            Backend::Sqlite => Location::Sqlite(dir.join("history.db")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
        }
    }
}

/// celadon's flags for the history at `location`.
fn flags(location: &Location) -> Vec<String> {
    match location {
        Location::Sqlite(path) => vec![format!("--db={}", path.display())],
    }
}

/// Bytes the history at `location` occupies: the file and its WAL.
fn bytes_on_disk(location: &Location) -> u64 {
    match location {
        Location::Sqlite(path) => ["", "-wal"]
            .iter()
            .map(|suffix| {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(p).map_or(0, |m| m.len())
            })
            .sum(),
    }
}

/// Bytes per task of each table and index of the SQLite history at
/// `location`, largest first (SQLite's `dbstat`): what the bytes on disk
/// are spent on.
fn breakdown(location: &Location, tasks: u64) -> anyhow::Result<Vec<(String, f64)>> {
    let Location::Sqlite(path) = location;
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

/// CPU seconds of the thread of process `pid` called `name` (the store's
/// writer, `celadon-history`); 0 if there is none.
fn thread_cpu(pid: u32, name: &str) -> f64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    threads
        .filter_map(Result::ok)
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let after = stat.rsplit(')').next().unwrap_or("");
            let fields: Vec<&str> = after.split_whitespace().collect();
            // utime and stime, in clock ticks (100 per second on Linux).
            [11, 12]
                .iter()
                .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
                .sum::<f64>()
                / 100.0
        })
        .sum()
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
        let taken = model.take_unsaved(usize::MAX);
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
async fn build(location: &Location, rows: &Arc<Rows>, from: u64, to: u64) -> anyhow::Result<f64> {
    let config = HistoryConfig {
        location: location.clone(),
        save_interval: store::DEFAULT_SAVE_INTERVAL,
        retention: None,
        max_size: None,
    };
    let status = Arc::new(store::Status::new(location.describe()));
    let (writer, thread, _reader, _loaded) =
        tokio::task::spawn_blocking(move || store::open(&config, 0, status)).await??;
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

/// One dashboard run of the ingest stage.
#[derive(Clone, Debug, Default)]
pub struct IngestRun {
    pub kept: u64,
    pub offered: u64,
    pub events: u64,
    pub cpu: f64,
    /// Of `cpu`, the store's writer thread's.
    pub writer_cpu: f64,
    /// `/api/stats` → `history.lag_seconds`, sorted.
    pub lags: Vec<f64>,
    /// Seconds from the end of the stream until the store caught up.
    pub caught_up: Option<f64>,
    pub rows_written: u64,
    pub last_error: Option<String>,
}

impl IngestRun {
    fn cpu_per_event(&self) -> f64 {
        self.cpu / self.events.max(1) as f64 * 1e6
    }

    fn writer_cpu_per_event(&self) -> f64 {
        self.writer_cpu / self.events.max(1) as f64 * 1e6
    }

    fn kept_percent(&self) -> f64 {
        100.0 * self.kept as f64 / self.offered.max(1) as f64
    }
}

/// One restart's figures.
#[derive(Clone, Debug)]
pub struct Restart {
    pub what: String,
    /// Process start to the Tasks page answering 200, in seconds.
    pub to_page: f64,
    /// The log's `took_ms` of "history opened" (celadon only).
    pub opened_ms: Option<u64>,
    pub loaded: Option<u64>,
}

/// One `/api/tasks` query's figures over the large history.
#[derive(Clone, Debug)]
pub struct Page {
    pub query: String,
    pub p50: f64,
    pub p99: f64,
    pub target_ms: f64,
}

#[derive(Clone, Debug)]
pub struct Export {
    pub rows: u64,
    pub bytes: u64,
    pub secs: f64,
    pub rss_before: u64,
    pub rss_peak: u64,
}

/// Bytes on disk for the same [`FLOWER_TASKS`] tasks.
#[derive(Clone, Debug)]
pub struct SameTasks {
    pub tasks: u64,
    pub celadon: u64,
    pub flower: Option<u64>,
    /// celadon's bytes per task by table and index.
    pub breakdown: Vec<(String, f64)>,
}

#[derive(Debug, Default)]
pub struct Figures {
    pub backend: Option<&'static str>,
    pub ingest: Option<(IngestRun, IngestRun)>,
    pub restarts: Vec<Restart>,
    pub large_tasks: u64,
    pub build_rate: f64,
    pub large_bytes: u64,
    pub pages: Vec<Page>,
    pub export: Option<Export>,
    pub same_tasks: Option<SameTasks>,
    /// Parts not measured, and why.
    pub skipped: Vec<String>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

impl Bench {
    /// Every history stage, in the order of the module's list.
    pub async fn history(&mut self, with_flower: bool) -> anyhow::Result<Figures> {
        let backend = self.args.history_backend;
        let mut figures = Figures {
            backend: Some(backend.name()),
            ..Figures::default()
        };
        let off = self.history_ingest(false).await?;
        let on = self.history_ingest(true).await?;
        figures.ingest = Some((off, on));

        let restart_tasks = self.args.history_restart_tasks;
        let large = self.args.history_tasks.max(restart_tasks);
        let rows = {
            let templates = self.templates.clone();
            let workers = self.args.workers;
            Arc::new(
                tokio::task::spawn_blocking(move || Rows::new(&templates, workers, large))
                    .await??,
            )
        };
        let dir = Scratch::new()?;
        let location = backend.location(dir.path());
        println!(
            "  building a history of {} tasks through server::store…",
            group(restart_tasks as f64)
        );
        build(&location, &rows, 0, restart_tasks).await?;
        for max_tasks in [restart_tasks, 100_000] {
            let r = self.restart(&location, restart_tasks, max_tasks).await?;
            print_restart(&r);
            figures.restarts.push(r);
        }
        match self.flower_same_tasks(with_flower).await {
            Ok((same, flower_restart)) => {
                if let Some(r) = flower_restart {
                    print_restart(&r);
                    figures.restarts.push(r);
                } else if with_flower {
                    figures
                        .skipped
                        .push("Flower's --persistent restart: it did not save a file".into());
                }
                figures.same_tasks = Some(same);
            }
            Err(error) => figures.skipped.push(format!(
                "bytes per task beside Flower and Flower's restart: {error:#}"
            )),
        }

        println!("  extending the history to {} tasks…", group(large as f64));
        let rate = build(&location, &rows, restart_tasks, large).await?;
        figures.large_tasks = large;
        figures.build_rate = rate;
        figures.large_bytes = bytes_on_disk(&location);
        self.history_large(&location, large, &mut figures).await?;
        Ok(figures)
    }

    /// The headline stream to a fresh celadon, with its store or without.
    async fn history_ingest(&mut self, with_store: bool) -> anyhow::Result<IngestRun> {
        let spec = self.spec(24, Some(HEADLINE_RATE), self.args.headline_seconds, None);
        let plan = self.render(spec).await?;
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = if with_store {
            flags(&self.args.history_backend.location(scratch.path()))
        } else {
            vec!["--persistent=false".to_string()]
        };
        extra.extend(crate::celadon_flags(100_000));
        let ours = CeladonBinary::start(&self.args.celadon, &redis, &scratch, &extra)?;
        let stats = ours.url("/api/stats");
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (http, stats, done) = (self.http.clone(), stats.clone(), done.clone());
            tokio::spawn(async move {
                let mut lags = Vec::new();
                let mut tick = tokio::time::interval(LAG_SAMPLE);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while !done.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let lag = async {
                        let v: serde_json::Value = http.get(&stats).send().await?.json().await?;
                        anyhow::Ok(v["history"]["lag_seconds"].as_f64())
                    };
                    if let Ok(Some(lag)) = lag.await {
                        lags.push(lag);
                    }
                }
                lags
            })
        };
        let cpu0 = ours.proc().cpu_seconds();
        let sent = self.publish(redis.socket(), plan).await?;
        let ended = Instant::now();
        let kept = self
            .settle(
                sent.tasks,
                Duration::from_secs(3),
                Duration::from_secs(30),
                || self.celadon_finished(&ours),
            )
            .await;
        let mut caught_up = None;
        if with_store {
            while ended.elapsed() < Duration::from_secs(120) {
                let v = self.json(&stats).await?;
                if v["history"]["lag_seconds"]
                    .as_f64()
                    .is_some_and(|l| l < CAUGHT_UP)
                {
                    caught_up = Some(ended.elapsed().as_secs_f64());
                    break;
                }
                tokio::time::sleep(LAG_SAMPLE).await;
            }
        }
        done.store(true, Ordering::Relaxed);
        let mut lags = sampler.await?;
        lags.sort_by(f64::total_cmp);
        let cpu = ours.proc().cpu_seconds() - cpu0;
        // The writer thread starts with the process; its CPU before the
        // stream (opening an empty file) is negligible.
        let writer_cpu = thread_cpu(ours.proc().pid(), "celadon-history");
        let v = self.json(&stats).await?;
        let run = IngestRun {
            kept,
            offered: sent.tasks,
            events: sent.events,
            cpu,
            writer_cpu,
            lags,
            caught_up,
            rows_written: v["history"]["rows_written"].as_u64().unwrap_or(0),
            last_error: v["history"]["last_error"].as_str().map(str::to_string),
        };
        println!(
            "  100k ev/s for {:.0} s, store {:<4} celadon {:>7.2} % kept, {:.2} µs CPU/ev{}",
            self.args.headline_seconds,
            if with_store { "on" } else { "off" },
            run.kept_percent(),
            run.cpu_per_event(),
            if with_store {
                format!(
                    ", lag p50 {:.2} s p99 {:.2} s, {} rows written",
                    percentile(&run.lags, 0.5),
                    percentile(&run.lags, 0.99),
                    group(run.rows_written as f64)
                )
            } else {
                String::new()
            }
        );
        Ok(run)
    }

    /// celadon started over the stored history at `location`, to its
    /// Tasks page answering 200.
    async fn restart(
        &self,
        location: &Location,
        stored: u64,
        max_tasks: u64,
    ) -> anyhow::Result<Restart> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = flags(location);
        extra.extend(crate::celadon_flags(max_tasks));
        let started = Instant::now();
        let ours = CeladonBinary::start_within(
            &self.args.celadon,
            &redis,
            &scratch,
            &extra,
            RESTART_DEADLINE,
        )?;
        self.until_200(&ours.url("/tasks"), started).await?;
        let to_page = started.elapsed().as_secs_f64();
        let log = ours.proc().log();
        let opened_ms = log
            .lines()
            .find(|l| l.contains("history opened"))
            .and_then(|l| l.split("took_ms=").nth(1))
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        let stats = self.json(&ours.url("/api/stats")).await?;
        Ok(Restart {
            what: format!(
                "celadon, {} stored, --max-tasks={}",
                group(stored as f64),
                max_tasks
            ),
            to_page,
            opened_ms,
            loaded: stats["history"]["loaded_tasks"].as_u64(),
        })
    }

    async fn until_200(&self, url: &str, started: Instant) -> anyhow::Result<()> {
        loop {
            if let Ok(r) = self.http.get(url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < RESTART_DEADLINE,
                "{url} did not answer 200"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The same [`FLOWER_TASKS`] tasks to Flower with `--persistent` (at a
    /// rate it keeps up with) and to celadon with its store, each stopped
    /// with SIGTERM so it saves: bytes on disk; then Flower restarted on
    /// its file, to its Tasks page.
    async fn flower_same_tasks(
        &mut self,
        with_flower: bool,
    ) -> anyhow::Result<(SameTasks, Option<Restart>)> {
        let first_task = self.next_task;
        self.next_task += 1 << 32;
        let spec = |rate: f64| Spec {
            rate: Some(rate),
            duration: Duration::from_secs(3600),
            batch: 24,
            first_task,
            workers: self.args.workers,
            fail_every: FAIL_EVERY,
            max_tasks: Some(FLOWER_TASKS),
        };
        let dir = Scratch::new()?;
        let (ours, breakdown) = {
            let plan = self.render(spec(HEADLINE_RATE)).await?;
            let scratch = Scratch::new()?;
            let redis = Redis::start(&scratch)?;
            let location = self.args.history_backend.location(dir.path());
            let mut extra = flags(&location);
            extra.extend(crate::celadon_flags(2 * FLOWER_TASKS));
            let mut celadon = CeladonBinary::start(&self.args.celadon, &redis, &scratch, &extra)?;
            let sent = self.publish(redis.socket(), plan).await?;
            self.settle(
                sent.tasks,
                Duration::from_secs(3),
                Duration::from_secs(60),
                || self.celadon_finished(&celadon),
            )
            .await;
            celadon.stop(Duration::from_secs(60)).await?;
            (
                bytes_on_disk(&location),
                breakdown(&location, FLOWER_TASKS)?,
            )
        };
        let shelve = dir.path().join("flower.db");
        let options = FlowerOptions {
            venv: self.args.venv.clone(),
            max_tasks: 2 * FLOWER_TASKS,
            enable_events: false,
            db: Some(shelve.clone()),
        };
        if !with_flower {
            return Ok((
                SameTasks {
                    tasks: FLOWER_TASKS,
                    celadon: ours,
                    flower: None,
                    breakdown,
                },
                None,
            ));
        }
        {
            let plan = self.render(spec(5_000.0)).await?;
            let scratch = Scratch::new()?;
            let redis = Redis::start(&scratch)?;
            let mut flower = Flower::start(&redis, &scratch, &options)?;
            let sent = self.publish(redis.socket(), plan).await?;
            self.settle(
                sent.tasks,
                Duration::from_secs(10),
                Duration::from_secs(300),
                || self.flower_finished(&flower),
            )
            .await;
            flower.stop(Duration::from_secs(300)).await?;
        }
        let theirs: u64 = std::fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("flower.db"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        let same = SameTasks {
            tasks: FLOWER_TASKS,
            celadon: ours,
            flower: (theirs > 0).then_some(theirs),
            breakdown,
        };
        if theirs == 0 {
            return Ok((same, None));
        }
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let started = Instant::now();
        let flower = Flower::start(&redis, &scratch, &options)?;
        self.until_200(&flower.url("/tasks"), started).await?;
        let to_page = started.elapsed().as_secs_f64();
        Ok((
            same,
            Some(Restart {
                what: format!("Flower --persistent, {} stored", group(FLOWER_TASKS as f64)),
                to_page,
                opened_ms: None,
                loaded: None,
            }),
        ))
    }

    /// Pages, searches and an export over the large history.
    async fn history_large(
        &self,
        location: &Location,
        tasks: u64,
        figures: &mut Figures,
    ) -> anyhow::Result<()> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = flags(location);
        extra.extend(crate::celadon_flags(LARGE_MAX_TASKS));
        let ours = CeladonBinary::start_within(
            &self.args.celadon,
            &redis,
            &scratch,
            &extra,
            RESTART_DEADLINE,
        )?;
        let api = ours.url("/api/tasks");
        let fixed = |q: &str, n: usize| vec![format!("{api}{q}"); n];
        // A different order each time, spread over the whole history.
        let orders: Vec<String> = (0..100u64)
            .map(|i| {
                let n = (i * 7_919 * 1_009 + 12_345) % tasks;
                format!("{api}?limit=15&search=args:order-{n:08}")
            })
            .collect();
        let queries = [
            (
                "?limit=15&state=FAILURE".to_string(),
                fixed("?limit=15&state=FAILURE", 200),
                20.0,
            ),
            (
                "?limit=15&taskname=tasks.add&workername=bench3@loadgen&offset=30".into(),
                fixed(
                    "?limit=15&taskname=tasks.add&workername=bench3@loadgen&offset=30",
                    200,
                ),
                20.0,
            ),
            (
                "?limit=15&search=args:order-NNNNNNNN (1 task each, 100 different)".into(),
                orders,
                500.0,
            ),
            (
                format!("?limit=15&search=args:cust07 (1 task in {CUSTOMERS})"),
                fixed("?limit=15&search=args:cust07", 100),
                500.0,
            ),
        ];
        for (query, urls, target_ms) in queries {
            let (p50, p99) = self.latencies(&urls).await?;
            println!(
                "  /api/tasks{query} @{}: p50 {p50:.2} ms p99 {p99:.2} ms",
                group(tasks as f64)
            );
            figures.pages.push(Page {
                query,
                p50,
                p99,
                target_ms,
            });
        }
        figures.export = Some(self.export(&ours).await?);
        Ok(())
    }

    /// p50 and p99 of GETs of `urls` in turn, in ms; each must answer 200.
    async fn latencies(&self, urls: &[String]) -> anyhow::Result<(f64, f64)> {
        let mut times = Vec::with_capacity(urls.len());
        for url in urls {
            let start = Instant::now();
            let r = self.http.get(url).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(status.is_success(), "{url}: {status}");
            anyhow::ensure!(!body.is_empty(), "empty answer from {url}");
        }
        times.sort_by(f64::total_cmp);
        Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
    }

    /// A CSV export of the newest [`EXPORT_ROWS`], read as it streams,
    /// with the server's RSS read every 100 ms.
    async fn export(&self, ours: &CeladonBinary) -> anyhow::Result<Export> {
        let url = ours.url(&format!("/api/tasks?format=csv&limit={EXPORT_ROWS}"));
        let rss_before = ours.proc().rss_bytes();
        let mut rss_peak = rss_before;
        let started = Instant::now();
        let mut r = self.http.get(&url).send().await?;
        anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
        let (mut lines, mut bytes, mut quoted) = (0u64, 0u64, false);
        let mut sampled = Instant::now();
        while let Some(chunk) = r.chunk().await.context("reading the export")? {
            bytes += chunk.len() as u64;
            for b in chunk.iter() {
                match b {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => lines += 1,
                    _ => {}
                }
            }
            if sampled.elapsed() >= Duration::from_millis(100) {
                rss_peak = rss_peak.max(ours.proc().rss_bytes());
                sampled = Instant::now();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        rss_peak = rss_peak.max(ours.proc().rss_bytes());
        let export = Export {
            rows: lines.saturating_sub(1),
            bytes,
            secs,
            rss_before,
            rss_peak,
        };
        println!(
            "  CSV export: {} rows, {} MB in {secs:.1} s; RSS {} MB before, {} MB at most",
            group(export.rows as f64),
            bytes >> 20,
            rss_before >> 20,
            rss_peak >> 20
        );
        Ok(export)
    }
}

fn print_restart(r: &Restart) {
    println!(
        "  restart: {:<48} Tasks page 200 after {:.2} s{}",
        r.what,
        r.to_page,
        r.opened_ms.map_or(String::new(), |ms| format!(
            " (history opened in {ms} ms, {} tasks read back)",
            group(r.loaded.unwrap_or(0) as f64)
        ))
    );
}

/// The history lines of the summary.
pub fn print(f: &Figures) {
    println!(
        "  History ({} store, one writer thread, in the same process)",
        f.backend.unwrap_or("-")
    );
    if let Some((off, on)) = &f.ingest {
        println!(
            "    tasks kept at 100k ev/s, 24/PUBLISH      store on {:.2} % of {}, off {:.2} %   target 100 %: {}",
            on.kept_percent(),
            group(on.offered as f64),
            off.kept_percent(),
            verdict(on.kept == on.offered)
        );
        println!(
            "    CPU per event (whole process)            store on {:.2} µs (its writer thread {:.2} µs), off {:.2} µs (+{:.0} %)   target ≤ 2 µs: {}",
            on.cpu_per_event(),
            on.writer_cpu_per_event(),
            off.cpu_per_event(),
            100.0 * (on.cpu_per_event() / off.cpu_per_event() - 1.0),
            verdict(on.cpu_per_event() <= 2.0)
        );
        let p99 = percentile(&on.lags, 0.99);
        println!(
            "    store lag (/api/stats every 250 ms)      p50 {:.2} s p99 {:.2} s max {:.2} s ({} samples); caught up {} after the stream{}   target p99 ≤ 2 s: {}",
            percentile(&on.lags, 0.5),
            p99,
            percentile(&on.lags, 1.0),
            on.lags.len(),
            on.caught_up
                .map_or("not within 120 s".into(), |s| format!("{s:.1} s")),
            on.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}")),
            verdict(p99 <= 2.0)
        );
    }
    for r in &f.restarts {
        println!(
            "    restart → Tasks page 200                 {} : {:.2} s{}",
            r.what,
            r.to_page,
            if r.opened_ms.is_some() {
                format!("   target ≤ 1 s: {}", verdict(r.to_page <= 1.0))
            } else {
                String::new()
            }
        );
    }
    if f.large_tasks > 0 {
        println!(
            "    history of {} tasks                   written through server::store at {} rows/s; {:.0} B on disk per task",
            group(f.large_tasks as f64),
            group(f.build_rate),
            f.large_bytes as f64 / f.large_tasks as f64
        );
    }
    for p in &f.pages {
        println!(
            "    /api/tasks{} @{}   p50 {:.2} ms p99 {:.2} ms   target p99 ≤ {:.0} ms: {}",
            p.query,
            group(f.large_tasks as f64),
            p.p50,
            p.p99,
            p.target_ms,
            verdict(p.p99 <= p.target_ms)
        );
    }
    if let Some(e) = &f.export {
        let growth = e.rss_peak.saturating_sub(e.rss_before);
        println!(
            "    CSV export of the newest {} @{}   {} rows/s ({} MB); RSS {} MB before, {} MB at most (+{} MB)   target RSS growth ≤ {} MB: {}",
            group(e.rows as f64),
            group(f.large_tasks as f64),
            group(e.rows as f64 / e.secs),
            e.bytes >> 20,
            e.rss_before >> 20,
            e.rss_peak >> 20,
            growth >> 20,
            EXPORT_RSS_GROWTH >> 20,
            verdict(growth <= EXPORT_RSS_GROWTH)
        );
    }
    if let Some(s) = &f.same_tasks {
        let ours = s.celadon as f64 / s.tasks as f64;
        match s.flower {
            Some(theirs) => {
                let theirs = theirs as f64 / s.tasks as f64;
                println!(
                    "    bytes on disk per task, same {} tasks  celadon {ours:.0} B, Flower --persistent {theirs:.0} B ({:.2}×)   target ≤ ⅓ of Flower's: {}",
                    group(s.tasks as f64),
                    ours / theirs,
                    verdict(ours * 3.0 <= theirs)
                );
            }
            None => println!(
                "    bytes on disk per task, {} tasks       celadon {ours:.0} B (Flower's file not measured)",
                group(s.tasks as f64)
            ),
        }
    }
    if let Some(s) = &f.same_tasks {
        let parts: Vec<String> = s
            .breakdown
            .iter()
            .map(|(name, b)| format!("{name} {b:.0}"))
            .collect();
        println!(
            "    celadon's bytes per task by table and index (dbstat): {}",
            parts.join(", ")
        );
    }
    for s in &f.skipped {
        println!("    not measured: {s}");
    }
}
