//! Flower 2.2 from the venv (scripts/setup installs it), on a free port of
//! 127.0.0.1, with its API open: what celadon is compared with, side by
//! side in the agreement test and the benchmark. Ready once it listens and
//! its event receiver has subscribed.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nix::sys::signal::Signal;

use crate::{Proc, Redis, Scratch, free_port, repo_root, venv};

/// How long Flower may take to listen and subscribe.
pub const FLOWER_START: Duration = Duration::from_secs(30);

/// How to start Flower.
#[derive(Clone, Debug)]
pub struct FlowerOptions {
    /// The venv Flower is installed in.
    pub venv: PathBuf,
    /// `--max_tasks`: how many tasks it keeps.
    pub max_tasks: u64,
    /// `--enable_events`: whether it asks workers to send events.
    pub enable_events: bool,
    /// `--persistent=True --db=PATH`: the shelve file it loads at start
    /// and saves its state to at shutdown; `None` keeps nothing.
    pub db: Option<PathBuf>,
}

impl Default for FlowerOptions {
    fn default() -> Self {
        FlowerOptions {
            venv: venv(),
            max_tasks: 1_000_000,
            enable_events: true,
            db: None,
        }
    }
}

/// A running Flower and its port.
pub struct Flower {
    proc: Proc,
    port: u16,
}

impl Flower {
    /// Whether Flower is installed in `venv`.
    pub fn installed(venv: &Path) -> bool {
        venv.join("bin/celery").exists()
            && Command::new(venv.join("bin/python"))
                .args(["-c", "import flower"])
                .output()
                .is_ok_and(|o| o.status.success())
    }

    /// Starts Flower on `redis` and waits until it listens and receives
    /// events.
    pub fn start(
        redis: &Redis,
        scratch: &Scratch,
        options: &FlowerOptions,
    ) -> anyhow::Result<Flower> {
        // Subscribers already there (a celadon): Flower's event receiver
        // is one more client subscribed by pattern.
        let mut conn = redis.connection()?;
        let before = pattern_subscribers(&mut conn)?;
        // Flower runs in pytasks/: a venv given relative to the caller's
        // directory would be looked up from there.
        let celery = std::path::absolute(options.venv.join("bin/celery"))?;
        let port = free_port()?;
        let enable_events = if options.enable_events {
            "True"
        } else {
            "False"
        };
        let mut command = Command::new(celery);
        command
            .arg(format!("--broker={}", redis.kombu_url()))
            .arg("flower")
            .arg(format!("--port={port}"))
            .arg("--address=127.0.0.1")
            .arg(format!("--max_tasks={}", options.max_tasks))
            .arg(format!("--enable_events={enable_events}"))
            .env("FLOWER_UNAUTHENTICATED_API", "true")
            .current_dir(repo_root().join("pytasks"));
        if let Some(db) = &options.db {
            command
                .arg("--persistent=True")
                .arg(format!("--db={}", std::path::absolute(db)?.display()));
        }
        let mut proc = Proc::spawn("flower", &mut command, scratch)?;
        proc.ready("Flower to listen", FLOWER_START, |_| {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        // Flower subscribes from a thread of its own after it listens.
        proc.ready("Flower to subscribe to events", FLOWER_START, |_| {
            pattern_subscribers(&mut conn).ok().filter(|n| *n > before)
        })?;
        Ok(Flower { proc, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it as an operator would (SIGTERM: with `--persistent` it
    /// saves its state) and waits up to `deadline` for it to exit.
    pub async fn stop(&mut self, deadline: Duration) -> anyhow::Result<()> {
        self.proc.stop(Signal::SIGTERM, deadline).await
    }
}

/// Clients subscribed by pattern, as Celery's event receivers are. Not
/// `PUBSUB NUMPAT`: that counts distinct patterns, and celadon's pattern
/// is the same as Flower's.
fn pattern_subscribers(conn: &mut ::redis::Connection) -> anyhow::Result<usize> {
    let clients: String = ::redis::cmd("CLIENT").arg("LIST").query(conn)?;
    Ok(clients
        .lines()
        .filter(|client| {
            client
                .split(' ')
                .any(|field| field.starts_with("psub=") && field != "psub=0")
        })
        .count())
}
