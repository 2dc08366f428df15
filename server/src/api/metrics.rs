//! `/metrics` in Prometheus' text format: Flower's series under Flower's
//! names and labels (so its Grafana dashboard and alert rules work),
//! written as Flower's Python client writes them (labels in name order,
//! numbers as Python spells them, `_created` families), then celadon's
//! own: queue length and wait time, the model's size, what was dropped or
//! could not be read. Flower's client also writes its Python process's
//! series (`python_*`, `process_*`); celadon has no such series.

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
    let mut text = text(&sample, dropped);
    if let Some(history) = &app.history {
        history_series(&mut text, &history.status.get());
    }
    alert_series(&mut text, &app.alerts.firing_counts());
    crate::notify::prometheus(&app.alerts.notifier().stats(), &mut text);
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

/// `value` as Python's `repr` writes a float: the shortest digits that
/// read back the same, in positional notation unless the decimal point
/// would sit more than 16 places right or 4 left of them.
fn python_repr(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_string();
    }
    // `{:e}` gives as many digits as Python's shortest form (`d.ddde±x`).
    // When two strings of that length read back the same, Rust takes the
    // one rounded up and Python the one nearest the exact value (ties to
    // even): the precision form rounds the exact value that way.
    let shortest = format!("{:e}", value.abs());
    let len = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
    let scientific = format!("{:.*e}", len.saturating_sub(1), value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent.parse::<i32>().unwrap_or(0) + 1;
    let sign = if value < 0.0 { "-" } else { "" };
    let n = digits.len() as i32;
    let body = if point <= -4 || point > 16 {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let e = point - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        format!("{first}{dot}{rest}e{e_sign}{:02}", e.abs())
    } else if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= n {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// `value` as Flower's Prometheus client writes it (`floatToGoString`):
/// Python's repr, with large positive values in exponent form. Bucket
/// bounds are label values (`le="1.0"`), which queries match as text.
pub fn go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let s = python_repr(value);
    match s.find('.') {
        Some(dot) if value > 0.0 && dot > 6 => {
            let digits = format!("{}.{}{}", &s[..1], &s[1..dot], &s[dot + 1..]);
            let mantissa = digits.trim_end_matches(['0', '.']);
            format!("{mantissa}e+{:02}", dot - 1)
        }
        _ => s,
    }
}

struct Out {
    text: String,
}

impl Out {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample, its labels in name order as Flower's client writes them.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let mut labels = labels.to_vec();
            labels.sort_unstable_by_key(|(k, _)| *k);
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", go_float(value));
    }

    /// Buckets (cumulative, the last one `+Inf`), then count and sum.
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
            let le = go_float(bounds.get(i).copied().unwrap_or(f64::INFINITY));
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
    flower_series(&mut out, m);
    celadon_series(&mut out, m, dropped);
    out.text
}

