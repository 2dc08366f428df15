//! What a model shows, to compare before and after a restore.

use std::collections::BTreeMap;

use app::wire::{BrokerState, BrokerStatus, GraphsQuery, Snapshot, View, ViewData, rest};

use super::{NAMES, WORKERS, task_name, worker_name};
use crate::state::{
    Counters, Model,
    read::{MetricsSample, SeriesOf},
    series::{Gauges, Window, Windows},
    stats::{LogHistogram, Throughput},
    views::{self, ViewConfig},
    workers::Worker,
};

/// Everything the pages, the read API and `/metrics` show of a model at
/// `now`, less what the retained tasks and the inspections show (neither
/// is saved here): the tasks' states per type, the task counts and the
/// model's size, the inspection replies.
#[derive(Debug, PartialEq)]
pub(super) struct Shown {
    views: Vec<(String, ViewData)>,
    workers_table: rest::WorkersTable,
    rest_workers: BTreeMap<String, Option<rest::WorkerEvents>>,
    workers_online: BTreeMap<String, bool>,
    online_workers: Vec<String>,
    stats: rest::Stats,
    type_stats: Vec<rest::TaskTypeStats>,
    queues: rest::QueueLengths,
    throughput: Vec<(String, Option<Vec<String>>)>,
    metrics: MetricsSample,
    metrics_text: String,
}

pub(super) fn view_data(model: &Model, view: View, now: f64) -> ViewData {
    let broker = BrokerStatus {
        state: BrokerState::Connected,
        url: "redis://".into(),
        detail: None,
        since: 0.0,
    };
    let Snapshot { data, .. } = views::snapshot(model, &ViewConfig::default(), broker, &view, now);
    match data {
        ViewData::Worker(mut w) => {
            w.inspections.clear();
            ViewData::Worker(w)
        }
        ViewData::Graphs(mut g) => {
            g.types.iter_mut().for_each(|t| t.states.clear());
            ViewData::Graphs(g)
        }
        other => other,
    }
}

pub(super) fn shown(model: &Model, now: f64) -> Shown {
    let workers: Vec<String> = (0..WORKERS).map(worker_name).collect();
    let mut views = vec![
        ("workers".to_string(), View::Workers),
        ("broker".to_string(), View::Broker),
    ];
    for w in &workers {
        views.push((w.clone(), View::Worker { name: w.clone() }));
    }
    let mut filters = vec![(None, None)];
    filters.extend((0..NAMES).map(|i| (Some(task_name(i)), None)));
    filters.extend(workers.iter().map(|w| (None, Some(w.clone()))));
    for window in Window::ALL {
        for (task, worker) in &filters {
            let query = GraphsQuery {
                window: window.name().into(),
                task: task.clone(),
                worker: worker.clone(),
            };
            views.push((format!("{query:?}"), View::Graphs { query }));
        }
    }
    let mut throughput = Vec::new();
    for window in Window::ALL {
        let of = std::iter::once(SeriesOf::Cluster)
            .chain((0..NAMES).map(|i| SeriesOf::Task(task_name(i))))
            .chain(workers.iter().cloned().map(SeriesOf::Worker));
        for of in of {
            let series = model.series_window(window, &of, now).map(|s| {
                let mut lines: Vec<String> = s
                    .buckets
                    .iter()
                    .map(|(t, c)| format!("{t} {c:?}"))
                    .collect();
                lines.push(format!("{:?} {:?}", s.workers_online, s.wait_p95));
                lines
            });
            throughput.push((format!("{window:?} {of:?}"), series));
        }
    }
    let mut stats = model.rest_stats(0);
    (stats.model.tasks, stats.model.bytes, stats.model.evicted) = (0, 0, 0);
    let mut type_stats = model.task_type_stats();
    type_stats.iter_mut().for_each(|t| t.states.clear());
    let mut metrics = model.metrics_sample();
    (metrics.tasks, metrics.bytes, metrics.evicted) = (0, 0, 0);
    Shown {
        views: views
            .into_iter()
            .map(|(name, view)| (name, view_data(model, view, now)))
            .collect(),
        workers_table: model.workers_table(now),
        rest_workers: model
            .rest_workers(None)
            .unwrap()
            .into_iter()
            .map(|(name, info)| (name, info.events))
            .collect(),
        workers_online: model.workers_online(None).unwrap(),
        online_workers: model.online_workers(now),
        stats,
        type_stats,
        queues: model.queue_lengths(),
        throughput,
        metrics_text: crate::api::metrics::text(&metrics, 0),
        metrics,
    }
}

/// What a restore changes on purpose: the restart is a gap (from the
/// save until the stream connects again), and a fresh model is not
/// connected yet.
pub(super) fn after_restart(mut before: Shown, saved_at: f64) -> Shown {
    before.stats.gaps.push(rest::Gap {
        from: saved_at,
        to: None,
    });
    before.stats.broker_connected = false;
    before.metrics.gaps += 1;
    before.metrics.broker_connected = false;
    before.metrics_text = crate::api::metrics::text(&before.metrics, 0);
    before
}

/// The model's parts this module saves, symbols resolved to names, to
/// compare where no page looks (throughput and the queue waits'
/// quantiles, which nothing shows yet).
#[derive(Debug, PartialEq)]
pub(super) struct Parts {
    clock: u64,
    custom_states: Vec<String>,
    counters: Counters,
    types: BTreeMap<String, String>,
    throughput: Throughput,
    workers: Vec<Worker>,
    all: Windows,
    by_task: BTreeMap<String, Windows>,
    by_worker: BTreeMap<String, Windows>,
    untracked: u64,
    gauges: Gauges,
    pub(super) queues: Vec<crate::state::queues::Queue>,
    retry_links: Vec<(String, String)>,
    queue_wait_quantiles: BTreeMap<String, LogHistogram>,
}

pub(super) fn parts(model: &Model) -> Parts {
    let name = |s| model.symbols.text(s).to_string();
    Parts {
        clock: model.clock,
        custom_states: model.custom_states.iter().map(|s| s.to_string()).collect(),
        counters: model.counters.clone(),
        types: model
            .types
            .iter()
            .map(|(s, t)| {
                let summary = (t.outcomes, &t.runtime, t.last_failure);
                (name(*s), format!("{summary:?}"))
            })
            .collect(),
        throughput: model.throughput.clone(),
        // When a worker's process started is not saved: a restarted
        // celadon learns it from the worker's next `worker-online`.
        workers: model
            .workers
            .in_creation_order()
            .iter()
            .map(|w| crate::state::workers::Worker {
                online_since: None,
                ..w.clone()
            })
            .collect(),
        all: model.series.all.clone(),
        by_task: model
            .series
            .by_task
            .iter()
            .map(|(s, w)| (name(*s), w.clone()))
            .collect(),
        by_worker: model
            .series
            .by_worker
            .iter()
            .map(|(s, w)| (name(*s), w.clone()))
            .collect(),
        untracked: model.series.untracked,
        gauges: model.series.gauges.clone(),
        queues: model.queues.iter().cloned().collect(),
        retry_links: model.retry_links.in_order().cloned().collect(),
        queue_wait_quantiles: model
            .metrics
            .queue_wait_quantiles
            .iter()
            .map(|(s, h)| (name(*s), h.clone()))
            .collect(),
    }
}
