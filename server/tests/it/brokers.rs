//! Brokers as kombu reaches them beyond a plain socket: Redis over TLS
//! (verified, with a client certificate) and Redis Sentinel through a
//! failover, with real Celery workers on the same URLs.

use std::{process::Command, time::Duration};

use app::{live::model::LiveModel, wire::BrokerState};
use kit::{
    Celadon, Certs, RedisTls, Scratch, Sentinel, Worker,
    celery::{WORKER_START, send},
};
use serde_json::Value;
use server::broker::{
    backend::BackendUrl,
    transport::{Role, TransportOptions},
    url::BrokerUrl,
};

use crate::support::{
    http::Http,
    watch::{Watch, broker_state, is_online},
};

const RUN: Duration = Duration::from_secs(40);

/// The broker status the pages show: its state and detail.
fn status(model: &LiveModel) -> (Option<BrokerState>, String) {
    let detail = model
        .broker
        .as_ref()
        .and_then(|b| b.detail.clone())
        .unwrap_or_default();
    (broker_state(model), detail)
}

async fn task_state(celadon: &Celadon, id: &str, state: &str) -> Value {
    celadon
        .json_until(
            &format!("task {id} to be {state}"),
            "/api/tasks",
            RUN,
            |t| t[id]["state"] == state,
        )
        .await[id]
        .clone()
}

