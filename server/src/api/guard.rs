//! Who may do what. One middleware in front of every route finds who is
//! asking (a `--basic-auth` user, a sign-on session cookie, or nobody),
//! their role (`--roles`), and lets the request through only if that role
//! may do what it asks (`auth::policy`):
//! - `/healthcheck` and `/metrics` (under `--url-prefix`, as every path)
//!   stay open, as in Flower (monitoring systems scrape them), and so do
//!   `/login`, `/logout` and the site's own files (`/pkg/…`, the icon);
//! - with a login configured, everything else asks for one: a browser
//!   navigating to a page is sent to the sign-on (or answered basic auth's
//!   401); the API, the websocket and what a page loads answer 401;
//! - without one, pages are open and the API (`/api/...`) answers 401
//!   unless `FLOWER_UNAUTHENTICATED_API` is set, as in Flower; set, it
//!   answers anyone, with Flower's CORS headers for reads from any origin;
//! - control endpoints answer 403 with `--read-only`, or to a role below
//!   the one the action asks for;
//! - a request that changes something with a session cookie must carry the
//!   session's CSRF token in `X-CSRF-Token` (scripts with basic auth or the
//!   open API send no cookie and need none, as against Flower);
//! - a browser request from another site may not control anything nor
//!   open the websocket: `Sec-Fetch-Site` (or, from older browsers, an
//!   `Origin` naming another host) gives it away. Clients that are not
//!   browsers send neither and are let through, as they cannot be
//!   tricked into a request by a page;
//! - wrong logins are limited per client (`auth::limiter`) and logged.

use std::{sync::Arc, time::Instant};

use app::{base::Base, wire::session::Person};
use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use base64::Engine;

use crate::{
    auth::{
        Principal, Role, Via, constant_time_eq,
        limiter::Limiter,
        policy,
        roles::{Identity, RoleRules},
        session::{Cookies, Session},
    },
    listen::client::Client,
};

/// Sign-on with an OpenID Connect provider, when configured.
pub struct SignOn {
    pub provider: crate::auth::Provider,
    pub cookies: Cookies,
    /// `--oauth2-redirect-uri`; else derived from each request.
    pub redirect_uri: Option<String>,
}

/// The access rules, from the command line.
#[derive(Clone, Default)]
pub struct Access {
    /// `(user, password)` pairs; empty: no basic authentication.
    pub users: Arc<Vec<(String, String)>>,
    pub read_only: bool,
    /// `--url-prefix`: where the open paths and the websocket are.
    pub base: Base,
    /// `FLOWER_UNAUTHENTICATED_API`: without a login, the API answers (and
    /// to any origin's reads); else, as in Flower, it answers 401.
    pub unauthenticated_api: bool,
    /// `--auth-provider`/`--oidc-issuer`.
    pub sign_on: Option<Arc<SignOn>>,
    /// `--roles`/`--default-role`.
    pub roles: Arc<RoleRules>,
    /// `--redact`: what viewers do not see of task data.
    pub redact: Arc<crate::auth::redact::Redactor>,
    pub limiter: Arc<Limiter>,
}

/// Flower's answer to an API request when no login is configured and
/// `FLOWER_UNAUTHENTICATED_API` is not set.
pub const API_NEEDS_AUTH: &str = "FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication";

/// The header a browser session sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl Access {
    /// Whether any login is configured.
    fn login_required(&self) -> bool {
        !self.users.is_empty() || self.sign_on.is_some()
    }

    /// Whether an API request may be answered without a login.
    fn open_api(&self) -> bool {
        !self.login_required() && self.unauthenticated_api
    }

    /// The `--basic-auth` user whose pair `headers` carry: `None` if they
    /// carry none, `Some(Err(user))` for a wrong one.
    fn basic_user(&self, headers: &HeaderMap) -> Option<Result<String, String>> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .unwrap_or_default()
            })?;
        // Every pair is compared in full, so the time taken does not say
        // how much of a guess was right.
        let found = self.users.iter().fold(None, |found, (user, password)| {
            let pair = format!("{user}:{password}");
            match constant_time_eq(pair.as_bytes(), &given) {
                true => Some(user.clone()),
                false => found,
            }
        });
        Some(found.ok_or_else(|| {
            let given = String::from_utf8_lossy(&given);
            given.split_once(':').map_or("", |(u, _)| u).to_string()
        }))
    }

    fn principal_of(&self, who: Identity, via: Via) -> Principal {
        Principal {
            role: self.roles.role_for(&who),
            name: who
                .email
                .filter(|_| via == Via::Session)
                .unwrap_or(who.name),
            via,
        }
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

/// Whether a browser is loading this request as the page it shows, rather
/// than for a page (a stylesheet, an icon, a script's fetch). Only a
/// navigation is sent to the sign-on: a page that loads something without
/// a session (the signed-out page's stylesheet, the favicon) would
/// otherwise sign the browser back on behind its back whenever the
/// provider still knows the person. Clients that send no `Sec-Fetch-Mode`
/// are taken to navigate.
fn navigation(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-mode")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|mode| mode == "navigate")
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let answer = app::wire::rest::ErrorAnswer {
        error: why.to_string(),
        replies: Default::default(),
    };
    (status, Json(answer)).into_response()
}

fn ask_for_basic(why: &str) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, why);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"celadon\""),
    );
    response
}

