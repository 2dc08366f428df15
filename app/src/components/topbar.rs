//! The navigation bar on every page.

use leptos::prelude::*;

use super::{ConnIndicator, TimeToggle};
use crate::base::use_base;

#[component]
pub fn TopBar() -> impl IntoView {
    let base = use_base();
    view! {
        <header class="topbar">
            <a class="brand" href=base.href("/")>
                "celadon"
            </a>
            <nav>
                <a href=base.href("/")>"Workers"</a>
                <a href=base.href("/tasks")>"Tasks"</a>
                <a href=base.href("/broker")>"Broker"</a>
                <a href=base.href("/graphs")>"Graphs"</a>
                <a href=base.href("/audit")>"Audit"</a>
            </nav>
            <TimeToggle/>
            <ConnIndicator/>
        </header>
    }
}
