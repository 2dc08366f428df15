//! The Broker page: every queue celadon knows, measured on the broker.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueRow {
    pub name: String,
    /// Messages waiting, per priority step (`[0, 3, 6, 9]` by default);
    /// `None` until first measured.
    pub depths: Option<Vec<u64>>,
    /// Messages delivered to a worker and not yet acknowledged (prefetched,
    /// ETA); `None` when not measured.
    pub unacked: Option<u64>,
    /// Workers consuming from it (from `active_queues`).
    pub consumers: Vec<String>,
    /// Unix seconds (server clock) of the last measurement.
    pub measured_at: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BrokerData {
    /// The priority steps the depths are split by.
    pub priority_steps: Vec<u8>,
    pub queues: Vec<QueueRow>,
    /// Messages unacknowledged over all queues (`HLEN unacked`).
    pub unacked: Option<u64>,
}
