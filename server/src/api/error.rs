//! API errors: every one is JSON (`app::wire::rest::ErrorAnswer`) with a
//! status that says whose fault it was. Nothing internal is sent to the
//! client: a failure at the broker is logged with its cause, and the client
//! is told in a plain sentence.

use std::collections::BTreeMap;

use app::wire::{control::WorkerReply, rest::ErrorAnswer};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{broker::backend::BackendError, control::pidbox::ControlError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter the client got wrong: which, and why.
    #[error("{name}: {why}")]
    BadParam { name: &'static str, why: String },
    /// A request axum could not read (its path or its body), with the
    /// status axum chose: 400, 413, 415, 422.
    #[error("{why}")]
    Rejected { status: StatusCode, why: String },
    /// A request that is well formed but asks for something invalid.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// celadon will not do it, and says why (a retry without the task's
    /// exact arguments).
    #[error("{0}")]
    Refused(String),
    /// The worker answered with an error: its text, and every reply.
    #[error("{error}")]
    WorkerRefused {
        error: String,
        replies: BTreeMap<String, WorkerReply>,
    },
    /// The workers did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Something celadon depends on (the workers, a result backend) is not
    /// there.
    #[error("{0}")]
    Unavailable(String),
    /// Redis failed: `doing` what, for the client; the cause only in the
    /// log.
    #[error("the broker did not answer while {doing}; see celadon's log")]
    Broker { doing: &'static str, cause: String },
    /// The result backend failed: `doing` what, for the client; the cause
    /// only in the log.
    #[error("the result backend did not answer while {doing}; see celadon's log")]
    Backend { doing: &'static str, cause: String },
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

    /// A control failure while `doing` something.
    pub fn control(doing: &'static str, e: ControlError) -> ApiError {
        match e {
            ControlError::ShuttingDown => ApiError::ShuttingDown,
            ControlError::Redis(cause) => ApiError::Broker {
                doing,
                cause: cause.to_string(),
            },
            ControlError::Backend(BackendError::Unsupported(why)) => {
                ApiError::Unavailable(why.to_string())
            }
            ControlError::Backend(cause) => ApiError::Backend {
                doing,
                cause: cause.to_string(),
            },
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
        let status = match &self {
            ApiError::BadParam { .. } | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Rejected { status, .. } => *status,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::WorkerRefused { .. } => StatusCode::FORBIDDEN,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_)
            | ApiError::Broker { .. }
            | ApiError::Backend { .. }
            | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        match &self {
            ApiError::Broker { doing, cause } => {
                tracing::warn!(%cause, doing, "a request failed at the broker");
            }
            ApiError::Backend { doing, cause } => {
                tracing::warn!(%cause, doing, "a request failed at the result backend");
            }
            _ => {}
        }
        let error = self.to_string();
        let replies = match self {
            ApiError::WorkerRefused { replies, .. } => replies,
            _ => BTreeMap::new(),
        };
        (status, Json(ErrorAnswer { error, replies })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn answer(e: ApiError) -> (StatusCode, ErrorAnswer) {
        let response = e.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_broker_failure_says_what_failed_and_keeps_its_cause_to_the_log() {
        let cause = "WRONGTYPE Operation against a key holding the wrong kind of value";
        let (status, body) = answer(ApiError::Broker {
            doing: "sending the task",
            cause: cause.into(),
        })
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body.error,
            "the broker did not answer while sending the task; see celadon's log"
        );
    }

    #[tokio::test]
    async fn a_worker_refusal_is_a_403_with_every_reply() {
        let replies = BTreeMap::from([("w@h".to_string(), WorkerReply::Error("no".into()))]);
        let (status, body) = answer(ApiError::WorkerRefused {
            error: "no".into(),
            replies: replies.clone(),
        })
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body.replies, replies);
    }
}
