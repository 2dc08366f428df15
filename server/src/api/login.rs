//! `/login` and `/logout`, as Flower has them: `/login` sends the browser
//! to the sign-on provider and is where it comes back (`?code=…&state=…`,
//! Flower's redirect URI); `/logout` ends the session. Failures are pages
//! that say why, in text; each sign-on, refusal and sign-off is logged.

use std::time::{Instant, SystemTime};

use app::base::Base;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{AppState, guard::SignOn};
use crate::{
    audit::NewEntry,
    auth::{Principal, Via, oidc::SignOnError, session::Session},
    listen::client::Client,
};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    next: Option<String>,
}

/// A page of text, escaped.
fn page(status: StatusCode, base: Base, title: &str, message: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · celadon</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body><main class=\"signon\"><h1>{t}</h1>\
         <p id=\"signon-message\">{m}</p><p><a href=\"{login}\">Sign on</a></p></main></body></html>",
        t = escape(title),
        m = escape(message),
        css = escape(&base.href("/pkg/celadon.css")),
        login = escape(&base.href("/login")),
    );
    (status, Html(body)).into_response()
}

/// Where to go after signing on: a path on this server under the base,
/// never another site (`//evil`, `/\evil`, `https://…`).
fn safe_next(next: Option<&str>, base: Base) -> String {
    let home = base.href("/");
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && base
                    .strip(n.split(['?', '#']).next().unwrap_or(""))
                    .is_some() =>
        {
            n.to_string()
        }
        _ => home,
    }
}

/// `<scheme>://<host><base>/login`, as the request reached celadon.
fn redirect_uri(
    sign_on: &SignOn,
    headers: &HeaderMap,
    client: Option<&Client>,
    base: Base,
) -> String {
    if let Some(uri) = &sign_on.redirect_uri {
        return uri.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = client.map_or("http", |c| c.scheme);
    format!("{scheme}://{host}{}", base.href("/login"))
}

pub async fn login(
    State(app): State<AppState>,
    client: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let base = app.base;
    let Some(sign_on) = app.access.sign_on.clone() else {
        return page(
            StatusCode::NOT_FOUND,
            base,
            "No sign-on",
            "celadon runs without a sign-on provider (see --auth-provider).",
        );
    };
    let client = client.map(|c| c.0);
    let addr = client
        .as_ref()
        .map_or("unknown", |c| c.addr.as_str())
        .to_string();
    let secure = client.as_ref().is_some_and(|c| c.scheme == "https");
    if let Some(error) = query.error {
        let why = query.error_description.unwrap_or(error);
        tracing::warn!(target: "celadon::auth", client = %addr, why, "sign-on refused by the provider");
        let _ = app
            .audit
            .record(NewEntry::login_failed(
                "unknown", "session", &addr, 403, &why,
            ))
            .await;
        return page(StatusCode::FORBIDDEN, base, "Sign-on refused", &why);
    }
    let Some(code) = query.code else {
        let next = safe_next(query.next.as_deref(), base);
        let uri = redirect_uri(&sign_on, &headers, client.as_ref(), base);
        return match sign_on.provider.start(uri, next).await {
            Ok((to, pending)) => (
                sign_on.cookies.set_pending(&headers, &pending, secure),
                Redirect::to(&to),
            )
                .into_response(),
            Err(error) => {
                tracing::error!(target: "celadon::auth", %error, "sign-on could not start");
                page(
                    StatusCode::BAD_GATEWAY,
                    base,
                    "Sign-on unavailable",
                    &error.to_string(),
                )
            }
        };
    };
    let now = Instant::now();
    if !app.access.limiter.allows(&addr, now) {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            base,
            "Too many failed sign-ons",
            "Too many failed sign-ons from this address; try again in a minute.",
        );
    }
    let Some(pending) = sign_on.cookies.pending(&headers) else {
        return page(
            StatusCode::BAD_REQUEST,
            base,
            "Sign-on expired",
            "This browser has no sign-on under way (it expired, or cookies are blocked); sign on again.",
        );
    };
    let next = pending.next.clone();
    let identity = match sign_on
        .provider
        .finish(pending, code, query.state.as_deref().unwrap_or(""))
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            app.access.limiter.failed(&addr, now);
            tracing::warn!(target: "celadon::auth", client = %addr, %error, "sign-on failed");
            let who = match &error {
                SignOnError::NotAllowed(email) => email.as_str(),
                _ => "unknown",
            };
            let _ = app
                .audit
                .record(NewEntry::login_failed(
                    who,
                    "session",
                    &addr,
                    403,
                    &error.to_string(),
                ))
                .await;
            return page(
                StatusCode::FORBIDDEN,
                base,
                "Sign-on failed",
                &error.to_string(),
            );
        }
    };
    let who = identity
        .email
        .clone()
        .unwrap_or_else(|| identity.name.clone());
    let Some(role) = app.access.roles.role_for(&identity) else {
        app.access.limiter.failed(&addr, now);
        let _ = app
            .audit
            .record(NewEntry::login_failed(
                &who,
                "session",
                &addr,
                403,
                "no role here",
            ))
            .await;
        tracing::warn!(target: "celadon::auth", client = %addr, who = identity.email.as_deref().unwrap_or(&identity.name), "sign-on refused: no role");
        return page(
            StatusCode::FORBIDDEN,
            base,
            "No access",
            &format!(
                "{} signed on, but has no role here; ask an admin to add you to --roles.",
                identity.email.as_deref().unwrap_or(&identity.name)
            ),
        );
    };
    app.access.limiter.succeeded(&addr);
    tracing::info!(target: "celadon::auth", client = %addr, who = identity.email.as_deref().unwrap_or(&identity.name), role = role.as_str(), "signed on");
    let principal = Principal {
        name: who,
        role: Some(role),
        via: Via::Session,
    };
    let _ = app
        .audit
        .record(NewEntry::login(
            &principal,
            &addr,
            "signed on with OpenID Connect",
        ))
        .await;
    let session = Session::new(identity, SystemTime::now());
    (
        sign_on.cookies.set_session(&headers, &session, secure),
        Redirect::to(&next),
    )
        .into_response()
}

