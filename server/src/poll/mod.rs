//! The periodic loops that combine broker IO with the model, above both:
//! each asks the model a named question, talks to Redis, and reports back
//! to the model's owner. `broker` below them never names the model.
//!
//! - `depths`: queue depths and unacknowledged messages, every 2 s;
//! - `reconcile`: unfinished tasks checked against the result backend
//!   after an event gap and every 5 min;
//! - `inspector`: Flower's background control traffic (heartbeat,
//!   `enable_events`, inspections) and inspections on request.

pub mod depths;
pub mod inspector;
pub mod reconcile;
