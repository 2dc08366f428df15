//! The thread that owns the [`Model`]. The event reader feeds it payloads;
//! HTTP handlers, websockets and the periodic loops send it commands
//! through a [`StateHandle`] (`handle`). Every `FLUSH_INTERVAL` it applies
//! heartbeat expiry and sends each subscribed websocket one delta with what
//! changed for its view (`fanout`). Events wait in `pending` and are
//! applied a turn at a time.

mod fanout;
mod handle;
mod pending;

use std::time::{Duration, Instant};

use app::wire::{BrokerStatus, Delta, HistoryHealth, ServerMsg, Snapshot, View, alerts::FiringNow};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    Model,
    views::{self, ViewConfig},
};
use crate::{
    broker::{BrokerLink, LinkState, subscriber::Batch},
    clock,
};
use fanout::{FlushCtx, Sent, Subscriber};
use handle::Command;
pub use handle::{COMMAND_QUEUE, SUBSCRIBER_QUEUE, StateHandle, Stopped};
use pending::Pending;

/// How often changes are coalesced into deltas (at most 10 per second per
/// tab) and heartbeat expiry is applied.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Payloads applied before the owner looks at its other inputs again, so
/// that a flood of events cannot starve commands or flushes (a turn is at
/// most 64 prefork batches of 24 events). A batch from the reader is
/// applied in turns of this size.
const EVENTS_PER_TURN: usize = 64;

/// After taking fewer than [`REST_BELOW`] payloads from the reader (it is
/// keeping up), the owner leaves the event queue alone this long, so that
/// the next take collects what arrived meanwhile. Waking a thread costs
/// more than applying a few events, and under a heavy stream the reader
/// hands over small messages thousands of times a second; resting cuts
/// the owner's wake-ups to about a hundred. Commands and flushes are
/// served while it rests; events wait at most this long (pages update
/// every 100 ms). Why 8 ms and not less: docs/measurements.md.
const REST: Duration = Duration::from_millis(8);

/// Payloads per take below which the owner rests (see [`REST`]).
const REST_BELOW: usize = 64;

/// At most one log line per this interval for undecodable events.
const JUNK_LOG_INTERVAL: Duration = Duration::from_secs(10);

struct Owner {
    model: Model,
    /// Where workers that came online are sent to be inspected.
    inspect_requests: Option<mpsc::Sender<String>>,
    /// `--purge-offline-workers`, in seconds.
    purge_after: Option<f64>,
    link: BrokerLink,
    link_changed: bool,
    broker_url: String,
    subscribers: Vec<Subscriber>,
    junk_log: RateLimit,
    config: ViewConfig,
    /// Whether history is written, as the save loop last said; every page
    /// shows it.
    history: Option<watch::Receiver<HistoryHealth>>,
    history_changed: bool,
    /// The alerts firing now, as the alerts loop last said; every page
    /// shows them in a banner.
    alerts: Option<watch::Receiver<FiringNow>>,
    alerts_changed: bool,
}

/// What the owner starts from.
pub struct OwnerSetup {
    pub model: Model,
    pub broker_url: String,
    pub inspect_requests: Option<mpsc::Sender<String>>,
    pub purge_after: Option<f64>,
    pub views: ViewConfig,
    /// How history is doing, when it is kept.
    pub history: Option<watch::Receiver<HistoryHealth>>,
    /// The alerts firing now (`alerts::Alerts::subscribe_firing`).
    pub alerts: Option<watch::Receiver<FiringNow>>,
}

/// Starts the owner on its own thread. It stops when `cancel` fires.
pub fn spawn(
    setup: OwnerSetup,
    events: mpsc::Receiver<Batch>,
    link: watch::Receiver<BrokerLink>,
    cancel: CancellationToken,
) -> std::io::Result<(StateHandle, OwnerThread)> {
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let broker_url = setup.broker_url;
    let owner = Owner {
        model: setup.model,
        inspect_requests: setup.inspect_requests,
        purge_after: setup.purge_after,
        link: link.borrow().clone(),
        link_changed: false,
        broker_url,
        subscribers: Vec::new(),
        junk_log: RateLimit::new(JUNK_LOG_INTERVAL),
        config: setup.views,
        history: setup.history,
        history_changed: false,
        alerts: setup.alerts,
        alerts_changed: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("celadon-model".into())
        .spawn(move || runtime.block_on(owner.run(events, command_rx, link, cancel)))?;
    Ok((StateHandle::new(commands), OwnerThread(thread)))
}

/// The owner on its own OS thread, with its own single-threaded runtime.
/// On the shared runtime the owner's task moved between the pool's
/// threads, and every wake-up after a rest could wake a second pool
/// thread to look for work; on its own thread it wakes alone, on its own
/// timer, and keeps its caches. (Its reads and commands still come from
/// the shared runtime's handlers, over bounded channels.)
pub struct OwnerThread(std::thread::JoinHandle<()>);

impl OwnerThread {
    /// Waits for the thread to end (after its cancellation token fired).
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.0.join()).await;
    }
}

