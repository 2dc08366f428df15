//! `/api/queues/length` (Flower's shape): every known queue, consumed or
//! not, with its last measured depth.

use app::wire::rest;
use axum::{extract::State, Json};

use super::{error::ApiError, AppState};

pub async fn lengths(State(app): State<AppState>) -> Result<Json<rest::QueueLengths>, ApiError> {
    Ok(Json(app.state.queue_lengths().await?))
}
