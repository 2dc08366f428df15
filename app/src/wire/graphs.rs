//! The Graphs page's view: task outcomes over a window, runtimes and counts
//! per task type, and queue depths.

use serde::{Deserialize, Serialize};

use super::celery::TaskEventKind;

/// Windows the charts offer, by name; the first is the default.
pub const WINDOWS: [&str; 5] = ["5m", "1h", "24h", "7d", "30d"];

/// What the Graphs page shows: a window, optionally one task name or one
/// worker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GraphsQuery {
    pub window: String,
    pub task: Option<String>,
    pub worker: Option<String>,
}

impl Default for GraphsQuery {
    fn default() -> Self {
        GraphsQuery {
            window: WINDOWS[0].into(),
            task: None,
            worker: None,
        }
    }
}

/// Counts of one outcome per bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutcomeSeries {
    /// `succeeded`, `failed`, `retried`, `revoked` on the charts.
    pub outcome: TaskEventKind,
    pub counts: Vec<u32>,
}

/// One task type's row of the per-type table (and its runtime bars).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TypeRow {
    pub name: String,
    /// Tasks retained per state, `(state, count)`.
    pub states: Vec<(String, u64)>,
    pub succeeded: u64,
    pub failed: u64,
    pub success_rate: Option<f64>,
    /// Runtime percentiles in seconds.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub last_failure: Option<String>,
}

/// A queue's depth now, and its highest depth in each bucket of the
/// window (0 where it was not measured).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueDepth {
    pub name: String,
    pub depth: u64,
    pub series: Vec<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GraphsData {
    pub query: GraphsQuery,
    /// Why the query shows nothing (an unknown window, task or worker).
    pub error: Option<String>,
    pub bucket_seconds: u32,
    /// Start of the first bucket, Unix seconds.
    pub start: f64,
    pub outcomes: Vec<OutcomeSeries>,
    pub workers_online: u32,
    /// Workers online per bucket (the most seen in it).
    pub online: Vec<u32>,
    /// The p95 queue wait (task-sent → task-started, ETA tasks left out)
    /// per bucket, in seconds; `None` where no task started.
    pub wait_p95: Vec<Option<f64>>,
    pub types: Vec<TypeRow>,
    pub queues: Vec<QueueDepth>,
    /// Names to filter by.
    pub task_names: Vec<String>,
    pub worker_names: Vec<String>,
}
