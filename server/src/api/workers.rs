//! `/api/workers`: Flower's shape (`{hostname: {stats, active_queues,
//! registered, conf, …, timestamp}}` from inspect replies), for every worker
//! celadon knows, with what its events say under `events`.

use axum::{
    Json,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};

use super::{AppState, error::ApiError, params::Params};
use crate::poll::inspector::{self, BACKGROUND_METHODS, WORKER_METHODS};

pub async fn list(
    State(app): State<AppState>,
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
        let destination = name.clone().map(|n| vec![n]);
        let methods: &[&'static str] = if name.is_some() {
            &WORKER_METHODS
        } else {
            &BACKGROUND_METHODS
        };
        inspector::inspect(
            &app.pidbox,
            &app.state,
            methods,
            destination.as_deref(),
            app.inspect_timeout,
        )
        .await
        .map_err(|e| ApiError::control("updating the workers", e))?;
    }
    let unknown = |e: crate::state::read::UnknownWorker| ApiError::NotFound(e.to_string());
    Ok(if status {
        Json(app.state.workers_online(name).await?.map_err(unknown)?).into_response()
    } else {
        Json(app.state.workers(name).await?.map_err(unknown)?).into_response()
    })
}
