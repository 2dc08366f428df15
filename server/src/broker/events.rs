//! Celery events (PROTOCOL.md §4) as typed values. An envelope's body holds
//! one event object, or a list of them on `task.multi`. Each event is
//! decoded on its own, so one odd event does not spoil its batch. Strings
//! borrow from the decoded body where JSON allows. Pure.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use app::wire::celery::{TaskEventKind, WorkerEventKind};

use super::{
    envelope::{Decoder, EnvelopeError},
    raw::RawEvent,
    scan::Scanned,
};

/// Fields every event carries (PROTOCOL.md §4.2).
#[derive(Clone, Debug, PartialEq)]
pub struct Origin<'a> {
    pub hostname: Cow<'a, str>,
    /// Sender's `time.time()`, unix seconds.
    pub timestamp: Option<f64>,
    /// Hours west of UTC (UTC+2 is `-2.0`).
    pub utcoffset: Option<f64>,
    pub pid: Option<u32>,
    /// The sender's Lamport clock.
    pub clock: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkerEvent {
    pub kind: WorkerEventKind,
    pub hostname: String,
    pub timestamp: Option<f64>,
    pub utcoffset: Option<f64>,
    pub clock: Option<u64>,
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

/// A task event's type: one Celery sends, or any other `task-*` a user
/// sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEventType<'a> {
    Celery(TaskEventKind),
    /// `task-<subject>` for any other subject; its state is the subject in
    /// upper case, as Celery's `State` does.
    Custom(Cow<'a, str>),
}

impl TaskEventType<'_> {
    pub fn type_name(&self) -> Cow<'_, str> {
        match self {
            TaskEventType::Celery(kind) => Cow::Borrowed(kind.type_name()),
            TaskEventType::Custom(subject) => Cow::Owned(format!("task-{subject}")),
        }
    }

    /// The Celery event kind, unless the event is a custom one.
    pub fn celery(&self) -> Option<TaskEventKind> {
        match self {
            TaskEventType::Celery(kind) => Some(*kind),
            TaskEventType::Custom(_) => None,
        }
    }

    fn into_owned(self) -> TaskEventType<'static> {
        match self {
            TaskEventType::Celery(kind) => TaskEventType::Celery(kind),
            TaskEventType::Custom(s) => TaskEventType::Custom(Cow::Owned(s.into_owned())),
        }
    }
}

impl PartialEq<TaskEventKind> for TaskEventType<'_> {
    fn eq(&self, other: &TaskEventKind) -> bool {
        self.celery() == Some(*other)
    }
}

/// One task event with every field Celery puts on any task event; a field
/// the type does not carry is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEvent<'a> {
    pub kind: TaskEventType<'a>,
    pub uuid: Cow<'a, str>,
    pub origin: Origin<'a>,
    pub name: Option<Cow<'a, str>>,
    /// Python repr of the args, cut at about 1024 characters.
    pub args: Option<Cow<'a, str>>,
    pub kwargs: Option<Cow<'a, str>>,
    pub root_id: Option<Cow<'a, str>>,
    pub parent_id: Option<Cow<'a, str>>,
    pub retries: Option<u32>,
    /// ISO-8601 with offset, as sent.
    pub eta: Option<Cow<'a, str>>,
    pub expires: Option<Cow<'a, str>>,
    pub queue: Option<Cow<'a, str>>,
    pub exchange: Option<Cow<'a, str>>,
    pub routing_key: Option<Cow<'a, str>>,
    /// Repr of the return value.
    pub result: Option<Cow<'a, str>>,
    pub runtime: Option<f64>,
    pub exception: Option<Cow<'a, str>>,
    pub traceback: Option<Cow<'a, str>>,
    pub terminated: Option<bool>,
    pub signum: Option<i32>,
    pub expired: Option<bool>,
    pub requeue: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "events live briefly on the stack; boxing would allocate per event on the hot path"
)]
pub enum Event<'a> {
    Worker(WorkerEvent),
    Task(TaskEvent<'a>),
    /// Any other type (`worker-elect`, `custom-*`, …): counted by type.
    Other {
        kind: String,
    },
}

