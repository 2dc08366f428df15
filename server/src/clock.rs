//! The one place the server reads the wall clock. The model takes `now` as
//! a parameter; only the IO edges call this. (Timers and rate limits use
//! monotonic instants, which say nothing about the time of day.)

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds, as Celery's events carry it.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time as a date, for what is sent as ISO 8601 (a task's ETA).
pub fn now_utc() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from(SystemTime::now())
}