/// What the request's own credentials say.
enum Found {
    Someone(Principal, Option<Session>),
    Nobody,
    /// A wrong basic-auth pair, for this user.
    Wrong(String),
}

fn find(access: &Access, headers: &HeaderMap) -> Found {
    if !access.users.is_empty()
        && let Some(basic) = access.basic_user(headers)
    {
        return match basic {
            Ok(name) => Found::Someone(
                access.principal_of(
                    Identity {
                        name,
                        ..Identity::default()
                    },
                    Via::Basic,
                ),
                None,
            ),
            Err(user) => Found::Wrong(user),
        };
    }
    if let Some(sign_on) = &access.sign_on
        && let Some(session) = sign_on
            .cookies
            .session(headers, std::time::SystemTime::now())
    {
        return Found::Someone(
            access.principal_of(session.identity(), Via::Session),
            Some(session),
        );
    }
    Found::Nobody
}

pub async fn guard(State(access): State<Access>, request: Request<Body>, next: Next) -> Response {
    let path = access.base.strip(request.uri().path());
    // Open: what monitoring scrapes, and the site's own files (the same
    // for everyone; the sign-on's pages need their stylesheet).
    if matches!(path, Some("/healthcheck" | "/metrics" | "/favicon.svg"))
        || path.is_some_and(|p| p.starts_with("/pkg/"))
    {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<Client>()
        .map_or_else(|| "unknown".to_string(), |c| c.addr.clone());
    let api = path.is_some_and(|p| p == "/api" || p.starts_with("/api/"));
    let sign_on_path = matches!(path, Some("/login" | "/logout"));
    let open_api = api && access.open_api();
    if open_api && request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        allow_any_origin(&mut response);
        return response;
    }
    let headers = request.headers();
    // A limited client's logins are not even checked, so that a right
    // guess cannot be told from a wrong one.
    if headers.contains_key(header::AUTHORIZATION)
        && !access.users.is_empty()
        && !access.limiter.allows(&client, Instant::now())
    {
        tracing::warn!(target: "celadon::auth", %client, "login refused: too many wrong logins from this client");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong logins from this address; try again in a minute",
        );
    }
    let (principal, session) = match find(&access, headers) {
        Found::Wrong(user) => {
            access.limiter.failed(&client, Instant::now());
            tracing::warn!(target: "celadon::auth", %client, user, "wrong login");
            return ask_for_basic("authentication required");
        }
        Found::Someone(principal, session) => {
            if principal.via == Via::Basic {
                access.limiter.succeeded(&client);
            }
            (principal, session)
        }
        Found::Nobody if sign_on_path => (Principal::anonymous(None), None),
        Found::Nobody if access.login_required() => {
            let page = !api
                && path != Some("/ws")
                && request.method() == Method::GET
                && navigation(headers);
            return match (&access.sign_on, page) {
                (Some(_), true) => {
                    let next_path = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_string();
                    let to = format!(
                        "{}?next={}",
                        access.base.href("/login"),
                        percent_encoding::utf8_percent_encode(
                            &next_path,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    );
                    Redirect::to(&to).into_response()
                }
                (Some(_), false) if access.users.is_empty() => {
                    refuse(StatusCode::UNAUTHORIZED, "sign on first (at /login)")
                }
                _ => ask_for_basic("authentication required"),
            };
        }
        Found::Nobody if api && !access.unauthenticated_api => {
            return refuse(StatusCode::UNAUTHORIZED, API_NEEDS_AUTH);
        }
        Found::Nobody => (
            Principal::anonymous(access.unauthenticated_api.then_some(Role::Admin)),
            None,
        ),
    };
    // The principal goes on the answer too, refusals included, for the
    // audit trail (`api::audit`), which sits outside this guard.
    let refused = |status, why: &str| {
        let mut response = refuse(status, why);
        response.extensions_mut().insert(principal.clone());
        response
    };
    if principal.role.is_none() && principal.via != Via::Open {
        return refused(
            StatusCode::FORBIDDEN,
            &format!(
                "{} has no role here (see --roles and --default-role)",
                principal.name
            ),
        );
    }
    let needed = path.and_then(|p| policy::needed(request.method(), p));
    if let Some(role) = needed {
        if access.read_only && request.method() != Method::GET {
            return refused(
                StatusCode::FORBIDDEN,
                "Read only mode is enabled (celadon runs with --read-only: control is turned off)",
            );
        }
        if !principal.can(role) {
            return refused(
                StatusCode::FORBIDDEN,
                &format!(
                    "{} is {} here; this needs the {} role",
                    principal.name,
                    principal.role.map_or("nobody", Role::as_str),
                    role.as_str()
                ),
            );
        }
    }
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if (changes || path == Some("/ws")) && cross_site(headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "refused: the request came from a page of another site",
        );
    }
    if changes
        && let Some(session) = &session
        && !headers
            .get(CSRF_HEADER)
            .is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes()))
    {
        return refused(
            StatusCode::FORBIDDEN,
            "refused: a request from a signed-on browser must carry its session's X-CSRF-Token",
        );
    }
    let person = Person {
        name: (principal.via != Via::Open).then(|| principal.name.clone()),
        role: principal.role,
        csrf: session.as_ref().map(|s| s.csrf.clone()),
        signed_on: principal.via == Via::Session,
    };
    let mut request = request;
    request.extensions_mut().insert(principal.clone());
    request.extensions_mut().insert(person);
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
    use crate::auth::{limiter::MAX_FAILURES, oidc::OidcConfig};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn basic(pair: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    fn users(pairs: &[(&str, &str)]) -> Arc<Vec<(String, String)>> {
        Arc::new(
            pairs
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        )
    }

    /// The router's answers to `request` under `access`: status, headers.
    async fn through(access: Access, request: Request<Body>) -> (StatusCode, HeaderMap) {
        use tower::ServiceExt;
        let ok = || async { "ok" };
        let app = axum::Router::new()
            .route("/api/tasks", axum::routing::get(ok))
            .route("/api/task/revoke/{id}", axum::routing::post(ok))
            .route("/api/worker/shutdown/{w}", axum::routing::post(ok))
            .route("/healthcheck", axum::routing::get(ok))
            .route("/login", axum::routing::get(ok))
            .route("/", axum::routing::get(ok))
            .layer(axum::middleware::from_fn_with_state(access, guard));
        let response = app.oneshot(request).await.unwrap();
        (response.status(), response.headers().clone())
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    fn post_as(path: &str, pair: &str) -> Request<Body> {
        Request::post(path)
            .header("authorization", basic(pair))
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn only_configured_pairs_are_let_in() {
        let access = Access {
            users: users(&[("ann", "s3cret"), ("bob", "pw")]),
            ..Access::default()
        };
        let with = |auth: &str| {
            Request::get("/api/tasks")
                .header("authorization", auth)
                .body(Body::empty())
                .unwrap()
        };
        let status = |r| {
            let access = access.clone();
            async move { through(access, r).await.0 }
        };
        assert_eq!(status(with(&basic("ann:s3cret"))).await, StatusCode::OK);
        assert_eq!(status(with(&basic("bob:pw"))).await, StatusCode::OK);
        assert_eq!(
            status(with(&basic("ann:pw"))).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(status(with("Basic !!!")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(get("/api/tasks")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(get("/")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(get("/healthcheck")).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn each_role_may_do_exactly_its_actions() {
        let rules = ["admin=ann", "operator=bob"].map(String::from);
        let access = Access {
            users: users(&[("ann", "a"), ("bob", "b"), ("cy", "c")]),
            roles: Arc::new(RoleRules::parse(&rules, Some(Role::Viewer)).unwrap()),
            ..Access::default()
        };
        let revoke = "/api/task/revoke/x";
        let shutdown = "/api/worker/shutdown/w";
        for (pair, may_revoke, may_shut_down) in [
            ("ann:a", true, true),
            ("bob:b", true, false),
            ("cy:c", false, false),
        ] {
            let status = |ok: bool| {
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            };
            assert_eq!(
                through(access.clone(), post_as(revoke, pair)).await.0,
                status(may_revoke),
                "{pair}"
            );
            assert_eq!(
                through(access.clone(), post_as(shutdown, pair)).await.0,
                status(may_shut_down),
                "{pair}"
            );
        }
        let none = Access {
            roles: Arc::new(RoleRules::parse(&rules, None).unwrap()),
            ..access
        };
        let read = Request::get("/api/tasks")
            .header("authorization", basic("cy:c"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            through(none, read).await.0,
            StatusCode::FORBIDDEN,
            "no role, no entry"
        );
    }

    #[tokio::test]
    async fn wrong_logins_are_limited_and_then_not_even_checked() {
        let access = Access {
            users: users(&[("ann", "s3cret")]),
            ..Access::default()
        };
        for _ in 0..MAX_FAILURES {
            let r = through(access.clone(), post_as("/api/task/revoke/x", "ann:guess")).await;
            assert_eq!(r.0, StatusCode::UNAUTHORIZED);
        }
        let wrong = through(access.clone(), post_as("/api/task/revoke/x", "ann:guess")).await;
        assert_eq!(wrong.0, StatusCode::TOO_MANY_REQUESTS);
        let right = through(access, post_as("/api/task/revoke/x", "ann:s3cret")).await;
        assert_eq!(
            right.0,
            StatusCode::TOO_MANY_REQUESTS,
            "a right guess looks the same"
        );
    }

    fn signing_on() -> (Access, Cookies) {
        let oidc = crate::auth::oidc::Oidc::new(OidcConfig {
            issuer: "http://127.0.0.1:9/".into(),
            client_id: "celadon".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
            groups_claim: "groups".into(),
            allowed: None,
        })
        .unwrap();
        let cookies = Cookies::new(Some("secret"), "/");
        let access = Access {
            sign_on: Some(Arc::new(SignOn {
                provider: crate::auth::Provider::Oidc(oidc),
                cookies: cookies.clone(),
                redirect_uri: None,
            })),
            ..Access::default()
        };
        (access, cookies)
    }

    #[tokio::test]
    async fn without_a_session_pages_go_to_the_sign_on_and_the_api_answers_401() {
        let (access, _) = signing_on();
        let (status, headers) = through(access.clone(), get("/tasks?state=FAILURE")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            headers["location"],
            "/login?next=%2Ftasks%3Fstate%3DFAILURE"
        );
        assert_eq!(
            through(access.clone(), get("/api/tasks")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(through(access, get("/login")).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn only_a_navigation_is_sent_to_the_sign_on() {
        let (access, _) = signing_on();
        let fetch = |mode: &str| {
            Request::get("/")
                .header("sec-fetch-mode", mode)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(
            through(access.clone(), fetch("navigate")).await.0,
            StatusCode::SEE_OTHER
        );
        for mode in ["no-cors", "cors", "same-origin"] {
            let (status, headers) = through(access.clone(), fetch(mode)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode}");
            assert!(headers.get("location").is_none(), "{mode}");
        }
    }

    #[tokio::test]
    async fn a_session_changes_nothing_without_its_csrf_token() {
        use axum::response::IntoResponse;
        let (access, cookies) = signing_on();
        let session = Session::new(Identity::default(), std::time::SystemTime::now());
        let set = cookies
            .set_session(&HeaderMap::new(), &session, false)
            .into_response();
        let cookie = set.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let request = |token: Option<&str>| {
            let mut r = Request::post("/api/task/revoke/x").header("cookie", &cookie);
            if let Some(t) = token {
                r = r.header(CSRF_HEADER, t);
            }
            r.body(Body::empty()).unwrap()
        };
        assert_eq!(
            through(access.clone(), request(None)).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            through(access.clone(), request(Some("forged"))).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            through(access.clone(), request(Some(&session.csrf)))
                .await
                .0,
            StatusCode::OK
        );
        let read = Request::get("/api/tasks")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap();
        assert_eq!(through(access, read).await.0, StatusCode::OK);
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
        let (status, headers) = through(closed.clone(), get("/")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("access-control-allow-origin").is_none());
        let control = Request::post("/api/task/revoke/x")
            .body(Body::empty())
            .unwrap();
        assert_eq!(through(closed, control).await.0, StatusCode::UNAUTHORIZED);

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
            users: users(&[("ann", "pw")]),
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
