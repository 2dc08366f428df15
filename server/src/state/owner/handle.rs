//! How the rest of the server talks to the model's owner: [`StateHandle`],
//! whose methods are the named, typed questions and reports the owner
//! accepts. Each read is a [`Read`] variant answered by one of the model's
//! bounded queries (`state::read`); nothing outside `state` sees a
//! `&Model`.

use std::collections::BTreeMap;

use app::wire::{ServerMsg, Snapshot, View, rest};
use tokio::sync::{mpsc, oneshot};

use crate::{
    broker::{backend::Meta, queues::Unacked},
    state::{
        Inspection, Model,
        key::TaskKey,
        query::TaskQuery,
        read::{
            AlertAsk, AlertInputs, Matching, MetricsSample, QueueDetail, RetrySeed, SeriesOf,
            SeriesWindow, Sighting, TaskList, Unfinished, UnknownWorker, WorkerInfo,
        },
        rows::{Restored, Unsaved},
        series::Window,
    },
    store::TaskRow,
};

/// Pending commands from HTTP handlers, websockets and the periodic loops.
/// Senders wait when it is full; they are request handlers and loops, so
/// waiting is the right backpressure.
pub const COMMAND_QUEUE: usize = 256;

/// Messages queued for one websocket. When it is full the browser is not
/// keeping up: the owner drops the subscription and the websocket task
/// subscribes again, which starts over with a snapshot.
pub const SUBSCRIBER_QUEUE: usize = 64;

/// The model's owner has stopped (the server is shutting down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the model's owner has stopped")]
pub struct Stopped;

type Reply<T> = oneshot::Sender<T>;

/// A question about the model, with where its answer goes.
pub(super) enum Read {
    Task {
        key: TaskKey,
        reply: Reply<Option<rest::Task>>,
    },
    TaskList {
        query: Box<TaskQuery>,
        skip: usize,
        take: usize,
        reply: Reply<TaskList>,
    },
    Matching {
        query: Box<TaskQuery>,
        ids: usize,
        rows: usize,
        reply: Reply<Matching>,
    },
    TaskTypes(Reply<Vec<String>>),
    Retained {
        keys: Vec<TaskKey>,
        reply: Reply<Vec<bool>>,
    },
    Workers {
        name: Option<String>,
        reply: Reply<Result<BTreeMap<String, WorkerInfo>, UnknownWorker>>,
    },
    WorkersOnline {
        name: Option<String>,
        reply: Reply<Result<BTreeMap<String, bool>, UnknownWorker>>,
    },
    OnlineWorkers {
        now: f64,
        reply: Reply<Vec<String>>,
    },
    WorkersTable {
        now: f64,
        reply: Reply<rest::WorkersTable>,
    },
    KnowsWorker {
        name: String,
        reply: Reply<bool>,
    },
    QueueNames(Reply<Vec<String>>),
    QueueLengths(Reply<rest::QueueLengths>),
    Stats {
        dropped: u64,
        reply: Reply<rest::Stats>,
    },
    TaskTypeStats(Reply<Vec<rest::TaskTypeStats>>),
    SeriesWindow {
        window: Window,
        of: SeriesOf,
        now: f64,
        reply: Reply<Option<SeriesWindow>>,
    },
    Metrics(Reply<MetricsSample>),
    Unfinished {
        silent_since: f64,
        from: u32,
        reply: Reply<Unfinished>,
    },
    RetrySeed {
        key: TaskKey,
        reply: Reply<Option<RetrySeed>>,
    },
    AlertInputs {
        ask: Box<AlertAsk>,
        now: f64,
        reply: Reply<AlertInputs>,
    },
    Sightings {
        keys: Vec<TaskKey>,
        reply: Reply<Vec<Option<Sighting>>>,
    },
    QueueDetail {
        name: String,
        now: f64,
        reply: Reply<Option<QueueDetail>>,
    },
}

