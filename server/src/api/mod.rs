//! HTTP: the pages (server-rendered Leptos), the websocket, the view
//! snapshots that stand in for it, Flower's REST API (read, control,
//! sending tasks), `/metrics`, the embedded site files and the health
//! check, behind one guard, all under `--url-prefix` (the [`Base`]).
//! In front of the guard: the host check (`hosts`), the security headers
//! (`headers`), and the body size and time limits (`limits`).

mod alerts;
mod apply_options;
mod assets;
pub mod audit;
mod bulk;
mod control;
mod error;
mod export;
mod extract;
mod flower_views;
pub mod guard;
pub mod headers;
pub mod hosts;
pub mod limits;
mod login;
pub mod metrics;
mod openapi;
mod params;
mod queues;
// The queue browser (issue 21).
mod queue_actions;
mod queue_browser;
mod redaction;
mod send;
mod snapshot;
mod stats;
mod tasks;
mod throughput;
mod workers;
pub mod ws;

use app::{App, base::Base, shell, ssr::SnapshotSource};
use axum::{
    Router,
    body::Body,
    extract::{FromRef, State},
    http::Request,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{
    AxumRouteListing, LeptosRoutes, generate_route_list_with_exclusions_and_ssg_and_context,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use assets::has_ui_bundle;

use crate::{broker::subscriber::ReaderStats, state::owner::StateHandle};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub state: StateHandle,
    pub leptos: LeptosOptions,
    /// Fires at shutdown; long-lived handlers (websockets) watch it.
    pub cancel: CancellationToken,
    /// Owns the websocket tasks so that shutdown can wait for them.
    pub sockets: TaskTracker,
    /// The event reader's own counters.
    pub reader: std::sync::Arc<ReaderStats>,
    /// Remote control of the workers (the inspections of the Workers API).
    pub pidbox: std::sync::Arc<crate::control::pidbox::Pidbox>,
    /// Control on users' behalf.
    pub control: std::sync::Arc<crate::control::service::Control>,
    /// Who may see and do what.
    pub access: guard::Access,
    /// `--inspect-timeout`.
    pub inspect_timeout: std::time::Duration,
    /// `--url-prefix`: every route is under it.
    pub base: Base,
    /// The history store, when history is kept.
    pub history: Option<HistoryAccess>,
    /// The audit trail: every control action, login and logout.
    pub audit: crate::audit::Recorder,
    /// `--allowed-hosts`: the names celadon answers to.
    pub hosts: hosts::HostCheck,
    /// The open websockets, counted against their limits.
    pub socket_count: std::sync::Arc<ws::SocketCount>,
    /// Single-flight inspections on request.
    pub refresher: std::sync::Arc<crate::poll::refresh::Refresher>,
    /// Alerts: rules, webhooks, what fires (issue 21).
    pub alerts: std::sync::Arc<crate::alerts::Alerts>,
    /// The queue browser: reads and changes queues' messages.
    pub queues: std::sync::Arc<crate::broker::browse::QueueBrowser>,
}

/// How handlers reach the history: its reader (when the store opened)
/// and its status.
#[derive(Clone)]
pub struct HistoryAccess {
    pub reader: Option<crate::store::Reader>,
    pub status: std::sync::Arc<crate::store::Status>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(app: &AppState) -> LeptosOptions {
        app.leptos.clone()
    }
}

/// Options for rendering: the bundle is served from `/pkg/celadon.*`.
pub fn leptos_options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("celadon")
        .site_pkg_dir("pkg")
        .build()
}

