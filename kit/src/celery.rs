//! Real Celery: workers running `pytasks/celadon_tasks.py`, and
//! `pytasks/drive.py`, which sends and revokes tasks through Celery's own
//! client, both from the venv scripts/setup creates and both pointed at a
//! kit broker ([`KombuBroker`]: [`Redis`], TLS Redis, Sentinel; broker in
//! db 0, result backend in db 1). A worker is a [`Proc`]: its pool children
//! go with it when it is killed.

use std::{path::PathBuf, process::Command, time::Duration};

use anyhow::{Context, ensure};
use nix::sys::signal::Signal;

use crate::{KombuBroker, Proc, Scratch, repo_root, venv};

/// How long a cold Python worker may take to come online on a busy
/// 2-core machine.
pub const WORKER_START: Duration = Duration::from_secs(40);

/// How long a warm shutdown may take: the worker finishes what it is
/// running and sends `worker-offline`.
pub const WORKER_STOP: Duration = Duration::from_secs(20);

/// How to start a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// `-E`: send task events. Without it the worker sends none until
    /// told to (`enable_events`).
    pub events: bool,
    pub concurrency: u32,
    /// `-Q`: queues to consume (default: celery).
    pub queues: Option<String>,
    /// The result backend Celery takes, instead of the broker's db 1: a
    /// database (`db+postgresql://…`, `db+sqlite:///…`).
    pub backend: Option<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            events: true,
            concurrency: 1,
            queues: None,
            backend: None,
        }
    }
}

/// A running `celery worker`.
pub struct Worker {
    proc: Proc,
    /// `<name>@it`, as the worker's events and celadon name it.
    pub hostname: String,
}

impl Worker {
    /// Starts `celery worker -E` named `name@it`, with the default options.
    pub fn start(
        redis: &impl KombuBroker,
        name: &str,
        scratch: &Scratch,
    ) -> anyhow::Result<Worker> {
        Worker::start_with(redis, name, scratch, &WorkerOptions::default())
    }

    /// Starts a worker named `name@it` logging to `<name>.log`; the tasks
    /// that record what they were given write it into `scratch`. It is not
    /// waited for: callers watch for it to come online within
    /// [`WORKER_START`] the way their test needs.
    pub fn start_with(
        redis: &impl KombuBroker,
        name: &str,
        scratch: &Scratch,
        options: &WorkerOptions,
    ) -> anyhow::Result<Worker> {
        let hostname = format!("{name}@it");
        let mut command = Command::new(venv_tool("celery")?);
        command.args(["-A", "celadon_tasks", "worker", "-l", "info"]);
        if options.events {
            command.arg("-E");
        }
        if let Some(queues) = &options.queues {
            command.args(["-Q", queues]);
        }
        command
            .args(["-c", &options.concurrency.to_string()])
            .args(["--without-mingle", "--without-gossip", "-n", &hostname])
            .current_dir(repo_root().join("pytasks"))
            .env("CELADON_BROKER", redis.kombu_url())
            .env(
                "CELADON_BACKEND",
                options
                    .backend
                    .clone()
                    .unwrap_or_else(|| redis.kombu_backend_url()),
            )
            .env(
                "CELADON_WORKER_EVENTS",
                if options.events { "1" } else { "0" },
            )
            .envs(redis.kombu_env())
            .env("CELADON_RECORD_DIR", scratch.path())
            .env("PYTHONUNBUFFERED", "1");
        let proc = Proc::spawn(name, &mut command, scratch)?;
        Ok(Worker { proc, hostname })
    }

    /// Warm shutdown (SIGTERM), as an operator stops a worker: it finishes
    /// and sends `worker-offline`. Waits for it to exit.
    pub async fn stop_warm(mut self) -> anyhow::Result<()> {
        self.proc.stop(Signal::SIGTERM, WORKER_STOP).await
    }

    /// Everything the worker has logged so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// SIGKILL to the whole process group: no `worker-offline` is sent.
    pub fn kill(self) {
        drop(self.proc);
    }
}

/// Runs `pytasks/drive.py` with `args` against `redis` and returns what it
/// printed, trimmed.
pub fn drive(redis: &impl KombuBroker, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(venv_tool("python")?)
        .arg(repo_root().join("pytasks/drive.py"))
        .args(args)
        .current_dir(repo_root().join("pytasks"))
        .env("CELADON_BROKER", redis.kombu_url())
        .envs(redis.kombu_env())
        .output()
        .context("running drive.py")?;
    ensure!(
        out.status.success(),
        "drive.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Sends one task (or `--count` of them) by short name; returns the ids
/// drive.py printed, one a line.
pub fn send(
    redis: &impl KombuBroker,
    name: &str,
    args: &str,
    extra: &[&str],
) -> anyhow::Result<String> {
    let mut argv = vec!["send", name, "--args", args];
    argv.extend_from_slice(extra);
    drive(redis, &argv)
}

/// `.venv/bin/<tool>`, or an error saying how to get it.
fn venv_tool(tool: &str) -> anyhow::Result<PathBuf> {
    let path = venv().join("bin").join(tool);
    ensure!(
        path.exists(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    Ok(path)
}
