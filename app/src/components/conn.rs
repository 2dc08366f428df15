//! The connection indicator: is what the page shows live, and if not, why
//! and how it is kept current?

use leptos::prelude::*;

use crate::live::{Conn, poll::POLL_INTERVAL, use_live};
use crate::wire::BrokerState;

/// What the indicator says, in order of precedence: the connection to the
/// server first (nothing is current without it), then the server's broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Connecting,
    Reconnecting,
    BrokerConnecting,
    BrokerUnreachable,
    Live,
    /// Current, but by fetching, not streaming: no websocket gets through.
    Polling,
}

impl Shown {
    fn of(conn: Conn, broker: Option<BrokerState>) -> Shown {
        match (conn, broker) {
            (Conn::Connecting, _) => Shown::Connecting,
            (Conn::Reconnecting, _) => Shown::Reconnecting,
            (Conn::Live | Conn::Polling, Some(BrokerState::Unreachable)) => {
                Shown::BrokerUnreachable
            }
            (Conn::Live | Conn::Polling, Some(BrokerState::Connecting) | None) => {
                Shown::BrokerConnecting
            }
            (Conn::Live, Some(BrokerState::Connected)) => Shown::Live,
            (Conn::Polling, Some(BrokerState::Connected)) => Shown::Polling,
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
            Shown::Polling => "polling",
        }
    }

    fn label(self) -> String {
        match self {
            Shown::Connecting => "connecting…".into(),
            Shown::Reconnecting => "reconnecting…".into(),
            Shown::BrokerConnecting => "connecting to broker…".into(),
            Shown::BrokerUnreachable => "broker unreachable, retrying".into(),
            Shown::Live => "live".into(),
            Shown::Polling => format!("no websocket: updating every {} s", POLL_INTERVAL.as_secs()),
        }
    }
}

/// The indicator's tooltip when no websocket gets through: why, and what
/// to change.
const POLLING_WHY: &str = "The websocket to celadon could not be opened, but plain HTTP \
     reaches it: a proxy in between that does not pass the Upgrade header on? The page \
     fetches what it shows instead, and goes live once a websocket opens. See the \
     README's \"Behind a proxy\".";

#[component]
pub fn ConnIndicator() -> impl IntoView {
    let live = use_live();
    let shown = Memo::new(move |_| {
        let broker = live.model.with(|m| m.broker.as_ref().map(|b| b.state));
        Shown::of(live.conn.get(), broker)
    });
    let title = move || {
        if shown.get() == Shown::Polling {
            return Some(POLLING_WHY.to_string());
        }
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

/// A line under the bar on every page while history is not being written
/// (a full disk, a damaged file, a database that went away): pages stay
/// live, but what they show is not being kept. The text is the server's,
/// shown as text.
#[component]
pub fn HistoryBanner() -> impl IntoView {
    let live = use_live();
    let problem = Memo::new(move |_| {
        live.model.with(|m| {
            m.history
                .as_ref()
                .filter(|h| !h.writing)
                .and_then(|h| h.problem.clone())
        })
    });
    move || {
        problem.get().map(|text| {
            view! { <div class="history-banner" role="status">{text}</div> }
        })
    }
}

/// Firing alerts the banner lists; it links to the Alerts page for more.
pub const BANNER_SHOWN: usize = 3;

/// While any alert fires, a line per alert on every page (the first
/// [`BANNER_SHOWN`]), each linking to the page that shows its cause. Fed
/// by the live model (the snapshot's and deltas' `alerts`), so it is as
/// current as the page.
#[component]
pub fn AlertsBanner() -> impl IntoView {
    let live = use_live();
    let base = crate::base::use_base();
    let firing = Memo::new(move |_| {
        live.model.with(|m| {
            m.alerts
                .as_ref()
                .map(|a| a.alerts.clone())
                .unwrap_or_default()
        })
    });
    move || {
        let mut alerts = firing.get();
        (!alerts.is_empty()).then(|| {
            let n = alerts.len();
            // The most severe first, then the newest; the rest are a click
            // away, so a burst of alerts cannot push the page off screen.
            alerts.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(b.started.total_cmp(&a.started))
            });
            let more = n.saturating_sub(BANNER_SHOWN);
            let items = alerts
                .into_iter()
                .take(BANNER_SHOWN)
                .map(|a| {
                    view! {
                        <li data-rule=a.rule.clone()>
                            <a href=base.href(&a.link)>{a.summary.clone()}</a>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <div class="alerts-banner" role="alert" data-testid="alerts-banner">
                    <a class="alerts-banner-title" href=base.href("/alerts")>
                        {if n == 1 { "1 alert firing".to_string() } else { format!("{n} alerts firing") }}
                    </a>
                    <ul>
                        {items}
                        {(more > 0).then(|| view! {
                            <li class="alerts-banner-more">
                                <a href=base.href("/alerts")>{format!("and {more} more")}</a>
                            </li>
                        })}
                    </ul>
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_websocket_the_indicator_says_so_unless_the_broker_is_down() {
        let connected = Some(BrokerState::Connected);
        assert_eq!(Shown::of(Conn::Live, connected), Shown::Live);
        let polling = Shown::of(Conn::Polling, connected);
        assert_eq!(polling.key(), "polling");
        assert!(
            polling.label().contains("no websocket"),
            "{}",
            polling.label()
        );
        assert_eq!(
            Shown::of(Conn::Polling, Some(BrokerState::Unreachable)),
            Shown::BrokerUnreachable
        );
        assert_eq!(
            Shown::of(Conn::Reconnecting, connected),
            Shown::Reconnecting
        );
    }
}
