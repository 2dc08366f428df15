//! Real Celery workers running `pytasks/celadon_tasks.py` from the venv that
//! scripts/setup creates. Each runs in its own process group, so that a
//! kill takes its pool children too and nothing outlives the test.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use nix::{
    sys::signal::{kill, killpg, Signal},
    unistd::Pid,
};

use super::{redis::Redis, repo_root, tail};

/// How to start a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// `-E`: send task events.
    pub events: bool,
    pub concurrency: u32,
    /// `-Q`: queues to consume (default: celery).
    pub queues: Option<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            events: true,
            concurrency: 1,
            queues: None,
        }
    }
}

/// Runs `pytasks/drive.py` with `args` against the test broker and returns
/// what it printed.
pub fn drive(redis: &Redis, args: &[&str]) -> String {
    let root = repo_root();
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("pytasks/drive.py"))
        .args(args)
        .current_dir(root.join("pytasks"))
        .env("CELADON_BROKER", redis.kombu_url())
        .output()
        .expect("run drive.py");
    assert!(
        out.status.success(),
        "drive.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends one task by short name and returns its id.
pub fn send(redis: &Redis, name: &str, args: &str, extra: &[&str]) -> String {
    let mut argv = vec!["send", name, "--args", args];
    argv.extend_from_slice(extra);
    drive(redis, &argv)
}

pub struct Worker {
    child: Child,
    pub hostname: String,
    log: PathBuf,
}

impl Worker {
    /// Starts `celery worker -E` named `name@it`, logging into `dir`.
    pub fn start(redis: &Redis, name: &str, dir: &Path) -> Worker {
        Worker::start_with(redis, name, dir, &WorkerOptions::default())
    }

    pub fn start_with(redis: &Redis, name: &str, dir: &Path, options: &WorkerOptions) -> Worker {
        let root = repo_root();
        let celery = root.join(".venv/bin/celery");
        assert!(
            celery.exists(),
            "{} is missing: run scripts/setup",
            celery.display()
        );
        let hostname = format!("{name}@it");
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create the worker log");
        let err = out.try_clone().expect("clone the log handle");
        let mut command = Command::new(celery);
        command.args(["-A", "celadon_tasks", "worker", "-l", "info"]);
        if options.events {
            command.arg("-E");
        }
        if let Some(queues) = &options.queues {
            command.args(["-Q", queues]);
        }
        let child = command
            .args(["-c", &options.concurrency.to_string()])
            .args(["--without-mingle", "--without-gossip", "-n", &hostname])
            .current_dir(root.join("pytasks"))
            .env("CELADON_BROKER", redis.kombu_url())
            .env("CELADON_BACKEND", redis.kombu_backend_url())
            .env("CELADON_RECORD_DIR", dir)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start a celery worker");
        Worker {
            child,
            hostname,
            log,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"))
    }

    /// Warm shutdown (SIGTERM), as an operator stops a worker: it finishes
    /// and sends `worker-offline`. Waits for it to exit.
    pub async fn stop_warm(mut self) {
        let _ = kill(self.pid(), Signal::SIGTERM);
        for _ in 0..400 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "worker {} did not stop on SIGTERM:\n{}",
            self.hostname,
            tail(&self.log, 30)
        );
    }

    /// SIGKILL to the whole process group: no `worker-offline` is sent.
    pub fn kill(mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = killpg(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- worker {} log ---\n{}",
                self.hostname,
                tail(&self.log, 30)
            );
        }
    }
}