impl Event<'_> {
    /// The event's `type` field.
    pub fn type_name(&self) -> Cow<'_, str> {
        match self {
            Event::Worker(w) => Cow::Borrowed(w.kind.type_name()),
            Event::Task(t) => t.kind.type_name(),
            Event::Other { kind } => Cow::Borrowed(kind),
        }
    }
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

/// Just the type, for events whose other fields do not fit [`RawEvent`]
/// (a `custom-*` event may use any field names with any types).
#[derive(Deserialize)]
struct KindOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// Decodes one PUBLISH payload from an event channel and calls `each` with
/// every event in it, in order. The error means nothing in the payload could
/// be read; per-event errors are passed to `each`. A caller reading many
/// payloads keeps one `decoder` for them all.
pub fn for_each_event(
    payload: &[u8],
    decoder: &mut Decoder,
    mut each: impl FnMut(Result<Event<'_>, EventError>),
) -> Result<(), EventError> {
    decoder.decode(payload)?;
    let body = &decoder.body[..];
    let rest = match super::scan::each_event(body, |raw| each(from_raw(raw))) {
        Scanned::All => return Ok(()),
        Scanned::Nothing => body,
        // The events before it were fine; serde reads the rest as a list,
        // so one bad event or a cut-off tail spoils only itself.
        Scanned::Until(at) => {
            let mut rest = Vec::with_capacity(body.len() - at + 1);
            rest.push(b'[');
            rest.extend_from_slice(&body[at..]);
            return serde_list(&rest, &mut each);
        }
    };
    let first = rest.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        serde_list(rest, &mut each)
    } else {
        let item: &RawValue =
            serde_json::from_slice(rest).map_err(|e| EventError::Body(e.to_string()))?;
        each(parse_event(item));
        Ok(())
    }
}

/// A JSON list of events, read by serde, each event on its own.
fn serde_list<'a>(
    list: &'a [u8],
    each: &mut impl FnMut(Result<Event<'a>, EventError>),
) -> Result<(), EventError> {
    let items: Vec<&RawValue> =
        serde_json::from_slice(list).map_err(|e| EventError::Body(e.to_string()))?;
    for item in items {
        each(parse_event(item));
    }
    Ok(())
}

/// Every event of a payload, owned. For tests and tools; the hot path uses
/// [`for_each_event`].
pub fn decode_events(
    payload: &[u8],
) -> Result<Vec<Result<Event<'static>, EventError>>, EventError> {
    let mut out = Vec::new();
    for_each_event(payload, &mut Decoder::default(), |e| {
        out.push(e.map(Event::into_owned))
    })?;
    Ok(out)
}

fn parse_event(item: &RawValue) -> Result<Event<'_>, EventError> {
    let mut raw: RawEvent<'_> = match serde_json::from_str(item.get()) {
        Ok(raw) => raw,
        Err(e) => {
            return match serde_json::from_str::<KindOnly<'_>>(item.get()) {
                Ok(k) if !k.kind.starts_with("worker-") && !k.kind.starts_with("task-") => {
                    Ok(Event::Other {
                        kind: k.kind.into_owned(),
                    })
                }
                _ => Err(EventError::Event(e.to_string())),
            };
        }
    };
    from_raw(&mut raw)
}

/// Takes an event's fields out of `raw` (the scanner's slot, reused).
fn from_raw<'a>(raw: &mut RawEvent<'a>) -> Result<Event<'a>, EventError> {
    if let Some(subject) = raw.kind.strip_prefix("task-") {
        let kind = match TaskEventKind::of_type_name(&raw.kind) {
            Some(kind) => TaskEventType::Celery(kind),
            None if subject.is_empty() => {
                return Err(EventError::Event("empty task event type".into()));
            }
            None => TaskEventType::Custom(Cow::Owned(subject.to_string())),
        };
        return task_event(kind, raw).map(Event::Task);
    }
    let kind = match WorkerEventKind::of_type_name(&raw.kind) {
        Some(kind) => kind,
        _ => {
            return Ok(Event::Other {
                kind: std::mem::take(&mut raw.kind).into_owned(),
            });
        }
    };
    let hostname = raw
        .hostname
        .take()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| EventError::Event(format!("{} without hostname", raw.kind)))?;
    Ok(Event::Worker(WorkerEvent {
        kind,
        hostname: hostname.into_owned(),
        timestamp: raw.timestamp,
        utcoffset: raw.utcoffset,
        clock: raw.clock,
        pid: raw.pid,
        freq: raw.freq,
        active: raw.active,
        processed: raw.processed,
        loadavg: raw.loadavg,
        sw_ident: raw.sw_ident.take().map(Cow::into_owned),
        sw_ver: raw.sw_ver.take().map(Cow::into_owned),
        sw_sys: raw.sw_sys.take().map(Cow::into_owned),
    }))
}

