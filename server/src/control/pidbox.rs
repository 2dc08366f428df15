//! The pidbox client. A command is a PUBLISH on `/{db}.celery.pidbox`; a
//! command that wants replies names a reply queue, which only works once
//! its binding is in `_kombu.binding.reply.celery.pidbox` (without it,
//! workers drop their replies silently). Each worker LPUSHes one reply,
//! `{hostname: result}`, carrying the request's ticket. Every envelope sent
//! here is complete, as kombu builds it: a worker never sees a partial one.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine;
use redis::{AsyncCommands, AsyncConnectionConfig, aio::MultiplexedConnection};
use serde_json::{Value, json, value::RawValue};

use crate::{
    broker::{conn::LazyConnection, dial::Endpoint, naming::Naming},
    clock,
};

/// How long kombu keeps a reply binding table alive (`REFRESH_BINDING`).
const BINDING_TTL_MS: u64 = 3_600_000;

/// Reply connections open at once. A call that wants replies blocks a
/// connection of its own on BRPOP for up to its timeout; past this many,
/// a call waits for one to close before it sends its command, so however
/// many inspections are asked for, celadon holds at most this many Redis
/// connections for replies (two Worker-page inspections' worth).
pub const MAX_REPLY_CONNECTIONS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the broker is unreachable: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("celadon is shutting down")]
    ShuttingDown,
    #[error("the result backend: {0}")]
    Backend(#[from] crate::broker::backend::BackendError),
}

/// Who answered a command, and what (as a `Value`, or as the JSON text
/// the worker wrote).
#[derive(Clone, Debug, PartialEq)]
pub struct Replies<T = Value> {
    /// Receivers of the PUBLISH: workers (and any pattern subscriber, such
    /// as celadon's own event reader does not count: it listens elsewhere).
    pub delivered: i64,
    /// `(hostname, reply)`, in arrival order.
    pub replies: Vec<(String, T)>,
}

pub struct Pidbox {
    naming: Naming,
    /// Shared by casts and bookkeeping; replies use their own connections.
    conn: LazyConnection,
    /// Permits for reply connections ([`MAX_REPLY_CONNECTIONS`]).
    replies: tokio::sync::Semaphore,
}

fn uuid4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// kombu's envelope for a pidbox request (PROTOCOL.md §5.1).
pub fn request_envelope(
    method: &str,
    arguments: &Value,
    destination: Option<&[String]>,
    reply: Option<(&str, &str)>,
    expires_in: Duration,
) -> String {
    let mut body = json!({
        "method": method,
        "arguments": arguments,
        "destination": destination,
        "pattern": null,
        "matcher": null,
    });
    if let Some((ticket, oid)) = reply {
        body["ticket"] = json!(ticket);
        body["reply_to"] = json!({"exchange": "reply.celery.pidbox", "routing_key": oid});
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({
        "body": encoded,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"clock": 1, "expires": clock::now() + expires_in.as_secs_f64()},
        "properties": {
            "delivery_mode": 2,
            "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": uuid4(),
        },
    })
    .to_string()
}

/// A reply's ticket and decoded body, `{hostname: result}`.
fn reply_parts(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let envelope: Value = serde_json::from_slice(raw).ok()?;
    let ticket = envelope["headers"]["ticket"].as_str()?.to_string();
    let body = crate::broker::envelope::decode_body(raw).ok()?;
    Some((ticket, body))
}

/// A reply's `(ticket, hostname, result)`, if it is one.
pub fn decode_reply(raw: &[u8]) -> Option<(String, String, Value)> {
    let (ticket, body) = reply_parts(raw)?;
    let body: Value = serde_json::from_slice(&body).ok()?;
    let (hostname, result) = body.as_object()?.iter().next()?;
    Some((ticket, hostname.clone(), result.clone()))
}

/// As [`decode_reply`], with the result as the JSON text the worker wrote
/// (for `query_task`, whose task arguments a retry re-sends as they are).
pub fn decode_reply_raw(raw: &[u8]) -> Option<(String, String, Box<RawValue>)> {
    let (ticket, body) = reply_parts(raw)?;
    let body: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(&body).ok()?;
    let (hostname, result) = body.into_iter().next()?;
    Some((ticket, hostname, result))
}

/// The queue names in a worker's `active_queues` reply (a list of kombu
/// queue declarations); `None` if it is not one.
pub fn active_queue_names(reply: &RawValue) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Declared {
        name: String,
    }
    let queues: Vec<Declared> = serde_json::from_str(reply.get()).ok()?;
    Some(queues.into_iter().map(|q| q.name).collect())
}

/// How a reply is read: [`decode_reply`] or [`decode_reply_raw`].
type Decode<T> = fn(&[u8]) -> Option<(String, String, T)>;

impl Pidbox {
    pub fn new(broker: Arc<Endpoint>, naming: Naming) -> Pidbox {
        Pidbox {
            conn: LazyConnection::new(broker),
            naming,
            replies: tokio::sync::Semaphore::new(MAX_REPLY_CONNECTIONS),
        }
    }

    /// Sends a command that wants no reply. Returns how many received it
    /// (0: nobody was listening, so nobody will act on it).
    pub async fn cast(
        &self,
        method: &str,
        arguments: Value,
        destination: Option<&[String]>,
    ) -> Result<i64, ControlError> {
        let envelope = request_envelope(
            method,
            &arguments,
            destination,
            None,
            Duration::from_secs(1),
        );
        let channel = self.naming.pidbox_channel();
        Ok(self
            .conn
            .run(async |c| c.publish(channel, envelope).await)
            .await?)
    }