pub async fn logout(
    State(app): State<AppState>,
    client: Option<axum::Extension<Client>>,
    headers: HeaderMap,
) -> Response {
    let base = app.base;
    let Some(sign_on) = app.access.sign_on.clone() else {
        return page(
            StatusCode::OK,
            base,
            "Signed out",
            "celadon runs without sign-on; close the browser to forget a basic-auth login.",
        );
    };
    if let Some(session) = sign_on.cookies.session(&headers, SystemTime::now()) {
        let addr = client.as_ref().map_or("unknown", |c| c.0.addr.as_str());
        let identity = session.identity();
        let principal = Principal {
            role: app.access.roles.role_for(&identity),
            name: identity.email.unwrap_or(identity.name),
            via: Via::Session,
        };
        tracing::info!(target: "celadon::auth", client = %addr, who = %principal.name, "signed out");
        let _ = app.audit.record(NewEntry::logout(&principal, addr)).await;
    }
    (
        sign_on.cookies.clear(&headers),
        page(
            StatusCode::OK,
            base,
            "Signed out",
            "You are signed out of celadon.",
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_base_are_gone_back_to() {
        let root = Base::default();
        assert_eq!(
            safe_next(Some("/tasks?state=FAILURE"), root),
            "/tasks?state=FAILURE"
        );
        for evil in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "tasks",
        ] {
            assert_eq!(safe_next(Some(evil), root), "/", "{evil}");
        }
        let flower = Base::parse("/flower").unwrap();
        assert_eq!(safe_next(Some("/flower/tasks"), flower), "/flower/tasks");
        assert_eq!(safe_next(Some("/tasks"), flower), "/flower/");
        assert_eq!(safe_next(None, flower), "/flower/");
    }
}
