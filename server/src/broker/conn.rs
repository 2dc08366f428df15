//! A Redis connection opened when first needed, shared, and opened again
//! after a failure: what every part of celadon that keeps a connection
//! (remote control, sending tasks, the result backend, queue depths) uses.
//! The pub/sub reader has its own socket (`subscriber`).

use std::ops::{Deref, DerefMut};

use redis::{RedisResult, aio::MultiplexedConnection};
use tokio::sync::Mutex;

use super::url::BrokerUrl;

pub struct LazyConnection {
    client: redis::Client,
    /// Held only to connect or to clone the connection, never across a
    /// command: an async mutex, so a caller that waits for another's
    /// connect does not block its thread, and two callers never open two
    /// connections at once.
    conn: Mutex<Cached>,
}

/// The shared connection, and which one it is: each connection opened
/// gets the next generation.
#[derive(Default)]
struct Cached {
    generation: u64,
    conn: Option<MultiplexedConnection>,
}

/// A handle on the shared connection (cheap: the connection is
/// multiplexed), which remembers which connection it is, so that a
/// failure on it resets that one and not one opened since.
pub struct Connection {
    conn: MultiplexedConnection,
    generation: u64,
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
    pub fn new(url: &BrokerUrl) -> RedisResult<LazyConnection> {
        Ok(LazyConnection {
            client: redis::Client::open(url.connection_info()?)?,
            conn: Mutex::new(Cached::default()),
        })
    }

    /// The client, for a connection of one's own (a blocking `BRPOP`
    /// must not hold up the shared one).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The shared connection, opened if there is none.
    pub async fn get(&self) -> RedisResult<Connection> {
        let mut cached = self.conn.lock().await;
        if let Some(conn) = cached.conn.as_ref() {
            return Ok(Connection {
                conn: conn.clone(),
                generation: cached.generation,
            });
        }
        let conn = self.client.get_multiplexed_async_connection().await?;
        cached.generation += 1;
        cached.conn = Some(conn.clone());
        Ok(Connection {
            conn,
            generation: cached.generation,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that is not there fails the call and leaves nothing behind;
    /// the next call tries again.
    #[tokio::test]
    async fn a_failed_connect_is_an_error_and_is_tried_again() {
        let dir = std::env::temp_dir().join(format!("celadon-lazy-{}", std::process::id()));
        let url = BrokerUrl::parse(&format!("unix://{}/nothing.sock", dir.display())).unwrap();
        let lazy = LazyConnection::new(&url).unwrap();
        for _ in 0..2 {
            let result = lazy.run(async |c| redis::cmd("PING").query_async::<String>(c).await);
            assert!(result.await.is_err());
            assert!(lazy.conn.lock().await.conn.is_none());
        }
    }
}
