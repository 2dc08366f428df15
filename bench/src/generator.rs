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

/// Where generated payloads go.
pub trait Sink {
    fn publish(&mut self, channel: &str, payload: String);
    /// End of a tick: send what was buffered.
    fn flush(&mut self) -> redis::RedisResult<()>;
}

/// Publishes to Redis, one pipeline per tick.
pub struct RedisSink<'a> {
    pub conn: &'a mut redis::Connection,
    pub pipe: redis::Pipeline,
    pub pending: usize,
}

impl Sink for RedisSink<'_> {
    fn publish(&mut self, channel: &str, payload: String) {
        self.pipe.publish(channel, payload).ignore();
        self.pending += 1;
    }

    fn flush(&mut self) -> redis::RedisResult<()> {
        if self.pending > 0 {
            self.pipe.query::<()>(self.conn)?;
            self.pipe.clear();
            self.pending = 0;
        }
        Ok(())
    }
}

/// Keeps payloads in memory, for measuring ingestion without Redis.
#[derive(Default)]
pub struct MemorySink(pub Vec<(String, String)>);

impl Sink for MemorySink {
    fn publish(&mut self, channel: &str, payload: String) {
        self.0.push((channel.to_string(), payload));
    }

    fn flush(&mut self) -> redis::RedisResult<()> {
        Ok(())
    }
}

/// Publishes the stage's load on `conn` (to the channels of db 0).
pub fn publish(
    conn: &mut redis::Connection,
    t: &Templates,
    spec: &Spec,
) -> redis::RedisResult<Sent> {
    let mut sink = RedisSink {
        conn,
        pipe: redis::pipe(),
        pending: 0,
    };
    generate(&mut sink, t, spec)
}

/// Generates the stage's load into `sink`.
pub fn generate(sink: &mut impl Sink, t: &Templates, spec: &Spec) -> redis::RedisResult<Sent> {
    const TICK: Duration = Duration::from_millis(10);
    let mut workers: Vec<FakeWorker> = (0..spec.workers.max(1))
        .map(|i| FakeWorker {
            host: format!("bench{i}@loadgen"),
            pending: Vec::new(),
            clock: 1,
            processed: 0,
        })
        .collect();
    let start = Instant::now();
    let mut sent = Sent::default();
    let mut next_task = spec.first_task;
    let mut next_heartbeat = start;
    let mut tag = spec.first_task << 8;
    while start.elapsed() < spec.duration && spec.max_tasks.is_none_or(|m| sent.tasks < m) {
        let now = clock_now();
        let target = match spec.rate {
            Some(rate) => (rate * (start.elapsed() + TICK).as_secs_f64()) as u64,
            None => sent.events + 24 * 400,
        };
        let mut publishes = 0u64;
        if Instant::now() >= next_heartbeat {
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
                sink.publish(
                    "/0.celeryev/worker.heartbeat",
                    envelope(&body, &w.host, "worker.heartbeat", tag),
                );
                publishes += 1;
            }
            next_heartbeat += Duration::from_secs(2);
        }
        while sent.events < target && spec.max_tasks.is_none_or(|m| sent.tasks < m) {
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
            sink.publish(
                "/0.celeryev/task.sent",
                envelope(&body, client, "task.sent", tag),
            );
            publishes += 1;
            let steps: [(&Template, &str); 3] = [
                (&t.received, "task.received"),
                (&t.started, "task.started"),
                if fails {
                    (&t.failed, "task.failed")
                } else {
                    (&t.succeeded, "task.succeeded")
                },
            ];
            for (i, (tpl, rk)) in steps.iter().enumerate() {
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
                    sink.publish(&format!("/0.celeryev/{rk}"), envelope(&e, &w.host, rk, tag));
                    publishes += 1;
                } else {
                    w.pending.push(e);
                    if w.pending.len() >= spec.batch {
                        tag += 1;
                        sink.publish(
                            "/0.celeryev/task.multi",
                            multi(&mut w.pending, &w.host, tag),
                        );
                        publishes += 1;
                    }
                }
            }
            w.processed += 1;
            sent.events += 4;
        }
        // A worker flushes its buffer every event-loop tick.
        for w in workers.iter_mut().filter(|w| !w.pending.is_empty()) {
            tag += 1;
            sink.publish(
                "/0.celeryev/task.multi",
                multi(&mut w.pending, &w.host, tag),
            );
            publishes += 1;
        }
        sink.flush()?;
        sent.publishes += publishes;
        if spec.rate.is_some() {
            let due =
                start + Duration::from_secs_f64(sent.events as f64 / spec.rate.unwrap_or(1.0));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait.min(TICK));
            }
        }
    }
    sent.elapsed = start.elapsed();
    Ok(sent)
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
