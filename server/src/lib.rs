//! celadon's server: reads Celery's events from Redis into a live model and
//! serves it as web pages, a websocket stream, a REST API and metrics.
//!
//! [`run`] wires the tasks: the event reader (`broker::subscriber`), the
//! model's single owner (`state::owner`), the periodic loops (`poll`:
//! queue depths, reconciliation with the result backend, the inspector),
//! and the HTTP server (`api`), and stops and joins them all when it ends.

// The queue page (issue 21): the router lays out its view, a chart beside
// tables, deeper than the compiler's default query depth (as in `app`).
#![recursion_limit = "256"]

pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod broker;
pub mod clock;
pub mod config;
pub mod control;
pub mod crypto;
pub mod history;
pub mod listen;
pub mod logfile;
// Webhook notifications (issue 21).
pub mod notify;
pub mod poll;
pub mod pyrepr;
pub mod state;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;

use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use broker::{
    BrokerLink,
    backend::{BackendUrl, ResultBackend},
    dial::Endpoint,
    naming::Naming,
    subscriber,
};
pub use config::Config;
use control::pidbox::Pidbox;
use listen::{Listeners, Peer};
use poll::inspector;
use state::{Model, owner};

/// Serves celadon on `listeners` (bound sockets, or a `TcpListener`) until
/// `shutdown` completes, then stops every task it started and waits for
/// them. Whichever way it ends (shutdown, a
/// failure while starting, or a failed server), everything started so far
/// is cancelled and joined before it returns.
pub async fn run(
    config: Config,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut running = Running::new();
    let served = serve(config, listeners.into(), shutdown, &mut running).await;
    running.stop().await;
    served
}

/// How long a stopping server waits for open connections to finish
/// (requests under way, websockets saying goodbye) before it stops
/// waiting for them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything [`run`] started: its two threads, its tasks and the
/// websockets, with the token that stops them. A drop guard: if `run`'s
/// future is dropped before [`Running::stop`], dropping this cancels the
/// tokens, and every thread and task ends on its own.
struct Running {
    /// Stops everything but the model's owner.
    cancel: CancellationToken,
    /// Stops the owner, once nothing else will ask it anything.
    owner_cancel: CancellationToken,
    owner: Option<owner::OwnerThread>,
    reader: Option<subscriber::ReaderThread>,
    /// The history store's writer; it ends once the save loop (one of
    /// `tasks`) has made its last write and dropped its `Writer`.
    history: Option<store::WriterThread>,
    tasks: Vec<JoinHandle<()>>,
    sockets: TaskTracker,
}

impl Running {
    fn new() -> Running {
        Running {
            cancel: CancellationToken::new(),
            owner_cancel: CancellationToken::new(),
            owner: None,
            reader: None,
            history: None,
            tasks: Vec::new(),
            sockets: TaskTracker::new(),
        }
    }

