//! The navigation bar on every page.

use leptos::prelude::*;

use super::{ConnIndicator, TimeToggle};

#[component]
pub fn TopBar() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "celadon"
            </a>
            <nav>
                <a href="/">"Workers"</a>
                <a href="/tasks">"Tasks"</a>
                <a href="/broker">"Broker"</a>
                <a href="/graphs">"Graphs"</a>
            </nav>
            <TimeToggle/>
            <ConnIndicator/>
        </header>
    }
}
