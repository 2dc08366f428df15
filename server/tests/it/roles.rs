//! Roles from `--roles` for basic-auth users, with a real worker: each
//! person may do exactly what their role allows, and a viewer sees task
//! data redacted (`--redact`) on every way out: the API, exports, the
//! snapshot, the websocket and the rendered page; nor may a viewer search
//! into it.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use kit::{Celadon, Redis, Scratch, Worker, WorkerOptions};
use server::config::signon::SignOnOptions;

const RUN: Duration = Duration::from_secs(30);
const SECRET: &str = "hunter2-the-password";

struct Site {
    celadon: Celadon,
    http: reqwest::Client,
}

impl Site {
    async fn get(&self, who: &str, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.celadon.url(path))
            .basic_auth(who, Some("pw"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, who: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.celadon.url(path))
            .basic_auth(who, Some("pw"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_it_may_and_a_viewer_sees_task_data_redacted() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let mut config = Celadon::config(redis.broker_url());
    config.basic_auth = ["ann", "bob", "cy"]
        .map(|u| (u.to_string(), "pw".to_string()))
        .to_vec();
    let mut sign_on = SignOnOptions::new();
    sign_on.roles = vec!["admin=ann".into(), "operator=bob".into()];
    sign_on.redact = vec![format!("'password': '[^']*'")];
    config.sign_on = sign_on.resolve().unwrap();
    let celadon = Celadon::start_with(config).await.unwrap();
    let site = Site {
        celadon,
        http: reqwest::Client::new(),
    };
    let worker = Worker::start_with(&redis, "roles", &dir, &WorkerOptions::default()).unwrap();
    let kwargs = format!("{{\"user\": \"ann\", \"password\": \"{SECRET}\"}}");
    let id = kit::celery::send(&redis, "echo", "[]", &["--kwargs", &kwargs]).unwrap();

    // The admin sees the task whole once it has run.
    let deadline = tokio::time::Instant::now() + RUN;
    let whole = loop {
        let (status, body) = site.get("ann", &format!("/api/task/info/{id}")).await;
        if status == 200 && body.contains("SUCCESS") {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never succeeded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(whole.contains(SECRET), "{whole}");

    // The viewer, every way out.
    let redacted = "‹redacted›";
    for path in [
        format!("/api/task/info/{id}"),
        "/api/tasks".to_string(),
        "/api/tasks?limit=10".to_string(),
        "/api/tasks?format=csv".to_string(),
        "/api/tasks?format=ndjson".to_string(),
        format!("/snapshot?view={{\"page\":\"task\",\"id\":\"{id}\"}}"),
        format!("/task/{id}"),
    ] {
        let (status, body) = site.get("cy", &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(SECRET), "{path} shows the secret: {body}");
        assert!(
            body.contains(redacted) || path.ends_with(&id) && body.contains("&lsaquo;"),
            "{path}: {body}"
        );
    }
    let (status, body) = site.get("cy", "/api/tasks?search=hunter2").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = site
        .get("cy", "/api/tasks?search=kwargs%3Apassword%3Dx")
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = site.get("cy", "/api/tasks?search=name%3Aecho").await;
    assert_eq!(status, 200, "a search by name is a viewer's to make");
    // The operator sees task data whole.
    let (_, body) = site.get("bob", &format!("/api/task/info/{id}")).await;
    assert!(body.contains(SECRET), "{body}");

    // The websocket, as the viewer.
    let url = site.celadon.url("/ws").replace("http://", "ws://");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("cy:pw");
    request
        .headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::SinkExt;
    let subscribe =
        format!("{{\"type\":\"subscribe\",\"view\":{{\"page\":\"task\",\"id\":\"{id}\"}}}}");
    ws.send(tokio_tungstenite::tungstenite::Message::text(subscribe))
        .await
        .unwrap();
    let first = tokio::time::timeout(RUN, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = first.into_text().unwrap();
    assert!(text.contains(redacted) && !text.contains(SECRET), "{text}");

    // Actions by role.
    let revoke = format!("/api/task/revoke/{id}");
    let shutdown = format!("/api/worker/shutdown/{}", worker.hostname);
    let grow = format!("/api/worker/pool/grow/{}?n=1", worker.hostname);
    assert_eq!(
        site.post("cy", &revoke).await.0,
        403,
        "a viewer may not revoke"
    );
    let (status, body) = site.post("bob", &revoke).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = site.post("bob", &grow).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    let (status, body) = site.post("ann", &grow).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(site.post("bob", &shutdown).await.0, 403);
    site.celadon.stop().await.unwrap();
}
