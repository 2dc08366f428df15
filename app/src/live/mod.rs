//! The browser's live copy of the server's model: a signal holding a pure
//! [`model::LiveModel`], fed first by the server-rendered snapshot, then by
//! the websocket (`socket`, browser only).

pub mod model;
#[cfg(feature = "hydrate")]
mod socket;

use leptos::prelude::*;

use crate::wire::{Snapshot, View};
use model::LiveModel;

/// The state of the websocket to the celadon server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// The page was rendered by the server and the websocket is not open yet.
    Connecting,
    /// A snapshot arrived on the open websocket: the page is live.
    Live,
    /// The websocket closed; a reconnect is scheduled.
    Reconnecting,
}

/// Handle to the live state, provided as context by [`provide_live`].
#[derive(Clone, Copy)]
pub struct Live {
    pub model: RwSignal<LiveModel>,
    pub conn: RwSignal<Conn>,
    /// The view the current page shows; the socket subscribes to it.
    pub view: RwSignal<Option<View>>,
}

impl Live {
    /// Declares the view of the page being rendered.
    pub fn show(&self, view: View) {
        if self.view.get_untracked().as_ref() != Some(&view) {
            self.view.set(Some(view));
        }
    }

    /// Takes a server-rendered snapshot unless the websocket already
    /// delivered data for the same view.
    pub fn seed(&self, snapshot: Snapshot) {
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
/// websocket.
pub fn provide_live() -> Live {
    let live = Live {
        model: RwSignal::new(LiveModel::default()),
        conn: RwSignal::new(Conn::Connecting),
        view: RwSignal::new(None),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    socket::start(live);
    live
}

/// The live state provided by [`crate::App`].
#[allow(
    clippy::expect_used,
    reason = "every page is rendered inside App, which provides it"
)]
pub fn use_live() -> Live {
    use_context::<Live>().expect("Live is provided by App")
}

/// The first snapshot of `view`: computed by the server while it renders the
/// page and carried to the browser inside it. In the browser (after a
/// client-side navigation) it is `None`: the websocket delivers the view.
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
