//! Control endpoints, at Flower's paths with Flower's parameters, plus
//! retry and bulk actions. Every one is POST (the guard refuses them with
//! `--read-only` and from other sites), checks its parameters before
//! anything is sent, and answers with what the workers said: each reply,
//! who stayed silent, and "not delivered" when no worker got the command.

use std::collections::HashMap;

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, value::RawValue, Map, Value};

use super::{error::ApiError, params::Params, AppState};
use crate::control::{
    arguments::{Arguments, ArgumentsError},
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

/// A task call read from a request: arguments and options.
type Call = (Arguments, SendOptions);

/// The client's args and kwargs, kept as the text it sent (a task sent
/// from the API gets them byte for byte); absent or null is none.
fn arguments(body: &RawValue) -> Result<Arguments, ApiError> {
    let mut members: HashMap<String, Box<RawValue>> = serde_json::from_str(body.get())
        .map_err(|_| ApiError::bad("body", "must be a JSON object"))?;
    let mut take = |name| members.remove(name).filter(|v| v.get() != "null");
    let (args, kwargs) = (take("args"), take("kwargs"));
    Arguments::from_raw_or_none(args, kwargs).map_err(|e| match e {
        ArgumentsError::ArgsNotList => ApiError::bad("args", "must be a JSON list"),
        ArgumentsError::KwargsNotObject => ApiError::bad("kwargs", "must be a JSON object"),
        ArgumentsError::NotJson(why) => ApiError::bad("body", why),
    })
}

/// The JSON body of apply/async-apply/send-task: `{args, kwargs, queue,
/// priority, eta, countdown, expires}`, all optional.
fn send_options(body: Option<&RawValue>) -> Result<Call, ApiError> {
    let body = body.unwrap_or(RawValue::NULL);
    // The options come from a `Value` (the text is valid JSON: this fails
    // only past serde_json's nesting limit, as the `Json<Value>` extractor
    // did); the arguments from the text itself.
    let obj = match serde_json::from_str(body.get()) {
        Ok(Value::Null) => Map::new(),
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(ApiError::bad("body", "must be a JSON object")),
        Err(e) => return Err(ApiError::bad("body", e.to_string())),
    };
    let arguments = if obj.is_empty() {
        Arguments::default()
    } else {
        arguments(body)?
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
        arguments,
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
    body: Option<Json<Box<RawValue>>>,
) -> Result<Json<Value>, ApiError> {
    commands::task_name(&name)?;
    let (arguments, options) = send_options(body.as_deref().map(|b| &**b))?;
    let control = &app.control;
    let task = control.new_task(&name, arguments, options);
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
    body: Option<Json<Box<RawValue>>>,
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
    let (arguments, options) = send_options(body.as_deref().map(|b| &**b))?;
    let task = control.new_task(&name, arguments, options);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::arguments::{TRICKY_ARGS, TRICKY_KWARGS};

    /// The body as the handlers' extractor reads it, then as they read it.
    fn call(body: &str) -> Result<Call, ApiError> {
        let raw = Json::<Box<RawValue>>::from_bytes(body.as_bytes()).unwrap();
        send_options(Some(&raw.0))
    }

    #[test]
    fn sent_arguments_are_kept_as_the_client_wrote_them() {
        let body = format!(r#"{{"kwargs": {TRICKY_KWARGS}, "queue": "q", "args": {TRICKY_ARGS}}}"#);
        let (arguments, options) = call(&body).unwrap();
        assert_eq!(arguments.args().as_bytes(), TRICKY_ARGS.as_bytes());
        assert_eq!(arguments.kwargs().as_bytes(), TRICKY_KWARGS.as_bytes());
        assert_eq!(options.queue.as_deref(), Some("q"));
    }

    #[test]
    fn no_arguments_are_none() {
        for body in [
            "null",
            "{}",
            r#"{"args": null, "kwargs": null}"#,
            r#"{"queue": "q"}"#,
        ] {
            assert_eq!(call(body).unwrap().0, Arguments::default(), "{body}");
        }
        assert_eq!(send_options(None).unwrap().0, Arguments::default());
        let (only_kwargs, _) = call(r#"{"kwargs": {"b": 1, "a": 2}}"#).unwrap();
        assert_eq!(only_kwargs.args(), "[]");
        assert_eq!(only_kwargs.kwargs(), r#"{"b": 1, "a": 2}"#);
    }

    #[test]
    fn bad_bodies_are_refused_with_what_is_wrong() {
        let deep = format!(r#"{{"args": [{}1{}]}}"#, "[".repeat(200), "]".repeat(200));
        for (body, error) in [
            (r#"{"args": {"x": 1}}"#, "args: must be a JSON list"),
            (r#"{"args": "[1]"}"#, "args: must be a JSON list"),
            (r#"{"kwargs": [1]}"#, "kwargs: must be a JSON object"),
            (r#"{"args": 1, "kwargs": 2}"#, "args: must be a JSON list"),
            ("[1]", "body: must be a JSON object"),
            ("\"text\"", "body: must be a JSON object"),
            (
                r#"{"priority": 10}"#,
                "priority: must be an integer from 0 to 9",
            ),
            (&deep, "body: recursion limit exceeded"),
        ] {
            let refused = call(body).map(|_| ()).unwrap_err();
            assert!(matches!(refused, ApiError::BadParam { .. }), "{body}");
            assert!(refused.to_string().starts_with(error), "{body}: {refused}");
        }
    }
}
