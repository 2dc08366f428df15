//! What Flower's own pages answer besides HTML and scripts rely on:
//! `GET /workers?json=1`, the Workers page's table as JSON (Flower's page
//! polls it). The page itself at `/workers` is celadon's.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{Method, Request},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{AppState, error::ApiError, params::Params};
use crate::clock;

/// Answers `/workers?json=1` (and `?refresh=1&json=1`, which inspects the
/// workers first, as Flower does); lets every other request through.
pub async fn workers_json(
    State(app): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if request.method() != Method::GET || app.base.strip(request.uri().path()) != Some("/workers") {
        return next.run(request).await;
    }
    let params = Params::parse(request.uri().query());
    match params.flag("json") {
        Ok(true) => {}
        Ok(false) => return next.run(request).await,
        Err(e) => return e.into_response(),
    }
    let table = async {
        if params.flag("refresh")? {
            app.refresher
                .refresh(None)
                .await
                .map_err(super::workers::refresh_error)?;
        }
        Ok::<_, ApiError>(app.state.workers_table(clock::now()).await?)
    };
    match table.await {
        Ok(table) => Json(table).into_response(),
        Err(e) => e.into_response(),
    }
}
