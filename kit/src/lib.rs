//! celadon's test kit: starts the real parts that the integration tests
//! (`server/tests/it`) and the benchmark (`bench/`) run against, and stops
//! them when dropped.
//!
//! One sibling module per kind of part: [`redis`], [`celery`] (workers and
//! `pytasks/drive.py`), [`flower`], [`celadon`] (in-process and the built
//! binary), [`nginx`] (a reverse proxy at a path prefix). They share three
//! pieces, which a new harness (TLS Redis, Sentinel, PostgreSQL,
//! Prometheus, an OpenID provider) builds on too:
//!
//! - [`Scratch`], the temporary directory one setup puts its sockets, logs
//!   and records in;
//! - [`Proc`], one started process: its own process group, its output in
//!   a log file in the scratch directory, the log's tail in failure
//!   reports, the group killed on drop;
//! - [`poll`], the one way to wait for something: a condition checked with
//!   a deadline, never a fixed sleep.
//!
//! Starting can fail, and says why: errors name what was awaited and end
//! with the log of the part that failed. The tests `expect` them; the
//! benchmark returns them.

pub mod celadon;
pub mod celery;
pub mod flower;
pub mod nginx;
pub mod poll;
pub mod proc;
pub mod redis;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;

pub use celadon::{Celadon, CeladonBinary};
pub use celery::{Worker, WorkerOptions};
pub use flower::{Flower, FlowerOptions};
pub use nginx::{Nginx, Proxying};
pub use proc::Proc;
pub use redis::Redis;

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

/// A port of 127.0.0.1 nothing listens on at the moment. Another process
/// may take it before the part started on it binds it; that part then
/// fails to start and says so.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
