//! Celery events (PROTOCOL.md §4) as typed values. An envelope's body holds
//! one event object, or a list of them on `task.multi`. Each event is
//! decoded on its own, so one odd event does not spoil its batch. Pure.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{decode_body, EnvelopeError};

/// What the worker events say about their sender.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerEvent {
    pub kind: WorkerEventKind,
    pub hostname: String,
    /// Sender's clock, unix seconds.
    pub timestamp: Option<f64>,
    pub pid: Option<u32>,
    /// Heartbeat interval in seconds.
    pub freq: Option<f64>,
    /// Absent from heartbeats sent on request (`freq: 5`).
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub sw_ident: Option<String>,
    pub sw_ver: Option<String>,
    pub sw_sys: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEventKind {
    Online,
    Heartbeat,
    Offline,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Worker(WorkerEvent),
    /// Any other type (task events, `worker-elect`, `custom-*`): counted by
    /// type, otherwise ignored for now.
    Other {
        kind: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("body is not an event or a list of events: {0}")]
    Body(String),
    #[error("event is malformed: {0}")]
    Event(String),
}

/// The fields celadon reads; everything else in an event is ignored.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    hostname: Option<String>,
    timestamp: Option<f64>,
    pid: Option<u32>,
    freq: Option<f64>,
    active: Option<u64>,
    processed: Option<u64>,
    loadavg: Option<[f64; 3]>,
    sw_ident: Option<String>,
    sw_ver: Option<String>,
    sw_sys: Option<String>,
}

/// Just the type, for events whose other fields do not fit [`RawEvent`]
/// (a `custom-*` event may use any field names with any types).
#[derive(Deserialize)]
struct KindOnly {
    #[serde(rename = "type")]
    kind: String,
}

/// Decodes one PUBLISH payload from an event channel into its events.
/// The outer error means nothing in the payload could be read.
pub fn decode_events(payload: &[u8]) -> Result<Vec<Result<Event, EventError>>, EventError> {
    let body = decode_body(payload)?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let items: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(&body).map_err(|e| EventError::Body(e.to_string()))?,
        _ => vec![serde_json::from_slice(&body).map_err(|e| EventError::Body(e.to_string()))?],
    };
    Ok(items.into_iter().map(parse_event).collect())
}

fn parse_event(item: &RawValue) -> Result<Event, EventError> {
    let raw: RawEvent = match serde_json::from_str(item.get()) {
        Ok(raw) => raw,
        Err(e) => {
            return match serde_json::from_str::<KindOnly>(item.get()) {
                Ok(k) if !is_worker_kind(&k.kind) => Ok(Event::Other { kind: k.kind }),
                _ => Err(EventError::Event(e.to_string())),
            }
        }
    };
    let kind = match raw.kind.as_str() {
        "worker-online" => WorkerEventKind::Online,
        "worker-heartbeat" => WorkerEventKind::Heartbeat,
        "worker-offline" => WorkerEventKind::Offline,
        _ => return Ok(Event::Other { kind: raw.kind }),
    };
    let hostname = raw
        .hostname
        .filter(|h| !h.is_empty())
        .ok_or_else(|| EventError::Event(format!("{} without hostname", raw.kind)))?;
    Ok(Event::Worker(WorkerEvent {
        kind,
        hostname,
        timestamp: raw.timestamp,
        pid: raw.pid,
        freq: raw.freq,
        active: raw.active,
        processed: raw.processed,
        loadavg: raw.loadavg,
        sw_ident: raw.sw_ident,
        sw_ver: raw.sw_ver,
        sw_sys: raw.sw_sys,
    }))
}

fn is_worker_kind(kind: &str) -> bool {
    matches!(
        kind,
        "worker-online" | "worker-heartbeat" | "worker-offline"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact PUBLISH payload of a captured fixture.
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc["raw"].as_str().unwrap().as_bytes().to_vec()
    }

    fn one(payload: &[u8]) -> Event {
        let mut events = decode_events(payload).unwrap();
        assert_eq!(events.len(), 1);
        events.remove(0).unwrap()
    }

    #[test]
    fn periodic_heartbeat_carries_load_and_counters() {
        let Event::Worker(w) = one(&fixture("worker-heartbeat")) else {
            panic!()
        };
        assert_eq!(w.kind, WorkerEventKind::Heartbeat);
        assert_eq!(w.hostname, "w1@vm");
        assert_eq!(w.freq, Some(2.0));
        assert_eq!(w.active, Some(0));
        assert_eq!(w.processed, Some(0));
        assert_eq!(w.loadavg, Some([1.97, 0.79, 0.3]));
        assert_eq!(w.sw_ver.as_deref(), Some("5.7.0"));
    }

    #[test]
    fn on_demand_heartbeat_has_integer_freq_and_no_counters() {
        let Event::Worker(w) = one(&fixture("worker-heartbeat.on-demand")) else {
            panic!()
        };
        assert_eq!(w.freq, Some(5.0));
        assert_eq!((w.active, w.processed, w.loadavg), (None, None, None));
    }

    #[test]
    fn online_and_offline_are_worker_events() {
        for (name, kind) in [
            ("worker-online", WorkerEventKind::Online),
            ("worker-offline", WorkerEventKind::Offline),
        ] {
            let Event::Worker(w) = one(&fixture(name)) else {
                panic!("{name}")
            };
            assert_eq!(w.kind, kind);
        }
    }

    #[test]
    fn task_multi_bodies_give_every_event_of_the_batch() {
        let events = decode_events(&fixture("task-multi.batch-of-2")).unwrap();
        let kinds: Vec<_> = events
            .into_iter()
            .map(|e| match e.unwrap() {
                Event::Other { kind } => kind,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["task-succeeded", "task-received"]);
    }

    #[test]
    fn election_events_are_other_not_errors() {
        assert_eq!(
            one(&fixture("worker-elect")),
            Event::Other {
                kind: "worker-elect".into()
            }
        );
    }

    #[test]
    fn a_bad_event_in_a_batch_spoils_only_itself() {
        let body = r#"[{"type": "worker-heartbeat", "hostname": "a@h", "freq": 2.0},
                       {"type": "worker-heartbeat", "hostname": 7},
                       {"type": "custom-thing", "hostname": ["odd"], "active": "x"}]"#;
        let envelope = serde_json::json!({
            "body": body, "content-type": "application/json", "properties": {}
        });
        let events = decode_events(envelope.to_string().as_bytes()).unwrap();
        assert!(matches!(events[0], Ok(Event::Worker(_))));
        assert!(events[1].is_err());
        assert_eq!(
            events[2],
            Ok(Event::Other {
                kind: "custom-thing".into()
            })
        );
    }

    #[test]
    fn a_body_that_is_not_events_is_an_error() {
        for body in ["42", "[1, 2]", "not json"] {
            let envelope = serde_json::json!({"body": body, "properties": {}});
            let decoded = decode_events(envelope.to_string().as_bytes());
            let all_bad = match decoded {
                Err(_) => true,
                Ok(events) => events.iter().all(Result::is_err),
            };
            assert!(all_bad, "{body}");
        }
    }
}
