//! celadon itself, two ways: [`Celadon`] runs the library's
//! `server::run(config, listener, shutdown)` in-process on `127.0.0.1:0`
//! (the integration tests: any `Config`, a clean-shutdown check), and
//! [`CeladonBinary`] runs a built `celadon` binary as a [`Proc`] (the
//! benchmark: its own process, whose CPU and memory /proc can read).

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use anyhow::Context;
use app::base::Base;
use nix::sys::signal::Signal;
use server::{Config, broker::url::BrokerUrl};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{Proc, Redis, Scratch};

/// How long an in-process celadon may take to stop every task it started.
pub const CELADON_STOP: Duration = Duration::from_secs(10);

/// How long the binary may take to listen and subscribe to events.
pub const CELADON_START: Duration = Duration::from_secs(15);

/// celadon in-process, on a port of 127.0.0.1 the OS picked. It is not
/// waited for: the listener is bound before it returns, and the broker
/// connection is for the caller to watch.
pub struct Celadon {
    pub addr: SocketAddr,
    /// `--url-prefix`: every path is under it.
    pub base: Base,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Celadon {
    /// Starts celadon on `broker` with the default configuration, but for
    /// its API answering without a login (`FLOWER_UNAUTHENTICATED_API`):
    /// harnesses read it.
    pub async fn start(broker: BrokerUrl) -> anyhow::Result<Celadon> {
        Celadon::start_with(Celadon::config(broker)).await
    }

    /// The default configuration on `broker`, but for the API answering
    /// without a login (`FLOWER_UNAUTHENTICATED_API`), as harnesses read
    /// it: a start for [`Celadon::start_with`].
    pub fn config(broker: BrokerUrl) -> Config {
        let mut config = Config::new(broker);
        config.unauthenticated_api = true;
        config
    }

    pub async fn start_with(config: Config) -> anyhow::Result<Celadon> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        Celadon::start_on(config, listener).await
    }

    /// As [`Celadon::start_with`], on a listener the caller bound: for a
    /// part that must know celadon's address before celadon starts (an
    /// OpenID provider registers its redirect URI, and celadon's
    /// configuration names the provider).
    pub async fn start_on(
        config: Config,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Celadon> {
        let addr = listener.local_addr()?;
        let base = config.url_prefix;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Celadon {
            addr,
            base,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://<addr><path>`, `path` under the prefix.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, self.base.href(path))
    }

    /// Shuts down and checks that every task stopped, cleanly, within
    /// [`CELADON_STOP`].
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(CELADON_STOP, task)
                .await
                .with_context(|| format!("celadon did not stop within {CELADON_STOP:?}"))?
                .context("the server task panicked")?
                .context("the server did not run cleanly")?;
        }
        Ok(())
    }
}

impl Drop for Celadon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A built `celadon` binary on a port of 127.0.0.1 it picked itself.
pub struct CeladonBinary {
    proc: Proc,
    base: String,
}

impl CeladonBinary {
    /// Starts `bin` on `redis` (db 0) with extra `flags`, and waits until
    /// it logs the address it listens on and its subscription to events.
    pub fn start(
        bin: &Path,
        redis: &Redis,
        scratch: &Scratch,
        flags: &[String],
    ) -> anyhow::Result<CeladonBinary> {
        CeladonBinary::start_within(bin, redis, scratch, flags, CELADON_START)
    }

    /// As [`CeladonBinary::start`], waiting up to `deadline`: a start that
    /// reads back a large history takes longer than [`CELADON_START`].
    pub fn start_within(
        bin: &Path,
        redis: &Redis,
        scratch: &Scratch,
        flags: &[String],
        deadline: Duration,
    ) -> anyhow::Result<CeladonBinary> {
        let mut proc = Proc::spawn(
            "celadon",
            Command::new(bin)
                .arg(format!("--broker=unix://{}?db=0", redis.socket().display()))
                .args(["--address=127.0.0.1", "--port=0"])
                .args(flags)
                // Its history (`--db`'s default, relative) in the scratch dir.
                .current_dir(scratch.path())
                // Harnesses read the API without a login.
                .env("FLOWER_UNAUTHENTICATED_API", "true")
                .env("NO_COLOR", "1"),
            scratch,
        )?;
        // It logs the URL it serves at, `--url-prefix` included.
        let base = proc.ready("celadon to listen and subscribe to events", deadline, |p| {
            let log = p.log();
            let at = log
                .split("listening on ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .trim_end_matches('/')
                .to_string();
            log.contains("subscribed to events").then_some(at)
        })?;
        Ok(CeladonBinary { proc, base })
    }

    /// `http://127.0.0.1:<port><path>`, `path` under the prefix.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it as an operator would (SIGTERM: it writes what is left of
    /// its history and folds the WAL into the file) and waits up to
    /// `deadline` for it to exit.
    pub async fn stop(&mut self, deadline: Duration) -> anyhow::Result<()> {
        self.proc.stop(Signal::SIGTERM, deadline).await
    }
}
