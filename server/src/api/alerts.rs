//! The alerts' API: `GET /api/alerts` (the rules with where each comes
//! from, the webhooks without their secrets, what fires now and the
//! recent history), `GET /api/alerts/history` (pages of firings, newest
//! first), and, for admins (`auth::policy`), the page's rules and
//! webhooks (`POST`/`PUT`/`DELETE`) and a webhook's test delivery.
//! Bodies are JSON (`wire::alerts::{RuleSpec, WebhookSpec}`); a bad one
//! is a 400 naming the field.

use app::wire::alerts::{
    AlertHistory, AlertsAnswer, RuleSpec, WebhookEntry, WebhookSpec, WebhookTest,
};
use axum::{
    Json,
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
};

use super::{AppState, error::ApiError, extract::Path, params::Params};
use crate::{
    alerts::{EditError, trail::MAX_HISTORY_PAGE},
    clock,
};

/// Firings a history page holds unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 100;

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::Invalid(why) => ApiError::Invalid(why),
        EditError::Unknown(why) => ApiError::NotFound(why),
        EditError::Store(cause) => {
            tracing::error!(%cause, "an alerts edit could not be kept");
            ApiError::Unavailable(
                "the alerts could not be kept in the history store; see celadon's log".into(),
            )
        }
    }
}

fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad("body", e.to_string()))
}

/// A webhook's URL as someone who may not edit it sees it: scheme and
/// host only (a Slack URL's path is its secret).
fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "…".to_string(),
    }
}

pub async fn list(
    State(app): State<AppState>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
) -> Json<AlertsAnswer> {
    let mut answer = app.alerts.answer().await;
    let admin = principal.is_some_and(|p| p.can(crate::auth::Role::Admin));
    if !admin {
        for w in &mut answer.webhooks {
            w.url = masked(&w.url);
        }
    }
    Json(answer)
}

pub async fn history(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AlertHistory>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let limit = params
        .number("limit")?
        .unwrap_or(DEFAULT_PAGE)
        .min(MAX_HISTORY_PAGE);
    let before = params.float("before")?;
    let alerts = app
        .alerts
        .store()
        .history(limit, before)
        .await
        .map_err(|cause| {
            tracing::warn!(%cause, "the alerts' history could not be read");
            ApiError::Unavailable("the alerts' history could not be read; see celadon's log".into())
        })?;
    Ok(Json(AlertHistory { alerts }))
}

pub async fn add_rule(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<RuleSpec>), ApiError> {
    let spec: RuleSpec = json(&body)?;
    app.alerts
        .put_rule(spec.clone(), None, clock::now())
        .await
        .map_err(edit_error)?;
    Ok((StatusCode::CREATED, Json(spec)))
}

pub async fn edit_rule(
    State(app): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<RuleSpec>, ApiError> {
    let spec: RuleSpec = json(&body)?;
    app.alerts
        .put_rule(spec.clone(), Some(&name), clock::now())
        .await
        .map_err(edit_error)?;
    Ok(Json(spec))
}

pub async fn delete_rule(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.alerts.delete_rule(&name).await.map_err(edit_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_webhook(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookEntry>), ApiError> {
    let spec: WebhookSpec = json(&body)?;
    let entry = app
        .alerts
        .put_webhook(spec, None, clock::now())
        .await
        .map_err(edit_error)?;
    Ok((StatusCode::CREATED, Json(entry)))
}

pub async fn edit_webhook(
    State(app): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<WebhookEntry>, ApiError> {
    let spec: WebhookSpec = json(&body)?;
    let entry = app
        .alerts
        .put_webhook(spec, Some(&name), clock::now())
        .await
        .map_err(edit_error)?;
    Ok(Json(entry))
}

pub async fn delete_webhook(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.alerts.delete_webhook(&name).await.map_err(edit_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One delivery of a test notice now; the receiver's answer.
pub async fn test_webhook(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WebhookTest>, ApiError> {
    if !app.alerts.webhooks().iter().any(|w| w.name == name) {
        return Err(ApiError::NotFound(format!("no webhook named {name:?}")));
    }
    Ok(Json(app.alerts.test_webhook(&name).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_shown_to_non_admins_without_its_path() {
        assert_eq!(
            masked("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(masked("not a url"), "…");
    }
}
