//! Widgets shared by the pages.

mod conn;
mod topbar;

pub use conn::ConnIndicator;
pub use topbar::TopBar;
