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
                    by_type: m.counters.events_by_type(),
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

#[derive(Serialize)]
pub struct Runtime {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One row of the per-task-type table.
#[derive(Serialize)]
pub struct TypeRow {
    pub name: String,
    /// Retained tasks by state.
    pub states: BTreeMap<String, u64>,
    /// Every task seen since start, by outcome (sent, received, started,
    /// succeeded, failed, retried, revoked, rejected).
    pub totals: BTreeMap<&'static str, u64>,
    /// succeeded / (succeeded + failed), over all tasks seen.
    pub success_rate: Option<f64>,
    pub runtime: Runtime,
    pub last_failure: Option<String>,
}

/// `/api/stats/types`: counts, success rate, runtime percentiles and the
/// last failure, per task type.
pub async fn types(State(app): State<AppState>) -> Result<Json<Vec<TypeRow>>, ApiError> {
    use app::wire::celery::TaskEventKind;
    let rows = app
        .state
        .read(|m| m.type_summaries())
        .await
        .ok_or(ApiError::ShuttingDown)?
        .into_iter()
        .map(|t| TypeRow {
            name: t.name,
            states: t.states.into_iter().collect(),
            totals: TaskEventKind::ALL
                .iter()
                .map(|o| (o.name(), t.totals[o.index()]))
                .collect(),
            success_rate: t.success_rate,
            runtime: Runtime {
                count: t.runtime_count,
                mean: t.runtime_mean,
                p50: t.p50,
                p95: t.p95,
                p99: t.p99,
            },
            last_failure: t.last_failure,
        })
        .collect();
    Ok(Json(rows))
}
