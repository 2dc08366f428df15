//! `/api/queues/length` (Flower's shape): every known queue, consumed or
//! not, with its last measured depth.

use app::wire::rest;
use axum::{Json, extract::State};

use super::{AppState, error::ApiError};

pub async fn lengths(State(app): State<AppState>) -> Result<Json<rest::QueueLengths>, ApiError> {
    Ok(Json(app.state.queue_lengths().await?))
}
