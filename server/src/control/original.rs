//! Where a faithful retry gets a task's original arguments. Events carry
//! only `argsrepr`/`kwargsrepr`, Python reprs cut at 1024 characters, so
//! the real values come, best first, from (PROTOCOL.md §6.6):
//! 1. the result backend's meta, when workers run with `result_extended`;
//! 2. a worker still holding the task (`query_task` answers with the real
//!    JSON args);
//! 3. the broker's `unacked` hash (reserved and ETA tasks: the original
//!    envelope);
//! 4. the repr in the events, only when it reads completely as Python
//!    literals that JSON can carry (no truncation marker, no sets, no
//!    bytes, string keys).
//!
//! Each reader here is pure and says `None` when its source does not have
//! the task; the caller tries them in order. When none has it, the retry is
//! refused: a task re-sent with guessed arguments is worse than none.

use serde_json::{Map, Value};

use crate::pyrepr::{self, PyValue};

/// Where the arguments came from, as the UI and API name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    ResultBackend,
    /// A worker that holds the task (active, reserved or scheduled).
    Worker(String),
    Unacked,
    Repr,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::ResultBackend => "the result backend (result_extended)".into(),
            Source::Worker(w) => format!("worker {w}, which holds the task"),
            Source::Unacked => "the broker's unacked messages".into(),
            Source::Repr => "the task's events (a complete Python literal)".into(),
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Source::ResultBackend => "result-backend",
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
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub source: Source,
}

/// What a refused retry tells the user.
pub const HOW_TO_ENABLE: &str = "celadon re-sends a task only with its exact arguments, and \
     none of its sources has them: run the workers with result_extended=True and give celadon \
     --result-backend=URL (the arguments are then kept with the result), or retry while a \
     worker still holds the task. The events carry only a shortened repr of the arguments.";

fn split(args: &Value, kwargs: &Value) -> Option<(Vec<Value>, Map<String, Value>)> {
    Some((args.as_array()?.clone(), kwargs.as_object()?.clone()))
}

/// From `celery-task-meta-<id>` written with `result_extended`.
pub fn from_backend(meta: &crate::broker::backend::Meta) -> Option<Original> {
    let (args, kwargs) = split(meta.args.as_ref()?, meta.kwargs.as_ref()?)?;
    Some(Original {
        name: meta.name.clone(),
        args,
        kwargs,
        queue: meta.queue.clone(),
        priority: None,
        source: Source::ResultBackend,
    })
}

/// From one worker's `query_task` reply: `{id: [state, request info]}`.
pub fn from_query_task(hostname: &str, reply: &Value, id: &str) -> Option<Original> {
    let info = reply.get(id)?.get(1)?;
    let (args, kwargs) = split(info.get("args")?, info.get("kwargs")?)?;
    let delivery = info.get("delivery_info");
    Some(Original {
        name: info.get("name").and_then(Value::as_str).map(str::to_string),
        args,
        kwargs,
        queue: delivery
            .and_then(|d| d.get("routing_key"))
            .and_then(Value::as_str)
            .map(str::to_string),
        priority: delivery
            .and_then(|d| d.get("priority"))
            .and_then(Value::as_u64)
            .and_then(|p| u8::try_from(p).ok()),
        source: Source::Worker(hostname.to_string()),
    })
}

/// From one `unacked` hash value, `[envelope, exchange, routing_key]`,
/// if it is the message of task `id`.
pub fn from_unacked(entry: &[u8], id: &str) -> Option<Original> {
    let entry: Value = serde_json::from_slice(entry).ok()?;
    let envelope = entry.get(0)?;
    let headers = envelope.get("headers")?;
    if headers.get("id")?.as_str()? != id {
        return None;
    }
    let raw = serde_json::to_vec(envelope).ok()?;
    let body = crate::broker::envelope::decode_body(&raw).ok()?;
    let body: Value = serde_json::from_slice(&body).ok()?;
    let (args, kwargs) = split(body.get(0)?, body.get(1)?)?;
    let properties = envelope.get("properties");
    Some(Original {
        name: headers
            .get("task")
            .and_then(Value::as_str)
            .map(str::to_string),
        args,
        kwargs,
        queue: entry
            .get(2)
            .and_then(Value::as_str)
            .filter(|q| !q.is_empty())
            .map(str::to_string),
        priority: properties
            .and_then(|p| p.get("priority"))
            .and_then(Value::as_u64)
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
    }
    let args = match pyrepr::parse(args).map_err(|e| format!("args: {e}"))? {
        PyValue::Tuple(items) | PyValue::List(items) => items
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("args: {e}"))?,
        _ => return Err("args: not a tuple or list".into()),
    };
    let kwargs = match to_json(&pyrepr::parse(kwargs).map_err(|e| format!("kwargs: {e}"))?)
        .map_err(|e| format!("kwargs: {e}"))?
    {
        Value::Object(m) => m,
        _ => return Err("kwargs: not a dict".into()),
    };
    Ok(Original {
        name: None,
        args,
        kwargs,
        queue: None,
        priority: None,
        source: Source::Repr,
    })
}

