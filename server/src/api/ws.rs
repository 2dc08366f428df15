//! `/ws`: one websocket per browser tab. The browser says which view it
//! shows; this task relays that view's snapshot and deltas from the model's
//! owner. One task per socket does both directions, so nothing outlives it.

use std::time::Duration;

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

use super::{AppState, redaction::Redaction, snapshot};
use crate::poll::inspector;

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
) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            let tracker = app.sockets.clone();
            tracker.track_future(serve(socket, app, redaction))
        })
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
                let (pidbox, state, timeout) = (app.pidbox.clone(), app.state.clone(), app.inspect_timeout);
                let destination = shown_worker.into_iter().collect::<Vec<_>>();
                inspecting = Some(Box::pin(async move {
                    let methods = &inspector::WORKER_METHODS;
                    if let Err(error) = inspector::inspect(&pidbox, &state, methods, Some(&destination), timeout).await {
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
