//! Queue depths, measured as kombu and Flower measure them (PROTOCOL.md
//! §6.7): the sum of `LLEN` over a queue's priority lists, pipelined. The
//! queues to measure are every one the model knows (from events and
//! `active_queues`) plus those [`discover`] finds in kombu's binding
//! tables, so a queue that no worker consumes is still measured; that is
//! the queue that fills up. IO only; `poll::depths` runs it.

use std::collections::BTreeSet;

use redis::AsyncCommands;

use super::naming::Naming;

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
    let key = naming.unacked_key();
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
