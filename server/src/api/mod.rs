//! HTTP: the pages (server-rendered Leptos), the websocket, Flower's REST
//! API (read, control, sending tasks), `/metrics`, the embedded site files
//! and the health check, behind one guard.

mod apply_options;
mod assets;
mod bulk;
mod control;
mod error;
mod extract;
mod flower_views;
pub mod guard;
pub mod metrics;
mod params;
mod queues;
mod send;
mod stats;
mod tasks;
mod throughput;
mod workers;
mod ws;

use app::{App, shell, ssr::SnapshotSource};
use axum::{
    Router,
    body::Body,
    extract::{FromRef, State},
    http::Request,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
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
    let routes = generate_route_list(App);
    let context = page_context(app.state.clone());
    let options = app.leptos.clone();
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthcheck", get(|| async { "OK" }))
        .route("/metrics", get(metrics::render))
        .route("/api/workers", get(workers::list))
        .route("/api/tasks", get(tasks::list))
        .route("/api/task/info/{id}", get(tasks::info))
        .route("/api/task/types", get(tasks::types))
        .route("/api/queues/length", get(queues::lengths))
        .route("/api/stats", get(stats::stats))
        .route("/api/stats/types", get(stats::types))
        .route("/api/stats/throughput", get(throughput::throughput))
        .route("/api/task/revoke/{id}", post(control::revoke))
        .route("/api/task/retry/{id}", post(control::retry))
        .route("/api/task/rate-limit/{name}", post(control::rate_limit))
        .route("/api/task/timeout/{name}", post(control::time_limit))
        .route("/api/task/apply/{name}", post(send::apply))
        .route("/api/task/async-apply/{name}", post(send::send_task))
        .route("/api/task/send-task/{name}", post(send::send_task))
        .route("/api/task/result/{id}", get(send::result))
        .route("/api/task/abort/{id}", post(send::abort))
        .route("/api/tasks/{action}", post(bulk::bulk))
        .route("/api/worker/shutdown/{worker}", post(control::shutdown))
        .route("/api/worker/pool/{action}/{worker}", post(control::pool))
        .route("/api/worker/queue/{action}/{worker}", post(control::queue))
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
        .with_state(app)
}

/// Context for every page render: where its first snapshot comes from.
fn page_context(state: StateHandle) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        let state = state.clone();
        provide_context(SnapshotSource::new(move |view| {
            let state = state.clone();
            Box::pin(async move { state.snapshot(view).await.ok() })
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

/// Embedded files by path; an unknown API path is the API's JSON 404;
/// anything else is the app's not-found page.
async fn fallback(State(app): State<AppState>, request: Request<Body>) -> Response {
    let path = request.uri().path();
    if let Some(asset) = assets::find(path) {
        return asset.response(request.headers());
    }
    if path == "/api" || path.starts_with("/api/") {
        let why = format!("no API endpoint at {path}");
        return error::ApiError::NotFound(why).into_response();
    }
    let options = app.leptos.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        page_context(app.state.clone()),
        move || shell(options.clone()),
    );
    render(request).await.into_response()
}
