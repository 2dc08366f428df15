//! Who is looking: the person a page is rendered for, their role and the
//! token their browser sends back with every control request. The server
//! writes it into the page; the UI offers only what the role allows (the
//! server enforces it on every request regardless).

use serde::{Deserialize, Serialize};

/// What a person may do, each role including the ones before it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees every page and the read API (with task data redacted where
    /// configured).
    Viewer,
    /// Also revokes, terminates, retries and aborts tasks, one or in bulk.
    Operator,
    /// Also controls workers (shutdown, pool, queues, rate and time
    /// limits), sends tasks, acts on queues and reads the audit trail.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The person a page was rendered for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Person {
    /// Their name (the login, or the email from sign-on); `None` when no
    /// login is configured.
    pub name: Option<String>,
    /// What they may do; `None`: nothing but look (no login configured and
    /// the API closed, as Flower's).
    pub role: Option<Role>,
    /// The token a browser session sends back in `X-CSRF-Token` with every
    /// request that changes something; `None` without a session cookie.
    pub csrf: Option<String>,
    /// Whether they signed on through a sign-on page, so a logout is offered.
    pub signed_on: bool,
}

impl Person {
    /// Whether they may do what `role` may.
    pub fn can(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }
}
