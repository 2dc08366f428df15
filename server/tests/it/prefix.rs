//! celadon under `--url-prefix`: every route answers under the prefix and
//! none without it; and behind nginx at that prefix, pages, the API and
//! the websocket get through a proxy that passes the upgrade on, while
//! behind Flower's documented configuration the websocket is refused and
//! the snapshot a page then polls still answers.

use app::{
    base::Base,
    wire::{ClientMsg, ServerMsg, Snapshot, View, ViewData},
};
use futures_util::{SinkExt, StreamExt};
use kit::{Nginx, Proxying};
use tokio_tungstenite::tungstenite::Message;

use crate::support::cluster::Cluster;

/// A page of each kind, as a browser asks for it.
const PAGES: &[&str] = &[
    "/",
    "/workers",
    "/worker/nobody@nowhere",
    "/tasks?state=FAILURE",
    "/task/00000000-0000-0000-0000-000000000000",
    "/broker",
    "/graphs?window=1h",
];

/// Every other route, with its method; those with a parameter name one
/// that does not exist (their answer is then their own error, not the
/// fallback's "not found").
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthcheck"),
    ("GET", "/metrics"),
    ("GET", "/snapshot?view=%7B%22page%22%3A%22broker%22%7D"),
    ("GET", "/api/workers"),
    ("GET", "/api/tasks"),
    ("GET", "/api/task/info/none"),
    ("GET", "/api/task/types"),
    ("GET", "/api/queues/length"),
    ("GET", "/api/stats"),
    ("GET", "/api/stats/types"),
    ("GET", "/api/stats/throughput"),
    ("GET", "/api/task/result/none"),
    ("POST", "/api/task/revoke/none"),
    ("POST", "/api/task/retry/none"),
    ("POST", "/api/task/rate-limit/none"),
    ("POST", "/api/task/timeout/none"),
    ("POST", "/api/task/apply/none?timeout=0"),
    ("POST", "/api/task/async-apply/none"),
    ("POST", "/api/task/send-task/none"),
    ("POST", "/api/tasks/revoke?dry_run=1"),
    ("POST", "/api/worker/shutdown/none"),
    ("POST", "/api/worker/pool/restart/none"),
    ("POST", "/api/worker/queue/add-consumer/none"),
    // The queue browser (issue 21).
    ("GET", "/api/queues/none"),
    ("GET", "/api/queues/none/messages"),
    ("GET", "/api/queues/none/unacked"),
    ("GET", "/api/task/none/queue"),
    ("POST", "/api/queues/none/purge?dry_run=1&q=name:x"),
];

fn flower() -> Base {
    Base::parse("flower").expect("a prefix")
}

/// Status, content type and body, redirects not followed.
async fn ask(method: &str, url: &str) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let response = client.request(method, url).send().await.expect("an answer");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, kind, response.text().await.expect("a body"))
}

/// The answer for a path nothing serves: the app's "not found" page.
fn is_not_found(status: u16, body: &str) -> bool {
    status == 404 && body.contains("There is no page here")
}

