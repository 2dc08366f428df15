//! Everything that talks to, or decodes what comes from, the Celery broker.
//! `url`, `ssl`, `transport`, `naming`, `sentinel`, `envelope`,
//! `messages`, `queue_query` and `events` are pure; `browse`, `held` and
//! `actions` read and change queues; `dial` opens every connection (with
//! `tls`); `subscriber` owns the pub/sub connection.

pub mod actions;
pub mod backend;
pub mod browse;
pub mod conn;
pub mod dial;
pub mod envelope;
pub mod events;
pub mod held;
pub mod messages;
pub mod naming;
pub mod queue_query;
pub mod queues;
mod raw;
pub mod resp;
mod scan;
pub mod sentinel;
pub mod ssl;
pub mod subscriber;
pub mod tls;
pub mod transport;
pub mod url;

/// How the event reader's connection to the broker stands.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerLink {
    pub state: LinkState,
    /// Why the broker is unreachable, when it is.
    pub detail: Option<String>,
    /// Unix seconds when `state` last changed.
    pub since: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    Unreachable,
}

impl BrokerLink {
    pub fn connecting(now: f64) -> BrokerLink {
        BrokerLink {
            state: LinkState::Connecting,
            detail: None,
            since: now,
        }
    }
}
