//! The Workers slice end to end below the browser: real Redis, real Celery
//! workers, the real server, watched over its websocket.

use std::time::Duration;

use app::wire::BrokerState;
use kit::{Celadon, Redis, Scratch, Worker, celery::WORKER_START};

use crate::support::{
    cluster::Cluster,
    http::Http,
    watch::{Watch, broker_state, is_offline, is_online, worker},
};

/// Heartbeat expiry is `freq * 2` = 4 s after the last heartbeat.
const HEARTBEAT_EXPIRY: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_appears_live_and_goes_offline_on_warm_shutdown() {
    let mut c = Cluster::start().await;
    let (w, name) = c.online_worker("warm").await;
    let row = worker(&c.watch.model, &name).unwrap();
    assert_eq!(row.sw_ident.as_deref(), Some("py-celery"));
    assert_eq!(row.sw_ver.as_deref(), Some("5.7.0"));
    assert!(row.loadavg.is_some() && row.processed.is_some());

    w.stop_warm().await.unwrap();
    c.watch
        .until(
            "worker-offline to take it offline",
            Duration::from_secs(5),
            |m| is_offline(m, &name),
        )
        .await;
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_goes_offline_when_its_heartbeats_stop() {
    let mut c = Cluster::start().await;
    let (w, name) = c.online_worker("doomed").await;

    w.kill();
    c.watch
        .until(
            "heartbeat expiry to take it offline",
            HEARTBEAT_EXPIRY,
            |m| is_offline(m, &name),
        )
        .await;
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_and_retried_until_redis_appears() {
    let dir = Scratch::new().unwrap();
    let celadon = Celadon::start(Redis::broker_url_in(&dir)).await.unwrap();

    let (status, page) = celadon.get("/").await;
    assert_eq!(status, 200, "the server serves while the broker is down");
    assert!(page.contains("Workers"));
    let mut watch = Watch::workers(&celadon).await;
    watch
        .until(
            "the broker to be reported unreachable",
            Duration::from_secs(10),
            |m| broker_state(m) == Some(BrokerState::Unreachable),
        )
        .await;
    let detail = watch.model.broker.as_ref().and_then(|b| b.detail.clone());
    assert!(detail.is_some_and(|d| !d.is_empty()), "says why");

    let redis = Redis::start(&dir).unwrap();
    watch
        .until("the reader to reconnect", Duration::from_secs(10), |m| {
            broker_state(m) == Some(BrokerState::Connected)
        })
        .await;
    let w = Worker::start(&redis, "late", &dir).unwrap();
    watch
        .until("the worker to come online", WORKER_START, |m| {
            is_online(m, &w.hostname)
        })
        .await;
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_page_load_is_rendered_with_the_current_workers() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("rendered").await;

    let (status, page) = c.celadon.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(
            r#"<tr data-worker="{name}" data-status="online">"#
        )),
        "server-rendered row for {name} in:\n{page}"
    );
    let (status, _) = c.celadon.get("/no/such/page").await;
    assert_eq!(status, 404);
    let (status, body) = c.celadon.get("/healthcheck").await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_event_channels_is_skipped_and_real_events_still_count() {
    let mut c = Cluster::start().await;
    let heartbeat = fixture_payload("worker-heartbeat");
    let truncated = heartbeat[..heartbeat.len() / 2].to_vec();
    let junk: Vec<(&str, Vec<u8>)> = vec![
        (
            "/0.celeryev/worker.heartbeat",
            b"\x00\xff\xfe not json".to_vec(),
        ),
        ("/0.celeryev/task.multi", truncated),
        (
            "/0.celeryev/worker.online",
            br#"{"body": "!!!", "properties": {"body_encoding": "base64"}}"#.to_vec(),
        ),
        (
            "/0.celeryev/worker.heartbeat",
            br#"{"body": "[1, 2, 3]", "properties": {}}"#.to_vec(),
        ),
        (
            "/0.celeryev/task.multi",
            (0..=255u8).cycle().take(100_000).collect(),
        ),
    ];
    let mut conn = c.redis.connection().unwrap();
    for (channel, payload) in junk {
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query(&mut conn)
            .unwrap();
        assert_eq!(receivers, 1, "celadon is subscribed");
    }
    let _: i64 = redis::cmd("PUBLISH")
        .arg("/0.celeryev/worker.heartbeat")
        .arg(heartbeat)
        .query(&mut conn)
        .unwrap();
    c.watch
        .until(
            "the valid heartbeat after the junk",
            Duration::from_secs(5),
            |m| is_online(m, "w1@vm"),
        )
        .await;
    let (status, _) = c.celadon.get("/").await;
    assert_eq!(status, 200);
    // Five payloads; the fourth is a list of three non-events.
    let stats = c.celadon.json("/api/stats").await;
    assert_eq!(stats["events"]["undecodable"], 7, "{stats:#}");
    let (_, metrics) = c.celadon.get("/metrics").await;
    assert!(
        metrics.contains("\nceladon_events_undecodable_total 7.0\n"),
        "{metrics}"
    );
    c.celadon.stop().await.unwrap();
}

/// The exact PUBLISH payload of a captured event fixture.
fn fixture_payload(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["raw"].as_str().unwrap().as_bytes().to_vec()
}
