//! Celery events as a real cluster publishes them: the field sets, order
//! and envelope of the captured fixtures (PROTOCOL.md §3–4), serialized the
//! way Python's `json.dumps` does. Clients publish `task-sent` one per
//! PUBLISH; fake prefork workers buffer their task events and publish them
//! as `task.multi` lists of up to `batch` events, and send heartbeats.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::Value;

/// Fields filled in per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hole {
    Uuid,
    Host,
    Timestamp,
    Clock,
    Runtime,
    Processed,
}

#[derive(Clone, Debug)]
enum Segment {
    Lit(String),
    Hole(Hole),
}

/// An event with holes for what changes per event.
#[derive(Clone, Debug)]
struct Template(Vec<Segment>);

const MARK: &str = "@@HOLE:";

fn hole_value(h: Hole) -> Value {
    Value::String(format!("{MARK}{}@@", h as u8))
}

impl Template {
    /// The fixture's event, with `holes` marked and `set` overridden.
    fn from_fixture(
        fixtures: &Path,
        name: &str,
        holes: &[(&str, Hole)],
        set: &[(&str, Value)],
    ) -> anyhow::Result<Template> {
        let path = fixtures.join(format!("events/{name}.json"));
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let mut event = doc["event"].clone();
        let obj = event
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("{} has no event", path.display()))?;
        for (k, v) in set {
            obj.insert((*k).to_string(), v.clone());
        }
        for (k, h) in holes {
            obj.insert((*k).to_string(), hole_value(*h));
        }
        let text = python_json(&event);
        let mut segments = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&format!("\"{MARK}")) {
            segments.push(Segment::Lit(rest[..at].to_string()));
            let after = &rest[at + 1 + MARK.len()..];
            let end = after
                .find("@@\"")
                .ok_or_else(|| anyhow::anyhow!("bad template"))?;
            let hole = match &after[..end] {
                "0" => Hole::Uuid,
                "1" => Hole::Host,
                "2" => Hole::Timestamp,
                "3" => Hole::Clock,
                "4" => Hole::Runtime,
                _ => Hole::Processed,
            };
            segments.push(Segment::Hole(hole));
            rest = &after[end + 3..];
        }
        segments.push(Segment::Lit(rest.to_string()));
        Ok(Template(segments))
    }

    fn render(&self, out: &mut String, v: &Values<'_>) {
        use std::fmt::Write;
        for s in &self.0 {
            match s {
                Segment::Lit(l) => out.push_str(l),
                Segment::Hole(Hole::Uuid) => {
                    let _ = write!(out, "\"{}\"", v.uuid);
                }
                Segment::Hole(Hole::Host) => {
                    let _ = write!(out, "\"{}\"", v.host);
                }
                Segment::Hole(Hole::Timestamp) => {
                    let _ = write!(out, "{:?}", v.timestamp);
                }
                Segment::Hole(Hole::Clock) => {
                    let _ = write!(out, "{}", v.clock);
                }
                Segment::Hole(Hole::Runtime) => {
                    let _ = write!(out, "{:?}", v.runtime);
                }
                Segment::Hole(Hole::Processed) => {
                    let _ = write!(out, "{}", v.processed);
                }
            }
        }
    }
}

struct Values<'a> {
    uuid: &'a str,
    host: &'a str,
    timestamp: f64,
    clock: u64,
    runtime: f64,
    processed: u64,
}

/// `json.dumps` with its default separators (`", "`, `": "`) and
/// `ensure_ascii`.
pub fn python_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The envelope kombu wraps every event in.
fn envelope(body: &str, host: &str, routing_key: &str, tag: u64) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        "{{\"body\": \"{b64}\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \
         \"headers\": {{\"hostname\": \"{host}\"}}, \"properties\": {{\"delivery_mode\": 1, \
         \"delivery_info\": {{\"exchange\": \"celeryev\", \"routing_key\": \"{routing_key}\"}}, \
         \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"{}\"}}}}",
        task_id(tag)
    )
}

/// A valid, distinct UUID4-shaped id for task number `n`.
pub fn task_id(n: u64) -> String {
    format!(
        "bbbbbbbb-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n >> 48) & 0xffff,
        (n >> 36) & 0xfff,
        (n >> 24) & 0xfff,
        n & 0xff_ffff_ffff
    )
}

#[derive(Clone)]
pub struct Templates {
    sent: Template,
    received: Template,
    started: Template,
    succeeded: Template,
    failed: Template,
    heartbeat: Template,
}

/// Text each task carries (args, kwargs, result or exception), to tell the
/// model's own cost from its tasks' text.
pub const ARGS: &str = "(7, 35)";
pub const KWARGS: &str = "{}";
pub const RESULT: &str = "42";
pub const EXCEPTION: &str = "ValueError('boom')";
pub const TRACEBACK: &str = "Traceback (most recent call last):\n  File \"tasks.py\", line 23, in fail\n    raise ValueError(msg)\nValueError: boom\n";

