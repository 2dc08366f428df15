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

/// Above this many unacknowledged messages only their total is measured:
/// the breakdown by queue reads every held envelope (`HVALS unacked`),
/// which can be large.
pub const UNACKED_BREAKDOWN_LIMIT: u64 = 2_000;

/// Messages delivered to workers and not yet acknowledged (PROTOCOL.md
/// §6.7): the total, and by routing key (the queue's name for Celery's
/// default direct exchange) when there are few enough to read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unacked {
    pub total: u64,
    pub by_routing_key: Option<std::collections::BTreeMap<String, u64>>,
}

pub async fn measure_unacked(
    conn: &mut redis::aio::MultiplexedConnection,
    naming: &Naming,
) -> redis::RedisResult<Unacked> {
    let key = naming.key("unacked");
    let total: u64 = conn.hlen(&key).await?;
    if total > UNACKED_BREAKDOWN_LIMIT {
        return Ok(Unacked {
            total,
            by_routing_key: None,
        });
    }
    let entries: Vec<Vec<u8>> = conn.hvals(&key).await?;
    let mut by_routing_key = std::collections::BTreeMap::new();
    for entry in entries {
        // `[envelope, exchange, routing_key]`; a value that is not is
        // someone else's and is not counted by queue.
        if let Ok((_, _, routing_key)) =
            serde_json::from_slice::<(serde::de::IgnoredAny, String, String)>(&entry)
        {
            *by_routing_key.entry(routing_key).or_insert(0) += 1;
        }
    }
    Ok(Unacked {
        total,
        by_routing_key: Some(by_routing_key),
    })
}

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
                conn = None;
            }
        }
    }
}
