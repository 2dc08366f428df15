//! The alerts loop: every [`EVAL_INTERVAL`] (and at once after a rule is
//! edited) it asks the model the one bounded question the rules need
//! (`StateHandle::alert_inputs`), runs the pure evaluator, keeps each
//! firing and end in the history store, tells the pages and `/metrics`
//! what fires now (each summary as it reads now) and the Alerts page
//! what is pending, and hands each transition to `notify` (the webhooks).
//! So a worker offline for `after` fires within `after` + `for` + one
//! interval. Stops on the cancellation token.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    alerts::{
        Alerts,
        eval::{self, EvalState, Transition},
        trail::MAX_OPEN,
    },
    clock,
    state::owner::StateHandle,
};

/// Time between evaluations.
pub const EVAL_INTERVAL: Duration = Duration::from_secs(2);

/// Runs until `cancel`. `notify` is called for each firing and each end,
/// after it is kept; it must not wait (the notifier queues). Replicas
/// sharing a PostgreSQL history all evaluate (each serves its pages and
/// `/metrics`), but only the one that `writes()` keeps and notifies, so a
/// webhook hears of a firing once.
pub async fn run(
    state: StateHandle,
    alerts: Arc<Alerts>,
    notify: impl Fn(&Alerts, &Transition) + Send,
    writes: impl Fn() -> bool + Send,
    cancel: CancellationToken,
) {
    let started = clock::now();
    let mut eval = EvalState::new(&format!("{:x}", (started * 1000.0) as u64));
    match alerts.store().open_alerts().await {
        Ok(open) => {
            if !open.is_empty() {
                tracing::info!(
                    open = open.len(),
                    "alerts still firing at the last stop are followed on"
                );
            }
            eval.restore(open);
        }
        Err(error) => tracing::warn!(%error, "the alerts open at the last stop could not be read"),
    }
    alerts.set_evaluated(eval.firing(), eval.pending());
    // Firings and ends not yet kept (the store failed): written first at
    // the next turn; at most MAX_OPEN, past which the oldest are logged
    // and let go.
    let mut unwritten = Vec::new();
    loop {
        alerts.load().await;
        let rules = alerts.rules();
        let asked = eval::ask(&rules);
        let now = clock::now();
        let Ok(inputs) = state.alert_inputs(asked.clone(), now).await else {
            return;
        };
        let transitions = eval::evaluate(&rules, &inputs, &asked, &mut eval, now);
        alerts.set_evaluated(eval.firing(), eval.pending());
        for t in &transitions {
            match t {
                Transition::Fired(a) => {
                    tracing::warn!(rule = %a.rule, id = %a.id, "alert firing: {}", a.summary)
                }
                Transition::Resolved(a) => {
                    tracing::info!(rule = %a.rule, id = %a.id, "alert resolved: {}", a.summary)
                }
            }
            if writes() {
                unwritten.push(match t {
                    Transition::Fired(a) | Transition::Resolved(a) => a.clone(),
                });
            }
        }
        if unwritten.len() > MAX_OPEN {
            let dropped = unwritten.len() - MAX_OPEN;
            tracing::error!(
                dropped,
                "alert history not kept: the store has failed for too long"
            );
            unwritten.drain(..dropped);
        }
        if !unwritten.is_empty() {
            match alerts.store().record(unwritten.clone()).await {
                Ok(()) => unwritten.clear(),
                Err(error) => {
                    tracing::warn!(%error, held = unwritten.len(), "alert history not kept yet; tried again next turn")
                }
            }
        }
        if writes() {
            for t in &transitions {
                notify(&alerts, t);
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(EVAL_INTERVAL) => {}
            () = alerts.changed.notified() => {}
        }
    }
}
