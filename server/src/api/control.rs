//! Control endpoints, at Flower's paths with Flower's parameters, plus
//! retry and bulk actions. Every one is POST (the guard refuses them with
//! `--read-only` and from other sites), checks its parameters before
//! anything is sent, and answers with what the workers said: each reply,
//! who stayed silent, and "not delivered" when no worker got the command.

use std::collections::BTreeMap;

use app::wire::control::{CommandAnswer, RetryAnswer, ShutdownAnswer, WorkerReply};
use axum::{Json, extract::State};

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

/// What Flower says of a command to one worker: its message when the
/// worker accepted it (`None`: the worker's own text), and what it says
/// before the worker's reason when it refused.
struct Says {
    ok: Option<String>,
    failed: String,
}

/// A command to one worker: Flower's message and, as celadon's own fields,
/// every reply; when the worker refuses, 403 with Flower's message and
/// the worker's reason.
async fn to_worker(
    app: &AppState,
    worker: &str,
    command: Command,
    says: Says,
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
        Some((_, Ok(text))) => {
            let message = says.ok.unwrap_or_else(|| text.clone());
            Ok(Json(command_answer(message, &outcome)))
        }
        Some((_, Err(reason))) => Err(ApiError::WorkerRefused {
            error: format!("{}{reason}", says.failed),
            replies: replies(&outcome),
        }),
        None => Err(ApiError::Timeout(format!(
            "worker '{worker}' did not answer within {} ms",
            control.timeout().as_millis()
        ))),
    }
}

pub async fn pool(
    State(app): State<AppState>,
    Path((action, worker)): Path<(String, String)>,
    p: Params,
) -> Result<Json<CommandAnswer>, ApiError> {
    let n = || -> Result<u32, ApiError> { Ok(p.int("n")?.unwrap_or(1)) };
    let (command, says) = match action.as_str() {
        "grow" => {
            let n = n()?;
            let says = Says {
                ok: Some(format!("Growing '{worker}' worker's pool by {n}")),
                failed: format!("Failed to grow '{worker}' worker's pool: "),
            };
            (commands::pool_grow(n)?, says)
        }
        "shrink" => {
            let n = n()?;
            let says = Says {
                ok: Some(format!("Shrinking '{worker}' worker's pool by {n}")),
                failed: format!("Failed to shrink '{worker}' worker's pool: "),
            };
            (commands::pool_shrink(n)?, says)
        }
        "autoscale" => {
            let min: u32 = p.int("min")?.ok_or_else(|| missing("min"))?;
            let max: u32 = p.int("max")?.ok_or_else(|| missing("max"))?;
            let says = Says {
                ok: Some(format!(
                    "Autoscaling '{worker}' worker (min={min}, max={max})"
                )),
                failed: format!("Failed to autoscale '{worker}' worker: "),
            };
            (commands::autoscale(max, min)?, says)
        }
        "restart" => {
            let says = Says {
                ok: Some(format!("Restarting '{worker}' worker's pool")),
                failed: format!("Failed to restart the '{worker}' pool: "),
            };
            (commands::pool_restart(), says)
        }
        other => return Err(ApiError::NotFound(format!("no pool action '{other}'"))),
    };
    to_worker(&app, &worker, command, says).await
}

fn missing(name: &str) -> ApiError {
    ApiError::Invalid(format!("Missing argument {name}"))
}

pub async fn queue(
    State(app): State<AppState>,
    Path((action, worker)): Path<(String, String)>,
    p: Params,
) -> Result<Json<CommandAnswer>, ApiError> {
    let queue = p.required("queue")?;
    let (command, failed) = match action.as_str() {
        "add-consumer" => (
            {
                // A worker consuming kombu's own keys would eat its
                // bookkeeping or others' replies.
                app.control
                    .not_reserved(queue)
                    .map_err(|why| ApiError::bad("queue", why))?;
                commands::add_consumer(queue)?
            },
            format!("Failed to add '{queue}' consumer to '{worker}' worker: "),
        ),
        "cancel-consumer" => (
            commands::cancel_consumer(queue)?,
            format!("Failed to cancel '{queue}' consumer from '{worker}' worker: "),
        ),
        other => return Err(ApiError::NotFound(format!("no queue action '{other}'"))),
    };
    to_worker(&app, &worker, command, Says { ok: None, failed }).await
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

pub async fn rate_limit(
    State(app): State<AppState>,
    Path(task): Path<String>,
    p: Params,
) -> Result<Json<CommandAnswer>, ApiError> {
    let worker = p.required("workername")?;
    let command = commands::rate_limit(&task, p.required("ratelimit")?)?;
    let says = Says {
        ok: None,
        failed: "Failed to set rate limit: ".into(),
    };
    to_worker(&app, worker, command, says).await
}

pub async fn time_limit(
    State(app): State<AppState>,
    Path(task): Path<String>,
    p: Params,
) -> Result<Json<CommandAnswer>, ApiError> {
    let worker = p.required("workername")?;
    let command = commands::time_limit(&task, p.float("soft")?, p.float("hard")?)?;
    let says = Says {
        ok: None,
        failed: "Failed to set timeouts: ".into(),
    };
    to_worker(&app, worker, command, says).await
}

/// Revokes (and with `terminate`, kills) a task, broadcast to every worker
/// with replies, as `celery revoke` does.
pub async fn revoke(
    State(app): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Json<CommandAnswer>, ApiError> {
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
    Ok(Json(command_answer(format!("Revoked '{id}'"), &outcome)))
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
        RetryError::Queue(why) => ApiError::bad("queue", why),
        RetryError::Control(e) => ApiError::control("sending the retry", e),
    }
}
