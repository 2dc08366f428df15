//! Model behaviour, driven by the captured fixtures (PROTOCOL.md's exact
//! bytes) and by events built in their image.

use app::wire::celery::TaskEventKind;
use base64::Engine;
use serde_json::{Value, json};

use super::{
    Model, ModelConfig,
    key::TaskKey,
    task::{StateCode, Task, flags},
    tasks::Limits,
    text::Field,
};

/// The exact PUBLISH payload of a captured event fixture.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["raw"].as_str().unwrap().as_bytes().to_vec()
}

/// The event of interest in a fixture, as JSON, to build variants from.
fn fixture_event(name: &str) -> Value {
    let path = format!("{}/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["event"].clone()
}

/// A kombu envelope around `body` (an event or a list), as workers send.
pub(crate) fn envelope(body: &Value) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({
        "body": b64, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"hostname": "w@h"},
        "properties": {"delivery_mode": 1, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "celeryev", "routing_key": "task.multi"},
                       "delivery_tag": "00000000-0000-4000-8000-000000000000"}
    })
    .to_string()
    .into_bytes()
}

pub(crate) fn event(kind: &str, uuid: &str, at: f64, extra: Value) -> Value {
    let mut e = json!({"type": kind, "uuid": uuid, "hostname": "w1@h", "timestamp": at,
                       "utcoffset": 0.0, "pid": 1, "clock": (at * 10.0) as u64});
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            e.insert(k.clone(), v.clone());
        }
    }
    e
}

pub(crate) fn ingest(model: &mut Model, events: &[Value], at: f64) {
    for e in events {
        assert!(model.ingest(&envelope(e), at).is_empty(), "{e}");
    }
}

fn task<'a>(model: &'a Model, uuid: &str) -> &'a Task {
    model.tasks.get(TaskKey::of(uuid)).unwrap()
}

fn state(model: &Model, uuid: &str) -> String {
    model.state_name(task(model, uuid).state).to_string()
}

const LIFECYCLE: [&str; 4] = [
    "task-sent",
    "task-received",
    "task-started",
    "task-succeeded",
];
const ADD_ID: &str = "cee29735-4451-42a3-9c87-0eaa10bdb1fe";

#[test]
fn a_full_lifecycle_ends_in_success_with_runtime_worker_args_and_result() {
    let mut model = Model::default();
    for name in LIFECYCLE {
        assert!(model.ingest(&fixture(name), 1000.0).is_empty(), "{name}");
    }
    let t = task(&model, ADD_ID);
    assert_eq!(state(&model, ADD_ID), "SUCCESS");
    assert_eq!(model.symbols.text(t.name), "tasks.add");
    assert_eq!(model.symbols.text(t.worker), "w2@vm");
    assert_eq!(model.symbols.text(t.queue), "celery");
    assert_eq!(t.retries, 0);
    assert!(t.runtime > 0.0);
    assert!(t.times.sent.is_finite() && t.times.received.is_finite());
    assert!(t.times.started.is_finite() && t.times.succeeded.is_finite());
    assert_eq!(t.times.timestamp, t.times.succeeded);
    assert!(t.text.get(Field::Args).is_some());
    assert!(t.text.get(Field::Result).is_some());
    assert_eq!(t.text.get(Field::Client), Some("gen10658@vm"));

    let add = &model.types[&t.name];
    assert_eq!(add.outcomes[TaskEventKind::Succeeded.index()], 1);
    assert_eq!(add.retained[StateCode::SUCCESS.0 as usize], 1);
    assert_eq!(add.runtime.count(), 1);
    let w2 = model.workers.get("w2@vm").unwrap();
    assert_eq!(w2.task_count(TaskEventKind::Received), 1);
    assert_eq!(w2.task_count(TaskEventKind::Succeeded), 1);
    assert!(
        model.workers.get("gen10658@vm").is_none(),
        "a client is not a worker"
    );
}

