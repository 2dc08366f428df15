//! `/api/stats`: what celadon itself is holding and has seen (the model's
//! measured size is here, so its memory is never a mystery), and
//! `/api/stats/types`: counts, success rate, runtime percentiles and the
//! last failure, per task type.

use std::sync::atomic::Ordering;

use app::wire::rest;
use axum::{Json, extract::State};

use super::{AppState, error::ApiError};

pub async fn stats(State(app): State<AppState>) -> Result<Json<rest::Stats>, ApiError> {
    let dropped = app.reader.dropped.load(Ordering::Relaxed);
    Ok(Json(app.state.stats(dropped).await?))
}

pub async fn types(
    State(app): State<AppState>,
) -> Result<Json<Vec<rest::TaskTypeStats>>, ApiError> {
    Ok(Json(app.state.task_type_stats().await?))
}
