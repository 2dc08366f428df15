//! The JSON shapes of the read API. They are Flower's (`Task.as_dict()`,
//! `{"task-types": [...]}`, `/api/workers`' per-worker map, …) so existing
//! API clients keep working, plus a few fields Flower does not have, always
//! added, never renamed. Both ends use these types: the server serialises
//! them, and the browser decodes the ones it reads (a bulk action's dry run
//! lists tasks in this shape, the Tasks page's history a listing).

use std::collections::BTreeMap;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};

/// One task, as Flower's `/api/task/info` and `/api/tasks` show it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Task {
    pub uuid: String,
    pub name: Option<String>,
    pub state: String,
    pub received: Option<f64>,
    pub sent: Option<f64>,
    pub started: Option<f64>,
    pub rejected: Option<f64>,
    pub succeeded: Option<f64>,
    pub failed: Option<f64>,
    pub retried: Option<f64>,
    pub revoked: Option<f64>,
    pub args: Option<String>,
    pub kwargs: Option<String>,
    pub eta: Option<String>,
    pub expires: Option<String>,
    pub retries: Option<u32>,
    pub worker: Option<String>,
    pub result: Option<String>,
    pub exception: Option<String>,
    pub timestamp: Option<f64>,
    pub runtime: Option<f64>,
    pub traceback: Option<String>,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    pub clock: u64,
    pub client: Option<String>,
    pub root: Option<String>,
    pub root_id: Option<String>,
    pub parent: Option<String>,
    pub parent_id: Option<String>,
    pub children: Vec<String>,
    /// celadon: the queue named by `task-sent`.
    pub queue: Option<String>,
    /// celadon: for revoked tasks, whether the revoke terminated it, and by
    /// which signal; or whether it had expired.
    pub terminated: Option<bool>,
    pub signum: Option<i32>,
    pub expired: Option<bool>,
    /// celadon: the task this one re-sent (a retry from celadon), and the
    /// tasks that re-sent this one.
    pub retry_of: Option<String>,
    pub retried_as: Vec<String>,
}

/// Flower's `/api/tasks`: a JSON object from each task's id to the task,
/// in the listing's order (JSON objects keep their members' order; this
/// type does too, both ways).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskListing(pub Vec<Task>);

impl Serialize for TaskListing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for task in &self.0 {
            map.serialize_entry(&task.uuid, task)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TaskListing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = TaskListing;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of tasks by id")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<TaskListing, M::Error> {
                let mut tasks = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((_id, task)) = map.next_entry::<String, Task>()? {
                    tasks.push(task);
                }
                Ok(TaskListing(tasks))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// The header of a listing across history (`/api/tasks` with a `limit`,
/// and every export) that says how much of history its search looked at.
pub const HISTORY_HEADER: &str = "x-celadon-history";

/// What [`HISTORY_HEADER`] says. Memory is always searched whole; this is
/// about the history store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryCoverage {
    /// Every stored task was considered (`exact`).
    Exact,
    /// Past memory, a search on args or kwargs found the tasks holding the
    /// search's words whole (`words`).
    Words,
    /// Only this many of the newest stored tasks were searched
    /// (`scanned=N`).
    Scanned(u64),
}

impl HistoryCoverage {
    /// Reads the header's value; `None` for one this bundle does not know.
    pub fn parse(value: &str) -> Option<HistoryCoverage> {
        match value.trim() {
            "exact" => Some(HistoryCoverage::Exact),
            "words" => Some(HistoryCoverage::Words),
            other => other
                .strip_prefix("scanned=")
                .and_then(|n| n.parse().ok())
                .map(HistoryCoverage::Scanned),
        }
    }
}

/// `/api/task/types`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TaskTypes {
    #[serde(rename = "task-types")]
    pub task_types: Vec<String>,
}

