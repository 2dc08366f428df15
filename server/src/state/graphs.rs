//! The Graphs page's view of the model (wire types; pure): the outcome
//! series for the chosen window and filter, the per-type summaries, queue
//! depths and the workers online.

use app::wire::celery::TaskEventKind;
use app::wire::{GraphsData, GraphsQuery, OutcomeSeries, QueueDepth, TypeRow};

use super::{
    Model,
    queues::Queue,
    series::{Filter, Window},
};

/// Outcomes the page charts.
const CHARTED: [TaskEventKind; 4] = [
    TaskEventKind::Succeeded,
    TaskEventKind::Failed,
    TaskEventKind::Retried,
    TaskEventKind::Revoked,
];

/// Seconds per bucket of the Workers page's strip.
pub const RECENT_BUCKET: usize = 5;

/// The cluster's outcomes over the last 5 minutes in [`RECENT_BUCKET`]
/// buckets (the Workers page's strip), and the first bucket's start.
pub fn recent(model: &Model, now: f64) -> (Vec<OutcomeSeries>, f64) {
    let seconds = model.series.all.window(Window::FiveMinutes, now);
    let start = seconds.first().map_or(now, |(t, _)| *t);
    let series = CHARTED
        .iter()
        .map(|o| OutcomeSeries {
            outcome: *o,
            counts: seconds
                .chunks(RECENT_BUCKET)
                .map(|chunk| chunk.iter().map(|(_, c)| c[o.index()]).sum())
                .collect(),
        })
        .collect();
    (series, start)
}

pub fn graphs_data(model: &Model, query: &GraphsQuery, now: f64) -> GraphsData {
    let window = Window::parse(&query.window);
    let filter = match (&query.task, &query.worker) {
        (Some(t), _) => model.symbols.lookup(t).map(Filter::Task),
        (_, Some(w)) => model.symbols.lookup(w).map(Filter::Worker),
        _ => Some(Filter::All),
    };
    let error = match (window, filter) {
        (None, _) => Some(format!(
            "{:?} is not a window: use {}",
            query.window,
            Window::ALL.map(Window::name).join(", ")
        )),
        (_, None) => Some("no events seen for this task or worker".to_string()),
        _ => None,
    };
    let window = window.unwrap_or(Window::FiveMinutes);
    let buckets = filter
        .and_then(|f| model.series.get(f))
        .map(|s| s.window(window, now))
        .unwrap_or_default();
    let outcomes = CHARTED
        .iter()
        .map(|o| OutcomeSeries {
            outcome: *o,
            counts: buckets.iter().map(|(_, c)| c[o.index()]).collect(),
        })
        .collect();
    let types = model
        .type_summaries()
        .into_iter()
        .filter(|t| query.task.as_ref().is_none_or(|n| *n == t.name))
        .map(|t| TypeRow {
            name: t.name,
            states: t.states,
            succeeded: t.totals[TaskEventKind::Succeeded.index()],
            failed: t.totals[TaskEventKind::Failed.index()],
            success_rate: t.success_rate,
            p50: t.p50,
            p95: t.p95,
            p99: t.p99,
            last_failure: t.last_failure,
        })
        .collect();
    let mut task_names: Vec<String> = model
        .types
        .keys()
        .filter(|s| !s.is_none())
        .map(|s| model.symbols.text(*s).to_string())
        .collect();
    task_names.sort();
    let mut worker_names: Vec<String> = model.workers.iter().map(|w| w.hostname.clone()).collect();
    worker_names.sort();
    GraphsData {
        query: query.clone(),
        error,
        bucket_seconds: window.bucket(),
        start: buckets.first().map_or(now, |(t, _)| *t),
        outcomes,
        workers_online: model
            .workers
            .iter()
            .filter(|w| w.online && w.alive_at(now))
            .count() as u32,
        online: model.series.gauges.online(window, now),
        wait_p95: model.series.gauges.wait_p95(window, now),
        types,
        queues: model
            .queues
            .iter()
            .map(|q| QueueDepth {
                name: q.name.clone(),
                depth: q.messages(),
                series: depth_series(q, window, &buckets),
            })
            .collect(),
        task_names,
        worker_names,
    }
}

/// A queue's highest measured depth in each of `buckets` (of `window`'s
/// width), from its 5-second ring for the short windows, its per-minute
/// ring for the day and the week, and its per-hour ring for the month.
fn depth_series(q: &Queue, window: Window, buckets: &[(f64, [u32; 8])]) -> Vec<u32> {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return Vec::new();
    };
    let width = f64::from(window.bucket());
    let (ring, source_width) = match window {
        Window::FiveMinutes | Window::Hour => (&q.per_5s, 5.0),
        Window::Day | Window::Week => (&q.per_minute, 60.0),
        Window::Month => (&q.per_hour, 3600.0),
    };
    let source = ring.window(first.0 - source_width, last.0 + width);
    let mut out = Vec::with_capacity(buckets.len());
    let mut j = 0;
    for (start, _) in buckets {
        let end = start + width;
        // Skip source values that end before this bucket starts.
        while j < source.len() && source[j].0 + source_width <= *start {
            j += 1;
        }
        let mut k = j;
        let mut max = 0;
        while k < source.len() && source[k].0 < end {
            max = max.max(source[k].1.unwrap_or(0));
            k += 1;
        }
        out.push(max);
    }
    out
}