pub fn router(app: AppState) -> Router {
    let base = app.base;
    let at = |path: &str| base.href(path);
    let context = page_context(app.state.clone(), base, app.access.redact.clone());
    // The app's routes are generated under the base it reads from context,
    // so they are the paths the browser's router matches; its main page,
    // which the router lists at the base itself, is at `<base>/`, as
    // Flower's is.
    let (routes, _) =
        generate_route_list_with_exclusions_and_ssg_and_context(App, None, context.clone());
    let routes = routes
        .into_iter()
        .map(|route| match route.path() {
            path if !base.as_str().is_empty() && path == base.as_str() => {
                AxumRouteListing::new(at("/"), route.mode().clone(), route.methods(), Vec::new())
            }
            _ => route,
        })
        .collect();
    let options = app.leptos.clone();
    let openapi = openapi::document(base);
    let mut router = Router::new()
        .route(&at("/ws"), get(ws::upgrade))
        .route(&at("/snapshot"), get(snapshot::snapshot))
        .route(&at("/healthcheck"), get(|| async { "OK" }))
        .route(&at("/login"), get(login::login))
        .route(&at("/logout"), get(login::logout).post(login::logout))
        .route(&at("/metrics"), get(metrics::render))
        .route(&at("/api/workers"), get(workers::list))
        .route(&at("/api/tasks"), get(tasks::list))
        .route(&at("/api/task/info/{id}"), get(tasks::info))
        .route(&at("/api/task/types"), get(tasks::types))
        .route(&at("/api/queues/length"), get(queues::lengths))
        .route(&at("/api/stats"), get(stats::stats))
        .route(&at("/api/stats/types"), get(stats::types))
        .route(&at("/api/stats/throughput"), get(throughput::throughput))
        .route(&at("/api/audit"), get(audit::list))
        .route(&at("/api/audit/verify"), get(audit::verify))
        .route(
            &at("/api/openapi.json"),
            get(move || std::future::ready(openapi::answer(openapi.clone()))),
        )
        .route(&at("/api/task/revoke/{id}"), post(control::revoke))
        .route(&at("/api/task/retry/{id}"), post(control::retry))
        .route(
            &at("/api/task/rate-limit/{name}"),
            post(control::rate_limit),
        )
        .route(&at("/api/task/timeout/{name}"), post(control::time_limit))
        .route(&at("/api/task/apply/{name}"), post(send::apply))
        .route(&at("/api/task/async-apply/{name}"), post(send::send_task))
        .route(&at("/api/task/send-task/{name}"), post(send::send_task))
        .route(&at("/api/task/result/{id}"), get(send::result))
        .route(&at("/api/task/abort/{id}"), post(send::abort))
        .route(&at("/api/tasks/{action}"), post(bulk::bulk))
        .route(
            &at("/api/worker/shutdown/{worker}"),
            post(control::shutdown),
        )
        .route(
            &at("/api/worker/pool/{action}/{worker}"),
            post(control::pool),
        )
        .route(
            &at("/api/worker/queue/{action}/{worker}"),
            post(control::queue),
        )
        // The queue browser (issue 21).
        .route(&at("/api/queues/{name}"), get(queue_browser::info))
        .route(
            &at("/api/queues/{name}/messages"),
            get(queue_browser::messages),
        )
        .route(
            &at("/api/queues/{name}/unacked"),
            get(queue_browser::unacked),
        )
        .route(&at("/api/queues/{name}/{action}"), post(queue_actions::act))
        .route(&at("/api/task/{id}/queue"), get(queue_browser::place));
    // Alerts (issue 21).
    router = router
        .route(&at("/api/alerts"), get(alerts::list))
        .route(&at("/api/alerts/history"), get(alerts::history))
        .route(&at("/api/alerts/rules"), post(alerts::add_rule))
        .route(
            &at("/api/alerts/rules/{name}"),
            axum::routing::put(alerts::edit_rule).delete(alerts::delete_rule),
        )
        .route(&at("/api/alerts/webhooks"), post(alerts::add_webhook))
        .route(
            &at("/api/alerts/webhooks/{name}"),
            axum::routing::put(alerts::edit_webhook).delete(alerts::delete_webhook),
        )
        .route(
            &at("/api/alerts/webhooks/{name}/test"),
            post(alerts::test_webhook),
        );
    if !base.as_str().is_empty() {
        // Flower answers its main page at `/<prefix>/` only; the prefix
        // itself is sent there rather than to a "not found".
        let home = at("/");
        router = router.route(
            base.as_str(),
            get(move || async move { Redirect::permanent(&home) }),
        );
    }
    router
        .leptos_routes_with_context(&app, routes, context, move || shell(options.clone()))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            flower_views::workers_json,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.access.clone(),
            guard::guard,
        ))
        // Outside the guard, so that its refusals are recorded too.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            audit::record,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            limits::REQUEST_TIMEOUT,
            limits::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.hosts.clone(),
            hosts::check,
        ))
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(app)
}

/// Context for every page render: where its first snapshot comes from, and
/// the base its URLs are under.
fn page_context(
    state: StateHandle,
    base: Base,
    redact: std::sync::Arc<crate::auth::redact::Redactor>,
) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        headers::page_policy();
        provide_context(base);
        // The person the guard found for this request, and so what of
        // task data they may see.
        let person = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| {
                parts
                    .extensions
                    .get::<app::wire::session::Person>()
                    .cloned()
            })
            .unwrap_or_default();
        let redaction = redaction::Redaction::of(&redact, person.role);
        provide_context(person);
        let state = state.clone();
        provide_context(SnapshotSource::new(move |view| {
            let (state, redaction) = (state.clone(), redaction.clone());
            Box::pin(async move {
                snapshot::redacted_snapshot(&state, view, &redaction)
                    .await
                    .ok()
            })
        }));
    }
}

/// A known path asked with another method: the API's error shape, not an
/// empty 405.
async fn method_not_allowed(request: Request<Body>) -> error::ApiError {
    error::ApiError::Rejected {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        why: format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    }
}

/// Embedded files by path under the base; an unknown API path is the API's
/// JSON 404; anything else (under the base or not) is the app's not-found
/// page.
async fn fallback(State(app): State<AppState>, request: Request<Body>) -> Response {
    let path = request.uri().path();
    if let Some(inner) = app.base.strip(path) {
        if let Some(asset) = assets::find(inner) {
            return asset.response(request.headers());
        }
        if inner == "/api" || inner.starts_with("/api/") {
            let why = format!("no API endpoint at {path}");
            return error::ApiError::NotFound(why).into_response();
        }
    }
    let options = app.leptos.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        page_context(app.state.clone(), app.base, app.access.redact.clone()),
        move || shell(options.clone()),
    );
    render(request).await.into_response()
}
