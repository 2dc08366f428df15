//! Who may do what. One middleware in front of every route:
//! - `--basic-auth` guards every page, the websocket and the API; only
//!   `/healthcheck` and `/metrics` (under `--url-prefix`, as every path)
//!   stay open, as in Flower (monitoring systems scrape them);
//! - without a login, the API (`/api/...`) answers 401 unless
//!   `FLOWER_UNAUTHENTICATED_API` is set, as in Flower; set, it answers
//!   anyone, with Flower's CORS headers for reads from any origin;
//! - control endpoints (every `POST`) answer 403 with `--read-only`;
//! - a browser request from another site may not control anything nor
//!   open the websocket: `Sec-Fetch-Site` (or, from older browsers, an
//!   `Origin` naming another host) gives it away. Clients that are not
//!   browsers send neither and are let through, as they cannot be
//!   tricked into a request by a page.

use std::sync::Arc;

use app::base::Base;
use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;

use crate::auth::{Principal, Role, Via};

/// The access rules, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `(user, password)` pairs; empty: no authentication.
    pub users: Arc<Vec<(String, String)>>,
    pub read_only: bool,
    /// `--url-prefix`: where the open paths and the websocket are.
    pub base: Base,
    /// `FLOWER_UNAUTHENTICATED_API`: without a login, the API answers (and
    /// to any origin's reads); else, as in Flower, it answers 401.
    pub unauthenticated_api: bool,
}

/// Flower's answer to an API request when no login is configured and
/// `FLOWER_UNAUTHENTICATED_API` is not set.
pub const API_NEEDS_AUTH: &str = "FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication";

impl Access {
    /// Whether an API request may be answered without a login.
    fn open_api(&self) -> bool {
        self.users.is_empty() && self.unauthenticated_api
    }
}

/// Flower's CORS headers for an API opened to unauthenticated clients.
fn allow_any_origin(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static(
            "x-requested-with,access-control-allow-origin,authorization,content-type",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::HeaderValue::from_static(" PUT, DELETE, OPTIONS, POST, GET, PATCH"),
    );
}

impl Access {
    fn allows(&self, headers: &HeaderMap) -> bool {
        self.users.is_empty() || self.basic_user(headers).is_some()
    }

    /// The `--basic-auth` user whose pair `headers` carry.
    fn basic_user(&self, headers: &HeaderMap) -> Option<String> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
            })?;
        // Every pair is compared in full, so the time taken does not say
        // how much of a guess was right.
        self.users.iter().fold(None, |found, (user, password)| {
            let pair = format!("{user}:{password}");
            match constant_time_eq(pair.as_bytes(), &given) {
                true => Some(user.clone()),
                false => found,
            }
        })
    }

    /// Who `headers` say is asking, once they are let in.
    fn principal(&self, headers: &HeaderMap) -> Principal {
        match self.basic_user(headers) {
            Some(name) => Principal {
                name,
                role: Some(Role::Admin),
                via: Via::Basic,
            },
            None => Principal::anonymous(self.unauthenticated_api.then_some(Role::Admin)),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a browser sent this request from a page of another site.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !origin_host.eq_ignore_ascii_case(host)
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let answer = app::wire::rest::ErrorAnswer {
        error: why.to_string(),
        replies: Default::default(),
    };
    (status, Json(answer)).into_response()
}

pub async fn guard(State(access): State<Access>, request: Request<Body>, next: Next) -> Response {
    let path = access.base.strip(request.uri().path());
    if matches!(path, Some("/healthcheck" | "/metrics")) {
        return next.run(request).await;
    }
    let api = path.is_some_and(|p| p == "/api" || p.starts_with("/api/"));
    let open_api = api && access.open_api();
    if open_api && request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        allow_any_origin(&mut response);
        return response;
    }
    if api && access.users.is_empty() && !access.unauthenticated_api {
        return refuse(StatusCode::UNAUTHORIZED, API_NEEDS_AUTH);
    }
    let headers = request.headers();
    if !access.allows(headers) {
        let mut response = refuse(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"celadon\""),
        );
        return response;
    }
    let principal = access.principal(headers);
    // The principal goes on the answer too, refusals included, for the
    // audit trail (`api::audit`), which sits outside this guard.
    let refused = |status, why| {
        let mut response = refuse(status, why);
        response.extensions_mut().insert(principal.clone());
        response
    };
    let control = request.method() == Method::POST;
    if control && access.read_only {
        return refused(
            StatusCode::FORBIDDEN,
            "Read only mode is enabled (celadon runs with --read-only: control is turned off)",
        );
    }
    if (control || path == Some("/ws")) && cross_site(headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "refused: the request came from a page of another site",
        );
    }
    let mut request = request;
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(principal);
    if open_api {
        allow_any_origin(&mut response);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_configured_pairs_are_let_in() {
        let access = Access {
            users: Arc::new(vec![
                ("ann".into(), "s3cret".into()),
                ("bob".into(), "pw".into()),
            ]),
            read_only: false,
            unauthenticated_api: false,
            base: Base::default(),
        };
        let basic = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(access.allows(&headers(&[("authorization", &basic("ann:s3cret"))])));
        assert!(access.allows(&headers(&[("authorization", &basic("bob:pw"))])));
        assert!(!access.allows(&headers(&[("authorization", &basic("ann:pw"))])));
        assert!(!access.allows(&headers(&[("authorization", "Basic !!!")])));
        assert!(!access.allows(&HeaderMap::new()));
        assert!(Access::default().allows(&HeaderMap::new()));
    }

    /// The router's answers to `request` under `access`: status, headers.
    async fn through(access: Access, request: Request<Body>) -> (StatusCode, HeaderMap) {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/api/tasks", axum::routing::get(|| async { "[]" }))
            .route("/healthcheck", axum::routing::get(|| async { "OK" }))
            .route("/", axum::routing::get(|| async { "page" }))
            .layer(axum::middleware::from_fn_with_state(access, guard));
        let response = app.oneshot(request).await.unwrap();
        (response.status(), response.headers().clone())
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    /// Flower's rule: without a login, the API answers only with
    /// FLOWER_UNAUTHENTICATED_API set, and then to any origin.
    #[tokio::test]
    async fn without_a_login_the_api_answers_only_when_opened_as_flowers_does() {
        let closed = Access::default();
        assert_eq!(
            through(closed.clone(), get("/api/tasks")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            through(closed.clone(), get("/healthcheck")).await.0,
            StatusCode::OK
        );
        assert_eq!(through(closed.clone(), get("/")).await.0, StatusCode::OK);
        let (status, headers) = through(closed, get("/")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("access-control-allow-origin").is_none());

        let open = Access {
            unauthenticated_api: true,
            ..Access::default()
        };
        let (status, headers) = through(open.clone(), get("/api/tasks")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["access-control-allow-origin"], "*");
        let preflight = Request::options("/api/tasks").body(Body::empty()).unwrap();
        let (status, headers) = through(open, preflight).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers["access-control-allow-origin"], "*");

        let login = Access {
            users: Arc::new(vec![("ann".into(), "pw".into())]),
            unauthenticated_api: true,
            ..Access::default()
        };
        let (status, headers) = through(login, get("/api/tasks")).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a login, when configured, is asked for"
        );
        assert!(headers.get("access-control-allow-origin").is_none());
    }

    #[test]
    fn requests_from_other_sites_are_recognised() {
        assert!(!cross_site(&HeaderMap::new()));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://localhost:5555"),
            ("host", "localhost:5555")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "localhost:5555")
        ])));
    }
}
