//! The navigation bar on every page.

use leptos::prelude::*;

use super::ConnIndicator;

#[component]
pub fn TopBar() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "celadon"
            </a>
            <nav>
                <a href="/">"Workers"</a>
            </nav>
            <ConnIndicator/>
        </header>
    }
}
