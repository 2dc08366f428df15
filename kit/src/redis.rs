//! A private `redis-server`, as redis-rs's own test harness starts one:
//! listening only on a unix socket in the [`Scratch`] directory (no TCP
//! port to collide on: `--port 0` turns TCP off), persisting nothing
//! (`--save ''`, no AOF), ready once it answers PING, killed with its
//! process group on drop. Also the URLs each client spells it with.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use server::broker::url::BrokerUrl;

use crate::{KombuBroker, Proc, Scratch};

/// How long redis-server may take to answer PING.
pub const REDIS_START: Duration = Duration::from_secs(10);

/// The socket's name in the scratch directory.
const SOCKET: &str = "redis.sock";

/// A running redis-server and its socket.
pub struct Redis {
    proc: Proc,
    socket: PathBuf,
}

impl Redis {
    /// Starts redis-server with its socket in `scratch` and waits until it
    /// answers PING.
    pub fn start(scratch: &Scratch) -> anyhow::Result<Redis> {
        let socket = Redis::socket_in(scratch);
        let mut proc = Proc::spawn(
            "redis",
            Command::new("redis-server")
                .args(["--port", "0", "--unixsocket"])
                .arg(&socket)
                .args(["--unixsocketperm", "700"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(scratch.path()),
            scratch,
        )
        .map_err(|e| e.context("redis-server must be installed (scripts/setup installs it)"))?;
        let url = unix_url(&socket, 0);
        proc.ready("redis-server to answer PING", REDIS_START, |_| {
            ::redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| ::redis::cmd("PING").query::<String>(&mut c))
                .ok()
        })?;
        Ok(Redis { proc, socket })
    }

    /// Where a Redis started in `scratch` listens, before it is started:
    /// for a celadon that must find no broker at first.
    pub fn socket_in(scratch: &Scratch) -> PathBuf {
        scratch.path().join(SOCKET)
    }

    /// celadon's broker URL for a Redis started in `scratch` (db 0),
    /// before it is started.
    pub fn broker_url_in(scratch: &Scratch) -> BrokerUrl {
        broker_url(&Redis::socket_in(scratch), 0)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// The broker URL celadon takes: db 0.
    pub fn broker_url(&self) -> BrokerUrl {
        broker_url(&self.socket, 0)
    }

    /// The result backend celadon takes: db 1 of the same server.
    pub fn backend_url(&self) -> BrokerUrl {
        broker_url(&self.socket, 1)
    }

    /// The broker URL Celery (kombu) takes.
    pub fn kombu_url(&self) -> String {
        format!("redis+socket://{}", self.socket.display())
    }

    /// The result backend Celery takes: db 1 of the same server.
    pub fn kombu_backend_url(&self) -> String {
        format!("redis+socket://{}?virtual_host=1", self.socket.display())
    }

    /// A synchronous redis-rs connection to db 0, for poking at the broker
    /// directly.
    pub fn connection(&self) -> anyhow::Result<::redis::Connection> {
        self.connection_to(0)
    }

    pub fn connection_to(&self, db: u32) -> anyhow::Result<::redis::Connection> {
        Ok(::redis::Client::open(unix_url(&self.socket, db).as_str())?.get_connection()?)
    }
}

impl KombuBroker for Redis {
    fn kombu_url(&self) -> String {
        Redis::kombu_url(self)
    }

    fn kombu_backend_url(&self) -> String {
        Redis::kombu_backend_url(self)
    }
}

/// The `unix://` URL both redis-rs and celadon take.
fn unix_url(socket: &Path, db: u32) -> String {
    format!("unix://{}?db={db}", socket.display())
}

#[expect(
    clippy::expect_used,
    reason = "the scratch directory's socket path makes a valid unix:// URL"
)]
fn broker_url(socket: &Path, db: u32) -> BrokerUrl {
    BrokerUrl::parse(&unix_url(socket, db)).expect("a valid unix:// URL")
}
