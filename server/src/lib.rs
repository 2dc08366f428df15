//! celadon's server: reads Celery's events from Redis into a live model and
//! serves it as web pages, a websocket stream and an API.
//!
//! [`run`] wires the tasks: the event reader (`broker::subscriber`), the
//! model's single owner (`state::owner`), and the HTTP server (`api`).

pub mod api;
pub mod broker;
pub mod clock;
pub mod config;
pub mod pyrepr;
pub mod state;

use std::{future::Future, sync::Arc};

use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use broker::{subscriber, BrokerLink};
pub use config::Config;

/// Serves celadon on `listener` until `shutdown` completes, then stops every
/// task it started and waits for them.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let (link_tx, link_rx) = watch::channel(BrokerLink::connecting(clock::now()));
    let (events_tx, events_rx) = mpsc::channel(subscriber::EVENT_QUEUE);
    let reader_stats = Arc::new(subscriber::ReaderStats::default());

    let (state, owner_task) =
        state::owner::spawn(events_rx, link_rx, config.broker.masked(), cancel.clone());
    let reader_task = tokio::spawn(subscriber::run(
        config.broker.clone(),
        broker::event_channel_pattern(config.broker.db),
        events_tx,
        link_tx,
        reader_stats,
        cancel.clone(),
    ));

    if !api::has_ui_bundle() {
        tracing::warn!("this binary was built without the UI bundle; run scripts/build");
    }
    let sockets = TaskTracker::new();
    let app = api::AppState {
        state,
        leptos: api::leptos_options(),
        cancel: cancel.clone(),
        sockets: sockets.clone(),
    };
    let served = axum::serve(listener, api::router(app))
        .with_graceful_shutdown({
            let cancel = cancel.clone();
            async move {
                tokio::select! {
                    () = shutdown => {}
                    () = cancel.cancelled() => {}
                }
                cancel.cancel();
            }
        })
        .await;

    cancel.cancel();
    sockets.close();
    sockets.wait().await;
    let _ = reader_task.await;
    let _ = owner_task.await;
    served?;
    Ok(())
}
