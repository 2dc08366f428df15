//! The periodic loops that combine broker IO with the model, above both:
//! each talks to Redis and reports what it found to the model's owner,
//! asking the model first what to look at where it needs to (the queues it
//! knows, the tasks still unfinished). `broker` below them never names the
//! model.
//!
//! - `depths`: queue depths and unacknowledged messages, every 2 s;
//! - `reconcile`: unfinished tasks checked against the result backend
//!   after an event gap and every 5 min;
//! - `history`: what changed in the model, written to the history store
//!   every `--state-save-interval`;
//! - `inspector`: Flower's background control traffic (heartbeat,
//!   `enable_events`, inspections) and inspections on request;
//! - `refresh`: inspections on request, single-flight per worker;
//! - `alerts`: the alert rules evaluated every 2 s, firings kept and
//!   notified.

pub mod alerts;
pub mod depths;
pub mod history;
pub mod inspector;
pub mod reconcile;
pub mod refresh;
