//! The task that owns the [`Model`]. The event reader feeds it payloads;
//! HTTP handlers and websockets send it commands. Every `FLUSH_INTERVAL` it
//! applies heartbeat expiry and sends each subscribed websocket one delta
//! with what changed for its view.

use std::time::{Duration, Instant};

use app::wire::{BrokerStatus, Delta, ServerMsg, Snapshot, View, ViewPatch};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{views, Model};
use crate::{
    broker::{
        subscriber::{Batch, Published},
        BrokerLink,
    },
    clock,
};

/// Pending commands from HTTP handlers and websockets. Senders wait when it
/// is full; they are request handlers, so waiting is the right backpressure.
pub const COMMAND_QUEUE: usize = 256;

/// Messages queued for one websocket. When it is full the browser is not
/// keeping up: the owner drops the subscription and the websocket task
/// subscribes again, which starts over with a snapshot.
pub const SUBSCRIBER_QUEUE: usize = 64;

/// How often changes are coalesced into deltas (at most 10 per second per
/// tab) and heartbeat expiry is applied.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Payloads applied before the owner looks at its other inputs again, so
/// that a flood of events cannot starve commands or flushes: at most 64 × 24
/// events, about a millisecond of work. A batch from the reader is applied
/// in turns of this size.
const EVENTS_PER_TURN: usize = 64;

/// At most one log line per this interval for undecodable events.
const JUNK_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A read of the model, run by the owner. It should copy out what it needs
/// and leave formatting to the caller.
type ReadFn = Box<dyn FnOnce(&Model) + Send>;

enum Command {
    Read(ReadFn),
    Inspected {
        method: String,
        replies: Vec<(String, serde_json::Value)>,
        at: f64,
    },
    QueueDepths {
        at: f64,
        declared: Vec<String>,
        depths: Vec<(String, Vec<u64>)>,
    },
    Reconciled(Vec<(crate::state::key::TaskKey, crate::broker::backend::Meta)>),
    Snapshot {
        view: View,
        reply: oneshot::Sender<Snapshot>,
    },
    Subscribe {
        view: View,
        updates: mpsc::Sender<ServerMsg>,
    },
}

/// The way to talk to the owner. Cheap to clone.
#[derive(Clone)]
pub struct StateHandle {
    commands: mpsc::Sender<Command>,
}

impl StateHandle {
    /// Runs `f` against the model in the owner and returns its result;
    /// `None` once the owner has stopped.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Model) -> R + Send + 'static,
    ) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        let read: ReadFn = Box::new(move |model| {
            let _ = reply.send(f(model));
        });
        self.commands.send(Command::Read(read)).await.ok()?;
        answer.await.ok()
    }

    /// Hands inspection replies to the model.
    pub async fn record_inspection(
        &self,
        method: &str,
        replies: Vec<(String, serde_json::Value)>,
        at: f64,
    ) {
        let command = Command::Inspected {
            method: method.to_string(),
            replies,
            at,
        };
        let _ = self.commands.send(command).await;
    }

    /// Hands measured queue depths (and queues seen in binding tables) to
    /// the model.
    pub async fn record_queue_depths(
        &self,
        at: f64,
        declared: Vec<String>,
        depths: Vec<(String, Vec<u64>)>,
    ) {
        let _ = self
            .commands
            .send(Command::QueueDepths {
                at,
                declared,
                depths,
            })
            .await;
    }

    /// Hands result-backend states of tasks to the model.
    pub async fn reconcile(
        &self,
        found: Vec<(crate::state::key::TaskKey, crate::broker::backend::Meta)>,
    ) {
        let _ = self.commands.send(Command::Reconciled(found)).await;
    }

    /// What `view` shows now; `None` once the owner has stopped.
    pub async fn snapshot(&self, view: View) -> Option<Snapshot> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Snapshot { view, reply })
            .await
            .ok()?;
        answer.await.ok()
    }

    /// Starts streaming `view`: a snapshot, then deltas. The stream ends
    /// when the owner stops or drops the subscription for falling behind.
    pub async fn subscribe(&self, view: View) -> Option<mpsc::Receiver<ServerMsg>> {
        let (updates, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        self.commands
            .send(Command::Subscribe { view, updates })
            .await
            .ok()?;
        Some(rx)
    }
}

