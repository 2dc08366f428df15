//! A task state as a coloured pill.

use leptos::prelude::*;

/// The colour family of a state, for styling.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "SUCCESS" => "ok",
        "FAILURE" | "REJECTED" => "bad",
        "REVOKED" => "revoked",
        "RETRY" => "warn",
        "STARTED" => "running",
        "RECEIVED" | "PENDING" => "waiting",
        _ => "other",
    }
}

#[component]
pub fn StateBadge(#[prop(into)] state: String) -> impl IntoView {
    let class = format!("badge state {}", state_class(&state));
    let key = state.clone();
    view! { <span class=class data-state=key>{state}</span> }
}
