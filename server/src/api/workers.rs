//! `/api/workers`: Flower's shape (`{hostname: {stats, active_queues,
//! registered, conf, …, timestamp}}` from inspect replies), for every worker
//! celadon knows, with what its events say under `events`. `refresh=1`
//! inspects first, single-flight (`poll::refresh`).

use axum::{
    Json,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};

use std::collections::BTreeMap;

use app::wire::rest;

use super::{AppState, error::ApiError, params::Params};
use crate::{control::pidbox::ControlError, poll::refresh::RefreshError, state::read::WorkerInfo};

/// A refresh that could not be made, for the client.
pub(super) fn refresh_error(e: RefreshError) -> ApiError {
    match e {
        RefreshError::UnknownWorker(_) => ApiError::NotFound(e.to_string()),
        RefreshError::Control(cause) => match &*cause {
            ControlError::ShuttingDown => ApiError::ShuttingDown,
            cause => ApiError::Broker {
                doing: "updating the workers",
                cause: cause.to_string(),
            },
        },
    }
}

pub async fn list(
    State(app): State<AppState>,
    redaction: super::redaction::Redaction,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let refresh = params.flag("refresh")?;
    let status = params.flag("status")?;
    let name = params
        .get("workername")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if refresh {
        // Single-flight, and never for a worker celadon has not seen.
        app.refresher
            .refresh(name.clone())
            .await
            .map_err(refresh_error)?;
    }
    let unknown = |e: crate::state::read::UnknownWorker| ApiError::NotFound(e.to_string());
    Ok(if status {
        Json(app.state.workers_online(name).await?.map_err(unknown)?).into_response()
    } else {
        let workers = app.state.workers(name).await?.map_err(unknown)?;
        let mut workers: BTreeMap<String, rest::Worker> = workers
            .into_iter()
            .map(|(name, info)| (name, worker(info)))
            .collect();
        redaction.apply(|r| {
            for w in workers.values_mut() {
                w.inspected.values_mut().for_each(|reply| r.json(reply));
            }
        });
        Json(workers).into_response()
    })
}

/// Flower's shape of one worker: its replies decoded here, off the
/// model's thread, and the time of the latest.
fn worker(info: WorkerInfo) -> rest::Worker {
    let timestamp = info.inspected.iter().map(|(_, _, at)| *at).reduce(f64::max);
    let inspected = info
        .inspected
        .into_iter()
        .filter_map(|(method, reply, _)| Some((method, serde_json::from_str(&reply).ok()?)))
        .collect();
    rest::Worker {
        inspected,
        timestamp,
        events: info.events,
    }
}
