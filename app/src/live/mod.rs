//! The browser's live copy of the server's model: a signal holding a pure
//! [`model::LiveModel`], fed first by the server-rendered snapshot, then by
//! the websocket (`socket`, browser only), and while no websocket can be
//! opened, by fetching the view's snapshot over plain HTTP (`poll`).

pub mod http;
pub mod model;
pub mod poll;
#[cfg(feature = "hydrate")]
mod socket;

use leptos::prelude::*;

use crate::{
    base::Base,
    wire::{Snapshot, View},
};
use model::LiveModel;

/// How the page is kept current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// The page was rendered by the server and the websocket is not open yet.
    Connecting,
    /// A snapshot arrived on the open websocket: the page is live.
    Live,
    /// The websocket closed or could not be opened, and the server did not
    /// answer over HTTP either: reconnects are scheduled.
    Reconnecting,
    /// No websocket could be opened (a proxy that does not pass the upgrade
    /// on), but the server answers over HTTP: the view's snapshot is fetched
    /// every [`poll::POLL_INTERVAL`], and the websocket is still retried.
    Polling,
}

/// Handle to the live state, provided as context by [`provide_live`].
#[derive(Clone, Copy)]
pub struct Live {
    pub model: RwSignal<LiveModel>,
    pub conn: RwSignal<Conn>,
    /// The view the current page shows; the socket subscribes to it.
    pub view: RwSignal<Option<View>>,
    /// The browser's clock in Unix seconds, ticking each second; `None` on
    /// the server and until hydrated (times then render as UTC on both).
    pub now: RwSignal<Option<f64>>,
    /// Show times relative to now rather than as clock times.
    pub relative: RwSignal<bool>,
}

/// Where the time display choice is remembered in the browser.
#[cfg(feature = "hydrate")]
const RELATIVE_KEY: &str = "celadon.relative-times";

impl Live {
    /// Declares the view of the page being rendered.
    pub fn show(&self, view: View) {
        if self.view.get_untracked().as_ref() != Some(&view) {
            self.view.set(Some(view));
        }
    }

    pub fn set_relative(&self, relative: bool) {
        self.relative.set(relative);
        #[cfg(feature = "hydrate")]
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(RELATIVE_KEY, if relative { "1" } else { "0" });
        }
    }

    /// Declares a page's view as it follows the URL: now, and in the browser
    /// whenever it changes (the socket then resubscribes).
    pub fn follow(&self, view: Memo<View>) {
        self.show(view.get_untracked());
        let live = *self;
        Effect::new(move |_| live.show(view.get()));
    }

    /// The data of the current view, if it is `view`'s.
    pub fn data_for(&self, view: &View) -> Option<crate::wire::ViewData> {
        self.model
            .with(|m| m.data.as_ref().filter(|d| &d.view() == view).cloned())
    }

    /// Takes a server-rendered snapshot unless the websocket already
    /// delivered data for the same view.
    /// Its `natural_time` is the time display's default, for a browser
    /// that has not chosen one.
    pub fn seed(&self, snapshot: Snapshot) {
        #[cfg(feature = "hydrate")]
        if remembered_relative().is_none() {
            self.relative.set(snapshot.natural_time);
        }
        let view = snapshot.data.view();
        let fresher = self
            .model
            .with_untracked(|m| m.seq.is_some() && m.shows(&view));
        if !fresher {
            self.model.set(LiveModel::seeded(snapshot));
        }
    }
}

/// Creates the live state for this page load and, in the browser, opens the
/// websocket (and polls while it cannot), both under `base`.
pub fn provide_live(base: Base) -> Live {
    let live = Live {
        model: RwSignal::new(LiveModel::default()),
        conn: RwSignal::new(Conn::Connecting),
        view: RwSignal::new(None),
        now: RwSignal::new(None),
        relative: RwSignal::new(false),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    {
        socket::start(live, base);
        poll::start(live, base);
        start_clock(live);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = base;
    live
}

/// The time display this browser chose, if it chose one.
#[cfg(feature = "hydrate")]
fn remembered_relative() -> Option<bool> {
    let stored = window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item(RELATIVE_KEY).ok().flatten())?;
    Some(stored == "1")
}

/// The browser's clock in unix seconds, read now; `None` on the server,
/// which renders what needs no clock and leaves the rest to the browser.
pub fn browser_now() -> Option<f64> {
    #[cfg(feature = "hydrate")]
    return Some(js_sys::Date::now() / 1000.0);
    #[cfg(not(feature = "hydrate"))]
    None
}

/// After hydration: the browser's clock, and the remembered time display
/// (else the server's default, which [`Live::seed`] set).
#[cfg(feature = "hydrate")]
fn start_clock(live: Live) {
    Effect::new(move |_| {
        if let Some(relative) = remembered_relative() {
            live.relative.set(relative);
        }
        live.now.set(Some(js_sys::Date::now() / 1000.0));
    });
    let _ = set_interval_with_handle(
        move || live.now.set(Some(js_sys::Date::now() / 1000.0)),
        std::time::Duration::from_secs(1),
    );
}

/// The live state provided by [`crate::App`].
#[expect(
    clippy::expect_used,
    reason = "every page is rendered inside App, which provides it"
)]
pub fn use_live() -> Live {
    use_context::<Live>().expect("Live is provided by App")
}

/// The first snapshot of `view`: computed by the server while it renders the
/// page and carried to the browser inside it. In the browser (after a
/// client-side navigation) it is `None`: the websocket (or, without one,
/// the poll) delivers the view.
pub fn snapshot_resource(view: View) -> Resource<Option<Snapshot>> {
    #[cfg(feature = "ssr")]
    let source = use_context::<crate::ssr::SnapshotSource>();
    Resource::new_blocking(
        move || view.clone(),
        move |view| {
            #[cfg(feature = "ssr")]
            let pending = source.as_ref().map(|s| s.get(view));
            #[cfg(not(feature = "ssr"))]
            let pending: Option<std::future::Ready<Option<Snapshot>>> = {
                let _ = view;
                None
            };
            async move {
                match pending {
                    Some(fut) => fut.await,
                    None => None,
                }
            }
        },
    )
}
