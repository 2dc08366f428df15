//! The live model against real Celery workers: final states, runtimes,
//! args and counters through Flower's API; queues, metrics, gaps and
//! reconciliation; and agreement with Flower itself on the same run.

use std::time::Duration;

use serde_json::Value;

use kit::{Flower, FlowerOptions, WorkerOptions};

use crate::support::{cluster::Cluster, http::Http};

const FINISH: Duration = Duration::from_secs(40);

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_failure_retry_and_revoke_end_in_the_right_states() {
    let mut c = Cluster::start().await;
    let (_w, host) = c
        .online_worker_with(
            "main",
            &WorkerOptions {
                concurrency: 2,
                ..WorkerOptions::default()
            },
        )
        .await;
    let add = c.send("add", "[2, 3]", &[]);
    let fail = c.send("fail", "[\"boom\"]", &[]);
    let flaky = c.send("flaky", "[2, 0.1]", &[]);
    let slow = c.send("slow", "[0.4]", &[]);
    let eta = c.send("add", "[1, 1]", &["--countdown", "4"]);
    kit::celery::drive(&c.redis, &["revoke", &eta]).unwrap();

    let ids = [
        add.clone(),
        fail.clone(),
        flaky.clone(),
        slow.clone(),
        eta.clone(),
    ];
    let tasks = c.finished(&ids, FINISH).await;
    let t = |id: &str| tasks[id].clone();

    assert_eq!(t(&add)["state"], "SUCCESS");
    assert_eq!(t(&add)["result"], "5");
    assert_eq!(t(&add)["args"], "[2, 3]");
    assert_eq!(t(&add)["worker"], host.as_str());
    assert_eq!(t(&add)["name"], "celadon_tasks.add");
    assert!(t(&add)["runtime"].as_f64().is_some_and(|r| r > 0.0));

    assert_eq!(t(&fail)["state"], "FAILURE");
    assert_eq!(t(&fail)["exception"], "ValueError('boom')");
    assert!(
        t(&fail)["traceback"]
            .as_str()
            .is_some_and(|tb| tb.contains("ValueError: boom"))
    );

    assert_eq!(t(&flaky)["state"], "SUCCESS");
    assert_eq!(t(&flaky)["retries"], 2);
    assert_eq!(t(&flaky)["result"], "'succeeded after 2 retries'");

    assert!(t(&slow)["runtime"].as_f64().is_some_and(|r| r >= 0.4));
    assert_eq!(t(&eta)["state"], "REVOKED");
    assert!(
        t(&eta)["started"].is_null(),
        "a revoked ETA task never runs"
    );

    // Every task is finished, but the prefork children's events may still
    // be arriving out of order (a retried attempt's task-started after its
    // task-succeeded): the worker's counters settle a moment later.
    let expected = [
        ("task-failed", 1),
        ("task-retried", 2),
        ("task-revoked", 1),
        ("task-succeeded", 3),
        ("task-started", 6),
    ];
    let workers = c
        .celadon
        .json_until("the worker's counters", "/api/workers", FINISH, |w| {
            let counts = &w[&host]["events"]["task_events"];
            expected.iter().all(|(k, n)| counts[*k] == *n)
        })
        .await;
    let counts = &workers[&host]["events"]["task_events"];
    assert_eq!(counts["task-failed"], 1);
    assert_eq!(counts["task-retried"], 2);
    assert_eq!(counts["task-revoked"], 1);
    assert_eq!(counts["task-succeeded"], 3);
    assert_eq!(counts["task-started"], 6, "flaky ran three times");

    let info = c.celadon.json(&format!("/api/task/info/{fail}")).await;
    assert_eq!(info["state"], "FAILURE");
    let types = c.celadon.json("/api/task/types").await;
    let names: Vec<&str> = types["task-types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "celadon_tasks.add",
        "celadon_tasks.fail",
        "celadon_tasks.flaky",
        "celadon_tasks.slow",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let found = c
        .celadon
        .json("/api/tasks?search=state:FAILURE%20name:fail")
        .await;
    assert_eq!(
        found.as_object().unwrap().keys().collect::<Vec<_>>(),
        [&fail]
    );

    let (_, metrics) = c.celadon.get("/metrics").await;
    let failed_events = format!(
        "flower_events_total{{task=\"celadon_tasks.fail\",type=\"task-failed\",worker=\"{host}\"}}"
    );
    assert_eq!(metric(&metrics, &failed_events), Some(1.0), "{metrics}");
    let runtime_count = format!(
        "flower_task_runtime_seconds_count{{task=\"celadon_tasks.add\",worker=\"{host}\"}}"
    );
    assert_eq!(
        metric(&metrics, &runtime_count),
        Some(1.0),
        "the revoked add never ran"
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("flower_worker_online{{worker=\"{host}\"}}")
        ),
        Some(1.0)
    );
    assert!(
        metric(
            &metrics,
            "celadon_queue_wait_seconds_count{queue=\"celery\"}"
        )
        .is_some_and(|n| n >= 4.0),
        "{metrics}"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_without_task_events_is_switched_on() {
    let mut c = Cluster::start().await;
    let (w, host) = c
        .online_worker_with(
            "quiet",
            &WorkerOptions {
                events: false,
                ..WorkerOptions::default()
            },
        )
        .await;
    // enable_events is cast every 5 s: a task run before it lands sends
    // no events, so the task is sent once the worker says it was told.
    kit::poll::until_async(
        "the worker to be told to send task events",
        Duration::from_secs(15),
        || std::future::ready(Ok(w.log().contains("enabled by remote").then_some(()))),
    )
    .await
    .unwrap();
    let id = c.send("add", "[20, 22]", &[]);
    let tasks = c
        .finished(std::slice::from_ref(&id), Duration::from_secs(20))
        .await;
    assert_eq!(tasks[&id]["worker"], host.as_str());
    assert_eq!(tasks[&id]["result"], "42");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_no_worker_consumes_are_measured_and_listed() {
    let mut c = Cluster::start().await;
    let (_w, host) = c.online_worker("consumer").await;
    for _ in 0..3 {
        c.send("add", "[1, 2]", &["--queue", "orphans"]);
    }
    let lengths = c
        .celadon
        .json_until(
            "the orphans queue to be measured",
            "/api/queues/length",
            Duration::from_secs(15),
            |v| {
                v["active_queues"].as_array().is_some_and(|qs| {
                    qs.iter()
                        .any(|q| q["name"] == "orphans" && q["messages"] == 3)
                })
            },
        )
        .await;
    let queues = lengths["active_queues"].as_array().unwrap();
    let orphans = queues.iter().find(|q| q["name"] == "orphans").unwrap();
    assert_eq!(
        orphans["consumers"],
        Value::Array(vec![]),
        "nobody consumes it"
    );
    let celery = c
        .celadon
        .json_until(
            "the worker's queue to show its consumer",
            "/api/queues/length",
            Duration::from_secs(15),
            |v| {
                v["active_queues"].as_array().is_some_and(|qs| {
                    qs.iter()
                        .any(|q| q["name"] == "celery" && q["consumers"][0] == host.as_str())
                })
            },
        )
        .await;
    assert!(
        celery["active_queues"]
            .as_array()
            .is_some_and(|q| q.len() >= 2)
    );
    let (_, metrics) = c.celadon.get("/metrics").await;
    assert_eq!(
        metric(&metrics, "celadon_queue_length{queue=\"orphans\"}"),
        Some(3.0),
        "{metrics}"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_recorded_and_unfinished_tasks_are_reconciled() {
    let c = Cluster::start().await;
    let id = "0f0f0f0f-0000-4000-8000-000000000001";
    // A task seen starting, whose end will be missed.
    let started = serde_json::json!([
        {"type": "task-received", "uuid": id, "hostname": "w@h", "timestamp": 1.0, "name": "tasks.long", "args": "()", "kwargs": "{}", "retries": 0},
        {"type": "task-started", "uuid": id, "hostname": "w@h", "timestamp": 2.0}
    ]);
    let envelope = serde_json::json!({"body": started.to_string(), "content-type": "application/json", "properties": {}});
    let mut broker = c.redis.connection().unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("/0.celeryev/task.multi")
        .arg(envelope.to_string())
        .query(&mut broker)
        .unwrap();
    c.celadon
        .json_until(
            "the task to start",
            &format!("/api/task/info/{id}"),
            Duration::from_secs(5),
            |t| t["state"] == "STARTED",
        )
        .await;
    // Its end is only in the result backend; then the subscriber is cut.
    let meta = serde_json::json!({"status": "SUCCESS", "result": {"rows": 3}, "traceback": null, "children": [],
                                  "date_done": "2026-11-21T15:18:47.074174+00:00", "task_id": id});
    let mut backend = c.redis.connection_to(1).unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("celery-task-meta-{id}"))
        .arg(meta.to_string())
        .query(&mut backend)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut broker)
        .unwrap();

    let task = c
        .celadon
        .json_until(
            "reconciliation",
            &format!("/api/task/info/{id}"),
            Duration::from_secs(10),
            |t| t["state"] == "SUCCESS",
        )
        .await;
    assert_eq!(task["result"], "{'rows': 3}");
    let stats = c.celadon.json("/api/stats").await;
    let gaps = stats["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0]["to"].as_f64().is_some(),
        "the gap closed on reconnect"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celadon_and_flower_agree_task_by_task_on_the_same_run() {
    let mut c = Cluster::start().await;
    let flower = Flower::start(&c.redis, &c.dir, &FlowerOptions::default()).unwrap();
    let (_w, _) = c
        .online_worker_with(
            "both",
            &WorkerOptions {
                concurrency: 2,
                ..WorkerOptions::default()
            },
        )
        .await;
    let mut ids = Vec::new();
    ids.extend(
        c.send("add", "[3, 4]", &["--count", "10"])
            .lines()
            .map(str::to_string),
    );
    ids.extend(
        c.send("fail", "[\"nope\"]", &["--count", "4"])
            .lines()
            .map(str::to_string),
    );
    ids.extend(
        c.send("flaky", "[1, 0.1]", &["--count", "4"])
            .lines()
            .map(str::to_string),
    );
    ids.extend(
        c.send("slow", "[0.2]", &["--count", "2"])
            .lines()
            .map(str::to_string),
    );
    let ours = c.finished(&ids, FINISH).await;

    let start = tokio::time::Instant::now();
    let theirs = loop {
        let theirs = flower.json("/api/tasks").await;
        let done = ids
            .iter()
            .all(|id| matches!(theirs[id]["state"].as_str(), Some("SUCCESS" | "FAILURE")));
        if done {
            break theirs;
        }
        assert!(
            start.elapsed() < FINISH,
            "flower did not see every task finish: {theirs:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for id in &ids {
        for field in [
            "state",
            "worker",
            "runtime",
            "retries",
            "name",
            "args",
            "result",
            "exception",
        ] {
            assert_eq!(
                ours[id][field], theirs[id][field],
                "task {id}, field {field}"
            );
        }
    }
    c.celadon.stop().await.unwrap();
}