    /// Cancels everything and waits for it: the websockets, the reader, the
    /// tasks, and last the model's owner, which the others may still be
    /// asking something until they end.
    async fn stop(mut self) {
        self.cancel.cancel();
        self.sockets.close();
        self.sockets.wait().await;
        if let Some(reader) = self.reader.take() {
            reader.join().await;
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(history) = self.history.take() {
            history.join().await;
        }
        self.owner_cancel.cancel();
        if let Some(owner) = self.owner.take() {
            owner.join().await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.owner_cancel.cancel();
    }
}

async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    running: &mut Running,
) -> anyhow::Result<()> {
    let cancel = running.cancel.clone();
    let broker = Arc::new(
        Endpoint::new(
            &config.broker,
            config.broker_use_ssl.as_ref(),
            &config.transport,
        )
        .context("the broker's settings")?,
    );
    let backend = match &config.result_backend {
        Some(BackendUrl::Redis(url)) => Some(Arc::new(ResultBackend::redis(
            Arc::new(
                Endpoint::new(
                    url,
                    config.backend_use_ssl.as_ref(),
                    &config.backend_transport,
                )
                .context("the result backend's settings")?,
            ),
            config.backend_transport.global_keyprefix.clone(),
        ))),
        Some(BackendUrl::Sql(url)) => Some(Arc::new(ResultBackend::sql(url))),
        None => None,
    };
    if let Some(url) = &config.result_backend {
        tracing::info!(backend = %url.masked(), "reading the result backend");
    }
    let naming = Naming::new(broker.db(), config.transport.clone());
    let (link_tx, link_rx) = watch::channel(BrokerLink::connecting(clock::now()));
    let (events_tx, events_rx) = mpsc::channel(subscriber::EVENT_QUEUE);
    let (inspect_tx, inspect_rx) = mpsc::channel(inspector::REQUEST_QUEUE);
    let reader_stats = Arc::new(subscriber::ReaderStats::default());
    let mut history = open_history(&config).await;
    let mut model = Model::new(config.model.clone());
    let mut restored = false;
    if let Some(History {
        store: Some(store), ..
    }) = &mut history
    {
        let loaded = std::mem::take(&mut store.loaded);
        restored = !loaded.tasks.is_empty();
        // More may be older than the first read: read on once serving.
        let max = config.model.limits.max_tasks;
        store.older = loaded
            .next
            .filter(|_| loaded.tasks.len() == max.min(poll::history::FIRST_LOAD))
            .map(|next| (next, max - loaded.tasks.len()))
            .filter(|(_, left)| *left > 0);
        model.restore_tasks(loaded.tasks.into_iter().rev());
        // The charts, counters, workers and queues, as last written; the
        // restart is a gap in them until the event stream connects.
        if let Some(rest) = &loaded.rest
            && let Err(error) = model.restore_besides_tasks(rest, clock::now())
        {
            tracing::warn!(
                %error,
                "the saved charts, counters and workers could not be read; they start afresh"
            );
        }
        model.keep_unsaved();
    }

    // Alerts (issue 21): kept beside the history when the store opened,
    // else in memory; every page shows what fires.
    let alerts_at = config
        .history
        .as_ref()
        .filter(|_| history.as_ref().is_some_and(|h| h.store.is_some()))
        .map(|h| &h.location);
    let external_url = config.external_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}:{}{}",
            api::hosts::machine_hostname().unwrap_or_else(|| "localhost".into()),
            listeners.port().unwrap_or(80),
            config.url_prefix.as_str()
        )
    });
    // Its delivery tasks are the websockets' tracker's: closed and
    // waited for first at the stop, and ended by the token.
    let notifier = notify::Notifier::start(Vec::new(), cancel.clone(), &running.sockets)
        .context("webhook notifications")?;
    let alerts = alerts::Alerts::open(
        config.alerts.clone(),
        alerts::trail::AlertStore::open(alerts_at),
        external_url,
        notifier,
    )
    .await;

    let (state, owner_thread) = owner::spawn(
        owner::OwnerSetup {
            model,
            broker_url: config.broker.masked(),
            inspect_requests: Some(inspect_tx),
            purge_after: config.purge_offline_workers,
            views: state::views::ViewConfig {
                tasks_columns: config.tasks_columns.clone(),
                priority_steps: config.transport.priority_steps.clone(),
                // Without a login the API, and so control, answers only
                // with FLOWER_UNAUTHENTICATED_API: the pages offer none.
                controls: !config.read_only
                    && (!config.basic_auth.is_empty()
                        || config.sign_on.oidc.is_some()
                        || config.sign_on.oauth.is_some()
                        || config.unauthenticated_api),
                natural_time: config.natural_time,
            },
            history: history.as_ref().map(|h| h.health.subscribe()),
            alerts: Some(alerts.subscribe_firing()),
        },
        events_rx,
        link_rx.clone(),
        running.owner_cancel.clone(),
    )?;
    running.owner = Some(owner_thread);
    running.reader = Some(subscriber::ReaderThread::spawn(
        broker.clone(),
        naming.event_pattern(),
        events_tx,
        link_tx,
        reader_stats.clone(),
        cancel.clone(),
    )?);
    let pidbox = Arc::new(Pidbox::new(broker.clone(), naming.clone()));
    let control = Arc::new(control::service::Control::new(
        pidbox.clone(),
        state.clone(),
        naming.clone(),
        broker.clone(),
        backend.clone(),
        config.inspect_timeout,
    ));
    running.tasks.push(tokio::spawn(inspector::run(
        pidbox.clone(),
        state.clone(),
        inspect_rx,
        config.enable_events,
        config.inspect_timeout,
        cancel.clone(),
    )));
    // The queue browser's own connection (issue 21).
    let queue_browser = Arc::new(broker::browse::QueueBrowser::new(
        naming.clone(),
        broker.clone(),
    ));
    running.tasks.push(tokio::spawn(poll::depths::run(
        broker,
        naming.clone(),
        state.clone(),
        cancel.clone(),
    )));
    if let Some(backend) = backend {
        running.tasks.push(tokio::spawn(poll::reconcile::run(
            backend,
            state.clone(),
            link_rx,
            restored,
            cancel.clone(),
        )));
    }
    let history_reader = match history {
        Some(History {
            status,
            health,
            store: Some(store),
        }) => {
            running.history = Some(store.thread);
            if let Some((next, left)) = store.older {
                running.tasks.push(tokio::spawn(poll::history::load_older(
                    state.clone(),
                    store.reader.clone(),
                    next,
                    left,
                    status.clone(),
                    cancel.clone(),
                )));
            }
            running.tasks.push(tokio::spawn(poll::history::run(
                state.clone(),
                store.writer,
                status.clone(),
                health,
                store.save_interval,
                cancel.clone(),
            )));
            Some((Some(store.reader), status))
        }
        // Held by the owner's receiver's last value: nothing will change.
        Some(History {
            status,
            store: None,
            ..
        }) => Some((None, status)),
        None => None,
    };

    // The audit trail beside the history when the store opened; else in
    // memory (and the log), which the Audit page says.
    let trail_at = config
        .history
        .as_ref()
        .filter(|_| history_reader.as_ref().is_some_and(|(r, _)| r.is_some()))
        .map(|h| &h.location);
    let (audit, appender) =
        audit::Recorder::start(audit::trail::Trail::open(trail_at).await, cancel.clone());
    running.tasks.push(appender);

    // With a PostgreSQL history shared by replicas, the writer alone keeps
    // and notifies alerts; otherwise this process does.
    let writer_status = match &config.history {
        Some(h) if matches!(h.location, store::Location::Postgres(_)) => {
            history_reader.as_ref().map(|(_, status)| status.clone())
        }
        _ => None,
    };
    running.tasks.push(tokio::spawn(poll::alerts::run(
        state.clone(),
        alerts.clone(),
        |alerts: &alerts::Alerts, t: &alerts::eval::Transition| alerts.notify(t),
        move || {
            writer_status
                .as_ref()
                .is_none_or(|s| s.get().role == store::Role::Writer)
        },
        cancel.clone(),
    )));

    if !api::has_ui_bundle() {
        tracing::warn!("this binary was built without the UI bundle; run scripts/build");
    }
    let refresher = Arc::new(poll::refresh::Refresher::new(
        pidbox.clone(),
        state.clone(),
        config.inspect_timeout,
        running.sockets.clone(),
        cancel.clone(),
    ));
    let app = api::AppState {
        state,
        leptos: api::leptos_options(),
        cancel: cancel.clone(),
        sockets: running.sockets.clone(),
        reader: reader_stats,
        pidbox,
        control,
        access: api::guard::Access {
            users: Arc::new(config.basic_auth.clone()),
            read_only: config.read_only,
            unauthenticated_api: config.unauthenticated_api,
            base: config.url_prefix,
            sign_on: sign_on(&config)?,
            roles: Arc::new(config.sign_on.roles.clone()),
            redact: Arc::new(config.sign_on.redact.clone()),
            limiter: Arc::default(),
        },
        inspect_timeout: config.inspect_timeout,
        base: config.url_prefix,
        history: history_reader.map(|(reader, status)| api::HistoryAccess { reader, status }),
        audit,
        hosts: api::hosts::HostCheck {
            allowed: api::hosts::AllowedHosts::new(
                config.allowed_hosts.as_deref(),
                api::hosts::machine_hostname(),
            ),
            xheaders: config.xheaders,
        },
        socket_count: Arc::default(),
        refresher,
        alerts,
        queues: queue_browser,
    };
    let stopping = cancel.clone();
    let routes = api::router(app).layer(axum::middleware::from_fn_with_state(
        listen::client::XHeaders(config.xheaders),
        listen::client::log,
    ));
    let served = axum::serve(
        listeners,
        routes.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            () = shutdown => {}
            () = stopping.cancelled() => {}
        }
        // The websockets end when told to; the server waits for them.
        stopping.cancel();
    });
    // A connection still open after the grace period (a client sending its
    // request slowly) is not waited for: axum's task for it ends with it.
    let grace = async {
        cancel.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = served => served?,
        () = grace => tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "stopped waiting for connections still open"
        ),
    }
    Ok(())
}

