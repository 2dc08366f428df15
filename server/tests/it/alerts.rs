//! Alerts against real parts: each rule kind fires and resolves on a real
//! cluster (a worker stopped, a queue nobody consumes, a task that fails,
//! a long task, a task type that stops succeeding), seen in `/api/alerts`,
//! its history, `/metrics` and every page's live model (the banner's
//! feed); a rule with a `for` pending there and nowhere else; and the `--alerts` file refused with its line and column. Rules
//! use short bounds so each test takes seconds.

use std::{path::Path, time::Duration};

use app::wire::alerts::SubjectKind;
use serde_json::Value;

use kit::{Worker, WorkerOptions};

use crate::support::{cluster::Cluster, http::Http};

/// How long an alert may take to fire or resolve: its bounds plus a few
/// evaluations (every 2 s) and queue measurements (every 2 s).
const ALERT: Duration = Duration::from_secs(30);

async fn cluster(rules: &str) -> Cluster {
    let file = server::alerts::file::parse(Path::new("it-alerts.toml"), rules, &|_| None)
        .expect("the test's rules are valid");
    Cluster::start_with(|c| c.alerts = Some(file)).await
}

/// The alerts of `rule` firing now, per `/api/alerts`.
fn firing<'a>(answer: &'a Value, rule: &str) -> Vec<&'a Value> {
    answer["firing"]
        .as_array()
        .expect("firing")
        .iter()
        .filter(|a| a["rule"] == rule)
        .collect()
}

/// Waits until `rule` fires for `subject`, and returns that alert.
async fn fires(c: &Cluster, rule: &str, subject: &str) -> Value {
    let answer = c
        .celadon
        .json_until(
            &format!("{rule} to fire for {subject}"),
            "/api/alerts",
            ALERT,
            |a| firing(a, rule).iter().any(|x| x["subject"] == subject),
        )
        .await;
    firing(&answer, rule)
        .into_iter()
        .find(|x| x["subject"] == subject)
        .cloned()
        .expect("found")
}

/// Waits until the alert `id` has ended, per the history; returns it.
async fn resolves(c: &Cluster, id: &str) -> Value {
    let history = c
        .celadon
        .json_until(
            &format!("alert {id} to resolve"),
            "/api/alerts/history",
            ALERT,
            |h| {
                h["alerts"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|a| a["id"] == id && a["ended"].is_number()))
            },
        )
        .await;
    let a = history["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .expect("found");
    let now = c.celadon.json("/api/alerts").await;
    assert!(
        now["firing"]
            .as_array()
            .expect("firing")
            .iter()
            .all(|x| x["id"] != id),
        "an ended alert no longer fires: {now}"
    );
    a
}

