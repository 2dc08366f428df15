//! The connection indicator: is what the page shows live?

use leptos::prelude::*;

use crate::live::{Conn, use_live};
use crate::wire::BrokerState;

/// What the indicator says, in order of precedence: the websocket to the
/// server first (nothing is live without it), then the server's broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Connecting,
    Reconnecting,
    BrokerConnecting,
    BrokerUnreachable,
    Live,
}

impl Shown {
    fn of(conn: Conn, broker: Option<BrokerState>) -> Shown {
        match (conn, broker) {
            (Conn::Connecting, _) => Shown::Connecting,
            (Conn::Reconnecting, _) => Shown::Reconnecting,
            (Conn::Live, Some(BrokerState::Connected)) => Shown::Live,
            (Conn::Live, Some(BrokerState::Unreachable)) => Shown::BrokerUnreachable,
            (Conn::Live, Some(BrokerState::Connecting) | None) => Shown::BrokerConnecting,
        }
    }

    /// Stable name for styling and tests.
    fn key(self) -> &'static str {
        match self {
            Shown::Connecting => "connecting",
            Shown::Reconnecting => "reconnecting",
            Shown::BrokerConnecting => "broker-connecting",
            Shown::BrokerUnreachable => "broker-unreachable",
            Shown::Live => "live",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Shown::Connecting => "connecting…",
            Shown::Reconnecting => "reconnecting…",
            Shown::BrokerConnecting => "connecting to broker…",
            Shown::BrokerUnreachable => "broker unreachable, retrying",
            Shown::Live => "live",
        }
    }
}

#[component]
pub fn ConnIndicator() -> impl IntoView {
    let live = use_live();
    let shown = Memo::new(move |_| {
        let broker = live.model.with(|m| m.broker.as_ref().map(|b| b.state));
        Shown::of(live.conn.get(), broker)
    });
    let title = move || {
        live.model.with(|m| {
            m.broker.as_ref().map(|b| match &b.detail {
                Some(detail) => format!("{}: {detail}", b.url),
                None => b.url.clone(),
            })
        })
    };
    view! {
        <span class="conn" data-state=move || shown.get().key() title=title>
            <span class="dot"></span>
            <span class="label">{move || shown.get().label()}</span>
        </span>
    }
}
