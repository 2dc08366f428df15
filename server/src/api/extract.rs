//! Extractors whose rejections are the API's own errors: a malformed path
//! gets the JSON `{"error": …}` shape and a status saying what was wrong,
//! never axum's plain-text rejection. (A request's parameters and body are
//! read by `params::Params`.)

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A path's parameters, as axum's `Path`.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::Rejected {
                status: rejection.status(),
                why: rejection.body_text(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::StatusCode, routing::post};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn echo(Path(id): Path<u32>) -> String {
        id.to_string()
    }

    async fn ask(path: &str) -> (StatusCode, String) {
        let request = axum::http::Request::post(path).body(Body::empty()).unwrap();
        let app = Router::new().route("/t/{id}", post(echo));
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_malformed_path_is_refused_in_the_api_error_shape() {
        assert_eq!(ask("/t/7").await, (StatusCode::OK, "7".into()));
        let (status, body) = ask("/t/x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let answer: app::wire::rest::ErrorAnswer = serde_json::from_str(&body).unwrap();
        assert!(!answer.error.is_empty(), "{body}");
    }
}
