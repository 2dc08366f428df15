//! One started process. [`Proc`] spawns a child in its own process group
//! with its output in `<name>.log` in the [`Scratch`] directory, waits for
//! it to be ready with a deadline, reports its log's tail when something
//! fails, and kills the whole group on drop, so that nothing the tests or
//! the benchmark started outlives them (a Celery worker's pool children
//! included). What /proc says about it (CPU seconds, RSS) is read here too.

use std::{
    fs::OpenOptions,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use nix::{
    sys::signal::{Signal, kill, killpg},
    unistd::{Pid, SysconfVar, sysconf},
};

use crate::{Scratch, poll};

/// Lines of a log shown in a failure report.
pub const TAIL_LINES: usize = 30;

/// A started process and its log; its group is killed on drop.
pub struct Proc {
    name: String,
    child: Child,
    pid: Pid,
    log: PathBuf,
    /// Set once this process has been waited for: from then on its pid
    /// (and so its group id) may belong to someone else's process, and no
    /// signal may be sent to it.
    exited: Option<ExitStatus>,
    /// Keeps the directory, and the log in it, for as long as the process.
    _scratch: Scratch,
}

impl Proc {
    /// Spawns `command` as `name` in a new process group, stdin closed,
    /// stdout and stderr into `<name>.log` in `scratch`. Two processes of
    /// the same name in one scratch directory are refused rather than made
    /// to share a log.
    pub fn spawn(name: &str, command: &mut Command, scratch: &Scratch) -> anyhow::Result<Proc> {
        let log = scratch.path().join(format!("{name}.log"));
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&log)
            .with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        let pid = Pid::from_raw(i32::try_from(child.id()).context("a pid beyond i32")?);
        Ok(Proc {
            name: name.to_string(),
            child,
            pid,
            log,
            exited: None,
            _scratch: scratch.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process's id; a process that exec'd keeps it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last [`TAIL_LINES`] lines of the log, headed by the name.
    pub fn tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        format!("--- {} log ---\n{}", self.name, lines[from..].join("\n"))
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        Ok(self.exited)
    }

    /// Polls `probe` until it gives `Some` (the process is ready), failing
    /// early if the process exits and late after `deadline`; either error
    /// ends with the log's tail.
    pub fn ready<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut probe: impl FnMut(&Proc) -> Option<T>,
    ) -> anyhow::Result<T> {
        let waited = poll::until(what, deadline, || {
            if let Some(status) = self.exit_status()? {
                bail!("{} exited ({status})", self.name);
            }
            Ok(probe(self))
        });
        waited.with_context(|| format!("{} did not start\n{}", self.name, self.tail()))
    }

    /// Sends `signal` to the process itself (not its group: a Celery worker
    /// stops its own pool children on SIGTERM) and waits up to `deadline`
    /// for it to exit.
    pub async fn stop(&mut self, signal: Signal, deadline: Duration) -> anyhow::Result<()> {
        if self.exit_status()?.is_none() {
            kill(self.pid, signal)?;
        }
        let what = format!("{} to exit on {signal}", self.name);
        let waited = poll::until_async(&what, deadline, || std::future::ready(self.exit_status()))
            .await
            .map(drop);
        waited.with_context(|| self.tail())
    }

    /// As [`Proc::stop`], blocking the thread: for a `Drop` that stops
    /// its part gracefully before the group is killed.
    pub fn stop_blocking(&mut self, signal: Signal, deadline: Duration) -> anyhow::Result<()> {
        if self.exit_status()?.is_none() {
            kill(self.pid, signal)?;
        }
        let what = format!("{} to exit on {signal}", self.name);
        let waited = poll::until(&what, deadline, || self.exit_status()).map(drop);
        waited.with_context(|| self.tail())
    }

    /// User and system CPU seconds the process has used so far; read while
    /// it runs (0 if /proc has no such process).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the parenthesised command name, which may contain
        // spaces; utime and stime are the 12th and 13th of those.
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
            .sum();
        let hz = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
        ticks / hz
    }

    /// Resident set size in bytes; read while it runs (0 if /proc has no
    /// such process).
    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for Proc {
    #[expect(
        clippy::print_stderr,
        reason = "a failing test's report: the log of what it started"
    )]
    fn drop(&mut self) {
        // Only while the leader has not been waited for is its pid still
        // ours; it may have exited and left children in the group.
        if self.exited.is_none() {
            let _ = killpg(self.pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.tail());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    /// Running, as opposed to gone or a zombie (whose reaping is up to
    /// whoever the container made its init).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[test]
    fn drop_kills_the_whole_group_including_children() {
        let scratch = Scratch::new().unwrap();
        let mut proc =
            Proc::spawn("parent", &mut sh("sleep 600 & echo $!; wait"), &scratch).unwrap();
        let child: i32 = proc
            .ready("the child's pid", Duration::from_secs(10), |p| {
                p.log().trim().parse().ok()
            })
            .unwrap();
        assert!(alive(child));
        drop(proc);
        // SIGKILL is delivered asynchronously.
        poll::until("the child to be gone", Duration::from_secs(10), || {
            Ok((!alive(child)).then_some(()))
        })
        .unwrap();
    }

    #[test]
    fn a_process_that_exits_fails_its_readiness_wait_with_its_log() {
        let scratch = Scratch::new().unwrap();
        let mut proc = Proc::spawn("quitter", &mut sh("echo bad flag; exit 3"), &scratch).unwrap();
        let error = proc
            .ready("never", Duration::from_secs(60), |_| None::<()>)
            .unwrap_err();
        let report = format!("{error:#}");
        assert!(
            report.contains("quitter exited (exit status: 3)"),
            "{report}"
        );
        assert!(report.contains("--- quitter log ---\nbad flag"), "{report}");
    }

    #[test]
    fn the_log_survives_the_scratch_owner_until_the_process_is_gone() {
        let scratch = Scratch::new().unwrap();
        let dir = scratch.path().to_path_buf();
        let proc = Proc::spawn("keeper", &mut sh("echo kept; sleep 600"), &scratch).unwrap();
        drop(scratch);
        assert!(dir.is_dir());
        drop(proc);
        assert!(!dir.exists());
    }

    #[test]
    fn reads_cpu_and_rss_from_proc() {
        let scratch = Scratch::new().unwrap();
        let mut proc = Proc::spawn("busy", &mut sh("while :; do :; done"), &scratch).unwrap();
        let cpu = proc
            .ready("some CPU time", Duration::from_secs(20), |p| {
                Some(p.cpu_seconds()).filter(|s| *s > 0.0)
            })
            .unwrap();
        assert!(cpu > 0.0);
        assert!(proc.rss_bytes() > 0);
    }
}
