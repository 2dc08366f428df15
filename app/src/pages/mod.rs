//! One page per route.

mod broker;
mod graphs;
mod not_found;
mod task;
mod tasks;
mod tasks_bulk;
mod worker;
mod worker_controls;
mod workers;

pub use broker::BrokerPage;
pub use graphs::GraphsPage;
pub use not_found::NotFound;
pub use task::TaskPage;
pub use tasks::{TasksPage, encode, query_from, tasks_href};
pub use worker::WorkerPage;
pub use workers::WorkersPage;
