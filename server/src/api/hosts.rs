//! Which names celadon answers to (`--allowed-hosts`): a request whose
//! `Host` (or, with `--xheaders`, the proxy's `X-Forwarded-Host`) is not
//! one of them is refused before any route sees it, on every method, the
//! websocket, `/healthcheck` and `/metrics` alike. This is what stops DNS
//! rebinding: a page at `evil.example`, once the name points at celadon's
//! address, reaches celadon as a same-origin request, but with
//! `Host: evil.example`, which is not one of celadon's names.
//!
//! By default celadon answers to `localhost` (and names under it), the
//! machine's host name, and any IP address: a browser that asks for an IP
//! literal names the server itself, and no rebinding can produce one (the
//! attack needs a name the attacker controls), so Prometheus and clients
//! that scrape or call by address need no configuration. Over the unix
//! socket (`--unix-socket`, mode 0600) the defaults check nothing: no
//! browser connects there, only the owner's processes and the proxy the
//! owner set up, which names the hosts it routes; a list given with
//! `--allowed-hosts` is checked there too. Pure, but for
//! [`machine_hostname`].

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::ApiError;
use crate::listen::Peer;

/// The names a request may be addressed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    /// `--allowed-hosts=*`: any.
    Any,
    /// The defaults: `localhost`, IP addresses, and `names` (the
    /// machine's host name).
    Default { names: Vec<String> },
    /// `--allowed-hosts=a,b`: exactly these (lower-cased, without port);
    /// a leading dot (`.example.com`) also allows every name under it.
    Listed(Vec<String>),
}

/// Whether the proxy's `X-Forwarded-Host` is the host to check
/// (`--xheaders`).
#[derive(Clone, Debug)]
pub struct HostCheck {
    pub allowed: AllowedHosts,
    pub xheaders: bool,
}

impl AllowedHosts {
    /// From `--allowed-hosts` (`None`: not given), with the machine's host
    /// name for the default.
    pub fn new(given: Option<&[String]>, hostname: Option<String>) -> AllowedHosts {
        match given {
            Some(list) if list.iter().any(|h| h.trim() == "*") => AllowedHosts::Any,
            Some(list) => AllowedHosts::Listed(
                list.iter()
                    .map(|h| normalise(h.trim()))
                    .filter(|h| !h.is_empty())
                    .collect(),
            ),
            None => AllowedHosts::Default {
                names: hostname
                    .map(|h| normalise(&h))
                    .into_iter()
                    .filter(|h| !h.is_empty())
                    .collect(),
            },
        }
    }

    /// Whether a `Host` header's value (`name[:port]`, `[v6]:port`) names
    /// this server.
    pub fn allows(&self, host: &str) -> bool {
        let name = normalise(host);
        if name.is_empty() {
            return *self == AllowedHosts::Any;
        }
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Default { names } => {
                is_ip(&name)
                    || name == "localhost"
                    || name.ends_with(".localhost")
                    || names.contains(&name)
            }
            AllowedHosts::Listed(list) => {
                list.iter().any(|allowed| match allowed.strip_prefix('.') {
                    Some(domain) => name == domain || name.ends_with(allowed.as_str()),
                    None => *allowed == name,
                })
            }
        }
    }
}

/// A host as compared: lower case, without the port, an IPv6 address
/// without its brackets, without a trailing dot.
fn normalise(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(ip, _)| ip)
    } else if host.matches(':').count() == 1 {
        host.split_once(':').map_or(host.as_str(), |(name, _)| name)
    } else {
        // No port, or a bare IPv6 address (which has several colons).
        host.as_str()
    };
    name.trim_end_matches('.').to_string()
}

fn is_ip(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
}

/// This machine's host name, as the kernel has it.
pub fn machine_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|h| h.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty())
}

/// The host a request is addressed to: the proxy's `X-Forwarded-Host`
/// (its first value) with `xheaders` when present, else `Host`, else the
/// request line's authority (HTTP/2).
fn requested_host<'a>(
    headers: &'a HeaderMap,
    uri: &'a axum::http::Uri,
    xheaders: bool,
) -> Option<&'a str> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = xheaders
        .then(|| header("x-forwarded-host"))
        .flatten()
        .and_then(|list| list.split(',').next())
        .map(str::trim)
        .filter(|h| !h.is_empty());
    forwarded
        .or_else(|| header(header::HOST.as_str()))
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// Refuses a request addressed to a name celadon does not answer to.
pub async fn check(State(check): State<HostCheck>, request: Request<Body>, next: Next) -> Response {
    let over_unix_socket = request
        .extensions()
        .get::<axum::extract::ConnectInfo<Peer>>()
        .is_some_and(|c| c.0.addr.is_none());
    if over_unix_socket && matches!(check.allowed, AllowedHosts::Default { .. }) {
        return next.run(request).await;
    }
    let host = requested_host(request.headers(), request.uri(), check.xheaders).unwrap_or("");
    if check.allowed.allows(host) {
        return next.run(request).await;
    }
    let shown: String = host.chars().filter(|c| !c.is_control()).take(255).collect();
    tracing::warn!(host = %shown, "refused a request for a host celadon does not answer to");
    ApiError::Rejected {
        status: StatusCode::BAD_REQUEST,
        why: format!(
            "celadon does not answer to the host {shown:?}: add it to --allowed-hosts \
             (comma-separated names; * allows any)"
        ),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> AllowedHosts {
        AllowedHosts::new(None, Some("Build-Box".into()))
    }

    #[test]
    fn by_default_loopback_names_addresses_and_the_machine_are_allowed() {
        let hosts = default();
        for host in [
            "localhost",
            "localhost:5555",
            "LOCALHOST:5555",
            "app.localhost:5555",
            "127.0.0.1",
            "127.0.0.1:5555",
            "[::1]:5555",
            "[::1]",
            "::1",
            "10.1.2.3:5555",
            "build-box:5555",
            "build-box.:5555",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
    }

    #[test]
    fn by_default_other_names_are_refused_so_rebinding_reaches_nothing() {
        let hosts = default();
        for host in [
            "evil.example:5555",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
            "build-box.evil.example",
        ] {
            assert!(!hosts.allows(host), "{host:?}");
        }
    }

    #[test]
    fn a_listed_set_is_exactly_what_is_allowed() {
        let list = ["celadon.example.com".to_string(), ".corp.example".into()];
        let hosts = AllowedHosts::new(Some(&list), Some("build-box".into()));
        assert!(hosts.allows("Celadon.Example.com:443"));
        assert!(hosts.allows("ops.corp.example"));
        assert!(hosts.allows("corp.example"));
        assert!(!hosts.allows("evilcorp.example"));
        assert!(!hosts.allows("localhost"));
        assert!(!hosts.allows("127.0.0.1"));
        assert!(!hosts.allows("build-box"));
        let any = AllowedHosts::new(Some(&["a".into(), "*".into()]), None);
        assert!(any.allows("evil.example"));
    }

    #[test]
    fn the_proxy_names_the_host_only_with_xheaders() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        headers.insert(
            "x-forwarded-host",
            "evil.example, 127.0.0.1".parse().unwrap(),
        );
        let uri = axum::http::Uri::from_static("/api/tasks");
        assert_eq!(
            requested_host(&headers, &uri, false),
            Some("127.0.0.1:8080")
        );
        assert_eq!(requested_host(&headers, &uri, true), Some("evil.example"));
        headers.remove("x-forwarded-host");
        assert_eq!(requested_host(&headers, &uri, true), Some("127.0.0.1:8080"));
    }
}
