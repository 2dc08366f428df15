//! The page for unknown paths.

use leptos::prelude::*;

use crate::base::use_base;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let home = use_base().href("/");
    view! {
        <section class="empty">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href=home>"Go to the workers."</a></p>
        </section>
    }
}
