//! Tasks on the wire: what the Tasks page asks for, its rows, and the Task
//! page's whole record.

use serde::{Deserialize, Serialize};

/// Rows per page unless the URL says otherwise.
pub const DEFAULT_PAGE_SIZE: u64 = 25;

/// The most rows one page may ask for: a page is sent whole to the browser
/// at every change, so it stays small.
pub const MAX_PAGE_SIZE: u64 = 500;

/// Flower's task columns, in Flower's order: (key, heading).
pub const COLUMNS: [(&str, &str); 17] = [
    ("name", "Name"),
    ("uuid", "UUID"),
    ("state", "State"),
    ("args", "args"),
    ("kwargs", "kwargs"),
    ("result", "Result"),
    ("received", "Received"),
    ("started", "Started"),
    ("runtime", "Runtime"),
    ("worker", "Worker"),
    ("exchange", "Exchange"),
    ("routing_key", "Routing key"),
    ("retries", "Retries"),
    ("revoked", "Revoked"),
    ("exception", "Exception"),
    ("expires", "Expires"),
    ("eta", "ETA"),
];

/// Flower's `--tasks-columns` default.
pub const DEFAULT_COLUMNS: &str = "name,uuid,state,received,runtime,worker";

/// What the Tasks page shows: the URL's query, parsed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TasksQuery {
    /// Flower 2.2 search syntax (`state:FAILURE name:add`); empty for all.
    pub search: String,
    pub state: Option<String>,
    pub worker: Option<String>,
    pub name: Option<String>,
    /// A column key, `-` first for descending.
    pub sort: String,
    pub offset: u64,
    pub limit: u64,
}

impl Default for TasksQuery {
    fn default() -> Self {
        TasksQuery {
            search: String::new(),
            state: None,
            worker: None,
            name: None,
            sort: "-received".into(),
            offset: 0,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One task as the Tasks page shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub name: Option<String>,
    pub state: String,
    pub args: Option<String>,
    pub kwargs: Option<String>,
    pub result: Option<String>,
    pub exception: Option<String>,
    /// Unix seconds (worker clocks).
    pub sent: Option<f64>,
    pub received: Option<f64>,
    pub started: Option<f64>,
    pub revoked: Option<f64>,
    pub runtime: Option<f64>,
    pub worker: Option<String>,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    pub retries: Option<u32>,
    pub expires: Option<String>,
    pub eta: Option<String>,
}

impl From<super::rest::Task> for TaskRow {
    /// A task as the read API lists it (a page of history), as a row.
    fn from(t: super::rest::Task) -> TaskRow {
        TaskRow {
            id: t.uuid,
            name: t.name,
            state: t.state,
            args: t.args,
            kwargs: t.kwargs,
            result: t.result,
            exception: t.exception,
            sent: t.sent,
            received: t.received,
            started: t.started,
            revoked: t.revoked,
            runtime: t.runtime,
            worker: t.worker,
            exchange: t.exchange,
            routing_key: t.routing_key,
            retries: t.retries,
            expires: t.expires,
            eta: t.eta,
        }
    }
}

impl From<super::rest::Task> for TaskDetail {
    /// A task as the read API shows it (from history, past memory), its
    /// timeline from the time of each kind of event, as the server builds
    /// it for a task in memory.
    fn from(t: super::rest::Task) -> TaskDetail {
        let mut timeline: Vec<TimelineEntry> = [
            ("task-sent", t.sent, &t.client),
            ("task-received", t.received, &t.worker),
            ("task-started", t.started, &t.worker),
            ("task-retried", t.retried, &t.worker),
            ("task-succeeded", t.succeeded, &t.worker),
            ("task-failed", t.failed, &t.worker),
            ("task-rejected", t.rejected, &t.worker),
            ("task-revoked", t.revoked, &t.worker),
        ]
        .into_iter()
        .filter_map(|(event, at, by)| {
            at.filter(|at| at.is_finite()).map(|at| TimelineEntry {
                event: event.to_string(),
                at,
                by: by.clone(),
            })
        })
        .collect();
        timeline.sort_by(|a, b| a.at.total_cmp(&b.at));
        TaskDetail {
            traceback: t.traceback.clone(),
            queue: t.queue.clone(),
            client: t.client.clone(),
            parent: t.parent_id.clone(),
            root: t.root_id.clone(),
            children: t.children.clone(),
            succeeded: t.succeeded,
            failed: t.failed,
            retried: t.retried,
            rejected: t.rejected,
            terminated: t.terminated,
            signum: t.signum,
            expired: t.expired,
            clock: t.clock,
            timeline,
            retry_of: t.retry_of.clone(),
            retried_as: t.retried_as.clone(),
            row: TaskRow::from(t),
        }
    }
}

/// A page of tasks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TasksData {
    pub query: TasksQuery,
    /// Why the query could not run (a search syntax error), if it could not.
    pub error: Option<String>,
    pub rows: Vec<TaskRow>,
    /// Tasks matching the query.
    pub filtered: u64,
    /// Tasks retained.
    pub total: u64,
    /// Retained tasks by state, over all tasks.
    pub states: Vec<(String, u64)>,
    /// `--tasks-columns`: the columns shown unless the URL picks others.
    pub default_columns: Vec<String>,
}

/// One step of a task's life, from its events.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    /// `task-received`, `task-started`, …
    pub event: String,
    pub at: f64,
    /// The worker (or, for `task-sent`, the client) that sent it.
    pub by: Option<String>,
}

/// Everything known of one task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskDetail {
    pub row: TaskRow,
    pub traceback: Option<String>,
    pub queue: Option<String>,
    pub client: Option<String>,
    pub parent: Option<String>,
    pub root: Option<String>,
    pub children: Vec<String>,
    pub succeeded: Option<f64>,
    pub failed: Option<f64>,
    pub retried: Option<f64>,
    pub rejected: Option<f64>,
    /// For revoked tasks: terminated, by which signal, or expired.
    pub terminated: Option<bool>,
    pub signum: Option<i32>,
    pub expired: Option<bool>,
    /// Lamport clock of the last event merged.
    pub clock: u64,
    pub timeline: Vec<TimelineEntry>,
    /// The task this one re-sent, when celadon retried it.
    pub retry_of: Option<String>,
    /// The tasks celadon re-sent this one as.
    pub retried_as: Vec<String>,
}