#[test]
fn events_out_of_order_leave_the_state_celery_would() {
    let mut model = Model::default();
    for name in LIFECYCLE.iter().rev() {
        assert!(model.ingest(&fixture(name), 1000.0).is_empty());
    }
    let t = task(&model, ADD_ID);
    assert_eq!(
        state(&model, ADD_ID),
        "SUCCESS",
        "late events do not move it back"
    );
    assert_eq!(
        model.symbols.text(t.name),
        "tasks.add",
        "a late received still names it"
    );
    assert!(t.text.get(Field::Args).is_some());
    assert!(t.times.received.is_finite() && t.times.started.is_finite());
    assert_eq!(t.times.timestamp, t.times.succeeded);
    let add = &model.types[&t.name];
    assert_eq!(
        add.retained.iter().sum::<u64>(),
        1,
        "counted once, under its final state"
    );
    assert_eq!(add.retained[StateCode::SUCCESS.0 as usize], 1);
}

#[test]
fn a_duplicate_delivery_changes_nothing_and_is_not_counted_twice() {
    let mut model = Model::default();
    for name in ["task-received", "task-received", "task-started"] {
        model.ingest(&fixture(name), 1000.0);
    }
    assert_eq!(state(&model, ADD_ID), "STARTED");
    assert_eq!(model.counters.duplicates, 1);
    assert_eq!(
        model
            .workers
            .get("w2@vm")
            .unwrap()
            .task_count(TaskEventKind::Received),
        1
    );
    let name = task(&model, ADD_ID).name;
    assert_eq!(
        model.types[&name].outcomes[TaskEventKind::Received.index()],
        1
    );
    assert_eq!(
        model.counters.events_by_type()["task-received"],
        2,
        "both arrived"
    );
}

#[test]
fn retries_reuse_the_uuid_and_end_in_the_final_state() {
    let id = "f514f02a-f02c-4682-a544-d02cabc6de3e";
    let mut model = Model::default();
    let first = event(
        "task-received",
        id,
        100.0,
        json!({"name": "tasks.flaky", "args": "()", "kwargs": "{}", "retries": 0}),
    );
    ingest(
        &mut model,
        &[first, event("task-started", id, 100.1, json!({}))],
        100.0,
    );
    for name in ["task-retried", "task-sent.retry", "task-received.retry"] {
        assert!(model.ingest(&fixture(name), 101.0).is_empty());
    }
    assert_eq!(state(&model, id), "RECEIVED");
    let second_start = event("task-started", id, 1_900_000_000.0, json!({}));
    let done = event(
        "task-succeeded",
        id,
        1_900_000_001.0,
        json!({"result": "'ok'", "runtime": 0.5}),
    );
    ingest(&mut model, &[second_start, done], 102.0);

    let t = task(&model, id);
    assert_eq!(state(&model, id), "SUCCESS");
    assert_eq!(t.retries, 1);
    assert!(
        t.text.get(Field::Exception).is_some(),
        "the retry's exception stays visible"
    );
    let flaky = &model.types[&t.name];
    assert_eq!(flaky.outcomes[TaskEventKind::Retried.index()], 1);
    assert_eq!(
        flaky.outcomes[TaskEventKind::Started.index()],
        2,
        "each attempt started"
    );
    assert_eq!(flaky.outcomes[TaskEventKind::Succeeded.index()], 1);
    assert_eq!(
        model.counters.duplicates, 0,
        "a new attempt is not a duplicate"
    );
}

#[test]
fn a_revoke_before_receive_creates_a_revoked_task_that_later_events_fill_in() {
    let id = "3ec26a64-0793-4249-8707-d298c8c7be94";
    let mut model = Model::default();
    assert!(
        model
            .ingest(&fixture("task-revoked.expired"), 100.0)
            .is_empty()
    );
    assert_eq!(state(&model, id), "REVOKED");
    assert!(task(&model, id).flags & flags::EXPIRED != 0);
    assert!(task(&model, id).name.is_none());

    let sent = event(
        "task-sent",
        id,
        1.0,
        json!({"name": "tasks.add", "queue": "celery", "retries": 0}),
    );
    ingest(&mut model, &[sent], 101.0);
    let t = task(&model, id);
    assert_eq!(state(&model, id), "REVOKED", "PENDING comes before REVOKED");
    assert_eq!(
        model.symbols.text(t.name),
        "tasks.add",
        "but its fields are merged"
    );

    let unknown = "ca8932fa-0b47-4e69-bfca-9e58626f2088";
    assert!(
        model
            .ingest(&fixture("task-revoked.unknown-then-received"), 102.0)
            .is_empty()
    );
    assert_eq!(state(&model, unknown), "REVOKED");
}

