//! Where a faithful retry gets a task's original arguments. Events carry
//! only `argsrepr`/`kwargsrepr`, Python reprs cut at 1024 characters, so
//! the real values come, best first, from (PROTOCOL.md §6.6):
//! 1. the result backend's record, when workers run with `result_extended`
//!    (django-celery-results keeps only the reprs: they are read as 4.);
//! 2. a worker still holding the task (`query_task` answers with the real
//!    JSON args);
//! 3. the broker's `unacked` hash (reserved and ETA tasks: the original
//!    envelope);
//! 4. the repr in the events, only when it reads completely as Python
//!    literals that JSON can carry (no truncation marker, no sets, no
//!    bytes, string keys).
//!
//! The JSON sources' arguments are kept as the text the source holds, so a
//! retry sends the same bytes; a repr's are written as Celery's serializer
//! writes those values. Each reader here is pure and says `None` when its
//! source does not have the task; the caller tries them in order. When none has it, the retry is
//! refused: a task re-sent with guessed arguments is worse than none.

use std::collections::HashMap;

use serde::{Deserialize, de::IgnoredAny};
use serde_json::{Value, value::RawValue};

use super::arguments::Arguments;
use crate::{
    broker::backend::{Meta, StoredArguments},
    pyrepr,
};

/// Where the arguments came from, as the UI and API name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    ResultBackend,
    /// The result backend's copy of the events' reprs
    /// (django-celery-results), read by the rules for reprs.
    ResultBackendRepr,
    /// A worker that holds the task (active, reserved or scheduled).
    Worker(String),
    Unacked,
    Repr,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::ResultBackend => "the result backend (result_extended)".into(),
            Source::ResultBackendRepr => {
                "the result backend's repr of the arguments (result_extended; a complete \
                 Python literal)"
                    .into()
            }
            Source::Worker(w) => format!("worker {w}, which holds the task"),
            Source::Unacked => "the broker's unacked messages".into(),
            Source::Repr => "the task's events (a complete Python literal)".into(),
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Source::ResultBackend => "result-backend",
            Source::ResultBackendRepr => "result-backend-repr",
            Source::Worker(_) => "worker",
            Source::Unacked => "unacked",
            Source::Repr => "repr",
        }
    }
}

/// A task's original call.
#[derive(Clone, Debug, PartialEq)]
pub struct Original {
    pub name: Option<String>,
    /// From a JSON source, its very text; from a repr, the JSON Celery's
    /// serializer writes for those values, in their order.
    pub arguments: Arguments,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub source: Source,
}

/// What a refused retry tells the user.
pub const HOW_TO_ENABLE: &str = "celadon re-sends a task only with its exact arguments, and \
     none of its sources has them: run the workers with result_extended=True and give celadon \
     --result-backend=URL (the arguments are then kept with the result), or retry while a \
     worker still holds the task. The events carry only a shortened repr of the arguments.";

/// From the result backend's record of the task, written with
/// `result_extended`; or why it has no arguments a retry may use.
pub fn from_backend(meta: &Meta) -> Result<Original, String> {
    let (arguments, source) = match &meta.arguments {
        StoredArguments::Json { args, kwargs } => (
            Arguments::from_raw(args.clone(), kwargs.clone())
                .map_err(|e| format!("its arguments are not a call's ({e})"))?,
            Source::ResultBackend,
        ),
        StoredArguments::Repr { args, kwargs } => (
            from_repr(args, kwargs)
                .map_err(|why| format!("it keeps only Celery's repr of the arguments, and {why}"))?
                .arguments,
            Source::ResultBackendRepr,
        ),
        StoredArguments::Absent => {
            return Err("it keeps no arguments (the workers run without result_extended)".into());
        }
        StoredArguments::Unreadable(why) => {
            return Err(format!("it keeps the arguments as {why}"));
        }
    };
    Ok(Original {
        name: meta.name.clone(),
        arguments,
        queue: meta.queue.clone(),
        priority: None,
        source,
    })
}

