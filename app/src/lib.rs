//! celadon's UI: a Leptos app rendered on the server (feature `ssr`) and
//! hydrated in the browser (feature `hydrate`, the wasm entry point).
//! `wire` holds the types shared with the server; `live` keeps the browser's
//! copy of the server's model current over one websocket (or, where a
//! proxy lets no websocket through, by fetching its view's snapshot).
//! `base` is where it is served from (`--url-prefix`).

// The queue page (issue 21): its view type, a chart beside tables, is
// deeper than the compiler's default query depth when the hydrating
// build lays out its `into_any`.
#![recursion_limit = "256"]

pub mod base;
pub mod components;
pub mod live;
pub mod pages;
pub mod person;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

/// The HTML document around [`App`], rendered by the server under the
/// base it provides; the base is written into the page for the browser.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let base = base::use_base();
    let person = person::to_meta(&use_context::<wire::session::Person>().unwrap_or_default());
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name=base::META_NAME content=base.as_str().to_string()/>
                <meta name=person::META_NAME content=person/>
                <link rel="icon" type="image/svg+xml" href=base.href("/favicon.svg")/>
                <HydrationScripts options root=base.as_str().to_string()/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let base = base::provide_base();
    person::provide_person();
    live::provide_live(base);

    view! {
        <Stylesheet id="celadon" href=base.href("/pkg/celadon.css")/>
        <Title text="celadon"/>
        <Meta name="color-scheme" content="light dark"/>
        // Routes match below the base, and the router takes over clicks on
        // links under it.
        <Router base=base.as_str().to_string()>
            <components::TopBar/>
            <components::HistoryBanner/>
            <components::AlertsBanner/>
            <main>
                <Routes fallback=pages::NotFound>
                    // Async: the server waits for the page's snapshot (a
                    // channel round trip) and sends the page whole.
                    <Route path=StaticSegment("") view=pages::WorkersPage ssr=SsrMode::Async/>
                    <Route
                        path=StaticSegment("workers")
                        view=pages::WorkersPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("worker"), ParamSegment("name"))
                        view=pages::WorkerPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("tasks") view=pages::TasksPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("task"), ParamSegment("id"))
                        view=pages::TaskPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("broker") view=pages::BrokerPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("graphs") view=pages::GraphsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("audit") view=pages::AuditPage/>
                    // The queue browser (issue 21).
                    <Route
                        path=(StaticSegment("broker"), StaticSegment("queue"), ParamSegment("name"))
                        view=pages::QueuePage
                    />
                    <Route path=StaticSegment("alerts") view=pages::AlertsPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The wasm entry point: attaches the UI to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
