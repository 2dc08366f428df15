//! The messages workers hold unacknowledged for a queue (PROTOCOL.md
//! §6.7): kombu's `unacked` hash (`[message, exchange, routing_key]` by
//! delivery tag), read with `HSCAN` within a bound per request, and
//! `unacked_index` (delivery times), from which `visibility_timeout` says
//! when kombu's sweep will restore each to its queue. IO only.

use redis::aio::MultiplexedConnection;

use super::{
    browse::{MAX_PAGE, QueueBrowser},
    messages::Message,
    naming::Naming,
};

/// `unacked` entries one request looks at, at most (`HSCAN`).
pub const UNACKED_SCAN_LIMIT: usize = 10_000;

/// `unacked` entries asked for per `HSCAN` step.
const UNACKED_SCAN_COUNT: usize = 500;

/// A message a worker holds (`unacked`).
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub delivery_tag: String,
    pub exchange: String,
    pub routing_key: String,
    pub message: Message,
    /// Unix seconds it was delivered (`unacked_index`'s score).
    pub delivered_at: Option<f64>,
    /// When kombu's sweep may restore it to its queue: delivery plus
    /// `visibility_timeout` (the sweep runs every few tens of seconds,
    /// so at or a little after this).
    pub redeliver_at: Option<f64>,
}

/// The messages held for one queue, as far as one request looked.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldPage {
    pub held: Vec<Held>,
    /// `unacked` entries looked at (for every queue).
    pub scanned: usize,
    /// `HSCAN`'s cursor to go on from; `None`: all were looked at.
    pub next: Option<u64>,
}

impl QueueBrowser {
    /// The messages held unacknowledged for `queue` (their routing key),
    /// from `HSCAN` cursor `from`, until `limit` are found or
    /// [`UNACKED_SCAN_LIMIT`] entries were looked at.
    pub async fn held(
        &self,
        queue: &str,
        from: u64,
        limit: usize,
        visibility_timeout: f64,
    ) -> redis::RedisResult<HeldPage> {
        let mut conn = self.conn().await?;
        let result = held(
            &mut conn,
            &self.naming,
            queue,
            from,
            limit.min(MAX_PAGE),
            visibility_timeout,
        )
        .await;
        self.failed(&conn, result).await
    }
}

async fn held(
    conn: &mut MultiplexedConnection,
    naming: &Naming,
    queue: &str,
    from: u64,
    limit: usize,
    visibility_timeout: f64,
) -> redis::RedisResult<HeldPage> {
    let key = naming.unacked_key();
    let mut cursor = from;
    let mut scanned = 0;
    let mut found: Vec<(String, String, String, Message)> = Vec::new();
    loop {
        let (next, entries): (u64, Vec<(String, Vec<u8>)>) = redis::cmd("HSCAN")
            .arg(&key)
            .arg(cursor)
            .arg("COUNT")
            .arg(UNACKED_SCAN_COUNT)
            .query_async(conn)
            .await?;
        scanned += entries.len();
        for (tag, value) in entries {
            // `[envelope, exchange, routing_key]` (kombu's `QoS.append`);
            // anything else is not kombu's and not shown.
            let Ok((envelope, exchange, routing_key)) =
                serde_json::from_slice::<(&serde_json::value::RawValue, String, String)>(&value)
            else {
                continue;
            };
            if routing_key != queue {
                continue;
            }
            // The envelope is a JSON string holding the message's text.
            let text: String =
                serde_json::from_str(envelope.get()).unwrap_or_else(|_| envelope.get().to_string());
            found.push((tag, exchange, routing_key, Message::decode(text.as_bytes())));
        }
        cursor = next;
        if cursor == 0 || scanned >= UNACKED_SCAN_LIMIT || found.len() >= limit {
            break;
        }
    }
    let mut pipe = redis::pipe();
    for (tag, ..) in &found {
        pipe.zscore(naming.unacked_index_key(), tag);
    }
    let scores: Vec<Option<f64>> = if found.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let held = found
        .into_iter()
        .zip(scores)
        .map(
            |((delivery_tag, exchange, routing_key, message), at)| Held {
                delivery_tag,
                exchange,
                routing_key,
                message,
                delivered_at: at,
                redeliver_at: at.map(|t| t + visibility_timeout),
            },
        )
        .collect();
    Ok(HeldPage {
        held,
        scanned,
        next: (cursor != 0).then_some(cursor),
    })
}
