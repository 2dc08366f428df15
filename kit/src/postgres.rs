//! A private PostgreSQL 15 from Debian's packages (scripts/setup installs
//! `postgresql`; its programs are in [`BIN`], not on PATH), started as
//! `shared/design/REAL-PARTS.md` §5 says: a cluster made by `initdb` in a
//! temporary directory of its own, the server in the foreground (its
//! process group the kit's to kill) on a unix socket in that directory and
//! on a free port of 127.0.0.1, trusting local logins as `postgres`, with
//! nothing synced to disk; ready once `pg_isready` says so; stopped with
//! SIGINT (fast shutdown) on drop, then killed if it lingers.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, initdb
//! and the server run as the `postgres` user (`setpriv`, which execs, so
//! the [`Proc`] is the server itself), in a directory owned by that user:
//! the [`Scratch`] directory is root's, mode 0700, which `postgres` cannot
//! enter. The server's log still goes to the scratch directory (root opens
//! it before the exec).
//!
//! One server serves many tests: [`Postgres::database`] creates a fresh
//! database and gives its URL, and [`Postgres::shared`] hands every test
//! of a binary the same server while any of them holds it.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use anyhow::{Context, bail, ensure};
use nix::{
    sys::signal::Signal,
    unistd::{Uid, User, chown, geteuid},
};

use crate::{Proc, Scratch, free_port};

/// Debian's PostgreSQL 15 programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long `initdb` and the server's start may take on a busy machine.
pub const POSTGRES_START: Duration = Duration::from_secs(60);

/// How long a fast shutdown may take before the group is killed.
const POSTGRES_STOP: Duration = Duration::from_secs(10);

/// The superuser initdb creates, which every login uses (trust: no
/// password).
pub const SUPERUSER: &str = "postgres";

/// The unix user the cluster runs as when the tests run as root.
const RUN_AS: &str = "postgres";

/// A running PostgreSQL.
pub struct Postgres {
    proc: Proc,
    port: u16,
    /// The cluster's own directory (data and socket); removed after the
    /// server has stopped.
    home: Option<tempfile::TempDir>,
    /// Who runs the programs (`None`: the current user).
    run_as: Option<User>,
    /// Times [`Postgres::restart`] started it again.
    restarts: u32,
}

impl Postgres {
    /// Whether Debian's PostgreSQL 15 is installed.
    pub fn installed() -> bool {
        Path::new(BIN).join("postgres").exists()
    }

