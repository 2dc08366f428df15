//! Everything that talks to, or decodes what comes from, the Celery broker.
//! `url`, `envelope` and `events` are pure; `subscriber` owns the pub/sub
//! connection.

pub mod envelope;
pub mod events;
pub mod subscriber;
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

/// The event channels of a broker db, as kombu names them (PROTOCOL.md §2):
/// `PSUBSCRIBE /{db}.celeryev/*` receives every event type.
pub fn event_channel_pattern(db: u32) -> String {
    format!("/{db}.celeryev/*")
}