/// The alert `id` as the history keeps it: as it fired.
async fn in_history(c: &Cluster, id: &str) -> Value {
    let history = c.celadon.json("/api/alerts/history").await;
    history["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("alert {id} in the history: {history}"))
}

/// `celadon_alerts_firing{rule="…"}`'s value in `/metrics`.
async fn firing_metric(c: &Cluster, rule: &str) -> Option<String> {
    let (status, text) = c.celadon.get("/metrics").await;
    assert_eq!(status, 200);
    let prefix = format!("celadon_alerts_firing{{rule=\"{rule}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
}

#[tokio::test]
async fn a_stopped_worker_fires_worker_offline_on_the_api_metrics_and_every_page() {
    let mut c = cluster(
        "[[rule]]\nname = \"worker down\"\nkind = \"worker_offline\"\nafter = \"3s\"\n\
         severity = \"critical\"\n\n[[rule]]\nname = \"others down\"\nkind = \"worker_offline\"\n\
         after = \"3s\"\nworker = \"nobody@*\"\n\n[[rule]]\nname = \"down for long\"\n\
         kind = \"worker_offline\"\nafter = \"3s\"\nfor = \"1h\"\n",
    )
    .await;
    let (worker, hostname) = c.online_worker("down").await;
    assert_eq!(
        firing_metric(&c, "worker down").await.as_deref(),
        Some("0.0")
    );
    assert_eq!(
        firing_metric(&c, "others down").await.as_deref(),
        Some("0.0")
    );
    // Stopped as an operator stops one: it says goodbye (`worker-offline`),
    // and is silent from then on. (A killed one, which says nothing, is
    // the webhook test's.)
    let stopping = std::time::Instant::now();
    worker.stop_warm().await.expect("the worker stops");
    let stopped = std::time::Instant::now();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
    let alert = fires(&c, "worker down", &hostname).await;
    // Silent for 3 s, evaluated every 2 s.
    assert!(
        stopped.elapsed() < Duration::from_secs(12),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["subject_kind"], "worker");
    assert_eq!(alert["link"], "/worker/down%40it");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .starts_with("worker down@it offline for "),
        "{alert}"
    );
    assert_eq!(
        firing_metric(&c, "worker down").await.as_deref(),
        Some("1.0")
    );
    assert_eq!(
        firing_metric(&c, "others down").await.as_deref(),
        Some("0.0")
    );
    // The same silence, held for a rule's `for`: pending on the Alerts
    // page's answer, firing nowhere (set with the firing, at the same
    // evaluation).
    let answer = c.celadon.json("/api/alerts").await;
    let pending: Vec<&Value> = answer["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter(|p| p["rule"] == "down for long")
        .collect();
    assert_eq!(pending.len(), 1, "{answer}");
    let p = pending[0];
    assert_eq!(
        (
            &p["subject_kind"],
            &p["subject"],
            &p["link"],
            &p["severity"]
        ),
        (
            &Value::from("worker"),
            &Value::from(hostname.as_str()),
            &Value::from("/worker/down%40it"),
            &Value::from("warning")
        ),
        "{p}"
    );
    assert_eq!(
        p["fires_at"].as_f64(),
        p["since"].as_f64().map(|s| s + 3600.0),
        "{p}"
    );
    assert!(
        p["summary"]
            .as_str()
            .unwrap()
            .starts_with("worker down@it offline for "),
        "{p}"
    );
    assert!(firing(&answer, "down for long").is_empty(), "{answer}");
    assert_eq!(
        firing_metric(&c, "down for long").await.as_deref(),
        Some("0.0")
    );
    // What fires now says how long the worker has been silent now; the
    // history keeps the summary it fired with.
    let id = alert["id"].as_str().unwrap().to_string();
    let fired = in_history(&c, &id).await;
    assert_eq!(fired["started"], alert["started"]);
    let fired_summary = fired["summary"].as_str().unwrap().to_string();
    c.celadon
        .json_until(
            "the firing summary to follow the silence",
            "/api/alerts",
            ALERT,
            |a| {
                firing(a, "worker down").iter().any(|x| {
                    x["id"] == id.as_str()
                        && x["summary"] != fired_summary.as_str()
                        && x["summary"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("worker down@it offline for "))
                })
            },
        )
        .await;
    assert_eq!(in_history(&c, &id).await["summary"], fired_summary);
    // Every page's live model carries it (the banner's feed), as it reads
    // now, and nothing pending.
    c.watch
        .until("the page to show the alert as it reads now", ALERT, |m| {
            m.alerts.as_ref().is_some_and(|f| {
                f.alerts.iter().any(|a| {
                    a.id == id
                        && a.subject_kind == SubjectKind::Worker
                        && a.summary != fired_summary
                }) && f.alerts.iter().all(|a| a.rule != "down for long")
            })
        })
        .await;
    // The worker back: the alert ends, once, under the same id.
    // (Its log goes to a directory of its own: the first one's is kept.)
    let logs = kit::Scratch::new().expect("scratch");
    let _back = Worker::start_with(&c.redis, "down", &logs, &WorkerOptions::default())
        .expect("the worker starts again");
    let ended = resolves(&c, &id).await;
    assert_eq!(ended["summary"], fired_summary, "as it fired");
    assert_eq!(ended["started"], alert["started"]);
    // Cleared at the same evaluation: no longer pending, never fired.
    let answer = c.celadon.json("/api/alerts").await;
    assert_eq!(answer["pending"], serde_json::json!([]), "{answer}");
    assert_eq!(
        firing_metric(&c, "worker down").await.as_deref(),
        Some("0.0")
    );
    c.watch
        .until("the page to drop the alert", ALERT, |m| {
            m.alerts.as_ref().is_some_and(|f| f.alerts.is_empty())
        })
        .await;
    let history = c.celadon.json("/api/alerts/history").await;
    let of_rule: Vec<&Value> = history["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "worker down")
        .collect();
    assert_eq!(of_rule.len(), 1, "one firing, no duplicate: {history}");
    assert!(
        history["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["rule"] != "down for long"),
        "a pending alert is not history: {history}"
    );
}

#[tokio::test]
async fn a_queue_nobody_consumes_fires_queue_depth_until_a_worker_drains_it() {
    let mut c = cluster(
        "[[rule]]\nname = \"backlog\"\nkind = \"queue_depth\"\ndepth = 3\nduring = \"4s\"\n\
         queue = \"blocked*\"\n",
    )
    .await;
    c.send(
        "celadon_tasks.add",
        "[1, 2]",
        &["--queue", "blocked", "--count", "5"],
    );
    let alert = fires(&c, "backlog", "blocked").await;
    assert_eq!(
        alert["summary"],
        "queue blocked holds 5 messages (more than 3 for 4 s)"
    );
    assert_eq!(alert["link"], "/broker/queue/blocked");
    let id = alert["id"].as_str().unwrap().to_string();
    let options = WorkerOptions {
        queues: Some("blocked".into()),
        ..WorkerOptions::default()
    };
    let _consumer = c.online_worker_with("drain", &options).await;
    resolves(&c, &id).await;
}

#[tokio::test]
async fn failing_calls_fire_failure_ratio_and_it_resolves_when_the_window_passes() {
    let mut c = cluster(
        "[[rule]]\nname = \"failing\"\nkind = \"failure_ratio\"\npercent = 50\nwindow = \"8s\"\n\
         min_count = 3\ntask = \"celadon_tasks.*\"\n",
    )
    .await;
    let _worker = c.online_worker("w").await;
    let ids = c.send("celadon_tasks.fail", "[\"nope\"]", &["--count", "3"]);
    let ids: Vec<String> = ids.lines().map(str::to_string).collect();
    c.finished(&ids, ALERT).await;
    let alert = fires(&c, "failing", "celadon_tasks.fail").await;
    assert_eq!(
        alert["summary"],
        "celadon_tasks.fail: 3 of 3 failed over the last 8 s (100 % > 50 %)"
    );
    assert_eq!(
        alert["link"],
        "/tasks?state=FAILURE&name=celadon_tasks.fail"
    );
    assert_eq!(alert["subject_kind"], "task_name");
    resolves(&c, alert["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn tasks_that_waited_fire_queue_wait_and_it_resolves_when_the_window_passes() {
    let mut c = cluster(
        "[[rule]]\nname = \"slow start\"\nkind = \"queue_wait\"\np95 = \"1s\"\nwindow = \"8s\"\n",
    )
    .await;
    let ids = c.send(
        "celadon_tasks.add",
        "[1, 2]",
        &["--queue", "late", "--count", "3"],
    );
    let ids: Vec<String> = ids.lines().map(str::to_string).collect();
    // Nobody consumes "late" yet: its tasks wait (the wait is what is
    // measured, not a hope that something happened meanwhile).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let options = WorkerOptions {
        queues: Some("late".into()),
        ..WorkerOptions::default()
    };
    let _consumer = c.online_worker_with("late", &options).await;
    c.finished(&ids, ALERT).await;
    let alert = fires(&c, "slow start", "").await;
    assert_eq!(alert["subject_kind"], "cluster");
    assert_eq!(alert["link"], "/graphs");
    let summary = alert["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("p95 queue wait ")
            && summary.ends_with(" over the last 8 s (above 1 s)"),
        "{alert}"
    );
    resolves(&c, alert["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_long_task_fires_stuck_started_until_it_finishes() {
    let mut c = cluster(
        "[[rule]]\nname = \"stuck\"\nkind = \"stuck_started\"\nafter = \"2s\"\n\
         task = \"celadon_tasks.slow\"\n",
    )
    .await;
    let _worker = c.online_worker("w").await;
    let id = c.send("celadon_tasks.slow", "[8]", &[]);
    let alert = fires(&c, "stuck", &id).await;
    assert_eq!(alert["subject_kind"], "task");
    assert_eq!(alert["link"], format!("/task/{id}"));
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("task {id} (celadon_tasks.slow) started ")),
        "{alert}"
    );
    c.finished(std::slice::from_ref(&id), ALERT).await;
    resolves(&c, alert["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_task_type_that_stops_succeeding_fires_no_success_and_a_success_resolves_it() {
    let mut c = cluster(
        "[[rule]]\nname = \"beat stopped\"\nkind = \"no_success\"\nperiod = \"5s\"\n\
         task = \"celadon_tasks.add\"\n",
    )
    .await;
    let _worker = c.online_worker("w").await;
    let first = c.send("celadon_tasks.add", "[1, 1]", &[]);
    c.finished(&[first], ALERT).await;
    let alert = fires(&c, "beat stopped", "celadon_tasks.add").await;
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .starts_with("celadon_tasks.add: no success in the last 5 s; last success "),
        "{alert}"
    );
    let again = c.send("celadon_tasks.add", "[2, 2]", &[]);
    c.finished(&[again], ALERT).await;
    resolves(&c, alert["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn rules_and_webhooks_added_on_the_page_are_checked_kept_and_never_show_a_secret() {
    let dir = kit::Scratch::new().expect("scratch");
    let db = dir.path().join("history.db");
    let redis = kit::Redis::start(&dir).expect("redis");
    let start = |db: std::path::PathBuf| {
        let mut config = kit::Celadon::config(redis.broker_url());
        config.history = Some(server::store::HistoryConfig {
            location: server::store::Location::Sqlite(db),
            save_interval: Duration::from_millis(200),
            retention: None,
            max_size: None,
        });
        config.alerts = Some(
            server::alerts::file::parse(
                Path::new("it-alerts.toml"),
                "[[rule]]\nname = \"from file\"\nkind = \"queue_wait\"\np95 = \"30s\"\n",
                &|_| None,
            )
            .expect("valid"),
        );
        kit::Celadon::start_with(config)
    };
    let celadon = start(db.clone()).await.expect("celadon starts");
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: &str| {
        client
            .request(method, celadon.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = answer(
        send(
            reqwest::Method::POST,
            "/api/alerts/rules",
            r#"{"name":"x","kind":"worker_offline"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("after: missing (a worker_offline rule needs it)"))
    );
    let (status, body) = answer(
        send(
            reqwest::Method::POST,
            "/api/alerts/rules",
            r#"{"name":"x","kind":"worker_offline","after":"1m","colour":1}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("body: unknown field `colour`"),
        "{body}"
    );
    let (status, _) = answer(
        send(
            reqwest::Method::POST,
            "/api/alerts/rules",
            r#"{"name":"page down","kind":"worker_offline","after":"1m"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = answer(
        send(reqwest::Method::DELETE, "/api/alerts/rules/from file", "")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = answer(
        send(
            reqwest::Method::POST,
            "/api/alerts/webhooks",
            r#"{"name":"ops","url":"http://127.0.0.1:9/hook","format":"slack","secret":"hunter2"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["has_secret"], true);
    let (status, body) = answer(
        send(
            reqwest::Method::PUT,
            "/api/alerts/webhooks/ops",
            r#"{"name":"ops","url":"http://127.0.0.1:9/other"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["has_secret"]),
        (200, &Value::Bool(true)),
        "an edit without a secret keeps it"
    );
    let (status, body) = answer(
        send(
            reqwest::Method::POST,
            "/api/alerts/webhooks",
            r#"{"name":"bad","url":"ftp://h/x"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let shown = celadon.json("/api/alerts").await;
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
    let names = |a: &Value| -> Vec<(String, String)> {
        a["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["spec"]["name"].as_str().unwrap().to_string(),
                    r["source"]["from"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&shown),
        [
            ("from file".to_string(), "file".to_string()),
            ("page down".into(), "page".into())
        ]
    );
    assert_eq!(shown["webhooks"][0]["url"], "http://127.0.0.1:9/other");
    assert!(shown["persisted"].as_bool().unwrap());
    // Each edit is in the audit trail, by what it did to which, refusals
    // included; the secret is not.
    let audit = celadon.json("/api/audit?action=alerts").await;
    assert!(!audit.to_string().contains("hunter2"), "{audit}");
    let done: Vec<(String, String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
                e["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let strs: Vec<(&str, &str, &str)> = done
        .iter()
        .map(|(a, t, r)| (a.as_str(), t.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        strs,
        [
            ("alerts.rules.add", "", "refused"),
            ("alerts.rules.add", "", "refused"),
            ("alerts.rules.add", "", "ok"),
            ("alerts.rules.delete", "from file", "refused"),
            ("alerts.webhooks.add", "", "ok"),
            ("alerts.webhooks.edit", "ops", "ok"),
            ("alerts.webhooks.add", "", "refused"),
        ],
        "{audit}"
    );
    // A restart reads the page's rules and webhooks back from the store.
    celadon.stop().await.expect("celadon stops");
    let again = start(db).await.expect("celadon starts again");
    let shown = again.json("/api/alerts").await;
    assert_eq!(
        names(&shown),
        [
            ("from file".to_string(), "file".to_string()),
            ("page down".into(), "page".into())
        ]
    );
    assert_eq!(shown["webhooks"][0]["has_secret"], true);
    let (_, metrics) = again.get("/metrics").await;
    assert!(
        metrics.contains("celadon_alerts_firing{rule=\"from file\"} 0.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("celadon_alerts_firing{rule=\"page down\"} 0.0\n"),
        "{metrics}"
    );
}

/// `celadon alerts export-prometheus`: the rules written out load in a real
/// Prometheus scraping celadon, every one healthy once evaluated, and
/// `promtool check rules` accepts the file; the rule it cannot express is
/// named.
#[tokio::test]
async fn exported_rules_load_and_evaluate_in_prometheus() {
    let mut c = cluster("").await;
    let rules = c.dir.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"down\"\nkind = \"worker_offline\"\nafter = \"1m\"\nworker = \"celery@web-*\"\n\
         severity = \"critical\"\n\n[[rule]]\nname = \"backlog\"\nkind = \"queue_depth\"\ndepth = 100\n\
         during = \"5m\"\n\n[[rule]]\nname = \"slow\"\nkind = \"queue_wait\"\np95 = \"30s\"\n\n\
         [[rule]]\nname = \"failing\"\nkind = \"failure_ratio\"\npercent = 20\nwindow = \"10m\"\n\
         min_count = 5\ntask = \"celadon_tasks.*\"\n\n[[rule]]\nname = \"beat\"\nkind = \"no_success\"\n\
         period = \"1h\"\ntask = \"celadon_tasks.add\"\n\n[[rule]]\nname = \"stuck\"\n\
         kind = \"stuck_started\"\nafter = \"1h\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_celadon"))
        .args(["alerts", "export-prometheus", "--alerts"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one rule left out");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "celadon alerts: rule \"stuck\" left out: no Prometheus series holds a task's start\n"
    );
    let exported = c.dir.path().join("celadon-rules.yml");
    std::fs::write(&exported, &out.stdout).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&exported)
        .output();
    if let Ok(check) = check {
        assert!(
            check.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let target = c.celadon.url("").trim_start_matches("http://").to_string();
    let target = target.trim_end_matches('/').to_string();
    let mut prometheus =
        kit::Prometheus::start_with_rules("celadon-rules", &target, &c.dir, &[exported])
            .await
            .expect("prometheus starts");
    prometheus
        .until_up()
        .await
        .expect("prometheus scrapes celadon");
    let _worker = c.online_worker("w").await;
    let deadline = tokio::time::Instant::now() + ALERT;
    loop {
        let data = prometheus.rules().await.expect("rules");
        let rules: Vec<(String, String)> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["health"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let names: Vec<&str> = rules.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            names,
            ["down", "backlog", "slow", "failing", "beat"],
            "{data}"
        );
        if rules.iter().all(|r| r.1 == "ok") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rules not all healthy: {data}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A worker stopped, its alert delivered to a webhook receiver started
/// here, which answers 500 to the first two attempts: the firing arrives
/// once accepted (after retries with backoff), then the resolved notice,
/// each body once, with an absolute link; and the Test button's endpoint
/// reaches it too.
#[tokio::test]
async fn notices_reach_a_webhook_through_500s_once_each_firing_then_resolved() {
    let receiver = kit::WebhookReceiver::start().await.expect("a receiver");
    receiver.fail_first(2, 500);
    let rules = format!(
        "[[rule]]\nname = \"worker down\"\nkind = \"worker_offline\"\nafter = \"3s\"\n\n\
         [[webhook]]\nname = \"ops\"\nurl = \"{}\"\nsecret = \"s3\"\n",
        receiver.url("/hook")
    );
    let file =
        server::alerts::file::parse(Path::new("it-alerts.toml"), &rules, &|_| None).expect("valid");
    let mut c = Cluster::start_with(|config| {
        config.alerts = Some(file);
        config.external_url = Some("https://celadon.example.com/flower".into());
    })
    .await;
    let (worker, hostname) = c.online_worker("down").await;
    worker.kill();
    let alert = fires(&c, "worker down", &hostname).await;
    let id = alert["id"].as_str().unwrap().to_string();
    let got = receiver
        .wait_for(3, ALERT)
        .await
        .expect("the firing, retried");
    let statuses: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(statuses[..3], [500, 500, 200], "retried until accepted");
    assert!(
        got[..3].iter().all(|r| r.body == got[0].body),
        "the same body each time"
    );
    let firing = got[2].json().unwrap();
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["key"], format!("worker down#{id}"));
    assert_eq!(firing["rule"], "worker down");
    assert_eq!(
        firing["summary"],
        in_history(&c, &id).await["summary"],
        "the summary as it fired"
    );
    assert_eq!(
        firing["link"],
        "https://celadon.example.com/flower/worker/down%40it"
    );
    assert_eq!(firing["details"]["worker"], hostname);
    assert!(
        got[2].header("x-celadon-signature").is_some(),
        "signed with the secret"
    );
    let logs = kit::Scratch::new().expect("scratch");
    let _back = Worker::start_with(&c.redis, "down", &logs, &WorkerOptions::default())
        .expect("the worker starts again");
    resolves(&c, &id).await;
    let got = receiver
        .wait_for(4, ALERT)
        .await
        .expect("the resolved notice");
    let resolved = got[3].json().unwrap();
    assert_eq!(
        (resolved["status"].as_str(), resolved["key"].as_str()),
        (Some("resolved"), Some(format!("worker down#{id}").as_str()))
    );
    assert!(resolved["ended_at"].is_number());
    // Nothing more: one firing and one end, however many evaluations ran.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receiver.requests().len(), 4, "no duplicate");
    // The Test button's endpoint: one delivery now, its answer shown.
    let (status, answer) = c.celadon.post("/api/alerts/webhooks/ops/test", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["delivered"].as_bool(), answer["status"].as_u64()),
        (Some(true), Some(200))
    );
    let test = receiver.requests();
    assert_eq!(test.len(), 5);
    assert_eq!(test[4].json().unwrap()["status"], "test");
    let (status, _) = c.celadon.post("/api/alerts/webhooks/nope/test", None).await;
    assert_eq!(status, 404);
    // The Alerts page's counters: two refused attempts, the two notices
    // delivered.
    let shown = c.celadon.json("/api/alerts").await;
    let ops = &shown["deliveries"]["webhooks"][0];
    assert_eq!(ops["name"], "ops", "{shown}");
    assert_eq!(ops["failed_attempts"], 2, "{shown}");
    assert!(ops["delivered"].as_u64().unwrap() >= 2, "{shown}");
    assert!(
        !shown.to_string().contains("\"s3\""),
        "the secret is never shown: {shown}"
    );
}

/// The alerts' tables in a PostgreSQL history (migration 3): firings,
/// the page's rules and webhooks written and read back as SQLite's are.
#[tokio::test]
async fn postgres_keeps_alert_history_rules_and_webhooks() {
    use app::wire::alerts::{Alert, RuleKind, RuleSpec, Severity, WebhookFormat};
    use server::alerts::trail::AlertStore;
    let pg = kit::Postgres::shared().unwrap();
    let url = pg.database("alerts_store").unwrap();
    let location = server::store::Location::Postgres(
        server::store::PgUrl::parse(&url).expect("the kit's URL parses"),
    );
    let store = AlertStore::open(Some(&location));
    assert!(store.persisted());
    let alert = |id: &str, started: f64, ended: Option<f64>| Alert {
        id: id.into(),
        rule: "down".into(),
        severity: Severity::Critical,
        subject_kind: SubjectKind::Worker,
        subject: "celery@a".into(),
        summary: "worker celery@a offline for 61 s".into(),
        link: "/worker/celery%40a".into(),
        started,
        ended,
    };
    store
        .record(vec![alert("p-1", 10.0, None), alert("p-2", 20.0, None)])
        .await
        .unwrap();
    store
        .record(vec![alert("p-1", 10.0, Some(30.0))])
        .await
        .unwrap();
    // Another connection (a restart, another replica) reads the same.
    let again = AlertStore::open(Some(&location));
    assert_eq!(
        again.open_alerts().await.unwrap(),
        vec![alert("p-2", 20.0, None)]
    );
    assert_eq!(
        again.history(10, None).await.unwrap(),
        vec![alert("p-2", 20.0, None), alert("p-1", 10.0, Some(30.0))]
    );
    let spec = RuleSpec {
        after: Some("60s".into()),
        ..RuleSpec::new("down", RuleKind::WorkerOffline)
    };
    store.put_rule(&spec, 1.0).await.unwrap();
    store
        .put_webhook(
            "ops",
            "http://h/x",
            WebhookFormat::Slack,
            Some("s".into()),
            1.0,
        )
        .await
        .unwrap();
    assert_eq!(again.rules().await.unwrap(), vec![spec]);
    let hooks = again.webhooks().await.unwrap();
    assert_eq!(
        (hooks[0].format, hooks[0].secret.as_deref()),
        (WebhookFormat::Slack, Some("s"))
    );
    assert!(again.delete_rule("down").await.unwrap());
    assert!(again.delete_webhook("ops").await.unwrap());
    assert!(store.rules().await.unwrap().is_empty());
}

/// Roles: anyone allowed in reads the alerts (a webhook's URL without its
/// path unless an admin asks); only an admin edits or tests.
#[tokio::test]
async fn only_an_admin_edits_alerts_and_a_viewer_sees_no_webhook_path() {
    let dir = kit::Scratch::new().unwrap();
    let redis = kit::Redis::start(&dir).unwrap();
    let mut config = kit::Celadon::config(redis.broker_url());
    config.basic_auth = ["ann", "cy"]
        .map(|u| (u.to_string(), "pw".to_string()))
        .to_vec();
    let mut sign_on = server::config::signon::SignOnOptions::new();
    sign_on.roles = vec!["admin=ann".into()];
    config.sign_on = sign_on.resolve().unwrap();
    config.alerts = Some(
        server::alerts::file::parse(
            Path::new("it-alerts.toml"),
            "[[webhook]]\nname = \"slack\"\nurl = \"https://hooks.slack.com/services/T0/B0/XXXX\"\nformat = \"slack\"\n",
            &|_| None,
        )
        .unwrap(),
    );
    let celadon = kit::Celadon::start_with(config).await.unwrap();
    let http = reqwest::Client::new();
    let get = async |who: &str| -> Value {
        http.get(celadon.url("/api/alerts"))
            .basic_auth(who, Some("pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    assert_eq!(
        get("ann").await["webhooks"][0]["url"],
        "https://hooks.slack.com/services/T0/B0/XXXX"
    );
    assert_eq!(
        get("cy").await["webhooks"][0]["url"],
        "https://hooks.slack.com/…"
    );
    let post = async |who: &str, path: &str, body: &str| -> u16 {
        http.post(celadon.url(path))
            .basic_auth(who, Some("pw"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let rule = r#"{"name":"down","kind":"worker_offline","after":"1m"}"#;
    assert_eq!(post("cy", "/api/alerts/rules", rule).await, 403);
    assert_eq!(post("cy", "/api/alerts/webhooks/slack/test", "").await, 403);
    assert_eq!(post("ann", "/api/alerts/rules", rule).await, 201);
}
