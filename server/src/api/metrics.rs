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

use super::{AppState, error::ApiError};
use crate::state::{metrics::QUEUE_WAIT_BUCKETS, read::MetricsSample, stats::PromHistogram};

/// The model's series are copied out on its owner's thread; the text is
/// formatted here, on the handler's.
pub async fn render(State(app): State<AppState>) -> Result<Response, ApiError> {
    let dropped = app
        .reader
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let sample = app.state.metrics().await?;
    let text = text(&sample, dropped);
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

/// Prometheus' text for `m`, with the reader's `dropped` count.
pub fn text(m: &MetricsSample, dropped: u64) -> String {
    let mut out = Out {
        text: String::new(),
    };

    out.header("flower_events_total", "counter", "Number of events");
    for ([worker, kind, task], n) in &m.events {
        out.sample(
            "flower_events_total",
            &[("worker", worker), ("type", kind), ("task", task)],
            n.count as f64,
        );
    }
    out.header("flower_task_runtime_seconds", "histogram", "Task runtime");
    for ([worker, task], h) in &m.runtime {
        out.histogram(
            "flower_task_runtime_seconds",
            &[("worker", worker), ("task", task)],
            &m.runtime_bounds,
            &h.histogram,
        );
    }
    out.header(
        "flower_task_prefetch_time_seconds",
        "gauge",
        "The time the task spent waiting at the celery worker to be executed.",
    );
    for ([worker, task], v) in &m.prefetch_time {
        out.sample(
            "flower_task_prefetch_time_seconds",
            &[("worker", worker), ("task", task)],
            *v,
        );
    }
    out.header(
        "flower_worker_prefetched_tasks",
        "gauge",
        "Number of tasks of given type prefetched at a worker",
    );
    for ([worker, task], v) in &m.prefetched {
        out.sample(
            "flower_worker_prefetched_tasks",
            &[("worker", worker), ("task", task)],
            *v as f64,
        );
    }
    out.header("flower_worker_online", "gauge", "Worker online status");
    for (worker, online) in &m.online {
        out.sample(
            "flower_worker_online",
            &[("worker", worker)],
            if *online { 1.0 } else { 0.0 },
        );
    }
    out.header(
        "flower_worker_number_of_currently_executing_tasks",
        "gauge",
        "Number of tasks currently executing at a worker",
    );
    for (worker, active) in &m.executing {
        out.sample(
            "flower_worker_number_of_currently_executing_tasks",
            &[("worker", worker)],
            *active as f64,
        );
    }

    out.header(
        "celadon_queue_length",
        "gauge",
        "Messages waiting in a queue, all priorities",
    );
    for (queue, messages) in &m.queue_lengths {
        out.sample(
            "celadon_queue_length",
            &[("queue", queue)],
            *messages as f64,
        );
    }
    out.header(
        "celadon_queue_wait_seconds",
        "histogram",
        "Time from task-sent to task-started, tasks without an ETA",
    );
    for (queue, h) in &m.queue_wait {
        out.histogram(
            "celadon_queue_wait_seconds",
            &[("queue", queue)],
            &QUEUE_WAIT_BUCKETS,
            h,
        );
    }
    out.header(
        "celadon_events_total",
        "counter",
        "Events received, by type",
    );
    for (kind, n) in &m.events_by_type {
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
        m.undecodable as f64,
    );
    out.header(
        "celadon_events_duplicate_total",
        "counter",
        "Task events delivered again",
    );
    out.sample("celadon_events_duplicate_total", &[], m.duplicates as f64);
    out.header(
        "celadon_events_dropped_total",
        "counter",
        "Payloads dropped because ingestion fell behind",
    );
    out.sample("celadon_events_dropped_total", &[], dropped as f64);
    out.header(
        "celadon_broker_connected",
        "gauge",
        "1 while subscribed to the broker's events",
    );
    out.sample(
        "celadon_broker_connected",
        &[],
        if m.broker_connected { 1.0 } else { 0.0 },
    );
    out.header(
        "celadon_broker_gaps_total",
        "counter",
        "Times the event stream was interrupted",
    );
    out.sample("celadon_broker_gaps_total", &[], m.gaps as f64);
    out.header("celadon_model_tasks", "gauge", "Tasks retained");
    out.sample("celadon_model_tasks", &[], m.tasks as f64);
    out.header(
        "celadon_model_bytes",
        "gauge",
        "Measured heap size of the model",
    );
    out.sample("celadon_model_bytes", &[], m.bytes as f64);
    out.header("celadon_model_max_tasks", "gauge", "--max-tasks");
    out.sample("celadon_model_max_tasks", &[], m.max_tasks as f64);
    out.header(
        "celadon_model_max_bytes",
        "gauge",
        "--max-memory (0: no byte budget)",
    );
    out.sample(
        "celadon_model_max_bytes",
        &[],
        m.max_bytes.map_or(0.0, |b| b as f64),
    );
    out.header(
        "celadon_tasks_evicted_total",
        "counter",
        "Tasks evicted to stay within the limits",
    );
    out.sample("celadon_tasks_evicted_total", &[], m.evicted as f64);
    out.text
}
