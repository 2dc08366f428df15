//! Broker URLs as Celery users write them (kombu's spellings), and what
//! each one means: which servers to reach, in which order, with which
//! login and TLS settings, and the db whose number kombu puts into the
//! channel names. Pure: parsing does no IO.

use std::{fmt, path::PathBuf};

use percent_encoding::percent_decode_str;

use super::ssl::SslOptions;

/// Named in every parse error, so a user who typed something else learns what works.
pub const ACCEPTED_FORMS: &str = "redis://[[user]:password@][host][:port][/db], \
     rediss://… (TLS; kombu's ssl_* parameters), \
     redis+socket:///path/to/redis.sock[?virtual_host=db], \
     unix:///path/to/redis.sock[?db=N], \
     sentinel://host[:port][/db] (with master_name in the transport options), \
     or several of one kind joined by ';' (a failover list, tried in turn)";

const REDIS_PORT: u16 = 6379;
const SENTINEL_PORT: u16 = 26379;
/// kombu's host when a URL names none (`redis://`, `redis:///0`).
const DEFAULT_HOST: &str = "localhost";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Addr::Tcp { host, port } => write!(f, "{host}:{port}"),
            Addr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Who to log in as (AUTH), if anyone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Login {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Never shows the password.
impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Login {
    /// `user:****@`, `user@`, `:****@` or nothing.
    fn masked(&self) -> String {
        match (&self.username, &self.password) {
            (None, None) => String::new(),
            (user, Some(_)) => format!("{}:****@", user.as_deref().unwrap_or("")),
            (Some(user), None) => format!("{user}@"),
        }
    }
}

/// What a URL says about TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlTls {
    /// `redis://` with no `ssl_*` parameter: TLS only if the `*_use_ssl`
    /// option is given.
    Unsaid,
    /// `rediss://`, or any `ssl_*` parameter (kombu then uses TLS even on
    /// `redis://`), with the parameters given.
    On(SslOptions),
}

impl UrlTls {
    /// The TLS settings of a connection: the URL's `ssl_*` parameters over
    /// the same keys of `use_ssl` (`--broker-use-ssl`); `None` for plain
    /// TCP. A given `use_ssl` turns TLS on, as kombu's `broker_use_ssl`
    /// does.
    pub fn resolve(&self, use_ssl: Option<&SslOptions>) -> Option<SslOptions> {
        match (self, use_ssl) {
            (UrlTls::Unsaid, None) => None,
            (UrlTls::Unsaid, Some(dict)) => Some(dict.clone()),
            (UrlTls::On(url), dict) => {
                let dict = dict.cloned().unwrap_or_default();
                Some(SslOptions {
                    cert_reqs: url.cert_reqs.or(dict.cert_reqs),
                    ca_certs: url.ca_certs.clone().or(dict.ca_certs),
                    certfile: url.certfile.clone().or(dict.certfile),
                    keyfile: url.keyfile.clone().or(dict.keyfile),
                    check_hostname: url.check_hostname.or(dict.check_hostname),
                })
            }
        }
    }
}

/// One Redis server a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub addr: Addr,
    pub login: Login,
    pub tls: UrlTls,
}

/// Where the broker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Servers {
    /// One server, or kombu's failover list: tried in turn, each with its
    /// own login and TLS settings.
    Redis(Vec<Server>),
    /// Sentinels to ask for the master (`master_name` comes from the
    /// transport options). The URL's login and TLS settings are the
    /// master's, as kombu uses them; the sentinels' own come from
    /// `sentinel_kwargs`.
    Sentinel {
        sentinels: Vec<Addr>,
        master_login: Login,
        master_tls: UrlTls,
    },
}

/// A parsed broker URL. Kombu puts the db number into the event channel
/// names, so it matters beyond the connection.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub servers: Servers,
    pub db: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrokerUrlError {
    #[error("{url:?} is not a broker URL ({why}); use {ACCEPTED_FORMS}")]
    Malformed { url: String, why: String },
    #[error("the {scheme}:// broker is not supported; use {ACCEPTED_FORMS}")]
    UnsupportedScheme { scheme: String },
    #[error("the failover list {list:?} {why}")]
    List { list: String, why: String },
}

/// One `;`-separated piece, parsed.
struct Piece {
    sentinel: bool,
    addr: Addr,
    login: Login,
    tls: UrlTls,
    db: Option<u32>,
}

