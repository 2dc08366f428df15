//! `/ws`: one websocket per browser tab. The browser says which view it
//! shows; this task relays that view's snapshot and deltas from the model's
//! owner. One task per socket does both directions, so nothing outlives it.
//! Sockets are counted: past [`MAX_SOCKETS_PER_CLIENT`] from one address
//! or [`MAX_SOCKETS`] in all, an upgrade is refused (429, 503).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::wire::{ClientMsg, ServerMsg, View};
use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::{AppState, error::ApiError, redaction::Redaction, snapshot};
use crate::listen::client::Client;

/// Websockets open at once, from everyone. Each costs a task, a
/// subscription to the model's fan-out and its buffer; past this an
/// upgrade answers 503.
pub const MAX_SOCKETS: usize = 1024;

/// Websockets open at once from one client address (with `--xheaders`,
/// the address the proxy names; without, a proxy's clients share its
/// address). Many tabs fit; a script opening sockets in a loop does not:
/// past this an upgrade answers 429.
pub const MAX_SOCKETS_PER_CLIENT: usize = 64;

/// The open websockets, in all and by client address. A plain mutex: it is
/// held to count, never across an await.
#[derive(Default)]
pub struct SocketCount {
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// One counted socket; dropping it uncounts it.
pub struct SocketSlot {
    count: Arc<SocketCount>,
    client: String,
}

impl SocketCount {
    /// A slot for a socket from `client`, or the refusal.
    pub fn take(self: &Arc<Self>, client: &str) -> Result<SocketSlot, ApiError> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_client) = &mut *open;
        if *total >= MAX_SOCKETS {
            return Err(ApiError::Rejected {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                why: format!(
                    "celadon has {MAX_SOCKETS} websockets open, its most; try again later"
                ),
            });
        }
        let mine = by_client.entry(client.to_string()).or_default();
        if *mine >= MAX_SOCKETS_PER_CLIENT {
            return Err(ApiError::Rejected {
                status: axum::http::StatusCode::TOO_MANY_REQUESTS,
                why: format!(
                    "{client} has {MAX_SOCKETS_PER_CLIENT} websockets open, the most one client may"
                ),
            });
        }
        *mine += 1;
        *total += 1;
        Ok(SocketSlot {
            count: self.clone(),
            client: client.to_string(),
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self
            .count
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_client) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// Largest message a browser may send; its messages are tiny.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// While a tab shows a worker, the worker is asked for its stats, queues,
/// tasks and configuration this often (Flower asks on every page load).
const WORKER_REFRESH: Duration = Duration::from_secs(10);

/// A browser that takes longer than this to accept one message is dropped;
/// it reconnects and resyncs when it recovers.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    redaction: Redaction,
    client: Option<axum::Extension<Client>>,
) -> Result<Response, ApiError> {
    let addr = client.map_or_else(|| "unknown".to_string(), |c| c.0.addr);
    let slot = app.socket_count.take(&addr)?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            let tracker = app.sockets.clone();
            tracker.track_future(async move {
                serve(socket, app, redaction).await;
                drop(slot);
            })
        }))
}

async fn serve(socket: WebSocket, app: AppState, redaction: Redaction) {
    let (mut sink, mut stream) = socket.split();
    let mut current: Option<(View, mpsc::Receiver<ServerMsg>)> = None;
    let mut refresh = tokio::time::interval(WORKER_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The inspection under way for the Worker page, owned by this loop so
    // it ends with the socket.
    let mut inspecting: Option<futures_util::future::BoxFuture<'static, ()>> = None;
    loop {
        let shown_worker = match &current {
            Some((View::Worker { name }, _)) => Some(name.clone()),
            _ => None,
        };
        let idle = inspecting.is_none();
        let inspection = async {
            match inspecting.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        let update = async {
            match current.as_mut() {
                Some((_, updates)) => updates.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = app.cancel.cancelled() => {
                // A browser that is not reading does not hold up shutdown.
                let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(None))).await;
                break;
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMsg>(&text) {
                    Ok(ClientMsg::Subscribe { view }) if snapshot::refused_search(&view, &redaction).is_some() => {
                        // One snapshot saying why, and nothing after it
                        // until the browser asks for another view.
                        current = None;
                        let Ok(refused) = snapshot::redacted_snapshot(&app.state, view, &redaction).await else { break };
                        let msg = ServerMsg::Snapshot { seq: 0, snapshot: Box::new(refused) };
                        let Ok(text) = serde_json::to_string(&msg) else { continue };
                        if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await, Ok(Ok(()))) {
                            break;
                        }
                    }
                    Ok(ClientMsg::Subscribe { view }) => {
                        let Ok(updates) = app.state.subscribe(view.clone()).await else { break };
                        if matches!(view, View::Worker { .. }) {
                            refresh.reset_immediately();
                        }
                        current = Some((view, updates));
                    }
                    Err(error) => tracing::debug!(%error, "ignoring an unreadable client message"),
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            () = inspection => inspecting = None,
            _ = refresh.tick(), if shown_worker.is_some() && idle => {
                let refresher = app.refresher.clone();
                inspecting = Some(Box::pin(async move {
                    if let Err(error) = refresher.refresh(shown_worker).await {
                        tracing::debug!(%error, "worker page inspection failed");
                    }
                }));
            }
            msg = update => match msg {
                Some(mut msg) => {
                    redaction.apply(|r| r.message(&mut msg));
                    let Ok(text) = serde_json::to_string(&msg) else { continue };
                    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                // The owner dropped the subscription (this socket fell
                // behind): start over with a fresh snapshot.
                None => {
                    let Some((view, _)) = current.take() else { continue };
                    let Ok(updates) = app.state.subscribe(view.clone()).await else { break };
                    current = Some((view, updates));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_per_client_and_in_all_and_given_back_when_dropped() {
        let count = Arc::new(SocketCount::default());
        let mine: Vec<_> = (0..MAX_SOCKETS_PER_CLIENT)
            .map(|_| count.take("10.0.0.1").unwrap())
            .collect();
        let refused = count.take("10.0.0.1").map(|_| ()).unwrap_err();
        assert!(
            matches!(refused, ApiError::Rejected { status, .. } if status == axum::http::StatusCode::TOO_MANY_REQUESTS)
        );
        let other = count.take("10.0.0.2").unwrap();
        drop(mine);
        let again = count.take("10.0.0.1").unwrap();
        let mut rest = Vec::new();
        for i in 2..MAX_SOCKETS {
            rest.push(count.take(&format!("client {}", i % 1000)).unwrap());
        }
        let full = count.take("someone new").map(|_| ()).unwrap_err();
        assert!(
            matches!(full, ApiError::Rejected { status, .. } if status == axum::http::StatusCode::SERVICE_UNAVAILABLE)
        );
        drop((other, again, rest));
        assert!(count.take("someone new").is_ok());
    }
}
