//! The audit trail with real parts: control actions through the API by a
//! basic-auth user, with a real worker's replies, listed by `/api/audit`;
//! refusals and failed logins recorded; the SQLite file altered or cut
//! after celadon stops, and `celadon audit verify` naming the entry; two
//! celadon binaries appending to one PostgreSQL, the chain intact.

use std::{
    path::Path,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use kit::{
    Celadon, CeladonBinary, Postgres, Redis, Scratch, Worker, WorkerOptions, celery::WORKER_START,
};
use serde_json::Value;
use server::store::{HistoryConfig, Location};

const USER: (&str, &str) = ("ann", "s3cret");

/// GETs `path` as `ann`: the status and the body.
async fn get(url: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(url)
        .basic_auth(USER.0, Some(USER.1))
        .send()
        .await
        .expect("GET");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

async fn json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// POSTs as `user` with `password`: the status and the JSON answer.
async fn post(url: &str, user: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `celadon audit verify --db <db>`: exit status and stdout.
fn verify(db: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_celadon"))
        .args(["audit", "verify", "--db", db])
        .output()
        .expect("celadon runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

fn history_at(path: &Path) -> HistoryConfig {
    HistoryConfig {
        location: Location::Sqlite(path.to_path_buf()),
        save_interval: Duration::from_millis(200),
        retention: None,
        max_size: None,
    }
}

/// Polls `/api/workers` until `hostname` is there.
async fn worker_online(celadon: &Celadon, hostname: &str) {
    let deadline = Instant::now() + WORKER_START;
    loop {
        let workers = json(&celadon.url("/api/workers?refresh=1")).await;
        if workers.get(hostname).is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{hostname} never came online: {workers}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn entry<'a>(page: &'a Value, action: &str) -> &'a Value {
    page["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == action))
        .unwrap_or_else(|| panic!("no {action} in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_by_a_basic_auth_user_is_listed_and_an_altered_or_deleted_row_is_named() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let db = dir.path().join("history.db");
    let mut config = server::Config::new(redis.broker_url());
    config.basic_auth = vec![(USER.0.into(), USER.1.into())];
    config.history = Some(history_at(&db));
    let celadon = Celadon::start_with(config).await.unwrap();
    let worker = Worker::start_with(&redis, "audit", &dir, &WorkerOptions::default()).unwrap();
    let name = worker.hostname.clone();
    worker_online(&celadon, &name).await;

    let id = "4f4b1c3e-0000-4000-8000-00000000a0d1";
    let (status, answer) = post(
        &celadon.url(&format!("/api/task/revoke/{id}?terminate=false")),
        USER.0,
        USER.1,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post(
        &celadon.url(&format!("/api/worker/pool/grow/{name}?n=1")),
        USER.0,
        USER.1,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post(
        &celadon.url(&format!("/api/task/revoke/{id}")),
        USER.0,
        "guess",
    )
    .await;
    assert_eq!(status, 401);

    let page = json(&celadon.url("/api/audit")).await;
    assert_eq!(page["persisted"], true, "{page}");
    let actions: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["login.failed", "worker.pool.grow", "task.revoke"],
        "newest first"
    );
    let revoke = entry(&page, "task.revoke");
    assert_eq!(revoke["who"], "ann", "{revoke}");
    assert_eq!(revoke["role"], "admin", "{revoke}");
    assert_eq!(revoke["via"], "basic", "{revoke}");
    assert_eq!(revoke["client"], "127.0.0.1", "{revoke}");
    assert_eq!(revoke["target"], id, "{revoke}");
    assert_eq!(revoke["params"], "terminate=false", "{revoke}");
    assert_eq!(revoke["result"], "ok", "{revoke}");
    let detail: Value = serde_json::from_str(revoke["detail"].as_str().unwrap()).unwrap();
    assert!(
        detail["replies"][&name]["ok"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "the worker's reply: {detail}"
    );
    let grow = entry(&page, "worker.pool.grow");
    assert_eq!(grow["target"], name.as_str(), "{grow}");
    assert_eq!(grow["params"], "n=1", "{grow}");
    assert!(
        grow["detail"].as_str().unwrap().contains("pool will grow"),
        "{grow}"
    );
    let failed = entry(&page, "login.failed");
    assert_eq!(failed["who"], "ann", "the user given: {failed}");
    assert_eq!(failed["result"], "refused", "{failed}");
    assert!(
        !failed.to_string().contains("guess"),
        "never the password: {failed}"
    );

    let only = json(&celadon.url(&format!("/api/audit?task={id}&action=task"))).await;
    assert_eq!(only["entries"].as_array().unwrap().len(), 1, "{only}");
    let (status, csv) = get(&celadon.url("/api/audit?format=csv")).await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("seq,at,who,"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "a header and three entries: {csv}");
    let chain = json(&celadon.url("/api/audit/verify")).await;
    assert_eq!(chain["entries"], 3, "{chain}");
    assert_eq!(chain["intact"], true, "{chain}");
    celadon.stop().await.unwrap();

    let file = db.to_str().unwrap();
    assert_eq!(verify(file), (0, "3 entries, chain intact\n".into()));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE audit SET who = 'bob' WHERE seq = 2", [])
        .unwrap();
    let (code, out) = verify(file);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken at entry 2 (altered)"), "{out}");
    conn.execute("UPDATE audit SET who = 'ann' WHERE seq = 2", [])
        .unwrap();
    assert_eq!(verify(file).0, 0, "put back as it was");
    conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    let (code, out) = verify(file);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken at entry 2 (missing)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_under_read_only_is_recorded_and_without_a_store_the_trail_says_so() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let mut config = server::Config::new(redis.broker_url());
    config.read_only = true;
    config.basic_auth = vec![(USER.0.into(), USER.1.into())];
    config.history = None;
    let celadon = Celadon::start_with(config).await.unwrap();
    let (status, _) = post(&celadon.url("/api/worker/shutdown/w1@host"), USER.0, USER.1).await;
    assert_eq!(status, 403);
    let page = json(&celadon.url("/api/audit")).await;
    assert_eq!(page["persisted"], false, "{page}");
    let shutdown = entry(&page, "worker.shutdown");
    assert_eq!(shutdown["who"], "ann", "{shutdown}");
    assert_eq!(shutdown["target"], "w1@host", "{shutdown}");
    assert_eq!(shutdown["status"], 403, "{shutdown}");
    assert_eq!(shutdown["result"], "refused", "{shutdown}");
    assert!(
        shutdown["detail"].as_str().unwrap().contains("Read only"),
        "why: {shutdown}"
    );
    let chain = json(&celadon.url("/api/audit/verify")).await;
    assert_eq!(
        (&chain["entries"], &chain["intact"]),
        (&1.into(), &true.into())
    );
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_appending_to_one_postgresql_build_one_intact_chain() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("audit_replicas").unwrap();
    let dir = Scratch::new().unwrap();
    let redis = Arc::new(Redis::start(&dir).unwrap());
    let bin = Path::new(env!("CARGO_BIN_EXE_celadon"));
    let flags = [
        format!("--db={url}"),
        format!("--basic-auth={}:{}", USER.0, USER.1),
    ];
    let (dir_a, dir_b) = (Scratch::new().unwrap(), Scratch::new().unwrap());
    let a = CeladonBinary::start(bin, &redis, &dir_a, &flags).unwrap();
    let b = CeladonBinary::start(bin, &redis, &dir_b, &flags).unwrap();
    const EACH: usize = 15;
    let mut sent = Vec::new();
    for i in 0..EACH {
        for (replica, at) in [("a", &a), ("b", &b)] {
            let url = at.url(&format!(
                "/api/task/rate-limit/t.{replica}{i}?ratelimit=1/s"
            ));
            sent.push(tokio::spawn(
                async move { post(&url, USER.0, USER.1).await },
            ));
        }
    }
    for s in sent {
        s.await.unwrap();
    }
    let chain = json(&a.url("/api/audit/verify")).await;
    assert_eq!(chain["entries"], 2 * EACH, "{chain}");
    assert_eq!(chain["intact"], true, "{chain}");
    let page = json(&b.url("/api/audit?action=task.rate-limit&limit=1000")).await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        2 * EACH,
        "{page}"
    );
    let (code, out) = verify(&url);
    assert_eq!(
        (code, out.as_str()),
        (0, format!("{} entries, chain intact\n", 2 * EACH).as_str())
    );
    pg.sql(
        "audit_replicas",
        "UPDATE celadon_audit SET params = 'ratelimit=1000/s' WHERE seq = 7",
    )
    .unwrap();
    let (code, out) = verify(&url);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken at entry 7 (altered)"), "{out}");
}