fn task_event<'a>(
    kind: TaskEventType<'a>,
    raw: &mut RawEvent<'a>,
) -> Result<TaskEvent<'a>, EventError> {
    let uuid = raw
        .uuid
        .take()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| EventError::Event(format!("{} without uuid", raw.kind)))?;
    Ok(TaskEvent {
        kind,
        uuid,
        origin: Origin {
            hostname: raw.hostname.take().unwrap_or(Cow::Borrowed("")),
            timestamp: raw.timestamp,
            utcoffset: raw.utcoffset,
            pid: raw.pid,
            clock: raw.clock,
        },
        name: raw.name.take(),
        args: raw.args.take(),
        kwargs: raw.kwargs.take(),
        root_id: raw.root_id.take(),
        parent_id: raw.parent_id.take(),
        retries: raw.retries,
        eta: raw.eta.take(),
        expires: raw.expires.take(),
        queue: raw.queue.take(),
        exchange: raw.exchange.take(),
        routing_key: raw.routing_key.take(),
        result: raw.result.take(),
        runtime: raw.runtime,
        exception: raw.exception.take(),
        traceback: raw.traceback.take(),
        terminated: raw.terminated,
        signum: raw.signum,
        expired: raw.expired,
        requeue: raw.requeue,
    })
}

fn own(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    s.map(|s| Cow::Owned(s.into_owned()))
}

