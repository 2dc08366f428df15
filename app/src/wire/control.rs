//! The answers of the control API (Flower's write paths, celadon's retry
//! and bulk actions). The server sends these and the browser decodes the
//! same types, so a renamed field is a compile error on both sides, not a
//! blank line in the UI. Hyphenated keys (`task-id`) are Flower's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rest::Task;

/// One worker's answer to a command: `{"ok": text}` or `{"error": text}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkerReply {
    Ok(String),
    Error(String),
}

/// A command's outcome: what each worker said, and who stayed silent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CommandAnswer {
    pub message: String,
    /// Receivers of the broadcast.
    pub delivered: i64,
    pub replies: BTreeMap<String, WorkerReply>,
    /// Workers asked (or online, for a broadcast) that did not answer.
    pub no_reply: Vec<String>,
    /// For a bulk revoke: the tasks revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

/// An action whose answer is a message alone (`abort`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MessageAnswer {
    pub message: String,
}

/// `shutdown`: a cast, which no worker answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShutdownAnswer {
    pub message: String,
    pub delivered: i64,
}

/// A retry that was sent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RetryAnswer {
    pub message: String,
    #[serde(rename = "task-id")]
    pub task_id: String,
    #[serde(rename = "retry-of")]
    pub retry_of: String,
    pub name: String,
    pub queue: String,
    /// Where the arguments came from: `result-backend`, `worker`,
    /// `unacked` or `repr`.
    pub source: String,
    #[serde(rename = "source-text")]
    pub source_text: String,
}

/// `async-apply` and `send-task`: the new task's id, and `PENDING` when
/// there is a result backend to follow it in.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SentTask {
    #[serde(rename = "task-id")]
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `apply` and `/api/task/result/<id>`: the result backend's record.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TaskResult {
    #[serde(rename = "task-id")]
    pub task_id: String,
    pub state: String,
    /// For a finished task: its result (or exception) as the backend holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// For a failure: the traceback, `null` if the backend has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<Option<String>>,
}

/// A bulk action's dry run: what it would touch. Nothing was sent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BulkDryRun {
    pub action: String,
    pub dry_run: bool,
    /// Tasks the query matches.
    pub count: usize,
    /// The most one bulk action touches.
    pub limit: usize,
    /// The first of them.
    pub first: Vec<Task>,
}

/// A bulk retry: each retry sent, and each task that could not be.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BulkRetried {
    pub message: String,
    pub retried: Vec<BulkRetry>,
    pub refused: Vec<BulkRefusal>,
    /// Matched tasks not retried for their state (by default only
    /// FAILURE, REVOKED and REJECTED tasks are).
    #[serde(default)]
    pub skipped: Vec<BulkSkip>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BulkSkip {
    #[serde(rename = "task-id")]
    pub task_id: String,
    pub state: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BulkRetry {
    #[serde(rename = "retry-of")]
    pub retry_of: String,
    #[serde(rename = "task-id")]
    pub task_id: String,
    pub source: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BulkRefusal {
    #[serde(rename = "task-id")]
    pub task_id: String,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flower's reply shape, byte for byte.
    #[test]
    fn a_worker_reply_is_flowers_ok_or_error_object() {
        let replies = BTreeMap::from([
            ("a@h".to_string(), WorkerReply::Ok("pool will grow".into())),
            ("b@h".to_string(), WorkerReply::Error("no such pool".into())),
        ]);
        assert_eq!(
            serde_json::to_string(&replies).unwrap(),
            r#"{"a@h":{"ok":"pool will grow"},"b@h":{"error":"no such pool"}}"#
        );
    }
}
