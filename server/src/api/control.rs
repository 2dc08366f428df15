//! Control endpoints, at Flower's paths with Flower's parameters, plus
//! retry and bulk actions. Every one is POST (the guard refuses them with
//! `--read-only` and from other sites), checks its parameters before
//! anything is sent, and answers with what the workers said: each reply,
//! who stayed silent, and "not delivered" when no worker got the command.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};

use super::{error::ApiError, params::Params, AppState};
use crate::control::{
    commands::{self, Command},
    pidbox::ControlError,
    service::{Outcome, RetryError, SendOptions},
};

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::ShuttingDown => ApiError::ShuttingDown,
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<commands::Invalid> for ApiError {
    fn from(e: commands::Invalid) -> ApiError {
        ApiError::Invalid(e.0)
    }
}

/// The replies as JSON: `{worker: {"ok": text} | {"error": text}}`.
fn replies_json(o: &Outcome) -> Value {
    let mut map = Map::new();
    for (host, reply) in &o.replies {
        map.insert(
            host.clone(),
            match reply {
                Ok(text) => json!({ "ok": text }),
                Err(text) => json!({ "error": text }),
            },
        );
    }
    Value::Object(map)
}

pub(super) fn outcome_json(message: String, o: &Outcome) -> Value {
    json!({
        "message": message,
        "delivered": o.delivered,
        "replies": replies_json(o),
        "no_reply": o.silent,
    })
}

fn not_delivered(what: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "{what} was not delivered: no worker is connected to the broker"
    ))
}

/// A command to one worker: Flower's answer is the worker's `ok` text, or
/// 403 with its error text.
async fn to_worker(app: &AppState, worker: &str, command: Command) -> Result<Response, ApiError> {
    let control = &app.control;
    if !control.knows_worker(worker).await {
        return Err(ApiError::NotFound(format!("Unknown worker '{worker}'")));
    }
    let outcome = control
        .call(command, Some(vec![worker.to_string()]))
        .await?;
    if outcome.delivered == 0 {
        return Err(not_delivered("the command"));
    }
    match outcome.replies.iter().find(|(h, _)| h == worker) {
        Some((_, Ok(text))) => Ok(Json(outcome_json(text.clone(), &outcome)).into_response()),
        Some((_, Err(text))) => Ok((
            StatusCode::FORBIDDEN,
            Json(json!({ "error": text, "replies": replies_json(&outcome) })),
        )
            .into_response()),
        None => Err(ApiError::Timeout(format!(
            "worker '{worker}' did not answer within {} ms",
            control.timeout().as_millis()
        ))),
    }
}

fn u32_param(p: &Params, name: &'static str, default: Option<u32>) -> Result<u32, ApiError> {
    match (p.number(name)?, default) {
        (Some(n), _) => u32::try_from(n).map_err(|_| ApiError::bad(name, "too large")),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(ApiError::bad(name, "missing")),
    }
}

fn float_param(p: &Params, name: &'static str) -> Result<Option<f64>, ApiError> {
    match p.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ApiError::bad(name, format!("{v:?} is not a number of seconds"))),
    }
}

pub async fn pool(
    State(app): State<AppState>,
    Path((action, worker)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref());
    let command = match action.as_str() {
        "grow" => commands::pool_grow(u32_param(&p, "n", Some(1))?)?,
        "shrink" => commands::pool_shrink(u32_param(&p, "n", Some(1))?)?,
        "autoscale" => {
            commands::autoscale(u32_param(&p, "max", None)?, u32_param(&p, "min", None)?)?
        }
        "restart" => commands::pool_restart(),
        other => return Err(ApiError::NotFound(format!("no pool action '{other}'"))),
    };
    to_worker(&app, &worker, command).await
}

