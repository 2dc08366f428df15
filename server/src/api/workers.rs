//! `/api/workers`: Flower's shape (`{hostname: {stats, active_queues,
//! registered, conf, …, timestamp}}` from inspect replies), for every worker
//! celadon knows, with what its events say under `events`.

use std::collections::BTreeMap;

use axum::{
    extract::{RawQuery, State},
    Json,
};
use serde_json::{json, Map, Value};

use super::{error::ApiError, params::Params, AppState};
use crate::{
    control::inspector::{self, BACKGROUND_METHODS, WORKER_METHODS},
    state::{workers::Worker, Model},
};

fn events_json(w: &Worker) -> Value {
    let counts: BTreeMap<&str, u64> = w.task_events_by_type().into_iter().collect();
    json!({
        "status": w.online,
        "active": w.active,
        "processed": w.processed,
        "loadavg": w.loadavg,
        "pid": w.pid,
        "freq": w.freq,
        "sw_ident": w.sw_ident,
        "sw_ver": w.sw_ver,
        "sw_sys": w.sw_sys,
        "utcoffset": w.utcoffset,
        "last_heartbeat": w.last_heartbeat,
        "offline_since": w.offline_since,
        "task_events": counts,
    })
}

fn worker_json(model: &Model, name: &str) -> Value {
    let mut out = Map::new();
    let mut latest: Option<f64> = None;
    if let Some(methods) = model.inspected.get(name) {
        for (method, (reply, at)) in methods {
            out.insert(method.clone(), reply.clone());
            latest = Some(latest.map_or(*at, |l: f64| l.max(*at)));
        }
    }
    out.insert("timestamp".into(), json!(latest));
    if let Some(w) = model.workers.get(name) {
        out.insert("events".into(), events_json(w));
    }
    Value::Object(out)
}

pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
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
        .map_err(|e| ApiError::Unavailable(format!("Failed to update workers: {e}")))?;
    }
    let result = app
        .state
        .read(move |model| {
            let mut names: Vec<String> = model.workers.iter().map(|w| w.hostname.clone()).collect();
            names.extend(model.inspected.keys().cloned());
            names.sort();
            names.dedup();
            if let Some(n) = &name {
                if !names.contains(n) {
                    return Err(ApiError::NotFound(format!("Unknown worker '{n}'")));
                }
                names = vec![n.clone()];
            }
            let mut out = Map::new();
            for n in names {
                let value = if status {
                    json!(model.workers.get(&n).is_some_and(|w| w.online))
                } else {
                    worker_json(model, &n)
                };
                out.insert(n, value);
            }
            Ok(Value::Object(out))
        })
        .await
        .ok_or(ApiError::ShuttingDown)??;
    Ok(Json(result))
}