impl Owner {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<Batch>,
        mut commands: mpsc::Receiver<Command>,
        mut link: watch::Receiver<BrokerLink>,
        cancel: CancellationToken,
    ) {
        let mut flush = tokio::time::interval(FLUSH_INTERVAL);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The rest of a batch from the reader, applied a turn at a time.
        let mut pending = Pending::default();
        let mut rest_until: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(command) = commands.recv() => self.handle(command),
                Ok(()) = link.changed() => {
                    self.link = link.borrow_and_update().clone();
                    let connected = self.link.state == LinkState::Connected;
                    self.model.on_link(connected, self.link.since);
                    self.link_changed = true;
                }
                true = history_changed(&mut self.history) => self.history_changed = true,
                true = watched_changed(&mut self.alerts) => self.alerts_changed = true,
                _ = flush.tick() => self.flush(clock::now()),
                Some(batch) = events.recv(), if pending.is_empty() && rest_until.is_none() => {
                    pending.extend(batch);
                    while let Ok(batch) = events.try_recv() {
                        pending.extend(batch);
                    }
                    if pending.len() < REST_BELOW {
                        rest_until = Some(tokio::time::Instant::now() + REST);
                    }
                }
                () = sleep_until(rest_until), if rest_until.is_some() => rest_until = None,
                () = std::future::ready(()), if !pending.is_empty() => {
                    pending.take(EVENTS_PER_TURN, |channel, payload, received_at| {
                        self.ingest(channel, payload, received_at);
                    });
                    self.request_inspections();
                }
            }
        }
    }

    fn ingest(&mut self, channel: &[u8], payload: &[u8], received_at: f64) {
        let errors = self.model.ingest(payload, received_at);
        for error in errors {
            if let Some(suppressed) = self.junk_log.allow() {
                tracing::warn!(
                    %error,
                    channel = %String::from_utf8_lossy(channel),
                    suppressed,
                    "skipping an undecodable event"
                );
            }
        }
    }

    /// Asks the inspector about workers that just came online.
    fn request_inspections(&mut self) {
        for worker in self.model.take_joined() {
            if let Some(requests) = &self.inspect_requests {
                // A full queue loses nothing: the next periodic round
                // inspects every worker.
                let _ = requests.try_send(worker);
            }
        }
    }

    fn broker_status(&self) -> BrokerStatus {
        views::broker_status(&self.link, &self.broker_url)
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Read(read) => read.answer(&self.model),
            Command::Inspected(inspection) => self.model.record_inspection(inspection),
            Command::LinkRetry { original, retry } => self.model.link_retry(original, retry),
            Command::QueueDepths {
                at,
                declared,
                depths,
                unacked,
            } => self
                .model
                .record_queue_depths(at, &declared, depths, unacked),
            Command::Reconciled(found) => {
                let now = clock::now();
                for (key, meta) in found {
                    self.model.reconcile(key, &meta, now);
                }
            }
            Command::TakeUnsaved { max, now, reply } => {
                let _ = reply.send(self.model.take_unsaved(max, now));
            }
            Command::RestoreOlder { rows, reply } => {
                let _ = reply.send(self.model.restore_older_tasks(rows));
            }
            Command::Snapshot { view, reply } => {
                let _ = reply.send(self.snapshot(&view));
            }
            Command::Subscribe { view, updates } => {
                let snapshot = self.snapshot(&view);
                let sent = Sent::of(&snapshot, &self.model);
                let first = ServerMsg::Snapshot {
                    seq: 0,
                    snapshot: Box::new(snapshot),
                };
                if updates.try_send(first).is_ok() {
                    self.subscribers.push(Subscriber {
                        view,
                        updates,
                        seq: 0,
                        sent,
                    });
                }
            }
        }
    }

    fn snapshot(&self, view: &View) -> Snapshot {
        let mut snapshot = views::snapshot(
            &self.model,
            &self.config,
            self.broker_status(),
            view,
            clock::now(),
        );
        snapshot.history = self.history_health();
        snapshot.alerts = self.firing_now();
        snapshot
    }

    fn firing_now(&self) -> Option<FiringNow> {
        self.alerts.as_ref().map(|a| a.borrow().clone())
    }

    fn history_health(&self) -> Option<HistoryHealth> {
        self.history.as_ref().map(|h| h.borrow().clone())
    }

    fn flush(&mut self, now: f64) {
        self.model.expire(now, self.purge_after);
        let changed_workers = self.model.take_changed_workers();
        let broker = std::mem::take(&mut self.link_changed).then(|| self.broker_status());
        let history = if std::mem::take(&mut self.history_changed) {
            self.history_health().map(Box::new)
        } else {
            None
        };
        let alerts = if std::mem::take(&mut self.alerts_changed) {
            self.firing_now().map(Box::new)
        } else {
            None
        };
        let mut cx = FlushCtx::new(&self.model, &self.config, now, changed_workers);
        self.subscribers.retain_mut(|s| {
            let patch = s.sent.patch(&s.view, &mut cx);
            if patch.is_none() && broker.is_none() && history.is_none() && alerts.is_none() {
                return !s.updates.is_closed();
            }
            s.seq += 1;
            let delta = Delta {
                broker: broker.clone(),
                history: history.clone(),
                alerts: alerts.clone(),
                patch,
            };
            match s.updates.try_send(ServerMsg::Delta { seq: s.seq, delta }) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(view = ?s.view, "a websocket fell behind; it will resync");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// Lets one event through per interval and counts the rest.
struct RateLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(number suppressed since the last one allowed)` when allowed.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Whether history's health changed. Never ends without a receiver, or
/// once its sender is gone (the last value stays what pages show).
async fn history_changed(history: &mut Option<watch::Receiver<HistoryHealth>>) -> bool {
    if let Some(rx) = history
        && rx.changed().await.is_ok()
    {
        return true;
    }
    std::future::pending().await
}

/// Whether a watched value changed. Never ends without a receiver, or
/// once its sender is gone.
async fn watched_changed<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    if let Some(rx) = rx
        && rx.changed().await.is_ok()
    {
        return true;
    }
    std::future::pending().await
}

/// Sleeps until `deadline`; never ends without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
