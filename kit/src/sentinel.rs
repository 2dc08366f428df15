//! Redis Sentinel: a master, a replica and three sentinels on free ports
//! of 127.0.0.1, each in its own directory of the [`Scratch`] (a sentinel
//! rewrites its configuration file, so each has its own), watching the
//! master as `mymaster`. Ready once it has settled: every sentinel names the
//! master, sees the replica and the two other sentinels, and the replica is
//! in sync; before that a failover can find no replica to promote.

use std::{process::Command, time::Duration};

use anyhow::Context;
use redis::Value;

use crate::{KombuBroker, Proc, Scratch, free_port, poll, redis::REDIS_START};

/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "mymaster";

/// How long the deployment may take to settle.
pub const SETTLE: Duration = Duration::from_secs(30);

/// How long a failover may take until every sentinel names the new
/// master.
pub const FAILOVER: Duration = Duration::from_secs(40);

/// How long the old master may take to serve as an in-sync replica of the
/// new one. Longer than Redis's `repl-timeout` (60 s): a replica whose
/// first handshake with its new master goes unanswered (seen once, in a
/// CI run on a loaded machine) waits that long before it tries again.
pub const DEMOTION: Duration = Duration::from_secs(90);

/// The running deployment.
pub struct Sentinel {
    nodes: Vec<Proc>,
    /// The ports of the two data nodes: the first starts as the master.
    pub data_ports: [u16; 2],
    pub sentinel_ports: Vec<u16>,
}

/// A synchronous connection to a node on 127.0.0.1.
fn connect(port: u16) -> anyhow::Result<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    Ok(client.get_connection_with_timeout(Duration::from_secs(1))?)
}

/// A field of `INFO replication`.
fn replication(port: u16, field: &str) -> anyhow::Result<Option<String>> {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut connect(port)?)?;
    Ok(info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }))
}

