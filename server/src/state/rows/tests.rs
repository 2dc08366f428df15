//! Tasks taken for the history store and put back: what a restart shows
//! must be what was shown before it, field by field.

use serde_json::{Value, json};

use super::{Unsaved, rest_of_row};
use crate::state::{
    Model, ModelConfig,
    key::TaskKey,
    tasks::Limits,
    tests::{envelope, event, ingest},
};

const A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const C: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/// Every captured task event, then tasks with what the fixtures lack: a
/// custom state, an id that is not a UUID, a parent and its children, a
/// retry, a terminated revoke, unicode text.
fn busy_model() -> Model {
    let mut model = Model::default();
    let dir = format!("{}/fixtures/events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("task-"))
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap())
                .unwrap();
        let raw = doc["raw"].as_str().unwrap().as_bytes();
        assert!(model.ingest(raw, 100.0 + i as f64).is_empty(), "{name}");
    }
    let events = [
        event(
            "task-received",
            A,
            1.0,
            json!({"name": "long", "args": "(1, 'é')", "kwargs": "{'k': [1, 2]}", "retries": 0}),
        ),
        event("task-started", A, 2.0, json!({})),
        event("task-progress", A, 3.0, json!({"current": 5})),
        event(
            "task-received",
            "nightly-report",
            4.0,
            json!({"name": "report", "parent_id": A, "root_id": A}),
        ),
        event(
            "task-received",
            B,
            5.0,
            json!({"name": "child", "parent_id": A, "root_id": A}),
        ),
        event(
            "task-failed",
            B,
            6.0,
            json!({"exception": "ValueError('x')", "traceback": "Traceback…\n  line 1"}),
        ),
        event(
            "task-retried",
            C,
            7.0,
            json!({"name": "again", "exception": "Retry", "retries": 1}),
        ),
        event("task-started", C, 7.5, json!({"retries": 1})),
        event(
            "task-revoked",
            C,
            8.0,
            json!({"terminated": true, "signum": 15, "expired": false}),
        ),
    ];
    ingest(&mut model, &events, 9.0);
    model
}

fn all_keys(model: &Model) -> Vec<TaskKey> {
    let mut keys: Vec<TaskKey> = model.tasks.iter().map(|t| t.key).collect();
    keys.sort();
    keys
}

fn take_all(model: &mut Model) -> Vec<crate::store::TaskRow> {
    let Unsaved { tasks, more, .. } = model.take_unsaved(usize::MAX, 0.0);
    assert!(!more);
    tasks
}

#[test]
fn a_model_put_back_from_its_rows_shows_every_task_as_before() {
    let mut before = busy_model();
    before.keep_unsaved();
    // Nothing was listed before keep_unsaved: list everything once.
    let rows: Vec<_> = before.tasks.iter().map(|t| before.row_of(t)).collect();
    assert!(rows.len() >= 10, "{}", rows.len());
    let mut after = Model::default();
    after.restore_tasks(rows.iter().cloned().rev());
    assert_eq!(all_keys(&after), all_keys(&before));
    for key in all_keys(&before) {
        let shown = before.rest_task(key).unwrap();
        assert_eq!(after.rest_task(key).unwrap(), shown, "{key:?}");
        let row = rows.iter().find(|r| TaskKey::of(&r.id) == key).unwrap();
        // Past memory, a task is shown from its row alone: the same but
        // for the links celadon's own retries keep in memory.
        assert_eq!(rest_of_row(row), shown, "{}", row.id);
    }
    // Counts of retained tasks by type and state follow the tasks; the
    // counts of events are the model's other state, saved beside them.
    let states = |m: &Model| {
        m.task_type_stats()
            .into_iter()
            .map(|t| (t.name, t.states))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&after), states(&before));
}

#[test]
fn events_after_a_restart_fold_as_they_would_have_without_it() {
    let mut before = busy_model();
    let rows: Vec<_> = before.tasks.iter().map(|t| before.row_of(t)).collect();
    let mut after = Model::default();
    after.restore_tasks(rows.into_iter().rev());
    let later = [
        // A duplicate delivery of an event already applied.
        event("task-started", A, 2.0, json!({})),
        event(
            "task-succeeded",
            A,
            10.0,
            json!({"result": "'done'", "runtime": 8.0}),
        ),
        event("task-received", B, 11.0, json!({"retries": 1})),
        event("task-progress", "nightly-report", 12.0, json!({})),
    ];
    ingest(&mut before, &later, 13.0);
    ingest(&mut after, &later, 13.0);
    for key in all_keys(&before) {
        assert_eq!(after.rest_task(key), before.rest_task(key), "{key:?}");
    }
}

