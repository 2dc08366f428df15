//! The processes a benchmark run measures: its own redis-server, celadon
//! (the release binary), and Flower when it is installed in the venv; and
//! what /proc says about them.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};

pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> anyhow::Result<Proc> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc { child, log })
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are
        // the 12th and 13th of those.
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
            .sum();
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        ticks / hz
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

pub fn redis(dir: &Path) -> anyhow::Result<(Proc, PathBuf)> {
    let socket = dir.join("redis.sock");
    let proc = Proc::spawn(
        "redis",
        Command::new("redis-server")
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
            .arg(dir),
        dir,
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > deadline {
            bail!("redis-server did not start: {}", proc.log_text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    Ok((proc, socket))
}

pub struct Server {
    pub proc: Proc,
    pub base: String,
}

/// celadon on a free port, retaining up to `max_tasks` tasks.
pub fn celadon(bin: &Path, socket: &Path, dir: &Path, max_tasks: u64) -> anyhow::Result<Server> {
    let proc = Proc::spawn(
        "celadon",
        Command::new(bin)
            .arg(format!("--broker=unix://{}?db=0", socket.display()))
            .args([
                "--address=127.0.0.1",
                "--port=0",
                "--enable-events=false",
                "--max-memory=0",
            ])
            .arg(format!("--max-tasks={max_tasks}"))
            .env("NO_COLOR", "1"),
        dir,
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = proc.log_text();
        if let Some(port) = log
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        {
            if log.contains("subscribed to events") {
                return Ok(Server {
                    base: format!("http://127.0.0.1:{port}"),
                    proc,
                });
            }
        }
        if Instant::now() > deadline {
            bail!("celadon did not start: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Flower 2.2 from the venv, if it is installed there.
pub fn flower(
    venv: &Path,
    socket: &Path,
    dir: &Path,
    max_tasks: u64,
) -> anyhow::Result<Option<Server>> {
    let celery = venv.join("bin/celery");
    let installed = Command::new(venv.join("bin/python"))
        .args(["-c", "import flower"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !celery.exists() || !installed {
        return Ok(None);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let proc = Proc::spawn(
        "flower",
        Command::new(celery)
            .arg(format!("--broker=redis+socket://{}", socket.display()))
            .arg("flower")
            .arg(format!("--port={port}"))
            .args(["--address=127.0.0.1", "--enable_events=False"])
            .arg(format!("--max_tasks={max_tasks}"))
            .env("FLOWER_UNAUTHENTICATED_API", "true"),
        dir,
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("flower did not start: {}", proc.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Flower subscribes from a thread after it listens.
    std::thread::sleep(Duration::from_secs(2));
    Ok(Some(Server {
        base: format!("http://127.0.0.1:{port}"),
        proc,
    }))
}
