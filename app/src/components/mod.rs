//! Widgets shared by the pages.

mod badge;
mod chart;
mod confirm;
mod conn;
mod copy;
mod json;
mod time;
mod topbar;

pub use badge::{state_class, StateBadge};
pub use chart::{BarChart, Bars, Line, LineChart};
pub use confirm::{Answers, ConfirmAction};
pub use conn::ConnIndicator;
pub use copy::CopyButton;
pub use json::{scalar_text, JsonView};
pub use time::{format_duration, format_relative, format_utc, time_of_day, Time, TimeToggle};
pub use topbar::TopBar;
