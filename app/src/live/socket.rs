//! The browser's websocket to the server (`<base>/ws`): subscribes to the
//! current page's view, folds every message into the live model,
//! resubscribes on a sequence gap, and reconnects with backoff when the
//! socket closes or cannot be opened (`live::poll` keeps the page current
//! meanwhile, if plain HTTP gets through).

use std::{cell::RefCell, rc::Rc, time::Duration};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{MessageEvent, WebSocket};

use super::{Conn, Live, model::Applied};
use crate::{
    base::Base,
    wire::{ClientMsg, ServerMsg, View},
};

/// Delays before successive reconnect attempts; the last one repeats. Short
/// at first so a restarted server is picked up quickly, capped so a long
/// outage costs one attempt every few seconds.
const RECONNECT_DELAYS_MS: [u64; 5] = [200, 500, 1_000, 2_000, 3_000];

struct Socket {
    live: Live,
    /// `ws:` or `wss:` URL of the websocket, under the base.
    url: Option<String>,
    ws: Option<WebSocket>,
    /// The callbacks of `ws`; they must live as long as it does.
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    failed_attempts: usize,
}

type Shared = Rc<RefCell<Socket>>;

pub(super) fn start(live: Live, base: Base) {
    let socket: Shared = Rc::new(RefCell::new(Socket {
        live,
        url: ws_url(base),
        ws: None,
        handlers: Vec::new(),
        failed_attempts: 0,
    }));
    open(&socket);
    let resubscribe = socket.clone();
    Effect::new(move |_| {
        if let Some(view) = live.view.get() {
            resubscribe.borrow().subscribe(view);
        }
    });
}

impl Socket {
    fn subscribe(&self, view: View) {
        let Some(ws) = &self.ws else { return };
        if ws.ready_state() != WebSocket::OPEN {
            return; // `onopen` subscribes to the view current by then
        }
        if let Ok(text) = serde_json::to_string(&ClientMsg::Subscribe { view }) {
            let _ = ws.send_with_str(&text);
        }
    }
}

fn ws_url(base: Base) -> Option<String> {
    let location = window().location();
    let scheme = match location.protocol().ok()?.as_str() {
        "https:" => "wss:",
        _ => "ws:",
    };
    Some(format!(
        "{scheme}//{}{}",
        location.host().ok()?,
        base.href("/ws")
    ))
}

fn open(socket: &Shared) {
    let url = socket.borrow().url.clone();
    let Some(ws) = url.and_then(|url| WebSocket::new(&url).ok()) else {
        schedule_reconnect(socket);
        return;
    };

    let on_open = {
        let socket = socket.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let s = socket.borrow();
            if let Some(view) = s.live.view.get_untracked() {
                s.subscribe(view);
            }
        })
    };
    let on_message = {
        let socket = socket.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|e| e.data().as_string())
            else {
                return;
            };
            let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) else {
                leptos::logging::warn!("celadon: ignoring an unreadable server message");
                return;
            };
            on_server_msg(&socket, msg);
        })
    };
    let on_close = {
        let socket = socket.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| schedule_reconnect(&socket))
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));

    let mut s = socket.borrow_mut();
    s.ws = Some(ws);
    s.handlers = vec![on_open, on_message, on_close];
}

fn on_server_msg(socket: &Shared, msg: ServerMsg) {
    let is_snapshot = matches!(msg, ServerMsg::Snapshot { .. });
    let live = socket.borrow().live;
    let mut outcome = Applied::Ok;
    live.model.update(|m| outcome = m.apply(msg));
    match outcome {
        Applied::Ok if is_snapshot => {
            socket.borrow_mut().failed_attempts = 0;
            live.conn.set(Conn::Live);
        }
        Applied::Ok => {}
        Applied::Resync => {
            if let Some(view) = live.view.get_untracked() {
                socket.borrow().subscribe(view);
            }
        }
    }
}

/// Runs `open` again after a delay. Called from a socket callback, so the
/// old callbacks are dropped later, by the timer, not while they run. The
/// page is not live meanwhile; while the poll keeps it current, a failed
/// attempt leaves the indicator saying so.
fn schedule_reconnect(socket: &Shared) {
    let delay = {
        let mut s = socket.borrow_mut();
        if s.live.conn.get_untracked() != Conn::Polling {
            s.live.conn.set(Conn::Reconnecting);
        }
        if let Some(ws) = s.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        let i = s.failed_attempts.min(RECONNECT_DELAYS_MS.len() - 1);
        s.failed_attempts += 1;
        RECONNECT_DELAYS_MS[i]
    };
    let socket = socket.clone();
    set_timeout(
        move || {
            socket.borrow_mut().handlers.clear();
            open(&socket);
        },
        Duration::from_millis(delay),
    );
}
