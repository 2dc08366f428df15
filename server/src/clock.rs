//! The one place the server reads the wall clock. The model takes `now` as
//! a parameter; only the IO edges call this.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds, as Celery's events carry it.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
