//! A restored model shows what the saved one did, judged again at its
//! restart.

use app::wire::{GraphsQuery, View, ViewData, WorkerStatus};
use serde_json::json;

use super::{
    NOW, WORKERS, busy, heartbeat, restored,
    shown::{after_restart, parts, shown, view_data},
    task_events, task_name, worker_name,
};
use crate::state::{
    Counters, Model,
    saved::{PREVIOUS_FORMAT_VERSION, encode::encode_as},
    series::Gauges,
    stats::Throughput,
    tests::{envelope, event},
};

#[test]
fn a_restored_model_shows_every_page_api_and_metric_as_the_saved_one_did() {
    let mut model = busy(0.5);
    let bytes = model.save_besides_tasks(NOW);
    let back = restored(&bytes, NOW);
    let (before, after) = (shown(&model, NOW), shown(&back, NOW));
    assert_eq!(after, after_restart(before, NOW));
    assert_eq!(parts(&back), parts(&model));
    model.record_gap(NOW, None);
    assert!(
        back.save_besides_tasks(NOW) == model.save_besides_tasks(NOW),
        "saving the restored model writes the same bytes, the restart's gap added"
    );
}

#[test]
fn the_charts_keep_what_they_showed_at_every_window_and_filter() {
    let model = busy(0.5);
    let back = restored(&model.save_besides_tasks(NOW), NOW);
    let month = GraphsQuery {
        window: "30d".into(),
        task: Some(task_name(3)),
        worker: None,
    };
    let data = |m: &Model| match view_data(
        m,
        View::Graphs {
            query: month.clone(),
        },
        NOW,
    ) {
        ViewData::Graphs(g) => g,
        other => panic!("{other:?}"),
    };
    let (before, after) = (data(&model), data(&back));
    let failed: u32 = after.outcomes.iter().flat_map(|o| &o.counts).sum();
    assert!(failed > 0, "the month has the weeks of history");
    assert_eq!(after.outcomes, before.outcomes);
    assert_eq!(after.queues, before.queues);
    assert!(after.queues.iter().any(|q| q.series.iter().any(|v| *v > 0)));
    assert_eq!(after.online, before.online);
    assert_eq!(after.wait_p95, before.wait_p95);
}

#[test]
fn a_queue_keeps_its_depth_per_priority_step_for_the_last_hour() {
    let model = busy(0.5);
    let back = restored(&model.save_besides_tasks(NOW), NOW);
    let detail = |m: &Model| m.queue_detail("celery", NOW).unwrap();
    let (before, after) = (detail(&model), detail(&back));
    assert_eq!(after, before);
    // `busy` measures [second % 40, 0, 1, 0] every 2 s.
    let steps = &after.series_by_step;
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|s| s.len() == after.series.len()));
    let last = after.series.len() - 2;
    assert!(steps[0][last].is_some_and(|v| v > 0), "{:?}", steps[0]);
    assert_eq!(
        (steps[1][last], steps[2][last], steps[3][last]),
        (Some(0), Some(1), Some(0))
    );
    assert_eq!(after.series[last], steps[0][last].map(|v| v + 1));
}

#[test]
fn a_blob_of_the_previous_version_restores_with_no_history_per_step() {
    let model = busy(0.5);
    let v1 = encode_as(&model, NOW, PREVIOUS_FORMAT_VERSION);
    assert_eq!(u16::from_le_bytes([v1[8], v1[9]]), 1);
    let mut back = restored(&v1, NOW);
    let mut expected = parts(&model);
    for q in &mut expected.queues {
        assert!(q.name != "celery" || q.per_step_5s.len() == 4);
        q.per_step_5s.clear();
    }
    assert_eq!(parts(&back), expected);
    assert_eq!(
        shown(&back, NOW),
        after_restart(shown(&model, NOW), NOW),
        "every page shows what it did"
    );
    let celery = back.queue_detail("celery", NOW).unwrap();
    assert!(celery.series_by_step.is_empty());
    assert!(celery.series.iter().any(|v| v.is_some_and(|v| v > 0)));

    // The next measurement starts the history per step.
    back.record_queue_depths(
        NOW + 5.0,
        &[],
        vec![("celery".into(), vec![2, 0, 7, 0])],
        None,
    );
    let celery = back.queue_detail("celery", NOW + 5.0).unwrap();
    let newest: Vec<_> = celery
        .series_by_step
        .iter()
        .map(|s| *s.last().unwrap())
        .collect();
    assert_eq!(newest, [Some(2), Some(0), Some(7), Some(0)]);
    assert_eq!(celery.series.last(), Some(&Some(9)));
}

