//! celadon's server: reads Celery's events from Redis into a live model and
//! serves it as web pages, a websocket stream, a REST API and metrics.
//!
//! [`run`] wires the tasks: the event reader (`broker::subscriber`), the
//! model's single owner (`state::owner`), the control traffic
//! (`control::inspector`), queue depths (`broker::queues`), reconciliation
//! with the result backend (`broker::backend`), and the HTTP server (`api`).

pub mod api;
pub mod broker;
pub mod clock;
pub mod config;
pub mod control;
pub mod poll;
pub mod pyrepr;
pub mod state;

use std::{future::Future, sync::Arc};

use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use broker::{naming::Naming, subscriber, BrokerLink};
pub use config::Config;
use control::pidbox::Pidbox;
use poll::inspector;
use state::{owner, Model};

/// Serves celadon on `listener` until `shutdown` completes, then stops every
/// task it started and waits for them.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let naming = Naming::new(config.broker.db, config.transport.clone());
    let (link_tx, link_rx) = watch::channel(BrokerLink::connecting(clock::now()));
    let (events_tx, events_rx) = mpsc::channel(subscriber::EVENT_QUEUE);
    let (inspect_tx, inspect_rx) = mpsc::channel(inspector::REQUEST_QUEUE);
    let reader_stats = Arc::new(subscriber::ReaderStats::default());
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();

    let (state, owner_task) = owner::spawn(
        owner::OwnerSetup {
            model: Model::new(config.model.clone()),
            broker_url: config.broker.masked(),
            inspect_requests: Some(inspect_tx),
            purge_after: config.purge_offline_workers,
            views: state::views::ViewConfig {
                tasks_columns: config.tasks_columns.clone(),
                priority_steps: config.transport.priority_steps.clone(),
                controls: !config.read_only,
            },
        },
        events_rx,
        link_rx.clone(),
        cancel.clone(),
    )?;
    let reader = subscriber::ReaderThread::spawn(
        config.broker.clone(),
        naming.event_pattern(),
        events_tx,
        link_tx,
        reader_stats.clone(),
        cancel.clone(),
    )?;
    let pidbox = Arc::new(Pidbox::new(&config.broker, naming.clone())?);
    let control = Arc::new(control::service::Control::new(
        pidbox.clone(),
        state.clone(),
        naming.clone(),
        &config.broker,
        config.result_backend.as_ref(),
        config.inspect_timeout,
    )?);
    tasks.push(tokio::spawn(inspector::run(
        pidbox.clone(),
        state.clone(),
        inspect_rx,
        config.enable_events,
        config.inspect_timeout,
        cancel.clone(),
    )));
    tasks.push(tokio::spawn(poll::depths::run(
        config.broker.clone(),
        naming.clone(),
        state.clone(),
        cancel.clone(),
    )));
    if let Some(backend) = config.result_backend.clone() {
        tasks.push(tokio::spawn(poll::reconcile::run(
            backend,
            state.clone(),
            link_rx,
            cancel.clone(),
        )));
    }

    if !api::has_ui_bundle() {
        tracing::warn!("this binary was built without the UI bundle; run scripts/build");
    }
    let sockets = TaskTracker::new();
    let app = api::AppState {
        state,
        leptos: api::leptos_options(),
        cancel: cancel.clone(),
        sockets: sockets.clone(),
        reader: reader_stats,
        pidbox,
        control,
        access: api::guard::Access {
            users: Arc::new(config.basic_auth.clone()),
            read_only: config.read_only,
        },
        inspect_timeout: config.inspect_timeout,
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
    reader.join().await;
    for task in tasks {
        let _ = task.await;
    }
    owner_task.join().await;
    served?;
    Ok(())
}