impl Read {
    /// Answers from `model`. An asker that went away is not an error.
    pub(super) fn answer(self, model: &Model) {
        match self {
            Read::Task { key, reply } => drop(reply.send(model.rest_task(key))),
            Read::TaskList {
                query,
                skip,
                take,
                reply,
            } => drop(reply.send(model.task_list(&query, skip, take))),
            Read::Matching {
                query,
                ids,
                rows,
                reply,
            } => drop(reply.send(model.matching(&query, ids, rows))),
            Read::TaskTypes(reply) => drop(reply.send(model.task_type_names())),
            Read::Retained { keys, reply } => drop(reply.send(model.retained(&keys))),
            Read::Workers { name, reply } => drop(reply.send(model.rest_workers(name.as_deref()))),
            Read::WorkersOnline { name, reply } => {
                drop(reply.send(model.workers_online(name.as_deref())));
            }
            Read::OnlineWorkers { now, reply } => drop(reply.send(model.online_workers(now))),
            Read::WorkersTable { now, reply } => drop(reply.send(model.workers_table(now))),
            Read::KnowsWorker { name, reply } => drop(reply.send(model.knows_worker(&name))),
            Read::QueueNames(reply) => drop(reply.send(model.queue_names())),
            Read::QueueLengths(reply) => drop(reply.send(model.queue_lengths())),
            Read::Stats { dropped, reply } => drop(reply.send(model.rest_stats(dropped))),
            Read::TaskTypeStats(reply) => drop(reply.send(model.task_type_stats())),
            Read::SeriesWindow {
                window,
                of,
                now,
                reply,
            } => drop(reply.send(model.series_window(window, &of, now))),
            Read::Metrics(reply) => drop(reply.send(model.metrics_sample())),
            Read::Unfinished {
                silent_since,
                from,
                reply,
            } => drop(reply.send(model.unfinished(silent_since, from))),
            Read::RetrySeed { key, reply } => drop(reply.send(model.retry_seed(key))),
            Read::AlertInputs { ask, now, reply } => {
                drop(reply.send(model.alert_inputs(&ask, now)));
            }
            Read::Sightings { keys, reply } => drop(reply.send(model.sightings(&keys))),
            Read::QueueDetail { name, now, reply } => {
                drop(reply.send(model.queue_detail(&name, now)));
            }
        }
    }
}

pub(super) enum Command {
    Read(Read),
    Inspected(Inspection),
    QueueDepths {
        at: f64,
        declared: Vec<String>,
        depths: Vec<(String, Vec<u64>)>,
        unacked: Option<Unacked>,
    },
    Reconciled(Vec<(TaskKey, Meta)>),
    /// The history store takes what changed (`state::rows`).
    TakeUnsaved {
        max: usize,
        now: f64,
        reply: Reply<Unsaved>,
    },
    /// Older tasks read back from history after the start.
    RestoreOlder {
        rows: Vec<TaskRow>,
        reply: Reply<Restored>,
    },
    /// celadon re-sent `original` as `retry`.
    LinkRetry {
        original: String,
        retry: String,
    },
    Snapshot {
        view: View,
        reply: Reply<Snapshot>,
    },
    Subscribe {
        view: View,
        updates: mpsc::Sender<ServerMsg>,
    },
}

/// The way to talk to the owner. Cheap to clone. Every method fails with
/// [`Stopped`] (or does nothing, for reports) once the owner has stopped.
#[derive(Clone)]
pub struct StateHandle {
    commands: mpsc::Sender<Command>,
}

impl StateHandle {
    pub(super) fn new(commands: mpsc::Sender<Command>) -> StateHandle {
        StateHandle { commands }
    }

