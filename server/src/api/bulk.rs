//! Bulk actions over the tasks a query finds: `POST /api/tasks/revoke` and
//! `POST /api/tasks/retry`, with `/api/tasks`'s parameters (`search`,
//! `state`, `taskname`, `workername`, ...). With `dry_run=1` nothing is
//! sent: the answer is how many tasks match and the first rows, so a user
//! sees what a bulk action would touch before it touches anything.

use axum::{
    extract::{Path, RawQuery, State},
    Json,
};
use serde_json::{json, Value};

use super::{control::outcome_json, error::ApiError, params::Params, tasks::parse_query, AppState};
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
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let dry_run = params.flag("dry_run")?;
    let terminate = params.flag("terminate")?;
    if !matches!(action.as_str(), "revoke" | "retry") {
        return Err(ApiError::NotFound(format!("no bulk action '{action}'")));
    }
    let Matching {
        count,
        ids,
        first: rows,
    } = matching(&app, &params).await?;
    if dry_run {
        return Ok(Json(json!({
            "action": action,
            "dry_run": true,
            "count": count,
            "limit": BULK_LIMIT,
            "first": rows,
        })));
    }
    if count == 0 {
        return Err(ApiError::Invalid("no task matches the query".into()));
    }
    if count > BULK_LIMIT {
        return Err(ApiError::Invalid(format!(
            "{count} tasks match; a bulk action touches at most {BULK_LIMIT}: narrow the query"
        )));
    }
    let control = &app.control;
    if action == "revoke" {
        let signal = params
            .get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGTERM");
        let command = commands::revoke(&ids, terminate, signal)?;
        let outcome = control.call(command, None).await?;
        if outcome.delivered == 0 {
            return Err(ApiError::Unavailable(
                "the revoke was not delivered: no worker is connected to the broker".into(),
            ));
        }
        let mut answer = outcome_json(format!("Revoked {} tasks", ids.len()), &outcome);
        answer["ids"] = json!(ids);
        return Ok(Json(answer));
    }
    let mut retried = Vec::new();
    let mut refused = Vec::new();
    for id in &ids {
        match control.retry(id).await {
            Ok(r) => retried.push(json!({
                "retry-of": r.original, "task-id": r.id, "source": r.source.key(),
            })),
            Err(RetryError::Control(e)) => return Err(e.into()),
            Err(e) => refused.push(json!({ "task-id": id, "error": e.to_string() })),
        }
    }
    Ok(Json(json!({
        "message": format!("Retried {} of {} tasks", retried.len(), ids.len()),
        "retried": retried,
        "refused": refused,
    })))
}