pub async fn queue(
    State(app): State<AppState>,
    Path((action, worker)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref());
    let queue = p.get("queue").unwrap_or("");
    let command = match action.as_str() {
        "add-consumer" => commands::add_consumer(queue)?,
        "cancel-consumer" => commands::cancel_consumer(queue)?,
        other => return Err(ApiError::NotFound(format!("no queue action '{other}'"))),
    };
    to_worker(&app, &worker, command).await
}

/// Shutdown is a cast (a worker going down answers nothing).
pub async fn shutdown(
    State(app): State<AppState>,
    Path(worker): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let control = &app.control;
    if !control.knows_worker(&worker).await {
        return Err(ApiError::NotFound(format!("Unknown worker '{worker}'")));
    }
    let delivered = control
        .cast(commands::shutdown(), Some(vec![worker.clone()]))
        .await?;
    if delivered == 0 {
        return Err(not_delivered("shutdown"));
    }
    Ok(Json(
        json!({ "message": "Shutting down!", "delivered": delivered }),
    ))
}

/// Flower's `workername` parameter: the worker a task-type command is for.
fn workername(p: &Params) -> Result<String, ApiError> {
    p.get("workername")
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad("workername", "missing"))
}

pub async fn rate_limit(
    State(app): State<AppState>,
    Path(task): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref());
    let worker = workername(&p)?;
    let command = commands::rate_limit(&task, p.get("ratelimit").unwrap_or(""))?;
    to_worker(&app, &worker, command).await
}

pub async fn time_limit(
    State(app): State<AppState>,
    Path(task): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref());
    let worker = workername(&p)?;
    let command = commands::time_limit(&task, float_param(&p, "soft")?, float_param(&p, "hard")?)?;
    to_worker(&app, &worker, command).await
}

/// Revokes (and with `terminate`, kills) a task, broadcast to every worker
/// with replies, as `celery revoke` does.
pub async fn revoke(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let terminate = p.flag("terminate")?;
    let signal = p
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGTERM");
    let command = commands::revoke(std::slice::from_ref(&id), terminate, signal)?;
    let outcome = app.control.call(command, None).await?;
    if outcome.delivered == 0 {
        return Err(not_delivered(&format!("revoke of '{id}'")));
    }
    let verb = if terminate { "Terminated" } else { "Revoked" };
    Ok(Json(outcome_json(format!("{verb} '{id}'"), &outcome)))
}

/// Re-sends a task with its original arguments under a new id.
pub async fn retry(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    commands::task_id(&id)?;
    let control = &app.control;
    match control.retry(&id).await {
        Ok(r) => Ok(Json(json!({
            "message": format!("Retried '{}' as '{}'", r.original, r.id),
            "task-id": r.id,
            "retry-of": r.original,
            "name": r.name,
            "queue": r.queue,
            "source": r.source.key(),
            "source-text": r.source.describe(),
        }))),
        Err(RetryError::Unknown(id)) => Err(ApiError::NotFound(format!("Unknown task '{id}'"))),
        Err(RetryError::NoArguments(why)) => Err(ApiError::Refused(why)),
        Err(RetryError::Control(e)) => Err(e.into()),
    }
}

/// A task call read from a request: args, kwargs and options.
type Call = (Vec<Value>, Map<String, Value>, SendOptions);

