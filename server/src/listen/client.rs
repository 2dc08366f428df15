//! Who made a request, and the access log.
//!
//! The client is the connection's peer; with `--xheaders` (celadon behind
//! a proxy) it is what the proxy says, read as tornado reads it for Flower:
//! the last address of `X-Forwarded-For`, overridden by `X-Real-Ip`, and
//! the scheme from `X-Scheme` or `X-Forwarded-Proto`. Every request is
//! logged as tornado logs it (`200 GET /api/tasks (10.0.0.7) 1.52ms`);
//! Prometheus' scrapes and health checks only at debug level.

use std::{fmt, net::IpAddr, time::Instant};

use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{HeaderMap, Request},
    middleware::Next,
    response::Response,
};

use super::Peer;

/// Who a request came from, as the handlers and the log see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// An address, or `unix` for a unix socket's peer.
    pub addr: String,
    pub scheme: &'static str,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// The client of a request to `peer` with `headers`, trusting the proxy's
/// headers when `xheaders`.
pub fn client(peer: Option<&Peer>, headers: &HeaderMap, xheaders: bool) -> Client {
    let mut client = Client {
        addr: match peer.and_then(|p| p.addr) {
            Some(addr) => addr.ip().to_string(),
            None if peer.is_some() => "unix".into(),
            None => "unknown".into(),
        },
        scheme: if peer.is_some_and(|p| p.https) {
            "https"
        } else {
            "http"
        },
    };
    if !xheaders {
        return client;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = header("x-forwarded-for")
        .and_then(|list| list.rsplit(',').next())
        .map(str::trim);
    if let Some(ip) = header("x-real-ip")
        .map(str::trim)
        .or(forwarded)
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
    {
        client.addr = ip.to_string();
    }
    let scheme = header("x-scheme")
        .or_else(|| header("x-forwarded-proto"))
        .and_then(|list| list.rsplit(',').next())
        .map(str::trim);
    match scheme {
        Some("https") => client.scheme = "https",
        Some("http") => client.scheme = "http",
        _ => {}
    }
    client
}

/// Whether the proxy's headers are trusted (`--xheaders`).
#[derive(Clone, Copy, Debug)]
pub struct XHeaders(pub bool);

/// Puts the [`Client`] in the request's extensions, and logs the request
/// when it is answered.
pub async fn log(
    State(XHeaders(xheaders)): State<XHeaders>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let started = Instant::now();
    let peer = request.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0);
    let client = client(peer.as_ref(), request.headers(), xheaders);
    let method = request.method().clone();
    let uri = request.uri().clone();
    request.extensions_mut().insert(client.clone());
    let response = next.run(request).await;
    let status = response.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let quiet = matches!(uri.path(), "/metrics" | "/healthcheck") && status.is_success();
    let line = format_args!("{} {method} {uri} ({client}) {ms:.2}ms", status.as_u16());
    if quiet {
        tracing::debug!(target: "celadon::access", "{line}");
    } else if status.is_server_error() {
        tracing::error!(target: "celadon::access", "{line}");
    } else if status.is_client_error() {
        tracing::warn!(target: "celadon::access", "{line}");
    } else {
        tracing::info!(target: "celadon::access", "{line}");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_proxy_is_believed_only_with_xheaders_as_tornado_reads_it() {
        let peer = Peer {
            addr: Some("10.0.0.1:4000".parse::<SocketAddr>().unwrap()),
            https: false,
        };
        let forwarded = headers(&[
            ("x-forwarded-for", "203.0.113.9, 198.51.100.2"),
            ("x-forwarded-proto", "https"),
        ]);
        let direct = client(Some(&peer), &forwarded, false);
        assert_eq!((direct.addr.as_str(), direct.scheme), ("10.0.0.1", "http"));
        let proxied = client(Some(&peer), &forwarded, true);
        assert_eq!(
            (proxied.addr.as_str(), proxied.scheme),
            ("198.51.100.2", "https"),
            "the last hop of X-Forwarded-For"
        );
        let real = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-real-ip", "192.0.2.5"),
            ("x-scheme", "http"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client(Some(&peer), &real, true);
        assert_eq!((c.addr.as_str(), c.scheme), ("192.0.2.5", "http"));
        let junk = headers(&[("x-real-ip", "<script>"), ("x-forwarded-proto", "gopher")]);
        let c = client(Some(&peer), &junk, true);
        assert_eq!(
            (c.addr.as_str(), c.scheme),
            ("10.0.0.1", "http"),
            "what is not an address or a scheme is ignored"
        );
        let unix = Peer {
            addr: None,
            https: true,
        };
        let c = client(Some(&unix), &HeaderMap::new(), true);
        assert_eq!((c.addr.as_str(), c.scheme), ("unix", "https"));
    }
}
