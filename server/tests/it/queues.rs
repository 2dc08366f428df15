//! The queue browser against real Redis and real Celery workers: a
//! purge by query, a move of every match and a single delete, each run
//! while a worker consumes the same queue of a few thousand messages, and
//! every task id accounted for on both sides (run by a worker, as its
//! `record` file and its log say, or purged, or moved), none twice; moved
//! messages byte for byte what they were but for their route. Also pages
//! from both ends across priority lists, search, the unacknowledged
//! messages a prefetching worker holds, a task's place, a queue's depth
//! per priority step over time, dry runs that change nothing, roles and
//! bad requests.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use redis::Commands;
use serde_json::{Value, json};

use kit::{Celadon, Redis, Scratch, Worker, WorkerOptions};
use server::config::signon::SignOnOptions;

use crate::support::{cluster::Cluster, http::Http};

/// How long a queue of a few thousand messages may take to drain.
const DRAIN: Duration = Duration::from_secs(180);

/// Sends `rounds` rounds of `per` `record` tasks with args `["poison"]`
/// then `per` with `["good"]` to `queue`, through Celery's client; returns
/// (poison ids, good ids), each in the order sent.
fn send_mixed(
    cluster: &Cluster,
    queue: &str,
    rounds: usize,
    per: usize,
) -> (Vec<String>, Vec<String>) {
    let (mut poison, mut good) = (Vec::new(), Vec::new());
    let count = per.to_string();
    for _ in 0..rounds {
        for (args, ids) in [(r#"["poison"]"#, &mut poison), (r#"["good"]"#, &mut good)] {
            let out = cluster.send("record", args, &["--queue", queue, "--count", &count]);
            ids.extend(out.lines().map(str::to_string));
        }
    }
    assert_eq!(poison.len(), rounds * per);
    (poison, good)
}

/// The ids of the tasks a worker ran (`record` writes `<id>.json`).
fn executed(dir: &Scratch) -> BTreeSet<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?;
            (!id.ends_with(".raw")).then(|| id.to_string())
        })
        .collect()
}

