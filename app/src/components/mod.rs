//! Widgets shared by the pages.

mod badge;
mod chart;
mod confirm;
mod conn;
mod copy;
mod json;
mod time;
mod topbar;

pub use badge::{StateBadge, state_class};
pub use chart::{BarChart, Bars, Line, LineChart};
pub use confirm::{Answers, ConfirmAction};
pub use conn::{AlertsBanner, ConnIndicator, HistoryBanner};
pub use copy::CopyButton;
pub use json::{JsonView, scalar_text};
pub use time::{Time, TimeToggle, format_duration, format_relative, format_utc, time_of_day};
pub use topbar::TopBar;
