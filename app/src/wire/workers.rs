//! Workers on the wire beyond the Workers table's rows: cluster totals and
//! one worker's inspection replies.

use serde::{Deserialize, Serialize};

use super::WorkerRow;

/// Totals over every worker, for the Workers page's cards.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Cluster {
    /// Tasks that succeeded, failed or were retried since celadon started.
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    /// Tasks finished per second over the last minute.
    pub rate: f64,
    /// Outcomes over the last 5 minutes in 5-second buckets, for the
    /// Workers page's chart strip; the first bucket starts at
    /// `recent_start`.
    pub recent: Vec<super::OutcomeSeries>,
    pub recent_start: f64,
}

/// A worker's reply to one remote-control inspection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Inspection {
    /// `stats`, `active_queues`, `registered`, `conf`, `active`, …
    pub method: String,
    /// Unix seconds (server clock) of the reply.
    pub at: f64,
    /// The reply as the worker sent it, as JSON text.
    pub reply: String,
}

/// The Worker page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WorkerData {
    pub name: String,
    /// From events; `None` when the worker sent none.
    pub row: Option<WorkerRow>,
    /// Task events by type (`task-received` → 12), from events.
    pub events: Vec<(String, u64)>,
    pub inspections: Vec<Inspection>,
}
