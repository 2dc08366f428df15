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
                <a href=base.href("/alerts")>"Alerts"</a>
                {crate::person::use_person()
                    .can(crate::wire::session::Role::Admin)
                    .then(|| view! { <a href=base.href("/audit")>"Audit"</a> })}
            </nav>
            <TimeToggle/>
            <ConnIndicator/>
            <Who/>
        </header>
    }
}

/// Who is signed on, with their role and a way out.
#[component]
fn Who() -> impl IntoView {
    let base = use_base();
    let person = crate::person::use_person();
    let role = person.role.map(|r| r.as_str());
    person.name.clone().map(|name| {
        view! {
            <span class="who" data-testid="who">
                <span class="who-name">{name}</span>
                {role.map(|r| view! { <span class="who-role" data-testid="who-role">{r}</span> })}
                {person.signed_on.then(|| view! {
                    <a class="logout" rel="external" href=base.href("/logout")>"Log out"</a>
                })}
            </span>
        }
    })
}
