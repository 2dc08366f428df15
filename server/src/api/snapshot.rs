//! `GET /snapshot?view=<json>`: one view's [`Snapshot`], the message a
//! websocket starts with, over plain HTTP. A page whose websocket cannot
//! be opened (a proxy that does not pass the upgrade on) fetches it on a
//! timer instead (`app::live::poll`). It is the same bounded read as a
//! page's first render. With `inspect=1` on a Worker view, that worker is
//! asked for its stats, queues and tasks first, as the websocket's task
//! does every so often while a tab shows it (and Flower on every load of
//! its worker page).

use app::wire::{Snapshot, TasksQuery, View, ViewData};
use axum::{
    Json,
    extract::{RawQuery, State},
    http::header,
    response::IntoResponse,
};

use super::{AppState, error::ApiError, params::Params};

pub async fn snapshot(
    State(app): State<AppState>,
    redaction: super::redaction::Redaction,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let params = Params::parse(raw.as_deref());
    let view = params
        .get("view")
        .ok_or_else(|| ApiError::bad("view", "is required: the view, as JSON"))?;
    let view: View = serde_json::from_str(view)
        .map_err(|e| ApiError::bad("view", format!("is not a view: {e}")))?;
    if params.flag("inspect")?
        && let View::Worker { name } = &view
    {
        // Single-flight with the websockets' and the API's refreshes, and
        // never for a worker celadon has not seen.
        let inspected = app.refresher.refresh(Some(name.clone())).await;
        // The page shows what it has; the next refresh asks again.
        if let Err(error) = inspected {
            tracing::debug!(%error, "worker page inspection failed");
        }
    }
    let snapshot: Snapshot = redacted_snapshot(&app.state, view, &redaction).await?;
    // Each answer is of that moment: nothing in between may keep one.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(snapshot)))
}

/// `view`'s snapshot as `redaction` lets its asker see it: task data
/// redacted, and a search into it answered with why it is refused (and no
/// rows) rather than run.
pub async fn redacted_snapshot(
    state: &crate::state::owner::StateHandle,
    view: View,
    redaction: &super::redaction::Redaction,
) -> Result<Snapshot, ApiError> {
    let Some(query) = refused_search(&view, redaction) else {
        let mut snapshot = state.snapshot(view).await?;
        redaction.apply(|r| r.snapshot(&mut snapshot));
        return Ok(snapshot);
    };
    let mut plain = query.clone();
    plain.search.clear();
    let mut snapshot = state.snapshot(View::Tasks { query: plain }).await?;
    if let ViewData::Tasks(data) = &mut snapshot.data {
        data.query = query;
        data.error = Some(crate::auth::redact::SEARCH_REFUSED.into());
        data.rows.clear();
        data.filtered = 0;
    }
    Ok(snapshot)
}

/// The query of a Tasks view whose search `redaction` refuses.
pub fn refused_search(view: &View, redaction: &super::redaction::Redaction) -> Option<TasksQuery> {
    match view {
        View::Tasks { query }
            if !query.search.trim().is_empty()
                && redaction.refuses(crate::state::search::parse(&query.search).ok().as_ref()) =>
        {
            Some(query.clone())
        }
        _ => None,
    }
}