/// How many times each id's task succeeded, per the workers' logs.
fn runs(logs: &[String]) -> BTreeMap<String, usize> {
    let mut runs = BTreeMap::new();
    for line in logs.iter().flat_map(|l| l.lines()) {
        if let Some(rest) = line.split("celadon_tasks.record[").nth(1)
            && let Some((id, after)) = rest.split_once(']')
            && after.trim_start().starts_with("succeeded")
        {
            *runs.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    runs
}

/// Every element of every priority list of `queue`, from the taking end.
fn waiting(redis: &Redis, queue: &str) -> Vec<Vec<u8>> {
    let mut conn = redis.connection().unwrap();
    let mut all = Vec::new();
    for key in [
        queue.to_string(),
        format!("{queue}\x06\x163"),
        format!("{queue}\x06\x166"),
        format!("{queue}\x06\x169"),
    ] {
        let mut items: Vec<Vec<u8>> = conn.lrange(&key, 0, -1).unwrap();
        items.reverse();
        all.extend(items);
    }
    all
}

fn id_of(raw: &[u8]) -> String {
    let v: Value = serde_json::from_slice(raw).unwrap();
    v["headers"]["id"].as_str().unwrap().to_string()
}

/// Starts a worker on `queue` and waits until it has run a task, so that
/// what follows runs while it consumes.
async fn consuming_worker(cluster: &mut Cluster, name: &str, queue: &str) -> Worker {
    let options = WorkerOptions {
        queues: Some(queue.to_string()),
        ..WorkerOptions::default()
    };
    let (worker, _) = cluster.online_worker_with(name, &options).await;
    let deadline = tokio::time::Instant::now() + DRAIN;
    while executed(&cluster.dir).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker ran nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker
}

/// Waits until `queue` is empty and the worker has run `expected` tasks.
async fn drained(cluster: &Cluster, queue: &str, expected: usize) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + DRAIN;
    loop {
        let ran = executed(&cluster.dir);
        if waiting(&cluster.redis, queue).is_empty() && ran.len() >= expected {
            return ran;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue}: {} waiting, {} of {expected} run",
            waiting(&cluster.redis, queue).len(),
            ran.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_by_query_while_a_worker_consumes_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start().await;
    let (poison, good) = send_mixed(&cluster, "qa", 3, 500);
    let before = waiting(&cluster.redis, "qa");
    assert_eq!(before.len(), 3000);

    // A dry run touches nothing and counts every poisoned message.
    let (status, dry) = cluster
        .celadon
        .post(
            "/api/queues/qa/purge",
            Some(json!({"q": "args:poison", "dry_run": true})),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["selected"], 1500, "{dry}");
    assert_eq!(dry["acted"], 0);
    assert_eq!(dry["first"].as_array().unwrap().len(), 10);
    assert_eq!(
        waiting(&cluster.redis, "qa"),
        before,
        "a dry run changed the queue"
    );

    let worker = consuming_worker(&mut cluster, "wa", "qa").await;
    let (status, done) = cluster
        .celadon
        .post("/api/queues/qa/purge", Some(json!({"q": "args:poison"})))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["complete"], true, "{done}");
    let purged = done["acted"].as_u64().unwrap() as usize;
    assert!(purged > 0, "{done}");
    assert_eq!(
        done["selected"].as_u64().unwrap() as usize,
        purged + done["gone"].as_u64().unwrap() as usize
    );

    let ran = drained(&cluster, "qa", 3000 - purged).await;
    let poison_ran: BTreeSet<_> = poison.iter().filter(|id| ran.contains(*id)).collect();
    // Every good task ran; every poisoned one ran or was purged, not both.
    assert!(
        good.iter().all(|id| ran.contains(id)),
        "a good task was lost"
    );
    assert_eq!(poison_ran.len() + purged, poison.len(), "lost or run twice");
    assert_eq!(ran.len(), 3000 - purged);
    let runs = runs(&[worker.log()]);
    assert!(runs.values().all(|n| *n == 1), "a task ran twice");
    assert_eq!(runs.len(), ran.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_every_match_while_a_worker_consumes_keeps_each_message_once_and_exact() {
    let mut cluster = Cluster::start().await;
    let (poison, good) = send_mixed(&cluster, "qb", 3, 500);
    let source: BTreeMap<String, Vec<u8>> = waiting(&cluster.redis, "qb")
        .into_iter()
        .map(|raw| (id_of(&raw), raw))
        .collect();
    assert_eq!(source.len(), 3000);

    let (status, dry) = cluster
        .celadon
        .post(
            "/api/queues/qb/move",
            Some(json!({"q": "args:poison", "to": "parked", "dry_run": true})),
        )
        .await;
    assert_eq!(
        (status, dry["selected"].as_u64()),
        (200, Some(1500)),
        "{dry}"
    );
    assert!(waiting(&cluster.redis, "parked").is_empty());

    let first = consuming_worker(&mut cluster, "wb", "qb").await;
    let (status, done) = cluster
        .celadon
        .post(
            "/api/queues/qb/move",
            Some(json!({"q": "args:poison", "to": "parked"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let moved = done["acted"].as_u64().unwrap() as usize;
    let ran = drained(&cluster, "qb", 3000 - moved).await;
    first.stop_warm().await.unwrap();

    // The destination holds exactly the poisoned messages nobody ran, each
    // as it was but for its route, in the order they waited.
    let parked = waiting(&cluster.redis, "parked");
    assert_eq!(parked.len(), moved);
    let parked_ids: Vec<String> = parked.iter().map(|raw| id_of(raw)).collect();
    for (id, raw) in parked_ids.iter().zip(&parked) {
        let was = String::from_utf8(source[id].clone()).unwrap();
        assert!(was.contains(r#""delivery_info": {"exchange": "", "routing_key": "qb"}"#));
        let expected = was.replace(r#""routing_key": "qb""#, r#""routing_key": "parked""#);
        assert_eq!(String::from_utf8(raw.clone()).unwrap(), expected);
    }
    let order: Vec<&String> = poison.iter().filter(|id| parked_ids.contains(id)).collect();
    assert_eq!(
        parked_ids.iter().collect::<Vec<_>>(),
        order,
        "the order changed"
    );
    let parked_set: BTreeSet<&String> = parked_ids.iter().collect();
    assert!(
        good.iter().all(|id| ran.contains(id)),
        "a good task was lost"
    );
    for id in &poison {
        assert!(
            ran.contains(id) != parked_set.contains(id),
            "{id}: run {} and parked {}",
            ran.contains(id),
            parked_set.contains(id)
        );
    }

    // Replayed from the destination, each runs once there.
    let second = consuming_worker(&mut cluster, "wp", "parked").await;
    let all = drained(&cluster, "parked", 3000).await;
    assert_eq!(all.len(), 3000);
    let runs = runs(&[first_log(&cluster), second.log()]);
    assert_eq!(runs.len(), 3000);
    assert!(runs.values().all(|n| *n == 1), "a task ran twice");
}

/// The log of the stopped first worker of the move test.
fn first_log(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.dir.path().join("wb.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_one_message_while_a_worker_consumes_removes_it_or_lets_the_worker_have_it() {
    let mut cluster = Cluster::start().await;
    let out = cluster.send("record", "[1]", &["--queue", "qc", "--count", "2000"]);
    let ids: Vec<String> = out.lines().map(str::to_string).collect();
    // One the worker reaches soon: the race is real.
    let target = ids[40].clone();
    let (status, dry) = cluster
        .celadon
        .post(
            "/api/queues/qc/delete",
            Some(json!({"id": target, "dry_run": true})),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["selected"], 1);
    assert_eq!(dry["first"][0]["id"], target.as_str());
    assert_eq!(dry["first"][0]["position"], 40);
    assert_eq!(waiting(&cluster.redis, "qc").len(), 2000);

    let worker = consuming_worker(&mut cluster, "wc", "qc").await;
    let (status, done) = cluster
        .celadon
        .post("/api/queues/qc/delete", Some(json!({"id": target})))
        .await;
    assert_eq!(status, 200, "{done}");
    let deleted = done["acted"].as_u64().unwrap() as usize;
    let ran = drained(&cluster, "qc", 2000 - deleted).await;
    assert_eq!(ran.contains(&target), deleted == 0, "{done}");
    assert!(ids.iter().all(|id| *id == target || ran.contains(id)));
    let runs = runs(&[worker.log()]);
    assert!(runs.values().all(|n| *n == 1));
    assert_eq!(runs.len(), 2000 - deleted);

    // Deleted again: nothing is there.
    let (_, again) = cluster
        .celadon
        .post("/api/queues/qc/delete", Some(json!({"id": target})))
        .await;
    assert_eq!(again["selected"], 0, "{again}");
}

/// Sends `echo` with args `[i]` at `priority` to queue `q` through the API.
async fn send_echo(celadon: &Celadon, q: &str, i: usize, priority: u8) -> String {
    // Keys out of order, as a client may write them: kept as sent.
    let body = format!(
        r#"{{"args": [{i}], "kwargs": {{"tag": "t{i}", "n": {i}}}, "queue": "{q}", "priority": {priority}}}"#
    );
    let (status, answer) = celadon
        .post_text("/api/task/send-task/celadon_tasks.echo", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["task-id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_search_and_place_follow_the_order_workers_take() {
    let cluster = Cluster::start().await;
    let c = &cluster.celadon;
    // 0..6 at priority 0, 6..9 at priority 6: workers take 0..6 first
    // (oldest first), then 6..9.
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(send_echo(c, "qr", i, if i < 6 { 0 } else { 6 }).await);
    }
    let page = c.json("/api/queues/qr/messages?from=head&limit=4").await;
    assert_eq!(page["depths"], json!([6, 0, 3, 0]));
    assert_eq!(page["depth"], 9);
    let got: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..4].iter().map(String::as_str).collect::<Vec<_>>());
    let first = &page["messages"][0];
    assert_eq!(first["position"], 0);
    assert_eq!(first["task"], "celadon_tasks.echo");
    // The exact JSON text celadon sent, not a re-serialisation.
    assert_eq!(first["args"], "[0]");
    assert_eq!(first["kwargs"], r#"{"tag": "t0", "n": 0}"#);
    assert_eq!(first["priority"], 0);
    assert!(
        first["headers"]
            .as_str()
            .unwrap()
            .contains(r#""celadon_tasks.echo""#),
        "{first}"
    );

    let page = c
        .json("/api/queues/qr/messages?from=head&offset=5&limit=3")
        .await;
    let positions: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [5, 6, 7]);
    assert_eq!(page["messages"][1]["id"], ids[6].as_str());
    assert_eq!(page["messages"][1]["priority_step"], 6);

    let tail = c.json("/api/queues/qr/messages?from=tail&limit=2").await;
    let got: Vec<&str> = tail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[8].as_str(), ids[7].as_str()]);
    assert_eq!(tail["messages"][0]["position"], 8);

    // Search by args text, name and id.
    let found = c.json("/api/queues/qr/messages?q=args:%22t7%22").await;
    assert_eq!(found["messages"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["messages"][0]["id"], ids[7].as_str());
    assert_eq!(found["messages"][0]["position"], 7);
    assert_eq!(found["scanned"], 9);
    assert_eq!(found["next_cursor"], Value::Null);
    let found = c
        .json("/api/queues/qr/messages?q=name:celadon_tasks.*&limit=5")
        .await;
    assert_eq!(found["messages"].as_array().unwrap().len(), 5);
    let cursor = found["next_cursor"].as_str().unwrap().to_string();
    let rest = c
        .json(&format!(
            "/api/queues/qr/messages?q=name:celadon_tasks.*&limit=5&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 4, "{rest}");
    let found = c
        .json(&format!("/api/queues/qr/messages?q=id:{}", ids[3]))
        .await;
    assert_eq!(found["messages"][0]["position"], 3);

    // A task's place, and the queue's oldest message and its age.
    let place = c.json(&format!("/api/task/{}/queue", ids[4])).await;
    assert_eq!(place["found"], true, "{place}");
    assert_eq!(place["queue"], "qr");
    assert_eq!(place["position"], 4);
    let info = c
        .json_until(
            "the oldest message's age",
            "/api/queues/qr",
            Duration::from_secs(10),
            |i| i["oldest"]["age"].is_number(),
        )
        .await;
    assert_eq!(info["depths"], json!([6, 0, 3, 0]));
    assert_eq!(info["oldest"]["id"], ids[0].as_str());

    // The depth over the last hour per priority step, as the model
    // measured it (every 2 s; discovery may take one of its rounds).
    let info = c
        .json_until(
            "the depth per priority step",
            "/api/queues/qr",
            Duration::from_secs(45),
            |i| {
                let newest = |s: &Value| {
                    s.as_array()
                        .and_then(|s| s.iter().rev().find(|v| !v.is_null()).cloned())
                };
                let steps = i["series_by_step"]
                    .as_array()
                    .map(|s| s.iter().map(newest).collect::<Vec<_>>());
                steps
                    == Some(vec![
                        Some(json!(6)),
                        Some(json!(0)),
                        Some(json!(3)),
                        Some(json!(0)),
                    ])
            },
        )
        .await;
    assert_eq!(info["priority_steps"], json!([0, 3, 6, 9]));
    let series = info["series"].as_array().unwrap();
    let by_step = info["series_by_step"].as_array().unwrap();
    assert!(
        by_step
            .iter()
            .all(|s| s.as_array().unwrap().len() == series.len()),
        "{info}"
    );
    let newest = series.iter().rposition(|v| !v.is_null()).unwrap();
    assert_eq!(series[newest], 9, "{info}");
    let peak = |s: &Value| s.as_array().unwrap().iter().filter_map(Value::as_u64).max();
    let peaks: Vec<_> = by_step.iter().map(peak).collect();
    assert_eq!(peaks, [Some(6), Some(0), Some(3), Some(0)], "{info}");

    // An undecodable message is shown as such, not an error.
    let mut conn = cluster.redis.connection().unwrap();
    let _: () = conn.rpush("qr", "not a message").unwrap();
    let page = c.json("/api/queues/qr/messages?limit=1").await;
    assert_eq!(page["messages"][0]["undecodable"]["start"], "not a message");
    assert_eq!(page["messages"][0]["size"], 13);
    // A task message without delivery_info cannot be routed after a move:
    // it stays, and the answer says so.
    let no_route = r#"{"body": "W1sxXSwge30sIHt9XQ==", "content-type": "application/json", "headers": {"task": "celadon_tasks.echo", "id": "no-route-1"}, "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
    let _: () = conn.lpush("qr", no_route).unwrap();
    let (status, moved) = c
        .post(
            "/api/queues/qr/move",
            Some(json!({"q": "id:no-route-1", "to": "elsewhere"})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["selected"].clone(), moved["unmovable"].clone()),
        (json!(0), json!(1))
    );
    assert!(
        moved["message"].as_str().unwrap().contains("left in place"),
        "{moved}"
    );
    let _: () = conn.lrem("qr", 1, no_route).unwrap();
    // A missing task is not found, having looked everywhere.
    let place = c.json("/api/task/no-such-task/queue").await;
    assert_eq!(
        (place["found"].clone(), place["complete"].clone()),
        (json!(false), json!(true))
    );

    // Bad requests are JSON 400s naming what was wrong.
    for (path, named) in [
        ("/api/queues/qr/messages?from=middle", "from"),
        ("/api/queues/qr/messages?limit=0", "limit"),
        ("/api/queues/qr/messages?limit=100000", "limit"),
        ("/api/queues/qr/messages?q=color:red", "q"),
        ("/api/queues/qr/messages?q=a&cursor=x", "cursor"),
        ("/api/queues/unacked/messages", "name"),
        ("/api/queues/_kombu.binding.celery/messages", "name"),
    ] {
        let (status, body) = c.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(named),
            "{path}: {body}"
        );
    }
    for (path, body) in [
        (
            "/api/queues/qr/move",
            json!({"q": "name:x", "to": "unacked_index"}),
        ),
        ("/api/queues/qr/move", json!({"q": "name:x"})),
        ("/api/queues/qr/move", json!({"q": "name:x", "to": "qr"})),
        ("/api/queues/qr/delete", json!({})),
        ("/api/queues/qr/purge", json!({"q": "nope:x"})),
        ("/api/queues/qr/purge", json!({"q": "name:x", "colour": 1})),
    ] {
        let (status, answer) = c.post(path, Some(body.clone())).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
    }
    assert_eq!(
        waiting(&cluster.redis, "qr").len(),
        10,
        "a refused request changed the queue"
    );
    // A name that holds another type in Redis is not a queue to read.
    let _: () = conn.set("plainstring", "x").unwrap();
    let (status, body) = c.get("/api/queues/plainstring/messages").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_a_prefetching_worker_holds_are_listed_with_their_redelivery() {
    let mut cluster = Cluster::start().await;
    let options = WorkerOptions {
        queues: Some("qu".into()),
        ..WorkerOptions::default()
    };
    let (_worker, hostname) = cluster.online_worker_with("wu", &options).await;
    // One runs; the worker prefetches the next ones and holds them.
    let out = cluster.send("slow", "[20]", &["--queue", "qu", "--count", "4"]);
    let ids: BTreeSet<String> = out.lines().map(str::to_string).collect();
    let held = cluster
        .celadon
        .json_until(
            "held messages with their worker",
            "/api/queues/qu/unacked",
            Duration::from_secs(30),
            |h| {
                h["held"]
                    .as_array()
                    .is_some_and(|h| h.len() >= 2 && h.iter().all(|m| m["worker"].is_string()))
            },
        )
        .await;
    assert_eq!(held["visibility_timeout"], 3600.0);
    for m in held["held"].as_array().unwrap() {
        assert_eq!(m["worker"], hostname.as_str());
        assert_eq!(m["routing_key"], "qu");
        assert!(ids.contains(m["message"]["id"].as_str().unwrap()), "{m}");
        assert_eq!(m["message"]["args"], "[20]");
        let at = m["delivered_at"].as_f64().unwrap();
        assert_eq!(m["redeliver_at"].as_f64().unwrap(), at + 3600.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_actions_ask_for_their_roles_and_viewers_see_arguments_redacted() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let mut config = Celadon::config(redis.broker_url());
    config.basic_auth = ["ann", "bob", "cy"]
        .map(|u| (u.to_string(), "pw".to_string()))
        .to_vec();
    let mut sign_on = SignOnOptions::new();
    sign_on.roles = vec!["admin=ann".into(), "operator=bob".into()];
    sign_on.redact = vec!["secret-[a-z]+".into()];
    config.sign_on = sign_on.resolve().unwrap();
    let celadon = Celadon::start_with(config).await.unwrap();
    kit::celery::send(
        &redis,
        "echo",
        r#"["secret-sauce"]"#,
        &["--queue", "qz", "--count", "3"],
    )
    .unwrap();
    let http = reqwest::Client::new();
    let call = |who: &'static str, path: &str, body: Option<Value>| {
        let url = celadon.url(path);
        let request = match body {
            Some(b) => http.post(url).json(&b),
            None => http.get(url),
        };
        async move {
            let r = request.basic_auth(who, Some("pw")).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (status, page) = call("cy", "/api/queues/qz/messages", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["args"], r#"["‹redacted›"]"#, "{page}");
    assert!(!page.to_string().contains("secret-sauce"), "{page}");
    let (status, page) = call("bob", "/api/queues/qz/messages", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["args"], r#"["secret-sauce"]"#);
    let (status, _) = call("cy", "/api/queues/qz/messages?q=args:sauce", None).await;
    assert_eq!(status, 403, "a viewer searched redacted arguments");

    let id = page["messages"][0]["id"].as_str().unwrap().to_string();
    let dry = json!({"q": "name:celadon_tasks.echo", "dry_run": true});
    for (who, path, body, expected) in [
        (
            "cy",
            "/api/queues/qz/delete",
            json!({"id": id, "dry_run": true}),
            403,
        ),
        ("cy", "/api/queues/qz/purge", dry.clone(), 403),
        ("bob", "/api/queues/qz/purge", json!({"dry_run": true}), 403),
        ("bob", "/api/queues/qz/purge", dry.clone(), 200),
        (
            "bob",
            "/api/queues/qz/move",
            json!({"id": id, "to": "later", "dry_run": true}),
            200,
        ),
        ("ann", "/api/queues/qz/purge", json!({"dry_run": true}), 200),
    ] {
        let (status, answer) = call(who, path, Some(body.clone())).await;
        assert_eq!(status, expected, "{who} {path} {body}: {answer}");
    }
    let (status, done) = call("bob", "/api/queues/qz/delete", Some(json!({"id": id}))).await;
    assert_eq!((status, done["acted"].as_u64()), (200, Some(1)), "{done}");
    let (status, done) = call("ann", "/api/queues/qz/purge", Some(json!({}))).await;
    assert_eq!((status, done["acted"].as_u64()), (200, Some(2)), "{done}");
    assert!(waiting(&redis, "qz").is_empty());

    // Each action is in the audit trail, with its parameters and counts.
    let (status, trail) = call("ann", "/api/audit?action=queue.purge", None).await;
    assert_eq!(status, 200, "{trail}");
    let text = trail.to_string();
    assert!(text.contains("queue.purge"), "{text}");
    assert!(text.contains(r#"\"acted\":2"#), "{text}");
    let (_, trail) = call("ann", "/api/audit?action=queue.delete", None).await;
    let entries = trail.to_string();
    assert!(entries.contains(&id), "{entries}");
    assert!(entries.contains("qz"), "{entries}");
}
