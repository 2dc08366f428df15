//! The evaluator: given the rules, what the model says now
//! ([`AlertInputs`], one bounded read) and the time, which alerts start
//! firing and which end. Each rule and subject (a worker, a queue, a task
//! type, a task) moves inactive → pending (while its `for` runs) → firing
//! → resolved; only firing and resolving are transitions. What a pending
//! subject says ([`EvalState::pending`]) and a firing alert's summary as
//! it reads now ([`EvalState::firing`]) follow each evaluation; a
//! transition carries the alert as it fired. Pure: no IO, no clock, no
//! randomness (ids come from a prefix the caller picks once and a
//! counter).

use std::collections::BTreeMap;

use app::wire::alerts::{Alert, PendingAlert, SubjectKind};

use super::rules::{Kind, Rule};
use crate::state::read::{AlertAsk, AlertInputs};

/// What a set of rules needs from the model: the windows and spans to
/// sum over, and how long a task must have been STARTED to be listed.
pub fn ask(rules: &[Rule]) -> AlertAsk {
    let mut a = AlertAsk::default();
    // Past the read's bound a span is not asked for: its rules see no
    // data, and fire on none.
    let add = |v: &mut Vec<f64>, x: f64| {
        if !v.contains(&x) && v.len() < crate::state::read::MAX_ALERT_SPANS {
            v.push(x);
        }
    };
    for r in rules {
        match &r.kind {
            Kind::QueueDepth { during, .. } if *during > 0.0 => add(&mut a.depth_spans, *during),
            Kind::QueueWait { window, .. } => add(&mut a.wait_windows, *window),
            Kind::FailureRatio { window, .. } => add(&mut a.outcome_windows, *window),
            Kind::NoSuccess { period, .. } => add(&mut a.outcome_windows, *period),
            Kind::StuckStarted { after, .. } => {
                a.stuck_after = Some(a.stuck_after.map_or(*after, |s: f64| s.min(*after)));
            }
            _ => {}
        }
    }
    a
}

/// Where one rule and subject stand.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// The condition holds since `since`; fires once `for` has passed.
    /// What the last evaluation said of it.
    Pending(PendingAlert),
    /// The alert as it fired (what the history and the webhooks keep),
    /// and its summary as the last evaluation read it.
    Firing { fired: Alert, summary_now: String },
}

/// The evaluator's memory between evaluations.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalState {
    /// Ids are `<prefix>-<n>`: the caller picks a prefix unique to this
    /// run (its start time), so ids never repeat across restarts.
    prefix: String,
    next: u64,
    /// When evaluation started: a no_success rule waits a whole period
    /// before it may say nothing succeeded.
    since: Option<f64>,
    by_key: BTreeMap<(String, String), Phase>,
}

/// What changed at one evaluation: each alert as it fired (its summary
/// then), what the history keeps and the webhooks are told.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    Fired(Alert),
    /// The alert as it fired, `ended` set.
    Resolved(Alert),
}

/// One subject for which a rule's condition holds now.
struct Hit {
    kind: SubjectKind,
    subject: String,
    summary: String,
    link: String,
}

impl EvalState {
    pub fn new(prefix: &str) -> EvalState {
        EvalState {
            prefix: prefix.to_string(),
            next: 1,
            since: None,
            by_key: BTreeMap::new(),
        }
    }

    /// Takes back alerts still open in the history (a restart): they go
    /// on firing under their ids, or resolve, never fire twice.
    pub fn restore(&mut self, open: Vec<Alert>) {
        for a in open {
            let key = (a.rule.clone(), subject_key(a.subject_kind, &a.subject));
            let summary_now = a.summary.clone();
            self.by_key.insert(
                key,
                Phase::Firing {
                    fired: a,
                    summary_now,
                },
            );
        }
    }

    /// Alerts firing now, oldest first, each summary as the last
    /// evaluation read it (a restored alert's as it fired, until then).
    pub fn firing(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self
            .by_key
            .values()
            .filter_map(|p| match p {
                Phase::Firing { fired, summary_now } => Some(Alert {
                    summary: summary_now.clone(),
                    ..fired.clone()
                }),
                Phase::Pending(_) => None,
            })
            .collect();
        v.sort_by(|a, b| a.started.total_cmp(&b.started).then(a.id.cmp(&b.id)));
        v
    }

