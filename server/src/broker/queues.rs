//! Queue depths, measured as kombu and Flower measure them (PROTOCOL.md
//! §6.7): the sum of `LLEN` over a queue's priority lists, pipelined. The
//! queues are every one the model knows (from events and `active_queues`)
//! plus those in kombu's binding tables, so a queue that no worker consumes
//! is still measured; that is the queue that fills up.

use std::{collections::BTreeSet, time::Duration};

use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use super::{naming::Naming, url::BrokerUrl};
use crate::{clock, state::owner::StateHandle};

/// How often depths are measured.
pub const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

/// How often the binding tables are scanned for queues. SCAN walks the
/// whole keyspace of the db, so not every round.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30);

/// Queue names found in kombu's binding tables for task exchanges.
pub async fn discover(
    conn: &mut redis::aio::MultiplexedConnection,
    naming: &Naming,
) -> redis::RedisResult<BTreeSet<String>> {
    let mut tables = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(naming.binding_pattern())
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        tables.extend(
            keys.into_iter()
                .filter(|k| naming.task_exchange_of_binding(k).is_some()),
        );
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut queues = BTreeSet::new();
    for table in tables {
        let members: Vec<String> = conn.smembers(&table).await?;
        queues.extend(
            members
                .iter()
                .filter_map(|m| naming.queue_of_binding_member(m)),
        );
    }
    Ok(queues)
}

/// Messages per priority step of each queue.
pub async fn measure(
    conn: &mut redis::aio::MultiplexedConnection,
    naming: &Naming,
    queues: &[String],
) -> redis::RedisResult<Vec<(String, Vec<u64>)>> {
    let mut pipe = redis::pipe();
    for q in queues {
        for key in naming.queue_keys(q) {
            pipe.llen(key);
        }
    }
    let lengths: Vec<u64> = pipe.query_async(conn).await?;
    let steps = naming.options.priority_steps.len();
    Ok(queues
        .iter()
        .zip(lengths.chunks(steps))
        .map(|(q, l)| (q.clone(), l.to_vec()))
        .collect())
}

pub async fn run(url: BrokerUrl, naming: Naming, state: StateHandle, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(DEPTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut declared = BTreeSet::new();
    let mut last_discovery: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if conn.is_none() {
            conn = match url.connection_info().and_then(redis::Client::open) {
                Ok(client) => client.get_multiplexed_async_connection().await.ok(),
                Err(_) => None,
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        if last_discovery.is_none_or(|t| t.elapsed() >= DISCOVERY_INTERVAL) {
            match discover(c, &naming).await {
                Ok(found) => {
                    declared = found;
                    last_discovery = Some(tokio::time::Instant::now());
                }
                Err(error) => {
                    tracing::debug!(%error, "queue discovery failed");
                    conn = None;
                    continue;
                }
            }
        }
        let Some(known) = state.read(|m| m.queues.names()).await else {
            return;
        };
        let all: Vec<String> = declared
            .iter()
            .cloned()
            .chain(known)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match measure(c, &naming, &all).await {
            Ok(depths) => {
                state
                    .record_queue_depths(clock::now(), declared.iter().cloned().collect(), depths)
                    .await;
            }
            Err(error) => {
                tracing::debug!(%error, "queue depths not measured");
                conn = None;
            }
        }
    }
}