/// The JSON body of apply/async-apply/send-task: `{args, kwargs, queue,
/// priority, eta, countdown, expires}`, all optional.
fn send_options(body: &Value) -> Result<Call, ApiError> {
    let obj = match body {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        _ => return Err(ApiError::bad("body", "must be a JSON object")),
    };
    let args = match obj.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::bad("args", "must be a JSON list")),
    };
    let kwargs = match obj.get("kwargs") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::bad("kwargs", "must be a JSON object")),
    };
    let text = |name: &'static str| -> Result<Option<String>, ApiError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad(name, "must be a string")),
        }
    };
    let iso = |name: &'static str, v: Option<String>| -> Result<Option<String>, ApiError> {
        match v {
            None => Ok(None),
            Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| Some(t.to_rfc3339()))
                .map_err(|_| {
                    ApiError::bad(
                        name,
                        format!("{s:?} is not an ISO-8601 time with an offset"),
                    )
                }),
        }
    };
    let mut eta = iso("eta", text("eta")?)?;
    if let Some(c) = obj.get("countdown").filter(|v| !v.is_null()) {
        let secs = c
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| ApiError::bad("countdown", "must be a non-negative number"))?;
        let at = chrono::Utc::now() + chrono::Duration::milliseconds((secs * 1000.0) as i64);
        eta = Some(at.to_rfc3339());
    }
    let expires = match obj.get("expires") {
        Some(Value::Number(n)) => {
            let secs = n
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| ApiError::bad("expires", "must be non-negative"))?;
            Some(
                (chrono::Utc::now() + chrono::Duration::milliseconds((secs * 1000.0) as i64))
                    .to_rfc3339(),
            )
        }
        _ => iso("expires", text("expires")?)?,
    };
    let queue = text("queue")?;
    if let Some(q) = &queue {
        commands::queue(q)?;
    }
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|p| *p <= 9)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or_else(|| ApiError::bad("priority", "must be an integer from 0 to 9"))?,
        ),
    };
    Ok((
        args,
        kwargs,
        SendOptions {
            queue,
            priority,
            eta,
            expires,
        },
    ))
}

/// `async-apply` and `send-task`: publish and return the new id.
pub async fn send_task(
    State(app): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Result<Json<Value>, ApiError> {
    commands::task_name(&name)?;
    let (args, kwargs, options) = send_options(&body.map(|b| b.0).unwrap_or(Value::Null))?;
    let control = &app.control;
    let task = control.new_task(&name, args, kwargs, options);
    control.send(&task).await?;
    let mut answer = json!({ "task-id": task.id });
    if control.has_backend() {
        answer["state"] = json!("PENDING");
    }
    Ok(Json(answer))
}

/// `apply`: publish, then wait (up to `timeout` seconds, default 10) for
/// the result in the backend.
pub async fn apply(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Option<Json<Value>>,
) -> Result<Json<Value>, ApiError> {
    commands::task_name(&name)?;
    let p = Params::parse(raw.as_deref());
    let timeout = float_param(&p, "timeout")?
        .unwrap_or(10.0)
        .clamp(0.0, 300.0);
    let control = &app.control;
    if !control.has_backend() {
        return Err(ApiError::Unavailable(
            "apply waits for the result: give celadon --result-backend=URL".into(),
        ));
    }
    let (args, kwargs, options) = send_options(&body.map(|b| b.0).unwrap_or(Value::Null))?;
    let task = control.new_task(&name, args, kwargs, options);
    control.send(&task).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs_f64(timeout);
    loop {
        if let Some(meta) = control.result(&task.id).await? {
            if matches!(meta.status.as_str(), "SUCCESS" | "FAILURE" | "REVOKED") {
                return Ok(Json(result_json(&task.id, &meta)));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(json!({ "task-id": task.id, "state": "PENDING" })));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn result_json(id: &str, meta: &crate::broker::backend::Meta) -> Value {
    let mut answer = json!({ "task-id": id, "state": meta.status });
    if matches!(meta.status.as_str(), "SUCCESS" | "FAILURE" | "REVOKED") {
        answer["result"] = meta.result.clone();
    }
    if meta.status == "FAILURE" {
        answer["traceback"] = json!(meta.traceback);
    }
    answer
}

/// `GET /api/task/result/<id>`: what the result backend holds.
pub async fn result(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    commands::task_id(&id)?;
    let control = &app.control;
    if !control.has_backend() {
        return Err(ApiError::Unavailable(
            "no result backend: give celadon --result-backend=URL".into(),
        ));
    }
    Ok(Json(match control.result(&id).await? {
        Some(meta) => result_json(&id, &meta),
        None => json!({ "task-id": id, "state": "PENDING" }),
    }))
}
