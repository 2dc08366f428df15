//! One page per route.

mod not_found;
mod workers;

pub use not_found::NotFound;
pub use workers::WorkersPage;
