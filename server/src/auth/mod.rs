//! Who is asking, and what their role lets them do. The guard
//! (`api::guard`) finds the [`Principal`] of every request (a basic-auth
//! user, a sign-on session, or nobody) and puts it in the request's
//! extensions; [`needed`] says which role each route asks for; everything
//! downstream (the handlers, the audit trail) reads the principal from
//! there.

pub mod email;
pub mod limiter;
pub mod oauth;
pub mod oidc;
pub mod policy;
pub mod redact;
pub mod roles;
pub mod session;

pub use app::wire::session::Role;

/// The person behind a request, as the guard found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The login, the email (sign-on) or `anonymous`.
    pub name: String,
    /// What they may do; `None` may only look at the pages.
    pub role: Option<Role>,
    pub via: Via,
}

/// How a principal was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// No login configured.
    Open,
    /// HTTP basic auth (`--basic-auth`).
    Basic,
    /// A session cookie from a sign-on (`--auth-provider`, OpenID Connect).
    Session,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Open => "open",
            Via::Basic => "basic",
            Via::Session => "session",
        }
    }
}

impl Principal {
    /// Nobody logged in.
    pub fn anonymous(role: Option<Role>) -> Principal {
        Principal {
            name: "anonymous".into(),
            role,
            via: Via::Open,
        }
    }

    pub fn can(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }
}

/// Equal bytes, in a time that does not say how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whoever signs people on: an OpenID Connect provider, or Flower's GitHub
/// or GitLab OAuth.
pub enum Provider {
    Oidc(oidc::Oidc),
    OAuth(oauth::OAuth),
}

impl Provider {
    /// Where to send the browser, and what to remember until it is back.
    pub async fn start(
        &self,
        redirect_uri: String,
        next: String,
    ) -> Result<(String, oidc::Pending), oidc::SignOnError> {
        match self {
            Provider::Oidc(p) => p.start(redirect_uri, next).await,
            Provider::OAuth(p) => p.start(redirect_uri, next),
        }
    }

    /// The person who signed on, from the provider's answer.
    pub async fn finish(
        &self,
        pending: oidc::Pending,
        code: String,
        state: &str,
    ) -> Result<roles::Identity, oidc::SignOnError> {
        // The answer must be to the sign-on this browser started.
        if !constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(oidc::SignOnError::State);
        }
        match self {
            Provider::Oidc(p) => p.finish(pending, code).await,
            Provider::OAuth(p) => p.finish(pending, code).await,
        }
    }
}
