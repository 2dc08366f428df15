//! What keeps a page current when no websocket can be opened: a proxy that
//! does not pass the `Upgrade` header on (Flower's documented nginx
//! configuration is one) answers every websocket with an error, while
//! plain HTTP gets through. While the websocket is down, the view's
//! snapshot is fetched from `GET <base>/snapshot?view=…` every
//! [`POLL_INTERVAL`]; when that answers, the indicator says "polling" and
//! why, and when it does not either, "reconnecting". The websocket keeps
//! being retried, and takes over as soon as one opens.

use std::time::Duration;

use crate::{base::Base, pages::encode, wire::View};

/// How often a page without a websocket fetches its view: often enough to
/// follow tasks as they run, a whole snapshot each time being the price.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A fetch not answered by then is given up, and the next tick asks again.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// While a Worker page polls, its worker is asked for its stats, queues and
/// tasks this often, as the websocket's task does for it.
pub const WORKER_REFRESH: Duration = Duration::from_secs(10);

/// The path (and query) that answers `view`'s snapshot; with `inspect`, a
/// Worker view's worker is inspected first.
pub fn snapshot_url(base: Base, view: &View, inspect: bool) -> Option<String> {
    let json = serde_json::to_string(view).ok()?;
    let inspect = if inspect { "&inspect=1" } else { "" };
    Some(base.href(&format!("/snapshot?view={}{inspect}", encode(&json))))
}

#[cfg(feature = "hydrate")]
pub(super) use browser::start;

#[cfg(feature = "hydrate")]
mod browser {
    use std::{cell::RefCell, rc::Rc};

    use leptos::prelude::*;

    use super::{Base, POLL_INTERVAL, POLL_TIMEOUT, WORKER_REFRESH, snapshot_url};
    use crate::live::{Conn, Live, http, model::LiveModel};
    use crate::wire::{Snapshot, View};

    struct Poller {
        live: Live,
        base: Base,
        /// The view a fetch is under way for: another for the same view is
        /// not started meanwhile.
        in_flight: Option<View>,
        /// The view polled last, and how many times in a row: a Worker
        /// page's worker is inspected on the first and every
        /// `WORKER_REFRESH` after.
        polled: Option<(View, u64)>,
    }

    type Shared = Rc<RefCell<Poller>>;

    /// Polls on a timer while the websocket is down, and at once when it
    /// first fails or the page's view changes while polling. The timer and
    /// the effect live as long as the page.
    pub fn start(live: Live, base: Base) {
        let poller: Shared = Rc::new(RefCell::new(Poller {
            live,
            base,
            in_flight: None,
            polled: None,
        }));
        let ticking = poller.clone();
        let _ = set_interval_with_handle(
            move || {
                if matches!(
                    live.conn.get_untracked(),
                    Conn::Reconnecting | Conn::Polling
                ) {
                    poll(&ticking);
                }
            },
            POLL_INTERVAL,
        );
        Effect::new(move |before: Option<(Conn, Option<View>)>| {
            let now = (live.conn.get(), live.view.get());
            let (was, seen) = before.unwrap_or((Conn::Connecting, None));
            let went_down =
                now.0 == Conn::Reconnecting && !matches!(was, Conn::Reconnecting | Conn::Polling);
            let moved = now.0 == Conn::Polling && seen != now.1;
            if went_down || moved {
                poll(&poller);
            }
            now
        });
    }

    fn poll(poller: &Shared) {
        let mut p = poller.borrow_mut();
        let live = p.live;
        let Some(view) = live.view.get_untracked() else {
            return;
        };
        if p.in_flight.as_ref() == Some(&view) {
            return;
        }
        let times = match &p.polled {
            Some((v, n)) if *v == view => n + 1,
            _ => 0,
        };
        p.polled = Some((view.clone(), times));
        let every = (WORKER_REFRESH.as_millis() / POLL_INTERVAL.as_millis()).max(1) as u64;
        let inspect = matches!(view, View::Worker { .. }) && times % every == 0;
        let Some(url) = snapshot_url(p.base, &view, inspect) else {
            return;
        };
        p.in_flight = Some(view.clone());
        drop(p);
        let poller = poller.clone();
        leptos::task::spawn_local(async move {
            let answer = http::get::<Snapshot>(&url, POLL_TIMEOUT).await;
            let mut p = poller.borrow_mut();
            if p.in_flight.as_ref() == Some(&view) {
                p.in_flight = None;
            }
            drop(p);
            // The websocket may have come back, or the page moved on, while
            // this was under way: then the answer is old news.
            if live.conn.get_untracked() == Conn::Live
                || live.view.get_untracked().as_ref() != Some(&view)
            {
                return;
            }
            match answer {
                Ok(Ok(snapshot)) => {
                    live.model.set(LiveModel::seeded(snapshot));
                    live.conn.set(Conn::Polling);
                }
                Ok(Err(refused)) => {
                    leptos::logging::warn!("celadon: the snapshot was refused: {}", refused.error);
                    live.conn.set(Conn::Reconnecting);
                }
                Err(_) => live.conn.set(Conn::Reconnecting),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TasksQuery;

    #[test]
    fn the_snapshot_url_carries_the_view_as_json_under_the_base() {
        let base = Base::parse("flower").unwrap();
        let url = snapshot_url(base, &View::Workers, false).unwrap();
        assert_eq!(
            url,
            "/flower/snapshot?view=%7B%22page%22%3A%22workers%22%7D"
        );
        let worker = View::Worker { name: "w@h".into() };
        let url = snapshot_url(Base::default(), &worker, true).unwrap();
        assert!(url.starts_with("/snapshot?view=%7B"), "{url}");
        assert!(url.ends_with("&inspect=1"), "{url}");
        let tasks = View::Tasks {
            query: TasksQuery {
                search: "a&b=c d".into(),
                ..Default::default()
            },
        };
        let url = snapshot_url(base, &tasks, false).unwrap();
        let (_, view) = url.split_once("view=").unwrap();
        assert!(!view.contains(['&', '=', ' ', '"']), "{url}");
    }
}