/// Sends `tasks.add` with `args` through celadon's API; returns its id.
async fn send_through_celadon(celadon: &Celadon, args: &str) -> String {
    let args: Value = serde_json::from_str(args).unwrap();
    let (status, answer) = celadon
        .post(
            "/api/task/async-apply/celadon_tasks.add",
            Some(serde_json::json!({ "args": args })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["task-id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_a_tls_broker_are_seen_and_controlled_through_rediss() {
    let dir = Scratch::new().unwrap();
    let redis = RedisTls::start(&dir).unwrap();
    let mut config = Celadon::config(BrokerUrl::parse(&redis.url(0)).unwrap());
    config.result_backend = Some(BackendUrl::Redis(BrokerUrl::parse(&redis.url(1)).unwrap()));
    let celadon = Celadon::start_with(config).await.unwrap();
    let mut watch = Watch::workers(&celadon).await;
    let worker = Worker::start(&redis, "tls", &dir).unwrap();
    watch
        .until("the worker on the TLS broker", WORKER_START, |m| {
            is_online(m, &worker.hostname)
        })
        .await;

    let eta = send(&redis, "add", "[1, 2]", &["--countdown", "4"]).unwrap();
    task_state(&celadon, &eta, "RECEIVED").await;
    let (status, answer) = celadon.post(&format!("/api/task/revoke/{eta}"), None).await;
    assert_eq!(status, 200, "{answer}");
    let reply = answer["replies"][&worker.hostname]["ok"].as_str().unwrap();
    assert!(reply.contains("revoked"), "{answer}");
    task_state(&celadon, &eta, "REVOKED").await;

    let quick = send(&redis, "add", "[2, 3]", &[]).unwrap();
    task_state(&celadon, &quick, "SUCCESS").await;
    let result = celadon.json(&format!("/api/task/result/{quick}")).await;
    assert_eq!(
        result["result"], 5,
        "read from the backend over TLS: {result}"
    );
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_saying_which_and_why() {
    let dir = Scratch::new().unwrap();
    let redis = RedisTls::start(&dir).unwrap();
    let other = Certs::make(dir.path(), "other").unwrap();
    let wrong_ca = redis.url_trusting(0, &other.ca);

    let celadon = Celadon::start_with(Celadon::config(BrokerUrl::parse(&wrong_ca).unwrap()))
        .await
        .unwrap();
    let mut watch = Watch::workers(&celadon).await;
    let ca = other.ca.display().to_string();
    watch
        .until(
            "the broker status to say why",
            Duration::from_secs(10),
            |m| {
                let (state, detail) = status(m);
                state == Some(BrokerState::Unreachable)
                    && detail.contains("the server's certificate was refused")
                    && detail.contains("it is not signed by a trusted CA")
                    && detail.contains(&format!("ssl_ca_certs={ca}"))
            },
        )
        .await;
    let stats = celadon.json("/api/stats").await;
    assert_eq!(stats["broker_connected"], false, "{stats}");
    celadon.stop().await.unwrap();

    // The binary logs why, too; here without a client certificate, which
    // the server requires.
    let no_client_cert = format!(
        "rediss://127.0.0.1:{}/0?ssl_cert_reqs=required&ssl_ca_certs={}",
        redis.port,
        redis.certs.ca.display()
    );
    let mut binary = kit::Proc::spawn(
        "celadon",
        Command::new(env!("CARGO_BIN_EXE_celadon"))
            .arg(format!("--broker={no_client_cert}"))
            .args(["--address=127.0.0.1", "--port=0"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1"),
        &dir,
    )
    .unwrap();
    binary
        .ready("the log to say why", Duration::from_secs(15), |p| {
            let log = p.log();
            (log.contains("broker unreachable")
                && log.contains("the server requires a client certificate"))
            .then_some(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celadon_follows_a_sentinel_failover_and_sees_tasks_sent_after_it() {
    let dir = Scratch::new().unwrap();
    let sentinel = Sentinel::start(&dir).unwrap();
    let options = TransportOptions::parse(
        r#"{"master_name": "mymaster", "client_name": "celadon-it", "socket_keepalive": true}"#,
        Role::Broker,
    )
    .unwrap();
    let mut config = Celadon::config(BrokerUrl::parse(&sentinel.url(0)).unwrap());
    config.transport = options.clone();
    config.result_backend = Some(BackendUrl::Redis(
        BrokerUrl::parse(&sentinel.url(1)).unwrap(),
    ));
    config.backend_transport = options;
    let celadon = Celadon::start_with(config).await.unwrap();
    let mut watch = Watch::workers(&celadon).await;
    let old = sentinel.master_port().unwrap();
    let on = |port: u16| {
        move |m: &LiveModel| {
            let (state, detail) = status(m);
            state == Some(BrokerState::Connected) && detail.contains(&format!(":{port},"))
        }
    };
    watch
        .until("celadon on the master", Duration::from_secs(10), on(old))
        .await;
    let worker = Worker::start(&sentinel, "sentinel", &dir).unwrap();
    watch
        .until("the worker through Sentinel", WORKER_START, |m| {
            is_online(m, &worker.hostname)
        })
        .await;

    let before = send_through_celadon(&celadon, "[1, 1]").await;
    task_state(&celadon, &before, "SUCCESS").await;

    let new = sentinel.failover().unwrap();
    watch
        .until(
            "celadon on the new master within 5 s of its promotion",
            Duration::from_secs(5),
            on(new),
        )
        .await;
    // Its commands follow too: a task it sends now is written to the new
    // master (the old one would drop it when it is demoted).
    let by_celadon = send_through_celadon(&celadon, "[20, 22]").await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(
            &mut redis::Client::open(format!("redis://127.0.0.1:{new}"))
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
    assert!(
        clients.contains("name=celadon-it"),
        "celadon's connections carry its client_name: {clients}"
    );
    let stats = celadon.json("/api/stats").await;
    let gaps = stats["gaps"].as_array().unwrap();
    assert!(
        gaps.last().is_some_and(|g| g["to"].is_number()),
        "the switch is a closed gap: {stats}"
    );

    // Until Sentinel demotes the old master it still takes writes, which
    // its resync then drops; the workers move when it does.
    sentinel.await_demoted(old, new).unwrap();
    let id = send(&sentinel, "add", "[4, 5]", &[]).unwrap();
    task_state(&celadon, &id, "SUCCESS").await;
    task_state(&celadon, &by_celadon, "SUCCESS").await;
    let result = celadon
        .json(&format!("/api/task/result/{by_celadon}"))
        .await;
    assert_eq!(result["result"], 42, "read through Sentinel: {result}");
    celadon.stop().await.unwrap();
}
