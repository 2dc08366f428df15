//! History that survives: real workers' tasks written to the SQLite store,
//! read back by a restarted celadon, found past memory, exported; and the
//! faults: a damaged file left untouched while live data is served.

use std::{path::Path, process::Command, time::Duration};

use serde_json::Value;

use kit::{Celadon, Proc, Redis, Scratch, Worker, WorkerOptions};
use nix::sys::signal::Signal;
use server::{
    Config,
    broker::backend::BackendUrl,
    store::{HistoryConfig, Location, TaskRow},
};

use crate::support::http::Http;

const FINISH: Duration = Duration::from_secs(40);

fn config(redis: &Redis, db: &Path, max_tasks: usize) -> Config {
    let mut config = Celadon::config(redis.broker_url());
    config.result_backend = Some(BackendUrl::Redis(redis.backend_url()));
    config.model.limits.max_tasks = max_tasks;
    config.history = Some(HistoryConfig {
        location: Location::Sqlite(db.to_path_buf()),
        save_interval: Duration::from_millis(200),
        retention: None,
        max_size: None,
    });
    config
}

/// `/api/task/info/<id>` for each of `ids`, once every one is finished.
async fn finished_infos(celadon: &Celadon, ids: &[String]) -> Vec<Value> {
    let mut infos = Vec::new();
    for id in ids {
        let info = celadon
            .json_until(
                "the task to finish",
                &format!("/api/task/info/{id}"),
                FINISH,
                |t| matches!(t["state"].as_str(), Some("SUCCESS" | "FAILURE")),
            )
            .await;
        infos.push(info);
    }
    infos
}