impl Sentinel {
    /// Starts the master, the replica and three sentinels, and waits until
    /// they have settled.
    pub fn start(scratch: &Scratch) -> anyhow::Result<Sentinel> {
        let data_ports = [free_port()?, free_port()?];
        let mut nodes = Vec::new();
        for (i, port) in data_ports.iter().enumerate() {
            let dir = scratch.path().join(format!("data{i}"));
            std::fs::create_dir(&dir)?;
            let mut command = Command::new("redis-server");
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // Any node may become the master: no delay before a full
                // sync on any of them.
                .args(["--repl-diskless-sync-delay", "0"])
                .arg("--dir")
                .arg(&dir);
            if i > 0 {
                command.args(["--replicaof", "127.0.0.1", &data_ports[0].to_string()]);
            }
            let mut proc =
                Proc::spawn(&format!("redis-data{i}"), &mut command, scratch).map_err(|e| {
                    e.context("redis-server must be installed (scripts/setup installs it)")
                })?;
            proc.ready("redis-server to answer PING", REDIS_START, |_| {
                connect(*port)
                    .and_then(|mut c| Ok(redis::cmd("PING").query::<String>(&mut c)?))
                    .ok()
            })?;
            nodes.push(proc);
        }
        let mut sentinel_ports = Vec::new();
        for i in 0..3 {
            let port = free_port()?;
            let dir = scratch.path().join(format!("sentinel{i}"));
            std::fs::create_dir(&dir)?;
            let conf = dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
                     sentinel resolve-hostnames no\nsentinel announce-hostnames no\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir.display(),
                    data_ports[0]
                ),
            )?;
            let proc = Proc::spawn(
                &format!("sentinel{i}"),
                Command::new("redis-server").arg(&conf).arg("--sentinel"),
                scratch,
            )?;
            nodes.push(proc);
            sentinel_ports.push(port);
        }
        let sentinel = Sentinel {
            nodes,
            data_ports,
            sentinel_ports,
        };
        poll::until("the sentinels to settle", SETTLE, || {
            Ok(sentinel.settled().unwrap_or(false).then_some(()))
        })
        .with_context(|| sentinel.tails())?;
        Ok(sentinel)
    }

    /// Whether every sentinel names the same master and sees the other
    /// data node as a healthy replica and the two other sentinels, and the
    /// master sees its replica online.
    fn settled(&self) -> anyhow::Result<bool> {
        let master = self.master_port()?;
        for port in &self.sentinel_ports {
            let mut c = connect(*port)?;
            let named: (String, String) = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(MASTER_NAME)
                .query(&mut c)?;
            if named.1 != master.to_string() {
                return Ok(false);
            }
            let replicas: Vec<Vec<String>> = redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(MASTER_NAME)
                .query(&mut c)?;
            let healthy = replicas.iter().any(|fields| {
                let flags = fields
                    .chunks(2)
                    .find(|kv| kv[0] == "flags")
                    .map(|kv| kv[1].clone())
                    .unwrap_or_default();
                !flags.contains("s_down") && !flags.contains("disconnected")
            });
            let others: Vec<Value> = redis::cmd("SENTINEL")
                .arg("SENTINELS")
                .arg(MASTER_NAME)
                .query(&mut c)?;
            if !healthy || others.len() < 2 {
                return Ok(false);
            }
        }
        Ok(replication(master, "slave0")?.is_some_and(|s| s.contains("state=online")))
    }

    /// The master's port, as the first sentinel names it.
    pub fn master_port(&self) -> anyhow::Result<u16> {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query(&mut connect(self.sentinel_ports[0])?)?;
        Ok(port)
    }

    /// `SENTINEL FAILOVER`, then waits until every sentinel names the new
    /// master and it says it is one. Returns its port. The old master is
    /// still a writable master for a while after this (until a sentinel
    /// demotes it): see [`Sentinel::await_demoted`].
    pub fn failover(&self) -> anyhow::Result<u16> {
        let old = self.master_port()?;
        let new = self
            .data_ports
            .into_iter()
            .find(|p| *p != old)
            .context("a second data node")?;
        let _: String = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER_NAME)
            .query(&mut connect(self.sentinel_ports[0])?)?;
        poll::until("the replica to be promoted", FAILOVER, || {
            for port in &self.sentinel_ports {
                let (_, named): (String, u16) = redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER_NAME)
                    .query(&mut connect(*port)?)?;
                if named != new {
                    return Ok(None);
                }
            }
            Ok((replication(new, "role")?.as_deref() == Some("master")).then_some(new))
        })
        .with_context(|| self.tails())
    }

    /// Waits until the node on `old` serves as an in-sync replica of the
    /// master on `new`: from then on nothing written to it is lost.
    pub fn await_demoted(&self, old: u16, new: u16) -> anyhow::Result<()> {
        poll::until("the old master to become a replica", DEMOTION, || {
            let role = replication(old, "role")?;
            let port = replication(old, "master_port")?;
            let link = replication(old, "master_link_status")?;
            Ok((role.as_deref() == Some("slave")
                && port == Some(new.to_string())
                && link.as_deref() == Some("up"))
            .then_some(()))
        })
        .with_context(|| self.tails())
    }

    /// kombu's URL of `db`: every sentinel, `;`-separated.
    pub fn url(&self, db: u32) -> String {
        self.sentinel_ports
            .iter()
            .map(|p| format!("sentinel://127.0.0.1:{p}/{db}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The transport options naming the master, as JSON.
    pub fn transport_options() -> String {
        format!(r#"{{"master_name": "{MASTER_NAME}"}}"#)
    }

    fn tails(&self) -> String {
        self.nodes
            .iter()
            .map(Proc::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl KombuBroker for Sentinel {
    fn kombu_url(&self) -> String {
        self.url(0)
    }

    fn kombu_backend_url(&self) -> String {
        self.url(1)
    }

    fn kombu_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "CELADON_BROKER_TRANSPORT_OPTIONS",
                Sentinel::transport_options(),
            ),
            (
                "CELADON_BACKEND_TRANSPORT_OPTIONS",
                Sentinel::transport_options(),
            ),
        ]
    }
}