/// What a worker's events say, under `events` in `/api/workers`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WorkerEvents {
    pub status: bool,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub pid: Option<u32>,
    pub freq: f64,
    pub sw_ident: Option<String>,
    pub sw_ver: Option<String>,
    pub sw_sys: Option<String>,
    pub utcoffset: Option<f64>,
    pub last_heartbeat: Option<f64>,
    pub offline_since: Option<f64>,
    /// Task events it sent, by type (only the types it sent).
    pub task_events: BTreeMap<String, u64>,
}

/// One worker in `/api/workers`: Flower's keys (`stats`, `active_queues`,
/// `registered`, `conf`, …: each the worker's last reply to that
/// inspection) and `timestamp` (of the latest reply), plus `events`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Worker {
    #[serde(flatten)]
    pub inspected: BTreeMap<String, serde_json::Value>,
    pub timestamp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<WorkerEvents>,
}

/// Flower's `/workers?json=1`: the Workers page's table.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WorkersTable {
    pub data: Vec<WorkerInTable>,
}

/// One row of Flower's workers table: the worker's events counted by type
/// (`task-received`, `worker-heartbeat`, …), the fields of Celery's
/// `Worker`, and whether it is alive.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WorkerInTable {
    #[serde(flatten)]
    pub counter: BTreeMap<String, u64>,
    pub hostname: String,
    pub pid: Option<u32>,
    pub freq: f64,
    /// Receive times of its last signs of life, oldest first.
    pub heartbeats: Vec<f64>,
    pub clock: u64,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub sw_ident: Option<String>,
    pub sw_ver: Option<String>,
    pub sw_sys: Option<String>,
    pub status: bool,
}

/// `/api/queues/length`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct QueueLengths {
    pub active_queues: Vec<QueueLength>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct QueueLength {
    pub name: String,
    pub messages: u64,
    /// celadon: messages per priority step (0, 3, 6, 9 by default).
    pub priorities: Vec<u64>,
    /// celadon: workers consuming the queue.
    pub consumers: Vec<String>,
    /// celadon: when the depth was measured (unix seconds).
    pub measured_at: Option<f64>,
}

/// `/api/stats`: what celadon itself holds and has seen.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Stats {
    pub model: ModelStats,
    pub events: EventStats,
    pub broker_connected: bool,
    /// Times when events may have been lost (the broker connection was down).
    pub gaps: Vec<Gap>,
    /// The history store; `null` with `--persistent=false`.
    #[serde(default)]
    pub history: Option<HistoryStats>,
}

