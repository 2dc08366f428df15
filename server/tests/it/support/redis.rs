//! A private `redis-server` on a unix socket in a temp dir (no TCP port),
//! killed on drop.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use server::broker::url::BrokerUrl;

pub struct Redis {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Redis {
    /// Starts redis-server with its socket at `dir/redis.sock`.
    pub fn start_in(dir: &Path) -> Redis {
        let socket = dir.join("redis.sock");
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup installs it)");
        let redis = Redis { child, socket, log };
        redis.wait_ready();
        redis
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("unix://{}", self.socket.display());
        loop {
            let pong = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start:\n{}",
                super::tail(&self.log, 20)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker URL celadon takes.
    pub fn broker_url(&self) -> BrokerUrl {
        broker_url_at(&self.socket)
    }

    /// The broker URL Celery (kombu) takes.
    pub fn kombu_url(&self) -> String {
        format!("redis+socket://{}", self.socket.display())
    }

    /// The result backend Celery takes: db 1 of the same server.
    pub fn kombu_backend_url(&self) -> String {
        format!("redis+socket://{}?virtual_host=1", self.socket.display())
    }

    /// The result backend celadon takes.
    pub fn backend_url(&self) -> BrokerUrl {
        BrokerUrl::parse(&format!("unix://{}?db=1", self.socket.display()))
            .expect("valid socket URL")
    }

    /// A synchronous connection for poking at the broker directly.
    pub fn connection(&self) -> redis::Connection {
        self.connection_to(0)
    }

    pub fn connection_to(&self, db: u32) -> redis::Connection {
        redis::Client::open(format!("unix://{}?db={db}", self.socket.display()).as_str())
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis")
    }
}

/// celadon's URL for a socket that may not exist yet.
pub fn broker_url_at(socket: &Path) -> BrokerUrl {
    BrokerUrl::parse(&format!("unix://{}?db=0", socket.display())).expect("valid socket URL")
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- redis log ---\n{}", super::tail(&self.log, 30));
        }
    }
}