impl BrokerUrl {
    pub fn parse(input: &str) -> Result<BrokerUrl, BrokerUrlError> {
        let pieces = input
            .split(';')
            .map(|piece| parse_piece(piece.trim()))
            .collect::<Result<Vec<Piece>, _>>()?;
        let list_error = |why: String| BrokerUrlError::List {
            list: input.to_string(),
            why,
        };
        let first = pieces
            .first()
            .ok_or_else(|| list_error("is empty".into()))?;
        // kombu reads the db (and a sentinel master's login) from the
        // first URL; a later one that says otherwise would move the
        // channels at a failover, which celadon cannot follow.
        let db = first.db.unwrap_or(0);
        for (i, piece) in pieces.iter().enumerate().skip(1) {
            if piece.sentinel != first.sentinel {
                return Err(list_error("mixes sentinel:// with other URLs".into()));
            }
            if let Some(other) = piece.db.filter(|d| *d != db) {
                return Err(list_error(format!(
                    "names db {other} in URL {}, but the first URL's db is {db} \
                     (kombu uses the first URL's); give the same db in each",
                    i + 1
                )));
            }
            if first.sentinel
                && ((piece.login != Login::default() && piece.login != first.login)
                    || (piece.tls != UrlTls::Unsaid && piece.tls != first.tls))
            {
                return Err(list_error(format!(
                    "gives URL {} a login or ssl_* parameters of its own; kombu takes the \
                     master's from the first URL only (a sentinel's own go in sentinel_kwargs)",
                    i + 1
                )));
            }
        }
        let servers = if first.sentinel {
            Servers::Sentinel {
                master_login: first.login.clone(),
                master_tls: first.tls.clone(),
                sentinels: pieces.into_iter().map(|p| p.addr).collect(),
            }
        } else {
            Servers::Redis(
                pieces
                    .into_iter()
                    .map(|p| Server {
                        addr: p.addr,
                        login: p.login,
                        tls: p.tls,
                    })
                    .collect(),
            )
        };
        Ok(BrokerUrl { servers, db })
    }

    /// The URL with any password masked, for display.
    pub fn masked(&self) -> String {
        let db = self.db;
        let shown: Vec<String> = match &self.servers {
            Servers::Redis(servers) => servers
                .iter()
                .map(|s| {
                    let auth = s.login.masked();
                    match &s.addr {
                        Addr::Unix(path) => format!("unix://{auth}{}?db={db}", path.display()),
                        addr => {
                            let scheme = match s.tls {
                                UrlTls::Unsaid => "redis",
                                UrlTls::On(_) => "rediss",
                            };
                            format!("{scheme}://{auth}{addr}/{db}")
                        }
                    }
                })
                .collect(),
            Servers::Sentinel {
                sentinels,
                master_login,
                ..
            } => sentinels
                .iter()
                .enumerate()
                .map(|(i, addr)| {
                    let auth = if i == 0 {
                        master_login.masked()
                    } else {
                        String::new()
                    };
                    format!("sentinel://{auth}{addr}/{db}")
                })
                .collect(),
        };
        shown.join(";")
    }
}

/// Never shows the password, so a config dump in a log is safe.
impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

fn parse_piece(input: &str) -> Result<Piece, BrokerUrlError> {
    let malformed = |why: &str| BrokerUrlError::Malformed {
        url: input.to_string(),
        why: why.to_string(),
    };
    if input.is_empty() {
        return Err(malformed("an empty URL"));
    }
    let url = url::Url::parse(input).map_err(|e| malformed(&e.to_string()))?;
    let query_db = |key: &str| -> Result<Option<u32>, BrokerUrlError> {
        match url.query_pairs().find(|(k, _)| k == key) {
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|_| malformed(&format!("{key}={v} is not a db number"))),
            None => Ok(None),
        }
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let login = Login {
        username: Some(url.username()).filter(|u| !u.is_empty()).map(decode),
        password: url.password().map(decode),
    };
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let ssl = SslOptions::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|why| malformed(&why))?;
    let scheme = url.scheme();
    let tls = match (scheme, ssl) {
        (_, Some(ssl)) => UrlTls::On(ssl),
        ("rediss", None) => UrlTls::On(SslOptions::default()),
        _ => UrlTls::Unsaid,
    };
    match scheme {
        "redis" | "rediss" | "sentinel" => {
            let host = match url.host() {
                Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
                Some(url::Host::Ipv4(ip)) => ip.to_string(),
                Some(url::Host::Ipv6(ip)) => ip.to_string(),
                _ => DEFAULT_HOST.to_string(),
            };
            let db = match url.path().trim_start_matches('/') {
                "" => None,
                db => Some(
                    db.parse()
                        .map_err(|_| malformed(&format!("{db:?} is not a db number")))?,
                ),
            };
            let sentinel = scheme == "sentinel";
            let default_port = if sentinel { SENTINEL_PORT } else { REDIS_PORT };
            Ok(Piece {
                sentinel,
                addr: Addr::Tcp {
                    host,
                    port: url.port().unwrap_or(default_port),
                },
                login,
                tls,
                db,
            })
        }
        "redis+socket" | "unix" => {
            if url.path().is_empty() || url.path() == "/" {
                return Err(malformed("no socket path"));
            }
            if tls != UrlTls::Unsaid {
                return Err(malformed("TLS over a unix socket is not supported"));
            }
            let key = if scheme == "unix" {
                "db"
            } else {
                "virtual_host"
            };
            Ok(Piece {
                sentinel: false,
                addr: Addr::Unix(PathBuf::from(decode(url.path()))),
                login,
                tls,
                db: query_db(key)?,
            })
        }
        scheme => Err(BrokerUrlError::UnsupportedScheme {
            scheme: scheme.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
