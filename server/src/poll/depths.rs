//! Measures every known queue's depth (`broker::queues`) every
//! [`DEPTH_INTERVAL`] and hands the figures to the model. The queues are
//! those the model knows plus those found in kombu's binding tables.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    broker::{
        conn::LazyConnection,
        dial::Endpoint,
        naming::Naming,
        queues::{discover, measure, measure_unacked},
    },
    clock,
    state::owner::StateHandle,
};

/// How often depths are measured.
pub const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

/// How often the binding tables are scanned for queues. SCAN walks the
/// whole keyspace of the db, so not every round.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30);

pub async fn run(
    broker: Arc<Endpoint>,
    naming: Naming,
    state: StateHandle,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(DEPTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let conn = LazyConnection::new(broker);
    let mut declared = BTreeSet::new();
    let mut last_discovery: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(mut handle) = conn.get().await else {
            continue;
        };
        let c = &mut *handle;
        if last_discovery.is_none_or(|t| t.elapsed() >= DISCOVERY_INTERVAL) {
            match discover(c, &naming).await {
                Ok(found) => {
                    declared = found;
                    last_discovery = Some(tokio::time::Instant::now());
                }
                Err(error) => {
                    tracing::debug!(%error, "queue discovery failed");
                    conn.reset(&handle).await;
                    continue;
                }
            }
        }
        let Ok(known) = state.queue_names().await else {
            return;
        };
        let all: Vec<String> = declared
            .iter()
            .cloned()
            .chain(known)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let measured = match measure(c, &naming, &all).await {
            Ok(depths) => measure_unacked(c, &naming).await.map(|u| (depths, u)),
            Err(error) => Err(error),
        };
        match measured {
            Ok((depths, unacked)) => {
                let declared = declared.iter().cloned().collect();
                state
                    .record_queue_depths(clock::now(), declared, depths, Some(unacked))
                    .await;
            }
            Err(error) => {
                tracing::debug!(%error, "queue depths not measured");
                conn.reset(&handle).await;
            }
        }
    }
}
