//! The under-load stage: the Tasks page in Debian's Chromium while a
//! steady stream flows. It reports the main thread's long tasks (Chromium's
//! Long Tasks API) and how long a task takes from its PUBLISH to the page.
//!
//! The page is the Tasks page sorted by name, descending, so that probe
//! tasks named `zzz.probe.NNNN` (published every [`PROBE_EVERY`]) land at
//! the top of page 1 while the stream's `tasks.*` rows churn below them and
//! the totals change every update. `end2end/under-load.mjs` records when
//! each probe's name enters the DOM, in the same system clock the probes
//! are stamped with here.

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::generator::{self, Spec, Templates};

/// How often a probe task is published while recording.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// Stream before recording starts, so the page is under load already.
const WARM_UP: Duration = Duration::from_secs(3);
/// How long a probe may take to show before the stage gives up on it.
const GRACE: Duration = Duration::from_secs(2);
/// Browser start-up and hydration.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What the stage measured.
pub struct UiFigures {
    /// The stream's rate as published, events/s.
    pub rate: f64,
    pub window: Duration,
    /// Durations of the main thread's long tasks (all over 50 ms), in ms.
    pub long_tasks: Vec<f64>,
    /// Publish → in the DOM, in ms, one per probe that showed.
    pub latencies: Vec<f64>,
    pub probes: usize,
    /// DOM updates while recording: the page was live, not idle.
    pub updates: u64,
    /// Whether a deliberate 150 ms task was seen as a long task.
    pub calibrated: bool,
}

impl UiFigures {
    pub fn over(&self, ms: f64) -> usize {
        self.long_tasks.iter().filter(|d| **d > ms).count()
    }

    pub fn longest(&self) -> f64 {
        self.long_tasks.iter().copied().fold(0.0, f64::max)
    }

    /// The `q` quantile of the probes' latencies, a probe that never
    /// showed counting as infinitely late.
    pub fn latency(&self, q: f64) -> f64 {
        let mut all = self.latencies.clone();
        all.resize(self.probes.max(all.len()), f64::INFINITY);
        all.sort_by(f64::total_cmp);
        if all.is_empty() {
            return f64::INFINITY;
        }
        all[((q * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1]
    }
}

/// Whether the watcher script can run: node, and end2end's npm packages
/// (scripts/setup installs them).
pub fn available() -> bool {
    Path::new("end2end/node_modules/playwright-core").is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// The Tasks page the probes are watched on.
pub const TASKS_PAGE: &str = "/tasks?sort=-name";
/// The Graphs page, whose charts move with every update.
pub const GRAPHS_PAGE: &str = "/graphs?window=5m";

/// Runs the stage at `rate` events/s (24 per PUBLISH) with `page` open,
/// recording for `window`.
pub async fn under_load(
    celadon: &Path,
    templates: &Templates,
    spec: Spec,
    window: Duration,
    page: &str,
) -> anyhow::Result<UiFigures> {
    anyhow::ensure!(spec.rate.is_some(), "the under-load stage needs a rate");
    let first_probe = spec.first_task + (1 << 31);
    let spec = Spec {
        duration: WARM_UP + window + GRACE,
        ..spec
    };
    let plan = {
        let templates = templates.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || {
                generator::render(&templates, &spec, generator::clock_now())
            })
            .await?,
        )
    };
    let scratch = kit::Scratch::new()?;
    let redis = kit::Redis::start(&scratch)?;
    let socket = redis.socket().to_path_buf();
    let ours = crate::celadon(celadon, &redis, &scratch, 100_000)?;

    let mut watcher = tokio::process::Command::new("node")
        .arg("end2end/under-load.mjs")
        .arg(ours.url(page))
        .arg(r"zzz\.probe\.\d{4}")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting node end2end/under-load.mjs")?;
    let mut stdin = watcher.stdin.take().context("watcher stdin")?;
    let mut lines = BufReader::new(watcher.stdout.take().context("watcher stdout")?).lines();
    tokio::time::timeout(READY_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if line.trim() == "ready" {
                return Ok(());
            }
        }
        anyhow::bail!("the watcher ended before the page was live")
    })
    .await
    .context("the page did not go live")??;

    let stream = {
        let socket = socket.clone();
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<generator::Sent> {
            let client = redis::Client::open(format!("unix://{}", socket.display()).as_str())?;
            Ok(generator::publish(&mut client.get_connection()?, &plan)?)
        })
    };
    tokio::time::sleep(WARM_UP).await;
    stdin.write_all(b"start\n").await?;
    let probes = {
        let socket = socket.clone();
        let templates = templates.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, f64)>> {
            let client = redis::Client::open(format!("unix://{}", socket.display()).as_str())?;
            let mut conn = client.get_connection()?;
            let start = Instant::now();
            let mut published = Vec::new();
            for k in 0u64.. {
                // Jittered over a whole update interval, so the probes do
                // not all fall at the same moment of the page's 100 ms
                // update cycle.
                let jitter = Duration::from_millis((k * 7919) % 100);
                let due = start + PROBE_EVERY * k as u32 + jitter;
                if due >= start + window {
                    break;
                }
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let name = format!("zzz.probe.{:04}", k + 1);
                let now = generator::clock_now();
                let (channel, payload) = generator::probe(&templates, first_probe + k, &name, now);
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query::<i64>(&mut conn)?;
                published.push((name, now * 1e3));
            }
            Ok(published)
        })
        .await??
    };
    tokio::time::sleep(GRACE).await;
    stdin.write_all(b"stop\n").await?;
    let report = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("the watcher did not report")??
        .context("the watcher ended without a report")?;
    let report: serde_json::Value = serde_json::from_str(&report)?;
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), watcher.wait()).await;
    let sent = stream.await??;

    let seen: HashMap<String, f64> = report["seen"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    let latencies = probes
        .iter()
        .filter_map(|(name, at)| seen.get(name).map(|shown| shown - at))
        .collect();
    let long_tasks = report["longTasks"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    Ok(UiFigures {
        rate: sent.events as f64 / sent.elapsed.as_secs_f64().max(1e-9),
        window,
        long_tasks,
        latencies,
        probes: probes.len(),
        updates: report["updates"].as_u64().unwrap_or(0),
        calibrated: report["calibrated"].as_bool().unwrap_or(false),
    })
}
