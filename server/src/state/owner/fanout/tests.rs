//! The deltas a flush sends, as data: a model, the events before a
//! subscriber's snapshot, the events after it, and exactly what the next
//! flush sends (then nothing, at a second flush with nothing new).

use app::wire::{TasksQuery, View, ViewData, ViewPatch};
use serde_json::{Value, json};

use super::{FlushCtx, Sent};
use crate::state::{
    Model,
    tests::{event, ingest},
    views::{self, ViewConfig},
};

const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";
const C: &str = "00000000-0000-4000-8000-00000000000c";
const D: &str = "00000000-0000-4000-8000-00000000000d";

/// When every snapshot and flush happens.
const NOW: f64 = 20.0;

/// What a flush is expected to send.
#[derive(Debug)]
enum Expect {
    Nothing,
    /// A tasks patch: the page's order, the ids of the rows sent, and the
    /// (filtered, total) counts.
    Tasks {
        order: &'static [&'static str],
        upsert: &'static [&'static str],
        counts: (u64, u64),
    },
    /// A workers patch: hostnames sent and removed, whether the totals go.
    Workers {
        upsert: &'static [&'static str],
        remove: &'static [&'static str],
        cluster: bool,
    },
    /// The view replaced whole, with the task in this state.
    TaskReplaced {
        id: &'static str,
        state: &'static str,
    },
}

struct Case {
    name: &'static str,
    view: View,
    before: Vec<Value>,
    after: Vec<Value>,
    expect: Expect,
}

fn received(id: &str, at: f64) -> Value {
    event("task-received", id, at, json!({"name": "tasks.add"}))
}

fn step(kind: &str, id: &str, at: f64) -> Value {
    event(kind, id, at, json!({}))
}

fn heartbeat(host: &str, at: f64) -> Value {
    json!({"type": "worker-heartbeat", "hostname": host, "timestamp": at, "freq": 2.0,
           "active": 0, "processed": 0, "clock": 1, "utcoffset": 0, "pid": 2,
           "loadavg": [0.0, 0.0, 0.0]})
}

/// Three tasks received by w1@h at 10, 11 and 12 s.
fn three() -> Vec<Value> {
    vec![received(A, 10.0), received(B, 11.0), received(C, 12.0)]
}

fn tasks(q: TasksQuery) -> View {
    View::Tasks { query: q }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a changed row is sent, with the page's new order",
            view: tasks(TasksQuery::default()),
            before: three(),
            after: vec![step("task-started", A, 13.0)],
            expect: Expect::Tasks {
                order: &[C, B, A],
                upsert: &[A],
                counts: (3, 3),
            },
        },
        Case {
            name: "a new task on the page is sent; the one it pushes off leaves by order",
            view: tasks(TasksQuery {
                limit: 2,
                ..TasksQuery::default()
            }),
            before: three(),
            after: vec![received(D, 14.0)],
            expect: Expect::Tasks {
                order: &[D, C],
                upsert: &[D],
                counts: (4, 4),
            },
        },
        Case {
            name: "a change off a filtered page sends its counts, and no row",
            view: tasks(TasksQuery {
                state: Some("SUCCESS".into()),
                ..TasksQuery::default()
            }),
            before: [three(), vec![step("task-succeeded", A, 13.0)]].concat(),
            after: vec![step("task-started", B, 14.0)],
            expect: Expect::Tasks {
                order: &[A],
                upsert: &[],
                counts: (1, 3),
            },
        },
        Case {
            name: "a page a change does not reach sends nothing",
            view: tasks(TasksQuery {
                state: Some("SUCCESS".into()),
                ..TasksQuery::default()
            }),
            before: [three(), vec![step("task-succeeded", A, 13.0)]].concat(),
            after: vec![received(B, 11.0)],
            expect: Expect::Nothing,
        },
        Case {
            name: "a task view does not change when another task does",
            view: View::Task { id: B.into() },
            before: three(),
            after: vec![step("task-started", A, 13.0)],
            expect: Expect::Nothing,
        },
        Case {
            name: "a task view is replaced whole when its task changes",
            view: View::Task { id: B.into() },
            before: three(),
            after: vec![step("task-started", B, 14.0)],
            expect: Expect::TaskReplaced {
                id: B,
                state: "STARTED",
            },
        },
        Case {
            name: "a worker's heartbeat sends its row, and no totals when no task finished",
            view: View::Workers,
            before: three(),
            after: vec![heartbeat("w2@h", 19.5)],
            expect: Expect::Workers {
                upsert: &["w2@h"],
                remove: &[],
                cluster: false,
            },
        },
        Case {
            name: "a finished task sends its worker's row and the new totals",
            view: View::Workers,
            before: three(),
            after: vec![step("task-succeeded", A, 19.0)],
            expect: Expect::Workers {
                upsert: &["w1@h"],
                remove: &[],
                cluster: true,
            },
        },
    ]
}