#[test]
fn chain_children_link_to_their_parent_whichever_arrives_first() {
    let mut model = Model::default();
    let parent = "11111111-1111-4111-8111-111111111111";
    let child = "22222222-2222-4222-8222-222222222222";
    let late = "33333333-3333-4333-8333-333333333333";
    let link = json!({"name": "tasks.add", "parent_id": parent, "root_id": parent});
    ingest(
        &mut model,
        &[event("task-sent", child, 1.0, link.clone())],
        1.0,
    );
    ingest(
        &mut model,
        &[event(
            "task-received",
            parent,
            2.0,
            json!({"name": "tasks.add"}),
        )],
        2.0,
    );
    ingest(&mut model, &[event("task-sent", late, 3.0, link)], 3.0);
    let children = task(&model, parent).children.as_deref().unwrap().to_vec();
    assert_eq!(children, [TaskKey::of(child), TaskKey::of(late)]);
    assert_eq!(task(&model, child).parent, TaskKey::of(parent));
    assert_eq!(task(&model, child).root, TaskKey::of(parent));
}

#[test]
fn a_captured_chain_child_names_its_parent_and_root() {
    let mut model = Model::default();
    assert!(
        model
            .ingest(&fixture("task-sent.chain-child"), 1.0)
            .is_empty()
    );
    let e = fixture_event("task-sent.chain-child");
    let t = task(&model, e["uuid"].as_str().unwrap());
    assert_eq!(t.parent, TaskKey::of(e["parent_id"].as_str().unwrap()));
    assert_eq!(t.root, TaskKey::of(e["root_id"].as_str().unwrap()));
}

#[test]
fn the_lamport_clock_follows_workers_and_stamps_task_sent_just_behind() {
    let mut model = Model::default();
    let id = "44444444-4444-4444-8444-444444444444";
    let mut received = event("task-received", id, 1.0, json!({"name": "x"}));
    received["clock"] = json!(500);
    ingest(&mut model, &[received], 1.0);
    assert_eq!(task(&model, id).clock, 500);
    let other = "55555555-5555-4555-8555-555555555555";
    let mut sent = event("task-sent", other, 2.0, json!({"name": "x"}));
    sent["clock"] = json!(3);
    ingest(&mut model, &[sent], 2.0);
    assert_eq!(
        task(&model, other).clock,
        500,
        "receiver's clock (501) minus one, not the client's 3"
    );
}

#[test]
fn max_tasks_evicts_finished_tasks_first_and_keeps_counts_right() {
    let mut model = Model::new(ModelConfig {
        limits: Limits {
            max_tasks: 10,
            max_bytes: usize::MAX,
        },
        ..ModelConfig::default()
    });
    let running = "66666666-6666-4666-8666-666666666666";
    ingest(
        &mut model,
        &[event("task-started", running, 0.5, json!({"name": "slow"}))],
        0.5,
    );
    for i in 0..100u32 {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let rx = event("task-received", &id, f64::from(i), json!({"name": "fast"}));
        let ok = event(
            "task-succeeded",
            &id,
            f64::from(i) + 0.1,
            json!({"runtime": 0.1}),
        );
        ingest(&mut model, &[rx, ok], f64::from(i));
    }
    assert_eq!(model.tasks.len(), 10);
    assert!(
        model.tasks.get(TaskKey::of(running)).is_some(),
        "running tasks go last"
    );
    let fast = model.symbols.lookup("fast").unwrap();
    assert_eq!(model.types[&fast].retained.iter().sum::<u64>(), 9);
    assert_eq!(
        model.types[&fast].outcomes[TaskEventKind::Succeeded.index()],
        100,
        "all-time counts stay"
    );
    assert_eq!(model.tasks.evicted_total(), 91);
}

