//! Flower 2.2.0 from the venv, on a free port, for side-by-side checks.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};

use super::{redis::Redis, repo_root, tail};

pub struct Flower {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Flower {
    pub fn start(redis: &Redis, dir: &Path) -> Flower {
        let port = free_port();
        let log = dir.join("flower.log");
        let out = File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        let root = repo_root();
        let child = Command::new(root.join(".venv/bin/celery"))
            .arg(format!("--broker={}", redis.kombu_url()))
            .arg("flower")
            .arg(format!("--port={port}"))
            .arg("--address=127.0.0.1")
            .arg("--max_tasks=1000000")
            .env("FLOWER_UNAUTHENTICATED_API", "true")
            .current_dir(root.join("pytasks"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start flower (scripts/setup installs it)");
        let flower = Flower { child, port, log };
        flower.wait_ready();
        flower
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("flower did not start:\n{}", tail(&self.log, 30));
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let body = reqwest::get(url)
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("flower {path}: {e}: {body}"))
    }
}

impl Drop for Flower {
    fn drop(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- flower log ---\n{}", tail(&self.log, 30));
        }
    }
}