fn config() -> ViewConfig {
    ViewConfig {
        tasks_columns: vec!["name".into(), "state".into()],
        priority_steps: vec![0, 3, 6, 9],
        controls: true,
        natural_time: false,
    }
}

/// The patch a flush at [`NOW`] sends a subscriber that has `sent`.
fn flush(model: &mut Model, sent: &mut Sent, view: &View) -> Option<ViewPatch> {
    let changed = model.take_changed_workers();
    let config = config();
    let mut cx = FlushCtx::new(model, &config, NOW, changed);
    sent.patch(view, &mut cx)
}

fn check(case: &Case, patch: Option<ViewPatch>) {
    let name = case.name;
    match (&case.expect, patch) {
        (Expect::Nothing, None) => {}
        (
            Expect::Tasks {
                order,
                upsert,
                counts,
            },
            Some(ViewPatch::Tasks {
                order: sent_order,
                upsert: sent,
                filtered,
                total,
                ..
            }),
        ) => {
            assert_eq!(sent_order, *order, "{name}: order");
            let ids: Vec<&str> = sent.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, *upsert, "{name}: rows sent");
            assert_eq!((filtered, total), *counts, "{name}: counts");
        }
        (
            Expect::Workers {
                upsert,
                remove,
                cluster,
            },
            Some(ViewPatch::Workers {
                upsert: sent,
                remove: removed,
                cluster: totals,
            }),
        ) => {
            let hosts: Vec<&str> = sent.iter().map(|w| w.hostname.as_str()).collect();
            assert_eq!(hosts, *upsert, "{name}: rows sent");
            assert_eq!(removed, *remove, "{name}: rows removed");
            assert_eq!(totals.is_some(), *cluster, "{name}: totals");
        }
        (Expect::TaskReplaced { id, state }, Some(ViewPatch::Replace(data))) => {
            let ViewData::Task {
                id: sent_id,
                task: Some(task),
            } = *data
            else {
                panic!("{name}: a task view, got {data:?}");
            };
            assert_eq!(
                (sent_id.as_str(), task.row.state.as_str()),
                (*id, *state),
                "{name}"
            );
        }
        (expect, patch) => panic!("{name}: expected {expect:?}, got {patch:?}"),
    }
}

#[test]
fn each_flush_sends_exactly_what_changed_for_the_view() {
    for case in cases() {
        let mut model = Model::default();
        ingest(&mut model, &case.before, NOW);
        let snapshot = views::snapshot(
            &model,
            &config(),
            super::placeholder_broker(),
            &case.view,
            NOW,
        );
        model.take_changed_workers();
        let mut sent = Sent::of(&snapshot, &model);
        ingest(&mut model, &case.after, NOW);
        check(&case, flush(&mut model, &mut sent, &case.view));
        assert_eq!(
            flush(&mut model, &mut sent, &case.view),
            None,
            "{}: nothing new, nothing sent",
            case.name
        );
    }
}
