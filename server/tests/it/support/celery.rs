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

pub struct Worker {
    child: Child,
    pub hostname: String,
    log: PathBuf,
}

impl Worker {
    /// Starts `celery worker -E` named `name@it`, logging into `dir`.
    pub fn start(redis: &Redis, name: &str, dir: &Path) -> Worker {
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
        let child = Command::new(celery)
            .args([
                "-A",
                "celadon_tasks",
                "worker",
                "-E",
                "-c",
                "1",
                "-l",
                "info",
            ])
            .args(["--without-mingle", "--without-gossip", "-n", &hostname])
            .current_dir(root.join("pytasks"))
            .env("CELADON_BROKER", redis.kombu_url())
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
