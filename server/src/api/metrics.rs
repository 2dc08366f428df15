//! `/metrics` in Prometheus' text format: Flower's series under Flower's
//! names and labels (so its Grafana dashboard and alert rules work), then
//! celadon's own: queue length and wait time, the model's size, what was
//! dropped or could not be read.

use std::fmt::Write;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::{error::ApiError, AppState};
use crate::state::{stats::PromHistogram, symbols::Sym, Model};

/// Everything the reader and the server know that the model does not.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outside {
    pub dropped: u64,
    pub broker_connected: bool,
}

pub async fn render(State(app): State<AppState>) -> Result<Response, ApiError> {
    let outside = Outside {
        dropped: app
            .reader
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        broker_connected: false,
    };
    let text = app
        .state
        .read(move |model| {
            let connected = model.broker_connected;
            text(
                model,
                Outside {
                    broker_connected: connected,
                    ..outside
                },
            )
        })
        .await
        .ok_or(ApiError::ShuttingDown)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
}

impl Out {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value:?}");
    }

    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        h: &PromHistogram,
    ) {
        let mut cumulative = 0u64;
        for (i, count) in h.counts.iter().enumerate() {
            cumulative += count;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| format!("{b:?}"));
            let mut l: Vec<(&str, &str)> = vec![("le", le.as_str())];
            l.extend_from_slice(labels);
            self.sample(&format!("{name}_bucket"), &l, cumulative as f64);
        }
        self.sample(&format!("{name}_count"), labels, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
    }
}

/// Series sorted by their labels, so the output is stable.
fn sorted<K: Ord + Copy, V, S>(map: &std::collections::HashMap<K, V, S>) -> Vec<(K, &V)> {
    let mut v: Vec<_> = map.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by_key(|a| a.0);
    v
}

pub fn text(model: &Model, outside: Outside) -> String {
    let s = |sym: Sym| model.symbols.text(sym);
    let m = &model.metrics;
    let mut out = Out {
        text: String::new(),
    };

    out.header("flower_events_total", "counter", "Number of events");
    for ((worker, kind, task), n) in sorted(&m.events) {
        out.sample(
            "flower_events_total",
            &[("worker", s(worker)), ("type", s(kind)), ("task", s(task))],
            *n as f64,
        );
    }
    out.header("flower_task_runtime_seconds", "histogram", "Task runtime");
    for ((worker, task), h) in sorted(&m.runtime) {
        out.histogram(
            "flower_task_runtime_seconds",
            &[("worker", s(worker)), ("task", s(task))],
            &m.runtime_bounds,
            h,
        );
    }
    out.header(
        "flower_task_prefetch_time_seconds",
        "gauge",
        "The time the task spent waiting at the celery worker to be executed.",
    );
    for ((worker, task), v) in sorted(&m.prefetch_time) {
        out.sample(
            "flower_task_prefetch_time_seconds",
            &[("worker", s(worker)), ("task", s(task))],
            *v,
        );
    }
    out.header(
        "flower_worker_prefetched_tasks",
        "gauge",
        "Number of tasks of given type prefetched at a worker",
    );
    for ((worker, task), v) in sorted(&m.prefetched) {
        out.sample(
            "flower_worker_prefetched_tasks",
            &[("worker", s(worker)), ("task", s(task))],
            *v as f64,
        );
    }
    out.header("flower_worker_online", "gauge", "Worker online status");
    for w in model.workers.iter() {
        out.sample(
            "flower_worker_online",
            &[("worker", &w.hostname)],
            if w.online { 1.0 } else { 0.0 },
        );
    }
    out.header(
        "flower_worker_number_of_currently_executing_tasks",
        "gauge",
        "Number of tasks currently executing at a worker",
    );
    for w in model.workers.iter() {
        if let Some(active) = w.active {
            out.sample(
                "flower_worker_number_of_currently_executing_tasks",
                &[("worker", &w.hostname)],
                active as f64,
            );
        }
    }

    out.header(
        "celadon_queue_length",
        "gauge",
        "Messages waiting in a queue, all priorities",
    );
    for q in model.queues.iter() {
        out.sample(
            "celadon_queue_length",
            &[("queue", &q.name)],
            q.messages() as f64,
        );
    }
    out.header(
        "celadon_queue_wait_seconds",
        "histogram",
        "Time from task-sent to task-started, tasks without an ETA",
    );
    for (queue, h) in sorted(&m.queue_wait) {
        out.histogram(
            "celadon_queue_wait_seconds",
            &[("queue", s(queue))],
            &crate::state::metrics::QUEUE_WAIT_BUCKETS,
            h,
        );
    }
    out.header(
        "celadon_events_total",
        "counter",
        "Events received, by type",
    );
    for (kind, n) in &model.counters.events_by_type() {
        out.sample("celadon_events_total", &[("type", kind)], *n as f64);
    }
    out.header(
        "celadon_events_undecodable_total",
        "counter",
        "Payloads or events that could not be decoded",
    );
    out.sample(
        "celadon_events_undecodable_total",
        &[],
        model.counters.undecodable as f64,
    );
    out.header(
        "celadon_events_duplicate_total",
        "counter",
        "Task events delivered again",
    );
    out.sample(
        "celadon_events_duplicate_total",
        &[],
        model.counters.duplicates as f64,
    );
    out.header(
        "celadon_events_dropped_total",
        "counter",
        "Payloads dropped because ingestion fell behind",
    );
    out.sample("celadon_events_dropped_total", &[], outside.dropped as f64);
    out.header(
        "celadon_broker_connected",
        "gauge",
        "1 while subscribed to the broker's events",
    );
    out.sample(
        "celadon_broker_connected",
        &[],
        if outside.broker_connected { 1.0 } else { 0.0 },
    );
    out.header(
        "celadon_broker_gaps_total",
        "counter",
        "Times the event stream was interrupted",
    );
    out.sample("celadon_broker_gaps_total", &[], model.gaps.len() as f64);
    out.header("celadon_model_tasks", "gauge", "Tasks retained");
    out.sample("celadon_model_tasks", &[], model.tasks.len() as f64);
    out.header(
        "celadon_model_bytes",
        "gauge",
        "Measured heap size of the model",
    );
    out.sample("celadon_model_bytes", &[], model.heap_bytes() as f64);
    out.header("celadon_model_max_tasks", "gauge", "--max-tasks");
    out.sample(
        "celadon_model_max_tasks",
        &[],
        model.tasks.limits().max_tasks as f64,
    );
    out.header(
        "celadon_model_max_bytes",
        "gauge",
        "--max-memory (0: no byte budget)",
    );
    let max_bytes = model.tasks.limits().max_bytes;
    out.sample(
        "celadon_model_max_bytes",
        &[],
        if max_bytes == usize::MAX {
            0.0
        } else {
            max_bytes as f64
        },
    );
    out.header(
        "celadon_tasks_evicted_total",
        "counter",
        "Tasks evicted to stay within the limits",
    );
    out.sample(
        "celadon_tasks_evicted_total",
        &[],
        model.tasks.evicted_total() as f64,
    );
    out.text
}
