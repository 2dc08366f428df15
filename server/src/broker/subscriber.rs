//! The event reader: one task that holds the pub/sub connection to the
//! broker, stamps every message with its receive time and hands it to the
//! model's owner without ever waiting on it. When the connection fails it
//! says so on the link channel and retries with backoff, forever.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{url::BrokerUrl, BrokerLink, LinkState};
use crate::clock;

/// Payloads waiting for the model's owner. Sized for seconds of a heavy
/// stream, so that a slow moment in the owner never makes the reader stop
/// draining Redis (Redis cuts a subscriber that falls 32 MB behind). When it
/// is full anyway, payloads are dropped and counted in `ReaderStats::dropped`.
pub const EVENT_QUEUE: usize = 65_536;

/// Delays between connection attempts; the last one repeats.
const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
];

/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One message from an event channel.
#[derive(Debug)]
pub struct Published {
    pub channel: String,
    pub payload: Vec<u8>,
    /// Unix seconds when the reader took it off the socket.
    pub received_at: f64,
}

/// Counters the reader keeps about itself; shared read-only with reporting.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Payloads dropped because [`EVENT_QUEUE`] was full.
    pub dropped: std::sync::atomic::AtomicU64,
}

/// Reads `pattern` on the broker until `cancel` fires.
pub async fn run(
    url: BrokerUrl,
    pattern: String,
    out: mpsc::Sender<Published>,
    link: watch::Sender<BrokerLink>,
    stats: Arc<ReaderStats>,
    cancel: CancellationToken,
) {
    let mut failures = 0usize;
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = read_until_disconnected(&url, &pattern, &out, &link, &stats) => outcome,
        };
        let detail = match outcome {
            Ok(()) => "the connection was closed".to_string(),
            Err(error) => error.to_string(),
        };
        let was_connected = link.borrow().state == LinkState::Connected;
        if was_connected {
            failures = 0;
        }
        tracing::warn!(broker = %url.masked(), %detail, "broker unreachable; retrying");
        set_link(&link, LinkState::Unreachable, Some(detail));
        let delay = RETRY_DELAYS[failures.min(RETRY_DELAYS.len() - 1)];
        failures += 1;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn read_until_disconnected(
    url: &BrokerUrl,
    pattern: &str,
    out: &mpsc::Sender<Published>,
    link: &watch::Sender<BrokerLink>,
    stats: &ReaderStats,
) -> redis::RedisResult<()> {
    let client = redis::Client::open(url.connection_info()?)?;
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        redis::RedisResult::Ok(pubsub)
    };
    let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "timed out connecting",
            )))
        }
    };
    tracing::info!(broker = %url.masked(), pattern, "subscribed to events");
    set_link(link, LinkState::Connected, None);
    let mut messages = pubsub.into_on_message();
    while let Some(msg) = messages.next().await {
        let published = Published {
            channel: msg.get_channel_name().to_string(),
            payload: msg.get_payload_bytes().to_vec(),
            received_at: clock::now(),
        };
        match out.try_send(published) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                stats
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
        }
    }
    Ok(())
}

fn set_link(link: &watch::Sender<BrokerLink>, state: LinkState, detail: Option<String>) {
    link.send_if_modified(|current| {
        if current.state == state && current.detail == detail {
            return false;
        }
        *current = BrokerLink {
            state,
            detail,
            since: clock::now(),
        };
        true
    });
}
