//! Saving and restoring, driven by the captured fixtures and by traffic
//! built in their image: what every page, the read API and `/metrics`
//! show of a restored model is compared with what they showed of the
//! model saved, and every way a blob can be wrong is refused.

mod refuse;
mod restore;
mod shown;

use serde_json::{Value, json};

use crate::state::{
    Inspection, Model,
    tests::{envelope, event},
};

/// When the generated traffic ends and the model is saved.
const NOW: f64 = 1_800_000_000.0;

const NAMES: usize = 20;
const WORKERS: usize = 8;

fn worker_name(i: usize) -> String {
    format!("w{i}@host")
}

fn task_name(i: usize) -> String {
    format!("app.tasks.t{i:02}")
}

/// Every captured event payload, as captured.
fn fixtures() -> Vec<Vec<u8>> {
    let dir = format!("{}/fixtures/events", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("_catalogue.json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let doc: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            doc["raw"].as_str().unwrap().as_bytes().to_vec()
        })
        .collect()
}

fn heartbeat(host: &str, at: f64, active: u64, processed: u64) -> Value {
    json!({"type": "worker-heartbeat", "hostname": host, "timestamp": at, "freq": 2.0,
           "active": active, "processed": processed, "loadavg": [0.5, 0.25, 0.125],
           "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
           "utcoffset": 0, "pid": 100, "clock": (at * 10.0) as u64})
}

/// One task's events, from `task-sent` on, its number `n` choosing its
/// name, worker and fate.
fn task_events(n: usize, at: f64) -> Vec<Value> {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    let name = task_name(n % NAMES);
    let host = worker_name(n % WORKERS);
    let on = |kind: &str, dt: f64, extra: Value| {
        let mut e = event(kind, &id, at + dt, extra);
        e["hostname"] = json!(host);
        e
    };
    let queue = if n.is_multiple_of(5) {
        "priority"
    } else {
        "celery"
    };
    let mut sent = event(
        "task-sent",
        &id,
        at,
        json!({"name": name, "queue": queue, "retries": 0, "args": format!("({n},)")}),
    );
    sent["hostname"] = json!("client@host");
    let mut out = vec![
        sent,
        on("task-received", 0.01, json!({"name": name, "retries": 0})),
        on("task-started", 0.02 + (n % 7) as f64 * 0.01, json!({})),
    ];
    if n.is_multiple_of(13) {
        out.push(on("task-progress", 0.03, json!({"done": 1})));
    }
    out.push(match n % 31 {
        0 => on("task-retried", 0.3, json!({"exception": "Boom()"})),
        k if k % 7 == 0 => on(
            "task-failed",
            0.3,
            json!({"exception": "ValueError()", "traceback": "Traceback"}),
        ),
        _ => on(
            "task-succeeded",
            0.3,
            json!({"result": "'ok'", "runtime": 0.01 * (1 + n % 50) as f64}),
        ),
    });
    out
}

/// A model after a few weeks of sparse history and `hours` of steady
/// traffic from 8 workers running 20 task types, with every captured
/// fixture, queues measured every 2 s, a gap, inspections, retries, a
/// worker gone, junk and a duplicate; expired at [`NOW`] as the owner
/// does every turn.
fn busy(hours: f64) -> Model {
    let mut model = Model::default();
    let start = NOW - hours * 3600.0;
    let history = start - 20.0 * 86400.0;
    model.on_link(true, history);
    for (i, raw) in fixtures().iter().enumerate() {
        model.ingest(raw, history + i as f64 * 0.1);
    }
    let mut n = 0;
    let mut at = history;
    while at < start {
        let batch = task_events(n, at);
        model.ingest(&envelope(&json!(batch)), at);
        model.expire(at, None);
        n += 1;
        at += 6.0 * 3600.0;
    }
    model.on_link(false, start - 600.0);
    model.on_link(true, start - 590.0);
    model.record_inspection(Inspection {
        method: "active_queues".into(),
        replies: (0..WORKERS)
            .map(|w| (worker_name(w), "[{\"name\": \"celery\"}]".into()))
            .collect(),
        consumes: (0..WORKERS)
            .map(|w| (worker_name(w), vec!["celery".to_string()]))
            .collect(),
        at: start,
    });
    let mut second = 0u64;
    let mut at = start;
    while at < NOW {
        let mut batch = Vec::new();
        if second.is_multiple_of(2) {
            for w in 0..WORKERS {
                if w == WORKERS - 1 && at > start + hours * 1800.0 {
                    continue;
                }
                batch.push(heartbeat(&worker_name(w), at, second % 4, second));
            }
            model.record_queue_depths(
                at,
                &["celery".to_string(), "orphans".to_string()],
                vec![
                    ("celery".into(), vec![second % 40, 0, 1, 0]),
                    ("priority".into(), vec![second % 3, 0, 0, 0]),
                    ("orphans".into(), vec![12, 0, 0, 0]),
                ],
                None,
            );
        }
        for _ in 0..1 + second % 3 {
            batch.extend(task_events(n, at + 0.1));
            n += 1;
        }
        model.ingest(&envelope(&json!(batch)), at);
        if second.is_multiple_of(10) {
            model.expire(at, None);
        }
        second += 1;
        at += 1.0;
    }
    let gone = worker_name(WORKERS - 1);
    let bye = json!({"type": "worker-offline", "hostname": gone, "timestamp": NOW - 5.0});
    model.ingest(&envelope(&bye), NOW - 5.0);
    model.ingest(b"not an event", NOW - 4.0);
    let dup = task_events(n - 1, NOW - 3.0).pop().unwrap();
    model.ingest(&envelope(&dup), NOW - 3.0);
    model.link_retry(
        "00000000-0000-4000-8000-000000000031".into(),
        "00000000-0000-4000-8000-999999999999".into(),
    );
    model.link_retry("custom-id".into(), "custom-id-2".into());
    model.record_queue_depths(
        NOW - 1.0,
        &[],
        vec![],
        Some(crate::broker::queues::Unacked {
            total: 3,
            by_routing_key: Some([("celery".to_string(), 3)].into()),
        }),
    );
    model.expire(NOW, None);
    model
}

/// A fresh model with `bytes` restored at `now`.
fn restored(bytes: &[u8], now: f64) -> Model {
    let mut model = Model::default();
    model.restore_besides_tasks(bytes, now).unwrap();
    model
}