#[test]
fn a_custom_task_event_sets_a_custom_state() {
    let mut model = Model::default();
    let id = "77777777-7777-4777-8777-777777777777";
    ingest(
        &mut model,
        &[event("task-received", id, 1.0, json!({"name": "long"}))],
        1.0,
    );
    ingest(
        &mut model,
        &[event("task-started", id, 2.0, json!({}))],
        2.0,
    );
    ingest(
        &mut model,
        &[event("task-progress", id, 3.0, json!({"current": 5}))],
        3.0,
    );
    assert_eq!(state(&model, id), "PROGRESS");
    ingest(
        &mut model,
        &[event("task-succeeded", id, 4.0, json!({"runtime": 3.0}))],
        4.0,
    );
    assert_eq!(state(&model, id), "SUCCESS");
    assert_eq!(
        model.state_code("PROGRESS").map(|c| c.0),
        Some(StateCode::FIRST_CUSTOM)
    );
}

#[test]
fn task_ids_that_are_not_uuids_keep_their_text() {
    let mut model = Model::default();
    ingest(
        &mut model,
        &[event(
            "task-received",
            "nightly-report",
            1.0,
            json!({"name": "report"}),
        )],
        1.0,
    );
    let key = TaskKey::of("nightly-report");
    assert_eq!(model.id_text(key).as_deref(), Some("nightly-report"));
}

#[test]
fn junk_payloads_are_counted_and_change_nothing_else() {
    let mut model = Model::default();
    for junk in [&b"garbage"[..], b"", b"{\"body\": 1}", b"\x00\xff"] {
        assert_eq!(model.ingest(junk, 1.0).len(), 1);
    }
    let mixed =
        envelope(&json!([{"type": "task-started"}, event("task-started", ADD_ID, 1.0, json!({}))]));
    assert_eq!(
        model.ingest(&mixed, 1.0).len(),
        1,
        "the good event in the batch is applied"
    );
    assert_eq!(model.counters.undecodable, 5);
    assert_eq!(model.tasks.len(), 1);
}

#[test]
fn throughput_counts_outcomes_in_the_second_they_arrived() {
    let mut model = Model::default();
    for (i, at) in [10.2, 10.7, 12.1].iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        ingest(
            &mut model,
            &[event("task-failed", &id, *at, json!({"exception": "E()"}))],
            *at,
        );
    }
    let window = model.throughput.per_second.window(10.0, 12.0);
    let failed: Vec<u32> = window
        .iter()
        .map(|(_, c)| c[TaskEventKind::Failed.index()])
        .collect();
    assert_eq!(failed, [2, 0, 1]);
}

#[test]
fn the_measured_size_grows_with_tasks_and_their_text() {
    let mut model = Model::default();
    let empty = model.heap_bytes();
    for i in 0..1000u32 {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let args = format!("({i}, {})", "x".repeat(100));
        ingest(
            &mut model,
            &[event(
                "task-received",
                &id,
                1.0,
                json!({"name": "t", "args": args}),
            )],
            1.0,
        );
    }
    let per_task = (model.heap_bytes() - empty) / 1000;
    assert!((150..1000).contains(&per_task), "{per_task} bytes per task");
}

#[test]
fn a_retry_announced_before_its_retried_event_is_a_new_attempt_not_a_duplicate() {
    let id = "88888888-8888-4888-8888-888888888888";
    let mut model = Model::default();
    let flaky = json!({"name": "tasks.flaky", "retries": 0});
    ingest(
        &mut model,
        &[event("task-sent", id, 1.0, flaky.clone())],
        1.0,
    );
    ingest(&mut model, &[event("task-received", id, 2.0, flaky)], 2.0);
    ingest(
        &mut model,
        &[event("task-started", id, 3.0, json!({}))],
        3.0,
    );
    // The pool child announces the retry before the worker says task-retried.
    ingest(
        &mut model,
        &[event(
            "task-sent",
            id,
            4.0,
            json!({"name": "tasks.flaky", "retries": 1}),
        )],
        4.0,
    );
    ingest(
        &mut model,
        &[event("task-retried", id, 4.1, json!({"exception": "E()"}))],
        4.1,
    );
    ingest(
        &mut model,
        &[event(
            "task-received",
            id,
            5.0,
            json!({"name": "tasks.flaky", "retries": 1}),
        )],
        5.0,
    );
    ingest(
        &mut model,
        &[event(
            "task-received",
            id,
            5.0,
            json!({"name": "tasks.flaky", "retries": 1}),
        )],
        5.0,
    );
    assert_eq!(model.counters.duplicates, 1, "only the repeated received");
    assert_eq!(
        model
            .workers
            .get("w1@h")
            .unwrap()
            .task_count(TaskEventKind::Received),
        2
    );
}

