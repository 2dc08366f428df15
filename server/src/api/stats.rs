//! `/api/stats`: what celadon itself is holding and has seen. The model's
//! measured size is here, so its memory is never a mystery.

use std::{collections::BTreeMap, sync::atomic::Ordering};

use axum::{extract::State, Json};
use serde::Serialize;

use super::{error::ApiError, AppState};
use crate::state::tasks::per_task_fixed_bytes;

#[derive(Serialize)]
pub struct ModelStats {
    pub tasks: usize,
    pub workers: usize,
    pub queues: usize,
    /// Measured heap bytes of the whole model.
    pub bytes: usize,
    /// Fixed bytes per retained task, before its text.
    pub bytes_per_task_fixed: usize,
    pub max_tasks: usize,
    /// `null` when there is no byte budget.
    pub max_bytes: Option<usize>,
    pub evicted: u64,
}

#[derive(Serialize)]
pub struct EventStats {
    pub by_type: BTreeMap<String, u64>,
    pub undecodable: u64,
    pub duplicates: u64,
    /// Payloads the reader dropped because ingestion fell behind.
    pub dropped: u64,
}

#[derive(Serialize)]
pub struct GapJson {
    pub from: f64,
    pub to: Option<f64>,
}

#[derive(Serialize)]
pub struct Stats {
    pub model: ModelStats,
    pub events: EventStats,
    pub broker_connected: bool,
    /// Times when events may have been lost (the broker connection was down).
    pub gaps: Vec<GapJson>,
}

pub async fn stats(State(app): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let dropped = app.reader.dropped.load(Ordering::Relaxed);
    let stats = app
        .state
        .read(move |m| {
            let limits = m.tasks.limits();
            Stats {
                model: ModelStats {
                    tasks: m.tasks.len(),
                    workers: m.workers.len(),
                    queues: m.queues.iter().count(),
                    bytes: m.heap_bytes(),
                    bytes_per_task_fixed: per_task_fixed_bytes(),
                    max_tasks: limits.max_tasks,
                    max_bytes: (limits.max_bytes != usize::MAX).then_some(limits.max_bytes),
                    evicted: m.tasks.evicted_total(),
                },
                events: EventStats {
                    by_type: m.counters.events_by_type.clone(),
                    undecodable: m.counters.undecodable,
                    duplicates: m.counters.duplicates,
                    dropped,
                },
                broker_connected: m.broker_connected,
                gaps: m
                    .gaps
                    .iter()
                    .map(|g| GapJson {
                        from: g.from,
                        to: g.to,
                    })
                    .collect(),
            }
        })
        .await
        .ok_or(ApiError::ShuttingDown)?;
    Ok(Json(stats))
}
