//! Broker URLs as Celery users write them, and the Redis connection each one
//! means. Pure: parsing does no IO.

use std::{fmt, path::PathBuf};

use percent_encoding::percent_decode_str;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

/// Named in every parse error, so a user who typed something else learns what works.
pub const ACCEPTED_FORMS: &str = "redis://[[user]:password@]host[:port][/db] \
     or redis+socket:///path/to/redis.sock[?virtual_host=db] \
     or unix:///path/to/redis.sock[?db=N]";

const DEFAULT_PORT: u16 = 6379;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// A parsed Redis broker URL. Kombu puts the db number into the event
/// channel names, so it matters beyond the connection.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub addr: Addr,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrokerUrlError {
    #[error("{url:?} is not a broker URL ({why}); use {ACCEPTED_FORMS}")]
    Malformed { url: String, why: String },
    #[error("the {scheme}:// broker is not supported; use {ACCEPTED_FORMS}")]
    UnsupportedScheme { scheme: String },
}

impl BrokerUrl {
    pub fn parse(input: &str) -> Result<BrokerUrl, BrokerUrlError> {
        let malformed = |why: &str| BrokerUrlError::Malformed {
            url: input.to_string(),
            why: why.to_string(),
        };
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
        let username = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
        let password = url.password().map(decode);
        match url.scheme() {
            "redis" => {
                let host = match url.host() {
                    Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
                    Some(url::Host::Ipv4(ip)) => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) => ip.to_string(),
                    _ => return Err(malformed("no host")),
                };
                let db = match url.path().trim_start_matches('/') {
                    "" => 0,
                    db => db
                        .parse()
                        .map_err(|_| malformed(&format!("{db:?} is not a db number")))?,
                };
                Ok(BrokerUrl {
                    addr: Addr::Tcp {
                        host,
                        port: url.port().unwrap_or(DEFAULT_PORT),
                    },
                    db,
                    username,
                    password,
                })
            }
            scheme @ ("redis+socket" | "unix") => {
                if url.path().is_empty() || url.path() == "/" {
                    return Err(malformed("no socket path"));
                }
                let key = if scheme == "unix" {
                    "db"
                } else {
                    "virtual_host"
                };
                Ok(BrokerUrl {
                    addr: Addr::Unix(PathBuf::from(decode(url.path()))),
                    db: query_db(key)?.unwrap_or(0),
                    username,
                    password,
                })
            }
            scheme => Err(BrokerUrlError::UnsupportedScheme {
                scheme: scheme.to_string(),
            }),
        }
    }

    /// The URL with any password masked, for display.
    pub fn masked(&self) -> String {
        let auth = match (&self.username, &self.password) {
            (None, None) => String::new(),
            (user, Some(_)) => format!("{}:****@", user.as_deref().unwrap_or("")),
            (Some(user), None) => format!("{user}@"),
        };
        match &self.addr {
            Addr::Tcp { host, port } if host.contains(':') => {
                format!("redis://{auth}[{host}]:{port}/{}", self.db)
            }
            Addr::Tcp { host, port } => format!("redis://{auth}{host}:{port}/{}", self.db),
            Addr::Unix(path) => format!("unix://{auth}{}?db={}", path.display(), self.db),
        }
    }

    pub fn connection_info(&self) -> redis::RedisResult<ConnectionInfo> {
        let addr = match &self.addr {
            Addr::Tcp { host, port } => ConnectionAddr::Tcp(host.clone(), *port),
            Addr::Unix(path) => ConnectionAddr::Unix(path.clone()),
        };
        let mut redis = RedisConnectionInfo::default().set_db(i64::from(self.db));
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        Ok(addr.into_connection_info()?.set_redis_settings(redis))
    }
}

/// Never shows the password, so a config dump in a log is safe.
impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Addr {
        Addr::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn redis_urls_give_host_port_db_and_credentials() {
        let cases = [
            ("redis://localhost", tcp("localhost", 6379), 0, None, None),
            ("redis://h:6380/3", tcp("h", 6380), 3, None, None),
            (
                "redis://:s%40cret@h/1",
                tcp("h", 6379),
                1,
                None,
                Some("s@cret"),
            ),
            (
                "redis://u:p@10.0.0.1:7000/0",
                tcp("10.0.0.1", 7000),
                0,
                Some("u"),
                Some("p"),
            ),
            ("redis://[::1]:6379/2", tcp("::1", 6379), 2, None, None),
        ];
        for (input, addr, db, user, password) in cases {
            let url = BrokerUrl::parse(input).unwrap();
            assert_eq!(url.addr, addr, "{input}");
            assert_eq!(url.db, db, "{input}");
            assert_eq!(url.username.as_deref(), user, "{input}");
            assert_eq!(url.password.as_deref(), password, "{input}");
        }
    }

    #[test]
    fn socket_urls_in_kombu_and_redis_py_forms() {
        let kombu = BrokerUrl::parse("redis+socket:///run/redis.sock?virtual_host=4").unwrap();
        assert_eq!(kombu.addr, Addr::Unix("/run/redis.sock".into()));
        assert_eq!(kombu.db, 4);
        let plain = BrokerUrl::parse("unix:///tmp/r.sock?db=2").unwrap();
        assert_eq!(plain.addr, Addr::Unix("/tmp/r.sock".into()));
        assert_eq!(plain.db, 2);
    }

    #[test]
    fn bad_urls_are_refused_naming_the_accepted_forms() {
        for input in [
            "nonsense",
            "redis://h/x",
            "amqp://guest@h//",
            "unix://",
            "redis:///0",
        ] {
            let err = BrokerUrl::parse(input).unwrap_err().to_string();
            assert!(
                err.contains("redis://[[user]:password@]host"),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn masked_form_hides_the_password() {
        let url = BrokerUrl::parse("redis://user:hunter2@h:6379/0").unwrap();
        assert_eq!(url.masked(), "redis://user:****@h:6379/0");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
