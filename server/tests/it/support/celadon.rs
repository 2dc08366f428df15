//! The real server, started in-process on `127.0.0.1:0`.

use std::net::SocketAddr;

use server::{broker::url::BrokerUrl, Config};
use tokio::{sync::oneshot, task::JoinHandle};

pub struct Celadon {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Celadon {
    pub async fn start(broker: BrokerUrl) -> Celadon {
        Celadon::start_with(Config::new(broker)).await
    }

    pub async fn start_with(config: Config) -> Celadon {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Celadon {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(self.url(path)).await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// GETs `path`, expecting 200 and JSON.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// POSTs to `path` with an optional JSON body; returns the status and
    /// the JSON answer (`null` if it was not JSON).
    pub async fn post(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new().post(self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// POSTs `body`, JSON text sent as it is (a `Value` would sort its
    /// keys); returns as [`Celadon::post`].
    pub async fn post_text(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls `path` until it answers 200 with JSON for which `done` holds,
    /// or panics with `what` after `deadline`.
    pub async fn json_until(
        &self,
        what: &str,
        path: &str,
        deadline: std::time::Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = tokio::time::Instant::now();
        loop {
            // Not there yet (a task not yet ingested is a 404) counts as
            // not done, until the deadline.
            let (status, body) = self.get(path).await;
            let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
            if status == 200 && done(&value) {
                return value;
            }
            if start.elapsed() > deadline {
                panic!(
                    "timed out after {deadline:?} waiting for {what}; last {path}: {status} {body}"
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Shuts down and checks that every task stopped cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(std::time::Duration::from_secs(10), task)
                .await
                .expect("celadon stops within 10 s");
            result.expect("server task").expect("server ran cleanly");
        }
    }
}

impl Drop for Celadon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
