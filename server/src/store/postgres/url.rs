//! `--db postgresql://…`: libpq's URL form as tokio-postgres reads it
//! (`user:password@host:port/dbname`, `?host=/socket/dir` for a unix
//! socket, `?password=`, `?connect_timeout=`, …), checked once at start,
//! with every password masked wherever it is shown. Pure.

use std::{fmt, time::Duration};

use tokio_postgres::config::{Config, Host, SslMode};

/// How long a connection attempt may take when the URL does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What `pg_stat_activity` calls celadon's sessions unless the URL says.
const APPLICATION_NAME: &str = "celadon";

/// A PostgreSQL URL, parsed. `Debug` shows it masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    config: Box<Config>,
    shown: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PgUrlError {
    #[error("{url}: {why}")]
    Invalid { url: String, why: String },
    #[error(
        "{0} asks for TLS (sslmode={1}), which celadon's PostgreSQL client does not speak; \
         connect over a unix socket (?host=/path/to/socket/dir) or a trusted network with \
         sslmode=disable"
    )]
    Tls(String, String),
}

impl PgUrl {
    /// Whether `text` names PostgreSQL rather than an SQLite file.
    pub fn claims(text: &str) -> bool {
        text.starts_with("postgresql://") || text.starts_with("postgres://")
    }

    pub fn parse(text: &str) -> Result<PgUrl, PgUrlError> {
        let shown = mask(text);
        let invalid = |why: String| PgUrlError::Invalid {
            url: shown.clone(),
            why,
        };
        // tokio-postgres knows disable, prefer and require; libpq's
        // verify-ca and verify-full ask for TLS too, and must not be read
        // as a typo to be refused for another reason.
        if let Some(mode) = parameter(text, "sslmode")
            && matches!(mode, "require" | "verify-ca" | "verify-full")
        {
            return Err(PgUrlError::Tls(shown, mode.to_string()));
        }
        let mut config: Config = text.parse().map_err(|e: tokio_postgres::Error| {
            // Its message may quote the URL; ours is masked.
            invalid(e.to_string().replace(text, &shown))
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(PgUrlError::Tls(shown, "require".into()));
        }
        // `prefer` (libpq's default) would fall back to plain text anyway:
        // without TLS support, say so by asking for none.
        config.ssl_mode(SslMode::Disable);
        if config.get_hosts().is_empty() {
            return Err(invalid(
                "it names no host: give host[:port], or ?host=/path/to/socket/dir".into(),
            ));
        }
        if config.get_user().is_none() {
            return Err(invalid("it names no user: give user@host".into()));
        }
        if config.get_dbname().is_none() {
            return Err(invalid("it names no database: give …/dbname".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        Ok(PgUrl {
            config: Box::new(config),
            shown,
        })
    }

    /// The URL with any password masked.
    pub fn masked(&self) -> &str {
        &self.shown
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the database is reached over a unix socket.
    pub fn is_unix(&self) -> bool {
        self.config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)))
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The first value of `name` in the URL's query string.
fn parameter<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = text.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `scheme://user:****@host…?…&password=****`: a password in the
/// authority (between the first `:` and the last `@` before the path) and
/// any `password` parameter are masked.
pub fn mask(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let mut shown = format!("{scheme}://");
    match before_query[..authority_end].rfind('@') {
        Some(at) => match before_query[..at].split_once(':') {
            Some((user, _)) => {
                shown.push_str(user);
                shown.push_str(":****");
                shown.push_str(&before_query[at..]);
            }
            None => shown.push_str(before_query),
        },
        None => shown.push_str(before_query),
    }
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=****".to_string(),
                _ => pair.to_string(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_libpq_writes_them_and_passwords_never_show() {
        let url = PgUrl::parse("postgresql://app:s3cret@db.example:6543/hist").unwrap();
        assert_eq!(url.masked(), "postgresql://app:****@db.example:6543/hist");
        assert_eq!(format!("{url:?}"), url.masked());
        assert_eq!(url.config().get_user(), Some("app"));
        assert_eq!(url.config().get_password(), Some(&b"s3cret"[..]));
        assert_eq!(url.config().get_ports(), [6543]);
        assert_eq!(url.config().get_dbname(), Some("hist"));
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        assert!(!url.is_unix());

        let url = PgUrl::parse(
            "postgres://postgres@/celadon?host=/run/pg&password=hush&connect_timeout=2",
        )
        .unwrap();
        assert!(url.is_unix());
        assert_eq!(
            url.masked(),
            "postgres://postgres@/celadon?host=/run/pg&password=****&connect_timeout=2"
        );
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(url.config().get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn tls_is_refused_by_name_never_downgraded() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let text = format!("postgresql://u:pw@h/db?sslmode={mode}");
            let error = PgUrl::parse(&text).unwrap_err();
            assert_eq!(
                error,
                PgUrlError::Tls(
                    "postgresql://u:****@h/db?sslmode=".to_string() + mode,
                    mode.into()
                )
            );
            let message = error.to_string();
            assert!(
                message.contains("TLS") && !message.contains("pw@"),
                "{message}"
            );
        }
        assert!(PgUrl::parse("postgresql://u@h/db?sslmode=disable").is_ok());
        assert!(PgUrl::parse("postgresql://u@h/db?sslmode=prefer").is_ok());
    }

    #[test]
    fn an_incomplete_or_bad_url_is_refused_with_the_password_masked() {
        for (text, says) in [
            ("postgresql://u:pw@/db", "no host"),
            ("postgresql://h/db", "no user"),
            ("postgresql://u@h", "no database"),
            ("postgresql://u:pw@h:notaport/db", "u:****@h"),
        ] {
            let message = PgUrl::parse(text).unwrap_err().to_string();
            assert!(message.contains(says), "{text}: {message}");
            assert!(!message.contains("pw"), "{text}: {message}");
        }
        assert!(PgUrl::claims("postgres://h/db") && PgUrl::claims("postgresql://h/db"));
        assert!(!PgUrl::claims("celadon.db") && !PgUrl::claims("sqlite:///x"));
    }
}