/// The history as `run` found it: its status, and the store if it opened.
struct History {
    status: Arc<store::Status>,
    /// What pages say about history; the save loop keeps it current.
    health: watch::Sender<app::wire::HistoryHealth>,
    store: Option<OpenStore>,
}

struct OpenStore {
    writer: store::Writer,
    thread: store::WriterThread,
    reader: store::Reader,
    /// What was read back, taken by the model before it starts.
    loaded: store::Loaded,
    /// Where older tasks continue, and how many more the model takes.
    older: Option<((f64, i64), usize)>,
    save_interval: Duration,
}

/// Opens the history store and reads back its newest tasks, if history is
/// kept. A store that cannot be opened (a damaged file, one written by a
/// newer celadon, a full disk) is logged and reported, and celadon serves
/// live data without it: it never deletes or overwrites the file. A
/// PostgreSQL that does not answer yet is no such failure: the store opens
/// with nothing read back and connects when it can (`store::postgres`).
async fn open_history(config: &Config) -> Option<History> {
    let history = config.history.clone()?;
    let status = Arc::new(store::Status::new(history.location.describe()));
    let limit = config.model.limits.max_tasks.min(poll::history::FIRST_LOAD);
    let started = std::time::Instant::now();
    let opened = store::open(&history, limit, status.clone()).await;
    let store = match opened {
        Ok((writer, thread, reader, loaded)) => {
            tracing::info!(
                location = %history.location.describe(),
                stored = loaded.stored,
                restored = loaded.tasks.len(),
                took_ms = started.elapsed().as_millis() as u64,
                "history opened"
            );
            Some(OpenStore {
                writer,
                thread,
                reader,
                loaded,
                older: None,
                save_interval: history.save_interval,
            })
        }
        Err(error) => {
            tracing::error!(
                %error,
                "history is unavailable: celadon serves live data only and does not touch the file"
            );
            status.update(|s| {
                s.available = false;
                s.last_error = Some(error.to_string());
            });
            None
        }
    };
    let view = status.get();
    let (health, _) = watch::channel(app::wire::HistoryHealth {
        writing: view.available,
        problem: view
            .last_error
            .map(|e| format!("history is unavailable, and celadon shows live data only: {e}")),
    });
    Some(History {
        status,
        health,
        store,
    })
}

