//! A Redis connection opened when first needed, shared, and opened again
//! after a failure, or when the sentinels name another master: what every
//! part of celadon that keeps a connection (remote control, sending tasks,
//! the result backend, queue depths) uses. The pub/sub reader has its own
//! socket (`subscriber`); both are opened by `dial`.

use std::{
    io,
    ops::{Deref, DerefMut},
    sync::Arc,
    time::{Duration, Instant},
};

use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisResult, aio::MultiplexedConnection};
use tokio::sync::Mutex;
use tokio_util::task::AbortOnDropHandle;

use super::{
    dial::{Endpoint, SENTINEL_RECHECK},
    url::Addr,
};

/// How long a caller of [`LazyConnection::get`] waits for the sentinels to
/// say whether the master moved; without an answer in time the connection
/// in hand is kept (the sentinels being unreachable is no reason to stall
/// requests to a master that works).
const RECHECK_LIMIT: Duration = Duration::from_millis(500);

pub struct LazyConnection {
    endpoint: Arc<Endpoint>,
    /// Held only to connect, to ask the sentinels, or to clone the
    /// connection, never across a command: an async mutex, so a caller
    /// that waits for another's connect does not block its thread, and two
    /// callers never open two connections at once.
    conn: Mutex<Cached>,
}

/// The shared connection, and which one it is: each connection opened
/// gets the next generation.
struct Cached {
    generation: u64,
    conn: Option<Connection>,
    /// When the sentinels were last asked whether the master moved.
    checked: Instant,
}

/// A handle on a connection (cheap to clone: the connection is
/// multiplexed), which remembers which one it is, so that a failure on it
/// resets that one and not one opened since. The task that drives the
/// connection belongs to its handles: it is aborted when the last one is
/// dropped, so no connection outlives its users.
#[derive(Clone)]
pub struct Connection {
    conn: MultiplexedConnection,
    generation: u64,
    at: Addr,
    _driver: Arc<AbortOnDropHandle<()>>,
}

impl Deref for Connection {
    type Target = MultiplexedConnection;

    fn deref(&self) -> &MultiplexedConnection {
        &self.conn
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }
}

impl LazyConnection {
    /// Nothing is opened until the first [`get`](Self::get).
    pub fn new(endpoint: Arc<Endpoint>) -> LazyConnection {
        LazyConnection {
            endpoint,
            conn: Mutex::new(Cached {
                generation: 0,
                conn: None,
                checked: Instant::now(),
            }),
        }
    }

    /// A connection of one's own, with its own settings (a blocking
    /// `BRPOP` must not hold up the shared one); it closes when dropped.
    pub async fn dedicated(&self, config: AsyncConnectionConfig) -> RedisResult<Connection> {
        open(&self.endpoint, config, 0).await
    }

    /// The shared connection, opened if there is none, or if it was opened
    /// to a master the sentinels no longer name.
    pub async fn get(&self) -> RedisResult<Connection> {
        let mut cached = self.conn.lock().await;
        if let Some(at) = cached.conn.as_ref().map(|c| c.at.clone())
            && self.endpoint.is_sentinel()
            && cached.checked.elapsed() >= SENTINEL_RECHECK
        {
            cached.checked = Instant::now();
            let asked = tokio::time::timeout(RECHECK_LIMIT, self.endpoint.master_moved(&at));
            if let Ok(Some(master)) = asked.await {
                tracing::info!(from = %at, to = %master, "the master moved; reconnecting");
                cached.conn = None;
            }
        }
        if let Some(conn) = &cached.conn {
            return Ok(conn.clone());
        }
        let mut config = AsyncConnectionConfig::new();
        if let Some(timeout) = self.endpoint.response_timeout() {
            config = config.set_response_timeout(Some(timeout));
        }
        let conn = open(&self.endpoint, config, cached.generation + 1).await?;
        cached.generation += 1;
        cached.checked = Instant::now();
        cached.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the connection `failed` came from, so the next
    /// [`get`](Self::get) opens a new one: after any failure on it, since
    /// the connection may be the cause. One opened since is kept.
    pub async fn reset(&self, failed: &Connection) {
        let mut cached = self.conn.lock().await;
        if cached.generation == failed.generation {
            cached.conn = None;
        }
    }

    /// Runs `command` on the connection; a failure resets it.
    pub async fn run<T>(
        &self,
        command: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut conn = self.get().await?;
        let result = command(&mut conn).await;
        if result.is_err() {
            self.reset(&conn).await;
        }
        result
    }
}

/// Opens a connection through `endpoint` and hands its stream, logged in,
/// to the redis crate, which selects the db.
async fn open(
    endpoint: &Endpoint,
    config: AsyncConnectionConfig,
    generation: u64,
) -> RedisResult<Connection> {
    let failed = |why: String| redis::RedisError::from(io::Error::other(why));
    let opened = endpoint.open().await.map_err(|e| failed(e.to_string()))?;
    let stream = opened
        .conn
        .into_stream()
        .map_err(|e| failed(e.to_string()))?;
    let info = RedisConnectionInfo::default().set_db(i64::from(endpoint.db()));
    let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config).await?;
    Ok(Connection {
        conn,
        generation,
        at: opened.at,
        _driver: Arc::new(AbortOnDropHandle::new(tokio::spawn(driver))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{transport::TransportOptions, url::BrokerUrl};

    /// A server that is not there fails the call and leaves nothing behind;
    /// the next call tries again.
    #[tokio::test]
    async fn a_failed_connect_is_an_error_and_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            BrokerUrl::parse(&format!("unix://{}/nothing.sock", dir.path().display())).unwrap();
        let endpoint = Endpoint::new(&url, None, &TransportOptions::default()).unwrap();
        let lazy = LazyConnection::new(Arc::new(endpoint));
        for _ in 0..2 {
            let result = lazy.run(async |c| redis::cmd("PING").query_async::<String>(c).await);
            let err = result.await.unwrap_err().to_string();
            assert!(err.contains("nothing.sock"), "{err}");
            assert!(lazy.conn.lock().await.conn.is_none());
        }
    }
}
