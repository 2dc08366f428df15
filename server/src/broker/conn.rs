//! A Redis connection opened when first needed, shared, and opened again
//! after a failure: what every part of celadon that keeps a connection
//! (remote control, sending tasks, the result backend, queue depths) uses.
//! The pub/sub reader has its own socket (`subscriber`).

use redis::{RedisResult, aio::MultiplexedConnection};
use tokio::sync::Mutex;

use super::url::BrokerUrl;

pub struct LazyConnection {
    client: redis::Client,
    /// Held only to connect or to clone the connection, never across a
    /// command: an async mutex, so a caller that waits for another's
    /// connect does not block its thread, and two callers never open two
    /// connections at once.
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl LazyConnection {
    /// Nothing is opened until the first [`get`](Self::get).
    pub fn new(url: &BrokerUrl) -> RedisResult<LazyConnection> {
        Ok(LazyConnection {
            client: redis::Client::open(url.connection_info()?)?,
            conn: Mutex::new(None),
        })
    }

    /// The client, for a connection of one's own (a blocking `BRPOP`
    /// must not hold up the shared one).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The shared connection (a cheap handle on it), opened if there is
    /// none.
    pub async fn get(&self) -> RedisResult<MultiplexedConnection> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            return Ok(c.clone());
        }
        let c = self.client.get_multiplexed_async_connection().await?;
        *conn = Some(c.clone());
        Ok(c)
    }

    /// Forgets the connection, so the next [`get`](Self::get) opens a new
    /// one: after any failure, since the connection may be the cause.
    pub async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `command` on the connection; a failure resets it.
    pub async fn run<T>(
        &self,
        command: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut conn = self.get().await?;
        let result = command(&mut conn).await;
        if result.is_err() {
            self.reset().await;
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
            assert!(lazy.conn.lock().await.is_none());
        }
    }
}
