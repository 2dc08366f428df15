//! Restarts: celadon over a stored history, to its Tasks page; and the
//! same tasks in Flower's `--persistent` shelve and in celadon's store.

use std::time::{Duration, Instant};

use kit::{CeladonBinary, Flower, FlowerOptions, Redis, Scratch};
use server::store::Location;

use super::{
    FLOWER_TASKS, RESTART_DEADLINE,
    report::{Restart, SameTasks},
    store::{breakdown, bytes_on_disk, flags},
};
use crate::{Bench, FAIL_EVERY, HEADLINE_RATE, generator::Spec, group};

impl Bench {
    /// celadon started over the stored history at `location`, to its
    /// Tasks page answering 200.
    pub(super) async fn restart(
        &self,
        location: &Location,
        stored: u64,
        max_tasks: u64,
    ) -> anyhow::Result<Restart> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = flags(location)?;
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
    pub(super) async fn flower_same_tasks(
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
            let mut extra = flags(&location)?;
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
                bytes_on_disk(&location)?,
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
}
