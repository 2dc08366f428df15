//! The control traffic Flower makes in the background, made here too:
//! - a `heartbeat` cast once connected, so every worker reports at once
//!   instead of within its heartbeat interval;
//! - with `--enable-events`, an `enable_events` cast every 5 s, which turns
//!   on task events of workers started without `-E`;
//! - inspections (`stats`, `active_queues`, `registered`, `conf`) at start,
//!   every minute, for each worker that comes online, and on request.
//!
//! Replies go to the model's owner; a failed round is retried next tick.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    clock,
    control::pidbox::{ControlError, Pidbox, active_queue_names},
    state::{Inspection, owner::StateHandle},
};

/// Flower's `Events.events_enable_interval`.
pub const ENABLE_EVENTS_INTERVAL: Duration = Duration::from_secs(5);

/// How often every worker is inspected again.
pub const INSPECT_INTERVAL: Duration = Duration::from_secs(60);

/// Pending "inspect this worker" requests. When full, a request is dropped:
/// the next periodic round covers that worker anyway.
pub const REQUEST_QUEUE: usize = 64;

/// A worker sends `worker-online` a moment before it consumes its pidbox:
/// wait this long before asking it anything, and as long again before
/// asking once more if it did not answer.
pub const JOIN_DELAY: Duration = Duration::from_secs(1);

/// Tries per joining worker.
const JOIN_TRIES: u32 = 3;

/// What the periodic and on-join rounds ask every worker.
pub const BACKGROUND_METHODS: [&str; 4] = ["stats", "active_queues", "registered", "conf"];

/// What a refresh of one worker asks (Flower's worker page).
pub const WORKER_METHODS: [&str; 8] = [
    "stats",
    "active_queues",
    "registered",
    "scheduled",
    "active",
    "reserved",
    "revoked",
    "conf",
];

/// The arguments celery's `inspect` sends with each method.
fn arguments(method: &str) -> Value {
    match method {
        "active" => json!({"safe": true}),
        "registered" => json!({"taskinfoitems": []}),
        "conf" => json!({"with_defaults": false}),
        _ => json!({}),
    }
}

/// Runs `methods` (in parallel) against `destination` (every worker when
/// `None`) and hands the replies to the model. Returns how many workers
/// answered each method.
pub async fn inspect(
    pidbox: &Pidbox,
    state: &StateHandle,
    methods: &[&'static str],
    destination: Option<&[String]>,
    timeout: Duration,
) -> Result<usize, ControlError> {
    let calls = methods.iter().map(|method| async move {
        let replies = pidbox
            .call_raw(method, arguments(method), destination, timeout, None)
            .await?;
        Ok::<_, ControlError>((*method, replies))
    });
    let mut answered = 0;
    for result in futures_util::future::join_all(calls).await {
        let (method, replies) = result?;
        answered = answered.max(replies.replies.len());
        // The model keeps each reply as the worker's JSON text; the queues
        // a worker consumes are read here, where replies are understood.
        let consumes = match method {
            "active_queues" => replies
                .replies
                .iter()
                .filter_map(|(worker, reply)| Some((worker.clone(), active_queue_names(reply)?)))
                .collect(),
            _ => Vec::new(),
        };
        let replies = replies
            .replies
            .into_iter()
            .map(|(worker, reply)| (worker, Arc::<str>::from(reply.get())))
            .collect();
        let inspection = Inspection {
            method: method.to_string(),
            replies,
            consumes,
            at: clock::now(),
        };
        state.record_inspection(inspection).await;
    }
    Ok(answered)
}

pub async fn run(
    pidbox: Arc<Pidbox>,
    state: StateHandle,
    mut requests: mpsc::Receiver<String>,
    enable_events: bool,
    timeout: Duration,
    cancel: CancellationToken,
) {
    let mut heartbeat_sent = false;
    // Workers to inspect, with when and how many tries are left.
    let mut joining: Vec<(String, tokio::time::Instant, u32)> = Vec::new();
    let mut enable = tokio::time::interval(ENABLE_EVENTS_INTERVAL);
    let mut inspect_all = tokio::time::interval(INSPECT_INTERVAL);
    enable.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    inspect_all.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = enable.tick() => {
                // Once answered, every worker has reported; until then, each
                // tick tries again.
                if !heartbeat_sent {
                    heartbeat_sent = pidbox.cast("heartbeat", json!({}), None).await.is_ok();
                }
                if enable_events
                    && let Err(error) = pidbox.cast("enable_events", json!({}), None).await {
                        tracing::debug!(%error, "enable_events not sent");
                    }
            }
            _ = inspect_all.tick() => {
                let round = inspect(&pidbox, &state, &BACKGROUND_METHODS, None, timeout);
                match cancel.run_until_cancelled(round).await {
                    None => return,
                    Some(Err(error)) => {
                        tracing::debug!(%error, "inspection failed; retrying next round");
                    }
                    Some(Ok(_)) => {}
                }
            }
            Some(worker) = requests.recv() => {
                if !joining.iter().any(|(w, _, _)| *w == worker) {
                    joining.push((worker, tokio::time::Instant::now() + JOIN_DELAY, JOIN_TRIES));
                }
            }
            () = next_due(&joining) => {
                let now = tokio::time::Instant::now();
                let (due, later): (Vec<_>, Vec<_>) = joining.drain(..).partition(|(_, at, _)| *at <= now);
                joining = later;
                let round = inspect_joined(&pidbox, &state, due, timeout);
                match cancel.run_until_cancelled(round).await {
                    None => return,
                    Some(again) => joining.extend(again),
                }
            }
        }
    }
}

/// Inspects each worker that joined; returns those to ask again later.
async fn inspect_joined(
    pidbox: &Pidbox,
    state: &StateHandle,
    due: Vec<(String, tokio::time::Instant, u32)>,
    timeout: Duration,
) -> Vec<(String, tokio::time::Instant, u32)> {
    let mut again = Vec::new();
    for (worker, _, tries) in due {
        let destination = [worker];
        let answered = inspect(
            pidbox,
            state,
            &BACKGROUND_METHODS,
            Some(&destination),
            timeout,
        )
        .await;
        let [worker] = destination;
        match answered {
            Ok(n) if n > 0 => {}
            _ if tries > 1 => {
                again.push((worker, tokio::time::Instant::now() + JOIN_DELAY, tries - 1));
            }
            _ => tracing::debug!(%worker, "a new worker did not answer inspections"),
        }
    }
    again
}

/// Completes when the earliest pending join is due; never if none.
async fn next_due(joining: &[(String, tokio::time::Instant, u32)]) {
    match joining.iter().map(|(_, at, _)| *at).min() {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