/// The ids a listing's JSON text holds, in its order (a `Value` would
/// sort them).
fn ids_of(body: &str) -> Vec<String> {
    let listing: Value = serde_json::from_str(body).expect("a listing is JSON");
    let mut ids: Vec<(usize, String)> = listing
        .as_object()
        .expect("a listing is an object")
        .keys()
        .map(|id| {
            let at = body.find(&format!("\"{id}\":{{\"uuid\"")).expect("a key");
            (at, id.clone())
        })
        .collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

async fn get_listing(celadon: &Celadon, path: &str) -> (String, Value) {
    let (status, body) = celadon.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    let value = serde_json::from_str(&body).expect("JSON");
    (body, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_from_before_a_restart_are_served_whole_after_it_and_past_memory() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let db = dir.path().join("history.db");
    // Memory holds 3 tasks: the others are answered from the store.
    let celadon = Celadon::start_with(config(&redis, &db, 3)).await.unwrap();
    let _worker = Worker::start(&redis, "hist", &dir).unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(kit::celery::send(&redis, "add", &format!("[{n}, 1000]"), &[]).unwrap());
    }
    ids.push(kit::celery::send(&redis, "fail", "[\"order-77 ünïcode\"]", &[]).unwrap());
    let before = finished_infos(&celadon, &ids).await;
    assert_eq!(before[6]["state"], "FAILURE");
    assert_eq!(before[6]["args"], "['order-77 ünïcode']");
    assert!(
        before[6]["traceback"]
            .as_str()
            .unwrap()
            .contains("ValueError")
    );
    // Every task in one listing, memory and history merged, newest change
    // first.
    let (body, listing) = get_listing(&celadon, "/api/tasks?limit=100").await;
    let listed = ids_of(&body);
    let mut expected: Vec<(f64, String)> = before
        .iter()
        .map(|t| {
            (
                t["timestamp"].as_f64().unwrap(),
                t["uuid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));
    assert_eq!(
        listed,
        expected
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    );
    let plain = celadon.json("/api/tasks").await;
    assert_eq!(
        plain.as_object().unwrap().len(),
        3,
        "without a limit, memory only, as Flower"
    );

    // Written within the save interval; then a clean stop and a restart.
    celadon
        .json_until(
            "history to catch up",
            "/api/stats",
            Duration::from_secs(10),
            |s| {
                s["history"]["rows_written"].as_u64() >= Some(ids.len() as u64)
                    && s["history"]["lag_seconds"].as_f64() < Some(1.0)
            },
        )
        .await;
    // The charts and counters as shown before the restart.
    let charts = celadon.json("/api/stats/throughput?window=24h").await;
    let workers = celadon.json("/api/workers").await;
    let (_, metrics) = celadon.get("/metrics").await;
    assert!(
        metrics.contains("\nceladon_history_available 1.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nceladon_history_writer 1.0\n"),
        "{metrics}"
    );
    let flower_series = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| {
                l.starts_with("flower_events_total{")
                    || l.starts_with("flower_task_runtime_seconds_count{")
            })
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    celadon.stop().await.unwrap();
    let celadon = Celadon::start_with(config(&redis, &db, 100)).await.unwrap();
    let after = celadon.json("/api/stats/throughput?window=24h").await;
    assert_eq!(after["totals"], charts["totals"], "the chart's counts");
    assert!(
        charts["totals"]["succeeded"].as_u64() >= Some(6),
        "{charts}"
    );
    let host = workers.as_object().unwrap().keys().next().unwrap().clone();
    let workers_after = celadon.json("/api/workers").await;
    assert_eq!(
        workers_after[&host]["events"]["task_events"], workers[&host]["events"]["task_events"],
        "the worker's counters"
    );
    let (_, metrics_after) = celadon.get("/metrics").await;
    assert_eq!(
        flower_series(&metrics_after),
        flower_series(&metrics),
        "Flower's series"
    );
    let stats = celadon.json("/api/stats").await;
    assert_eq!(stats["history"]["available"], true, "{stats}");
    assert_eq!(stats["history"]["loaded_tasks"], ids.len(), "{stats}");
    for (id, was) in ids.iter().zip(&before) {
        let now = celadon.json(&format!("/api/task/info/{id}")).await;
        assert_eq!(&now, was, "{id}");
    }
    let (again, _) = get_listing(&celadon, "/api/tasks?limit=100").await;
    assert_eq!(again, body, "the same listing, from memory this time");

    // A search past memory, and the same listing as an export.
    let (found, _) = get_listing(&celadon, "/api/tasks?limit=10&search=args:order-77").await;
    assert_eq!(ids_of(&found), [ids[6].clone()]);
    let (status, csv) = celadon
        .get("/api/tasks?format=csv&search=args:order-77")
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("uuid,name,state,received,"), "{csv}");
    assert!(
        lines[1].starts_with(&format!("{},celadon_tasks.fail,FAILURE,", ids[6])),
        "{csv}"
    );
    assert!(
        lines[1].contains(",['order-77 ünïcode'],{},,ValueError('order-77 ünïcode'),"),
        "{csv}"
    );
    assert_eq!(
        lines.len(),
        3,
        "a header, one row, the final line break: {csv}"
    );
    let (status, ndjson) = celadon.get("/api/tasks?format=ndjson").await;
    assert_eq!(status, 200);
    let exported: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), ids.len());
    assert_eq!(exported[0], listing[&listed[0]]);
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_history_file_is_reported_and_left_alone_while_live_data_is_served() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let db = dir.path().join("flower");
    let garbage = b"\x00\x06\x15\x61 a Flower shelve file, or a disk's bad day ".repeat(300);
    std::fs::write(&db, &garbage).unwrap();
    let celadon = Celadon::start_with(config(&redis, &db, 100)).await.unwrap();
    let _worker = Worker::start(&redis, "live", &dir).unwrap();
    let id = kit::celery::send(&redis, "add", "[1, 2]", &[]).unwrap();
    let info = finished_infos(&celadon, std::slice::from_ref(&id)).await;
    assert_eq!(info[0]["result"], "3", "live data is served");
    let stats = celadon.json("/api/stats").await;
    let history = &stats["history"];
    assert_eq!(history["available"], false, "{stats}");
    assert_eq!(history["writing"], false, "{stats}");
    let error = history["last_error"].as_str().unwrap();
    assert!(
        error.contains(&db.display().to_string()) && error.contains("not a database"),
        "{error}"
    );
    let (_, metrics) = celadon.get("/metrics").await;
    assert!(
        metrics.contains("\nceladon_history_available 0.0\n"),
        "{metrics}"
    );
    celadon.stop().await.unwrap();
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file is as it was"
    );
}