/// A literal as the JSON Celery's serializer would have sent, or why it
/// cannot be one.
pub fn to_json(v: &PyValue) -> Result<Value, &'static str> {
    Ok(match v {
        PyValue::None => Value::Null,
        PyValue::Bool(b) => Value::Bool(*b),
        PyValue::Int(text) => {
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = text.parse::<u64>() {
                Value::from(u)
            } else {
                return Err("an integer too large for JSON");
            }
        }
        PyValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or("a float JSON cannot carry (nan or inf)")?,
        PyValue::Str(s) => Value::String(s.clone()),
        PyValue::Bytes(_) => return Err("bytes, which JSON cannot carry"),
        PyValue::Set(_) => return Err("a set, which JSON cannot carry"),
        PyValue::Tuple(items) | PyValue::List(items) => {
            Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        PyValue::Dict(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let PyValue::Str(k) = k else {
                    return Err("a dict key that is not a string");
                };
                map.insert(k.clone(), to_json(v)?);
            }
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(path: &str) -> Value {
        let path = format!("{}/fixtures/{path}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn extended_backend_meta_has_the_real_arguments() {
        let doc = fixture("result-backend/SUCCESS.result_extended");
        let raw = doc["setex"]["value_raw"].as_str().unwrap();
        let meta = crate::broker::backend::Meta::parse(raw.as_bytes()).unwrap();
        let o = from_backend(&meta).unwrap();
        assert_eq!(o.args, vec![json!(1), json!("two")]);
        assert_eq!(Value::Object(o.kwargs), json!({"k": [1, 2]}));
        assert_eq!(o.name.as_deref(), Some("tasks.echo"));
        assert_eq!(o.queue.as_deref(), Some("ext"));
    }

    #[test]
    fn plain_backend_meta_has_none() {
        let doc = fixture("result-backend/SUCCESS");
        let raw = doc["setex"]["value_raw"].as_str().unwrap();
        let meta = crate::broker::backend::Meta::parse(raw.as_bytes()).unwrap();
        assert_eq!(from_backend(&meta), None);
    }

    #[test]
    fn a_worker_holding_the_task_has_the_real_arguments() {
        let reply = json!({"t-1": ["active", {"id": "t-1", "name": "tasks.slow", "args": [30],
            "kwargs": {}, "delivery_info": {"exchange": "", "routing_key": "celery",
            "priority": 0, "redelivered": false}}]});
        let o = from_query_task("w1@vm", &reply, "t-1").unwrap();
        assert_eq!(o.args, vec![json!(30)]);
        assert_eq!(o.queue.as_deref(), Some("celery"));
        assert_eq!(o.source, Source::Worker("w1@vm".into()));
        assert_eq!(from_query_task("w1@vm", &json!({}), "t-1"), None);
    }

    #[test]
    fn the_unacked_entry_holds_the_original_envelope() {
        let doc = fixture("task-messages/unacked-entry");
        let raw = doc["hset"]["value_raw"].as_str().unwrap();
        let o = from_unacked(raw.as_bytes(), "cee29735-4451-42a3-9c87-0eaa10bdb1fe").unwrap();
        assert_eq!(o.args, vec![json!(2), json!(3)]);
        assert_eq!(o.name.as_deref(), Some("tasks.add"));
        assert_eq!(o.queue.as_deref(), Some("celery"));
        assert_eq!(from_unacked(raw.as_bytes(), "another-id"), None);
    }

    #[test]
    fn only_complete_json_literals_are_taken_from_reprs() {
        let o = from_repr("(2, 'x', [1.5, None, True])", "{'k': {'a': 1}}").unwrap();
        assert_eq!(o.args, vec![json!(2), json!("x"), json!([1.5, null, true])]);
        assert_eq!(Value::Object(o.kwargs), json!({"k": {"a": 1}}));
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
