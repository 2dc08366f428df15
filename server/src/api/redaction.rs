//! The redaction (`auth::redact`) that applies to whoever made a request:
//! an extractor, so a handler that returns task data names it and cannot
//! forget it.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{AppState, error::ApiError};
use crate::{
    auth::{
        Principal, Role,
        redact::{Redactor, SEARCH_REFUSED, searches_task_data},
    },
    state::query::TaskQuery,
};

/// What the asker may not see of task data; `None`: everything.
#[derive(Clone, Default)]
pub struct Redaction(Option<Arc<Redactor>>);

impl Redaction {
    pub fn of(redactor: &Arc<Redactor>, role: Option<Role>) -> Redaction {
        Redaction(redactor.for_role(role).map(|_| redactor.clone()))
    }

    /// Applies `f` when there is something to redact.
    pub fn apply(&self, f: impl FnOnce(&Redactor)) {
        if let Some(r) = &self.0 {
            f(r);
        }
    }

    /// Whether every search into task data is refused (the queue
    /// browser's, whose queries are not `state::search`'s).
    pub fn refuses_any(&self) -> bool {
        self.0.is_some()
    }

    /// Whether a search on task data is refused.
    pub fn refuses(&self, search: Option<&crate::state::search::Expr>) -> bool {
        self.0.is_some() && search.is_some_and(searches_task_data)
    }

    /// A 403 for a query whose search looks into redacted data.
    pub fn check(&self, query: &TaskQuery) -> Result<(), ApiError> {
        match self.refuses(query.search.as_ref()) {
            true => Err(ApiError::Rejected {
                status: axum::http::StatusCode::FORBIDDEN,
                why: SEARCH_REFUSED.into(),
            }),
            false => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Redaction {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let role = parts.extensions.get::<Principal>().and_then(|p| p.role);
        Ok(Redaction::of(&app.access.redact, role))
    }
}
