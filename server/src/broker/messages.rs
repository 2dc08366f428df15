//! Task messages as they wait in a queue's lists (PROTOCOL.md §6), decoded
//! for reading: the headers' fields, the body's `args` and `kwargs` as the
//! exact JSON text the producer wrote (never re-serialised: a `Value`
//! would sort keys and respell numbers), and the envelope's delivery
//! fields. A message that cannot be decoded is data too ([`Undecodable`]:
//! its size and first bytes), never an error for the page showing it.
//! Also the one rewrite a move makes to a message ([`rewrite_route`]).
//! Pure.

use std::{borrow::Cow, collections::HashMap};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope;

/// Bytes of an undecodable message shown as text.
pub const UNDECODABLE_PREVIEW: usize = 200;

/// A message read from a queue: decoded, or why not.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Task(Box<TaskMessage>),
    Undecodable(Undecodable),
}

/// A protocol-2 task message.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TaskMessage {
    pub id: String,
    pub task: String,
    /// The body's first element, as its JSON text.
    pub args: String,
    /// The body's second element, as its JSON text.
    pub kwargs: String,
    /// `headers.eta` (a countdown arrives as an ETA: Celery converts it).
    pub eta: Option<String>,
    pub expires: Option<String>,
    pub retries: Option<u64>,
    /// `properties.priority`.
    pub priority: Option<u64>,
    pub parent_id: Option<String>,
    pub root_id: Option<String>,
    pub group: Option<String>,
    pub origin: Option<String>,
    /// The whole `headers` object, as its JSON text.
    pub headers: String,
    pub delivery_tag: Option<String>,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    /// Restored from `unacked` at least once.
    pub redelivered: bool,
}

/// A message that is not a task message celadon can read.
#[derive(Clone, Debug, PartialEq)]
pub struct Undecodable {
    pub why: String,
    pub size: usize,
    /// The first [`UNDECODABLE_PREVIEW`] bytes, lossily as text.
    pub start: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Headers<'a> {
    #[serde(borrow)]
    task: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    eta: Option<&'a RawValue>,
    #[serde(borrow)]
    expires: Option<&'a RawValue>,
    #[serde(borrow)]
    retries: Option<&'a RawValue>,
    #[serde(borrow)]
    parent_id: Option<&'a RawValue>,
    #[serde(borrow)]
    root_id: Option<&'a RawValue>,
    #[serde(borrow)]
    group: Option<&'a RawValue>,
    #[serde(borrow)]
    origin: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Properties<'a> {
    #[serde(borrow)]
    priority: Option<&'a RawValue>,
    #[serde(borrow)]
    delivery_tag: Option<&'a RawValue>,
    #[serde(default)]
    delivery_info: Option<DeliveryInfo>,
}

#[derive(Deserialize, Default)]
struct DeliveryInfo {
    #[serde(default)]
    exchange: Option<String>,
    #[serde(default)]
    routing_key: Option<String>,
    #[serde(default)]
    redelivered: Option<bool>,
}

/// A header's value as text: a string as it reads, `null` as nothing,
/// anything else as its JSON text.
fn text(value: Option<&RawValue>) -> Option<String> {
    let raw = value?.get();
    if raw == "null" {
        return None;
    }
    Some(serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()))
}

impl Message {
    /// Decodes one list element.
    pub fn decode(raw: &[u8]) -> Message {
        match decode_task(raw) {
            Ok(task) => Message::Task(Box::new(task)),
            Err(why) => Message::Undecodable(Undecodable {
                why,
                size: raw.len(),
                start: String::from_utf8_lossy(&raw[..raw.len().min(UNDECODABLE_PREVIEW)])
                    .into_owned(),
            }),
        }
    }

    pub fn task(&self) -> Option<&TaskMessage> {
        match self {
            Message::Task(t) => Some(t),
            Message::Undecodable(_) => None,
        }
    }
}