/// One task in a `query_task` reply: `[state, request info]`.
#[derive(Deserialize)]
struct Held(IgnoredAny, HeldInfo);

#[derive(Deserialize)]
struct HeldInfo {
    #[serde(default)]
    name: Option<String>,
    args: Box<RawValue>,
    kwargs: Box<RawValue>,
    #[serde(default)]
    delivery_info: Value,
}

/// From one worker's `query_task` reply, `{id: [state, request info]}`,
/// as the JSON text the worker sent.
pub fn from_query_task(hostname: &str, reply: &RawValue, id: &str) -> Option<Original> {
    let tasks: HashMap<String, &RawValue> = serde_json::from_str(reply.get()).ok()?;
    let Held(_, info) = serde_json::from_str(tasks.get(id)?.get()).ok()?;
    let delivery = &info.delivery_info;
    Some(Original {
        name: info.name,
        arguments: Arguments::from_raw(info.args, info.kwargs).ok()?,
        queue: delivery["routing_key"].as_str().map(str::to_string),
        priority: delivery["priority"]
            .as_u64()
            .and_then(|p| u8::try_from(p).ok()),
        source: Source::Worker(hostname.to_string()),
    })
}

/// The parts of a task message's envelope a retry needs.
#[derive(Deserialize)]
struct Envelope {
    headers: Headers,
    #[serde(default)]
    properties: Value,
}

#[derive(Deserialize)]
struct Headers {
    id: String,
    #[serde(default)]
    task: Option<String>,
}

/// From one `unacked` hash value, `[envelope, exchange, routing_key]`,
/// if it is the message of task `id`.
pub fn from_unacked(entry: &[u8], id: &str) -> Option<Original> {
    let entry: Vec<&RawValue> = serde_json::from_slice(entry).ok()?;
    let raw_envelope = entry.first()?;
    let envelope: Envelope = serde_json::from_str(raw_envelope.get()).ok()?;
    if envelope.headers.id != id {
        return None;
    }
    let body = crate::broker::envelope::decode_body(raw_envelope.get().as_bytes()).ok()?;
    let (args, kwargs, _embed): (Box<RawValue>, Box<RawValue>, IgnoredAny) =
        serde_json::from_slice(&body).ok()?;
    let queue = entry
        .get(2)
        .and_then(|q| serde_json::from_str::<Option<String>>(q.get()).ok())
        .flatten()
        .filter(|q| !q.is_empty());
    Some(Original {
        name: envelope.headers.task,
        arguments: Arguments::from_raw(args, kwargs).ok()?,
        queue,
        priority: envelope.properties["priority"]
            .as_u64()
            .and_then(|p| u8::try_from(p).ok()),
        source: Source::Unacked,
    })
}

/// Celery's `saferepr` cuts a repr at this many characters.
const CELERY_REPR_LIMIT: usize = 1024;

/// Whether Celery may have shortened `repr`. Its `saferepr` cuts *inside*
/// a string and closes the quote (`['zzzz...']`), which still reads as a
/// complete literal with the wrong value; so any `...`, and any repr at
/// the length limit, counts as cut. A false alarm only refuses a retry.
fn maybe_cut(repr: &str) -> bool {
    repr.contains("...") || repr.chars().count() >= CELERY_REPR_LIMIT
}

