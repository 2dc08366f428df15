//! `GET /api/stats/throughput?window=5m|1h|24h|7d&task=NAME|worker=NAME`:
//! task outcomes per time bucket, the series the Graphs page draws. Counts
//! per bucket (divide by `bucket_seconds` for a rate), oldest first; the
//! last bucket is the one still filling.

use app::wire::celery::TaskEventKind;
use std::collections::BTreeMap;

use axum::{
    extract::{RawQuery, State},
    Json,
};
use serde::Serialize;

use super::{error::ApiError, params::Params, AppState};
use crate::{
    clock,
    state::{
        series::{Filter, Window},
        stats::OUTCOMES,
    },
};

#[derive(Serialize)]
pub struct Throughput {
    pub window: &'static str,
    pub bucket_seconds: u32,
    pub task: Option<String>,
    pub worker: Option<String>,
    /// Start of each bucket, Unix seconds.
    pub times: Vec<f64>,
    /// Per outcome (`sent`, `received`, `started`, `succeeded`, `failed`,
    /// `retried`, `revoked`, `rejected`): one count per bucket.
    pub counts: BTreeMap<&'static str, Vec<u32>>,
    pub totals: BTreeMap<&'static str, u64>,
    /// The cluster's workers online per bucket (the most seen in it),
    /// whatever the filter.
    pub workers_online: Vec<u32>,
    /// The cluster's p95 queue wait per bucket in seconds (task-sent to
    /// task-started, ETA tasks left out); `null` where none started.
    pub wait_p95: Vec<Option<f64>>,
}

pub async fn throughput(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Throughput>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let window = match p.get("window").filter(|w| !w.is_empty()) {
        None => Window::Hour,
        Some(w) => Window::parse(w).ok_or_else(|| {
            let known: Vec<_> = Window::ALL.iter().map(|w| w.name()).collect();
            ApiError::bad(
                "window",
                format!("{w:?} is not one of {}", known.join(", ")),
            )
        })?,
    };
    let task = p.get("task").filter(|t| !t.is_empty()).map(str::to_string);
    let worker = p
        .get("worker")
        .filter(|w| !w.is_empty())
        .map(str::to_string);
    if task.is_some() && worker.is_some() {
        return Err(ApiError::bad(
            "worker",
            "filter by task or by worker, one at a time",
        ));
    }
    let now = clock::now();
    let (t, w) = (task.clone(), worker.clone());
    let buckets = app
        .state
        .read(move |m| {
            let filter = match (&t, &w) {
                (Some(t), _) => m.symbols.lookup(t).map(Filter::Task),
                (_, Some(w)) => m.symbols.lookup(w).map(Filter::Worker),
                _ => Some(Filter::All),
            };
            filter.and_then(|f| m.series.get(f)).map(|series| {
                (
                    series.window(window, now),
                    m.series.gauges.online(window, now),
                    m.series.gauges.wait_p95(window, now),
                )
            })
        })
        .await
        .ok_or(ApiError::ShuttingDown)?
        .ok_or_else(|| {
            let (what, name) = match (&task, &worker) {
                (Some(t), _) => ("task", t.as_str()),
                (_, Some(w)) => ("worker", w.as_str()),
                _ => ("", ""),
            };
            ApiError::NotFound(format!(
                "no series for {what} '{name}': no events seen for it (or more than {} were)",
                crate::state::series::MAX_KEYS
            ))
        })?;
    let (buckets, workers_online, wait_p95) = buckets;
    let mut counts: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for outcome in TaskEventKind::ALL {
        let column: Vec<u32> = buckets.iter().map(|(_, c)| c[outcome.index()]).collect();
        totals.insert(outcome.name(), column.iter().map(|c| u64::from(*c)).sum());
        counts.insert(outcome.name(), column);
    }
    debug_assert_eq!(counts.len(), OUTCOMES);
    Ok(Json(Throughput {
        window: window.name(),
        bucket_seconds: window.bucket(),
        task,
        worker,
        times: buckets.iter().map(|(t, _)| *t).collect(),
        counts,
        totals,
        workers_online,
        wait_p95,
    }))
}
