//! The audit trail as the API serves it (`/api/audit`,
//! `/api/audit/verify`) and the Audit page reads it: who did what, from
//! where, when, with what parameters, and how it ended.

use serde::{Deserialize, Serialize};

use super::session::Role;

/// One recorded action.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its place in the chain, from 1.
    pub seq: u64,
    /// When it was recorded, UTC milliseconds since the epoch.
    pub at: i64,
    /// The login, the email (sign-on), the user a failed login gave, or
    /// `anonymous`.
    pub who: String,
    pub role: Option<Role>,
    /// How they were recognised: `open`, `basic`, `session`, or `none`.
    pub via: String,
    /// The client's address (the proxy's word for it with `--xheaders`).
    pub client: String,
    /// `task.revoke`, `worker.pool.grow`, `login.failed`, …
    pub action: String,
    /// The task id, worker or task name acted on, if any.
    pub target: Option<String>,
    /// The query string and body as given, as text (cut, and marked so,
    /// past a bound).
    pub params: String,
    /// The answer's status code (0 when there was none, as for a logout).
    pub status: u16,
    /// `ok`, `refused`, `failed` or `not delivered`.
    pub result: String,
    /// The answer as text: the workers' replies, or the error and why.
    pub detail: String,
    /// The previous entry's hash and this one's, hex SHA-256.
    pub prev_hash: String,
    pub hash: String,
}

/// A page of the trail, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    /// Whether the trail is kept in the history store; `false`: only the
    /// newest entries, in memory, lost at a restart (and in the log).
    pub persisted: bool,
    pub entries: Vec<AuditEntry>,
}

/// The chain's state, from `/api/audit/verify`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    /// Entries read.
    pub entries: u64,
    pub intact: bool,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
    pub persisted: bool,
}

/// Where and why the chain breaks first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: u64,
    /// `missing` (a gap: deleted), `altered` (its hash does not match its
    /// fields), `unlinked` (it does not name the previous entry's hash).
    pub kind: String,
    pub why: String,
}