/// How the history store is doing.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HistoryStats {
    /// The file (or database) history is kept in.
    pub location: String,
    /// `writer`: this replica writes the history; `standby`: another
    /// replica sharing the database does, and this one takes over if it
    /// stops; `unknown`: the database has not been reached.
    pub role: String,
    /// The store opened: history is read and written.
    pub available: bool,
    /// The last write succeeded.
    pub writing: bool,
    /// Why history is unavailable or the last write failed.
    pub last_error: Option<String>,
    pub size_bytes: u64,
    /// Seconds since the oldest change not yet written.
    pub lag_seconds: f64,
    /// Rows per second of the last write.
    pub write_rate: f64,
    pub rows_written: u64,
    pub batches_written: u64,
    pub tasks_pruned: u64,
    pub last_write_at: Option<f64>,
    /// Changes let go unwritten because the store was too far behind.
    pub unsaved_dropped: u64,
    /// Tasks read back at start.
    pub loaded_tasks: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ModelStats {
    pub tasks: usize,
    pub workers: usize,
    pub queues: usize,
    /// Measured heap bytes of the whole model.
    pub bytes: usize,
    /// Fixed bytes per retained task, before its text.
    pub bytes_per_task_fixed: usize,
    pub max_tasks: usize,
    /// `null` when there is no byte budget.
    pub max_bytes: Option<usize>,
    pub evicted: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EventStats {
    pub by_type: BTreeMap<String, u64>,
    pub undecodable: u64,
    pub duplicates: u64,
    /// Payloads the reader dropped because ingestion fell behind.
    pub dropped: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    pub from: f64,
    pub to: Option<f64>,
}

/// One row of `/api/stats/types`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TaskTypeStats {
    pub name: String,
    /// Retained tasks by state.
    pub states: BTreeMap<String, u64>,
    /// Every task seen since start, by outcome (sent, received, started,
    /// succeeded, failed, retried, revoked, rejected).
    pub totals: BTreeMap<String, u64>,
    /// succeeded / (succeeded + failed), over all tasks seen.
    pub success_rate: Option<f64>,
    pub runtime: Runtime,
    pub last_failure: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Runtime {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// `/api/stats/throughput`: outcomes per time bucket.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Throughput {
    pub window: String,
    pub bucket_seconds: u32,
    pub task: Option<String>,
    pub worker: Option<String>,
    /// Start of each bucket, Unix seconds.
    pub times: Vec<f64>,
    /// Per outcome (`sent`, `received`, `started`, `succeeded`, `failed`,
    /// `retried`, `revoked`, `rejected`): one count per bucket.
    pub counts: BTreeMap<String, Vec<u32>>,
    pub totals: BTreeMap<String, u64>,
    /// The cluster's workers online per bucket (the most seen in it),
    /// whatever the filter.
    pub workers_online: Vec<u32>,
    /// The cluster's p95 queue wait per bucket in seconds (task-sent to
    /// task-started, ETA tasks left out); `null` where none started.
    pub wait_p95: Vec<Option<f64>>,
}

/// Every error answer of the API: `{"error": "…"}`; when workers refused a
/// command, also what each said.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ErrorAnswer {
    pub error: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replies: BTreeMap<String, super::control::WorkerReply>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> Task {
        let json = format!(
            r#"{{"uuid":"{id}","name":null,"state":"SUCCESS","received":null,"sent":null,
            "started":null,"rejected":null,"succeeded":null,"failed":null,"retried":null,
            "revoked":null,"args":"('x',)","kwargs":null,"eta":null,"expires":null,
            "retries":null,"worker":null,"result":null,"exception":null,"timestamp":1.5,
            "runtime":null,"traceback":null,"exchange":null,"routing_key":null,"clock":0,
            "client":null,"root":null,"root_id":null,"parent":null,"parent_id":null,
            "children":[],"queue":null,"terminated":null,"signum":null,"expired":null,
            "retry_of":null,"retried_as":[]}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn a_listing_keeps_the_order_of_its_members_both_ways() {
        let ids = ["z", "a", "m"];
        let listing = TaskListing(ids.iter().map(|id| task(id)).collect());
        let text = serde_json::to_string(&listing).unwrap();
        assert!(text.starts_with(r#"{"z":{"uuid":"z""#), "{text}");
        let back: TaskListing = serde_json::from_str(&text).unwrap();
        assert_eq!(back, listing);
        let read: Vec<&str> = back.0.iter().map(|t| t.uuid.as_str()).collect();
        assert_eq!(read, ids);
        assert_eq!(
            serde_json::from_str::<TaskListing>("{}").unwrap(),
            TaskListing::default()
        );
        assert!(serde_json::from_str::<TaskListing>("[]").is_err());
    }

    #[test]
    fn the_history_header_is_read_in_each_of_its_spellings() {
        assert_eq!(
            HistoryCoverage::parse("exact"),
            Some(HistoryCoverage::Exact)
        );
        assert_eq!(
            HistoryCoverage::parse("words"),
            Some(HistoryCoverage::Words)
        );
        assert_eq!(
            HistoryCoverage::parse("scanned=200000"),
            Some(HistoryCoverage::Scanned(200_000))
        );
        for unknown in ["", "scanned=", "scanned=x", "all"] {
            assert_eq!(HistoryCoverage::parse(unknown), None, "{unknown:?}");
        }
    }
}