    /// The server every caller shares while any of them holds it: started
    /// by the first, stopped when the last lets go (the next caller starts
    /// another). Tests of one binary that overlap share one server, each
    /// with databases of its own ([`Postgres::database`]).
    pub fn shared() -> anyhow::Result<Arc<Postgres>> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .map_err(|_| anyhow::anyhow!("a test panicked while starting PostgreSQL"))?;
        if let Some(running) = slot.upgrade() {
            return Ok(running);
        }
        let scratch = Scratch::new()?;
        let started = Arc::new(Postgres::start(&scratch)?);
        *slot = Arc::downgrade(&started);
        Ok(started)
    }

    /// Makes a cluster in a directory of its own, starts the server with
    /// its log in `scratch`, and waits until it accepts connections.
    pub fn start(scratch: &Scratch) -> anyhow::Result<Postgres> {
        ensure!(
            Postgres::installed(),
            "{BIN}/postgres is missing: scripts/setup installs Debian's postgresql"
        );
        let run_as = if geteuid().is_root() {
            Some(
                User::from_name(RUN_AS)?
                    .with_context(|| format!("no user {RUN_AS} (Debian's postgresql makes it)"))?,
            )
        } else {
            None
        };
        let home = tempfile::Builder::new()
            .prefix("celadon-postgres.")
            .tempdir()
            .context("a directory for PostgreSQL")?;
        if let Some(user) = &run_as {
            chown(home.path(), Some(user.uid), Some(user.gid))
                .with_context(|| format!("giving {} to {RUN_AS}", home.path().display()))?;
        }
        let data = home.path().join("data");
        let initdb = as_user(run_as.as_ref(), "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"])
            .output()
            .context("running initdb")?;
        ensure!(
            initdb.status.success(),
            "initdb failed ({}):\n{}",
            initdb.status,
            text(&initdb)
        );
        let port = free_port()?;
        let proc = serve("postgres", run_as.as_ref(), home.path(), port, scratch)?;
        Ok(Postgres {
            proc,
            port,
            home: Some(home),
            run_as,
            restarts: 0,
        })
    }

    /// Stops the server (a fast shutdown: every session is ended), as an
    /// operator or a crash would; [`Postgres::restart`] brings it back.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.proc.stop(Signal::SIGINT, POSTGRES_STOP).await
    }

    /// Starts the server again on the same data, socket and port (after
    /// [`Postgres::stop`]), logging to `postgres-<n>.log` in `scratch`.
    pub fn restart(&mut self, scratch: &Scratch) -> anyhow::Result<()> {
        ensure!(
            self.proc.exit_status()?.is_some(),
            "PostgreSQL is running: stop it first"
        );
        let home = self
            .home
            .as_ref()
            .context("PostgreSQL's directory is gone")?
            .path()
            .to_path_buf();
        self.restarts += 1;
        let name = format!("postgres-{}", self.restarts);
        self.proc = serve(&name, self.run_as.as_ref(), &home, self.port, scratch)?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.home.as_ref().map(tempfile::TempDir::path)
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// The URL of database `name` over TCP, as tokio-postgres, psycopg2
    /// and SQLAlchemy (after `db+`) take it.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (letters, digits and `_`; it must not
    /// exist yet) and gives its [`url`](Postgres::url).
    pub fn database(&self, name: &str) -> anyhow::Result<String> {
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "a database name of lowercase letters, digits and _, not {name:?}"
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }

    /// Runs `sql` in database `db` with psql, stopping at the first
    /// error; gives what psql printed (unaligned, tuples only).
    pub fn sql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(Path::new(BIN).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", db, "-c", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!(
                "psql -c {sql:?} failed ({}):\n{}\n{}",
                out.status,
                text(&out),
                self.proc.tail()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The user the server runs as, if not the current one.
    pub fn run_as(&self) -> Option<Uid> {
        self.run_as.as_ref().map(|u| u.uid)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is a fast shutdown; SIGTERM would wait for every client.
        // Whatever still runs after it is killed with the group when the
        // Proc drops.
        let _ = self.proc.stop_blocking(Signal::SIGINT, POSTGRES_STOP);
        if let Some(home) = self.home.take() {
            let _ = home.close();
        }
    }
}

/// The server on the cluster in `home`, as `name`, ready.
fn serve(
    name: &str,
    run_as: Option<&User>,
    home: &Path,
    port: u16,
    scratch: &Scratch,
) -> anyhow::Result<Proc> {
    let mut proc = Proc::spawn(
        name,
        as_user(run_as, "postgres")
            .arg("-D")
            .arg(home.join("data"))
            .arg("-k")
            .arg(home)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"]),
        scratch,
    )?;
    proc.ready("PostgreSQL to accept connections", POSTGRES_START, |_| {
        Command::new(Path::new(BIN).join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", SUPERUSER])
            .status()
            .ok()
            .filter(|s| s.success())
    })?;
    Ok(proc)
}

/// `program` from [`BIN`], run as `user` when given.
fn as_user(user: Option<&User>, program: &str) -> Command {
    let path: PathBuf = Path::new(BIN).join(program);
    match user {
        None => Command::new(path),
        Some(user) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(path)
                // initdb and the server look for their files from the
                // current directory, which must be theirs to enter.
                .current_dir("/");
            command
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_created_and_answers_and_the_server_goes_with_its_value() {
        let scratch = Scratch::new().unwrap();
        let pg = Postgres::start(&scratch).unwrap();
        let url = pg.database("kit_check").unwrap();
        assert_eq!(
            url,
            format!("postgresql://postgres@127.0.0.1:{}/kit_check", pg.port())
        );
        assert_eq!(pg.sql("kit_check", "SELECT 40 + 2").unwrap(), "42");
        assert!(pg.database("Bad-Name").is_err());
        assert!(pg.database("kit_check").is_err(), "it exists already");
        let home = pg.socket_dir().unwrap().to_path_buf();
        assert!(home.join(format!(".s.PGSQL.{}", pg.port())).exists());
        let pid = pg.proc().pid();
        drop(pg);
        assert!(!home.exists(), "its directory is removed");
        // Waited for by its Proc: not even a zombie is left.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the server is gone"
        );
    }

    #[test]
    fn overlapping_holders_share_one_server() {
        let a = Postgres::shared().unwrap();
        let b = Postgres::shared().unwrap();
        assert_eq!(a.port(), b.port());
        drop(a);
        assert_eq!(b.sql("postgres", "SELECT 1").unwrap(), "1");
    }
}
