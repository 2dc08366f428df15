//! Extractors whose rejections are the API's own errors: a malformed path,
//! a body that is not JSON or has the wrong content type, get the JSON
//! `{"error": …}` shape and a status saying what was wrong, never axum's
//! plain-text rejection.

use axum::{
    Json,
    extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

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

/// An optional JSON body, kept as its text: none without a content type,
/// refused with another content type or when it is not JSON.
pub struct JsonBody(pub Option<Box<RawValue>>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match <Json<Box<RawValue>> as OptionalFromRequest<S>>::from_request(req, state).await {
            Ok(body) => Ok(JsonBody(body.map(|Json(raw)| raw))),
            Err(rejection) => Err(ApiError::Rejected {
                status: rejection.status(),
                why: format!("body: {}", rejection.body_text()),
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

    /// Echoes the id and the body's text.
    async fn echo(Path(id): Path<u32>, JsonBody(body): JsonBody) -> String {
        format!(
            "{id} {}",
            body.map_or("none".into(), |b| b.get().to_string())
        )
    }

    async fn ask(path: &str, content_type: Option<&str>, body: &str) -> (StatusCode, String) {
        let mut request = axum::http::Request::post(path);
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let app = Router::new().route("/t/{id}", post(echo));
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn error_of(body: &str) -> String {
        let answer: app::wire::rest::ErrorAnswer = serde_json::from_str(body).unwrap();
        answer.error
    }

    #[tokio::test]
    async fn a_json_body_is_kept_as_its_text_and_none_without_a_content_type() {
        let json = Some("application/json");
        assert_eq!(
            ask("/t/7", json, r#"{"b": 1, "a": 2}"#).await.1,
            r#"7 {"b": 1, "a": 2}"#
        );
        assert_eq!(ask("/t/7", None, "").await.1, "7 none");
    }

    #[tokio::test]
    async fn what_axum_cannot_read_is_refused_in_the_api_error_shape() {
        let (status, body) = ask("/t/7", Some("application/json"), "{oops").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(error_of(&body).starts_with("body: "), "{body}");
        let (status, body) = ask("/t/7", Some("text/plain"), "{}").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error_of(&body).contains("Content-Type"), "{body}");
        let (status, body) = ask("/t/x", None, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!error_of(&body).is_empty(), "{body}");
    }
}
