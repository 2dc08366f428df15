//! celadon's integration tests: one binary, real `redis-server`, real
//! Celery workers, the real server on `127.0.0.1:0`. The kit (`kit/`)
//! starts them; `support` holds the test-only helpers over it.

// The harness reports every failure by panicking with what it was waiting
// for, and prints the logs of what it started when a test fails.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking with what it was waiting for"
)]

// Alerts (issue 21).
mod alerts;

mod attacks;
mod audit;
mod brokers;
mod cli;
mod control;
mod flower_api;
mod graphs;
mod history;
mod history_pg;
mod metrics;
mod model;
mod prefix;
// The queue browser (issue 21).
mod queues;
mod result_backends;
mod roles;
mod serving;
mod signon;
mod support;
mod workers;

// Webhook notifications (issue 21).
mod notify;