    /// Sends a command and collects replies until `timeout`, or until
    /// `limit` replies (default: one per destination) have arrived.
    pub async fn call(
        &self,
        method: &str,
        arguments: Value,
        destination: Option<&[String]>,
        timeout: Duration,
        limit: Option<usize>,
    ) -> Result<Replies, ControlError> {
        self.call_with(method, arguments, destination, timeout, limit, decode_reply)
            .await
    }

    /// As [`Pidbox::call`], with each reply as the JSON text the worker
    /// wrote.
    pub async fn call_raw(
        &self,
        method: &str,
        arguments: Value,
        destination: Option<&[String]>,
        timeout: Duration,
        limit: Option<usize>,
    ) -> Result<Replies<Box<RawValue>>, ControlError> {
        self.call_with(
            method,
            arguments,
            destination,
            timeout,
            limit,
            decode_reply_raw,
        )
        .await
    }

    async fn call_with<T>(
        &self,
        method: &str,
        arguments: Value,
        destination: Option<&[String]>,
        timeout: Duration,
        limit: Option<usize>,
        decode: Decode<T>,
    ) -> Result<Replies<T>, ControlError> {
        let mut shared = self.conn.get().await?;
        let result = self
            .call_on(
                &mut shared,
                method,
                arguments,
                destination,
                timeout,
                limit,
                decode,
            )
            .await;
        if result.is_err() {
            // The shared connection may be the cause: the next call opens
            // a new one.
            self.conn.reset(&shared).await;
        }
        result
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "call's parameters, and the connection it runs on"
    )]
    async fn call_on<T>(
        &self,
        shared: &mut MultiplexedConnection,
        method: &str,
        arguments: Value,
        destination: Option<&[String]>,
        timeout: Duration,
        limit: Option<usize>,
        decode: Decode<T>,
    ) -> Result<Replies<T>, ControlError> {
        let limit = limit.or_else(|| destination.map(<[String]>::len));
        let oid = uuid4();
        let ticket = uuid4();
        let binding_key = self.naming.key("_kombu.binding.reply.celery.pidbox");
        let member = self.naming.reply_binding_member(&oid);
        let reply_keys = self.naming.queue_keys(&self.naming.reply_queue(&oid));

        // BRPOP blocks its connection: the replies get one of their own,
        // one of a bounded number. The semaphore is never closed.
        let _permit = self
            .replies
            .acquire()
            .await
            .map_err(|_| ControlError::ShuttingDown)?;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(timeout + Duration::from_secs(5)));
        let mut replies_conn = self.conn.dedicated(config).await?;

        let (now_s, _): (u64, u64) = redis::cmd("TIME").query_async(shared).await?;
        redis::pipe()
            .sadd(&binding_key, &member)
            .ignore()
            .cmd("ZADD")
            .arg(self.naming.key("_kombu.binding_deadlines"))
            .arg("GT")
            .arg(now_s * 1000 + BINDING_TTL_MS)
            .arg("reply.celery.pidbox")
            .ignore()
            .query_async::<()>(shared)
            .await?;

        let envelope = request_envelope(
            method,
            &arguments,
            destination,
            Some((&ticket, &oid)),
            timeout,
        );
        let delivered: i64 = shared
            .publish(self.naming.pidbox_channel(), envelope)
            .await?;

        let mut replies = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut outcome = Ok(());
        if delivered > 0 {
            while limit.is_none_or(|l| replies.len() < l) {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                let popped: redis::RedisResult<Option<(String, Vec<u8>)>> = redis::cmd("BRPOP")
                    .arg(&reply_keys)
                    .arg(remaining.as_secs_f64().max(0.01))
                    .query_async(&mut *replies_conn)
                    .await;
                match popped {
                    Ok(Some((_, raw))) => {
                        if let Some((t, host, result)) = decode(&raw)
                            && t == ticket
                        {
                            replies.push((host, result));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
        }
        // Clean up whatever happened above.
        let _: redis::RedisResult<()> = redis::pipe()
            .srem(&binding_key, &member)
            .ignore()
            .del(&reply_keys)
            .ignore()
            .query_async(shared)
            .await;
        outcome?;
        Ok(Replies { delivered, replies })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_every_field_kombu_sends() {
        let dest = vec!["w1@vm".to_string()];
        let raw = request_envelope(
            "ping",
            &json!({}),
            Some(&dest),
            Some(("t-1", "oid-1")),
            Duration::from_secs(1),
        );
        let envelope: Value = serde_json::from_str(&raw).unwrap();
        let props = &envelope["properties"];
        assert_eq!(props["delivery_info"]["exchange"], "celery.pidbox");
        assert_eq!(props["body_encoding"], "base64");
        assert!(
            props["delivery_tag"]
                .as_str()
                .is_some_and(|t| t.len() == 36)
        );
        assert_eq!(envelope["content-type"], "application/json");
        let body = crate::broker::envelope::decode_body(raw.as_bytes()).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["method"], "ping");
        assert_eq!(body["destination"], json!(["w1@vm"]));
        assert_eq!(body["ticket"], "t-1");
        assert_eq!(
            body["reply_to"],
            json!({"exchange": "reply.celery.pidbox", "routing_key": "oid-1"})
        );
    }

    #[test]
    fn captured_replies_decode_to_ticket_host_and_result() {
        let path = format!("{}/fixtures/control/ping.json", env!("CARGO_MANIFEST_DIR"));
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let reply = &doc["replies"][0];
        let raw = reply["raw"].as_str().unwrap();
        let (ticket, host, result) = decode_reply(raw.as_bytes()).unwrap();
        assert!(!ticket.is_empty());
        assert!(host.contains('@'));
        assert_eq!(result, json!({"ok": "pong"}));
    }
}
