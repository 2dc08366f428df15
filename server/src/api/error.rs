//! API errors: every one is JSON `{"error": "..."}` with a status that says
//! whose fault it was. Nothing internal is sent to the client.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter the client got wrong: which, and why.
    #[error("{name}: {why}")]
    BadParam { name: &'static str, why: String },
    /// A request that is well formed but asks for something invalid.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// celadon will not do it, and says why (a retry without the task's
    /// exact arguments).
    #[error("{0}")]
    Refused(String),
    /// The workers did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Something celadon depends on (the broker, the workers) is not there.
    #[error("{0}")]
    Unavailable(String),
    /// The model's owner is gone (the server is shutting down).
    #[error("celadon is shutting down")]
    ShuttingDown,
}

impl ApiError {
    pub fn bad(name: &'static str, why: impl Into<String>) -> ApiError {
        ApiError::BadParam {
            name,
            why: why.into(),
        }
    }
}

impl From<crate::state::owner::Stopped> for ApiError {
    fn from(_: crate::state::owner::Stopped) -> ApiError {
        ApiError::ShuttingDown
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadParam { .. } | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