fn decode_task(raw: &[u8]) -> Result<TaskMessage, String> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(raw).map_err(|e| format!("not a kombu envelope: {e}"))?;
    let headers_raw = envelope
        .headers
        .ok_or("the envelope has no headers: not a task message")?;
    let headers: Headers<'_> = serde_json::from_str(headers_raw.get())
        .map_err(|e| format!("the headers are not an object: {e}"))?;
    let properties: Properties<'_> = match envelope.properties {
        Some(p) => serde_json::from_str(p.get())
            .map_err(|e| format!("the properties are not an object: {e}"))?,
        None => Properties::default(),
    };
    let (Some(id), Some(task)) = (text(headers.id), text(headers.task)) else {
        return Err("the headers name no task and id: not a protocol-2 task message".into());
    };
    let body = envelope::decode_body(raw).map_err(|e| e.to_string())?;
    let parts: Vec<&RawValue> = serde_json::from_slice(&body)
        .map_err(|_| "the body is not a JSON list [args, kwargs, embed]".to_string())?;
    let [args, kwargs, _embed] = parts.as_slice() else {
        return Err(format!(
            "the body has {} elements, not [args, kwargs, embed]",
            parts.len()
        ));
    };
    if !args.get().starts_with('[') || !kwargs.get().starts_with('{') {
        return Err("the body's args are not a list or its kwargs not an object".into());
    }
    let delivery = properties.delivery_info.unwrap_or_default();
    Ok(TaskMessage {
        id,
        task,
        args: args.get().to_string(),
        kwargs: kwargs.get().to_string(),
        eta: text(headers.eta),
        expires: text(headers.expires),
        retries: text(headers.retries).and_then(|r| r.parse().ok()),
        priority: text(properties.priority).and_then(|p| p.parse().ok()),
        parent_id: text(headers.parent_id),
        root_id: text(headers.root_id),
        group: text(headers.group),
        origin: text(headers.origin),
        headers: headers_raw.get().to_string(),
        delivery_tag: text(properties.delivery_tag),
        exchange: delivery.exchange,
        routing_key: delivery.routing_key,
        redelivered: delivery.redelivered.unwrap_or(false),
    })
}

/// Whether `raw` may be the message of task `id`, without decoding it:
/// the id appears in its headers as Celery writes them.
pub fn may_be_task(raw: &[u8], id: &str) -> bool {
    !id.is_empty() && memchr::memmem::find(raw, id.as_bytes()).is_some()
}

/// `s` as a JSON string as Python's `json.dumps` writes it (ASCII only:
/// anything else as `\uXXXX`, surrogate pairs beyond the BMP), the way
/// kombu writes every envelope.
pub fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// The members of a JSON object, their values as the text they are.
fn members(json: &str) -> Result<HashMap<Cow<'_, str>, &RawValue>, String> {
    serde_json::from_str(json).map_err(|e| format!("not a JSON object: {e}"))
}

