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
//! tasks: the generator renders a stage's events in memory before it
//! publishes them (about 1.8 KB per task), so 10M tasks through Redis
//! would need some 18 GB here.

mod large;
mod report;
mod restart;
mod store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use kit::{CeladonBinary, Redis, Scratch};
pub use report::{Figures, print};
use report::{IngestRun, percentile, print_restart};
pub use store::Backend;
use store::{Rows, build, bytes_on_disk, flags, stored_tasks};

use crate::{Bench, HEADLINE_RATE, group};

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
pub const FLOWER_TASKS: u64 = DEFAULT_MAX_TASKS;

/// celadon's default `--max-tasks`, as Flower's.
const DEFAULT_MAX_TASKS: u64 = 100_000;

/// The PostgreSQL store's stream (the target: lossless at 50k
/// events/s with a lag p99 within 5 s).
const POSTGRES_RATE: f64 = 50_000.0;

/// Where an ingest stage's history goes.
enum Store {
    /// `--history-backend`'s store in the stage's scratch directory.
    Local,
    /// A database of the kit's PostgreSQL.
    Postgres(String),
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

impl Bench {
    /// Every history stage, in the order of the module's list.
    pub async fn history(&mut self, with_flower: bool) -> anyhow::Result<Figures> {
        let backend = self.args.history_backend;
        let mut figures = Figures {
            backend: Some(backend.name()),
            ..Figures::default()
        };
        if self.args.history_ingest_only {
            let on = self
                .history_ingest(Some(Store::Local), HEADLINE_RATE)
                .await?;
            figures.ingest = Some((None, on));
            return Ok(figures);
        }
        if !self.args.history_postgres_only {
            let off = self.history_ingest(None, HEADLINE_RATE).await?;
            let on = self
                .history_ingest(Some(Store::Local), HEADLINE_RATE)
                .await?;
            figures.ingest = Some((Some(off), on));
        }
        // The same store on PostgreSQL (Debian's, started by the kit).
        if kit::Postgres::installed() {
            let scratch = Scratch::new()?;
            let pg = kit::Postgres::start(&scratch)?;
            let url = pg.database("bench_history")?;
            let run = self
                .history_ingest(Some(Store::Postgres(url)), POSTGRES_RATE)
                .await?;
            figures.postgres_ingest = Some(run);
        } else {
            figures
                .skipped
                .push("the PostgreSQL store: PostgreSQL is not installed".into());
        }
        if self.args.history_postgres_only {
            figures.backend = Some("PostgreSQL");
            return Ok(figures);
        }

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
        let mut limits = vec![restart_tasks, DEFAULT_MAX_TASKS];
        limits.dedup();
        for max_tasks in limits {
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
        figures.large_bytes = bytes_on_disk(&location)?;
        self.history_large(&location, large, &mut figures).await?;
        Ok(figures)
    }

    /// The headline's stream at `rate` to a fresh celadon, with a store or
    /// without.
    async fn history_ingest(
        &mut self,
        store: Option<Store>,
        rate: f64,
    ) -> anyhow::Result<IngestRun> {
        let with_store = store.is_some();
        let spec = self.spec(24, Some(rate), self.args.headline_seconds, None);
        let plan = self.render(spec).await?;
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = match &store {
            Some(Store::Local) => flags(&self.args.history_backend.location(scratch.path()))?,
            Some(Store::Postgres(url)) => vec![format!("--db={url}")],
            None => vec!["--persistent=false".to_string()],
        };
        extra.extend(crate::celadon_flags(DEFAULT_MAX_TASKS));
        let mut ours = CeladonBinary::start(&self.args.celadon, &redis, &scratch, &extra)?;
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
        // What the file holds once celadon has stopped (SIGTERM: it saves
        // what is left, as a stop does): every task, in its final state.
        let stored = match &store {
            Some(Store::Local) => {
                ours.stop(Duration::from_secs(60)).await?;
                Some(stored_tasks(
                    &self.args.history_backend.location(scratch.path()),
                )?)
            }
            _ => None,
        };
        let run = IngestRun {
            kept,
            offered: sent.tasks,
            events: sent.events,
            cpu,
            writer_cpu,
            lags,
            caught_up,
            rows_written: v["history"]["rows_written"].as_u64().unwrap_or(0),
            stored,
            last_error: v["history"]["last_error"].as_str().map(str::to_string),
        };
        println!(
            "  {:.0}k ev/s for {:.0} s, store {:<4} celadon {:>7.2} % kept, {:.2} µs CPU/ev{}",
            rate / 1000.0,
            self.args.headline_seconds,
            match &store {
                Some(Store::Local) => "on",
                Some(Store::Postgres(_)) => "pg",
                None => "off",
            },
            run.kept_percent(),
            run.cpu_per_event(),
            if with_store {
                format!(
                    ", lag p50 {:.2} s p99 {:.2} s, {} rows written{}",
                    percentile(&run.lags, 0.5),
                    percentile(&run.lags, 0.99),
                    group(run.rows_written as f64),
                    run.stored.map_or(String::new(), |(all, finished)| format!(
                        "; after SIGTERM the file holds {} tasks, {} finished",
                        group(all as f64),
                        group(finished as f64)
                    ))
                )
            } else {
                String::new()
            }
        );
        Ok(run)
    }
}