#[test]
fn each_changed_task_is_taken_once_in_its_latest_state() {
    let mut model = Model::default();
    model.keep_unsaved();
    ingest(
        &mut model,
        &[
            event("task-received", A, 1.0, json!({"name": "n"})),
            event("task-started", A, 2.0, json!({})),
        ],
        2.0,
    );
    let rows = take_all(&mut model);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].id.as_str(), rows[0].state.as_str()),
        (A, "STARTED")
    );
    assert!(take_all(&mut model).is_empty(), "nothing changed since");
    ingest(
        &mut model,
        &[event("task-succeeded", A, 3.0, json!({"result": "1"}))],
        3.0,
    );
    let rows = take_all(&mut model);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "SUCCESS");
    assert_eq!(rows[0].text[2].as_deref(), Some("1"));
}

#[test]
fn tasks_evicted_before_they_were_taken_are_still_taken() {
    let mut model = Model::new(ModelConfig {
        limits: Limits {
            max_tasks: 2,
            max_bytes: usize::MAX,
        },
        ..ModelConfig::default()
    });
    model.keep_unsaved();
    let ids: Vec<String> = (0..6)
        .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let at = i as f64;
        let events = [
            event("task-received", id, at, json!({"name": "n"})),
            event("task-succeeded", id, at + 0.5, json!({})),
        ];
        for e in &events {
            assert!(model.ingest(&envelope(e), at).is_empty());
        }
    }
    assert_eq!(model.tasks.len(), 2);
    let first = model.take_unsaved(4, 0.0);
    assert!(first.more);
    let rest = model.take_unsaved(100, 0.0);
    assert!(!rest.more);
    let mut taken: Vec<String> = first
        .tasks
        .iter()
        .chain(&rest.tasks)
        .map(|r| {
            assert_eq!(r.state, "SUCCESS", "{}", r.id);
            r.id.clone()
        })
        .collect();
    taken.sort();
    assert_eq!(taken, ids, "every task, once");
}

#[test]
fn a_restore_keeps_the_newest_within_the_models_limits() {
    let mut before = Model::default();
    let ids: Vec<String> = (0..5)
        .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        ingest(
            &mut before,
            &[event("task-succeeded", id, i as f64, json!({"name": "n"}))],
            i as f64,
        );
    }
    let mut rows: Vec<_> = before.tasks.iter().map(|t| before.row_of(t)).collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let mut after = Model::new(ModelConfig {
        limits: Limits {
            max_tasks: 3,
            max_bytes: usize::MAX,
        },
        ..ModelConfig::default()
    });
    after.restore_tasks(rows);
    let mut kept: Vec<String> = after
        .tasks
        .iter()
        .map(|t| t.key.uuid_text().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, ids[2..]);
}

#[test]
fn older_tasks_read_back_later_are_first_to_go_and_not_written_again() {
    let row_for = |model: &Model, id: &str| {
        let key = TaskKey::of(id);
        model.row_of(model.tasks.get(key).unwrap())
    };
    let mut source = Model::default();
    let ids: Vec<String> = (0..6)
        .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        ingest(
            &mut source,
            &[event("task-succeeded", id, i as f64, json!({"name": "n"}))],
            i as f64,
        );
    }
    let mut model = Model::new(ModelConfig {
        limits: Limits {
            max_tasks: 4,
            max_bytes: usize::MAX,
        },
        ..ModelConfig::default()
    });
    // The newest two at start, then the model runs; a live event for
    // task 3 arrives before task 3 is read back.
    model.restore_tasks([row_for(&source, &ids[4]), row_for(&source, &ids[5])]);
    model.keep_unsaved();
    ingest(
        &mut model,
        &[event("task-failed", &ids[3], 9.0, json!({"name": "n"}))],
        9.0,
    );
    assert_eq!(take_all(&mut model).len(), 1, "the live change only");
    let older: Vec<_> = (0..4).rev().map(|i| row_for(&source, &ids[i])).collect();
    let restored = model.restore_older_tasks(older);
    assert_eq!(restored, super::Restored { put: 1, full: true });
    assert_eq!(
        model.rest_task(TaskKey::of(&ids[3])).unwrap().state,
        "FAILURE",
        "the model's copy wins"
    );
    assert!(
        model.rest_task(TaskKey::of(&ids[1])).is_none(),
        "past the limit"
    );
    assert!(take_all(&mut model).is_empty(), "read back, not changed");
    // A new task evicts the oldest read back first.
    ingest(
        &mut model,
        &[event(
            "task-succeeded",
            "99999999-0000-4000-8000-000000000000",
            10.0,
            json!({"name": "n"}),
        )],
        10.0,
    );
    assert!(
        model.rest_task(TaskKey::of(&ids[2])).is_none(),
        "the oldest went first"
    );
    assert!(model.rest_task(TaskKey::of(&ids[4])).is_some());
}