/// Whether `body` is a page rendered under `base`: its bundle, stylesheet
/// and links all there.
fn rendered_under(body: &str, base: Base) -> bool {
    body.contains(&format!(
        r#"<meta name="celadon-base" content="{}""#,
        base.as_str()
    )) && body.contains(&format!("{}/pkg/celadon.js", base.as_str()))
        && body.contains(&format!(r#"href="{}/pkg/celadon.css""#, base.as_str()))
        && body.contains(&format!(r#"href="{}/tasks""#, base.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_under_the_prefix_and_none_without_it() {
    let base = flower();
    let c = Cluster::start_with(|config| config.url_prefix = base).await;
    let bare = |path: &str| format!("http://{}{path}", c.celadon.addr);
    for page in PAGES {
        let (status, _, body) = ask("GET", &c.celadon.url(page)).await;
        assert!(
            status == 200 || !is_not_found(status, &body),
            "{page}: {status}"
        );
        assert!(rendered_under(&body, base), "{page}:\n{body}");
        let (status, _, body) = ask("GET", &bare(page)).await;
        assert!(is_not_found(status, &body), "{page} without: {status}");
    }
    for (method, path) in ROUTES {
        let (status, kind, body) = ask(method, &c.celadon.url(path)).await;
        assert!(
            !is_not_found(status, &body) && !body.contains("no API endpoint"),
            "{method} {path}: {status} {body}"
        );
        if path.starts_with("/api/") {
            assert_eq!(kind, "application/json", "{method} {path}: {body}");
        }
        let (status, _, body) = ask(method, &bare(path)).await;
        assert!(
            is_not_found(status, &body),
            "{method} {path} without: {status}"
        );
    }
    // The files of the site (the bundle, its stylesheet, public files).
    if server::api::has_ui_bundle() {
        for file in [
            "/pkg/celadon.js",
            "/pkg/celadon.wasm",
            "/pkg/celadon.css",
            "/favicon.svg",
        ] {
            let (status, _, _) = ask("GET", &c.celadon.url(file)).await;
            assert_eq!(status, 200, "{file}");
            let (status, _, body) = ask("GET", &bare(file)).await;
            assert!(is_not_found(status, &body), "{file} without: {status}");
        }
    }
    // The prefix alone leads to the main page, as `/` does without one.
    let (status, _, _) = ask("GET", &bare("/flower")).await;
    assert_eq!(status, 308);
    // The websocket: the cluster's watch opened it under the prefix.
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", c.celadon.addr)).await;
    assert!(refused.is_err(), "a websocket without the prefix");
    c.celadon.stop().await.expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_endpoint_answers_a_views_snapshot_and_names_a_bad_view() {
    let c = Cluster::start_with(|config| config.url_prefix = flower()).await;
    let (status, _, body) = ask("GET", &c.celadon.url(&snapshot_path(&View::Workers))).await;
    assert_eq!(status, 200, "{body}");
    let snapshot: Snapshot = serde_json::from_str(&body).expect("a Snapshot");
    assert!(matches!(snapshot.data, ViewData::Workers { .. }), "{body}");
    for bad in ["/snapshot", "/snapshot?view=%7B%22page%22%3A%22nope%22%7D"] {
        let (status, _, body) = ask("GET", &c.celadon.url(bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.starts_with(r#"{"error":"view: "#), "{bad}: {body}");
    }
    c.celadon.stop().await.expect("a clean stop");
}

fn snapshot_path(view: &View) -> String {
    app::live::poll::snapshot_url(Base::default(), view, false).expect("a URL")
}

/// Opens the websocket at `url` and reads its first message.
async fn first_message(url: &str) -> anyhow::Result<ServerMsg> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    let subscribe = ClientMsg::Subscribe { view: View::Broker };
    socket
        .send(Message::text(serde_json::to_string(&subscribe)?))
        .await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the socket closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_websocket_passes_only_where_the_upgrade_is_passed_on() {
    assert!(Nginx::installed(), "nginx is missing: run scripts/setup");
    let base = flower();
    let c = Cluster::start_with(|config| config.url_prefix = base).await;
    let upstream = c.celadon.addr.port();
    for proxying in [Proxying::WebSocket, Proxying::FlowerDocs] {
        let nginx = Nginx::start(&c.dir, upstream, base, proxying).expect("nginx starts");
        let (status, _, body) = ask("GET", &nginx.url("/tasks")).await;
        assert_eq!(status, 200, "{proxying:?}: {body}");
        assert!(rendered_under(&body, base), "{proxying:?}:\n{body}");
        let (status, kind, _) = ask("GET", &nginx.url("/api/workers")).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "application/json"),
            "{proxying:?}"
        );
        let (status, _, body) = ask("GET", &nginx.url(&snapshot_path(&View::Broker))).await;
        assert_eq!(status, 200, "{proxying:?}: {body}");
        serde_json::from_str::<Snapshot>(&body).expect("a Snapshot");

        let ws = nginx.url("/ws").replacen("http:", "ws:", 1);
        let first = first_message(&ws).await;
        match proxying {
            Proxying::WebSocket => assert!(
                matches!(first, Ok(ServerMsg::Snapshot { seq: 0, .. })),
                "{first:?}"
            ),
            Proxying::FlowerDocs => assert!(first.is_err(), "{first:?}"),
        }
    }
    c.celadon.stop().await.expect("a clean stop");
}
