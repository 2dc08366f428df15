//! Failed logins, limited per client: after [`MAX_FAILURES`] in
//! [`WINDOW`], a client's further attempts are refused (429) without being
//! checked until the window passes, so a password cannot be guessed at
//! network speed. Bounded: at most [`MAX_CLIENTS`] clients are tracked;
//! when full, windows that have passed are forgotten first, and if none
//! has, the new client is limited at once (a flood of addresses slows
//! everyone's wrong guesses, never a right login's check of a known one).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Wrong logins a client may make per [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at once.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Default)]
pub struct Limiter {
    /// Per client address: failures in the window, and when it started.
    /// A std mutex: held for a map lookup, never across an await.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    /// Whether `client` may try now.
    pub fn allows(&self, client: &str, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(client) {
            Some((n, since)) => *n < MAX_FAILURES || now.duration_since(*since) >= WINDOW,
            None => true,
        }
    }

    /// Counts a wrong login from `client`.
    pub fn failed(&self, client: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CLIENTS && !map.contains_key(client) {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
            if map.len() >= MAX_CLIENTS {
                return;
            }
        }
        let entry = map.entry(client.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// A right login clears the client's count.
    pub fn succeeded(&self, client: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_stopped_after_its_failures_until_the_window_passes() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allows("10.0.0.1", t0));
            limiter.failed("10.0.0.1", t0);
        }
        assert!(!limiter.allows("10.0.0.1", t0));
        assert!(limiter.allows("10.0.0.2", t0), "others are not limited");
        assert!(limiter.allows("10.0.0.1", t0 + WINDOW));
        limiter.failed("10.0.0.1", t0 + WINDOW);
        assert!(limiter.allows("10.0.0.1", t0 + WINDOW), "a new window");
        limiter.succeeded("10.0.0.1");
        assert!(limiter.allows("10.0.0.1", t0));
    }
}
