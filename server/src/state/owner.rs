//! The thread that owns the [`Model`]. The event reader feeds it payloads;
//! HTTP handlers and websockets send it commands. Every `FLUSH_INTERVAL` it
//! applies heartbeat expiry and sends each subscribed websocket one delta
//! with what changed for its view.

use std::time::{Duration, Instant};

use std::collections::{BTreeSet, HashMap};

use app::wire::{
    BrokerStatus, Cluster, Delta, ServerMsg, Snapshot, TaskRow, View, ViewData, ViewPatch,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{
    views::{self, ViewConfig},
    Model,
};
use crate::{
    broker::{
        queues::Unacked,
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

/// After taking fewer than [`REST_BELOW`] payloads from the reader (it is
/// keeping up), the owner leaves the event queue alone this long, so that
/// the next take collects what arrived meanwhile. Waking a thread costs
/// more than applying a few events: at 100k events/s the reader hands over
/// one 11 KB message a few thousand times a second, and resting cuts the
/// owner's wake-ups to about a hundred. Commands and flushes are served
/// while it rests; events wait at most this long (pages update every
/// 100 ms). 8 ms took 5–7 % less CPU than 3 ms in alternating 20 s runs at
/// 100k events/s; at that rate a take is then about 33 payloads, still
/// under [`REST_BELOW`], so the owner rests after every take.
const REST: Duration = Duration::from_millis(8);

/// Payloads per take below which the owner rests (see [`REST`]).
const REST_BELOW: usize = 64;

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
        unacked: Option<Unacked>,
    },
    Reconciled(Vec<(crate::state::key::TaskKey, crate::broker::backend::Meta)>),
    /// celadon re-sent `original` as `retry`.
    LinkRetry {
        original: String,
        retry: String,
    },
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

    /// Records that celadon re-sent `original` as `retry`.
    pub async fn link_retry(&self, original: String, retry: String) {
        let _ = self
            .commands
            .send(Command::LinkRetry { original, retry })
            .await;
    }

    /// Hands measured queue depths (and queues seen in binding tables) to
    /// the model.
    pub async fn record_queue_depths(
        &self,
        at: f64,
        declared: Vec<String>,
        depths: Vec<(String, Vec<u64>)>,
        unacked: Option<Unacked>,
    ) {
        let _ = self
            .commands
            .send(Command::QueueDepths {
                at,
                declared,
                depths,
                unacked,
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
    /// What the browser has, to send it only what changed.
    sent: Sent,
}

/// What a subscriber was last sent, with the model version it came from.
enum Sent {
    /// Worker rows are sent by change; only the totals are remembered.
    Workers { cluster: Cluster },
    Tasks {
        version: u64,
        rows: Vec<TaskRow>,
        counts: (u64, u64, Vec<(String, u64)>),
    },
    /// Small views, sent whole when anything in them changed.
    Whole { version: u64, data: Box<ViewData> },
}

impl Sent {
    fn of(data: &ViewData, model: &Model) -> Sent {
        match data {
            ViewData::Workers { cluster, .. } => Sent::Workers {
                cluster: cluster.clone(),
            },
            ViewData::Tasks(t) => Sent::Tasks {
                version: model.task_version,
                rows: t.rows.clone(),
                counts: (t.filtered, t.total, t.states.clone()),
            },
            other => Sent::Whole {
                version: whole_version(&other.view(), model),
                data: Box::new(other.clone()),
            },
        }
    }
}

/// The model counter that moves when what a small view shows may have.
fn whole_version(view: &View, model: &Model) -> u64 {
    match view {
        View::Worker { .. } => model.inspect_version,
        View::Broker => model.queues.version,
        View::Task { .. } | View::Tasks { .. } | View::Workers => model.task_version,
        // Each counter only grows, so the sum moves whenever one does.
        View::Graphs { .. } => model
            .task_version
            .wrapping_add(model.series_version)
            .wrapping_add(model.queues.version),
    }
}

/// What one flush has computed, shared by subscribers to the same view.
struct FlushCtx<'a> {
    model: &'a Model,
    config: &'a ViewConfig,
    now: f64,
    changed_workers: BTreeSet<String>,
    cluster: Cluster,
    computed: HashMap<View, ViewData>,
}

impl FlushCtx<'_> {
    fn data(&mut self, view: &View) -> &ViewData {
        let (model, config, now) = (self.model, self.config, self.now);
        self.computed.entry(view.clone()).or_insert_with(|| {
            // The broker part of a snapshot is not used here.
            views::snapshot(model, config, placeholder_broker(), view, now).data
        })
    }
}

fn placeholder_broker() -> BrokerStatus {
    BrokerStatus {
        state: app::wire::BrokerState::Connecting,
        url: String::new(),
        detail: None,
        since: 0.0,
    }
}

impl Subscriber {
    /// What changed for this subscriber since it was last sent something.
    fn patch(&mut self, cx: &mut FlushCtx<'_>) -> Option<ViewPatch> {
        match &mut self.sent {
            Sent::Workers { cluster } => {
                let cluster = (cx.cluster != *cluster).then(|| {
                    *cluster = cx.cluster.clone();
                    cx.cluster.clone()
                });
                if cx.changed_workers.is_empty() && cluster.is_none() {
                    return None;
                }
                let (upsert, remove) =
                    views::workers_changes(cx.model, cx.changed_workers.iter(), cx.now);
                Some(ViewPatch::Workers {
                    upsert,
                    remove,
                    cluster,
                })
            }
            Sent::Tasks {
                version,
                rows,
                counts,
            } => {
                if *version == cx.model.task_version {
                    return None;
                }
                *version = cx.model.task_version;
                let ViewData::Tasks(fresh) = cx.data(&self.view) else {
                    return None;
                };
                let fresh_counts = (fresh.filtered, fresh.total, fresh.states.clone());
                if fresh.rows == *rows && fresh_counts == *counts {
                    return None;
                }
                let upsert: Vec<TaskRow> = fresh
                    .rows
                    .iter()
                    .filter(|r| !rows.contains(r))
                    .cloned()
                    .collect();
                let order = fresh.rows.iter().map(|r| r.id.clone()).collect();
                *rows = fresh.rows.clone();
                *counts = fresh_counts;
                Some(ViewPatch::Tasks {
                    order,
                    upsert,
                    filtered: counts.0,
                    total: counts.1,
                    states: counts.2.clone(),
                })
            }
            Sent::Whole { version, data } => {
                let current = whole_version(&self.view, cx.model);
                let worker_changed = matches!(&self.view, View::Worker { name } if cx.changed_workers.contains(name));
                if current == *version && !worker_changed {
                    return None;
                }
                *version = current;
                let fresh = cx.data(&self.view);
                if fresh == &**data {
                    return None;
                }
                **data = fresh.clone();
                Some(ViewPatch::Replace(Box::new(fresh.clone())))
            }
        }
    }
}

/// Messages from the reader not applied yet, in order.
#[derive(Default)]
struct Pending {
    reads: std::collections::VecDeque<Published>,
    /// Messages of the first read already applied.
    done: usize,
    /// Messages left in all reads.
    left: usize,
}

impl Pending {
    fn extend(&mut self, batch: Batch) {
        self.left += batch.iter().map(|p| p.messages.len()).sum::<usize>();
        self.reads.extend(batch);
    }

    fn len(&self) -> usize {
        self.left
    }

    fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// Hands the next `n` messages (or all left) to `each`.
    fn take(&mut self, n: usize, mut each: impl FnMut(&[u8], &[u8], f64)) {
        let mut budget = n;
        while budget > 0 {
            let Some(read) = self.reads.front() else {
                break;
            };
            while budget > 0 {
                let Some((channel, payload)) = read.messages.get(self.done) else {
                    break;
                };
                each(channel, payload, read.received_at);
                self.done += 1;
                self.left -= 1;
                budget -= 1;
            }
            if self.done == read.messages.len() {
                self.reads.pop_front();
                self.done = 0;
            }
        }
    }
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
    config: ViewConfig,
}

/// What the owner starts from.
pub struct OwnerSetup {
    pub model: Model,
    pub broker_url: String,
    pub inspect_requests: Option<mpsc::Sender<String>>,
    pub purge_after: Option<f64>,
    pub views: ViewConfig,
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
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("celadon-model".into())
        .spawn(move || runtime.block_on(owner.run(events, command_rx, link, cancel)))?;
    Ok((StateHandle { commands }, OwnerThread(thread)))
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
                    let connected = self.link.state == crate::broker::LinkState::Connected;
                    self.model.on_link(connected, self.link.since);
                    self.link_changed = true;
                }
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
            Command::LinkRetry { original, retry } => self.model.link_retry(original, retry),
            Command::QueueDepths {
                at,
                declared,
                depths,
                unacked,
            } => {
                for name in &declared {
                    self.model.queues.note_declared(name);
                }
                self.model.queues.record(at, depths);
                if let Some(unacked) = unacked {
                    self.model
                        .queues
                        .record_unacked(unacked.total, unacked.by_routing_key);
                }
            }
            Command::Reconciled(found) => {
                let now = clock::now();
                for (key, meta) in found {
                    self.model.reconcile(key, &meta, now);
                }
            }
            Command::Snapshot { view, reply } => {
                let _ = reply.send(self.snapshot(&view));
            }
            Command::Subscribe { view, updates } => {
                let snapshot = self.snapshot(&view);
                let sent = Sent::of(&snapshot.data, &self.model);
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
        views::snapshot(
            &self.model,
            &self.config,
            self.broker_status(),
            view,
            clock::now(),
        )
    }

    fn flush(&mut self, now: f64) {
        self.model.expire(now, self.purge_after);
        let changed_workers = self.model.workers.take_changed();
        let broker = std::mem::take(&mut self.link_changed).then(|| self.broker_status());
        let mut cx = FlushCtx {
            model: &self.model,
            config: &self.config,
            now,
            changed_workers,
            cluster: views::cluster(&self.model, now),
            computed: HashMap::new(),
        };
        self.subscribers.retain_mut(|s| {
            let patch = s.patch(&mut cx);
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

/// Sleeps until `deadline`; never ends without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod pending_tests {
    use super::*;
    use crate::broker::resp::Messages;

    fn read(names: &[&str], at: f64) -> Published {
        let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&b"ch"[..], n.as_bytes())).collect();
        Published {
            messages: Messages::of(&pairs),
            received_at: at,
        }
    }

    /// Turns of two take every message once, in order, across reads and
    /// batches, with each read's receive time.
    #[test]
    fn turns_take_every_message_once_in_order() {
        let mut pending = Pending::default();
        pending.extend(vec![read(&["a", "b", "c"], 1.0), read(&[], 2.0)]);
        pending.extend(vec![read(&["d", "e"], 3.0)]);
        assert_eq!(pending.len(), 5);
        let mut seen = Vec::new();
        while !pending.is_empty() {
            let before = seen.len();
            pending.take(2, |channel, payload, at| {
                assert_eq!(channel, b"ch");
                seen.push((String::from_utf8_lossy(payload).into_owned(), at));
            });
            assert!(seen.len() - before <= 2, "a turn takes at most its share");
        }
        let expected = [("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 3.0), ("e", 3.0)];
        assert_eq!(seen, expected.map(|(p, at)| (p.to_string(), at)).to_vec());
        assert!(pending.reads.is_empty(), "finished reads are let go");
    }
}