/// `celadon`'s binary on `redis` with `flags`, once it serves; its base URL.
fn binary(dir: &Scratch, redis: &Redis, name: &str, command: &mut Command) -> (Proc, String) {
    let mut proc = Proc::spawn(
        name,
        command
            .arg(format!("--broker={}", redis.kombu_url()))
            .args(["--address=127.0.0.1", "--port=0"])
            .env("FLOWER_UNAUTHENTICATED_API", "true")
            .env("NO_COLOR", "1"),
        dir,
    )
    .unwrap();
    let base = proc
        .ready("celadon to listen", Duration::from_secs(20), |p| {
            let log = p.log();
            let at = log
                .split("listening on ")
                .nth(1)?
                .split_whitespace()
                .next()?;
            log.contains("subscribed to events")
                .then(|| at.trim_end_matches('/').to_string())
        })
        .unwrap();
    (proc, base)
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Polls `url` until `done` holds for its JSON, or panics after `deadline`.
async fn json_until(
    url: &str,
    what: &str,
    deadline: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = std::time::Instant::now() + deadline;
    loop {
        let value = get_json(url).await;
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < until, "{what}: {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_stream_keeps_every_task_written_before_it() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let db = dir.path().join("kept.db");
    let start = |name: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_celadon"));
        command
            .arg(format!("--db={}", db.display()))
            .arg("--state-save-interval=200");
        binary(&dir, &redis, name, &mut command)
    };
    let (mut celadon, base) = start("celadon-1");
    let _worker = Worker::start(&redis, "kill", &dir).unwrap();
    let first = kit::celery::drive(
        &redis,
        &["send", "add", "--args", "[1, 2]", "--count", "20"],
    )
    .unwrap();
    let first: Vec<&str> = first.lines().collect();
    let listing = format!("{base}/api/tasks");
    json_until(&listing, "the first tasks to finish", FINISH, |t| {
        first.iter().all(|id| t[id]["state"] == "SUCCESS")
    })
    .await;
    // Written: the store has caught up with every finished task.
    json_until(
        &format!("{base}/api/stats"),
        "history to catch up",
        Duration::from_secs(10),
        |s| {
            s["history"]["rows_written"].as_u64() >= Some(20)
                && s["history"]["lag_seconds"].as_f64() < Some(0.5)
        },
    )
    .await;
    // A steady stream (200 tasks sent and worked on), and a kill in the
    // middle of it, while writes are under way.
    let more = kit::celery::drive(
        &redis,
        &["send", "add", "--args", "[3, 4]", "--count", "200"],
    )
    .unwrap();
    assert_eq!(more.lines().count(), 200);
    json_until(
        &format!("{base}/api/stats"),
        "the stream to be written",
        FINISH,
        |s| s["history"]["rows_written"].as_u64() >= Some(40),
    )
    .await;
    celadon
        .stop(Signal::SIGKILL, Duration::from_secs(5))
        .await
        .unwrap();

    let (celadon, base) = start("celadon-2");
    for id in &first {
        let info = get_json(&format!("{base}/api/task/info/{id}")).await;
        assert_eq!(info["state"], "SUCCESS", "{id}: {info}");
        assert_eq!(info["result"], "3", "{id}: {info}");
    }
    let stats = get_json(&format!("{base}/api/stats")).await;
    assert!(
        stats["history"]["loaded_tasks"].as_u64() >= Some(20),
        "{stats}"
    );
    drop(celadon);
}

/// The history on a small filesystem of its own (a tmpfs in a mount
/// namespace of celadon's, so nothing outside sees it), which fills up;
/// when `grow` appears, the filesystem is given room again.
fn on_a_small_filesystem(data: &Path, grow: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--map-root-user", "--mount", "sh", "-c"])
        .arg(
            r#"data=$1; grow=$2; shift 2
mount -t tmpfs -o size=320k tmpfs "$data" || exit 97
"$@" &
pid=$!
trap 'kill -TERM $pid' TERM INT
until [ -e "$grow" ]; do sleep 0.1; done
mount -o remount,size=64m "$data"
wait $pid"#,
        );
    command
        .arg("sh")
        .arg(data)
        .arg(grow)
        .arg(env!("CARGO_BIN_EXE_celadon"))
        .arg(format!("--db={}/h.db", data.display()))
        .arg("--state-save-interval=200")
        .arg("--max-tasks=50");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_history_not_the_live_model_and_writing_resumes_with_room() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let data = dir.path().join("data");
    let grow = dir.path().join("grow");
    std::fs::create_dir(&data).unwrap();
    let (mut celadon, base) = binary(
        &dir,
        &redis,
        "celadon",
        &mut on_a_small_filesystem(&data, &grow),
    );
    let _worker = Worker::start_with(
        &redis,
        "full",
        &dir,
        &WorkerOptions {
            concurrency: 2,
            ..WorkerOptions::default()
        },
    )
    .unwrap();
    // Tasks with 2 KB of arguments each, until the filesystem is full.
    let big = format!("[\"{}\"]", "x".repeat(2048));
    let mut sent: Vec<String> = Vec::new();
    let stats = format!("{base}/api/stats");
    for _ in 0..20 {
        let ids =
            kit::celery::drive(&redis, &["send", "echo", "--args", &big, "--count", "50"]).unwrap();
        sent.extend(ids.lines().map(str::to_string));
        tokio::time::sleep(Duration::from_millis(500)).await;
        if get_json(&stats).await["history"]["writing"] == false {
            break;
        }
    }
    let full = json_until(&stats, "the disk to fill", FINISH, |s| {
        s["history"]["writing"] == false
    })
    .await;
    let error = full["history"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("full"), "{full}");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nceladon_history_available 0.0\n"),
        "{metrics}"
    );
    // Live data goes on: every task sent is seen to finish.
    json_until(&stats, "every task, live", FINISH, |s| {
        s["events"]["by_type"]["task-succeeded"].as_u64() == Some(sent.len() as u64)
    })
    .await;

    // Room again: the held batch and everything since are written.
    std::fs::write(&grow, b"").unwrap();
    json_until(&stats, "writing to resume", FINISH, |s| {
        s["history"]["writing"] == true && s["history"]["lag_seconds"].as_f64() < Some(1.0)
    })
    .await;
    // Memory holds 50 tasks: every other one is read back from the store,
    // so each was written once there was room.
    for id in &sent {
        let info = get_json(&format!("{base}/api/task/info/{id}")).await;
        assert_eq!(info["state"], "SUCCESS", "{id}: {info}");
        // Celery's argsrepr, cut at 1,024 characters, as the event had it.
        assert!(
            info["args"]
                .as_str()
                .is_some_and(|a| a.starts_with("['xxxx") && a.ends_with("...']")),
            "{id}"
        );
    }
    celadon
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
}

