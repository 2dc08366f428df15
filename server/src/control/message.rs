//! Task messages celadon sends (protocol 2, PROTOCOL.md §6) and the
//! `task-sent` event that announces them. Every message is the complete
//! envelope Celery itself builds: a three-element body, `delivery_info`
//! and `delivery_tag` — a worker that takes a partial one crashes, and so
//! does the next one it is restored to (§6.5). Pure: ids and times come in.

use base64::Engine;
use serde_json::json;

use super::{arguments::Arguments, pyjson};
use crate::broker::naming::Naming;

/// Celery cuts `argsrepr`/`kwargsrepr` at this many characters (saferepr's
/// `maxlen`); events carry these, so the cut keeps them small.
pub const REPR_LIMIT: usize = 1024;

/// What a sender chooses of a message, as Celery's `apply_async` takes it
/// (those of its options a message carries).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// The queue whose list the message goes to; `celery` if neither this
    /// nor `routing_key` is given.
    pub queue: Option<String>,
    /// The routing key `delivery_info` names; the queue's name if not given
    /// (Celery's default exchange routes by queue name).
    pub routing_key: Option<String>,
    /// 0–9; on Redis, lower is served first.
    pub priority: Option<u8>,
    /// ISO-8601 with an offset.
    pub eta: Option<String>,
    pub expires: Option<String>,
    /// The name shown in logs and events instead of the task's.
    pub shadow: Option<String>,
    /// `(soft, hard)` time limits in seconds.
    pub time_limits: (Option<f64>, Option<f64>),
    pub ignore_result: bool,
    pub retries: u32,
    /// Headers added to Celery's own (never replacing one of them).
    pub headers: serde_json::Map<String, serde_json::Value>,
}

/// A task to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    pub id: String,
    pub name: String,
    /// Sent as they are: the body holds these texts byte for byte.
    pub arguments: Arguments,
    /// The queue whose list the message goes to.
    pub queue: String,
    pub options: Options,
    pub root_id: Option<String>,
    pub parent_id: Option<String>,
    /// The producer's node name, `gen<pid>@<host>` as Celery's clients.
    pub origin: String,
    pub delivery_tag: String,
}

/// The list key the message goes to: the queue's key for the priority
/// step the priority falls in (the highest step not above it, §6.7).
pub fn list_key(naming: &Naming, queue: &str, priority: u8) -> String {
    let steps = &naming.options.priority_steps;
    let keys = naming.queue_keys(queue);
    let index = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| **s <= priority)
        .map(|(i, _)| i)
        .next_back()
        .unwrap_or(0);
    keys.get(index)
        .cloned()
        .unwrap_or_else(|| naming.key(queue))
}

