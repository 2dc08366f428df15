//! The deltas a flush sends, case by case: a model, what a subscriber was
//! last sent, the events since, and exactly the patch that follows.

use app::wire::{TasksQuery, View, ViewData, ViewPatch};
use serde_json::json;

use super::{FlushCtx, Sent};
use crate::state::{
    Model,
    tests::{event, ingest},
    views::{self, ViewConfig},
};

const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";
const C: &str = "00000000-0000-4000-8000-00000000000c";

fn config() -> ViewConfig {
    ViewConfig {
        tasks_columns: vec!["name".into(), "state".into()],
        priority_steps: vec![0, 3, 6, 9],
        controls: true,
    }
}

/// Three tasks received by w1@h at 10, 11 and 12 s.
fn three_received() -> Model {
    let mut model = Model::default();
    let received = |id, at| event("task-received", id, at, json!({"name": "tasks.add"}));
    ingest(
        &mut model,
        &[received(A, 10.0), received(B, 11.0), received(C, 12.0)],
        12.0,
    );
    model
}

/// What a new subscriber to `view` has after its snapshot.
fn subscribed(model: &mut Model, view: &View) -> Sent {
    let snapshot = views::snapshot(model, &config(), super::placeholder_broker(), view, 20.0);
    model.workers.take_changed();
    Sent::of(&snapshot, model)
}

/// The patch a flush at `now` sends that subscriber.
fn flush(model: &mut Model, sent: &mut Sent, view: &View, now: f64) -> Option<ViewPatch> {
    let changed = model.workers.take_changed();
    let config = config();
    let mut cx = FlushCtx::new(model, &config, now, changed);
    sent.patch(view, &mut cx)
}

fn tasks_view(q: TasksQuery) -> View {
    View::Tasks { query: q }
}

fn ids(rows: &[app::wire::TaskRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn a_task_page_sends_the_new_order_and_only_the_rows_that_changed() {
    let mut model = three_received();
    let view = tasks_view(TasksQuery::default());
    let mut sent = subscribed(&mut model, &view);
    ingest(
        &mut model,
        &[event("task-started", A, 13.0, json!({}))],
        13.0,
    );

    let Some(ViewPatch::Tasks {
        order,
        upsert,
        filtered,
        total,
        states,
    }) = flush(&mut model, &mut sent, &view, 20.0)
    else {
        panic!("a tasks patch");
    };
    assert_eq!(order, [C, B, A], "newest received first, as before");
    assert_eq!(ids(&upsert), [A], "only the row that changed");
    assert_eq!(upsert[0].state, "STARTED");
    assert_eq!((filtered, total), (3, 3));
    assert_eq!(
        states,
        [("RECEIVED".to_string(), 2), ("STARTED".to_string(), 1)]
    );
    assert_eq!(
        flush(&mut model, &mut sent, &view, 20.0),
        None,
        "nothing new, nothing sent"
    );
}

#[test]
fn a_new_task_on_the_page_is_sent_and_the_one_it_pushes_off_is_dropped_by_order() {
    let mut model = three_received();
    let view = tasks_view(TasksQuery {
        limit: 2,
        ..TasksQuery::default()
    });
    let mut sent = subscribed(&mut model, &view);
    let d = "00000000-0000-4000-8000-00000000000d";
    ingest(
        &mut model,
        &[event(
            "task-received",
            d,
            14.0,
            json!({"name": "tasks.add"}),
        )],
        14.0,
    );
    let Some(ViewPatch::Tasks { order, upsert, .. }) = flush(&mut model, &mut sent, &view, 20.0)
    else {
        panic!("a tasks patch");
    };
    assert_eq!(order, [d, C]);
    assert_eq!(ids(&upsert), [d], "C is already there, B leaves by order");
}

#[test]
fn a_change_off_the_filtered_page_sends_nothing() {
    let mut model = three_received();
    let view = tasks_view(TasksQuery {
        state: Some("SUCCESS".into()),
        ..TasksQuery::default()
    });
    ingest(
        &mut model,
        &[event("task-succeeded", A, 13.0, json!({}))],
        13.0,
    );
    let mut sent = subscribed(&mut model, &view);
    // B starts: the model moved, but not the SUCCESS page nor its counts.
    ingest(
        &mut model,
        &[event("task-started", B, 14.0, json!({}))],
        14.0,
    );
    let patch = flush(&mut model, &mut sent, &view, 20.0);
    assert!(
        matches!(patch, Some(ViewPatch::Tasks { ref upsert, .. }) if upsert.is_empty()),
        "the state counts moved, so totals go, but no row: {patch:?}"
    );
    let Sent::Tasks { rows, .. } = &sent else {
        panic!("a tasks subscription");
    };
    assert_eq!(ids(rows), [A]);
}

#[test]
fn a_task_view_is_replaced_whole_only_when_its_task_changed() {
    let mut model = three_received();
    let view = View::Task { id: B.into() };
    let mut sent = subscribed(&mut model, &view);
    ingest(
        &mut model,
        &[event("task-started", A, 13.0, json!({}))],
        13.0,
    );
    assert_eq!(
        flush(&mut model, &mut sent, &view, 20.0),
        None,
        "another task changed: the view is the same"
    );
    ingest(
        &mut model,
        &[event("task-started", B, 14.0, json!({}))],
        14.0,
    );
    let Some(ViewPatch::Replace(data)) = flush(&mut model, &mut sent, &view, 20.0) else {
        panic!("a replacement");
    };
    let ViewData::Task {
        id,
        task: Some(task),
    } = *data
    else {
        panic!("the task view");
    };
    assert_eq!(id, B);
    assert_eq!(task.row.state, "STARTED");
}

#[test]
fn a_worker_heartbeat_sends_its_row_and_the_new_totals() {
    let mut model = three_received();
    let view = View::Workers;
    let mut sent = subscribed(&mut model, &view);
    let heartbeat = json!({"type": "worker-heartbeat", "hostname": "w2@h", "timestamp": 19.5,
                           "freq": 2.0, "active": 0, "processed": 0, "clock": 1,
                           "utcoffset": 0, "pid": 2, "loadavg": [0.0, 0.0, 0.0]});
    ingest(&mut model, &[heartbeat], 19.5);
    let Some(ViewPatch::Workers {
        upsert,
        remove,
        cluster,
    }) = flush(&mut model, &mut sent, &view, 20.0)
    else {
        panic!("a workers patch");
    };
    let hosts: Vec<&str> = upsert.iter().map(|w| w.hostname.as_str()).collect();
    assert_eq!(hosts, ["w2@h"], "only the worker that changed");
    assert!(remove.is_empty());
    assert_eq!(cluster, None, "no task finished: the totals did not move");
    assert_eq!(flush(&mut model, &mut sent, &view, 20.0), None);
}
