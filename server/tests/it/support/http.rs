//! The HTTP checks the tests make on a server the kit started (celadon
//! in-process, Flower): GET, JSON, POST, and a JSON poll with a deadline.
//! They assert, and panic with what they were given, as tests do; so they
//! live with the tests, and the kit only says where a server listens.

use std::time::Duration;

use serde_json::Value;

/// How often [`Http::json_until`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

pub trait Http {
    /// The URL of `path` on this server.
    fn url(&self, path: &str) -> String;

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(self.url(path)).await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// GETs `path`, expecting 200 and JSON.
    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// POSTs to `path` with an optional JSON body; returns the status and
    /// the JSON answer (`null` if it was not JSON).
    async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new().post(self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs `body`, JSON text sent as it is (a `Value` would sort its
    /// keys); returns as [`Http::post`].
    async fn post_text(&self, path: &str, body: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs `body` with `content_type` (or none), as curl and requests
    /// send bodies: the status and the JSON answer (`null` if not JSON).
    async fn post_as(&self, path: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(self.url(path))
            .body(body.to_string());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Polls `path` until it answers 200 with JSON for which `done` holds,
    /// or panics with `what` and the last answer after `deadline`.
    async fn json_until(
        &self,
        what: &str,
        path: &str,
        deadline: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = tokio::time::Instant::now();
        loop {
            // Not there yet (a task not yet ingested is a 404) counts as
            // not done, until the deadline.
            let (status, body) = self.get(path).await;
            let value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if status == 200 && done(&value) {
                return value;
            }
            if start.elapsed() > deadline {
                panic!(
                    "timed out after {deadline:?} waiting for {what}; last {path}: {status} {body}"
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

impl Http for kit::Celadon {
    fn url(&self, path: &str) -> String {
        kit::Celadon::url(self, path)
    }
}

impl Http for kit::Flower {
    fn url(&self, path: &str) -> String {
        kit::Flower::url(self, path)
    }
}