/// A stored task as a restart finds it: finished, with its fields.
fn stored_row(i: usize) -> TaskRow {
    let at = 1_700_000_000.0 + i as f64;
    let mut times = [None; 9];
    times[1] = Some(at);
    times[2] = Some(at + 0.1);
    times[3] = Some(at + 0.2);
    times[8] = Some(at + 0.2);
    TaskRow {
        id: format!("{i:08x}-0000-4000-8000-000000000000"),
        state: "SUCCESS".into(),
        name: Some("celadon_tasks.add".into()),
        worker: Some("old@host".into()),
        queue: Some("celery".into()),
        exchange: None,
        routing_key: Some("celery".into()),
        times,
        runtime: Some(0.1),
        retries: Some(0),
        clock: i as u64,
        flags: 0,
        seen: 0,
        seen_attempt: 0,
        signum: None,
        root_id: None,
        parent_id: None,
        children: Vec::new(),
        text: [
            Some(format!("[{i}, 1]")),
            Some("{}".into()),
            Some(format!("{}", i + 1)),
            None,
            None,
            None,
            None,
            None,
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_history_is_served_at_once_and_read_back_in_the_background() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let db = dir.path().join("large.db");
    let stored = 2 * server::poll::history::FIRST_LOAD + 5_000;
    {
        let config = config(&redis, &db, 10).history.unwrap();
        let status = std::sync::Arc::new(server::store::Status::new(String::new()));
        let (writer, thread, _, _) = server::store::open(&config, 0, status).await.unwrap();
        for chunk in (0..stored).collect::<Vec<_>>().chunks(10_000) {
            writer
                .write(server::store::Batch {
                    at: 0.0,
                    tasks: chunk.iter().map(|i| stored_row(*i)).collect(),
                    rest: None,
                })
                .await
                .unwrap();
        }
        drop(writer);
        thread.join().await;
    }
    let celadon = Celadon::start_with(config(&redis, &db, stored + 100))
        .await
        .unwrap();
    // The newest are there from the first answer.
    let newest = stored - 1;
    let info = celadon
        .json(&format!(
            "/api/task/info/{newest:08x}-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!(info["result"], stored.to_string(), "{info}");
    let stats = celadon
        .json_until("history to be read back", "/api/stats", FINISH, |s| {
            s["history"]["loaded_tasks"].as_u64() == Some(stored as u64)
        })
        .await;
    assert_eq!(stats["model"]["tasks"], stored, "{stats}");
    // The oldest too, from memory now, whole.
    let oldest = celadon
        .json("/api/task/info/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(oldest["args"], "[0, 1]");
    let listing = celadon.json("/api/tasks").await;
    assert_eq!(listing.as_object().unwrap().len(), stored);
    celadon.stop().await.unwrap();
}
