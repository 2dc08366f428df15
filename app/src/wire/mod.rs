//! The wire vocabulary between the server and the browser: the only serde
//! types of the UI. Every type here is a compatibility promise between a
//! running server and the wasm bundle it serves, so fields are added, not
//! renamed. The server converts its model into these types explicitly.

pub mod alerts;
pub mod audit;
mod broker;
pub mod celery;
pub mod control;
mod graphs;
// The queue browser (issue 21).
pub mod queues;
pub mod rest;
pub mod session;
mod tasks;
mod workers;

// Webhook notifications (issue 21).
pub mod notify;

pub use broker::{BrokerData, QueueRow};
pub use graphs::{GraphsData, GraphsQuery, OutcomeSeries, QueueDepth, TypeRow, WINDOWS};
pub use tasks::{
    COLUMNS, DEFAULT_COLUMNS, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, TaskDetail, TaskRow, TasksData,
    TasksQuery, TimelineEntry,
};
pub use workers::{Cluster, Inspection, WorkerData};

use serde::{Deserialize, Serialize};

/// What a browser tab is looking at. The server sends a tab only what its
/// view needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum View {
    /// The Workers page (`/`).
    Workers,
    /// One worker (`/worker/<name>`).
    Worker { name: String },
    /// A page of tasks (`/tasks?…`).
    Tasks { query: TasksQuery },
    /// One task (`/task/<id>`).
    Task { id: String },
    /// Every queue (`/broker`).
    Broker,
    /// The charts (`/graphs?…`).
    Graphs { query: GraphsQuery },
}

/// Browser → server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Start (or restart) streaming `view`: the server answers with a
    /// [`ServerMsg::Snapshot`], then deltas. Sending it again is a resync.
    Subscribe { view: View },
}

/// Server → browser.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The whole of what the view shows. Starts a sequence at `seq`.
    Snapshot { seq: u64, snapshot: Box<Snapshot> },
    /// Changes since the message with `seq - 1`. A browser that sees a gap
    /// resubscribes.
    Delta { seq: u64, delta: Delta },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub broker: BrokerStatus,
    pub data: ViewData,
    /// Whether the UI offers control actions (false with `--read-only`).
    pub controls: bool,
    /// `--natural-time`: times read as "3 min ago" unless this browser
    /// chose otherwise.
    pub natural_time: bool,
    /// Whether history is being written; `None` with `--persistent=false`.
    #[serde(default)]
    pub history: Option<HistoryHealth>,
    /// The alerts firing now, for every page's banner; `None` from a
    /// server without alerts.
    #[serde(default)]
    pub alerts: Option<alerts::FiringNow>,
}

/// Whether history is being kept, as every page shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HistoryHealth {
    /// History is open and the last write succeeded.
    pub writing: bool,
    /// Why not, in a sentence (the file, and what went wrong).
    pub problem: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Delta {
    /// Present when the broker connection changed.
    pub broker: Option<BrokerStatus>,
    /// Present when whether history is written changed (boxed, as the
    /// alerts are: a delta stays small enough to pass by value).
    #[serde(default)]
    pub history: Option<Box<HistoryHealth>>,
    /// Present when the alerts firing changed (boxed: most deltas have
    /// none).
    #[serde(default)]
    pub alerts: Option<Box<alerts::FiringNow>>,
    pub patch: Option<ViewPatch>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum ViewData {
    Workers {
        workers: Vec<WorkerRow>,
        cluster: Cluster,
    },
    Worker(WorkerData),
    Tasks(TasksData),
    Task {
        id: String,
        task: Option<Box<TaskDetail>>,
    },
    Broker(BrokerData),
    Graphs(GraphsData),
}

impl ViewData {
    /// The view this data belongs to.
    pub fn view(&self) -> View {
        match self {
            ViewData::Workers { .. } => View::Workers,
            ViewData::Worker(w) => View::Worker {
                name: w.name.clone(),
            },
            ViewData::Tasks(t) => View::Tasks {
                query: t.query.clone(),
            },
            ViewData::Task { id, .. } => View::Task { id: id.clone() },
            ViewData::Broker(_) => View::Broker,
            ViewData::Graphs(g) => View::Graphs {
                query: g.query.clone(),
            },
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "patch", rename_all = "snake_case")]
pub enum ViewPatch {
    /// Rows to insert or replace (by hostname), and hostnames to drop.
    Workers {
        upsert: Vec<WorkerRow>,
        remove: Vec<String>,
        cluster: Option<Cluster>,
    },
    /// The page's rows in order, by id; `upsert` holds the rows the browser
    /// does not have or that changed. Rows not in `order` are dropped.
    Tasks {
        order: Vec<String>,
        upsert: Vec<TaskRow>,
        filtered: u64,
        total: u64,
        states: Vec<(String, u64)>,
    },
    /// The view's data, whole: for views that are small.
    Replace(Box<ViewData>),
}

/// The dashboard's connection to the Celery broker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BrokerStatus {
    pub state: BrokerState,
    /// The broker URL with any password masked.
    pub url: String,
    /// Why the broker is unreachable, when it is.
    pub detail: Option<String>,
    /// Unix seconds (server clock) when `state` last changed.
    pub since: f64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    /// Not connected yet since the server started.
    Connecting,
    /// Subscribed to the event channels.
    Connected,
    /// The last attempt failed or the connection dropped; retrying.
    Unreachable,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    Online,
    Offline,
}

/// One worker as the Workers page shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WorkerRow {
    pub hostname: String,
    pub status: WorkerStatus,
    /// Tasks executing now, from the last full heartbeat.
    pub active: Option<u64>,
    /// Tasks completed since the worker started, from the last full heartbeat.
    pub processed: Option<u64>,
    /// 1, 5 and 15 minute load averages.
    pub loadavg: Option<[f64; 3]>,
    /// Software: `py-celery 5.7.0 (Linux)`.
    pub sw_ident: Option<String>,
    pub sw_ver: Option<String>,
    pub sw_sys: Option<String>,
    pub pid: Option<u32>,
    /// Heartbeat interval in seconds.
    pub freq: Option<f64>,
    /// Task events this worker sent since celadon started, by outcome.
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    /// Tasks it started in the last minute, per second.
    pub rate: f64,
    /// Unix seconds (server clock) of the last heartbeat received.
    pub last_heartbeat: Option<f64>,
    /// Changes whenever any other field changes; lets the browser keep a
    /// row's DOM when nothing in it changed.
    pub rev: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_have_a_stable_json_form() {
        let msg = ClientMsg::Subscribe {
            view: View::Workers,
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(json, r#"{"type":"subscribe","view":{"page":"workers"}}"#);
        let back: ClientMsg = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }
}
