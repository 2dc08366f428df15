//! The security headers every response carries: a Content-Security-Policy
//! that lets a page run only celadon's own script and wasm, and be framed
//! by nobody (so no other site can overlay its control buttons), with
//! `X-Frame-Options` for browsers that predate `frame-ancestors`;
//! `nosniff`, so an answer is never run as another type than it says; a
//! referrer that stays on celadon; and, on HTTPS, `Strict-Transport-
//! Security`.
//!
//! A page's hydration starts from an inline module script: each page
//! render has its own nonce (leptos makes one per render and puts it on
//! its scripts), and [`page_policy`] puts that nonce in the page's policy;
//! any other response gets the policy without one.

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{HeaderName, HeaderValue, Request, header},
    middleware::Next,
    response::Response,
};

use crate::listen::Peer;

/// How long a browser that saw celadon over HTTPS keeps to HTTPS (one
/// year, the usual value).
pub const HSTS_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The policy, with the page's script nonce if it has one. Styles may be
/// inline (the charts position their labels with `style` attributes);
/// `'wasm-unsafe-eval'` lets the page compile celadon's wasm and nothing
/// else; `connect-src 'self'` covers the websocket on the same host.
pub fn policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// During a page render: the page's policy, with the render's nonce,
/// replaces the one [`secure`] would give it.
pub fn page_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&policy(Some(&nonce))) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the security headers a response does not already have.
pub async fn secure(request: Request<Body>, next: Next) -> Response {
    let https = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .is_some_and(|c| c.0.https);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        headers.entry(name).or_insert(value);
    };
    if let Ok(value) = HeaderValue::from_str(&policy(None)) {
        set(header::CONTENT_SECURITY_POLICY, value);
    }
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if https && let Ok(value) = HeaderValue::from_str(&format!("max-age={HSTS_MAX_AGE_SECS}")) {
        set(header::STRICT_TRANSPORT_SECURITY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_own_scripts_and_no_framing() {
        let page = policy(Some("abc"));
        assert!(page.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(page.contains("frame-ancestors 'none'"));
        let scripts = page.split(';').find(|d| d.contains("script-src")).unwrap();
        assert!(!scripts.contains("unsafe-inline") && !scripts.contains(" 'unsafe-eval'"));
        let other = policy(None);
        assert!(other.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!other.contains("nonce"));
    }
}
