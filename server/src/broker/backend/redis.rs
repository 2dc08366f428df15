//! The Redis result backend (PROTOCOL.md §7): `celery-task-meta-<id>` holds
//! each task's last stored state as Celery's JSON: its decoding, and the
//! reads and writes of it. IO and pure decoding only.

use redis::AsyncCommands;
use serde::Deserialize;
use serde_json::{Value, value::RawValue};

use super::{BATCH, Meta, StoredArguments};

/// The meta's JSON as Celery writes it. With `result_extended` it also has
/// the task's name, real args and kwargs (as the JSON text stored, which a
/// retry re-sends as it is), worker, retries and queue.
#[derive(Deserialize)]
struct Stored {
    status: String,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    traceback: Option<String>,
    #[serde(default)]
    date_done: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    args: Option<Box<RawValue>>,
    #[serde(default)]
    kwargs: Option<Box<RawValue>>,
    #[serde(default)]
    worker: Option<String>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    queue: Option<String>,
}

/// A meta's JSON as the Redis backend stores it (and as the JSON result
/// serializer writes it anywhere); `None` if it is not.
pub fn parse(raw: &[u8]) -> Option<Meta> {
    let stored: Stored = serde_json::from_slice(raw).ok()?;
    let done_at = stored.date_done.as_deref().and_then(|text| {
        let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
    });
    let arguments = match (stored.args, stored.kwargs) {
        (Some(args), Some(kwargs)) => StoredArguments::Json { args, kwargs },
        _ => StoredArguments::Absent,
    };
    Some(Meta {
        status: stored.status,
        result: Some(stored.result),
        traceback: stored.traceback,
        done_at,
        name: stored.name,
        arguments,
        worker: stored.worker,
        retries: stored.retries,
        queue: stored.queue,
    })
}

/// The key of a task's record; `prefix` is the backend's
/// `global_keyprefix`.
pub fn meta_key(prefix: &str, task_id: &str) -> String {
    format!("{prefix}celery-task-meta-{task_id}")
}

/// How long Celery keeps a result by default (`result_expires`).
pub const RESULT_EXPIRES: u64 = 86_400;

/// The record `AbortableAsyncResult.abort()` stores for task `id`, as
/// Celery's backend writes it: its keys in Celery's order, Python's JSON
/// separators, no `date_done` (ABORTED is not a ready state).
pub fn aborted_meta(id: &str) -> String {
    let id = serde_json::Value::from(id);
    format!(
        r#"{{"status": "ABORTED", "result": null, "traceback": null, "children": [], "date_done": null, "task_id": {id}}}"#
    )
}

/// Stores `value` as task `id`'s record (under the backend's key `prefix`)
/// and announces it, as Celery's Redis backend does: `SETEX` with the
/// result expiry, then `PUBLISH` on the key's channel, in one transaction.
pub async fn store(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    id: &str,
    value: &str,
) -> redis::RedisResult<()> {
    let key = meta_key(prefix, id);
    redis::pipe()
        .atomic()
        .set_ex(&key, value, RESULT_EXPIRES)
        .ignore()
        .publish(&key, value)
        .ignore()
        .query_async(conn)
        .await
}

/// Reads the backend's state of `ids`; missing keys (PENDING, or expired)
/// are left out.
pub async fn fetch(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    ids: &[String],
) -> redis::RedisResult<Vec<(String, Meta)>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(BATCH) {
        let keys: Vec<String> = chunk.iter().map(|id| meta_key(prefix, id)).collect();
        let values: Vec<Option<Vec<u8>>> = conn.mget(&keys).await?;
        for (id, value) in chunk.iter().zip(values) {
            if let Some(meta) = value.as_deref().and_then(parse) {
                found.push((id.clone(), meta));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Meta {
        let path = format!(
            "{}/fixtures/result-backend/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        parse(doc["setex"]["value_raw"].as_str().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn stored_states_parse_with_their_times_and_extended_fields() {
        let failure = fixture("FAILURE");
        assert_eq!(failure.status, "FAILURE");
        assert_eq!(failure.result.as_ref().unwrap()["exc_type"], "ValueError");
        assert!(failure.traceback.is_some());
        assert!(failure.done_at.is_some_and(|t| t > 1.7e9));
        let started = fixture("STARTED");
        assert_eq!(started.done_at, None);
        assert_eq!(started.result.unwrap()["hostname"], "w2@vm");
        let extended = fixture("SUCCESS.result_extended");
        assert_eq!(extended.name.as_deref(), Some("tasks.echo"));
        let StoredArguments::Json { args, kwargs } = &extended.arguments else {
            panic!("{:?}", extended.arguments)
        };
        assert_eq!(args.get(), r#"[1, "two"]"#);
        assert_eq!(kwargs.get(), r#"{"k": [1, 2]}"#);
        assert_eq!(extended.queue.as_deref(), Some("ext"));
    }
}
