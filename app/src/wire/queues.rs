//! The queue browser's API shapes (`/api/queues/{name}/…`,
//! `/api/task/{id}/queue`): a queue's waiting and held messages decoded
//! from their envelopes, its actions' requests and answers. Task data is
//! text here (args and kwargs as the exact JSON text of the message body),
//! shown as text.

use serde::{Deserialize, Serialize};

/// A message waiting in a queue (or held by a worker), decoded.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct QueueMessage {
    /// From the taking end: 0 is the next a worker takes.
    pub position: u64,
    /// The priority step of the list it is in (`0`, `3`, `6`, `9`).
    pub priority_step: u8,
    /// Its size in bytes.
    pub size: u64,
    pub id: Option<String>,
    pub task: Option<String>,
    /// The JSON text of the body's args, exactly as sent.
    pub args: Option<String>,
    /// The JSON text of the body's kwargs, exactly as sent.
    pub kwargs: Option<String>,
    /// When it may run (a countdown arrives as an ETA).
    pub eta: Option<String>,
    pub expires: Option<String>,
    pub retries: Option<u64>,
    pub priority: Option<u64>,
    pub parent_id: Option<String>,
    pub root_id: Option<String>,
    pub group: Option<String>,
    pub origin: Option<String>,
    /// The message's headers, as their JSON text.
    pub headers: Option<String>,
    pub delivery_tag: Option<String>,
    /// Restored to the queue by kombu at least once.
    pub redelivered: bool,
    /// Set when the message is not a task message celadon can read.
    pub undecodable: Option<Undecodable>,
}

/// Why a message could not be read, and how it starts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Undecodable {
    pub why: String,
    /// Its first bytes, as text.
    pub start: String,
}

/// A page of a queue's waiting messages, or a search's matches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueMessages {
    pub queue: String,
    /// `head` (next to be taken first) or `tail`.
    pub from: String,
    pub offset: u64,
    pub limit: usize,
    pub priority_steps: Vec<u8>,
    /// Messages per priority list when read.
    pub depths: Vec<u64>,
    pub depth: u64,
    pub messages: Vec<QueueMessage>,
    /// The search (`q`), when there was one.
    pub query: Option<String>,
    /// A search: messages looked at by this request.
    pub scanned: Option<usize>,
    /// A search: where to go on (`cursor=`); `None` when it looked at the
    /// whole queue.
    pub next_cursor: Option<String>,
}

/// A message a worker holds unacknowledged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HeldMessage {
    pub delivery_tag: String,
    pub exchange: String,
    pub routing_key: String,
    /// The worker holding it, from its task-received event (if seen).
    pub worker: Option<String>,
    /// Unix seconds it was delivered to the worker.
    pub delivered_at: Option<f64>,
    /// When kombu may restore it to the queue (delivery plus the
    /// visibility timeout; its sweep runs every few tens of seconds).
    pub redeliver_at: Option<f64>,
    pub message: QueueMessage,
}

/// The messages held unacknowledged for a queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueHeld {
    pub queue: String,
    /// Seconds (`visibility_timeout`).
    pub visibility_timeout: f64,
    pub held: Vec<HeldMessage>,
    /// `unacked` entries looked at (every queue's).
    pub scanned: usize,
    /// Where to go on (`cursor=`); `None` when all were looked at.
    pub next_cursor: Option<u64>,
}

/// One queue: its depth per priority now, its depth over the last hour
/// (in total and per priority step), its oldest message and its consumers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueInfo {
    pub name: String,
    pub priority_steps: Vec<u8>,
    /// Messages per priority list, read now.
    pub depths: Vec<u64>,
    pub depth: u64,
    /// Held unacknowledged, as last measured.
    pub unacked: Option<u64>,
    /// Workers consuming it (their `active_queues`).
    pub consumers: Vec<String>,
    /// The next message to be taken.
    pub oldest: Option<OldestMessage>,
    /// Start (Unix seconds) of the first bucket of `series`.
    pub series_start: f64,
    /// Seconds per bucket.
    pub series_step: u32,
    /// The highest depth measured in each bucket (`None`: unknown).
    pub series: Vec<Option<u32>>,
    /// The same per priority step, one per `priority_steps` entry, over
    /// the buckets of `series`. Empty when the queue has one step (its
    /// series is `series`) or the model keeps no history per step for it.
    #[serde(default)]
    pub series_by_step: Vec<Vec<Option<u32>>>,
    /// Known to celadon (else only its lists were read).
    pub known: bool,
}

/// The message at the taking end, and how long it has waited.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OldestMessage {
    pub id: Option<String>,
    pub task: Option<String>,
    /// When it was sent (its task-sent event), if seen.
    pub sent: Option<f64>,
    /// Seconds since `sent`.
    pub age: Option<f64>,
}

/// Where a task's message waits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskPlace {
    pub task_id: String,
    pub found: bool,
    pub queue: Option<String>,
    /// From the taking end: 0 is the next a worker takes.
    pub position: Option<u64>,
    pub priority_step: Option<u8>,
    /// Messages looked at.
    pub scanned: usize,
    /// Every queue asked about was looked at in full.
    pub complete: bool,
}

/// The body of `POST /api/queues/{name}/delete|purge|move`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct QueueActionRequest {
    /// Only what this search matches (`purge`, `move`).
    #[serde(default)]
    pub q: Option<String>,
    /// One message: this task's (`delete`, `move`).
    #[serde(default)]
    pub id: Option<String>,
    /// One message: with this delivery tag too.
    #[serde(default)]
    pub delivery_tag: Option<String>,
    /// The destination queue (`move`).
    #[serde(default)]
    pub to: Option<String>,
    /// Say what would be touched, touch nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an action did, or would do (`dry_run`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueActionAnswer {
    /// `delete`, `purge` or `move`.
    pub action: String,
    pub queue: String,
    pub to: Option<String>,
    pub dry_run: bool,
    /// Messages selected (a dry run: that it would touch).
    pub selected: usize,
    /// Deleted or moved.
    pub acted: usize,
    /// Selected, then taken by a worker before the action reached them.
    pub gone: usize,
    /// Matched but not moved: they lack the route a move rewrites.
    #[serde(default)]
    pub unmovable: usize,
    /// Messages looked at.
    pub scanned: usize,
    /// The whole queue was looked at.
    pub complete: bool,
    /// In words.
    pub message: String,
    /// The first selected.
    pub first: Vec<QueueMessage>,
}