/// Flower's families, in its order, with its HELP texts; a counter's and a
/// histogram's `_created` family follows it when it has series, as the
/// Python client writes them.
fn flower_series(out: &mut Out, m: &MetricsSample) {
    const EVENTS: &str = "Number of events";
    out.header("flower_events_total", "counter", EVENTS);
    for ([worker, kind, task], n) in &m.events {
        out.sample(
            "flower_events_total",
            &[("worker", worker), ("type", kind), ("task", task)],
            n.count as f64,
        );
    }
    if !m.events.is_empty() {
        out.header("flower_events_created", "gauge", EVENTS);
        for ([worker, kind, task], n) in &m.events {
            out.sample(
                "flower_events_created",
                &[("worker", worker), ("type", kind), ("task", task)],
                n.created,
            );
        }
    }

    const RUNTIME: &str = "Task runtime";
    out.header("flower_task_runtime_seconds", "histogram", RUNTIME);
    for ([worker, task], h) in &m.runtime {
        out.histogram(
            "flower_task_runtime_seconds",
            &[("worker", worker), ("task", task)],
            &m.runtime_bounds,
            &h.histogram,
        );
    }
    if !m.runtime.is_empty() {
        out.header("flower_task_runtime_seconds_created", "gauge", RUNTIME);
        for ([worker, task], h) in &m.runtime {
            out.sample(
                "flower_task_runtime_seconds_created",
                &[("worker", worker), ("task", task)],
                h.created,
            );
        }
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
}

/// celadon's own families.
/// The history store's own series, when history is kept.
pub fn history_series(text: &mut String, s: &crate::store::StatusView) {
    let mut out = Out {
        text: std::mem::take(text),
    };
    let gauges: [(&str, &str, f64); 5] = [
        (
            "celadon_history_available",
            "1 when the history store is open and written (0: see the log and /api/stats)",
            f64::from(u8::from(s.available && s.writing)),
        ),
        (
            "celadon_history_writer",
            "1 when this replica writes history (0: another replica on the same PostgreSQL does, or none is reached)",
            f64::from(u8::from(s.role == crate::store::Role::Writer)),
        ),
        (
            "celadon_history_size_bytes",
            "Bytes the history store takes on disk",
            s.size_bytes as f64,
        ),
        (
            "celadon_history_lag_seconds",
            "Seconds since the oldest change not yet written to history",
            s.lag_seconds,
        ),
        (
            "celadon_history_write_rate",
            "Tasks per second of the last write to history",
            s.write_rate,
        ),
    ];
    for (name, help, value) in gauges {
        out.header(name, "gauge", help);
        out.sample(name, &[], value);
    }
    let counters: [(&str, &str, u64); 4] = [
        (
            "celadon_history_rows_written_total",
            "Task rows written to history",
            s.rows_written,
        ),
        (
            "celadon_history_write_errors_total",
            "Writes to history that failed (each is retried until it succeeds)",
            s.write_errors,
        ),
        (
            "celadon_history_pruned_total",
            "Tasks pruned from history by --history-retention or --history-max-size",
            s.tasks_pruned,
        ),
        (
            "celadon_history_unsaved_dropped_total",
            "Task changes never written because history fell too far behind",
            s.unsaved_dropped,
        ),
    ];
    for (name, help, value) in counters {
        out.header(name, "counter", help);
        out.sample(name, &[], value as f64);
    }
    *text = out.text;
}

/// `celadon_alerts_firing{rule}`: every rule, file's and page's, with
/// its alerts firing now (0 for none), in the rules' order.
pub fn alert_series(text: &mut String, counts: &[(String, u64)]) {
    let mut out = Out {
        text: std::mem::take(text),
    };
    out.header(
        "celadon_alerts_firing",
        "gauge",
        "Alerts of a rule firing now (one per worker, queue, task type or task it names)",
    );
    for (rule, n) in counts {
        out.sample("celadon_alerts_firing", &[("rule", rule)], *n as f64);
    }
    *text = out.text;
}

fn celadon_series(out: &mut Out, m: &MetricsSample, dropped: u64) {
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;
    use crate::state::{Model, metrics::Observed, tests::envelope};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/fixtures/flower-metrics/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    /// Each family's `# HELP`/`# TYPE` lines and its samples, sorted: the
    /// order of series within a family is each client's own.
    fn families(text: &str) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
        let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                current = rest.split(' ').next().unwrap().to_string();
            }
            let family = out.entry(current.clone()).or_default();
            if line.starts_with('#') {
                family.0.push(line.to_string());
            } else {
                family.1.push(line.to_string());
            }
        }
        for family in out.values_mut() {
            family.1.sort();
        }
        out
    }

    #[test]
    fn flowers_series_are_what_flower_writes_for_the_same_events() {
        let sequence: Vec<Value> = serde_json::from_str(&fixture("sequence.json")).unwrap();
        let mut model = Model::default();
        for step in &sequence {
            let at = step["received_at"].as_f64().unwrap();
            assert!(model.ingest(&envelope(&step["event"]), at).is_empty());
        }
        let ours = text(&model.metrics_sample(), 0);
        let ours: BTreeMap<_, _> = families(&ours)
            .into_iter()
            .filter(|(name, _)| name.starts_with("flower_"))
            .collect();
        let theirs = families(&fixture("expected.txt"));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        for (name, family) in &theirs {
            assert_eq!(&ours[name], family, "{name}");
        }
    }

    #[test]
    fn a_histogram_has_one_plus_inf_bucket_after_bounds_written_as_flower_writes_them() {
        // As Flower's documentation writes them: the last bound `inf`.
        let dir = tempfile::tempdir().unwrap();
        let argv = ["--task_runtime_metric_buckets=1,2.5,inf".to_string()];
        let Ok(crate::config::Startup::Run(settings)) =
            crate::config::load(&argv, &BTreeMap::new(), dir.path())
        else {
            panic!("the buckets load");
        };
        let bounds = settings.config.model.runtime_buckets;
        let mut histogram = PromHistogram::new(&bounds);
        for v in [0.5, 2.0, 40.0] {
            histogram.observe(&bounds, v);
        }
        let sample = MetricsSample {
            runtime_bounds: bounds,
            runtime: vec![(
                ["w1@h".into(), "t.add".into()],
                Observed {
                    histogram,
                    created: 1_800_000_000.5,
                },
            )],
            ..MetricsSample::default()
        };
        let text = text(&sample, 0);
        let from = text.find("flower_task_runtime_seconds_bucket").unwrap();
        let to = text
            .find("# HELP flower_task_prefetch_time_seconds")
            .unwrap();
        assert_eq!(
            &text[from..to],
            r#"flower_task_runtime_seconds_bucket{le="1.0",task="t.add",worker="w1@h"} 1.0
flower_task_runtime_seconds_bucket{le="2.5",task="t.add",worker="w1@h"} 2.0
flower_task_runtime_seconds_bucket{le="+Inf",task="t.add",worker="w1@h"} 3.0
flower_task_runtime_seconds_count{task="t.add",worker="w1@h"} 3.0
flower_task_runtime_seconds_sum{task="t.add",worker="w1@h"} 42.5
# HELP flower_task_runtime_seconds_created Task runtime
# TYPE flower_task_runtime_seconds_created gauge
flower_task_runtime_seconds_created{task="t.add",worker="w1@h"} 1.8000000005e+09
"#
        );
    }

    #[test]
    fn families_without_series_keep_their_headers_and_have_no_created_family() {
        let text = text(&MetricsSample::default(), 0);
        let flower: Vec<&str> = text
            .lines()
            .take_while(|l| !l.contains("celadon_"))
            .collect();
        assert_eq!(
            flower,
            [
                "# HELP flower_events_total Number of events",
                "# TYPE flower_events_total counter",
                "# HELP flower_task_runtime_seconds Task runtime",
                "# TYPE flower_task_runtime_seconds histogram",
                "# HELP flower_task_prefetch_time_seconds The time the task spent waiting at the celery worker to be executed.",
                "# TYPE flower_task_prefetch_time_seconds gauge",
                "# HELP flower_worker_prefetched_tasks Number of tasks of given type prefetched at a worker",
                "# TYPE flower_worker_prefetched_tasks gauge",
                "# HELP flower_worker_online Worker online status",
                "# TYPE flower_worker_online gauge",
                "# HELP flower_worker_number_of_currently_executing_tasks Number of tasks currently executing at a worker",
                "# TYPE flower_worker_number_of_currently_executing_tasks gauge",
            ]
        );
    }

    /// Pairs from Python: `prometheus_client.utils.floatToGoString(v)`.
    #[test]
    fn numbers_are_written_as_flowers_prometheus_client_writes_them() {
        let cases: [(f64, &str); 30] = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.005, "0.005"),
            (0.1, "0.1"),
            (0.25, "0.25"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (999999.0, "999999.0"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (12345678901.0, "1.2345678901e+10"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e17, "1e+17"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2e-5, "-2e-05"),
            (-1234567.0, "-1234567.0"),
            (1800000001.125, "1.800000001125e+09"),
            (0.30000000000000004, "0.30000000000000004"),
            (123456.789, "123456.789"),
            // Exactly between two 17-digit strings: Python takes the even.
            (6596.0 / 4194304.0, "0.0015726089477539062"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (value, written) in cases {
            assert_eq!(go_float(value), written, "{value:e}");
        }
        assert_eq!(go_float(f64::NAN), "NaN");
    }
}