/// Python's repr of a JSON text (as Celery's `saferepr` of what the
/// worker decodes), in the text's own order, cut at [`REPR_LIMIT`]
/// characters with Celery's `...` marker.
pub fn python_repr(json: &str) -> String {
    let text = pyjson::repr(json);
    match text.char_indices().nth(REPR_LIMIT) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// The headers Celery's protocol 2 defines, which [`Options::headers`]
/// may not replace.
pub const PROTOCOL_HEADERS: [&str; 19] = [
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "replaced_task_nesting",
    "stamped_headers",
    "stamps",
];

impl NewTask {
    /// The routing key `delivery_info` names.
    fn routing_key(&self) -> &str {
        self.options.routing_key.as_deref().unwrap_or(&self.queue)
    }
}

/// The message, as the string to LPUSH.
pub fn envelope(t: &NewTask) -> String {
    let root = t.root_id.clone().unwrap_or_else(|| t.id.clone());
    let o = &t.options;
    let mut message = json!({
        "body": base64::engine::general_purpose::STANDARD.encode(t.arguments.body()),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": t.name,
            "id": t.id,
            "shadow": o.shadow,
            "eta": o.eta,
            "expires": o.expires,
            "group": null,
            "group_index": null,
            "retries": o.retries,
            "timelimit": [o.time_limits.0, o.time_limits.1],
            "root_id": root,
            "parent_id": t.parent_id,
            "argsrepr": python_repr(t.arguments.args()),
            "kwargsrepr": python_repr(t.arguments.kwargs()),
            "origin": t.origin,
            "ignore_result": o.ignore_result,
            "replaced_task_nesting": 0,
            "stamped_headers": null,
            "stamps": {},
        },
        "properties": {
            "correlation_id": t.id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": t.routing_key()},
            "priority": o.priority.unwrap_or(0),
            "body_encoding": "base64",
            "delivery_tag": t.delivery_tag,
        },
    });
    if let Some(headers) = message["headers"].as_object_mut() {
        for (k, v) in &o.headers {
            if !PROTOCOL_HEADERS.contains(&k.as_str()) {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    message.to_string()
}

/// The `task-sent` event a client publishes with the message (when
/// `task_send_sent_event` is on): the dashboard sees the task at once.
pub fn sent_event(t: &NewTask, pid: u32, timestamp: f64, event_tag: &str) -> String {
    let body = json!({
        "hostname": t.origin,
        "utcoffset": 0.0,
        "pid": pid,
        "clock": 1,
        "uuid": t.id,
        "root_id": t.root_id.clone().unwrap_or_else(|| t.id.clone()),
        "parent_id": t.parent_id,
        "name": t.name,
        "args": python_repr(t.arguments.args()),
        "kwargs": python_repr(t.arguments.kwargs()),
        "retries": t.options.retries,
        "eta": t.options.eta,
        "expires": t.options.expires,
        "queue": t.queue,
        "exchange": "",
        "routing_key": t.routing_key(),
        "timestamp": timestamp,
        "type": "task-sent",
    });
    json!({
        "body": base64::engine::general_purpose::STANDARD.encode(body.to_string()),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"hostname": t.origin},
        "properties": {
            "delivery_mode": 1,
            "delivery_info": {"exchange": "celeryev", "routing_key": "task.sent"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": event_tag,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        broker::transport::TransportOptions,
        control::arguments::{TRICKY_ARGS, TRICKY_KWARGS},
        pyrepr,
    };
    use serde_json::{Value, value::RawValue};

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/fixtures/task-messages/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn task() -> NewTask {
        NewTask {
            id: "cee29735-4451-42a3-9c87-0eaa10bdb1fe".into(),
            name: "tasks.add".into(),
            arguments: Arguments::from_text("[2, 3]".into(), "{}".into()).unwrap(),
            queue: "celery".into(),
            options: Options::default(),
            root_id: None,
            parent_id: None,
            origin: "gen10658@vm".into(),
            delivery_tag: "15f5a049-acd9-4c07-8ffd-5f958cc0fa94".into(),
        }
    }

    /// The keys of every object in `v`, recursively, with their paths.
    fn shape(v: &Value, path: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, v) in m {
                let p = format!("{path}.{k}");
                out.push(p.clone());
                shape(v, &p, out);
            }
        }
    }

    #[test]
    fn messages_have_every_field_celery_sends() {
        let ours: Value = serde_json::from_str(&envelope(&task())).unwrap();
        let theirs = fixture("add")["envelope"].clone();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        shape(&ours, "", &mut a);
        shape(&theirs, "", &mut b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // The body is the very bytes Celery sent, and everything else but
        // the client's reply queue is as Celery wrote it.
        assert_eq!(ours["body"], theirs["body"]);
        let mut ours = ours;
        ours["body"] = Value::Null;
        let mut theirs = theirs;
        theirs["body"] = Value::Null;
        theirs["properties"]["reply_to"] = json!("");
        assert_eq!(ours["headers"]["argsrepr"], "[2, 3]");
        theirs["headers"]["argsrepr"] = json!("[2, 3]");
        assert_eq!(ours, theirs);
    }

    /// The options a sender chose are where Celery puts them, and cannot
    /// replace one of Celery's own headers.
    #[test]
    fn a_senders_options_go_where_celery_puts_them() {
        let mut t = task();
        t.queue = "q".into();
        t.options = Options {
            queue: Some("q".into()),
            routing_key: Some("rk".into()),
            priority: Some(7),
            eta: Some("2026-12-05T15:00:00+00:00".into()),
            expires: Some("2026-12-06T15:00:00+00:00".into()),
            shadow: Some("nice".into()),
            time_limits: (Some(5.0), Some(10.0)),
            ignore_result: true,
            retries: 2,
            headers: [("tenant".to_string(), json!("acme"))]
                .into_iter()
                .collect(),
        };
        let m: Value = serde_json::from_str(&envelope(&t)).unwrap();
        let h = &m["headers"];
        assert_eq!(h["shadow"], "nice");
        assert_eq!(h["eta"], "2026-12-05T15:00:00+00:00");
        assert_eq!(h["expires"], "2026-12-06T15:00:00+00:00");
        assert_eq!(h["timelimit"], json!([5.0, 10.0]));
        assert_eq!(h["ignore_result"], true);
        assert_eq!(h["retries"], 2);
        assert_eq!(h["tenant"], "acme");
        assert_eq!(m["properties"]["priority"], 7);
        assert_eq!(m["properties"]["delivery_info"]["routing_key"], "rk");
        t.options.headers = [("id".to_string(), json!("forged"))].into_iter().collect();
        let m: Value = serde_json::from_str(&envelope(&t)).unwrap();
        assert_eq!(m["headers"]["id"], t.id, "Celery's own header is kept");
    }

    fn decoded_body(envelope: &str) -> Vec<u8> {
        crate::broker::envelope::decode_body(envelope.as_bytes()).unwrap()
    }

    #[test]
    fn the_body_holds_the_arguments_byte_for_byte_and_the_embed() {
        let mut t = task();
        t.arguments = Arguments::from_text(TRICKY_ARGS.into(), TRICKY_KWARGS.into()).unwrap();
        let body = decoded_body(&envelope(&t));
        let (args, kwargs) = (TRICKY_ARGS.as_bytes(), TRICKY_KWARGS.as_bytes());
        let embed = br#"{"callbacks": null, "errbacks": null, "chain": null, "chord": null}"#;
        let mut at = 0;
        for part in [&b"["[..], args, b", ", kwargs, b", ", embed, b"]"] {
            assert_eq!(&body[at..at + part.len()], part, "at byte {at}");
            at += part.len();
        }
        assert_eq!(at, body.len(), "nothing after the body");
        // A JSON parser finds the same spans.
        let (a, k, e): (Box<RawValue>, Box<RawValue>, Value) =
            serde_json::from_slice(&body).unwrap();
        assert_eq!(a.get().as_bytes(), args);
        assert_eq!(k.get().as_bytes(), kwargs);
        assert_eq!(
            e,
            json!({"callbacks": null, "errbacks": null, "chain": null, "chord": null})
        );
    }

    #[test]
    fn reprs_show_the_arguments_in_their_own_order() {
        let mut t = task();
        t.arguments = Arguments::from_text(TRICKY_ARGS.into(), TRICKY_KWARGS.into()).unwrap();
        let args = "[9007199254740993, 9223372036854775807, -9223372036854775808, \
                    9223372036854775808, 1e-07, 2.5e+300, 'a\"b\\\\c\\n\\x01', \
                    'héllo ☃ 𝄞', 'héllo ☃ 𝄞']";
        let kwargs = "{'zkw': {'b': 1, 'a': [{'d': 2, 'c': 3}]}, 'akw': {'y': [], 'x': {}}}";
        let message: Value = serde_json::from_str(&envelope(&t)).unwrap();
        assert_eq!(message["headers"]["argsrepr"], args);
        assert_eq!(message["headers"]["kwargsrepr"], kwargs);
        let sent: Value = serde_json::from_str(&sent_event(&t, 1, 1.0, "tag")).unwrap();
        let event: Value =
            serde_json::from_slice(&decoded_body(&sent_event(&t, 1, 1.0, "tag"))).unwrap();
        assert_eq!(sent["headers"]["hostname"], t.origin);
        assert_eq!(event["args"], args);
        assert_eq!(event["kwargs"], kwargs);
    }

    #[test]
    fn long_reprs_are_cut_like_celerys() {
        let big = json!(["x".repeat(5000)]).to_string();
        let repr = python_repr(&big);
        assert_eq!(repr.chars().count(), REPR_LIMIT + 3);
        assert!(repr.ends_with("..."));
        assert!(pyrepr::parse(&repr).is_err());
    }

    #[test]
    fn priorities_go_to_their_step_list() {
        let naming = Naming::new(0, TransportOptions::default());
        let key = |p| list_key(&naming, "q", p);
        assert_eq!(key(0), "q");
        assert_eq!(key(1), "q");
        assert_eq!(key(3), "q\x06\x163");
        assert_eq!(key(5), "q\x06\x163");
        assert_eq!(key(9), "q\x06\x169");
    }

    #[test]
    fn the_sent_event_decodes_as_a_task_sent() {
        let raw = sent_event(&task(), 42, 1795274093.0, "tag");
        let mut model = crate::state::Model::new(crate::state::ModelConfig::default());
        assert!(model.ingest(raw.as_bytes(), 1795274093.0).is_empty());
        let key = crate::state::key::TaskKey::of("cee29735-4451-42a3-9c87-0eaa10bdb1fe");
        let task = model.rest_task(key).expect("the task is known");
        assert_eq!(task.name.as_deref(), Some("tasks.add"));
        assert_eq!(task.state, "PENDING");
    }
}