/// The sign-on, when a provider is configured.
fn sign_on(config: &Config) -> anyhow::Result<Option<Arc<api::guard::SignOn>>> {
    let provider = match (&config.sign_on.oidc, &config.sign_on.oauth) {
        (Some(oidc), _) => auth::Provider::Oidc(auth::oidc::Oidc::new(oidc.clone())?),
        (None, Some(oauth)) => auth::Provider::OAuth(auth::oauth::OAuth::new(oauth.clone())?),
        (None, None) => return Ok(None),
    };
    if config.sign_on.cookie_secret.is_none() {
        tracing::warn!(
            "no --cookie-secret: sessions are signed with a random key and end when celadon restarts"
        );
    }
    Ok(Some(Arc::new(api::guard::SignOn {
        provider,
        cookies: auth::session::Cookies::new(
            config.sign_on.cookie_secret.as_deref(),
            config.url_prefix.as_str(),
        ),
        redirect_uri: config.sign_on.redirect_uri.clone(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stopping cancels and joins the model's owner thread and the tasks,
    /// which on their own would run forever.
    #[tokio::test]
    async fn stop_cancels_and_joins_every_thread_and_task() {
        let mut running = Running::new();
        let (_events, events_rx) = mpsc::channel(1);
        let (_link, link_rx) = watch::channel(BrokerLink::connecting(0.0));
        let (state, owner_thread) = owner::spawn(
            owner::OwnerSetup {
                model: Model::default(),
                broker_url: String::new(),
                inspect_requests: None,
                purge_after: None,
                views: state::views::ViewConfig::default(),
                history: None,
                alerts: None,
            },
            events_rx,
            link_rx,
            running.owner_cancel.clone(),
        )
        .expect("the owner starts");
        running.owner = Some(owner_thread);
        let cancel = running.cancel.clone();
        let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
        running.tasks.push(tokio::spawn(async move {
            cancel.cancelled().await;
            let _ = ended_tx.send(());
        }));
        assert!(state.task_types().await.is_ok(), "the owner answers");
        running.stop().await;
        assert!(ended.await.is_ok(), "the task ran to its end");
        assert_eq!(
            state.task_types().await,
            Err(owner::Stopped),
            "the owner's thread has ended"
        );
    }
}
