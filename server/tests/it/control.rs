//! Control with real workers: revoke, terminate, faithful retry, bulk
//! retry, worker commands, and who may do any of it.

use std::time::Duration;

use serde_json::{Value, json};

use kit::{Celadon, Redis, Scratch, WorkerOptions};

use crate::support::{cluster::Cluster, http::Http};

/// A celadon without the usual websocket watcher (which would need the
/// password).
struct Guarded {
    celadon: Celadon,
}

const RUN: Duration = Duration::from_secs(30);

/// Polls `/api/task/info/<id>` until `done` holds.
async fn task_until(c: &Cluster, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    c.celadon
        .json_until(what, "/api/tasks", RUN, |tasks| done(&tasks[id]))
        .await[id]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_eta_task_never_runs() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("eta").await;
    let id = c.send("add", "[1, 2]", &["--countdown", "4"]);
    task_until(&c, &id, "the ETA task to be received", |t| {
        t["state"] == "RECEIVED"
    })
    .await;

    let (status, answer) = c
        .celadon
        .post(&format!("/api/task/revoke/{id}"), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["delivered"].as_i64().unwrap() >= 1);
    let reply = answer["replies"][&name]["ok"].as_str().unwrap();
    assert!(reply.contains("revoked"), "{answer}");

    let task = task_until(&c, &id, "the task to show REVOKED", |t| {
        t["state"] == "REVOKED"
    })
    .await;
    assert!(task["started"].is_null(), "it ran: {task}");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_running_task_revokes_it_and_the_worker_keeps_serving() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("term").await;
    let id = c.send("slow", "[30]", &[]);
    task_until(&c, &id, "the slow task to start", |t| {
        t["state"] == "STARTED"
    })
    .await;

    let (status, answer) = c
        .celadon
        .post(
            &format!("/api/task/revoke/{id}?terminate=true&signal=SIGTERM"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let reply = answer["replies"][&name]["ok"].as_str().unwrap();
    assert!(reply.contains("terminate"), "{answer}");
    task_until(&c, &id, "the task to show REVOKED", |t| {
        t["state"] == "REVOKED"
    })
    .await;
    let info = c.celadon.json(&format!("/api/task/info/{id}")).await;
    assert_eq!(info["terminated"], json!(true), "{info}");

    let next = c.send("add", "[2, 2]", &[]);
    let after = task_until(&c, &next, "the worker to run the next task", |t| {
        t["state"] == "SUCCESS"
    })
    .await;
    assert_eq!(after["result"], "4");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_resends_5_kb_of_arguments_byte_for_byte() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c.online_worker("retry").await;
    let big: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let args = json!([big, 42, {"nested": ["é", null, 1.5]}]);
    let id = c.send(
        "record",
        &args.to_string(),
        &["--kwargs", r#"{"fail": true, "note": "x"}"#],
    );
    task_until(&c, &id, "the task to fail", |t| t["state"] == "FAILURE").await;

    let (status, answer) = c.celadon.post(&format!("/api/task/retry/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "result-backend", "{answer}");
    let new = answer["task-id"].as_str().unwrap().to_string();
    assert_ne!(new, id);
    task_until(&c, &new, "the retry to run", |t| t["state"] == "FAILURE").await;

    let recorded = |task: &str| {
        std::fs::read(c.dir.path().join(format!("{task}.json")))
            .unwrap_or_else(|e| panic!("the worker recorded nothing for {task}: {e}"))
    };
    assert_eq!(
        recorded(&id),
        recorded(&new),
        "the retry's arguments differ"
    );
    let seen: Value = serde_json::from_slice(&recorded(&new)).unwrap();
    assert_eq!(seen[0], args);

    let old = c.celadon.json(&format!("/api/task/info/{id}")).await;
    assert_eq!(old["retried_as"], json!([new]), "{old}");
    let fresh = c.celadon.json(&format!("/api/task/info/{new}")).await;
    assert_eq!(fresh["retry_of"], json!(id), "{fresh}");
    c.celadon.stop().await.unwrap();
}

/// Arguments as Python's json writes them, which a `Value` round trip
/// would change: keys out of order at every depth, integers past 2^53 and
/// 2^63, Python's float spellings, escapes, text beyond ASCII.
const TRICKY_ARGS: &str = r#"[9007199254740993, 9223372036854775807, -9223372036854775808, 9223372036854775808, 1e-07, 2.5e+300, "a\"b\\c\n\u0001", "h\u00e9llo \u2603 \ud834\udd1e"]"#;
const TRICKY_KWARGS: &str =
    r#"{"zkw": {"b": 1, "a": [{"d": 2, "c": 3}]}, "akw": {"y": [], "x": {}}}"#;
const NO_EMBED: &str = r#"{"callbacks": null, "errbacks": null, "chain": null, "chord": null}"#;

/// The messages waiting in list `queue`, oldest first, each as
/// `(task id, decoded body)`.
fn waiting(c: &Cluster, queue: &str) -> Vec<(String, Vec<u8>)> {
    let raw: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(queue)
        .arg(0)
        .arg(-1)
        .query(&mut c.redis.connection().unwrap())
        .unwrap();
    raw.iter()
        .rev()
        .map(|m| {
            let envelope: Value = serde_json::from_slice(m).unwrap();
            let body = server::broker::envelope::decode_body(m).unwrap();
            (
                envelope["headers"]["id"].as_str().unwrap().to_string(),
                body,
            )
        })
        .collect()
}

/// What `echo_raw` recorded for `task`: Python's json of its arguments.
fn recorded_raw(c: &Cluster, task: &str) -> String {
    std::fs::read_to_string(c.dir.path().join(format!("{task}.raw.json")))
        .unwrap_or_else(|e| panic!("the worker recorded nothing for {task}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_resends_the_arguments_the_backend_holds_as_the_same_bytes() {
    let mut c = Cluster::start().await;
    // Celery sends the task to a queue no worker consumes yet, so the
    // message it wrote can be read.
    let id = c.send(
        "echo_raw",
        TRICKY_ARGS,
        &["--kwargs", TRICKY_KWARGS, "--queue", "raw"],
    );
    let sent = waiting(&c, "raw");
    assert_eq!(sent.len(), 1);
    let celery_body = sent[0].1.clone();
    let want = format!("[{TRICKY_ARGS}, {TRICKY_KWARGS}, {NO_EMBED}]");
    assert_eq!(
        std::str::from_utf8(&celery_body),
        Ok(want.as_str()),
        "Celery wrote the arguments as given"
    );
    let raw_queue = WorkerOptions {
        queues: Some("raw".into()),
        ..WorkerOptions::default()
    };
    let (worker, _) = c.online_worker_with("raw1", &raw_queue).await;
    task_until(&c, &id, "the task to succeed", |t| t["state"] == "SUCCESS").await;
    worker.stop_warm().await.unwrap();

    // The retry waits in the list, where no worker takes it.
    let (status, answer) = c.celadon.post(&format!("/api/task/retry/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "result-backend", "{answer}");
    let new = answer["task-id"].as_str().unwrap().to_string();
    let waiting_now = waiting(&c, "raw");
    assert_eq!(waiting_now.len(), 1, "only the retry waits");
    let (waiting_id, body) = &waiting_now[0];
    assert_eq!(waiting_id, &new);

    // Its arguments are the backend's bytes; the whole body is Celery's.
    let meta: Vec<u8> = redis::cmd("GET")
        .arg(format!("celery-task-meta-{id}"))
        .query(&mut c.redis.connection_to(1).unwrap())
        .unwrap();
    #[derive(serde::Deserialize)]
    struct Held {
        args: Box<serde_json::value::RawValue>,
        kwargs: Box<serde_json::value::RawValue>,
    }
    let held: Held = serde_json::from_slice(&meta).unwrap();
    let (args, kwargs) = (held.args.get(), held.kwargs.get());
    assert_eq!(args, TRICKY_ARGS, "the backend holds Celery's text");
    // Compared as text for readable failures: equal `str`s are equal bytes.
    let body = std::str::from_utf8(body).unwrap();
    let mut at = 0;
    for part in ["[", args, ", ", kwargs, ", ", NO_EMBED, "]"] {
        assert_eq!(
            body.get(at..at + part.len()),
            Some(part),
            "retry body at byte {at}"
        );
        at += part.len();
    }
    assert_eq!(at, body.len());
    assert_eq!(
        body.as_bytes(),
        celery_body,
        "the retry's body is the one Celery sent"
    );

    // A worker runs it with the same arguments, in the same order.
    let (_worker, _) = c.online_worker_with("raw2", &raw_queue).await;
    task_until(&c, &new, "the retry to succeed", |t| {
        t["state"] == "SUCCESS"
    })
    .await;
    assert_eq!(
        recorded_raw(&c, &id),
        format!("[{TRICKY_ARGS}, {TRICKY_KWARGS}]")
    );
    assert_eq!(recorded_raw(&c, &new), recorded_raw(&c, &id));
    let fresh = c.celadon.json(&format!("/api/task/info/{new}")).await;
    assert_eq!(
        fresh["kwargs"], "{'zkw': {'b': 1, 'a': [{'d': 2, 'c': 3}]}, 'akw': {'y': [], 'x': {}}}",
        "the events show the kwargs in their order"
    );

    // A task sent through the API gets the client's text as it is.
    let body = format!(r#"{{"kwargs": {TRICKY_KWARGS}, "args": {TRICKY_ARGS}, "queue": "raw"}}"#);
    let (status, answer) = c
        .celadon
        .post_text("/api/task/async-apply/celadon_tasks.echo_raw", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    let api = answer["task-id"].as_str().unwrap().to_string();
    task_until(&c, &api, "the sent task to succeed", |t| {
        t["state"] == "SUCCESS"
    })
    .await;
    assert_eq!(
        recorded_raw(&c, &api),
        format!("[{TRICKY_ARGS}, {TRICKY_KWARGS}]")
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_source_of_exact_arguments_a_retry_is_refused() {
    // No result backend; the worker has long forgotten the task; the
    // events' repr of 5 KB of args is cut at 1024 characters.
    let mut c = Cluster::start_with(|config| config.result_backend = None).await;
    let (_w, _name) = c.online_worker("norepr").await;
    let big = "z".repeat(5000);
    let long = c.send(
        "record",
        &json!([big]).to_string(),
        &["--kwargs", r#"{"fail": true}"#],
    );
    let short = c.send("record", "[1, \"two\"]", &["--kwargs", r#"{"fail": true}"#]);
    for id in [&long, &short] {
        task_until(&c, id, "the task to fail", |t| t["state"] == "FAILURE").await;
    }

    let (status, answer) = c
        .celadon
        .post(&format!("/api/task/retry/{long}"), None)
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("result_extended")
    );

    let (status, answer) = c
        .celadon
        .post(&format!("/api/task/retry/{short}"), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "repr");
    let new = answer["task-id"].as_str().unwrap().to_string();
    task_until(&c, &new, "the retry to run", |t| t["state"] == "FAILURE").await;
    let seen: Value =
        serde_json::from_slice(&std::fs::read(c.dir.path().join(format!("{new}.json"))).unwrap())
            .unwrap();
    assert_eq!(seen, json!([[1, "two"], {"fail": true}]));
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_retry_of_twenty_failed_tasks_after_a_dry_run() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c
        .online_worker_with(
            "bulk",
            &WorkerOptions {
                concurrency: 2,
                ..WorkerOptions::default()
            },
        )
        .await;
    let ids: Vec<String> = (0..20)
        .map(|i| c.send("fail", &json!([format!("bulk {i}")]).to_string(), &[]))
        .collect();
    c.finished(&ids, RUN).await;
    let query = "search=state%3AFAILURE%20name%3Aceladon_tasks.fail";

    let (status, dry) = c
        .celadon
        .post(&format!("/api/tasks/retry?{query}&dry_run=1"), None)
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["count"], 20, "{dry}");
    assert!(!dry["first"].as_array().unwrap().is_empty());
    // A dry run sends nothing.
    let tasks = c.celadon.json("/api/tasks").await;
    assert_eq!(tasks.as_object().unwrap().len(), 20);

    let (status, done) = c
        .celadon
        .post(&format!("/api/tasks/retry?{query}"), None)
        .await;
    assert_eq!(status, 200, "{done}");
    let retried: Vec<String> = done["retried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task-id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(retried.len(), 20, "{done}");
    let after = c.finished(&retried, RUN).await;
    for id in &retried {
        assert_eq!(after[id]["state"], "FAILURE");
    }
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_grow_shows_in_stats_and_a_rate_limit_is_applied() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("pool").await;
    let processes = |workers: &Value| {
        workers[&name]["stats"]["pool"]["processes"]
            .as_array()
            .map(Vec::len)
    };
    // A worker just started may answer its first `stats` after the
    // inspect timeout when the machine is busy (seen in CI): ask again.
    c.celadon
        .json_until(
            "stats to show one process",
            &format!("/api/workers?refresh=1&workername={name}"),
            RUN,
            |w| processes(w).is_some(),
        )
        .await;
    let before = c
        .celadon
        .json(&format!("/api/workers?workername={name}"))
        .await;
    assert_eq!(processes(&before), Some(1), "{before}");

    let (status, answer) = c
        .celadon
        .post(&format!("/api/worker/pool/grow/{name}?n=1"), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        format!("Growing '{name}' worker's pool by 1"),
        "Flower's message"
    );
    assert_eq!(
        answer["replies"][&name]["ok"], "pool will grow",
        "and the worker's"
    );
    c.celadon
        .json_until(
            "stats to show two processes",
            &format!("/api/workers?refresh=1&workername={name}"),
            RUN,
            |w| processes(w) == Some(2),
        )
        .await;

    let (status, answer) = c
        .celadon
        .post(
            &format!("/api/task/rate-limit/celadon_tasks.add?workername={name}&ratelimit=10/m"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["message"], "new rate limit set successfully");

    let (status, answer) = c
        .celadon
        .post(
            &format!("/api/task/rate-limit/celadon_tasks.add?workername={name}&ratelimit=lots"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("10/m"));

    let (status, answer) = c
        .celadon
        .post(
            &format!("/api/worker/pool/autoscale/{name}?max=2&min=1"),
            None,
        )
        .await;
    assert_eq!(status, 403, "the worker's error is passed on: {answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("Failed to autoscale '{name}' worker: ")),
        "Flower's words: {error}"
    );
    assert!(error.contains("Autoscale not enabled"), "{error}");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_with_no_worker_online_is_reported_as_not_delivered() {
    let c = Cluster::start().await;
    let (status, answer) = c
        .celadon
        .post(
            "/api/task/revoke/4f4b1c3e-0000-4000-8000-000000000001",
            None,
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("not delivered"));
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_sent_through_the_api_run_and_their_results_are_read_back() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c.online_worker("api").await;
    let (status, answer) = c
        .celadon
        .post(
            "/api/task/async-apply/celadon_tasks.add",
            Some(json!({"args": [20, 22]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["task-id"].as_str().unwrap().to_string();
    task_until(&c, &id, "the sent task to succeed", |t| {
        t["state"] == "SUCCESS"
    })
    .await;
    let result = c.celadon.json(&format!("/api/task/result/{id}")).await;
    assert_eq!(result["state"], "SUCCESS");
    assert_eq!(result["result"], 42);

    let (status, answer) = c
        .celadon
        .post(
            "/api/task/apply/celadon_tasks.add",
            Some(json!({"args": [1, 1]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], 2, "{answer}");

    let (status, answer) = c
        .celadon
        .post(
            "/api/task/async-apply/celadon_tasks.add",
            Some(json!({"args": {"x": 1}})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("args"));
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_and_basic_auth_guard_pages_api_and_websocket() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let mut config = server::Config::new(redis.broker_url());
    config.read_only = true;
    config.basic_auth = vec![("ann".into(), "s3cret".into())];
    let celadon = Celadon::start_with(config).await.unwrap();
    let c = Guarded { celadon };
    let http = reqwest::Client::new();
    let get = |path: &str, auth: bool| {
        let mut r = http.get(c.celadon.url(path));
        if auth {
            r = r.basic_auth("ann", Some("s3cret"));
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    for path in ["/", "/tasks", "/api/tasks", "/api/workers", "/ws"] {
        assert_eq!(get(path, false).await, 401, "{path} without a password");
    }
    for path in ["/", "/tasks", "/api/tasks"] {
        assert_eq!(get(path, true).await, 200, "{path} with a password");
    }
    for path in ["/healthcheck", "/metrics"] {
        assert_eq!(get(path, false).await, 200, "{path} stays open");
    }
    let wrong = http
        .get(c.celadon.url("/api/tasks"))
        .basic_auth("ann", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let post = http
        .post(
            c.celadon
                .url("/api/task/revoke/4f4b1c3e-0000-4000-8000-000000000001"),
        )
        .basic_auth("ann", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 403);
    let body: Value = post.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("read-only"));
    let page = http
        .get(c.celadon.url("/tasks"))
        .basic_auth("ann", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The page's snapshot, serialized (and escaped) for hydration.
    assert!(
        page.replace('\\', "").contains("\"controls\":false"),
        "the UI is told to hide actions"
    );
    c.celadon.stop().await.unwrap();
}

/// Flower's rule: with no login configured, the API answers 401 unless
/// FLOWER_UNAUTHENTICATED_API opens it, and the pages offer no controls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_login_the_api_is_closed_unless_opened() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let celadon = Celadon::start_with(server::Config::new(redis.broker_url()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = http.get(celadon.url("/api/workers")).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 401);
    let body: Value = api.json().await.unwrap();
    assert_eq!(
        body["error"],
        "FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication"
    );
    let page = http.get(celadon.url("/tasks")).send().await.unwrap();
    assert_eq!(
        page.status().as_u16(),
        200,
        "the pages stay open, as Flower's"
    );
    let page = page.text().await.unwrap();
    assert!(
        page.replace('\\', "").contains("\"controls\":false"),
        "the UI is told to hide actions it could not take"
    );
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_requests_from_other_sites_are_refused() {
    let c = Cluster::start().await;
    let response = reqwest::Client::new()
        .post(
            c.celadon
                .url("/api/task/revoke/4f4b1c3e-0000-4000-8000-000000000001"),
        )
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let get = reqwest::Client::new()
        .get(
            c.celadon
                .url("/api/task/revoke/4f4b1c3e-0000-4000-8000-000000000001"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405, "control is POST only");
    c.celadon.stop().await.unwrap();
}
