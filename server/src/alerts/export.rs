//! The rules written out as Prometheus alerting rules, over the series
//! celadon's `/metrics` serves (Flower's `flower_*` and celadon's own),
//! for teams that run Alertmanager. Each rule becomes one alerting rule
//! with the same name, its severity as a label, and its bounds as PromQL
//! and `for`. A stuck-STARTED rule has no equivalent (no series holds a
//! task's start): it is left out and named in the answer. Pure.

use serde::Serialize;

use super::rules::{Glob, Kind, Rule};

#[derive(Serialize)]
struct File {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<PromRule>,
}

#[derive(Serialize)]
struct PromRule {
    alert: String,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    hold: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
}

/// Seconds as a Prometheus duration (whole seconds, rounded up).
fn duration(s: f64) -> String {
    format!("{}s", s.ceil().max(1.0) as u64)
}

/// A glob as an anchored Prometheus regex (RE2): `*` is `.*`, `?` is `.`,
/// every other character literal.
fn regex(glob: &Glob) -> String {
    let mut out = String::new();
    for c in glob.as_str().chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c if "\\.+()[]{}|^$".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A label matcher for `label` from an optional glob (`None`: none).
fn matcher(label: &str, glob: &Option<Glob>) -> Option<String> {
    glob.as_ref().map(|g| match g.exact() {
        Some(exact) => format!("{label}=\"{}\"", quote(exact)),
        None => format!("{label}=~\"{}\"", quote(&regex(g))),
    })
}

/// Escapes a PromQL string's content.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn selector(matchers: &[Option<String>]) -> String {
    let m: Vec<&str> = matchers.iter().flatten().map(String::as_str).collect();
    format!("{{{}}}", m.join(","))
}

/// The YAML of `rules` as one group named `celadon`, and the names of the
/// rules left out.
pub fn prometheus_rules(rules: &[Rule]) -> (String, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for rule in rules {
        let hold = |extra: f64| {
            let total = rule.hold + extra;
            (total > 0.0).then(|| duration(total))
        };
        let (expr, hold, summary) = match &rule.kind {
            Kind::WorkerOffline { after, worker } => (
                format!(
                    "flower_worker_online{} == 0",
                    selector(&[matcher("worker", worker)])
                ),
                hold(*after),
                "worker {{ $labels.worker }} offline".to_string(),
            ),
            Kind::QueueDepth {
                depth,
                during,
                queue,
            } => (
                format!(
                    "celadon_queue_length{} > {depth}",
                    selector(&[matcher("queue", queue)])
                ),
                hold(*during),
                format!("queue {{{{ $labels.queue }}}} holds more than {depth} messages"),
            ),
            Kind::QueueWait { p95, window } => (
                format!(
                    "histogram_quantile(0.95, sum by (le) (rate(celadon_queue_wait_seconds_bucket[{}]))) > {p95}",
                    duration(*window)
                ),
                hold(0.0),
                format!("p95 queue wait above {p95} s"),
            ),
            Kind::FailureRatio {
                percent,
                window,
                min_count,
                task,
            } => {
                let t = matcher("task", task);
                let failed = selector(&[Some("type=\"task-failed\"".into()), t.clone()]);
                let done = selector(&[Some("type=~\"task-succeeded|task-failed\"".into()), t]);
                let w = duration(*window);
                (
                    format!(
                        "(100 * sum by (task) (increase(flower_events_total{failed}[{w}])) / sum by \
                         (task) (increase(flower_events_total{done}[{w}])) > {percent}) and sum by \
                         (task) (increase(flower_events_total{done}[{w}])) >= {min_count}"
                    ),
                    hold(0.0),
                    format!("{{{{ $labels.task }}}}: more than {percent} % of calls failed"),
                )
            }
            Kind::NoSuccess { period, task } => {
                let ok = selector(&[
                    Some("type=\"task-succeeded\"".into()),
                    matcher("task", &Some(task.clone())),
                ]);
                (
                    format!(
                        "(sum(increase(flower_events_total{ok}[{}])) or vector(0)) == 0",
                        duration(*period)
                    ),
                    hold(0.0),
                    format!("{}: no success in {}", task.as_str(), duration(*period)),
                )
            }
            Kind::StuckStarted { .. } => {
                skipped.push(rule.name.clone());
                continue;
            }
        };
        out.push(PromRule {
            alert: rule.name.clone(),
            expr,
            hold,
            labels: [("severity".to_string(), rule.severity.as_str().to_string())].into(),
            annotations: [("summary".to_string(), summary)].into(),
        });
    }
    let file = File {
        groups: vec![Group {
            name: "celadon".into(),
            rules: out,
        }],
    };
    (serde_yaml_ng::to_string(&file).unwrap_or_default(), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::wire::alerts::{RuleKind, RuleSpec, Source};

    #[test]
    fn each_kind_is_written_over_the_metrics_series() {
        let rule = |name: &str, kind, set: &dyn Fn(&mut RuleSpec)| {
            let mut s = RuleSpec::new(name, kind);
            set(&mut s);
            Rule::check(s, Source::Page).unwrap()
        };
        let rules = [
            rule("down", RuleKind::WorkerOffline, &|s| {
                s.after = Some("1m".into());
                s.hold = Some("30s".into());
                s.worker = Some("celery@web-*".into());
            }),
            rule("backlog", RuleKind::QueueDepth, &|s| {
                s.depth = Some(100);
                s.during = Some("5m".into());
            }),
            rule("failing", RuleKind::FailureRatio, &|s| {
                s.percent = Some(20.0);
                s.window = Some("10m".into());
                s.min_count = Some(5);
                s.task = Some("billing.charge".into());
            }),
            rule("stuck", RuleKind::StuckStarted, &|s| {
                s.after = Some("1h".into())
            }),
            rule("beat", RuleKind::NoSuccess, &|s| {
                s.period = Some("1h".into());
                s.task = Some("reports.nightly".into());
            }),
        ];
        let (yaml, skipped) = prometheus_rules(&rules);
        assert_eq!(skipped, ["stuck"]);
        assert!(
            yaml.contains("expr: flower_worker_online{worker=~\"celery@web-.*\"} == 0\n"),
            "{yaml}"
        );
        assert!(yaml.contains("for: 90s\n"), "{yaml}");
        assert!(
            yaml.contains("expr: celadon_queue_length{} > 100\n"),
            "{yaml}"
        );
        assert!(yaml.contains("for: 300s\n"), "{yaml}");
        assert!(
            yaml.contains("(sum(increase(flower_events_total{type=\"task-succeeded\",task=\"reports.nightly\"}[3600s])) or vector(0)) == 0"),
            "{yaml}"
        );
        assert!(yaml.contains("severity: warning"), "{yaml}");
        assert_eq!(regex(&Glob::new("a.b*c?")), "a\\.b.*c.");
    }
}
