//! Who may do what. One middleware in front of every route:
//! - `--basic-auth` guards every page, the websocket and the API; only
//!   `/healthcheck` and `/metrics` (under `--url-prefix`, as every path)
//!   stay open, as in Flower (monitoring systems scrape them);
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

/// The access rules, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `(user, password)` pairs; empty: no authentication.
    pub users: Arc<Vec<(String, String)>>,
    pub read_only: bool,
    /// `--url-prefix`: where the open paths and the websocket are.
    pub base: Base,
}

impl Access {
    fn allows(&self, headers: &HeaderMap) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
            })
        else {
            return false;
        };
        // Every pair is compared in full, so the time taken does not say
        // how much of a guess was right.
        self.users.iter().fold(false, |found, (user, password)| {
            let pair = format!("{user}:{password}");
            found | constant_time_eq(pair.as_bytes(), &given)
        })
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
    let headers = request.headers();
    if !access.allows(headers) {
        let mut response = refuse(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"celadon\""),
        );
        return response;
    }
    let control = request.method() == Method::POST;
    if control && access.read_only {
        return refuse(
            StatusCode::FORBIDDEN,
            "celadon runs with --read-only: control is turned off",
        );
    }
    if (control || path == Some("/ws")) && cross_site(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the request came from a page of another site",
        );
    }
    next.run(request).await
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