impl Event<'_> {
    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Worker(w) => Event::Worker(w),
            Event::Other { kind } => Event::Other { kind },
            Event::Task(t) => Event::Task(TaskEvent {
                kind: t.kind.into_owned(),
                uuid: Cow::Owned(t.uuid.into_owned()),
                origin: Origin {
                    hostname: Cow::Owned(t.origin.hostname.into_owned()),
                    timestamp: t.origin.timestamp,
                    utcoffset: t.origin.utcoffset,
                    pid: t.origin.pid,
                    clock: t.origin.clock,
                },
                name: own(t.name),
                args: own(t.args),
                kwargs: own(t.kwargs),
                root_id: own(t.root_id),
                parent_id: own(t.parent_id),
                retries: t.retries,
                eta: own(t.eta),
                expires: own(t.expires),
                queue: own(t.queue),
                exchange: own(t.exchange),
                routing_key: own(t.routing_key),
                result: own(t.result),
                runtime: t.runtime,
                exception: own(t.exception),
                traceback: own(t.traceback),
                terminated: t.terminated,
                signum: t.signum,
                expired: t.expired,
                requeue: t.requeue,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact PUBLISH payload of a captured fixture.
    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc["raw"].as_str().unwrap().as_bytes().to_vec()
    }

    fn events(name: &str) -> Vec<Event<'static>> {
        decode_events(&fixture(name))
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }

    fn one(name: &str) -> Event<'static> {
        let mut all = events(name);
        assert_eq!(all.len(), 1, "{name}");
        all.remove(0)
    }

    fn task(name: &str) -> TaskEvent<'static> {
        match one(name) {
            Event::Task(t) => t,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn periodic_heartbeat_carries_load_and_counters() {
        let Event::Worker(w) = one("worker-heartbeat") else {
            panic!()
        };
        assert_eq!(w.kind, WorkerEventKind::Heartbeat);
        assert_eq!(w.hostname, "w1@vm");
        assert_eq!(w.freq, Some(2.0));
        assert_eq!((w.active, w.processed), (Some(0), Some(0)));
        assert_eq!(w.loadavg, Some([1.97, 0.79, 0.3]));
        assert_eq!(w.sw_ver.as_deref(), Some("5.7.0"));
        assert_eq!(w.utcoffset, Some(0.0));
    }

    #[test]
    fn on_demand_heartbeat_has_integer_freq_and_no_counters() {
        let Event::Worker(w) = one("worker-heartbeat.on-demand") else {
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
            let Event::Worker(w) = one(name) else {
                panic!("{name}")
            };
            assert_eq!(w.kind, kind);
        }
    }

    #[test]
    fn every_task_event_type_decodes_with_its_fields() {
        let sent = task("task-sent");
        assert_eq!(sent.kind, TaskEventKind::Sent);
        assert_eq!(sent.name.as_deref(), Some("tasks.add"));
        assert_eq!(sent.queue.as_deref(), Some("celery"));
        assert_eq!(sent.routing_key.as_deref(), Some("celery"));
        assert_eq!(sent.root_id.as_deref(), Some(sent.uuid.as_ref()));

        let received = task("task-received");
        assert_eq!(received.kind, TaskEventKind::Received);
        assert!(received.args.is_some() && received.kwargs.is_some());
        assert_eq!(received.retries, Some(0));

        assert_eq!(task("task-started").kind, TaskEventKind::Started);

        let succeeded = task("task-succeeded");
        assert!(succeeded.runtime.is_some_and(|r| r > 0.0));
        assert!(succeeded.result.is_some());

        let failed = task("task-failed");
        assert!(
            failed
                .exception
                .as_deref()
                .is_some_and(|e| e.contains("Error"))
        );
        assert!(
            failed
                .traceback
                .as_deref()
                .is_some_and(|t| t.contains("Traceback"))
        );

        let retried = task("task-retried");
        assert_eq!(retried.kind, TaskEventKind::Retried);
        assert!(retried.exception.is_some());

        let revoked = task("task-revoked.terminated");
        assert_eq!((revoked.terminated, revoked.signum), (Some(true), Some(15)));
        assert_eq!(task("task-revoked.expired").expired, Some(true));

        let rejected = events("task-rejected")
            .into_iter()
            .find_map(|e| match e {
                Event::Task(t) if t.kind == TaskEventKind::Rejected => Some(t),
                _ => None,
            })
            .unwrap();
        assert_eq!(rejected.requeue, Some(false));
        let eta = task("task-received.eta");
        assert!(eta.eta.as_deref().is_some_and(|e| e.contains('T')));
    }

    #[test]
    fn task_multi_bodies_give_every_event_of_the_batch() {
        let kinds: Vec<_> = events("task-multi.batch-of-2")
            .iter()
            .map(|e| e.type_name().into_owned())
            .collect();
        assert_eq!(kinds, ["task-succeeded", "task-received"]);
    }

    #[test]
    fn election_events_are_other_not_errors() {
        assert_eq!(
            one("worker-elect"),
            Event::Other {
                kind: "worker-elect".into()
            }
        );
        assert_eq!(
            one("worker-elect-ack"),
            Event::Other {
                kind: "worker-elect-ack".into()
            }
        );
    }

    #[test]
    fn custom_task_events_keep_their_subject() {
        let body =
            r#"{"type": "task-progress", "uuid": "u1", "hostname": "w@h", "timestamp": 1.0}"#;
        let envelope = serde_json::json!({"body": body, "properties": {}});
        let events = decode_events(envelope.to_string().as_bytes()).unwrap();
        let Ok(Event::Task(t)) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(t.kind, TaskEventType::Custom("progress".into()));
    }

    #[test]
    fn a_bad_event_in_a_batch_spoils_only_itself() {
        let body = r#"[{"type": "worker-heartbeat", "hostname": "a@h", "freq": 2.0},
                       {"type": "worker-heartbeat", "hostname": 7},
                       {"type": "task-started"},
                       {"type": "custom-thing", "hostname": ["odd"], "active": "x"}]"#;
        let envelope = serde_json::json!({
            "body": body, "content-type": "application/json", "properties": {}
        });
        let events = decode_events(envelope.to_string().as_bytes()).unwrap();
        assert!(matches!(events[0], Ok(Event::Worker(_))));
        assert!(events[1].is_err());
        assert!(events[2].is_err(), "a task event needs its uuid");
        assert_eq!(
            events[3],
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