#[test]
fn a_task_sent_arriving_after_received_counts_for_no_worker() {
    use super::series::{Filter, Window};
    let mut model = Model::default();
    let id = "00000000-0000-4000-8000-000000000001";
    let at = 1_800_000_000.0;
    ingest(
        &mut model,
        &[event("task-received", id, at, json!({"name": "t.a"}))],
        at,
    );
    ingest(
        &mut model,
        &[event("task-sent", id, at, json!({"name": "t.a"}))],
        at,
    );
    let worker = model.symbols.lookup("w1@h").unwrap();
    let series = model.series.get(Filter::Worker(worker)).unwrap();
    let counts = |o: TaskEventKind| -> u32 {
        series
            .window(Window::FiveMinutes, at)
            .iter()
            .map(|(_, c)| c[o.index()])
            .sum()
    };
    assert_eq!(counts(TaskEventKind::Received), 1);
    assert_eq!(
        counts(TaskEventKind::Sent),
        0,
        "the client sent it, not the worker"
    );
}

/// The queue's waits recorded so far: `(count, sum)`.
fn queue_waits(model: &Model, queue: &str) -> (u64, f64) {
    let sym = model.symbols.lookup(queue).unwrap();
    model
        .metrics
        .queue_wait
        .get(&sym)
        .map_or((0, 0.0), |h| (h.count, h.sum))
}

#[test]
fn the_queue_wait_is_recorded_once_whichever_of_sent_and_started_arrives_last() {
    let at = 1_800_000_000.0;
    let sent = |id| {
        event(
            "task-sent",
            id,
            at,
            json!({"name": "t.a", "queue": "q", "retries": 0}),
        )
    };
    let received = |id| {
        event(
            "task-received",
            id,
            at + 1.0,
            json!({"name": "t.a", "retries": 0}),
        )
    };
    let started = |id| event("task-started", id, at + 1.5, json!({}));
    let in_order = "00000000-0000-4000-8000-000000000001";
    let sent_late = "00000000-0000-4000-8000-000000000002";
    let mut model = Model::default();
    ingest(
        &mut model,
        &[sent(in_order), received(in_order), started(in_order)],
        at,
    );
    assert_eq!(queue_waits(&model, "q"), (1, 1.5));
    // Celery publishes the message before its task-sent event: a fast
    // worker's task-started can arrive first.
    ingest(
        &mut model,
        &[received(sent_late), started(sent_late), sent(sent_late)],
        at,
    );
    assert_eq!(queue_waits(&model, "q"), (2, 3.0));
    // The next attempt's task-sent is not a late one for the first start.
    let retry = event(
        "task-sent",
        sent_late,
        at + 5.0,
        json!({"name": "t.a", "queue": "q", "retries": 1}),
    );
    ingest(&mut model, &[retry], at);
    assert_eq!(queue_waits(&model, "q"), (2, 3.0));
}