#[test]
fn workers_last_heard_before_the_restart_show_offline_until_they_beat_again() {
    let model = busy(0.25);
    let bytes = model.save_besides_tasks(NOW);
    let alive = worker_name(0);
    assert!(model.online_workers(NOW).contains(&alive));

    let later = NOW + 600.0;
    let mut back = restored(&bytes, later);
    assert!(back.online_workers(later).is_empty());
    let row = back.workers.get(&alive).unwrap();
    assert!(!row.online);
    let last = row.last_heartbeat.unwrap();
    assert_eq!(row.offline_since, Some(last + 2.0 * row.freq));
    match view_data(&back, View::Workers, later) {
        ViewData::Workers { workers, cluster } => {
            assert!(workers.iter().all(|w| w.status == WorkerStatus::Offline));
            assert!(cluster.succeeded > 0, "its counters are kept");
        }
        other => panic!("{other:?}"),
    }
    assert!(back.workers_table(later).data.iter().all(|w| !w.status));

    back.ingest(&envelope(&heartbeat(&alive, later, 0, 1)), later);
    assert_eq!(back.online_workers(later), std::slice::from_ref(&alive));
    assert_eq!(back.take_joined(), [alive], "and is inspected again");

    let soon = NOW + 1.0;
    let quick = restored(&bytes, soon);
    assert_eq!(
        quick.online_workers(soon).len(),
        WORKERS - 1,
        "a restart within the heartbeat window keeps them online"
    );
}

#[test]
fn restoring_keeps_the_states_of_tasks_reloaded_before_it_and_replaces_the_counts() {
    let model = busy(0.1);
    let bytes = model.save_besides_tasks(NOW);
    // Tasks the history store reloaded: their states count, their events
    // do not (the restore replaces what events counted).
    let mut back = Model::default();
    let reloaded = task_events(7, NOW - 10.0);
    back.ingest(&envelope(&json!(reloaded)), NOW - 10.0);
    let name = back.symbols.lookup(&task_name(7)).unwrap();
    let retained = back.types[&name].retained;
    back.restore_besides_tasks(&bytes, NOW).unwrap();
    assert_eq!(back.types[&name].retained, retained);
    let saved = model.symbols.lookup(&task_name(7)).unwrap();
    assert_eq!(back.types[&name].outcomes, model.types[&saved].outcomes);
    assert_eq!(back.counters, model.counters);
}

#[test]
fn custom_states_known_before_keep_their_codes_and_saved_ones_follow() {
    let mut model = Model::default();
    let (a, b) = (
        "00000000-0000-4000-8000-00000000000a",
        "00000000-0000-4000-8000-00000000000b",
    );
    for (uuid, kind) in [(a, "task-progress"), (b, "task-paused")] {
        let e = event(kind, uuid, 10.0, json!({"name": "t"}));
        model.ingest(&envelope(&e), 10.0);
    }
    let bytes = model.save_besides_tasks(11.0);
    let mut back = Model::default();
    let e = event("task-paused", b, 10.0, json!({"name": "t"}));
    back.ingest(&envelope(&e), 10.0);
    let paused = back.state_code("PAUSED");
    back.restore_besides_tasks(&bytes, 11.0).unwrap();
    assert_eq!(back.state_code("PAUSED"), paused);
    assert!(back.state_code("PROGRESS").is_some());
    assert_ne!(back.state_code("PROGRESS"), paused);
}

