//! Issue 20's attacks, tried against the real server on real Redis: each
//! is refused, and what it aimed at (Redis' keys, its connections, the
//! event stream) is untouched.

use std::time::Duration;

use app::wire::{ClientMsg, View};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use kit::{Celadon, WorkerOptions};

use crate::support::{cluster::Cluster, http::Http};

const RUN: Duration = Duration::from_secs(30);

/// What a DNS-rebinding page sends: its own name as the host, and a
/// same-origin request as far as the browser can tell.
const EVIL_HOST: &str = "evil.example:5555";

async fn send_as(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client
        .execute(request.build().expect("a request"))
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn redis_int(c: &Cluster, args: &[&str]) -> i64 {
    let mut conn = c.redis.connection().unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut conn).unwrap()
}

fn connected_clients(c: &Cluster) -> i64 {
    let mut conn = c.redis.connection().unwrap();
    let info: String = redis::cmd("INFO").arg("clients").query(&mut conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO clients has connected_clients")
}

async fn open_ws(
    celadon: &Celadon,
    host: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tungstenite::Error,
> {
    let mut request = format!("ws://{}{}", celadon.addr, celadon.base.href("/ws"))
        .into_client_request()
        .unwrap();
    if let Some(host) = host {
        request.headers_mut().insert("host", host.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", format!("http://{host}").parse().unwrap());
        request
            .headers_mut()
            .insert("sec-fetch-site", "same-origin".parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

fn refused_status(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_reaches_nothing_on_any_method_or_the_websocket() {
    let c = Cluster::start().await;
    let http = reqwest::Client::new();
    let rebinding = |request: reqwest::RequestBuilder| {
        request
            .header("host", EVIL_HOST)
            .header("origin", format!("http://{EVIL_HOST}"))
            .header("sec-fetch-site", "same-origin")
    };
    for (method, path) in [
        ("POST", "/api/task/revoke/x"),
        ("GET", "/api/tasks"),
        ("GET", "/"),
        ("GET", "/healthcheck"),
        ("GET", "/metrics"),
    ] {
        let url = c.celadon.url(path);
        let request = match method {
            "POST" => http.post(&url),
            _ => http.get(&url),
        };
        let (status, headers, body) = send_as(&http, rebinding(request)).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("evil.example") && error.contains("--allowed-hosts"),
            "{method} {path}: {body}"
        );
        assert_eq!(headers["x-frame-options"], "DENY");
    }
    let refused = open_ws(&c.celadon, Some(EVIL_HOST)).await.unwrap_err();
    assert_eq!(refused_status(refused), 400);

    // Its own names still work, the bound address first of all (what
    // Prometheus scrapes).
    for host in [c.celadon.addr.to_string(), "localhost".into()] {
        let request = http.get(c.celadon.url("/metrics")).header("host", &host);
        let (status, _, _) = send_as(&http, request).await;
        assert_eq!(status, 200, "{host}");
    }
    open_ws(&c.celadon, None)
        .await
        .expect("a same-host websocket");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_answers_cannot_be_framed_or_sniffed_and_run_only_their_own_script() {
    let c = Cluster::start().await;
    let http = reqwest::Client::new();
    for path in ["/", "/tasks", "/api/tasks", "/healthcheck", "/no/such/page"] {
        let (_, headers, _) = send_as(&http, http.get(c.celadon.url(path))).await;
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "HSTS over plain HTTP: {path}"
        );
    }
    // A page's inline hydration script carries the nonce its policy names.
    let response = http.get(c.celadon.url("/")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let page = response.text().await.unwrap();
    let nonce = page
        .split("<script type=\"module\" nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no nonce on the hydration script: {page}"));
    assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_that_panicked_handlers_are_400s_and_send_nothing() {
    let c = Cluster::start().await;
    let http = reqwest::Client::new();
    let sent_before = redis_int(&c, &["LLEN", "celery"]);
    for (path, body) in [
        (
            "/api/task/async-apply/tasks.add",
            json!({"countdown": 1e13}),
        ),
        ("/api/task/async-apply/tasks.add", json!({"expires": 1e300})),
        ("/api/task/send-task/tasks.add", json!({"countdown": -1})),
        ("/api/task/apply/tasks.add?timeout=NaN", json!({})),
        ("/api/task/apply/tasks.add?timeout=inf", json!({})),
        ("/api/task/apply/tasks.add?timeout=-1", json!({})),
        ("/api/task/apply/tasks.add?timeout=1e9", json!({})),
        ("/api/task/apply/tasks.add", json!({"timeout": -1})),
    ] {
        let request = http.post(c.celadon.url(path)).json(&body);
        let (status, _, answer) = send_as(&http, request).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{path}: {answer}");
        // The same connection (reqwest keeps it) still answers.
        let (status, _, _) = send_as(&http, http.get(c.celadon.url("/healthcheck"))).await;
        assert_eq!(status, 200, "after {path}");
    }
    // A body past the limit is refused before its handler reads it.
    let huge = "x".repeat(server::api::limits::MAX_BODY + 1);
    let request = http
        .post(c.celadon.url("/api/task/send-task/tasks.add"))
        .header("content-type", "application/json")
        .body(format!("{{\"args\": [\"{huge}\"]}}"));
    let (status, _, answer) = send_as(&http, request).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    for query in ["timeout=-1", "timeout=NaN", "timeout=1e9"] {
        let (status, body) = c.celadon.get(&format!("/api/task/result/x?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    assert_eq!(
        redis_int(&c, &["LLEN", "celery"]),
        sent_before,
        "a task was sent"
    );
    let tasks = c.celadon.json("/api/tasks").await;
    assert!(tasks.as_object().unwrap().is_empty(), "{tasks}");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kombus_own_keys_are_refused_as_queues_and_left_untouched() {
    let c = Cluster::start().await;
    // kombu's bookkeeping as a worker leaves it: a hash and a sorted set.
    redis_int(&c, &["HSET", "unacked", "tag", "[]"]);
    redis_int(&c, &["ZADD", "unacked_index", "1", "tag"]);
    let before = |key: &str| {
        (
            redis_int(&c, &["EXISTS", key]),
            redis_int(&c, &["EXISTS", &format!("_kombu.binding.{key}")]),
        )
    };
    for queue in [
        "unacked",
        "unacked_index",
        "unacked_mutex",
        "_kombu.binding.celery",
        "celery-task-meta-x",
        "w1@host.celery.pidbox",
        "abc.reply.celery.pidbox",
        "celery\u{6}\u{16}3",
    ] {
        let was = before(queue);
        for endpoint in ["send-task", "async-apply", "apply"] {
            for option in ["queue", "routing_key"] {
                let mut body = serde_json::Map::new();
                body.insert(option.into(), queue.into());
                let (status, answer) = c
                    .celadon
                    .post(
                        &format!("/api/task/{endpoint}/tasks.add"),
                        Some(Value::Object(body)),
                    )
                    .await;
                assert_eq!(status, 400, "{endpoint} {option}={queue:?}: {answer}");
            }
        }
        let consume: String = url::form_urlencoded::byte_serialize(queue.as_bytes()).collect();
        let (status, answer) = c
            .celadon
            .post(
                &format!("/api/worker/queue/add-consumer/w@h?queue={consume}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "add-consumer {queue:?}: {answer}");
        assert_eq!(before(queue), was, "{queue:?} was written");
    }
    let mut conn = c.redis.connection().unwrap();
    let kind: String = redis::cmd("TYPE")
        .arg("unacked_index")
        .query(&mut conn)
        .unwrap();
    assert_eq!(kind, "zset");
    assert_eq!(redis_int(&c, &["ZCARD", "unacked_index"]), 1);
    assert_eq!(redis_int(&c, &["HLEN", "unacked"]), 1);
    // A plain new queue is still a queue.
    let (status, answer) = c
        .celadon
        .post(
            "/api/task/send-task/tasks.add",
            Some(json!({"queue": "reports"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(redis_int(&c, &["LLEN", "reports"]), 1);
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_growth_past_the_cap_is_refused_before_anything_is_sent() {
    let c = Cluster::start().await;
    for n in ["1000", "65", "0", "-1", "1e3"] {
        let (status, answer) = c
            .celadon
            .post(&format!("/api/worker/pool/grow/w@h?n={n}"), None)
            .await;
        assert_eq!(status, 400, "n={n}: {answer}");
    }
    let (_, answer) = c
        .celadon
        .post("/api/worker/pool/grow/w@h?n=1000", None)
        .await;
    assert!(
        answer["error"].as_str().unwrap().contains("from 1 to 64"),
        "{answer}"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_retry_skips_successful_tasks_unless_asked() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c
        .online_worker_with(
            "bulkskip",
            &WorkerOptions {
                concurrency: 2,
                ..WorkerOptions::default()
            },
        )
        .await;
    let ok = c.send("add", "[1, 2]", &[]);
    let failed = c.send("fail", "[\"skip test\"]", &[]);
    c.finished(&[ok.clone(), failed.clone()], RUN).await;

    let (status, done) = c
        .celadon
        .post("/api/tasks/retry?search=celadon_tasks", None)
        .await;
    assert_eq!(status, 200, "{done}");
    let retried = done["retried"].as_array().unwrap();
    assert_eq!(retried.len(), 1, "{done}");
    assert_eq!(retried[0]["retry-of"], failed.as_str());
    assert_eq!(
        done["skipped"],
        json!([{"task-id": ok, "state": "SUCCESS"}]),
        "{done}"
    );
    assert!(
        done["message"].as_str().unwrap().contains("skipped 1"),
        "{done}"
    );

    let (status, answer) = c
        .celadon
        .post(&format!("/api/tasks/retry?search={ok}&states=bogus"), None)
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, wide) = c
        .celadon
        .post(
            &format!("/api/tasks/retry?search={ok}&states=SUCCESS"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{wide}");
    assert_eq!(wide["retried"].as_array().unwrap().len(), 1, "{wide}");
    c.celadon.stop().await.unwrap();
}

/// A websocket to `celadon` from the loopback address `from` (Linux
/// routes all of 127/8 to lo), so that it counts as another client.
async fn open_ws_from(
    celadon: &Celadon,
    from: std::net::IpAddr,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let stream = socket.connect(celadon.addr).await.unwrap();
    let url = format!("ws://{}{}", celadon.addr, celadon.base.href("/ws"));
    tokio_tungstenite::client_async(url, stream)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_websockets_from_one_client_are_mostly_refused_and_others_are_served() {
    let c = Cluster::start().await;
    let me: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..500 {
        match open_ws_from(&c.celadon, me).await {
            Ok(socket) => open.push(socket),
            Err(e) => {
                assert_eq!(refused_status(e), 429);
                refused += 1;
            }
        }
    }
    // The cluster's own watcher holds one of this address' sockets.
    assert_eq!(
        open.len() + 1,
        server::api::ws::MAX_SOCKETS_PER_CLIENT,
        "{refused} refused"
    );
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut socket = open_ws_from(&c.celadon, other)
        .await
        .expect("another client's socket");
    let subscribe = serde_json::to_string(&ClientMsg::Subscribe {
        view: View::Workers,
    })
    .unwrap();
    socket.send(Message::text(subscribe)).await.unwrap();
    let first = tokio::time::timeout(RUN, socket.next()).await.unwrap();
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
    let (status, _) = c.celadon.get("/healthcheck").await;
    assert_eq!(status, 200);

    // Closed sockets give their places back.
    for mut s in open.drain(..) {
        let _ = s.close(None).await;
    }
    let deadline = tokio::time::Instant::now() + RUN;
    loop {
        match open_ws_from(&c.celadon, me).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(refused_status(e), 429);
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("closed sockets' places never came back: {e}"),
        }
    }
    c.celadon.stop().await.unwrap();
}

fn publish_events(c: &Cluster, events: &Value) {
    let envelope = json!({
        "body": events.to_string(),
        "content-type": "application/json",
        "properties": {},
    });
    redis_int(
        c,
        &["PUBLISH", "/0.celeryev/task.multi", &envelope.to_string()],
    );
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_worker_page_subscriptions_keeps_redis_connections_bounded() {
    let c = Cluster::start().await;
    // A worker celadon knows (it sent worker-online) that never answers
    // its pidbox: every inspection of it waits the whole timeout.
    let ghost = "ghost@nowhere";
    publish_events(
        &c,
        &json!([{"type": "worker-online", "hostname": ghost, "timestamp": now(), "freq": 60.0,
                  "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux", "clock": 1}]),
    );
    c.celadon
        .json_until(
            "celadon to know the silent worker",
            &format!("/api/workers?workername={ghost}"),
            RUN,
            |w| w.get(ghost).is_some(),
        )
        .await;
    // Something listens on the pidbox channel and never answers (as a
    // worker that is busy or gone bad): a broadcast is delivered, and each
    // inspection waits its whole timeout for replies.
    let mut silent = c.redis.connection().unwrap();
    let mut silent = silent.as_pubsub();
    silent.subscribe("/0.celery.pidbox").unwrap();
    let baseline = connected_clients(&c);

    let (status, body) = c
        .celadon
        .get("/api/workers?refresh=1&workername=never-seen@nowhere")
        .await;
    assert_eq!(status, 404, "{body}");

    // Redis' client count, sampled every 20 ms over a few inspect
    // timeouts (1 s each) from before the flood starts.
    let sampler = {
        let mut conn = c.redis.connection().unwrap();
        tokio::spawn(async move {
            let mut most = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for _ in 0..200 {
                tick.tick().await;
                let info: String = redis::cmd("INFO").arg("clients").query(&mut conn).unwrap();
                let n: i64 = info
                    .lines()
                    .find_map(|l| l.strip_prefix("connected_clients:"))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap();
                most = most.max(n);
            }
            most
        })
    };
    // Every other way to ask for an inspection, at the same time.
    let view = serde_json::to_string(&View::Worker { name: ghost.into() }).unwrap();
    let view: String = url::form_urlencoded::byte_serialize(view.as_bytes()).collect();
    let asks = [
        format!("/api/workers?refresh=1&workername={ghost}"),
        format!("/snapshot?inspect=1&view={view}"),
        "/workers?refresh=1&json=1".to_string(),
        "/api/workers?refresh=1".to_string(),
    ];
    let refreshes = asks.iter().cycle().take(40).map(|path| c.celadon.get(path));
    let subscriptions = async {
        let mut sockets = Vec::new();
        for i in 0..60 {
            let mut socket = open_ws(&c.celadon, None).await.expect("a websocket");
            let name = if i % 2 == 0 {
                ghost.to_string()
            } else {
                format!("never-seen-{i}@nowhere")
            };
            let subscribe = serde_json::to_string(&ClientMsg::Subscribe {
                view: View::Worker { name },
            })
            .unwrap();
            socket.send(Message::text(subscribe)).await.unwrap();
            sockets.push(socket);
        }
        sockets
    };
    let (sockets, _) = tokio::join!(subscriptions, futures_util::future::join_all(refreshes));
    // The sampler counts the sampler's own connection too.
    let most = sampler.await.unwrap() - 1;
    let bound = server::control::pidbox::MAX_REPLY_CONNECTIONS as i64;
    assert!(
        most - baseline <= bound,
        "{most} Redis clients at most, {baseline} before: more than {bound} for replies"
    );
    drop(sockets);
    drop(silent);
    c.celadon.stop().await.unwrap();
}

/// Events per second of the stream the searches run against: the issue's
/// figure. Each task is two events (received, succeeded), published in
/// batches as a busy worker sends them; the stream is checked lossless
/// (every task in the model, nothing dropped by the reader) after the
/// searches ran against it throughout.
const STREAM_RATE: usize = 20_000;
const STREAM_SECONDS: usize = 3;
/// Events per PUBLISH, as a busy worker batches them.
const EVENTS_PER_PUBLISH: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_term_kwargs_searches_are_refused_or_bounded_while_events_stream_in() {
    let c = Cluster::start().await;
    let too_many: Vec<String> = (0..64).map(|i| format!("kwargs:k{i}=v{i}")).collect();
    let query = |terms: &[String]| {
        format!(
            "/api/tasks?limit=10&search={}",
            url::form_urlencoded::byte_serialize(terms.join(" ").as_bytes()).collect::<String>()
        )
    };
    let (status, body) = c.celadon.get(&query(&too_many)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("more than 8 terms"), "{body}");
    let bounded = &too_many[..server::state::search::MAX_TEXT_TERMS];

    let tasks = STREAM_RATE * STREAM_SECONDS / 2;
    let publisher = {
        let mut conn = c.redis.connection().unwrap();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let per_tick = STREAM_RATE / 10 / EVENTS_PER_PUBLISH;
            let mut events = Vec::with_capacity(EVENTS_PER_PUBLISH);
            let mut tick = 0;
            for i in 0..tasks {
                let uuid = format!("00000000-0000-4000-8000-{i:012}");
                let t = now();
                events.push(
                    json!({"type": "task-received", "uuid": uuid, "hostname": "w@h",
                    "timestamp": t, "name": "tasks.add", "args": "(1, 2)",
                    "kwargs": format!("{{'k{}': 'v{}', 'n': {i}}}", i % 64, i % 64),
                    "retries": 0, "clock": 2 * i}),
                );
                events.push(
                    json!({"type": "task-succeeded", "uuid": uuid, "hostname": "w@h",
                    "timestamp": t, "result": "3", "runtime": 0.001, "clock": 2 * i + 1}),
                );
                if events.len() >= EVENTS_PER_PUBLISH {
                    let envelope = json!({"body": Value::Array(std::mem::take(&mut events)).to_string(),
                        "content-type": "application/json", "properties": {}});
                    let _: i64 = redis::cmd("PUBLISH")
                        .arg("/0.celeryev/task.multi")
                        .arg(envelope.to_string())
                        .query(&mut conn)
                        .unwrap();
                    tick += 1;
                    // Paced to the rate: a tenth of a second's worth per tick.
                    if tick % per_tick.max(1) == 0 {
                        let due = Duration::from_millis(100 * (tick / per_tick.max(1)) as u64);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
            }
        })
    };
    let mut searches = 0;
    while !publisher.is_finished() {
        let (status, body) = c.celadon.get(&query(bounded)).await;
        assert_eq!(status, 200, "{body}");
        searches += 1;
    }
    publisher.await.unwrap();
    let stats = c
        .celadon
        .json_until("every streamed task", "/api/stats", RUN, |s| {
            s["model"]["tasks"].as_u64() == Some(tasks as u64)
        })
        .await;
    assert_eq!(stats["events"]["dropped"], 0, "{stats}");
    assert!(searches > 0, "no search ran while the stream was sent");
    let (status, found) = c.celadon.get(&query(&bounded[..1])).await;
    assert_eq!(status, 200, "{found}");
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found.as_object().unwrap().len(), 10, "{found}");
    c.celadon.stop().await.unwrap();
}
