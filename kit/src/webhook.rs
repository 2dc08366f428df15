//! A webhook receiver: a real HTTP server on a free port of 127.0.0.1 that
//! records every request (method, path, headers, the exact body bytes, when
//! it came) and answers 200, or what it was told to answer first (a 500
//! for the first N requests, a 429 with `Retry-After`, no answer at all),
//! for the notification tests and the demo. It is owned: dropping it stops
//! its server and every connection it holds.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinSet};

use crate::poll;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Names lowercase, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered (or is to be, for one held unanswered).
    pub answered: u16,
}

impl Received {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the body is not JSON")
    }
}

/// What to answer instead of 200.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// This status, with `Retry-After: <seconds>` when given.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Nothing, until the receiver is dropped: a receiver that hangs.
    Hang,
}

struct Rule {
    /// `None`: any path.
    path: Option<String>,
    remaining: Option<usize>,
    answer: Answer,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    rules: Mutex<Vec<Rule>>,
}

/// The receiver; see the module doc.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on 127.0.0.1:0; serving from the moment it returns.
    pub async fn start() -> anyhow::Result<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the webhook receiver")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(WebhookReceiver {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first `n` requests (any path) are answered `status`.
    pub fn fail_first(&self, n: usize, status: u16) {
        self.answer(
            None,
            Some(n),
            Answer::Status {
                status,
                retry_after: None,
            },
        );
    }

    /// The first `n` requests to `path` are answered `status`.
    pub fn fail_path(&self, path: &str, n: usize, status: u16) {
        self.answer(
            Some(path),
            Some(n),
            Answer::Status {
                status,
                retry_after: None,
            },
        );
    }

    /// The first `n` requests to `path` (any path: `None`; every one:
    /// `n = None`) get `answer`. Rules are tried in the order given; a
    /// request matching none is answered 200.
    pub fn answer(&self, path: Option<&str>, n: Option<usize>, answer: Answer) {
        if let Ok(mut rules) = self.shared.rules.lock() {
            rules.push(Rule {
                path: path.map(str::to_string),
                remaining: n,
                answer,
            });
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The requests to `path` so far.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        let mut all = self.requests();
        all.retain(|r| r.path == path);
        all
    }

    /// Waits until at least `n` requests have come, and returns them all.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> anyhow::Result<Vec<Received>> {
        poll::until_async(&format!("{n} webhook requests"), deadline, || {
            let got = self.requests();
            std::future::ready(Ok((got.len() >= n).then_some(got)))
        })
        .await
    }

    /// Waits until at least `n` requests to `path` have come, and returns
    /// them.
    pub async fn wait_for_path(
        &self,
        path: &str,
        n: usize,
        deadline: Duration,
    ) -> anyhow::Result<Vec<Received>> {
        poll::until_async(&format!("{n} webhook requests to {path}"), deadline, || {
            let got = self.requests_to(path);
            std::future::ready(Ok((got.len() >= n).then_some(got)))
        })
        .await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        // The accept loop owns every connection's task (a JoinSet):
        // aborting it drops them all, held requests included.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.to_string());
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return Ok(respond(400, None)),
    };
    let answer = shared.rules.lock().ok().and_then(|mut rules| {
        let rule = rules.iter_mut().find(|r| {
            r.path.as_deref().is_none_or(|p| p == path) && r.remaining.is_none_or(|n| n > 0)
        })?;
        if let Some(n) = &mut rule.remaining {
            *n -= 1;
        }
        Some(rule.answer.clone())
    });
    let (status, retry_after) = match &answer {
        Some(Answer::Status {
            status,
            retry_after,
        }) => (*status, *retry_after),
        Some(Answer::Hang) => (0, None),
        None => (200, None),
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(Received {
            method,
            path,
            headers,
            body,
            at,
            answered: status,
        });
    }
    if answer == Some(Answer::Hang) {
        std::future::pending::<()>().await;
    }
    Ok(respond(status, retry_after))
}

fn respond(status: u16, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(seconds) = retry_after
        && let Ok(value) = hyper::header::HeaderValue::from_str(&seconds.to_string())
    {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_requests_and_fails_the_first_ones_as_told() {
        let receiver = WebhookReceiver::start().await.unwrap();
        receiver.fail_path("/a", 2, 503);
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for path in ["/a", "/b", "/a", "/a"] {
            let r = client
                .post(receiver.url(path))
                .header("x-test", "1")
                .body(vec![0u8, 255, b'{'])
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [503, 200, 503, 200]);
        let got = receiver.wait_for(4, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got[1].path, "/b");
        assert_eq!(got[1].method, "POST");
        assert_eq!(got[1].body, [0u8, 255, b'{']);
        assert_eq!(got[1].header("X-Test"), Some("1"));
        assert_eq!(receiver.requests_to("/a").len(), 3);
    }
}
