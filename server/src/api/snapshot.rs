//! `GET /snapshot?view=<json>`: one view's [`Snapshot`], the message a
//! websocket starts with, over plain HTTP. A page whose websocket cannot
//! be opened (a proxy that does not pass the upgrade on) fetches it on a
//! timer instead (`app::live::poll`). It is the same bounded read as a
//! page's first render. With `inspect=1` on a Worker view, that worker is
//! asked for its stats, queues and tasks first, as the websocket's task
//! does every so often while a tab shows it (and Flower on every load of
//! its worker page).

use app::wire::{Snapshot, View};
use axum::{
    Json,
    extract::{RawQuery, State},
    http::header,
    response::IntoResponse,
};

use super::{AppState, error::ApiError, params::Params};

pub async fn snapshot(
    State(app): State<AppState>,
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
    let snapshot: Snapshot = app.state.snapshot(view).await?;
    // Each answer is of that moment: nothing in between may keep one.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(snapshot)))
}
