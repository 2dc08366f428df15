//! Reconciliation with the result backend: when the event stream comes
//! back after a gap, and every [`STUCK_CHECK_INTERVAL`] for tasks silent
//! for [`STUCK_AFTER`], the unfinished tasks' records are read from the
//! result backend (`broker::backend`, whichever kind it is) and handed to
//! the model, so a lost `task-succeeded` does not leave a task "STARTED"
//! forever. A backend that cannot be read is logged with its cause and
//! tried again at the next round.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    broker::{
        BrokerLink, LinkState,
        backend::{BackendError, ResultBackend},
    },
    clock,
    state::{key::TaskKey, owner::StateHandle},
};

/// How often tasks without news are checked against the backend.
pub const STUCK_CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// A task unfinished and silent for this long is checked.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

pub async fn run(
    backend: Arc<ResultBackend>,
    state: StateHandle,
    mut link: watch::Receiver<BrokerLink>,
    restored: bool,
    cancel: CancellationToken,
) {
    if restored {
        // Tasks read back from history missed what happened while celadon
        // was down: a round once the events flow, as after any gap.
        let connected = tokio::select! {
            () = cancel.cancelled() => return,
            c = link.wait_for(|l| l.state == LinkState::Connected) => c.is_ok(),
        };
        if connected {
            let round = tokio::select! {
                () = cancel.cancelled() => return,
                round = reconcile(&backend, &state, 0.0) => round,
            };
            if let Err(error) = round {
                tracing::warn!(%error, "could not read the result backend to reconcile restored tasks");
            }
        }
    }
    let mut was_connected = link.borrow().state == LinkState::Connected;
    let mut had_gap = false;
    let mut stuck = tokio::time::interval(STUCK_CHECK_INTERVAL);
    stuck.tick().await;
    loop {
        let silent_for = tokio::select! {
            () = cancel.cancelled() => return,
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
                let connected = link.borrow_and_update().state == LinkState::Connected;
                had_gap |= was_connected && !connected;
                let reconnected = connected && !was_connected && had_gap;
                was_connected = connected;
                if !reconnected {
                    continue;
                }
                had_gap = false;
                0.0
            }
            _ = stuck.tick() => STUCK_AFTER.as_secs_f64(),
        };
        let round = tokio::select! {
            () = cancel.cancelled() => return,
            round = reconcile(&backend, &state, silent_for) => round,
        };
        if let Err(error) = round {
            tracing::warn!(%error, "could not read the result backend to reconcile tasks");
        }
    }
}

/// One round: every unfinished task silent for `silent_for` seconds, read
/// from the model a bounded batch at a time.
async fn reconcile(
    backend: &ResultBackend,
    state: &StateHandle,
    silent_for: f64,
) -> Result<(), BackendError> {
    let cutoff = clock::now() - silent_for;
    let (mut checked, mut found_total) = (0, 0);
    let mut from = Some(0);
    while let Some(start) = from {
        let Ok(batch) = state.unfinished(cutoff, start).await else {
            return Ok(());
        };
        from = batch.next;
        if batch.tasks.is_empty() {
            continue;
        }
        let ids: Vec<String> = batch.tasks.iter().map(|(_, id)| id.clone()).collect();
        let keys: HashMap<&str, TaskKey> = batch
            .tasks
            .iter()
            .map(|(k, id)| (id.as_str(), *k))
            .collect();
        let found: Vec<_> = backend
            .fetch(&ids)
            .await?
            .into_iter()
            .filter_map(|(id, meta)| keys.get(id.as_str()).map(|k| (*k, meta)))
            .collect();
        checked += ids.len();
        found_total += found.len();
        state.reconcile(found).await;
    }
    if checked > 0 {
        tracing::info!(
            checked,
            found = found_total,
            "reconciled unfinished tasks with the result backend"
        );
    }
    Ok(())
}
