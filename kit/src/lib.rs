//! celadon's test kit: starts the real parts that the integration tests
//! (`server/tests/it`) and the benchmark (`bench/`) run against, and stops
//! them when dropped.
//!
//! One sibling module per kind of part: [`redis`], [`redis_tls`] (Redis
//! speaking only TLS, with its certificates), [`sentinel`] (a master, a
//! replica and three sentinels), [`celery`] (workers and
//! `pytasks/drive.py`), [`flower`], [`celadon`] (in-process and the built
//! binary), [`prometheus`] (scraping one of them), [`nginx`] (a reverse
//! proxy at a path prefix), [`postgres`] (a private PostgreSQL 15, one
//! server for many tests, a fresh database each), [`oidc`] (an OpenID
//! Connect provider, the one the end-to-end tests start too), [`wheel`]
//! (the `celadon` wheel, and fresh venvs to install it in), [`webhook`]
//! (an HTTP receiver that records what celadon's webhooks send). They share
//! three pieces:
//!
//! - [`Scratch`], the temporary directory one setup puts its sockets, logs
//!   and records in;
//! - [`Proc`], one started process: its own process group, its output in
//!   a log file in the scratch directory, the log's tail in failure
//!   reports, the group killed on drop;
//! - [`poll`], the one way to wait for something: a condition checked with
//!   a deadline, never a fixed sleep;
//!
//! and a part on TCP listens on a [`free_port`] of 127.0.0.1.
//!
//! Starting can fail, and says why: errors name what was awaited and end
//! with the log of the part that failed. The tests `expect` them; the
//! benchmark returns them.

pub mod celadon;
pub mod celery;
pub mod certs;
pub mod flower;
pub mod nginx;
pub mod oidc;
pub mod poll;
pub mod postgres;
pub mod proc;
pub mod prometheus;
pub mod redis;
pub mod redis_tls;
pub mod sentinel;
pub mod wheel;
// Webhook notifications (issue 21).
pub mod webhook;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

pub use celadon::{Celadon, CeladonBinary};
pub use celery::{Worker, WorkerOptions};
pub use certs::Certs;
pub use flower::{Flower, FlowerOptions};
pub use nginx::{Nginx, Proxying};
pub use oidc::{Oidc, OidcUser};
pub use postgres::Postgres;
pub use proc::Proc;
pub use prometheus::Prometheus;
pub use redis::Redis;
pub use redis_tls::RedisTls;
pub use sentinel::Sentinel;
pub use webhook::WebhookReceiver;

/// A broker the Celery side of the kit (workers, `drive.py`) can be pointed
/// at: the URLs kombu takes, and what Celery can only read from its app's
/// configuration (`pytasks/celadon_tasks.py` reads it from the
/// environment).
pub trait KombuBroker {
    fn kombu_url(&self) -> String;
    /// The result backend: db 1 of the same deployment.
    fn kombu_backend_url(&self) -> String;
    fn kombu_env(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A TCP port of 127.0.0.1 that nothing listened on a moment ago: the OS
/// picks it, and it is let go for the part to take. (A part that fails to
/// bind it says so in its log, which its readiness wait reports.)
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).to_path_buf()
}

/// The Python venv scripts/setup creates: pinned Celery, and Flower.
pub fn venv() -> PathBuf {
    repo_root().join(".venv")
}

/// The temporary directory of one setup. Every [`Proc`] started in it
/// holds a clone, so the directory (and the logs a failure report reads)
/// is removed only after the last process in it is gone, whatever order a
/// test's values drop in.
#[derive(Clone, Debug)]
pub struct Scratch(Arc<tempfile::TempDir>);

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        Ok(Scratch(Arc::new(tempfile::TempDir::new()?)))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}
