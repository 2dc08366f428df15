//! Control endpoints, at Flower's paths with Flower's parameters, plus
//! retry and bulk actions. Every one is POST (the guard refuses them with
//! `--read-only` and from other sites), checks its parameters before
//! anything is sent, and answers with what the workers said: each reply,
//! who stayed silent, and "not delivered" when no worker got the command.

use std::collections::BTreeMap;

use app::wire::control::{CommandAnswer, RetryAnswer, ShutdownAnswer, WorkerReply};
use axum::{
    Json,
    extract::{RawQuery, State},
};

use super::{AppState, error::ApiError, extract::Path, params::Params};
use crate::control::{
    commands::{self, Command},
    service::{Outcome, RetryError},
};

impl From<commands::Invalid> for ApiError {
    fn from(e: commands::Invalid) -> ApiError {
        ApiError::Invalid(e.0)
    }
}

/// Each worker's reply: `{worker: {"ok": text} | {"error": text}}`.
fn replies(o: &Outcome) -> BTreeMap<String, WorkerReply> {
    o.replies
        .iter()
        .map(|(host, reply)| {
            let reply = match reply {
                Ok(text) => WorkerReply::Ok(text.clone()),
                Err(text) => WorkerReply::Error(text.clone()),
            };
            (host.clone(), reply)
        })
        .collect()
}

/// What a command did, under `message`.
pub(super) fn command_answer(message: String, o: &Outcome) -> CommandAnswer {
    CommandAnswer {
        message,
        delivered: o.delivered,
        replies: replies(o),
        no_reply: o.silent.clone(),
        ids: None,
    }
}

pub(super) fn not_delivered(what: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "{what} was not delivered: no worker is connected to the broker"
    ))
}

/// A command to one worker: Flower's answer is the worker's `ok` text, or
/// 403 with its error text.
async fn to_worker(
    app: &AppState,
    worker: &str,
    command: Command,
) -> Result<Json<CommandAnswer>, ApiError> {
    let control = &app.control;
    let known = control.knows_worker(worker).await;
    if !known.map_err(|e| ApiError::control("looking the worker up", e))? {
        return Err(ApiError::NotFound(format!("Unknown worker '{worker}'")));
    }
    let outcome = control
        .call(command, Some(vec![worker.to_string()]))
        .await
        .map_err(|e| ApiError::control("sending the command", e))?;
    if outcome.delivered == 0 {
        return Err(not_delivered("the command"));
    }
    match outcome.replies.iter().find(|(h, _)| h == worker) {
        Some((_, Ok(text))) => Ok(Json(command_answer(text.clone(), &outcome))),
        Some((_, Err(text))) => Err(ApiError::WorkerRefused {
            error: text.clone(),
            replies: replies(&outcome),
        }),
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

pub(super) fn float_param(p: &Params, name: &'static str) -> Result<Option<f64>, ApiError> {
    match p.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .map(Some)
            .ok_or_else(|| ApiError::bad(name, format!("{v:?} is not a number of seconds"))),
    }
}

pub async fn pool(
    State(app): State<AppState>,
    Path((action, worker)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CommandAnswer>, ApiError> {
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
) -> Result<Json<CommandAnswer>, ApiError> {
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
) -> Result<Json<ShutdownAnswer>, ApiError> {
    let control = &app.control;
    let known = control.knows_worker(&worker).await;
    if !known.map_err(|e| ApiError::control("looking the worker up", e))? {
        return Err(ApiError::NotFound(format!("Unknown worker '{worker}'")));
    }
    let delivered = control
        .cast(commands::shutdown(), Some(vec![worker.clone()]))
        .await
        .map_err(|e| ApiError::control("sending shutdown", e))?;
    if delivered == 0 {
        return Err(not_delivered("shutdown"));
    }
    Ok(Json(ShutdownAnswer {
        message: "Shutting down!".into(),
        delivered,
    }))
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
) -> Result<Json<CommandAnswer>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let worker = workername(&p)?;
    let command = commands::rate_limit(&task, p.get("ratelimit").unwrap_or(""))?;
    to_worker(&app, &worker, command).await
}

pub async fn time_limit(
    State(app): State<AppState>,
    Path(task): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CommandAnswer>, ApiError> {
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
) -> Result<Json<CommandAnswer>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let terminate = p.flag("terminate")?;
    let signal = p
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGTERM");
    let command = commands::revoke(std::slice::from_ref(&id), terminate, signal)?;
    let outcome = app
        .control
        .call(command, None)
        .await
        .map_err(|e| ApiError::control("sending the revoke", e))?;
    if outcome.delivered == 0 {
        return Err(not_delivered(&format!("revoke of '{id}'")));
    }
    let verb = if terminate { "Terminated" } else { "Revoked" };
    Ok(Json(command_answer(format!("{verb} '{id}'"), &outcome)))
}

/// Re-sends a task with its original arguments under a new id.
pub async fn retry(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RetryAnswer>, ApiError> {
    commands::task_id(&id)?;
    let r = app.control.retry(&id).await.map_err(retry_error)?;
    Ok(Json(RetryAnswer {
        message: format!("Retried '{}' as '{}'", r.original, r.id),
        task_id: r.id,
        retry_of: r.original,
        name: r.name,
        queue: r.queue,
        source: r.source.key().to_string(),
        source_text: r.source.describe(),
    }))
}

pub(super) fn retry_error(e: RetryError) -> ApiError {
    match e {
        RetryError::Unknown(id) => ApiError::NotFound(format!("Unknown task '{id}'")),
        RetryError::NoArguments(why) => ApiError::Refused(why),
        RetryError::Control(e) => ApiError::control("sending the retry", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_finite_numbers() {
        let seconds = |q: &str| float_param(&Params::parse(Some(q)), "timeout");
        assert_eq!(seconds("timeout=2.5").unwrap(), Some(2.5));
        assert_eq!(seconds("timeout=").unwrap(), None);
        for bad in [
            "timeout=NaN",
            "timeout=inf",
            "timeout=-infinity",
            "timeout=soon",
        ] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