    /// Subjects whose condition holds, waiting for their rule's `for`:
    /// the soonest to fire first.
    pub fn pending(&self) -> Vec<PendingAlert> {
        let mut v: Vec<PendingAlert> = self
            .by_key
            .values()
            .filter_map(|p| match p {
                Phase::Pending(p) => Some(p.clone()),
                Phase::Firing { .. } => None,
            })
            .collect();
        v.sort_by(|a, b| {
            a.fires_at
                .total_cmp(&b.fires_at)
                .then_with(|| a.rule.cmp(&b.rule))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        v
    }

    /// Alerts firing now per rule.
    pub fn firing_count(&self, rule: &str) -> u64 {
        self.by_key
            .iter()
            .filter(|((r, _), p)| r == rule && matches!(p, Phase::Firing { .. }))
            .count() as u64
    }
}

/// A name as a URL's path segment or query value (as the app encodes
/// them: everything but unreserved characters escaped).
fn encode(v: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(v, SET).to_string()
}

fn subject_key(kind: SubjectKind, subject: &str) -> String {
    format!("{}:{subject}", kind.as_str())
}

/// Seconds as a person reads them: `45 s`, `5 min`, `2 h`, `1.5 d`.
pub fn span(s: f64) -> String {
    let fmt = |v: f64, unit: &str| {
        if (v - v.round()).abs() < 0.05 {
            format!("{} {unit}", v.round())
        } else {
            format!("{v:.1} {unit}")
        }
    };
    if s < 120.0 {
        fmt(s, "s")
    } else if s < 7200.0 {
        fmt(s / 60.0, "min")
    } else if s < 172_800.0 {
        fmt(s / 3600.0, "h")
    } else {
        fmt(s / 86_400.0, "d")
    }
}

fn matches(glob: &Option<super::rules::Glob>, name: &str) -> bool {
    glob.as_ref().is_none_or(|g| g.matches(name))
}

fn index_of(v: &[f64], x: f64) -> Option<usize> {
    v.iter().position(|y| *y == x)
}

/// Whether `inputs` can tell if `rule` holds: a worker's silence cannot
/// be judged while celadon hears nothing from the broker.
fn judged(rule: &Rule, inputs: &AlertInputs) -> bool {
    !matches!(rule.kind, Kind::WorkerOffline { .. }) || inputs.listening_since.is_some()
}

/// The subjects for which `rule` holds now.
fn hits(rule: &Rule, inputs: &AlertInputs, asked: &AlertAsk, since: f64, now: f64) -> Vec<Hit> {
    let mut out = Vec::new();
    match &rule.kind {
        Kind::WorkerOffline { after, worker } => {
            // Not judged while deaf (`judged`).
            let Some(listening) = inputs.listening_since else {
                return out;
            };
            for w in &inputs.workers {
                if w.online || !matches(worker, &w.hostname) {
                    continue;
                }
                let Some(seen) = w.last_seen else { continue };
                let silent = now - seen.max(listening);
                if silent > *after {
                    out.push(Hit {
                        kind: SubjectKind::Worker,
                        subject: w.hostname.clone(),
                        summary: format!(
                            "worker {} offline for {} (no sign of life since then)",
                            w.hostname,
                            span(silent)
                        ),
                        link: format!("/worker/{}", encode(&w.hostname)),
                    });
                }
            }
        }
        Kind::QueueDepth {
            depth,
            during,
            queue,
        } => {
            let at = index_of(&asked.depth_spans, *during);
            for q in &inputs.queues {
                if !matches(queue, &q.name) {
                    continue;
                }
                let Some(now_depth) = q.depth else { continue };
                let lowest = match at {
                    Some(i) => q.lowest.get(i).copied().flatten(),
                    None if *during > 0.0 => None,
                    None => Some(now_depth),
                };
                if now_depth > *depth && lowest.is_some_and(|l| l > *depth) {
                    let held = match *during > 0.0 {
                        true => format!(" for {}", span(*during)),
                        false => String::new(),
                    };
                    out.push(Hit {
                        kind: SubjectKind::Queue,
                        subject: q.name.clone(),
                        summary: format!(
                            "queue {} holds {now_depth} messages (more than {depth}{held})",
                            q.name
                        ),
                        link: format!("/broker/queue/{}", encode(&q.name)),
                    });
                }
            }
        }
        Kind::QueueWait { p95, window } => {
            let v = index_of(&asked.wait_windows, *window)
                .and_then(|i| inputs.wait_p95.get(i).copied().flatten());
            if let Some(v) = v.filter(|v| v > p95) {
                out.push(Hit {
                    kind: SubjectKind::Cluster,
                    subject: String::new(),
                    summary: format!(
                        "p95 queue wait {} over the last {} (above {})",
                        span(v),
                        span(*window),
                        span(*p95)
                    ),
                    link: "/graphs".to_string(),
                });
            }
        }
        Kind::FailureRatio {
            percent,
            window,
            min_count,
            task,
        } => {
            let Some(i) = index_of(&asked.outcome_windows, *window) else {
                return out;
            };
            for t in &inputs.outcomes {
                if !matches(task, &t.name) {
                    continue;
                }
                let Some((ok, failed)) = t.windows.get(i).copied() else {
                    continue;
                };
                let total = ok + failed;
                if total == 0 || total < *min_count {
                    continue;
                }
                let ratio = 100.0 * failed as f64 / total as f64;
                if ratio > *percent {
                    out.push(Hit {
                        kind: SubjectKind::TaskName,
                        subject: t.name.clone(),
                        summary: format!(
                            "{}: {failed} of {total} failed over the last {} ({ratio:.0} % > {percent} %)",
                            t.name,
                            span(*window)
                        ),
                        link: format!("/tasks?state=FAILURE&name={}", encode(&t.name)),
                    });
                }
            }
        }
        Kind::StuckStarted { after, task } => {
            for t in &inputs.started {
                let age = now - t.started;
                if age > *after && matches(task, &t.name) {
                    out.push(Hit {
                        kind: SubjectKind::Task,
                        subject: t.id.clone(),
                        summary: format!(
                            "task {} ({}) started {} ago on {} and has not finished",
                            t.id,
                            t.name,
                            span(age),
                            t.worker
                        ),
                        link: format!("/task/{}", encode(&t.id)),
                    });
                }
            }
        }
        Kind::NoSuccess { period, task } => {
            if now - since < *period {
                return out;
            }
            let Some(i) = index_of(&asked.outcome_windows, *period) else {
                return out;
            };
            let mut names: Vec<(&str, u64, Option<f64>)> = inputs
                .outcomes
                .iter()
                .filter(|t| task.matches(&t.name))
                .map(|t| {
                    let ok = t.windows.get(i).map_or(0, |w| w.0);
                    (t.name.as_str(), ok, t.last_success)
                })
                .collect();
            if let Some(exact) = task.exact()
                && !names.iter().any(|n| n.0 == exact)
            {
                names.push((exact, 0, None));
            }
            for (name, ok, last) in names {
                if ok > 0 {
                    continue;
                }
                let last = match last {
                    Some(t) => format!("; last success {} ago", span(now - t)),
                    None => String::new(),
                };
                out.push(Hit {
                    kind: SubjectKind::TaskName,
                    subject: name.to_string(),
                    summary: format!("{name}: no success in the last {}{last}", span(*period)),
                    link: format!("/tasks?name={}", encode(name)),
                });
            }
        }
    }
    out
}

/// One evaluation at `now`: moves every rule and subject along and says
/// which alerts fired and which resolved. Subjects of rules no longer in
/// `rules` resolve.
pub fn evaluate(
    rules: &[Rule],
    inputs: &AlertInputs,
    asked: &AlertAsk,
    state: &mut EvalState,
    now: f64,
) -> Vec<Transition> {
    let since = *state.since.get_or_insert(now);
    let mut out = Vec::new();
    let mut holding = std::collections::BTreeSet::new();
    for rule in rules {
        if !judged(rule, inputs) {
            // Neither fires nor resolves on what celadon cannot see.
            holding.extend(
                state
                    .by_key
                    .keys()
                    .filter(|(r, _)| *r == rule.name)
                    .cloned(),
            );
            continue;
        }
        for hit in hits(rule, inputs, asked, since, now) {
            let key = (rule.name.clone(), subject_key(hit.kind, &hit.subject));
            holding.insert(key.clone());
            // Since when it holds (not `since`, when evaluation began).
            let holds = match state.by_key.get_mut(&key) {
                Some(Phase::Firing { summary_now, .. }) => {
                    *summary_now = hit.summary;
                    continue;
                }
                Some(Phase::Pending(p)) => p.since,
                None => now,
            };
            let phase = if now - holds >= rule.hold {
                let alert = Alert {
                    id: format!("{}-{}", state.prefix, state.next),
                    rule: rule.name.clone(),
                    severity: rule.severity,
                    subject_kind: hit.kind,
                    subject: hit.subject,
                    summary: hit.summary,
                    link: hit.link,
                    started: now,
                    ended: None,
                };
                state.next += 1;
                out.push(Transition::Fired(alert.clone()));
                Phase::Firing {
                    summary_now: alert.summary.clone(),
                    fired: alert,
                }
            } else {
                // The rule as it is now: an edited `for` moves `fires_at`.
                Phase::Pending(PendingAlert {
                    rule: rule.name.clone(),
                    severity: rule.severity,
                    subject_kind: hit.kind,
                    subject: hit.subject,
                    summary: hit.summary,
                    link: hit.link,
                    since: holds,
                    fires_at: holds + rule.hold,
                })
            };
            state.by_key.insert(key, phase);
        }
    }
    let ended: Vec<(String, String)> = state
        .by_key
        .keys()
        .filter(|k| !holding.contains(*k))
        .cloned()
        .collect();
    for key in ended {
        if let Some(Phase::Firing { mut fired, .. }) = state.by_key.remove(&key) {
            fired.ended = Some(now);
            out.push(Transition::Resolved(fired));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::read::{QueueSeen, StartedTask, TypeOutcomes, WorkerSeen};
    use app::wire::alerts::{RuleKind, RuleSpec, Source};

    fn rule(name: &str, kind: RuleKind, set: impl FnOnce(&mut RuleSpec)) -> Rule {
        let mut s = RuleSpec::new(name, kind);
        set(&mut s);
        Rule::check(s, Source::Page).unwrap()
    }

    /// What one step of a case sees and what it expects: `(now, inputs,
    /// fired summaries, resolved subjects)`.
    type Step = (f64, AlertInputs, Vec<&'static str>, Vec<&'static str>);

    fn run(rules: &[Rule], steps: Vec<Step>) {
        let asked = ask(rules);
        let mut state = EvalState::new("t");
        for (i, (now, inputs, fired, resolved)) in steps.into_iter().enumerate() {
            let got = evaluate(rules, &inputs, &asked, &mut state, now);
            let got_fired: Vec<&str> = got
                .iter()
                .filter_map(|t| match t {
                    Transition::Fired(a) => Some(a.summary.as_str()),
                    Transition::Resolved(_) => None,
                })
                .collect();
            let got_resolved: Vec<&str> = got
                .iter()
                .filter_map(|t| match t {
                    Transition::Resolved(a) => Some(a.subject.as_str()),
                    Transition::Fired(_) => None,
                })
                .collect();
            assert_eq!(got_fired, fired, "step {i} at {now}: fired");
            assert_eq!(got_resolved, resolved, "step {i} at {now}: resolved");
        }
    }

    fn workers(list: &[(&str, Option<f64>, bool)]) -> AlertInputs {
        AlertInputs {
            workers: list
                .iter()
                .map(|(h, seen, online)| WorkerSeen {
                    hostname: h.to_string(),
                    last_seen: *seen,
                    online: *online,
                })
                .collect(),
            listening_since: Some(f64::NEG_INFINITY),
            ..AlertInputs::default()
        }
    }

    /// `workers`, heard since `since` (`None`: the broker is unreachable).
    fn heard(since: Option<f64>, list: &[(&str, Option<f64>, bool)]) -> AlertInputs {
        AlertInputs {
            listening_since: since,
            ..workers(list)
        }
    }

    #[test]
    fn a_worker_is_silent_only_while_celadon_listens() {
        let r = rule("down", RuleKind::WorkerOffline, |s| {
            s.after = Some("30s".into());
        });
        run(
            &[r],
            vec![
                // Restored from history, last heard an hour before the
                // restart: no alert until it has been silent for 30 s of
                // listening.
                (
                    1000.0,
                    heard(Some(990.0), &[("w", Some(-2600.0), false)]),
                    vec![],
                    vec![],
                ),
                (
                    1019.0,
                    heard(Some(990.0), &[("w", Some(-2600.0), false)]),
                    vec![],
                    vec![],
                ),
                (
                    1021.0,
                    heard(Some(990.0), &[("w", Some(-2600.0), false)]),
                    vec!["worker w offline for 31 s (no sign of life since then)"],
                    vec![],
                ),
                // Deaf: it neither fires nor resolves on what it cannot hear.
                (
                    1030.0,
                    heard(
                        None,
                        &[("w", Some(-2600.0), false), ("v", Some(1.0), false)],
                    ),
                    vec![],
                    vec![],
                ),
                (
                    1040.0,
                    heard(Some(1035.0), &[("w", Some(1039.0), true)]),
                    vec![],
                    vec!["w"],
                ),
            ],
        );
    }

    #[test]
    fn worker_offline_waits_after_and_for_then_resolves() {
        let r = rule("down", RuleKind::WorkerOffline, |s| {
            s.after = Some("30s".into());
            s.hold = Some("10s".into());
            s.worker = Some("celery@web-*".into());
        });
        run(
            &[r],
            vec![
                (
                    100.0,
                    workers(&[("celery@web-1", Some(99.0), true)]),
                    vec![],
                    vec![],
                ),
                // Silent, but not for 30 s yet.
                (
                    125.0,
                    workers(&[("celery@web-1", Some(99.0), false)]),
                    vec![],
                    vec![],
                ),
                // 31 s silent: pending for `for`.
                (
                    130.0,
                    workers(&[
                        ("celery@web-1", Some(99.0), false),
                        ("celery@db-1", Some(1.0), false),
                    ]),
                    vec![],
                    vec![],
                ),
                (
                    140.0,
                    workers(&[("celery@web-1", Some(99.0), false)]),
                    vec!["worker celery@web-1 offline for 41 s (no sign of life since then)"],
                    vec![],
                ),
                (
                    150.0,
                    workers(&[("celery@web-1", Some(99.0), false)]),
                    vec![],
                    vec![],
                ),
                (
                    160.0,
                    workers(&[("celery@web-1", Some(159.0), true)]),
                    vec![],
                    vec!["celery@web-1"],
                ),
            ],
        );
    }

    #[test]
    fn a_pending_condition_that_clears_never_fires() {
        let r = rule("down", RuleKind::WorkerOffline, |s| {
            s.after = Some("5s".into());
            s.hold = Some("20s".into());
        });
        run(
            &[r],
            vec![
                (10.0, workers(&[("w", Some(1.0), false)]), vec![], vec![]),
                (20.0, workers(&[("w", Some(19.0), true)]), vec![], vec![]),
                (40.0, workers(&[("w", Some(19.0), false)]), vec![], vec![]),
                (59.0, workers(&[("w", Some(19.0), false)]), vec![], vec![]),
                (
                    60.0,
                    workers(&[("w", Some(19.0), false)]),
                    vec!["worker w offline for 41 s (no sign of life since then)"],
                    vec![],
                ),
            ],
        );
    }

    fn queues(list: &[(&str, Option<u64>, Option<u64>)]) -> AlertInputs {
        AlertInputs {
            queues: list
                .iter()
                .map(|(n, d, low)| QueueSeen {
                    name: n.to_string(),
                    depth: *d,
                    lowest: vec![*low],
                })
                .collect(),
            ..AlertInputs::default()
        }
    }

    #[test]
    fn queue_depth_needs_the_whole_span_deeper() {
        let r = rule("backlog", RuleKind::QueueDepth, |s| {
            s.depth = Some(10);
            s.during = Some("1m".into());
            s.queue = Some("bulk*".into());
        });
        run(
            &[r],
            vec![
                // Deep now, but the minute's history is not all above 10.
                (0.0, queues(&[("bulk", Some(50), Some(3))]), vec![], vec![]),
                (5.0, queues(&[("bulk", Some(50), None)]), vec![], vec![]),
                (
                    60.0,
                    queues(&[
                        ("bulk", Some(50), Some(11)),
                        ("celery", Some(500), Some(500)),
                    ]),
                    vec!["queue bulk holds 50 messages (more than 10 for 60 s)"],
                    vec![],
                ),
                (
                    62.0,
                    queues(&[("bulk", Some(9), Some(9))]),
                    vec![],
                    vec!["bulk"],
                ),
            ],
        );
    }

    #[test]
    fn queue_wait_p95_over_its_window() {
        let r = rule("slow", RuleKind::QueueWait, |s| {
            s.p95 = Some("2s".into());
            s.window = Some("5m".into());
        });
        let wait = |v: Option<f64>| AlertInputs {
            wait_p95: vec![v],
            ..AlertInputs::default()
        };
        run(
            &[r],
            vec![
                (0.0, wait(None), vec![], vec![]),
                (1.0, wait(Some(1.5)), vec![], vec![]),
                (
                    2.0,
                    wait(Some(4.0)),
                    vec!["p95 queue wait 4 s over the last 5 min (above 2 s)"],
                    vec![],
                ),
                (3.0, wait(Some(1.0)), vec![], vec![""]),
            ],
        );
    }

    fn outcomes(list: &[(&str, u64, u64, Option<f64>)]) -> AlertInputs {
        AlertInputs {
            outcomes: list
                .iter()
                .map(|(n, ok, failed, last)| TypeOutcomes {
                    name: n.to_string(),
                    windows: vec![(*ok, *failed)],
                    last_success: *last,
                })
                .collect(),
            ..AlertInputs::default()
        }
    }

    #[test]
    fn failure_ratio_with_a_minimum_count() {
        let r = rule("failing", RuleKind::FailureRatio, |s| {
            s.percent = Some(50.0);
            s.window = Some("10m".into());
            s.min_count = Some(4);
            s.task = Some("tasks.*".into());
        });
        run(
            &[r],
            vec![
                // 3 of 3 failed: too few to count.
                (0.0, outcomes(&[("tasks.pay", 0, 3, None)]), vec![], vec![]),
                // Exactly half: not above.
                (1.0, outcomes(&[("tasks.pay", 2, 2, None)]), vec![], vec![]),
                (
                    2.0,
                    outcomes(&[("tasks.pay", 1, 3, None), ("other.x", 0, 9, None)]),
                    vec!["tasks.pay: 3 of 4 failed over the last 10 min (75 % > 50 %)"],
                    vec![],
                ),
                (
                    3.0,
                    outcomes(&[("tasks.pay", 9, 3, None)]),
                    vec![],
                    vec!["tasks.pay"],
                ),
            ],
        );
    }

    #[test]
    fn stuck_started_names_the_task() {
        let r = rule("stuck", RuleKind::StuckStarted, |s| {
            s.after = Some("1m".into());
        });
        let started = |list: &[(&str, f64)]| AlertInputs {
            started: list
                .iter()
                .map(|(id, at)| StartedTask {
                    id: id.to_string(),
                    name: "tasks.long".into(),
                    worker: "celery@a".into(),
                    started: *at,
                })
                .collect(),
            ..AlertInputs::default()
        };
        run(
            &[r],
            vec![
                (100.0, started(&[("t-1", 50.0)]), vec![], vec![]),
                (
                    111.0,
                    started(&[("t-1", 50.0)]),
                    vec!["task t-1 (tasks.long) started 61 s ago on celery@a and has not finished"],
                    vec![],
                ),
                (112.0, started(&[]), vec![], vec!["t-1"]),
            ],
        );
    }

    #[test]
    fn no_success_waits_a_period_of_watching_then_names_the_type() {
        let r = rule("beat", RuleKind::NoSuccess, |s| {
            s.period = Some("10m".into());
            s.task = Some("tasks.nightly".into());
        });
        run(
            &[r],
            vec![
                // Just started watching: nothing said for a period.
                (0.0, outcomes(&[]), vec![], vec![]),
                (599.0, outcomes(&[]), vec![], vec![]),
                (
                    600.0,
                    outcomes(&[]),
                    vec!["tasks.nightly: no success in the last 10 min"],
                    vec![],
                ),
                (
                    700.0,
                    outcomes(&[("tasks.nightly", 1, 0, Some(690.0))]),
                    vec![],
                    vec!["tasks.nightly"],
                ),
                (
                    1400.0,
                    outcomes(&[("tasks.nightly", 0, 2, Some(680.0))]),
                    vec!["tasks.nightly: no success in the last 10 min; last success 12 min ago"],
                    vec![],
                ),
            ],
        );
    }

    #[test]
    fn ids_are_unique_and_a_restored_alert_resolves_instead_of_firing_again() {
        let r = rule("down", RuleKind::WorkerOffline, |s| {
            s.after = Some("5s".into())
        });
        let asked = ask(std::slice::from_ref(&r));
        let mut state = EvalState::new("run1");
        let off = workers(&[("a", Some(0.0), false), ("b", Some(0.0), false)]);
        let t = evaluate(std::slice::from_ref(&r), &off, &asked, &mut state, 10.0);
        let ids: Vec<String> = t
            .iter()
            .filter_map(|t| match t {
                Transition::Fired(a) => Some(a.id.clone()),
                Transition::Resolved(_) => None,
            })
            .collect();
        assert_eq!(ids, ["run1-1", "run1-2"]);
        assert_eq!(state.firing_count("down"), 2);
        let mut after_restart = EvalState::new("run2");
        after_restart.restore(state.firing());
        let t = evaluate(
            std::slice::from_ref(&r),
            &off,
            &asked,
            &mut after_restart,
            20.0,
        );
        assert!(t.is_empty(), "still firing under their ids: {t:?}");
        let t = evaluate(&[], &off, &asked, &mut after_restart, 30.0);
        assert_eq!(
            t.iter()
                .map(|t| match t {
                    Transition::Resolved(a) => (a.id.as_str(), a.ended),
                    Transition::Fired(a) => (a.id.as_str(), None),
                })
                .collect::<Vec<_>>(),
            [("run1-1", Some(30.0)), ("run1-2", Some(30.0))],
            "a rule taken away resolves its alerts"
        );
    }

    /// A queue_depth rule (no `during`) over `depth`, holding for `hold`.
    fn deep(hold: Option<&str>) -> Rule {
        rule("backlog", RuleKind::QueueDepth, |s| {
            s.depth = Some(10);
            s.hold = hold.map(str::to_string);
            s.severity = app::wire::alerts::Severity::Critical;
        })
    }

    fn depths(list: &[(&str, u64)]) -> AlertInputs {
        let v: Vec<(&str, Option<u64>, Option<u64>)> =
            list.iter().map(|(n, d)| (*n, Some(*d), None)).collect();
        queues(&v)
    }

    fn pending_of(queue: &str, depth: u64, since: f64, fires_at: f64) -> PendingAlert {
        PendingAlert {
            rule: "backlog".into(),
            severity: app::wire::alerts::Severity::Critical,
            subject_kind: SubjectKind::Queue,
            subject: queue.into(),
            summary: format!("queue {queue} holds {depth} messages (more than 10)"),
            link: format!("/broker/queue/{queue}"),
            since,
            fires_at,
        }
    }

    #[test]
    fn a_pending_subject_is_listed_with_since_and_fires_at_until_it_fires_or_clears() {
        let r = [deep(Some("10s"))];
        let asked = ask(&r);
        let mut state = EvalState::new("t");
        let mut step = |rules: &[Rule], now: f64, q: &[(&str, u64)]| {
            let t = evaluate(rules, &depths(q), &asked, &mut state, now);
            (
                t,
                state.pending(),
                state.firing(),
                state.firing_count("backlog"),
            )
        };
        assert_eq!(
            step(&r, 100.0, &[("bulk", 50), ("quiet", 3)]),
            (
                vec![],
                vec![pending_of("bulk", 50, 100.0, 110.0)],
                vec![],
                0
            )
        );
        // Still pending since 100, saying what it says now; the soonest to
        // fire first, not the first by name.
        assert_eq!(
            step(&r, 105.0, &[("bulk", 60), ("aaa", 20)]),
            (
                vec![],
                vec![
                    pending_of("bulk", 60, 100.0, 110.0),
                    pending_of("aaa", 20, 105.0, 115.0)
                ],
                vec![],
                0
            )
        );
        // Cleared before its `for`: gone, nothing fired or resolved.
        assert_eq!(
            step(&r, 106.0, &[("bulk", 5), ("aaa", 20)]),
            (vec![], vec![pending_of("aaa", 20, 105.0, 115.0)], vec![], 0)
        );
        // Holding again: pending from the start; the rule's `for` edited
        // to 20 s moves when it fires.
        let longer = [deep(Some("20s"))];
        assert_eq!(
            step(&longer, 108.0, &[("bulk", 70), ("aaa", 20)]),
            (
                vec![],
                vec![
                    pending_of("aaa", 20, 105.0, 125.0),
                    pending_of("bulk", 70, 108.0, 128.0)
                ],
                vec![],
                0
            )
        );
        let (t, pending, firing, count) = step(&longer, 125.0, &[("bulk", 70), ("aaa", 20)]);
        let fired = Alert {
            id: "t-1".into(),
            rule: "backlog".into(),
            severity: app::wire::alerts::Severity::Critical,
            subject_kind: SubjectKind::Queue,
            subject: "aaa".into(),
            summary: "queue aaa holds 20 messages (more than 10)".into(),
            link: "/broker/queue/aaa".into(),
            started: 125.0,
            ended: None,
        };
        assert_eq!(t, vec![Transition::Fired(fired.clone())]);
        assert_eq!(pending, vec![pending_of("bulk", 70, 108.0, 128.0)]);
        assert_eq!((firing, count), (vec![fired.clone()], 1));
        // A rule taken away drops its pending subjects without a word;
        // only the firing one resolves.
        let resolved = Alert {
            ended: Some(126.0),
            ..fired
        };
        assert_eq!(
            step(&[], 126.0, &[("bulk", 70)]),
            (vec![Transition::Resolved(resolved)], vec![], vec![], 0)
        );
    }

    #[test]
    fn a_firing_summary_follows_the_condition_and_the_transitions_keep_it_as_fired() {
        let r = [deep(None)];
        let asked = ask(&r);
        let mut state = EvalState::new("t");
        let t = evaluate(&r, &depths(&[("bulk", 50)]), &asked, &mut state, 0.0);
        let [Transition::Fired(fired)] = &t[..] else {
            panic!("fires at once: {t:?}");
        };
        assert_eq!(fired.summary, "queue bulk holds 50 messages (more than 10)");
        assert_eq!(
            state.pending(),
            vec![],
            "a rule without `for` is never pending"
        );
        let t = evaluate(&r, &depths(&[("bulk", 9000)]), &asked, &mut state, 2.0);
        assert_eq!(t, vec![], "a changed summary is no transition");
        let now = Alert {
            summary: "queue bulk holds 9000 messages (more than 10)".into(),
            ..fired.clone()
        };
        assert_eq!(state.firing(), vec![now.clone()]);
        // After a restart: the history's alert, as it fired, until the next
        // evaluation reads the queue again.
        let mut restarted = EvalState::new("u");
        restarted.restore(vec![fired.clone()]);
        assert_eq!(restarted.firing(), vec![fired.clone()]);
        for s in [&mut state, &mut restarted] {
            let t = evaluate(&r, &depths(&[("bulk", 9000)]), &asked, s, 4.0);
            assert_eq!((t, s.firing()), (vec![], vec![now.clone()]));
            let t = evaluate(&r, &depths(&[("bulk", 2)]), &asked, s, 6.0);
            let resolved = Alert {
                ended: Some(6.0),
                ..fired.clone()
            };
            assert_eq!(
                (t, s.firing()),
                (vec![Transition::Resolved(resolved)], vec![])
            );
        }
    }
}