impl Templates {
    pub fn load(fixtures: &Path) -> anyhow::Result<Templates> {
        use Hole::*;
        let common = [
            ("uuid", Uuid),
            ("hostname", Host),
            ("timestamp", Timestamp),
            ("clock", Clock),
        ];
        let task = |name: &str, set: &[(&str, Value)], extra: &[(&str, Hole)]| {
            let holes: Vec<(&str, Hole)> = common
                .iter()
                .copied()
                .chain(extra.iter().copied())
                .collect();
            Template::from_fixture(fixtures, name, &holes, set)
        };
        let name = |n: &str| Value::String(n.to_string());
        Ok(Templates {
            sent: task(
                "task-sent",
                &[
                    ("name", name("tasks.add")),
                    ("args", name(ARGS)),
                    ("kwargs", name(KWARGS)),
                    ("root_id", Value::Null),
                ],
                &[],
            )?,
            received: task(
                "task-received",
                &[
                    ("name", name("tasks.add")),
                    ("args", name(ARGS)),
                    ("kwargs", name(KWARGS)),
                    ("root_id", Value::Null),
                ],
                &[],
            )?,
            started: task("task-started", &[], &[])?,
            succeeded: task(
                "task-succeeded",
                &[("result", name(RESULT))],
                &[("runtime", Runtime)],
            )?,
            failed: task(
                "task-failed",
                &[
                    ("exception", name(EXCEPTION)),
                    ("traceback", name(TRACEBACK)),
                ],
                &[],
            )?,
            heartbeat: Template::from_fixture(
                fixtures,
                "worker-heartbeat",
                &[
                    ("hostname", Host),
                    ("timestamp", Timestamp),
                    ("clock", Clock),
                    ("processed", Processed),
                ],
                &[],
            )?,
        })
    }
}

/// What one stage of load publishes.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Events per second; `None` publishes as fast as Redis takes them.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// Events per `task.multi` PUBLISH (1: every event on its own channel).
    pub batch: usize,
    /// Number of the first task (stages use disjoint ids).
    pub first_task: u64,
    pub workers: usize,
    /// Every n-th task fails instead of succeeding.
    pub fail_every: u64,
    /// Stop after this many tasks, if set.
    pub max_tasks: Option<u64>,
}

/// What a rendered stage holds, and (once published) how long it took.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub tasks: u64,
    pub failed: u64,
    pub events: u64,
    pub publishes: u64,
    pub elapsed: Duration,
}

struct FakeWorker {
    host: String,
    pending: Vec<String>,
    clock: u64,
    processed: u64,
}

/// One PUBLISH of a rendered stage.
pub struct Publish {
    /// When to send it, from the start of the stage.
    pub at: Duration,
    pub channel: &'static str,
    pub payload: String,
}

/// A stage rendered ahead of time. Publishing it then costs the machine
/// only the PUBLISH commands: on two cores, a generator formatting events
/// while the dashboard ingests them would take the other core, and the
/// dashboard's CPU per event would measure the contention, not the
/// dashboard. It also makes "the same stream" literal: both dashboards
/// are sent these very bytes.
pub struct Plan {
    pub publishes: Vec<Publish>,
    pub sent: Sent,
}

impl Plan {
    pub fn bytes(&self) -> usize {
        self.publishes.iter().map(|p| p.payload.len()).sum()
    }
}

/// Publishes at most this many payloads per pipeline when a stage has no
/// rate (each a round trip; Redis answers them in order).
const FLAT_OUT_PIPELINE: usize = 400;

/// The publishing schedule's resolution: a tick's payloads go in one
/// pipeline, as a worker's event loop flushes its buffer once per tick.
const TICK: Duration = Duration::from_millis(10);

