//! Sending tasks from the API, at Flower's paths: `async-apply` and
//! `send-task` publish a task; `apply` publishes and waits for its result;
//! `/api/task/result/<id>` reads what the result backend holds, waiting
//! up to `timeout`; `/api/task/abort/<id>` marks a task ABORTED there, as
//! Celery's `AbortableAsyncResult.abort()` does. The body is read as Flower
//! reads it (`api::apply_options`); a task's arguments are kept as the text
//! the client sent.

use std::time::Duration;

use app::wire::control::{MessageAnswer, SentTask, TaskResult};
use axum::{Json, extract::State};

use super::{AppState, apply_options, error::ApiError, extract::Path, params::Params};
use crate::{broker::backend::Meta, clock, control::commands};

/// How often a wait for a result looks at the backend.
const RESULT_POLL: Duration = Duration::from_millis(100);

/// How long `apply` waits for the result unless told (Flower waits for
/// ever; a request should not).
const APPLY_TIMEOUT: f64 = 10.0;

/// The longest wait for a result a request may ask for (`timeout`, in
/// seconds); more is a 400 naming it. Below `limits::REQUEST_TIMEOUT`, so
/// the wait ends before the request is cut off.
pub const MAX_WAIT: f64 = 50.0;

/// A wait for a result: a number of seconds from 0 to [`MAX_WAIT`]
/// (`Params::float` has already refused NaN and infinities).
fn wait_seconds(timeout: Option<f64>) -> Result<Option<f64>, ApiError> {
    match timeout {
        Some(t) if !(0.0..=MAX_WAIT).contains(&t) => Err(ApiError::bad(
            "timeout",
            format!("{t} is not a number of seconds from 0 to {MAX_WAIT}"),
        )),
        t => Ok(t),
    }
}

/// `async-apply` and `send-task`: publish and return the new id.
pub async fn send_task(
    State(app): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Json<SentTask>, ApiError> {
    commands::task_name(&name)?;
    let call = apply_options::read(p.json_body(), clock::now_utc())?;
    let control = &app.control;
    let task = control.new_task(&name, call.arguments, call.options, call.task_id);
    control
        .check_queue(&task.queue)
        .await
        .map_err(|why| ApiError::bad("queue", why))?;
    control
        .send(&task)
        .await
        .map_err(|e| ApiError::control("sending the task", e))?;
    Ok(Json(SentTask {
        task_id: task.id,
        state: control.has_backend().then(|| "PENDING".to_string()),
    }))
}

/// `apply`: publish, then wait (up to `timeout` seconds, from the body as
/// in Flower or the query; 10 by default) for the result in the backend.
pub async fn apply(
    State(app): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Json<TaskResult>, ApiError> {
    commands::task_name(&name)?;
    let call = apply_options::read(p.json_body(), clock::now_utc())?;
    // Checked before anything is sent: a refused request sends nothing.
    let timeout = wait_seconds(match call.timeout {
        Some(t) => Some(t),
        None => p.float("timeout")?,
    })?;
    if !app.control.has_backend() {
        return Err(ApiError::Unavailable(
            "apply waits for the result: give celadon --result-backend=URL".into(),
        ));
    }
    let control = &app.control;
    let task = control.new_task(&name, call.arguments, call.options, call.task_id);
    control
        .check_queue(&task.queue)
        .await
        .map_err(|why| ApiError::bad("queue", why))?;
    control
        .send(&task)
        .await
        .map_err(|e| ApiError::control("sending the task", e))?;
    let meta = wait_result(&app, &task.id, timeout.unwrap_or(APPLY_TIMEOUT)).await?;
    Ok(Json(task_result(&task.id, meta.as_ref())))
}

/// The backend's record of task `id` once it has finished, or as it stands
/// after `timeout` seconds (or when celadon shuts down).
async fn wait_result(app: &AppState, id: &str, timeout: f64) -> Result<Option<Meta>, ApiError> {
    // `timeout` is checked by its callers; clamped again so that no value
    // can make `from_secs_f64` panic.
    let wait = Duration::try_from_secs_f64(timeout.clamp(0.0, MAX_WAIT)).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let meta = app
            .control
            .result(id)
            .await
            .map_err(|e| ApiError::control("reading the result backend", e))?;
        if meta.as_ref().is_some_and(|m| finished(&m.status)) {
            return Ok(meta);
        }
        let wait = tokio::time::sleep(RESULT_POLL);
        if tokio::time::Instant::now() >= deadline
            || app.cancel.run_until_cancelled(wait).await.is_none()
        {
            return Ok(meta);
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
        result: finished(&meta.status)
            .then(|| meta.result.clone())
            .flatten(),
        traceback: (meta.status == "FAILURE").then(|| meta.traceback.clone()),
    }
}

fn no_backend() -> ApiError {
    ApiError::Unavailable("no result backend: give celadon --result-backend=URL".into())
}

/// `GET /api/task/result/<id>`: what the result backend holds, after
/// waiting up to `timeout` seconds for the task to finish.
pub async fn result(
    State(app): State<AppState>,
    redaction: super::redaction::Redaction,
    Path(id): Path<String>,
    p: Params,
) -> Result<Json<TaskResult>, ApiError> {
    commands::task_id(&id)?;
    if !app.control.has_backend() {
        return Err(no_backend());
    }
    let timeout = wait_seconds(p.float("timeout")?)?;
    let meta = wait_result(&app, &id, timeout.unwrap_or(0.0)).await?;
    let mut answer = task_result(&id, meta.as_ref());
    redaction.apply(|r| {
        if let Some(result) = answer.result.as_mut() {
            r.json(result);
        }
        if let Some(Some(traceback)) = answer.traceback.as_mut() {
            let mut text = serde_json::Value::String(std::mem::take(traceback));
            r.json(&mut text);
            *traceback = text.as_str().unwrap_or_default().to_string();
        }
    });
    Ok(Json(answer))
}

/// `POST /api/task/abort/<id>`: the task's state in the backend becomes
/// ABORTED, which an `AbortableTask` checks for and stops at.
pub async fn abort(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessageAnswer>, ApiError> {
    commands::task_id(&id)?;
    if !app.control.has_backend() {
        return Err(no_backend());
    }
    app.control
        .abort(&id)
        .await
        .map_err(|e| ApiError::control("writing to the result backend", e))?;
    Ok(Json(MessageAnswer {
        message: format!("Aborted '{id}'"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_from_0_to_max_wait_seconds_and_named_when_refused() {
        assert_eq!(wait_seconds(None).unwrap(), None);
        assert_eq!(wait_seconds(Some(0.0)).unwrap(), Some(0.0));
        assert_eq!(wait_seconds(Some(MAX_WAIT)).unwrap(), Some(MAX_WAIT));
        for bad in [-1.0, -0.001, MAX_WAIT + 1.0, 1e300, f64::NAN, f64::INFINITY] {
            let e = wait_seconds(Some(bad)).unwrap_err();
            assert!(
                matches!(
                    e,
                    ApiError::BadParam {
                        name: "timeout",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
    }
}
