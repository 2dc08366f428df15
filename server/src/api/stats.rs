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
    let mut stats = app.state.stats(dropped).await?;
    stats.history = app.history.as_ref().map(|h| history_stats(&h.status.get()));
    Ok(Json(stats))
}

/// The store's status as the API shows it.
pub fn history_stats(s: &crate::store::StatusView) -> rest::HistoryStats {
    rest::HistoryStats {
        location: s.location.clone(),
        role: s.role.as_str().into(),
        available: s.available,
        writing: s.available && s.writing,
        last_error: s.last_error.clone(),
        size_bytes: s.size_bytes,
        lag_seconds: s.lag_seconds,
        write_rate: s.write_rate,
        rows_written: s.rows_written,
        batches_written: s.batches_written,
        tasks_pruned: s.tasks_pruned,
        last_write_at: s.last_write_at,
        unsaved_dropped: s.unsaved_dropped,
        loaded_tasks: s.loaded_tasks,
    }
}

pub async fn types(
    State(app): State<AppState>,
) -> Result<Json<Vec<rest::TaskTypeStats>>, ApiError> {
    Ok(Json(app.state.task_type_stats().await?))
}
