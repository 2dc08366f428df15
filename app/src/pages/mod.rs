//! One page per route.

mod alerts;
mod audit;
mod audit_url;
mod broker;
mod graphs;
mod not_found;
// The queue browser (issue 21).
mod queue;
mod queue_actions;
mod queue_held;
mod task;
mod tasks;
mod tasks_bulk;
mod tasks_history;
mod tasks_range;
mod tasks_table;
mod tasks_url;
mod worker;
mod worker_controls;
mod workers;

pub use alerts::AlertsPage;
pub use audit::AuditPage;
pub use broker::BrokerPage;
pub use graphs::GraphsPage;
pub use not_found::NotFound;
pub use queue::QueuePage;
pub use task::TaskPage;
pub use tasks::TasksPage;
pub use tasks_url::encode;
pub use worker::WorkerPage;
pub use workers::WorkersPage;