    /// Sends the read `make` builds and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Read) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Read(make(reply)))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    async fn report(&self, command: Command) {
        // A stopped owner needs no more reports.
        let _ = self.commands.send(command).await;
    }

    /// Takes up to `max` tasks changed since the last take, for the
    /// history store. Bounded: `max` rows.
    pub async fn take_unsaved(&self, max: usize, now: f64) -> Result<Unsaved, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::TakeUnsaved { max, now, reply })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Puts back a chunk of older tasks read from history (newest first);
    /// bounded by the chunk the caller reads.
    pub async fn restore_older(&self, rows: Vec<TaskRow>) -> Result<Restored, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::RestoreOlder { rows, reply })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// One task, as the read API shows it.
    pub async fn task(&self, key: TaskKey) -> Result<Option<rest::Task>, Stopped> {
        self.ask(|reply| Read::Task { key, reply }).await
    }

    /// Which of `keys` the model holds (at most
    /// [`MAX_READ_ROWS`](crate::state::read::MAX_READ_ROWS) asked).
    pub async fn retained(&self, keys: Vec<TaskKey>) -> Result<Vec<bool>, Stopped> {
        self.ask(|reply| Read::Retained { keys, reply }).await
    }

    /// A page of `query`'s listing: see [`Model::task_list`].
    pub async fn task_list(
        &self,
        query: TaskQuery,
        skip: usize,
        take: usize,
    ) -> Result<TaskList, Stopped> {
        let query = Box::new(query);
        self.ask(|reply| Read::TaskList {
            query,
            skip,
            take,
            reply,
        })
        .await
    }

    /// What a bulk action over `query` would touch: see [`Model::matching`].
    pub async fn matching(
        &self,
        query: TaskQuery,
        ids: usize,
        rows: usize,
    ) -> Result<Matching, Stopped> {
        let query = Box::new(query);
        self.ask(|reply| Read::Matching {
            query,
            ids,
            rows,
            reply,
        })
        .await
    }

    pub async fn task_types(&self) -> Result<Vec<String>, Stopped> {
        self.ask(Read::TaskTypes).await
    }

    pub async fn workers(
        &self,
        name: Option<String>,
    ) -> Result<Result<BTreeMap<String, WorkerInfo>, UnknownWorker>, Stopped> {
        self.ask(|reply| Read::Workers { name, reply }).await
    }

    pub async fn workers_online(
        &self,
        name: Option<String>,
    ) -> Result<Result<BTreeMap<String, bool>, UnknownWorker>, Stopped> {
        self.ask(|reply| Read::WorkersOnline { name, reply }).await
    }

    /// Workers online at `now`.
    pub async fn online_workers(&self, now: f64) -> Result<Vec<String>, Stopped> {
        self.ask(|reply| Read::OnlineWorkers { now, reply }).await
    }

    /// Flower's workers table at `now`.
    pub async fn workers_table(&self, now: f64) -> Result<rest::WorkersTable, Stopped> {
        self.ask(|reply| Read::WorkersTable { now, reply }).await
    }

    pub async fn knows_worker(&self, name: String) -> Result<bool, Stopped> {
        self.ask(|reply| Read::KnowsWorker { name, reply }).await
    }

    pub async fn queue_names(&self) -> Result<Vec<String>, Stopped> {
        self.ask(Read::QueueNames).await
    }

    pub async fn queue_lengths(&self) -> Result<rest::QueueLengths, Stopped> {
        self.ask(Read::QueueLengths).await
    }

    /// `/api/stats`, with the reader's `dropped` count.
    pub async fn stats(&self, dropped: u64) -> Result<rest::Stats, Stopped> {
        self.ask(|reply| Read::Stats { dropped, reply }).await
    }

    pub async fn task_type_stats(&self) -> Result<Vec<rest::TaskTypeStats>, Stopped> {
        self.ask(Read::TaskTypeStats).await
    }

    /// One window of a series: see [`Model::series_window`].
    pub async fn series_window(
        &self,
        window: Window,
        of: SeriesOf,
        now: f64,
    ) -> Result<Option<SeriesWindow>, Stopped> {
        self.ask(|reply| Read::SeriesWindow {
            window,
            of,
            now,
            reply,
        })
        .await
    }

    pub async fn metrics(&self) -> Result<MetricsSample, Stopped> {
        self.ask(Read::Metrics).await
    }

    /// Unfinished tasks silent since `silent_since`, from slot `from`.
    pub async fn unfinished(&self, silent_since: f64, from: u32) -> Result<Unfinished, Stopped> {
        self.ask(|reply| Read::Unfinished {
            silent_since,
            from,
            reply,
        })
        .await
    }

    pub async fn retry_seed(&self, key: TaskKey) -> Result<Option<RetrySeed>, Stopped> {
        self.ask(|reply| Read::RetrySeed { key, reply }).await
    }

    /// What the alert rules need at `now`: see [`Model::alert_inputs`].
    pub async fn alert_inputs(&self, ask: AlertAsk, now: f64) -> Result<AlertInputs, Stopped> {
        let ask = Box::new(ask);
        self.ask(|reply| Read::AlertInputs { ask, now, reply })
            .await
    }

    /// What the model saw of each of `keys` (at most
    /// [`MAX_READ_ROWS`](crate::state::read::MAX_READ_ROWS) answered).
    pub async fn sightings(&self, keys: Vec<TaskKey>) -> Result<Vec<Option<Sighting>>, Stopped> {
        self.ask(|reply| Read::Sightings { keys, reply }).await
    }

    /// Queue `name` as the model knows it.
    pub async fn queue_detail(
        &self,
        name: String,
        now: f64,
    ) -> Result<Option<QueueDetail>, Stopped> {
        self.ask(|reply| Read::QueueDetail { name, now, reply })
            .await
    }

    /// What `view` shows now.
    pub async fn snapshot(&self, view: View) -> Result<Snapshot, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Snapshot { view, reply })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Starts streaming `view`: a snapshot, then deltas. The stream ends
    /// when the owner stops or drops the subscription for falling behind.
    pub async fn subscribe(&self, view: View) -> Result<mpsc::Receiver<ServerMsg>, Stopped> {
        let (updates, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        self.commands
            .send(Command::Subscribe { view, updates })
            .await
            .map_err(|_| Stopped)?;
        Ok(rx)
    }

    /// Hands inspection replies to the model.
    pub async fn record_inspection(&self, inspection: Inspection) {
        self.report(Command::Inspected(inspection)).await;
    }

    /// Records that celadon re-sent `original` as `retry`.
    pub async fn link_retry(&self, original: String, retry: String) {
        self.report(Command::LinkRetry { original, retry }).await;
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
        self.report(Command::QueueDepths {
            at,
            declared,
            depths,
            unacked,
        })
        .await;
    }

    /// Hands result-backend states of tasks to the model.
    pub async fn reconcile(&self, found: Vec<(TaskKey, Meta)>) {
        self.report(Command::Reconciled(found)).await;
    }
}
