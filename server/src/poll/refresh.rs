//! Inspections on request (the Worker page's websocket, `/api/workers
//! ?refresh=1`), single-flight: one inspection per worker (or of every
//! worker) at a time, shared by everyone who asks while it runs, and none
//! again for [`MIN_REFRESH_INTERVAL`] after one ended: an asker in that
//! time gets the last one's outcome (the replies themselves are in the
//! model, where every asker reads them). A worker celadon has not seen is
//! never inspected: asking for one costs a question to the model, not a
//! broadcast and a reply connection held for the whole timeout.
//!
//! The inspection runs in a task of its own (tracked, so shutdown waits
//! for it), so an asker that goes away (a closed tab) does not cut it off
//! half-way through its clean-up in Redis.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::inspector;
use crate::{
    control::pidbox::{ControlError, Pidbox},
    state::owner::StateHandle,
};

/// The least time between the end of one inspection of a worker (or of
/// every worker) and the start of the next; askers in between share the
/// last outcome. With any number of tabs open on a worker, its pidbox sees
/// at most one round of `WORKER_METHODS` per this interval plus the
/// inspection's own duration.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How an inspection ended: how many workers answered, or why it failed
/// (shared among askers, hence an `Arc`).
pub type Outcome = Result<usize, Arc<ControlError>>;

/// Why a refresh was not made.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("no worker named {0:?} is known")]
    UnknownWorker(String),
    #[error(transparent)]
    Control(Arc<ControlError>),
}

enum Flight {
    Running(Shared<BoxFuture<'static, Outcome>>),
    Done { at: Instant, outcome: Outcome },
}

/// The inspections under way and the latest ones, by worker (`None`: every
/// worker). Bounded: one entry per known worker asked about, and entries
/// older than [`MIN_REFRESH_INTERVAL`] are dropped whenever one is added.
pub struct Refresher {
    pidbox: Arc<Pidbox>,
    state: StateHandle,
    timeout: Duration,
    tasks: TaskTracker,
    cancel: CancellationToken,
    /// A plain mutex: it is held only to look up or replace an entry,
    /// never across an await.
    flights: Mutex<HashMap<Option<String>, Flight>>,
}

impl Refresher {
    pub fn new(
        pidbox: Arc<Pidbox>,
        state: StateHandle,
        timeout: Duration,
        tasks: TaskTracker,
        cancel: CancellationToken,
    ) -> Refresher {
        Refresher {
            pidbox,
            state,
            timeout,
            tasks,
            cancel,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// Inspects `worker` with the Worker page's methods (every worker with
    /// the background ones when `None`), or joins the inspection under
    /// way, or returns the last one's outcome if it ended less than
    /// [`MIN_REFRESH_INTERVAL`] ago.
    pub async fn refresh(&self, worker: Option<String>) -> Result<usize, RefreshError> {
        if let Some(name) = &worker {
            let known = self
                .state
                .knows_worker(name.clone())
                .await
                .map_err(|_| RefreshError::Control(Arc::new(ControlError::ShuttingDown)))?;
            if !known {
                return Err(RefreshError::UnknownWorker(name.clone()));
            }
        }
        let flight = self.join_or_start(&worker);
        let outcome = flight.await;
        self.finish(&worker, &outcome);
        outcome.map_err(RefreshError::Control)
    }

    /// The inspection to wait for: the one under way, a recent one's
    /// outcome, or a new one.
    fn join_or_start(&self, worker: &Option<String>) -> BoxFuture<'static, Outcome> {
        let now = Instant::now();
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match flights.get(worker) {
            Some(Flight::Running(shared)) => return shared.clone().boxed(),
            Some(Flight::Done { at, outcome }) if now < *at + MIN_REFRESH_INTERVAL => {
                let outcome = outcome.clone();
                return async move { outcome }.boxed();
            }
            _ => {}
        }
        flights.retain(|_, f| match f {
            Flight::Running(_) => true,
            Flight::Done { at, .. } => now < *at + MIN_REFRESH_INTERVAL,
        });
        let (pidbox, state, timeout, cancel) = (
            self.pidbox.clone(),
            self.state.clone(),
            self.timeout,
            self.cancel.clone(),
        );
        let destination = worker.clone().map(|w| vec![w]);
        let task = self.tasks.spawn(async move {
            let methods: &[&'static str] = if destination.is_some() {
                &inspector::WORKER_METHODS
            } else {
                &inspector::BACKGROUND_METHODS
            };
            let round =
                inspector::inspect(&pidbox, &state, methods, destination.as_deref(), timeout);
            match cancel.run_until_cancelled(round).await {
                Some(outcome) => outcome.map_err(Arc::new),
                None => Err(Arc::new(ControlError::ShuttingDown)),
            }
        });
        let shared = async move {
            task.await
                .unwrap_or_else(|_| Err(Arc::new(ControlError::ShuttingDown)))
        }
        .boxed()
        .shared();
        flights.insert(worker.clone(), Flight::Running(shared.clone()));
        shared.boxed()
    }

    /// Records a finished inspection's outcome, once (the first asker to
    /// see it end does).
    fn finish(&self, worker: &Option<String>, outcome: &Outcome) {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(flight @ Flight::Running(_)) = flights.get_mut(worker) {
            *flight = Flight::Done {
                at: Instant::now(),
                outcome: outcome.clone(),
            };
        }
    }
}
