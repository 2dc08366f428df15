//! Flower's own Grafana dashboard and alert rules (their queries, copied
//! into `fixtures/flower-examples`) against celadon and Flower on the same
//! run: real workers on one broker, a real Prometheus scraping each. Every
//! query that finds series for Flower finds the same series (by label) for
//! celadon; and both `/metrics` end up with the same `flower_*` lines.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::Value;

use kit::{
    Flower, FlowerOptions, Prometheus, Worker, WorkerOptions, celery::WORKER_START,
    prometheus::Sample,
};

use crate::support::{cluster::Cluster, http::Http, watch::is_online};

/// How long the tasks may take to finish, and the workers to stop.
const FINISH: Duration = Duration::from_secs(40);

/// How long both sides may take to agree, once the run is done: series
/// appear a scrape or two after the events that make them.
const AGREE: Duration = Duration::from_secs(30);

/// Grafana's variables, as a dashboard showing every worker and task over
/// the whole test would set them.
fn substitute(expr: &str) -> String {
    expr.replace("$worker", ".*")
        .replace("$task", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "10m")
}

/// Each series' labels but the two that name the Prometheus job and its
/// target, which differ between the two sides.
fn series(samples: &[Sample]) -> BTreeSet<BTreeMap<String, String>> {
    samples
        .iter()
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.remove("instance");
            labels.remove("job");
            labels
        })
        .collect()
}

/// Waits until `expr` finds series for Flower, and the same ones for
/// celadon; panics with both answers after [`AGREE`].
async fn agree(theirs: &Prometheus, ours: &Prometheus, what: &str, expr: &str) {
    let start = tokio::time::Instant::now();
    loop {
        let flower = series(&theirs.query(expr).await.unwrap());
        let celadon = series(&ours.query(expr).await.unwrap());
        if !flower.is_empty() && flower == celadon {
            return;
        }
        assert!(
            start.elapsed() < AGREE,
            "{what}: {expr}\nFlower: {flower:?}\nceladon: {celadon:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `flower_*` samples of a `/metrics` text but the `_created` ones (when
/// each process saw a series first), by name and labels.
fn flower_lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("flower_") && !l.contains("_created"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, value)| (series.to_string(), value.to_string()))
        .collect()
}

fn lines(ids: String) -> Vec<String> {
    ids.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowers_dashboard_and_alerts_find_the_same_series_in_celadon_as_in_flower() {
    let queries: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/flower-examples/queries.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut c = Cluster::start().await;
    // Flower listens to events before any worker comes online.
    let flower = Flower::start(&c.redis, &c.dir, &FlowerOptions::default()).unwrap();
    let main = Worker::start(&c.redis, "main", &c.dir).unwrap();
    // A worker of its own queue, stopped to be seen offline.
    let leaving = Worker::start_with(
        &c.redis,
        "leaving",
        &c.dir,
        &WorkerOptions {
            queues: Some("leaving".into()),
            ..WorkerOptions::default()
        },
    )
    .unwrap();
    let flower_target = format!("127.0.0.1:{}", flower.port());
    let celadon_target = c.celadon.addr.to_string();
    let (theirs, ours) = tokio::join!(
        Prometheus::start("prometheus-flower", &flower_target, &c.dir),
        Prometheus::start("prometheus-celadon", &celadon_target, &c.dir),
    );
    let (mut theirs, mut ours) = (theirs.unwrap(), ours.unwrap());
    let hosts = [main.hostname.clone(), leaving.hostname.clone()];
    c.watch
        .until("both workers online", WORKER_START, |m| {
            hosts.iter().all(|h| is_online(m, h))
        })
        .await;

    // Successes, failures and a retry on `main`, one task at a time.
    let mut ids = lines(c.send("add", "[1, 2]", &["--count", "6"]));
    ids.extend(lines(c.send("fail", "[\"no\"]", &["--count", "2"])));
    ids.extend(lines(c.send("flaky", "[1, 0.1]", &[])));
    let (_, stopped) = tokio::join!(c.finished(&ids, FINISH), leaving.stop_warm());
    stopped.unwrap();
    // The second slow task waits for the first at the worker, and is
    // still running when the queries are made: its prefetch time stays
    // up, as TaskPrefetchTimeTooHigh needs.
    c.send("slow", "[3]", &[]);
    c.send("slow", "[60]", &[]);
    theirs.until_up().await.unwrap();
    ours.until_up().await.unwrap();

    for panel in queries["dashboard"].as_array().unwrap() {
        let expr = substitute(panel["expr"].as_str().unwrap());
        let what = format!("panel {}", panel["panel"]);
        agree(&theirs, &ours, &what, &expr).await;
    }
    for rule in queries["alerts"].as_array().unwrap() {
        let expr = rule["expr"].as_str().unwrap();
        let what = format!("alert {}", rule["alert"]);
        agree(&theirs, &ours, &what, expr).await;
    }
    for variable in queries["variables"].as_array().unwrap() {
        let query = variable["query"].as_str().unwrap();
        let (selector, label) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.split_once(", "))
            .unwrap();
        let start = tokio::time::Instant::now();
        loop {
            let flower = theirs.label_values(label, selector).await.unwrap();
            let celadon = ours.label_values(label, selector).await.unwrap();
            if !flower.is_empty() && flower == celadon {
                break;
            }
            assert!(
                start.elapsed() < AGREE,
                "{query}\nFlower: {flower:?}\nceladon: {celadon:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let start = tokio::time::Instant::now();
    loop {
        let flower = flower_lines(&flower.get("/metrics").await.1);
        let celadon = flower_lines(&c.celadon.get("/metrics").await.1);
        if flower == celadon {
            break;
        }
        assert!(
            start.elapsed() < AGREE,
            "/metrics differ\nFlower: {flower:#?}\nceladon: {celadon:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(main);
    c.celadon.stop().await.unwrap();
}