struct Subscriber {
    view: View,
    updates: mpsc::Sender<ServerMsg>,
    seq: u64,
}

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
}

/// What the owner starts from.
pub struct OwnerSetup {
    pub model: Model,
    pub broker_url: String,
    pub inspect_requests: Option<mpsc::Sender<String>>,
    pub purge_after: Option<f64>,
}

/// Starts the owner. It stops when `cancel` fires.
pub fn spawn(
    setup: OwnerSetup,
    events: mpsc::Receiver<Batch>,
    link: watch::Receiver<BrokerLink>,
    cancel: CancellationToken,
) -> (StateHandle, JoinHandle<()>) {
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
    };
    let task = tokio::spawn(owner.run(events, command_rx, link, cancel));
    (StateHandle { commands }, task)
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
        let mut pending: std::collections::VecDeque<Published> = std::collections::VecDeque::new();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(command) = commands.recv() => self.handle(command),
                Ok(()) = link.changed() => {
                    self.link = link.borrow_and_update().clone();
                    let connected = self.link.state == crate::broker::LinkState::Connected;
                    self.model.on_link(connected, self.link.since);
                    self.link_changed = true;
                }
                _ = flush.tick() => self.flush(clock::now()),
                Some(batch) = events.recv(), if pending.is_empty() => {
                    pending.extend(batch);
                }
                () = std::future::ready(()), if !pending.is_empty() => {
                    for published in pending.drain(..EVENTS_PER_TURN.min(pending.len())) {
                        self.ingest(published);
                    }
                    self.request_inspections();
                }
            }
        }
    }

    fn ingest(&mut self, published: Published) {
        let errors = self.model.ingest(&published.payload, published.received_at);
        for error in errors {
            if let Some(suppressed) = self.junk_log.allow() {
                tracing::warn!(
                    %error,
                    channel = %String::from_utf8_lossy(&published.channel),
                    suppressed,
                    "skipping an undecodable event"
                );
            }
        }
    }

    /// Asks the inspector about workers that just came online.
    fn request_inspections(&mut self) {
        if self.model.joined.is_empty() {
            return;
        }
        for worker in std::mem::take(&mut self.model.joined) {
            if let Some(requests) = &self.inspect_requests {
                let _ = requests.try_send(worker);
            }
        }
    }

    fn broker_status(&self) -> BrokerStatus {
        views::broker_status(&self.link, &self.broker_url)
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Read(read) => read(&self.model),
            Command::Inspected {
                method,
                replies,
                at,
            } => {
                self.model.record_inspection(&method, replies, at);
            }
            Command::QueueDepths {
                at,
                declared,
                depths,
            } => {
                for name in &declared {
                    self.model.queues.note_declared(name);
                }
                self.model.queues.record(at, depths);
            }
            Command::Reconciled(found) => {
                let now = clock::now();
                for (key, meta) in found {
                    self.model.reconcile(key, &meta, now);
                }
            }
            Command::Snapshot { view, reply } => {
                let _ = reply.send(views::snapshot(&self.model, self.broker_status(), &view));
            }
            Command::Subscribe { view, updates } => {
                let snapshot = views::snapshot(&self.model, self.broker_status(), &view);
                let first = ServerMsg::Snapshot { seq: 0, snapshot };
                if updates.try_send(first).is_ok() {
                    self.subscribers.push(Subscriber {
                        view,
                        updates,
                        seq: 0,
                    });
                }
            }
        }
    }

    fn flush(&mut self, now: f64) {
        self.model.expire(now, self.purge_after);
        let changed = self.model.workers.take_changed();
        let workers_patch =
            (!changed.is_empty()).then(|| views::workers_patch(&self.model, changed.iter()));
        let broker = std::mem::take(&mut self.link_changed).then(|| self.broker_status());
        self.subscribers.retain_mut(|s| {
            let patch: Option<ViewPatch> = match s.view {
                View::Workers => workers_patch.clone(),
            };
            if patch.is_none() && broker.is_none() {
                return !s.updates.is_closed();
            }
            s.seq += 1;
            let delta = Delta {
                broker: broker.clone(),
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