/// Renders the stage: events stamped `base` (seconds since the epoch) plus
/// their planned send time. A stage with a rate is planned tick by tick
/// up to its duration; one without is planned at time zero.
pub fn render(t: &Templates, spec: &Spec, base: f64) -> Plan {
    let mut workers: Vec<FakeWorker> = (0..spec.workers.max(1))
        .map(|i| FakeWorker {
            host: format!("bench{i}@loadgen"),
            pending: Vec::new(),
            clock: 1,
            processed: 0,
        })
        .collect();
    let mut out: Vec<Publish> = Vec::new();
    let mut sent = Sent::default();
    let mut next_task = spec.first_task;
    let mut next_heartbeat = Duration::ZERO;
    let mut tag = spec.first_task << 8;
    let mut tick = Duration::ZERO;
    let more = |sent: &Sent| spec.max_tasks.is_none_or(|m| sent.tasks < m);
    while (spec.rate.is_none() || tick < spec.duration) && more(&sent) {
        let at = if spec.rate.is_some() {
            tick
        } else {
            Duration::ZERO
        };
        let now = base + tick.as_secs_f64();
        let target = match spec.rate {
            Some(rate) => (rate * (tick + TICK).as_secs_f64()) as u64,
            None => sent.events + 24 * 400,
        };
        let mut push = |channel: &'static str, payload: String| {
            out.push(Publish {
                at,
                channel,
                payload,
            });
        };
        if tick >= next_heartbeat {
            for w in &workers {
                let mut body = String::new();
                let v = Values {
                    uuid: "",
                    host: &w.host,
                    timestamp: now,
                    clock: w.clock,
                    runtime: 0.0,
                    processed: w.processed,
                };
                t.heartbeat.render(&mut body, &v);
                tag += 1;
                push(
                    "/0.celeryev/worker.heartbeat",
                    envelope(&body, &w.host, "worker.heartbeat", tag),
                );
            }
            next_heartbeat += Duration::from_secs(2);
        }
        while sent.events < target && more(&sent) {
            let uuid = task_id(next_task);
            let w = &mut workers[(next_task % spec.workers.max(1) as u64) as usize];
            let fails = spec.fail_every > 0 && next_task.is_multiple_of(spec.fail_every);
            next_task += 1;
            sent.tasks += 1;
            if fails {
                sent.failed += 1;
            }
            // The client's task-sent: always one per PUBLISH.
            let mut body = String::new();
            let client = "gen4242@client";
            t.sent.render(
                &mut body,
                &Values {
                    uuid: &uuid,
                    host: client,
                    timestamp: now,
                    clock: 1,
                    runtime: 0.0,
                    processed: 0,
                },
            );
            tag += 1;
            push(
                "/0.celeryev/task.sent",
                envelope(&body, client, "task.sent", tag),
            );
            let finish = if fails {
                (&t.failed, "task.failed", "/0.celeryev/task.failed")
            } else {
                (&t.succeeded, "task.succeeded", "/0.celeryev/task.succeeded")
            };
            let steps = [
                (&t.received, "task.received", "/0.celeryev/task.received"),
                (&t.started, "task.started", "/0.celeryev/task.started"),
                finish,
            ];
            for (i, (tpl, rk, channel)) in steps.into_iter().enumerate() {
                w.clock += 1;
                let mut e = String::new();
                let v = Values {
                    uuid: &uuid,
                    host: &w.host,
                    timestamp: now + 0.001 * i as f64,
                    clock: w.clock,
                    runtime: 0.0012,
                    processed: w.processed,
                };
                tpl.render(&mut e, &v);
                if spec.batch <= 1 {
                    tag += 1;
                    push(channel, envelope(&e, &w.host, rk, tag));
                } else {
                    w.pending.push(e);
                    if w.pending.len() >= spec.batch {
                        tag += 1;
                        push(
                            "/0.celeryev/task.multi",
                            multi(&mut w.pending, &w.host, tag),
                        );
                    }
                }
            }
            w.processed += 1;
            sent.events += 4;
        }
        // A worker flushes its buffer every event-loop tick.
        for w in workers.iter_mut().filter(|w| !w.pending.is_empty()) {
            tag += 1;
            push(
                "/0.celeryev/task.multi",
                multi(&mut w.pending, &w.host, tag),
            );
        }
        tick += TICK;
    }
    sent.publishes = out.len() as u64;
    Plan {
        publishes: out,
        sent,
    }
}

/// A `task-received` event, on its own channel, for a task named `name`
/// that stands out on a page: the under-load stage watches for it.
pub fn probe(t: &Templates, n: u64, name: &str, now: f64) -> (&'static str, String) {
    let host = "bench0@loadgen";
    let mut body = String::new();
    t.received.render(
        &mut body,
        &Values {
            uuid: &task_id(n),
            host,
            timestamp: now,
            clock: 1,
            runtime: 0.0,
            processed: 0,
        },
    );
    let body = body.replacen("\"tasks.add\"", &format!("\"{name}\""), 1);
    (
        "/0.celeryev/task.received",
        envelope(&body, host, "task.received", n),
    )
}

/// Publishes `plan` on `conn` on its schedule, one pipeline per tick (or
/// per [`FLAT_OUT_PIPELINE`] payloads when it has none).
pub fn publish(conn: &mut redis::Connection, plan: &Plan) -> redis::RedisResult<Sent> {
    let start = Instant::now();
    let mut rest = plan.publishes.as_slice();
    let mut pipe = redis::pipe();
    while let Some(first) = rest.first() {
        if let Some(wait) = (start + first.at).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let n = rest
            .iter()
            .take(FLAT_OUT_PIPELINE.max(1))
            .take_while(|p| p.at == first.at)
            .count();
        let (now, later) = rest.split_at(n);
        for p in now {
            pipe.publish(p.channel, p.payload.as_str()).ignore();
        }
        pipe.query::<()>(conn)?;
        pipe.clear();
        rest = later;
    }
    Ok(Sent {
        elapsed: start.elapsed(),
        ..plan.sent
    })
}

fn multi(pending: &mut Vec<String>, host: &str, tag: u64) -> String {
    let body = format!("[{}]", pending.join(", "));
    pending.clear();
    envelope(&body, host, "task.multi", tag)
}

pub fn clock_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