/// From the events' reprs, if both read completely as literals JSON can
/// carry and neither may have been shortened. Otherwise says why not.
pub fn from_repr(args: &str, kwargs: &str) -> Result<Original, String> {
    for (what, repr) in [("args", args), ("kwargs", kwargs)] {
        if maybe_cut(repr) {
            return Err(format!(
                "{what}: Celery may have shortened it (it has \"...\" or reaches its \
                 {CELERY_REPR_LIMIT}-character limit)"
            ));
        }
        // Celery's `saferepr` writes a string's text between quotes with
        // only `'` escaped (`a\b` shows as `'a\b'`, not `'a\\b'`), while
        // a true repr escapes: a backslash may be either, so which value
        // the task had cannot be told.
        if repr.contains('\\') {
            return Err(format!(
                "{what}: it has a backslash, which Celery's repr leaves unescaped, so \
                 the value it stands for is not certain"
            ));
        }
    }
    let args = pyrepr::parse(args).map_err(|e| format!("args: {e}"))?;
    let kwargs = pyrepr::parse(kwargs).map_err(|e| format!("kwargs: {e}"))?;
    Ok(Original {
        name: None,
        arguments: Arguments::from_py(&args, &kwargs)?,
        queue: None,
        priority: None,
        source: Source::Repr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::arguments::{TRICKY_ARGS, TRICKY_KWARGS};
    use base64::Engine;

    fn fixture(path: &str) -> Value {
        let path = format!("{}/fixtures/{path}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// Checks that `o` holds the tricky arguments byte for byte.
    fn assert_tricky(o: &Original) {
        assert_eq!(o.arguments.args().as_bytes(), TRICKY_ARGS.as_bytes());
        assert_eq!(o.arguments.kwargs().as_bytes(), TRICKY_KWARGS.as_bytes());
    }

    #[test]
    fn extended_backend_meta_has_the_real_arguments() {
        let doc = fixture("result-backend/SUCCESS.result_extended");
        let raw = doc["setex"]["value_raw"].as_str().unwrap();
        let meta = crate::broker::backend::redis::parse(raw.as_bytes()).unwrap();
        let o = from_backend(&meta).unwrap();
        assert_eq!(o.arguments.args(), r#"[1, "two"]"#);
        assert_eq!(o.arguments.kwargs(), r#"{"k": [1, 2]}"#);
        assert_eq!(o.name.as_deref(), Some("tasks.echo"));
        assert_eq!(o.queue.as_deref(), Some("ext"));
    }

    #[test]
    fn backend_meta_arguments_are_kept_byte_for_byte() {
        let raw = format!(
            r#"{{"status": "SUCCESS", "result": 9, "traceback": null, "children": [], "date_done": "2026-11-21T15:18:47.074174+00:00", "name": "celadon_tasks.echo_raw", "args": {TRICKY_ARGS}, "kwargs": {TRICKY_KWARGS}, "worker": "w1@vm", "retries": 0, "queue": "raw", "task_id": "t-1"}}"#
        );
        let meta = crate::broker::backend::redis::parse(raw.as_bytes()).unwrap();
        assert_tricky(&from_backend(&meta).unwrap());
    }

    #[test]
    fn plain_backend_meta_has_none() {
        let doc = fixture("result-backend/SUCCESS");
        let raw = doc["setex"]["value_raw"].as_str().unwrap();
        let meta = crate::broker::backend::redis::parse(raw.as_bytes()).unwrap();
        let why = from_backend(&meta).unwrap_err();
        assert!(why.contains("result_extended"), "{why}");
    }

    fn stored(arguments: StoredArguments) -> Meta {
        Meta {
            status: "FAILURE".into(),
            result: None,
            traceback: None,
            done_at: None,
            name: Some("orders.tasks.refund".into()),
            arguments,
            worker: None,
            retries: None,
            queue: None,
        }
    }

    #[test]
    fn a_backend_that_keeps_reprs_gives_them_by_the_rules_for_reprs() {
        let repr = |args: &str, kwargs: &str| {
            from_backend(&stored(StoredArguments::Repr {
                args: args.into(),
                kwargs: kwargs.into(),
            }))
        };
        let o = repr("[7, -5]", "{'reason': 'late'}").unwrap();
        assert_eq!(o.arguments.args(), "[7, -5]");
        assert_eq!(o.arguments.kwargs(), r#"{"reason": "late"}"#);
        assert_eq!(o.source, Source::ResultBackendRepr);
        assert_eq!(o.name.as_deref(), Some("orders.tasks.refund"));
        let why = repr("['zzzz...']", "{}").unwrap_err();
        assert!(why.contains("repr") && why.contains("shortened"), "{why}");
        let why =
            from_backend(&stored(StoredArguments::Unreadable("a pickle".into()))).unwrap_err();
        assert!(why.contains("a pickle"), "{why}");
    }

    /// A worker's reply to `query_task`, as it LPUSHes it.
    fn query_task_reply(host: &str, id: &str, args: &str, kwargs: &str) -> String {
        let body = format!(
            r#"{{"{host}": {{"{id}": ["active", {{"id": "{id}", "name": "tasks.slow", "args": {args}, "kwargs": {kwargs}, "type": "tasks.slow", "delivery_info": {{"exchange": "", "routing_key": "celery", "priority": 0, "redelivered": false}}}}]}}}}"#
        );
        format!(
            r#"{{"body": "{}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {{"ticket": "tk"}}, "properties": {{"delivery_mode": 2, "delivery_info": {{"exchange": "reply.celery.pidbox", "routing_key": "oid"}}, "priority": 0, "body_encoding": "base64", "delivery_tag": "dt"}}}}"#,
            b64(&body)
        )
    }

    #[test]
    fn a_worker_holding_the_task_has_the_real_arguments() {
        let reply = query_task_reply("w1@vm", "t-1", TRICKY_ARGS, TRICKY_KWARGS);
        let (ticket, host, result) =
            crate::control::pidbox::decode_reply_raw(reply.as_bytes()).unwrap();
        assert_eq!((ticket.as_str(), host.as_str()), ("tk", "w1@vm"));
        let o = from_query_task(&host, &result, "t-1").unwrap();
        assert_tricky(&o);
        assert_eq!(o.name.as_deref(), Some("tasks.slow"));
        assert_eq!(o.queue.as_deref(), Some("celery"));
        assert_eq!(o.priority, Some(0));
        assert_eq!(o.source, Source::Worker("w1@vm".into()));
        assert_eq!(from_query_task("w1@vm", &result, "t-2"), None);
        let empty = RawValue::from_string("{}".into()).unwrap();
        assert_eq!(from_query_task("w1@vm", &empty, "t-1"), None);
        // With `safe` on, a worker sends reprs instead: not arguments.
        let safe = query_task_reply("w1@vm", "t-1", r#""(30,)""#, r#""{}""#);
        let (_, _, result) = crate::control::pidbox::decode_reply_raw(safe.as_bytes()).unwrap();
        assert_eq!(from_query_task("w1@vm", &result, "t-1"), None);
    }

    #[test]
    fn a_captured_query_task_reply_gives_its_arguments() {
        let doc = fixture("control/query_task");
        let raw = doc["replies"][0]["raw"].as_str().unwrap();
        let (_, host, result) = crate::control::pidbox::decode_reply_raw(raw.as_bytes()).unwrap();
        let o = from_query_task(&host, &result, "b855b7c9-62e8-4d16-9b79-48ae71612f81").unwrap();
        assert_eq!((o.arguments.args(), o.arguments.kwargs()), ("[30]", "{}"));
        assert_eq!(o.name.as_deref(), Some("tasks.slow"));
    }

    /// An `unacked` hash value as kombu writes it.
    fn unacked_entry(id: &str, body: &str) -> String {
        format!(
            r#"[{{"body": "{}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {{"lang": "py", "task": "tasks.add", "id": "{id}", "argsrepr": "(2, 3)"}}, "properties": {{"correlation_id": "{id}", "delivery_mode": 2, "delivery_info": {{"exchange": "", "routing_key": "q3"}}, "priority": 3, "body_encoding": "base64", "delivery_tag": "dt"}}}}, "", "q3"]"#,
            b64(body)
        )
    }

    #[test]
    fn the_unacked_entry_holds_the_original_envelope() {
        let doc = fixture("task-messages/unacked-entry");
        let raw = doc["hset"]["value_raw"].as_str().unwrap();
        let o = from_unacked(raw.as_bytes(), "cee29735-4451-42a3-9c87-0eaa10bdb1fe").unwrap();
        assert_eq!((o.arguments.args(), o.arguments.kwargs()), ("[2, 3]", "{}"));
        assert_eq!(o.name.as_deref(), Some("tasks.add"));
        assert_eq!(o.queue.as_deref(), Some("celery"));
        assert_eq!(from_unacked(raw.as_bytes(), "another-id"), None);

        let body = format!(
            r#"[{TRICKY_ARGS}, {TRICKY_KWARGS}, {{"callbacks": null, "errbacks": null, "chain": null, "chord": null}}]"#
        );
        let entry = unacked_entry("t-1", &body);
        let o = from_unacked(entry.as_bytes(), "t-1").unwrap();
        assert_tricky(&o);
        assert_eq!((o.queue.as_deref(), o.priority), (Some("q3"), Some(3)));
        // A two-element body is the poison message of PROTOCOL.md §6.5.
        let poison = unacked_entry("t-1", &format!("[{TRICKY_ARGS}, {TRICKY_KWARGS}]"));
        assert_eq!(from_unacked(poison.as_bytes(), "t-1"), None);
    }

    #[test]
    fn a_repr_gives_the_json_celery_would_have_sent_in_its_order() {
        // As Celery's saferepr writes them: strings unescaped but for `'`.
        let args = "(9007199254740993, 9223372036854775807, -9223372036854775808, \
                    9223372036854775808, 1e-07, 2.5e+300, 'a\"b\nc\u{1}', 'héllo ☃ 𝄞')";
        let kwargs = "{'zkw': {'b': 1, 'a': [{'d': 2, 'c': 3}]}, 'akw': {'y': [], 'x': {}}}";
        let o = from_repr(args, kwargs).unwrap();
        // What Python's json.dumps writes for these values.
        let want = r#"[9007199254740993, 9223372036854775807, -9223372036854775808, 9223372036854775808, 1e-07, 2.5e+300, "a\"b\nc\u0001", "h\u00e9llo \u2603 \ud834\udd1e"]"#;
        assert_eq!(o.arguments.args().as_bytes(), want.as_bytes());
        assert_eq!(o.arguments.kwargs().as_bytes(), TRICKY_KWARGS.as_bytes());
        assert_eq!(o.source, Source::Repr);
    }

    #[test]
    fn only_complete_json_literals_are_taken_from_reprs() {
        let o = from_repr("(2, 'x', [1.5, None, True])", "{'k': {'a': 1}}").unwrap();
        assert_eq!(o.arguments.args(), r#"[2, "x", [1.5, null, true]]"#);
        assert_eq!(o.arguments.kwargs(), r#"{"k": {"a": 1}}"#);
        for (args, kwargs) in [
            // Celery's own cut of ['z' * 5000]: a complete literal, wrong value.
            ("['zzzzzzzz...']", "{}"),
            ("[1, 2, ...]", "{}"),
            ("(1,)", "{'k': 'cut...'}"),
            ("('aaaa...", "{}"),
            ("('abc', ...)", "{}"),
            ("({1, 2},)", "{}"),
            ("(b'x',)", "{}"),
            ("({1: 2},)", "{}"),
            ("(Decimal('1.5'),)", "{}"),
            ("(1,)", "{'k': float('nan')}"),
            ("1", "{}"),
            ("()", "[]"),
            // saferepr's `a\b` is a, backslash, b; a repr's is a, backspace.
            ("('a\\b',)", "{}"),
            ("(1,)", "{'k': 'it\\'s'}"),
        ] {
            assert!(from_repr(args, kwargs).is_err(), "{args} {kwargs}");
        }
        let long = format!("['{}']", "z".repeat(1020));
        assert!(
            from_repr(&long, "{}").is_err(),
            "at the limit, it may be cut"
        );
        assert!(from_repr("(1,)", "{}").is_ok());
        assert!(from_repr("(1.5e400,)", "{}").is_err(), "inf is not JSON");
    }
}
