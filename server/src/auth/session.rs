//! Sessions in cookies: after a sign-on, the person's identity, when the
//! session ends and its CSRF token travel in one private cookie (encrypted
//! and authenticated by the `cookie` crate with a key derived from
//! `--cookie-secret`), `HttpOnly` and `SameSite=Lax` (Lax, so the
//! provider's redirect back, a top-level navigation from its site, carries
//! the short-lived sign-on cookie). Nothing is kept on the server: a
//! restart with the same secret keeps everyone signed on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{oidc::Pending, roles::Identity};

pub const SESSION_COOKIE: &str = "celadon_session";
pub const PENDING_COOKIE: &str = "celadon_signon";
/// How long a sign-on lasts before the person signs on again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long a browser may take at the provider's login page.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// What a session cookie holds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Session {
    pub name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// Sent back in `X-CSRF-Token` by the UI with every change.
    pub csrf: String,
    /// Seconds since the epoch.
    pub expires: u64,
}

impl Session {
    pub fn new(who: Identity, now: SystemTime) -> Session {
        Session {
            name: who.name,
            email: who.email,
            groups: who.groups,
            csrf: openidconnect::CsrfToken::new_random().secret().clone(),
            expires: seconds(now) + SESSION_LIFETIME.as_secs(),
        }
    }

    pub fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
        }
    }
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The cookies' key and attributes.
#[derive(Clone)]
pub struct Cookies {
    key: Key,
    /// `--url-prefix`, or `/`.
    path: String,
}

impl Cookies {
    /// From `--cookie-secret`; without one, a random key, so sessions end
    /// when celadon restarts (as Flower's do).
    pub fn new(secret: Option<&str>, path: &str) -> Cookies {
        let key = match secret {
            // The crate derives its keys from at least 32 bytes of
            // material; a secret of any length is hashed to that.
            Some(s) => Key::derive_from(&sha2::Sha256::digest(s.as_bytes())),
            None => Key::generate(),
        };
        Cookies {
            key,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        }
    }

    fn jar(&self, headers: &HeaderMap) -> PrivateCookieJar {
        PrivateCookieJar::from_headers(headers, self.key.clone())
    }

    /// The live session `headers` carry, if any.
    pub fn session(&self, headers: &HeaderMap, now: SystemTime) -> Option<Session> {
        let cookie = self.jar(headers).get(SESSION_COOKIE)?;
        let session: Session = serde_json::from_str(cookie.value()).ok()?;
        (session.expires > seconds(now)).then_some(session)
    }

    pub fn pending(&self, headers: &HeaderMap) -> Option<Pending> {
        let cookie = self.jar(headers).get(PENDING_COOKIE)?;
        serde_json::from_str(cookie.value()).ok()
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Duration,
        secure: bool,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .path(self.path.clone())
            .max_age(cookie_duration(max_age))
            .build()
    }

    /// Sets `session` (and forgets the sign-on that made it).
    pub fn set_session(
        &self,
        headers: &HeaderMap,
        session: &Session,
        secure: bool,
    ) -> PrivateCookieJar {
        let value = serde_json::to_string(session).unwrap_or_default();
        self.jar(headers)
            .remove(self.removal(PENDING_COOKIE))
            .add(self.cookie(SESSION_COOKIE, value, SESSION_LIFETIME, secure))
    }

    pub fn set_pending(
        &self,
        headers: &HeaderMap,
        pending: &Pending,
        secure: bool,
    ) -> PrivateCookieJar {
        let value = serde_json::to_string(pending).unwrap_or_default();
        self.jar(headers)
            .add(self.cookie(PENDING_COOKIE, value, PENDING_LIFETIME, secure))
    }

    /// Ends the session.
    pub fn clear(&self, headers: &HeaderMap) -> PrivateCookieJar {
        self.jar(headers)
            .remove(self.removal(SESSION_COOKIE))
            .remove(self.removal(PENDING_COOKIE))
    }

    fn removal(&self, name: &'static str) -> Cookie<'static> {
        Cookie::build(name).path(self.path.clone()).build()
    }
}

fn cookie_duration(d: Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn carrying(jar: PrivateCookieJar) -> HeaderMap {
        use axum::response::IntoResponse;
        let response = jar.into_response();
        let mut headers = HeaderMap::new();
        let cookies: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect();
        headers.insert(header::COOKIE, cookies.join("; ").parse().unwrap());
        headers
    }

    #[test]
    fn a_session_round_trips_only_under_its_secret_and_until_it_expires() {
        let now = SystemTime::now();
        let cookies = Cookies::new(Some("s3cret"), "/");
        let who = Identity {
            name: "ann".into(),
            email: Some("ann@example.com".into()),
            groups: vec!["ops".into()],
        };
        let session = Session::new(who, now);
        let headers = carrying(cookies.set_session(&HeaderMap::new(), &session, false));
        assert_eq!(cookies.session(&headers, now), Some(session.clone()));
        assert_eq!(
            Cookies::new(Some("s3cret"), "/").session(&headers, now),
            Some(session)
        );
        assert_eq!(
            Cookies::new(Some("other"), "/").session(&headers, now),
            None
        );
        assert_eq!(cookies.session(&headers, now + SESSION_LIFETIME), None);
        let raw = headers[header::COOKIE].to_str().unwrap();
        assert!(!raw.contains("ann"), "the cookie is encrypted: {raw}");
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        use axum::response::IntoResponse;
        let cookies = Cookies::new(None, "/flower");
        let session = Session::new(Identity::default(), SystemTime::now());
        let response = cookies
            .set_session(&HeaderMap::new(), &session, true)
            .into_response();
        let set = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/flower"] {
            assert!(set.contains(part), "{set}");
        }
    }
}
