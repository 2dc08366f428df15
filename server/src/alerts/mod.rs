//! Alerts, evaluated inside celadon from its own model: the rules
//! (`rules`, checked; `file`, the `--alerts` file), the pure evaluator
//! (`eval`), where firings and the rules and webhooks added on the Alerts
//! page are kept (`trail`: the history store's tables, or a ring in
//! memory), what the API and `/metrics` read (`Alerts`, shared), and the
//! rules written out for Prometheus (`export`, `cli`). The loop that
//! evaluates is `poll::alerts`.

pub mod cli;
pub mod eval;
pub mod export;
pub mod file;
pub mod hub;
pub mod rules;
pub mod trail;

pub use hub::{Alerts, EditError};
