//! Sending tasks from the API, at Flower's paths: `async-apply` and
//! `send-task` publish a task; `apply` publishes and waits for its result;
//! `/api/task/result/<id>` reads what the result backend holds. A task's
//! arguments are kept as the text the client sent.

use std::collections::HashMap;

use app::wire::control::{SentTask, TaskResult};
use axum::{
    Json,
    extract::{RawQuery, State},
};
use serde_json::{Map, Value, value::RawValue};

use super::{
    AppState,
    control::float_param,
    error::ApiError,
    extract::{JsonBody, Path},
    params::Params,
};
use crate::{
    broker::backend::Meta,
    clock,
    control::{
        arguments::{Arguments, ArgumentsError},
        commands,
        service::SendOptions,
    },
};

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
        eta = Some(seconds_from_now("countdown", secs)?);
    }
    let expires = match obj.get("expires") {
        Some(Value::Number(n)) => {
            let secs = n
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| ApiError::bad("expires", "must be non-negative"))?;
            Some(seconds_from_now("expires", secs)?)
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

/// How often `apply` looks for its task's result.
const RESULT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The time `secs` from now, in ISO 8601; refused past what a date holds.
fn seconds_from_now(name: &'static str, secs: f64) -> Result<String, ApiError> {
    let far = || ApiError::bad(name, "is too far in the future");
    // Past i64 milliseconds the cast saturates, and the delta is refused.
    let delta = chrono::TimeDelta::try_milliseconds((secs * 1000.0) as i64).ok_or_else(far)?;
    let at = clock::now_utc().checked_add_signed(delta).ok_or_else(far)?;
    Ok(at.to_rfc3339())
}

/// `async-apply` and `send-task`: publish and return the new id.
pub async fn send_task(
    State(app): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<SentTask>, ApiError> {
    commands::task_name(&name)?;
    let (arguments, options) = send_options(body.as_deref())?;
    let control = &app.control;
    let task = control.new_task(&name, arguments, options);
    control
        .send(&task)
        .await
        .map_err(|e| ApiError::control("sending the task", e))?;
    Ok(Json(SentTask {
        task_id: task.id,
        state: control.has_backend().then(|| "PENDING".to_string()),
    }))
}

/// `apply`: publish, then wait (up to `timeout` seconds, default 10) for
/// the result in the backend.
pub async fn apply(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Json<TaskResult>, ApiError> {
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
    let (arguments, options) = send_options(body.as_deref())?;
    let task = control.new_task(&name, arguments, options);
    control
        .send(&task)
        .await
        .map_err(|e| ApiError::control("sending the task", e))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs_f64(timeout);
    loop {
        let meta = control
            .result(&task.id)
            .await
            .map_err(|e| ApiError::control("reading the result backend", e))?;
        if let Some(meta) = meta.filter(|m| finished(&m.status)) {
            return Ok(Json(task_result(&task.id, Some(&meta))));
        }
        // At the deadline, or when celadon shuts down, the answer is that
        // the task is still pending.
        let wait = tokio::time::sleep(RESULT_POLL);
        if tokio::time::Instant::now() >= deadline
            || app.cancel.run_until_cancelled(wait).await.is_none()
        {
            return Ok(Json(task_result(&task.id, None)));
        }
    }
}

fn finished(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILURE" | "REVOKED")
}

/// The backend's record of task `id` (`None`: it has none yet: PENDING).
fn task_result(id: &str, meta: Option<&Meta>) -> TaskResult {
    let Some(meta) = meta else {
        return TaskResult {
            task_id: id.to_string(),
            state: "PENDING".into(),
            result: None,
            traceback: None,
        };
    };
    TaskResult {
        task_id: id.to_string(),
        state: meta.status.clone(),
        result: finished(&meta.status).then(|| meta.result.clone()),
        traceback: (meta.status == "FAILURE").then(|| meta.traceback.clone()),
    }
}

/// `GET /api/task/result/<id>`: what the result backend holds.
pub async fn result(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskResult>, ApiError> {
    commands::task_id(&id)?;
    let control = &app.control;
    if !control.has_backend() {
        return Err(ApiError::Unavailable(
            "no result backend: give celadon --result-backend=URL".into(),
        ));
    }
    let meta = control
        .result(&id)
        .await
        .map_err(|e| ApiError::control("reading the result backend", e))?;
    Ok(Json(task_result(&id, meta.as_ref())))
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
            (r#"{"countdown": 1e13}"#, "countdown: is too far"),
            (r#"{"expires": 1e300}"#, "expires: is too far"),
        ] {
            let refused = call(body).map(|_| ()).unwrap_err();
            assert!(matches!(refused, ApiError::BadParam { .. }), "{body}");
            assert!(refused.to_string().starts_with(error), "{body}: {refused}");
        }
    }
}
