//! `GET /api/stats/throughput?window=5m|1h|24h|7d|30d&task=NAME|worker=NAME`:
//! task outcomes per time bucket, the series the Graphs page draws. Counts
//! per bucket (divide by `bucket_seconds` for a rate), oldest first; the
//! last bucket is the one still filling.

use std::collections::BTreeMap;

use app::wire::{celery::TaskEventKind, rest};
use axum::{
    Json,
    extract::{RawQuery, State},
};

use super::{AppState, error::ApiError, params::Params};
use crate::{
    clock,
    state::{
        read::SeriesOf,
        series::{MAX_KEYS, Window},
    },
};

pub async fn throughput(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<rest::Throughput>, ApiError> {
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
    let of = match (&task, &worker) {
        (Some(t), _) => SeriesOf::Task(t.clone()),
        (_, Some(w)) => SeriesOf::Worker(w.clone()),
        _ => SeriesOf::Cluster,
    };
    let found = app.state.series_window(window, of, clock::now()).await?;
    let series = found.ok_or_else(|| {
        let (what, name) = match (&task, &worker) {
            (Some(t), _) => ("task", t.as_str()),
            (_, Some(w)) => ("worker", w.as_str()),
            _ => ("", ""),
        };
        ApiError::NotFound(format!(
            "no series for {what} '{name}': no events seen for it (or more than {MAX_KEYS} were)"
        ))
    })?;
    let mut counts = BTreeMap::new();
    let mut totals = BTreeMap::new();
    for kind in TaskEventKind::ALL {
        let column: Vec<u32> = series
            .buckets
            .iter()
            .map(|(_, c)| c[kind.index()])
            .collect();
        totals.insert(
            kind.name().to_string(),
            column.iter().map(|c| u64::from(*c)).sum(),
        );
        counts.insert(kind.name().to_string(), column);
    }
    Ok(Json(rest::Throughput {
        window: window.name().to_string(),
        bucket_seconds: window.bucket(),
        task,
        worker,
        times: series.buckets.iter().map(|(t, _)| *t).collect(),
        counts,
        totals,
        workers_online: series.workers_online,
        wait_p95: series.wait_p95,
    }))
}
