//! The bounds one request may not pass: its body's size, the time it may
//! take to be answered, and the size of a JSON page of tasks. Each is
//! refused with the API's JSON error naming the bound.

use std::time::Duration;

use axum::{
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::ApiError;

/// The largest request body read (a task's arguments, a form): past it
/// the request is refused with 413 before its handler runs.
pub const MAX_BODY: usize = 1024 * 1024;

/// The longest a request may take to be answered (not the streaming of
/// its answer: an export streams for as long as it takes, and a websocket
/// lives on after its upgrade). Past it the client gets a 503. Every wait
/// celadon does on a client's behalf is shorter (`apply`'s and
/// `/api/task/result`'s waits are capped below it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The most tasks one JSON page of `/api/tasks` lists (`limit`); a larger
/// `limit` is a 400 naming this. A listing without a `limit` lists the
/// model, which `--max-tasks` bounds, a bounded read at a time; exports
/// (`format=csv|ndjson`) stream and are not capped.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// Answers 503 for a request whose handler takes longer than `limit`
/// ([`REQUEST_TIMEOUT`]).
pub async fn timeout(
    State(limit): State<Duration>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, "a request took longer than celadon allows");
            ApiError::Rejected {
                status: StatusCode::SERVICE_UNAVAILABLE,
                why: format!(
                    "the request was not answered within {} ms",
                    limit.as_millis()
                ),
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_handler_slower_than_the_request_timeout_is_a_json_503() {
        let limit = Duration::from_millis(20);
        let app = Router::new()
            .route("/slow", get(std::future::pending::<&'static str>))
            .layer(axum::middleware::from_fn_with_state(limit, timeout));
        let request = Request::get("/slow").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            answer["error"].as_str().unwrap().contains("within 20 ms"),
            "{answer}"
        );
    }
}
