//! The audit trail: every control action, login, failed login and logout,
//! with who, their role, the client's address, the time, the action and
//! its parameters, and its outcome. Entries are hash-chained ([`chain`]):
//! each one's SHA-256 covers every field and the previous entry's hash, so
//! an entry deleted (a gap in `seq`) or altered (a hash that no longer
//! matches) is found by [`chain::Verifier`] and `celadon audit verify`.
//!
//! The core ([`Entry`], [`NewEntry`], [`chain`]) is pure. The edges:
//! [`Recorder`], the handle every recording goes through, and its
//! appender task; [`trail`], where entries are kept (the history store,
//! SQLite or PostgreSQL, or a bounded ring in memory without one);
//! [`cli`], `celadon audit verify`. The HTTP side (the middleware that
//! records control requests, `/api/audit`) is `api::audit`.
//!
//! **Entries are never dropped.** A recording waits until its entry is
//! kept (written to the store, or in the ring); a failed write is tried
//! again, in order, and the requests behind it wait.

pub mod chain;
pub mod cli;
mod recorder;
pub mod trail;

use app::wire::audit::AuditEntry;

use crate::auth::{Principal, Role};

pub use recorder::{RECORD_QUEUE, Recorder};

/// Bytes of an entry's parameters kept; past it the text is cut at a
/// character boundary and [`TRUNCATED`] appended.
pub const MAX_PARAMS: usize = 4 * 1024;

/// Bytes of an outcome's detail kept (a control answer is small JSON; a
/// bulk action's ids are not), cut and marked as [`MAX_PARAMS`] is.
pub const MAX_DETAIL: usize = 16 * 1024;

/// What a cut text ends with.
pub const TRUNCATED: &str = "…[truncated]";

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done: the workers answered, the task was sent, the login let in.
    Ok,
    /// Not done because celadon refused it: no login or a wrong one, a
    /// role too low, `--read-only`, another site, a bad parameter.
    Refused,
    /// Asked, and it failed: a worker answered with an error, the broker
    /// or the result backend failed.
    Failed,
    /// Sent, and nobody answered or nobody received it.
    NotDelivered,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Refused => "refused",
            Verdict::Failed => "failed",
            Verdict::NotDelivered => "not delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Ok,
            Verdict::Refused,
            Verdict::Failed,
            Verdict::NotDelivered,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What an action's answer was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status answered; 0 when there was no answer to give.
    pub status: u16,
    pub result: Verdict,
    /// The answer's text: the workers' replies, or the error and why.
    pub detail: String,
}

/// An entry as it is kept: its place in the chain and its hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    /// UTC milliseconds since the epoch.
    pub at: i64,
    pub who: String,
    pub role: Option<Role>,
    pub via: String,
    pub client: String,
    pub action: String,
    pub target: Option<String>,
    pub params: String,
    pub outcome: Outcome,
    /// Hex SHA-256; the first entry's is [`chain::GENESIS`].
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to record, before it has a place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub who: String,
    pub role: Option<Role>,
    pub via: String,
    pub client: String,
    pub action: String,
    pub target: Option<String>,
    pub params: String,
    pub outcome: Outcome,
}

impl NewEntry {
    /// An action by `principal` from `client`; `params` and the outcome's
    /// detail are bounded here ([`MAX_PARAMS`], [`MAX_DETAIL`]).
    pub fn new(
        principal: &Principal,
        client: &str,
        action: &str,
        target: Option<String>,
        params: &str,
        outcome: Outcome,
    ) -> NewEntry {
        NewEntry {
            who: principal.name.clone(),
            role: principal.role,
            via: principal.via.as_str().to_string(),
            client: client.to_string(),
            action: action.to_string(),
            target,
            params: bounded(params, MAX_PARAMS),
            outcome: Outcome {
                detail: bounded(&outcome.detail, MAX_DETAIL),
                ..outcome
            },
        }
    }

    /// A login that let `principal` in (for the sign-on code: `detail`
    /// says how, e.g. the provider).
    pub fn login(principal: &Principal, client: &str, detail: &str) -> NewEntry {
        let outcome = Outcome {
            status: 200,
            result: Verdict::Ok,
            detail: detail.to_string(),
        };
        NewEntry::new(principal, client, "login", None, "", outcome)
    }

    /// A login refused: `user` is the name given (never a password), or
    /// `unknown`; `why` says why it was refused.
    pub fn login_failed(user: &str, via: &str, client: &str, status: u16, why: &str) -> NewEntry {
        NewEntry {
            who: user.to_string(),
            role: None,
            via: via.to_string(),
            client: client.to_string(),
            action: "login.failed".into(),
            target: None,
            params: String::new(),
            outcome: Outcome {
                status,
                result: Verdict::Refused,
                detail: bounded(why, MAX_DETAIL),
            },
        }
    }

    /// `principal` logged out.
    pub fn logout(principal: &Principal, client: &str) -> NewEntry {
        let outcome = Outcome {
            status: 200,
            result: Verdict::Ok,
            detail: String::new(),
        };
        NewEntry::new(principal, client, "logout", None, "", outcome)
    }
}

/// `text`, cut to at most `max` bytes (at a character boundary) with
/// [`TRUNCATED`] appended when it was longer.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &text[..end])
}

impl Entry {
    /// The entry as the API serves it.
    pub fn to_wire(&self) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            at: self.at,
            who: self.who.clone(),
            role: self.role,
            via: self.via.clone(),
            client: self.client.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            params: self.params.clone(),
            status: self.outcome.status,
            result: self.outcome.result.as_str().to_string(),
            detail: self.outcome.detail.clone(),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// What `/api/audit` asks for: filters, newest first, a page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// The person, exactly.
    pub who: Option<String>,
    /// The action, exactly, or every action under it (`task` matches
    /// `task.revoke`).
    pub action: Option<String>,
    /// The target (a task id, a worker, a task name), exactly.
    pub target: Option<String>,
    /// `at` in `[since, until]`, UTC milliseconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only entries before this seq (an export's cursor).
    pub before: Option<u64>,
    pub limit: usize,
    pub offset: usize,
}

impl Query {
    /// Whether `entry` passes the filters (the ring's reading; the stores
    /// say the same in SQL).
    pub fn matches(&self, entry: &Entry) -> bool {
        self.who.as_ref().is_none_or(|w| &entry.who == w)
            && self.action.as_ref().is_none_or(|a| {
                entry.action == *a
                    || entry
                        .action
                        .strip_prefix(a.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            && self
                .target
                .as_ref()
                .is_none_or(|t| entry.target.as_ref() == Some(t))
            && self.since.is_none_or(|s| entry.at >= s)
            && self.until.is_none_or(|u| entry.at <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_params_are_cut_at_a_character_and_marked() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), format!("abc{TRUNCATED}"));
        assert_eq!(bounded("aé", 2), format!("a{TRUNCATED}"));
    }

    #[test]
    fn an_action_filter_matches_the_action_and_those_under_it() {
        let mut entry = chain::tests::entry(1, "task.revoke");
        let q = |a: &str| Query {
            action: Some(a.into()),
            ..Query::default()
        };
        assert!(q("task.revoke").matches(&entry));
        assert!(q("task").matches(&entry));
        assert!(!q("task.re").matches(&entry));
        entry.action = "tasks.bulk.retry".into();
        assert!(!q("task").matches(&entry));
    }
}
