//! `/api/queues/length` (Flower's shape) and the queue list behind it: every
//! known queue, consumed or not, with its last measured depth.

use axum::{extract::State, Json};
use serde::Serialize;

use super::{error::ApiError, AppState};

#[derive(Serialize)]
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

#[derive(Serialize)]
pub struct QueueLengths {
    pub active_queues: Vec<QueueLength>,
}

pub async fn lengths(State(app): State<AppState>) -> Result<Json<QueueLengths>, ApiError> {
    let queues = app
        .state
        .read(|model| {
            model
                .queues
                .iter()
                .map(|q| QueueLength {
                    name: q.name.clone(),
                    messages: q.messages(),
                    priorities: q.depths.clone().unwrap_or_default(),
                    consumers: q.consumers.iter().cloned().collect(),
                    measured_at: q.measured_at,
                })
                .collect()
        })
        .await
        .ok_or(ApiError::ShuttingDown)?;
    Ok(Json(QueueLengths {
        active_queues: queues,
    }))
}