/// Where `inner` (a slice of `outer`) starts in it.
fn offset_in(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// `raw` with `properties.delivery_info` saying `{"exchange": "",
/// "routing_key": queue}`, every other byte as it was.
///
/// Why a move rewrites these two values and nothing else: when a worker
/// takes a message, kombu records it in `unacked` as `[message,
/// delivery_info.exchange, delivery_info.routing_key]` read from the
/// message itself (`QoS.append`), not from the list it came from; when the
/// message is restored (visibility timeout, warm shutdown, reconnect, a
/// `reject(requeue=True)`), `_do_restore_message` pushes it to the queues
/// `_lookup(exchange, routing_key)` names. Left as they were, a moved
/// message would go back to its old queue; with a named exchange whose
/// bindings do not route the new queue's name, it would be dropped.
/// The anonymous exchange (`""`) routes by routing key straight to the
/// queue of that name, which is how Celery publishes by default
/// (PROTOCOL.md §6.1). `redelivered` and everything else stay.
pub fn rewrite_route(raw: &[u8], queue: &str) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "the message is not UTF-8 text")?;
    let top = members(text)?;
    let properties = top
        .get("properties")
        .ok_or("the message has no properties")?;
    let props = members(properties.get())?;
    let info = props
        .get("delivery_info")
        .ok_or("the message has no properties.delivery_info")?;
    let fields = members(info.get())?;
    let (Some(exchange), Some(routing_key)) = (fields.get("exchange"), fields.get("routing_key"))
    else {
        return Err("delivery_info lacks its exchange or routing_key".into());
    };
    let mut spans = [
        (
            offset_in(text, exchange.get()),
            exchange.get().len(),
            "\"\"".to_string(),
        ),
        (
            offset_in(text, routing_key.get()),
            routing_key.get().len(),
            py_json_string(queue),
        ),
    ];
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = raw.to_vec();
    for (at, len, value) in spans {
        out.splice(at..at + len, value.into_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as Celery 5.7 writes it (PROTOCOL.md §6), body
    /// `[[2, 3], {"z": 1, "a": 1e-07}, {...}]` in base64.
    fn celery_message(id: &str, task: &str, args: &str, kwargs: &str) -> String {
        let body = format!(
            r#"[{args}, {kwargs}, {{"callbacks": null, "errbacks": null, "chain": null, "chord": null}}]"#
        );
        let b64 = base64_simd::STANDARD.encode_to_string(body.as_bytes());
        format!(
            r#"{{"body": "{b64}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {{"lang": "py", "task": "{task}", "id": "{id}", "shadow": null, "eta": "2026-11-21T15:15:08.101292+00:00", "expires": null, "group": null, "group_index": null, "retries": 2, "timelimit": [null, null], "root_id": "{id}", "parent_id": "p-1", "argsrepr": "(2, 3)", "kwargsrepr": "{{}}", "origin": "gen1@host", "ignore_result": false, "replaced_task_nesting": 0, "stamped_headers": null, "stamps": {{}}}}, "properties": {{"correlation_id": "{id}", "reply_to": "", "delivery_mode": 2, "delivery_info": {{"exchange": "", "routing_key": "celery"}}, "priority": 3, "body_encoding": "base64", "delivery_tag": "tag-{id}"}}}}"#
        )
    }

    #[test]
    fn a_celery_message_decodes_with_its_exact_arguments() {
        let kwargs = r#"{"z": 1, "a": 1e-07, "s": "h\u00e9"}"#;
        let raw = celery_message("id-1", "billing.charge", "[9007199254740993, 2.50]", kwargs);
        let m = Message::decode(raw.as_bytes());
        let t = m.task().expect("decoded");
        assert_eq!(t.id, "id-1");
        assert_eq!(t.task, "billing.charge");
        assert_eq!(t.args, "[9007199254740993, 2.50]");
        assert_eq!(t.kwargs, kwargs);
        assert_eq!(t.eta.as_deref(), Some("2026-11-21T15:15:08.101292+00:00"));
        assert_eq!(t.expires, None);
        assert_eq!(t.retries, Some(2));
        assert_eq!(t.priority, Some(3));
        assert_eq!(t.parent_id.as_deref(), Some("p-1"));
        assert_eq!(t.root_id.as_deref(), Some("id-1"));
        assert_eq!(t.origin.as_deref(), Some("gen1@host"));
        assert_eq!(t.delivery_tag.as_deref(), Some("tag-id-1"));
        assert_eq!(t.routing_key.as_deref(), Some("celery"));
        assert!(
            t.headers
                .starts_with(r#"{"lang": "py", "task": "billing.charge""#)
        );
        assert!(!t.redelivered);
    }

    #[test]
    fn junk_is_shown_as_undecodable_with_its_size_and_start() {
        let long = "x".repeat(500);
        for raw in [
            "",
            "not json",
            r#"{"body": "W10=", "headers": {}}"#,
            r#"{"body": "W1tdLCB7fV0=", "headers": {"task": "t", "id": "i"}, "properties": {"body_encoding": "base64"}}"#,
            r#"{"body": "x", "content-type": "application/x-python-serialize", "headers": {"task": "t", "id": "i"}}"#,
            long.as_str(),
        ] {
            match Message::decode(raw.as_bytes()) {
                Message::Undecodable(u) => {
                    assert_eq!(u.size, raw.len());
                    assert_eq!(u.start, raw[..raw.len().min(UNDECODABLE_PREVIEW)]);
                    assert!(!u.why.is_empty());
                }
                m => panic!("{raw}: {m:?}"),
            }
        }
    }

    #[test]
    fn a_move_rewrites_only_the_route() {
        let raw = celery_message("id-1", "t", "[]", "{}");
        let moved = rewrite_route(raw.as_bytes(), "parked").unwrap();
        let expected = raw.replace(r#""routing_key": "celery""#, r#""routing_key": "parked""#);
        assert_eq!(String::from_utf8(moved).unwrap(), expected);
        let named = raw.replace(r#""exchange": """#, r#""exchange": "tasks""#);
        let moved = rewrite_route(named.as_bytes(), "q\u{e9}\"").unwrap();
        let expected = raw.replace(
            r#""routing_key": "celery""#,
            r#""routing_key": "q\u00e9\"""#,
        );
        assert_eq!(String::from_utf8(moved).unwrap(), expected);
        assert!(rewrite_route(br#"{"body": "", "properties": {}}"#, "q").is_err());
        assert!(rewrite_route(b"\xff", "q").is_err());
    }

    #[test]
    fn python_json_strings() {
        assert_eq!(py_json_string("a\"b\\\n"), r#""a\"b\\\n""#);
        assert_eq!(
            py_json_string("h\u{e9}\u{1d11e}"),
            r#""h\u00e9\ud834\udd1e""#
        );
    }
}
