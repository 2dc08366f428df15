//! Bulk actions over the tasks a query finds: `POST /api/tasks/revoke` and
//! `POST /api/tasks/retry`, with `/api/tasks`'s parameters (`search`,
//! `state`, `taskname`, `workername`, ...). With `dry_run=1` nothing is
//! sent: the answer is how many tasks match and the first rows, so a user
//! sees what a bulk action would touch before it touches anything. A bulk
//! retry re-runs only tasks that ended badly ([`RETRYABLE_STATES`], or the
//! states `states=` names): the others are skipped and listed with their
//! state, so a broad query cannot run every successful task again.

use app::wire::control::{
    BulkDryRun, BulkRefusal, BulkRetried, BulkRetry, BulkSkip, CommandAnswer,
};
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};

use super::{
    AppState,
    control::{command_answer, not_delivered, retry_error},
    error::ApiError,
    extract::Path,
    params::Params,
    tasks::parse_query,
};
use crate::{
    control::{commands, service::RetryError},
    state::{key::TaskKey, read::Matching},
};

/// The states a bulk retry re-runs unless `states=` says otherwise.
pub const RETRYABLE_STATES: [&str; 3] = ["FAILURE", "REVOKED", "REJECTED"];

/// The states `states=` may name.
const TASK_STATES: [&str; 8] = [
    "PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED",
];

/// `states=` (comma-separated, any case), or [`RETRYABLE_STATES`].
fn retry_states(params: &Params) -> Result<Vec<String>, ApiError> {
    let Some(given) = params.get("states").filter(|s| !s.trim().is_empty()) else {
        return Ok(RETRYABLE_STATES.iter().map(|s| s.to_string()).collect());
    };
    given
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .map(|s| {
            if TASK_STATES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(ApiError::bad(
                    "states",
                    format!("{s:?} is not one of {}", TASK_STATES.join(", ")),
                ))
            }
        })
        .collect()
}

/// The most tasks one bulk action touches; a query matching more is
/// refused, so that a typo cannot revoke a whole history.
pub const BULK_LIMIT: usize = 1000;

/// Rows a dry run shows.
const DRY_RUN_ROWS: usize = 10;

/// Ids (and the first rows) of what the query matches, with the total.
async fn matching(app: &AppState, params: &Params) -> Result<Matching, ApiError> {
    let q = parse_query(params)?;
    Ok(app.state.matching(q, BULK_LIMIT, DRY_RUN_ROWS).await?)
}

pub async fn bulk(
    State(app): State<AppState>,
    Path(action): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let dry_run = params.flag("dry_run")?;
    let terminate = params.flag("terminate")?;
    let states = retry_states(&params)?;
    if !matches!(action.as_str(), "revoke" | "retry") {
        return Err(ApiError::NotFound(format!("no bulk action '{action}'")));
    }
    let Matching { count, ids, first } = matching(&app, &params).await?;
    if dry_run {
        return Ok(Json(BulkDryRun {
            action,
            dry_run: true,
            count,
            limit: BULK_LIMIT,
            first,
        })
        .into_response());
    }
    if count == 0 {
        return Err(ApiError::Invalid("no task matches the query".into()));
    }
    if count > BULK_LIMIT {
        return Err(ApiError::Invalid(format!(
            "{count} tasks match; a bulk action touches at most {BULK_LIMIT}: narrow the query"
        )));
    }
    if action == "revoke" {
        let signal = params
            .get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGTERM");
        return Ok(Json(revoke_all(&app, ids, terminate, signal).await?).into_response());
    }
    Ok(Json(retry_all(&app, &ids, &states).await?).into_response())
}

async fn revoke_all(
    app: &AppState,
    ids: Vec<String>,
    terminate: bool,
    signal: &str,
) -> Result<CommandAnswer, ApiError> {
    let command = commands::revoke(&ids, terminate, signal)?;
    let outcome = app
        .control
        .call(command, None)
        .await
        .map_err(|e| ApiError::control("sending the revoke", e))?;
    if outcome.delivered == 0 {
        return Err(not_delivered("the revoke"));
    }
    Ok(CommandAnswer {
        ids: Some(ids.clone()),
        ..command_answer(format!("Revoked {} tasks", ids.len()), &outcome)
    })
}

/// Each retry that could be sent, and why the others could not; tasks not
/// in one of `states` are skipped; a broker failure stops the round.
async fn retry_all(
    app: &AppState,
    ids: &[String],
    states: &[String],
) -> Result<BulkRetried, ApiError> {
    let mut retried = Vec::new();
    let mut refused = Vec::new();
    let mut skipped = Vec::new();
    for id in ids {
        let state = app
            .state
            .task(TaskKey::of(id))
            .await?
            .map(|t| t.state)
            .unwrap_or_default();
        if !states.contains(&state) {
            skipped.push(BulkSkip {
                task_id: id.clone(),
                state,
            });
            continue;
        }
        match app.control.retry(id).await {
            Ok(r) => retried.push(BulkRetry {
                retry_of: r.original,
                task_id: r.id,
                source: r.source.key().to_string(),
            }),
            Err(e @ RetryError::Control(_)) => return Err(retry_error(e)),
            Err(e) => refused.push(BulkRefusal {
                task_id: id.clone(),
                error: e.to_string(),
            }),
        }
    }
    let mut message = format!("Retried {} of {} tasks", retried.len(), ids.len());
    if !skipped.is_empty() {
        message.push_str(&format!(
            "; skipped {} not in {} (states= widens this)",
            skipped.len(),
            states.join(", ")
        ));
    }
    Ok(BulkRetried {
        message,
        retried,
        refused,
        skipped,
    })
}
