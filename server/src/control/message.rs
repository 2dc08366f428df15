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

/// A task to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    pub id: String,
    pub name: String,
    /// Sent as they are: the body holds these texts byte for byte.
    pub arguments: Arguments,
    pub queue: String,
    /// 0–9; on Redis, lower is served first.
    pub priority: u8,
    /// ISO-8601 with an offset.
    pub eta: Option<String>,
    pub expires: Option<String>,
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

/// The message, as the string to LPUSH.
pub fn envelope(t: &NewTask) -> String {
    let root = t.root_id.clone().unwrap_or_else(|| t.id.clone());
    json!({
        "body": base64::engine::general_purpose::STANDARD.encode(t.arguments.body()),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": t.name,
            "id": t.id,
            "shadow": null,
            "eta": t.eta,
            "expires": t.expires,
            "group": null,
            "group_index": null,
            "retries": 0,
            "timelimit": [null, null],
            "root_id": root,
            "parent_id": t.parent_id,
            "argsrepr": python_repr(t.arguments.args()),
            "kwargsrepr": python_repr(t.arguments.kwargs()),
            "origin": t.origin,
            "ignore_result": false,
            "replaced_task_nesting": 0,
            "stamped_headers": null,
            "stamps": {},
        },
        "properties": {
            "correlation_id": t.id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": t.queue},
            "priority": t.priority,
            "body_encoding": "base64",
            "delivery_tag": t.delivery_tag,
        },
    })
    .to_string()
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
        "retries": 0,
        "eta": t.eta,
        "expires": t.expires,
        "queue": t.queue,
        "exchange": "",
        "routing_key": t.queue,
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
            priority: 0,
            eta: None,
            expires: None,
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
