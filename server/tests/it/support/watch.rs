//! A websocket client that watches a view the way the browser does: it
//! folds every message with the browser's own `LiveModel::apply`.

use std::time::Duration;

use app::{
    live::model::{Applied, LiveModel},
    wire::{BrokerState, ClientMsg, ServerMsg, View, ViewData, WorkerRow, WorkerStatus},
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use kit::Celadon;

pub struct Watch {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    pub model: LiveModel,
}

impl Watch {
    pub async fn workers(celadon: &Celadon) -> Watch {
        let url = format!("ws://{}{}", celadon.addr, celadon.base.href("/ws"));
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("open /ws");
        let subscribe = ClientMsg::Subscribe {
            view: View::Workers,
        };
        socket
            .send(Message::text(
                serde_json::to_string(&subscribe).expect("json"),
            ))
            .await
            .expect("send subscribe");
        Watch {
            socket,
            model: LiveModel::default(),
        }
    }

    /// Reads messages until `done` holds for the model, or panics after
    /// `deadline` naming `what`.
    pub async fn until(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&LiveModel) -> bool,
    ) {
        let read = async {
            while !done(&self.model) {
                let msg = self
                    .socket
                    .next()
                    .await
                    .expect("socket open")
                    .expect("frame");
                let Message::Text(text) = msg else { continue };
                let msg: ServerMsg = serde_json::from_str(&text).expect("a ServerMsg");
                assert_eq!(
                    self.model.apply(msg),
                    Applied::Ok,
                    "messages arrive in sequence"
                );
            }
        };
        if tokio::time::timeout(deadline, read).await.is_err() {
            panic!(
                "timed out after {deadline:?} waiting for {what}; model: {:#?}",
                self.model
            );
        }
    }
}

pub fn worker<'a>(model: &'a LiveModel, hostname: &str) -> Option<&'a WorkerRow> {
    match &model.data {
        Some(ViewData::Workers { workers, .. }) => workers.iter().find(|w| w.hostname == hostname),
        _ => None,
    }
}

pub fn is_online(model: &LiveModel, hostname: &str) -> bool {
    worker(model, hostname).is_some_and(|w| w.status == WorkerStatus::Online)
}

pub fn is_offline(model: &LiveModel, hostname: &str) -> bool {
    worker(model, hostname).is_some_and(|w| w.status == WorkerStatus::Offline)
}

pub fn broker_state(model: &LiveModel) -> Option<BrokerState> {
    model.broker.as_ref().map(|b| b.state)
}
