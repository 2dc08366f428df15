//! The event reader: one thread that holds the pub/sub connection to the
//! broker, stamps every message with its receive time and hands it to the
//! model's owner without ever waiting on it. When the connection fails, or
//! the sentinels name another master, it says so on the link channel (the
//! model records a gap) and connects again with backoff, forever.

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    BrokerLink, LinkState,
    dial::{DialError, Endpoint},
    resp::{Messages, RespError},
    url::Addr,
};
use crate::clock;

/// Batches (one per socket read) waiting for the model's owner. When it is
/// full the reader keeps draining Redis (Redis cuts a subscriber that falls
/// 32 MB behind) and holds what it reads in one growing batch, up to
/// [`HOLD_LIMIT`], offered again at every later read: under load the
/// batches grow instead of being lost. (At worst a held batch waits for the
/// next message; workers heartbeat every 2 s.)
pub const EVENT_QUEUE: usize = 512;

/// Bytes of payload the reader holds while the queue is full; past it, the
/// held batch is dropped and its messages counted in `ReaderStats::dropped`.
/// Seconds of the heaviest stream.
pub const HOLD_LIMIT: usize = 128 << 20;

/// After a read that brought fewer payload bytes than [`SMALL_READ`], the reader
/// waits this long before reading again, so the next read collects what
/// arrived meanwhile: far fewer wake-ups and syscalls at a cost of at most
/// a millisecond of latency (pages update every 100 ms anyway).
const PACE: Duration = Duration::from_millis(1);
/// Counted in bytes, not messages: a prefork worker's `task.multi` message
/// holds 24 events, and a socket read holds a few hundred kilobytes at most,
/// so a message count would call a full read small and pace a reader that
/// is already behind (Redis then cuts it at 32 MB).
const SMALL_READ: usize = 32 * 1024;

/// Delays between connection attempts; the last one repeats.
const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
];

/// Why the reader lost (or never had) its connection: the broker status.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("{at}: {source}")]
    Read { at: Addr, source: RespError },
    #[error("the sentinels moved the master from {from} to {to}")]
    MasterMoved { from: Addr, to: Addr },
}

/// The messages one read from the socket brought, in the reader's buffer.
#[derive(Debug)]
pub struct Published {
    pub messages: Messages,
    /// Unix seconds when the reader took them off the socket.
    pub received_at: f64,
}

/// What the reader hands over at once: one read, or the reads it held
/// while the owner's queue was full.
pub type Batch = Vec<Published>;

/// Counters the reader keeps about itself; shared read-only with reporting.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Payloads dropped because [`EVENT_QUEUE`] was full.
    pub dropped: std::sync::atomic::AtomicU64,
}

/// The reader on its own OS thread, with its own single-threaded runtime.
/// On the shared runtime it could wait behind the model's owner (which
/// works through a backlog in long turns), and a reader that stops reading
/// under a heavy stream is cut by Redis at its pub/sub output limit (seen
/// in the benchmark: docs/measurements.md). Its own thread is scheduled by
/// the kernel alone, as soon as data arrives.
pub struct ReaderThread(std::thread::JoinHandle<()>);

impl ReaderThread {
    /// Starts [`run`] on a thread named `celadon-reader`.
    pub fn spawn(
        broker: Arc<Endpoint>,
        pattern: String,
        out: mpsc::Sender<Batch>,
        link: watch::Sender<BrokerLink>,
        stats: Arc<ReaderStats>,
        cancel: CancellationToken,
    ) -> std::io::Result<ReaderThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name("celadon-reader".into())
            .spawn(move || runtime.block_on(run(broker, pattern, out, link, stats, cancel)))?;
        Ok(ReaderThread(handle))
    }

    /// Waits for the thread to end (after its cancellation token fired).
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.0.join()).await;
    }
}

/// Reads `pattern` on the broker until `cancel` fires.
pub async fn run(
    broker: Arc<Endpoint>,
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
            outcome = read_until_disconnected(&broker, &pattern, &out, &link, &stats) => outcome,
        };
        let detail = match outcome {
            Ok(()) => "the connection was closed".to_string(),
            Err(error) => error.to_string(),
        };
        let was_connected = link.borrow().state == LinkState::Connected;
        if was_connected {
            failures = 0;
        }
        tracing::warn!(broker = %broker.masked(), %detail, "broker unreachable; retrying");
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
    broker: &Endpoint,
    pattern: &str,
    out: &mpsc::Sender<Batch>,
    link: &watch::Sender<BrokerLink>,
    stats: &ReaderStats,
) -> Result<(), ReadError> {
    let opened = broker.open().await?;
    let (mut conn, at) = (opened.conn, opened.at);
    let read_error = |source| ReadError::Read {
        at: at.clone(),
        source,
    };
    conn.psubscribe(pattern).await.map_err(read_error)?;
    let detail = broker.describe(&at);
    tracing::info!(broker = %broker.masked(), server = %at, pattern, "subscribed to events");
    set_link(link, LinkState::Connected, detail);
    let moved = broker.watch_master(&at);
    tokio::pin!(moved);
    // What the owner had no room for yet, and its payload bytes.
    let mut held: Batch = Vec::new();
    let mut held_bytes = 0usize;
    loop {
        let messages = tokio::select! {
            messages = conn.messages() => messages.map_err(read_error)?,
            to = &mut moved => return Err(ReadError::MasterMoved { from: at.clone(), to }),
        };
        // One clock read per read from the socket: they arrived together.
        let received_at = clock::now();
        let read_bytes = messages.payload_bytes();
        let small = read_bytes < SMALL_READ;
        held_bytes += read_bytes;
        held.push(Published {
            messages,
            received_at,
        });
        match out.try_send(std::mem::take(&mut held)) {
            Ok(()) => held_bytes = 0,
            Err(mpsc::error::TrySendError::Full(batch)) if held_bytes <= HOLD_LIMIT => {
                held = batch;
            }
            Err(mpsc::error::TrySendError::Full(batch)) => {
                held_bytes = 0;
                let messages: usize = batch.iter().map(|p| p.messages.len()).sum();
                stats
                    .dropped
                    .fetch_add(messages as u64, std::sync::atomic::Ordering::Relaxed);
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