#[test]
fn an_open_gap_stays_the_one_gap_and_the_next_connection_closes_it() {
    let mut model = Model::default();
    model.on_link(true, 1.0);
    model.on_link(false, 5.0);
    let bytes = model.save_besides_tasks(8.0);
    let mut back = restored(&bytes, 20.0);
    back.on_link(true, 21.0);
    let gaps: Vec<_> = back.gaps.iter().map(|g| (g.from, g.to)).collect();
    assert_eq!(gaps, [(5.0, Some(21.0))]);

    model.on_link(true, 6.0);
    let mut back = restored(&model.save_besides_tasks(8.0), 20.0);
    back.on_link(true, 21.0);
    let gaps: Vec<_> = back.gaps.iter().map(|g| (g.from, g.to)).collect();
    assert_eq!(gaps, [(5.0, Some(6.0)), (8.0, Some(21.0))]);
}

#[test]
fn changed_runtime_buckets_start_the_runtime_series_again_and_keep_the_rest() {
    let model = busy(0.05);
    let bytes = model.save_besides_tasks(NOW);
    let mut back = Model::new(crate::state::ModelConfig {
        runtime_buckets: vec![1.0, 10.0],
        ..Default::default()
    });
    back.restore_besides_tasks(&bytes, NOW).unwrap();
    let (before, after) = (model.metrics_sample(), back.metrics_sample());
    assert!(!before.runtime.is_empty());
    assert!(after.runtime.is_empty());
    assert_eq!(after.events, before.events);
}

/// Components a restore could forget, each with a way to forget it.
type Forget = fn(&mut Model);

#[test]
fn the_comparison_notices_any_one_component_left_unrestored() {
    let model = busy(0.1);
    let bytes = model.save_besides_tasks(NOW);
    let expected = after_restart(shown(&model, NOW), NOW);
    let expected_parts = parts(&model);
    let mutants: [(&str, Forget); 20] = [
        ("gaps", |m| m.gaps.clear()),
        ("the 30-day ring", |m| {
            let ring = &mut m.series.all.rings_mut()[3];
            *ring = crate::state::stats::Ring::new(3600, 720);
        }),
        ("series by task", |m| m.series.by_task.clear()),
        ("series by worker", |m| m.series.by_worker.clear()),
        ("gauges", |m| m.series.gauges = Gauges::default()),
        ("untracked", |m| m.series.untracked += 1),
        ("throughput", |m| m.throughput = Throughput::default()),
        ("counters", |m| m.counters = Counters::default()),
        ("type outcomes", |m| {
            m.types.values_mut().for_each(|t| t.outcomes = [0; 8]);
        }),
        ("type runtimes", |m| {
            m.types
                .values_mut()
                .for_each(|t| t.runtime = Default::default());
        }),
        ("last failures", |m| {
            m.types.values_mut().for_each(|t| t.last_failure = None);
        }),
        ("workers", |m| m.workers = Default::default()),
        ("metrics events", |m| m.metrics.events.clear()),
        ("metrics prefetch", |m| m.metrics.prefetched.clear()),
        ("queue waits", |m| m.metrics.queue_wait_quantiles.clear()),
        ("queues", |m| m.queues = Default::default()),
        ("queue depth per priority step", |m| {
            m.queues
                .by_name
                .values_mut()
                .for_each(|q| q.per_step_5s.clear());
        }),
        ("retry links", |m| m.retry_links = Default::default()),
        ("custom states", |m| m.custom_states.clear()),
        ("clock", |m| m.clock = 0),
    ];
    for (what, forget) in mutants {
        let mut back = restored(&bytes, NOW);
        assert_eq!(shown(&back, NOW), expected);
        forget(&mut back);
        assert!(
            shown(&back, NOW) != expected || parts(&back) != expected_parts,
            "forgetting {what} goes unnoticed"
        );
    }
}

#[test]
fn a_busy_model_saves_small() {
    let model = busy(3.0);
    let bytes = model.save_besides_tasks(NOW);
    assert!(bytes.len() < 256 * 1024, "{} bytes", bytes.len());
    assert_eq!(parts(&restored(&bytes, NOW)), parts(&model));
    let empty = Model::default().save_besides_tasks(NOW);
    assert!(empty.len() < 2048, "{} bytes", empty.len());
}
