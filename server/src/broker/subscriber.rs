//! The event reader: one task that holds the pub/sub connection to the
//! broker, stamps every message with its receive time and hands it to the
//! model's owner without ever waiting on it. When the connection fails it
//! says so on the link channel and retries with backoff, forever.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    resp::{PubSub, RespError},
    url::BrokerUrl,
    BrokerLink, LinkState,
};
use crate::clock;

/// Batches (one per socket read, up to 256 KB of messages) waiting for the
/// model's owner: a hundred megabytes, seconds of the heaviest stream, so
/// that a slow moment in the owner never makes the reader stop draining
/// Redis (Redis cuts a subscriber that falls 32 MB behind). When it is full
/// anyway, the batch is dropped and its messages counted in
/// `ReaderStats::dropped`.
pub const EVENT_QUEUE: usize = 512;

/// After a read that brought fewer messages than [`SMALL_READ`], the reader
/// waits this long before reading again, so the next read collects what
/// arrived meanwhile: far fewer wake-ups and syscalls at a cost of at most
/// a millisecond of latency (pages update every 100 ms anyway).
const PACE: Duration = Duration::from_millis(1);
const SMALL_READ: usize = 64;

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

/// One message from an event channel, sliced from the reader's buffer.
#[derive(Debug)]
pub struct Published {
    pub channel: Bytes,
    pub payload: Bytes,
    /// Unix seconds when the reader took it off the socket.
    pub received_at: f64,
}

/// What one read brought.
pub type Batch = Vec<Published>;

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
    out: mpsc::Sender<Batch>,
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
    out: &mpsc::Sender<Batch>,
    link: &watch::Sender<BrokerLink>,
    stats: &ReaderStats,
) -> Result<(), RespError> {
    let mut conn = PubSub::connect(url, CONNECT_TIMEOUT).await?;
    conn.psubscribe(pattern).await?;
    tracing::info!(broker = %url.masked(), pattern, "subscribed to events");
    set_link(link, LinkState::Connected, None);
    let mut messages = Vec::new();
    loop {
        conn.messages(&mut messages).await?;
        // One clock read per read from the socket: they arrived together.
        let received_at = clock::now();
        let small = messages.len() < SMALL_READ;
        let batch: Batch = messages
            .drain(..)
            .map(|m| Published {
                channel: m.channel,
                payload: m.payload,
                received_at,
            })
            .collect();
        match out.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                stats
                    .dropped
                    .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
        }
        if small {
            tokio::time::sleep(PACE).await;
        }
    }
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
