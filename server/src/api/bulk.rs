//! Bulk actions over the tasks a query finds: `POST /api/tasks/revoke` and
//! `POST /api/tasks/retry`, with `/api/tasks`'s parameters (`search`,
//! `state`, `taskname`, `workername`, ...). With `dry_run=1` nothing is
//! sent: the answer is how many tasks match and the first rows, so a user
//! sees what a bulk action would touch before it touches anything.

use app::wire::control::{BulkDryRun, BulkRefusal, BulkRetried, BulkRetry, CommandAnswer};
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
    state::read::Matching,
};

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
    Ok(Json(retry_all(&app, &ids).await?).into_response())
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

/// Each retry that could be sent, and why the others could not; a broker
/// failure stops the round.
async fn retry_all(app: &AppState, ids: &[String]) -> Result<BulkRetried, ApiError> {
    let mut retried = Vec::new();
    let mut refused = Vec::new();
    for id in ids {
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
    Ok(BulkRetried {
        message: format!("Retried {} of {} tasks", retried.len(), ids.len()),
        retried,
        refused,
    })
}
