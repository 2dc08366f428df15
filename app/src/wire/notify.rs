//! What celadon sends to webhooks, and what it says about them: the
//! generic JSON payload (a documented format receivers are written
//! against, so it is versioned and fields are only added), the subset of
//! Slack's incoming-webhook message it sends, and the per-webhook counters
//! for `/api` and `/metrics`. The server's `notify` module builds these;
//! nothing here carries a webhook's URL or secret.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};

/// The generic payload's format version, its `version` field.
pub const PAYLOAD_VERSION: u32 = 1;

/// What a notice says about its firing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// The condition holds (sent once per firing).
    Firing,
    /// The condition no longer holds (sent once, after the firing's notice).
    Resolved,
    /// A test from the Alerts page: no rule fired.
    Test,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Firing => "firing",
            NoticeStatus::Resolved => "resolved",
            NoticeStatus::Test => "test",
        }
    }
}

/// A notice's details, in the order the rule gave them: a JSON object on
/// the wire (a receiver reads `details.worker`), a list here so the order
/// holds without a map that keeps order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Details(pub Vec<(String, String)>);

impl Serialize for Details {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Details, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Details;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Details, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Details(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

/// The generic payload (`format = "generic"`), the whole request body:
///
/// ```json
/// {"version":1,"key":"worker offline#17","status":"firing",
///  "rule":"worker offline","summary":"worker celery@a offline for 62 s",
///  "details":{"worker":"celery@a"},"link":"https://celadon.example/worker/celery@a",
///  "started_at":1700000000.5,"ended_at":null}
/// ```
///
/// `key` names one firing: a receiver sees at most one `firing` and one
/// `resolved` body per key (and the `X-Celadon-Delivery` header is the same
/// on every retry of one body). Times are unix seconds; `ended_at` is null
/// until resolved. `link` may be empty (a test).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GenericPayload {
    pub version: u32,
    pub key: String,
    pub status: NoticeStatus,
    pub rule: String,
    pub summary: String,
    pub details: Details,
    pub link: String,
    pub started_at: f64,
    pub ended_at: Option<f64>,
}

/// The part of Slack's incoming-webhook message celadon sends (`format =
/// "slack"`): `text` is the fallback shown in notifications, `blocks` the
/// message. Every text is mrkdwn, escaped by the sender.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SlackMessage {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

/// One of Slack's layout blocks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlackBlock {
    Section {
        text: SlackText,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<SlackText>,
    },
    Context {
        elements: Vec<SlackText>,
    },
}

/// A Slack text object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlackText {
    Mrkdwn { text: String },
}

/// One webhook's deliveries since celadon started (counters never go
/// down), for `/api` and `/metrics`. Named, never located: the URL is not
/// here (a Slack URL is itself a secret).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct WebhookStats {
    pub name: String,
    /// Bodies the receiver accepted (2xx).
    pub delivered: u64,
    /// Attempts that failed (connection, timeout, non-2xx), retried or not.
    pub failed_attempts: u64,
    /// Bodies abandoned: a permanent refusal (4xx but 429), or out of
    /// attempts or time.
    pub given_up: u64,
    /// Notices not taken because the webhook's queue was full.
    pub dropped: u64,
    /// Bodies waiting for their first attempt or a retry, or in flight.
    pub pending: u64,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub last_error_at: Option<f64>,
    /// Unix seconds.
    pub last_delivered_at: Option<f64>,
}

/// Every configured webhook's counters, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct NotifyStats {
    pub webhooks: Vec<WebhookStats>,
    /// `notify` calls that repeated a key's status already taken (not sent
    /// again).
    pub duplicates: u64,
}