#[test]
fn stuck_candidates_are_tasks_a_running_worker_may_still_be_running() {
    use super::read::AlertAsk;
    let mut model = Model::default();
    model.on_link(true, 0.0);
    let online = |at: f64| event("worker-online", "", at, json!({"freq": 2.0}));
    let started = |id: &str, at: f64| {
        [
            event("task-received", id, at, json!({"name": "slow"})),
            event("task-started", id, at, json!({})),
        ]
    };
    // One task started by the worker's first process, which then went
    // away without a word; the worker came back at 1000 and started another.
    ingest(&mut model, &[online(10.0)], 10.0);
    ingest(
        &mut model,
        &started("11111111-0000-4000-8000-000000000001", 20.0),
        20.0,
    );
    ingest(&mut model, &[online(1000.0)], 1000.0);
    ingest(
        &mut model,
        &started("11111111-0000-4000-8000-000000000002", 1001.0),
        1001.0,
    );
    let ask = AlertAsk {
        stuck_after: Some(60.0),
        ..AlertAsk::default()
    };
    let ids = |model: &Model, now: f64| -> Vec<String> {
        let inputs = model.alert_inputs(&ask, now);
        inputs.started.into_iter().map(|t| t.id).collect()
    };
    // Alive at 1100: only the second process's task may still run.
    ingest(
        &mut model,
        &[event("worker-heartbeat", "", 1100.0, json!({"freq": 2.0}))],
        1100.0,
    );
    assert_eq!(
        ids(&model, 1100.0),
        ["11111111-0000-4000-8000-000000000002"]
    );
    // Silent past its heartbeat window: its tasks are its own alert's.
    assert!(ids(&model, 1200.0).is_empty());
    // Heard throughout: silence counts from the worker's last sign of life.
    assert_eq!(
        model.alert_inputs(&ask, 1200.0).listening_since,
        Some(f64::NEG_INFINITY)
    );
    model.on_link(false, 1300.0);
    assert_eq!(model.alert_inputs(&ask, 1301.0).listening_since, None);
    model.on_link(true, 1310.0);
    assert_eq!(
        model.alert_inputs(&ask, 1311.0).listening_since,
        Some(1310.0)
    );
}

#[test]
fn a_worker_that_said_goodbye_was_last_seen_when_it_left() {
    use super::read::AlertAsk;
    let mut model = Model::default();
    model.on_link(true, 0.0);
    ingest(
        &mut model,
        &[event("worker-online", "", 10.0, json!({"freq": 2.0}))],
        10.0,
    );
    ingest(
        &mut model,
        &[event("worker-offline", "", 20.0, json!({}))],
        20.0,
    );
    let inputs = model.alert_inputs(&AlertAsk::default(), 30.0);
    let seen: Vec<_> = inputs
        .workers
        .iter()
        .map(|w| (w.online, w.last_seen))
        .collect();
    assert_eq!(seen, [(false, Some(20.0))]);
}

#[test]
fn a_worker_offline_consumes_nothing_until_it_is_back_and_asked_again() {
    let mut model = Model::default();
    let consumes = |model: &mut Model, at: f64| {
        model.record_inspection(super::Inspection {
            method: "active_queues".into(),
            replies: Vec::new(),
            consumes: vec![("w1@h".into(), vec!["celery".into()])],
            at,
        });
    };
    let consumers = |model: &Model| model.queue_detail("celery", 0.0).unwrap().consumers;
    ingest(
        &mut model,
        &[event("worker-online", "", 10.0, json!({"freq": 2.0}))],
        10.0,
    );
    assert_eq!(model.take_joined(), ["w1@h"]);
    consumes(&mut model, 11.0);
    assert_eq!(consumers(&model), ["w1@h"]);

    // Silent past its heartbeat window.
    model.expire(100.0, None);
    assert!(consumers(&model).is_empty());
    // Back: asked again for its queues, which say it consumes again.
    ingest(
        &mut model,
        &[event("worker-heartbeat", "", 200.0, json!({"freq": 2.0}))],
        200.0,
    );
    assert_eq!(model.take_joined(), ["w1@h"]);
    consumes(&mut model, 201.0);
    assert_eq!(consumers(&model), ["w1@h"]);
    // A heartbeat while online changes nothing.
    ingest(
        &mut model,
        &[event("worker-heartbeat", "", 202.0, json!({"freq": 2.0}))],
        202.0,
    );
    assert_eq!(consumers(&model), ["w1@h"]);
    // Said goodbye.
    ingest(
        &mut model,
        &[event("worker-offline", "", 210.0, json!({}))],
        210.0,
    );
    assert!(consumers(&model).is_empty());
}
