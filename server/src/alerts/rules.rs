//! A rule as celadon evaluates it: a [`RuleSpec`] (as written in the
//! file, a request body or the store) checked once into [`Rule`], whose
//! durations are seconds and whose selectors are globs. Every check a
//! rule must pass is here, so the file, the Alerts page and the store
//! refuse the same things with the same words. Pure.

use app::wire::alerts::{RuleKind, RuleSpec, Severity, Source};

/// Rules one celadon evaluates (file and page together): each is a few
/// reads' worth of work per evaluation.
pub const MAX_RULES: usize = 200;

/// The longest name a rule or a webhook may have.
pub const MAX_NAME: usize = 100;

/// The longest window a rule may look back over: the series' longest ring
/// (`state::series`, 30 days by the hour).
pub const MAX_WINDOW: f64 = 30.0 * 86_400.0;

/// The longest `during` of a queue depth rule: the queues' per-minute
/// ring (`state::queues`, 7 days).
pub const MAX_DURING: f64 = 7.0 * 86_400.0;

/// A `*`/`?` pattern over names (`celery@web-*`). Without either, it
/// names one exact subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it names one subject rather than a pattern.
    pub fn exact(&self) -> Option<&str> {
        (!self.0.contains(['*', '?'])).then_some(self.0.as_str())
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

/// Iterative `*`/`?` matching with one backtrack point: linear in
/// practice, never exponential.
fn glob_match(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// What a rule watches, its bounds in seconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    WorkerOffline {
        after: f64,
        worker: Option<Glob>,
    },
    QueueDepth {
        depth: u64,
        during: f64,
        queue: Option<Glob>,
    },
    QueueWait {
        p95: f64,
        window: f64,
    },
    FailureRatio {
        percent: f64,
        window: f64,
        min_count: u64,
        task: Option<Glob>,
    },
    StuckStarted {
        after: f64,
        task: Option<Glob>,
    },
    NoSuccess {
        period: f64,
        task: Glob,
    },
}

/// A checked rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    /// Seconds the condition must hold before it fires (0: at once).
    pub hold: f64,
    pub kind: Kind,
    /// As written, to show back.
    pub spec: RuleSpec,
    pub source: Source,
}

/// The default window of a queue wait rule.
pub const DEFAULT_WAIT_WINDOW: f64 = 300.0;

/// Seconds in a duration as rules write it (`45s`, `5m`, `2h`, `1d`,
/// `1w`, decimals allowed; more than zero).
pub fn seconds(field: &str, text: &str) -> Result<f64, String> {
    let bad = || format!("{field}: {text:?} is not a duration like 45s, 5m, 2h or 1d");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    Some(n * scale)
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 10.0 * 365.0 * 86_400.0)
        .ok_or_else(bad)
}

/// A name for a rule or webhook: not empty, at most [`MAX_NAME`]
/// characters, no control characters, no `/` (it is a path segment).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("name: empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("name: longer than {MAX_NAME} characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err("name: control characters and '/' are not allowed".into());
    }
    Ok(())
}

fn glob(field: &str, text: &Option<String>) -> Result<Option<Glob>, String> {
    match text {
        None => Ok(None),
        Some(t) if t.is_empty() || t.chars().count() > 1000 => {
            Err(format!("{field}: a pattern of 1 to 1000 characters"))
        }
        Some(t) => Ok(Some(Glob::new(t))),
    }
}

impl Rule {
    /// Checks `spec`: the fields its kind needs are there, the others are
    /// not, every duration and number is in range.
    pub fn check(spec: RuleSpec, source: Source) -> Result<Rule, String> {
        check_name(&spec.name)?;
        let s = &spec;
        let allowed: &[&str] = match s.kind {
            RuleKind::WorkerOffline => &["after", "worker"],
            RuleKind::QueueDepth => &["depth", "during", "queue"],
            RuleKind::QueueWait => &["p95", "window"],
            RuleKind::FailureRatio => &["percent", "window", "min_count", "task"],
            RuleKind::StuckStarted => &["after", "task"],
            RuleKind::NoSuccess => &["period", "task"],
        };
        let given = [
            ("worker", s.worker.is_some()),
            ("queue", s.queue.is_some()),
            ("task", s.task.is_some()),
            ("after", s.after.is_some()),
            ("depth", s.depth.is_some()),
            ("during", s.during.is_some()),
            ("p95", s.p95.is_some()),
            ("window", s.window.is_some()),
            ("percent", s.percent.is_some()),
            ("min_count", s.min_count.is_some()),
            ("period", s.period.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(f, g)| *g && !allowed.contains(f)) {
            return Err(format!(
                "{field}: a {} rule takes only {}",
                s.kind.as_str(),
                allowed.join(", ")
            ));
        }
        let need = |field: &str, v: &Option<String>| {
            v.as_deref()
                .ok_or_else(|| format!("{field}: missing (a {} rule needs it)", s.kind.as_str()))
                .and_then(|t| seconds(field, t))
        };
        let bounded = |field: &str, v: f64, max: f64| {
            if v > max {
                Err(format!("{field}: at most {} days", max / 86_400.0))
            } else {
                Ok(v)
            }
        };
        let kind = match s.kind {
            RuleKind::WorkerOffline => Kind::WorkerOffline {
                after: need("after", &s.after)?,
                worker: glob("worker", &s.worker)?,
            },
            RuleKind::QueueDepth => Kind::QueueDepth {
                depth: s
                    .depth
                    .ok_or("depth: missing (a queue_depth rule needs it)")?,
                during: match &s.during {
                    Some(t) => bounded("during", seconds("during", t)?, MAX_DURING)?,
                    None => 0.0,
                },
                queue: glob("queue", &s.queue)?,
            },
            RuleKind::QueueWait => Kind::QueueWait {
                p95: need("p95", &s.p95)?,
                window: match &s.window {
                    Some(t) => bounded("window", seconds("window", t)?, MAX_WINDOW)?,
                    None => DEFAULT_WAIT_WINDOW,
                },
            },
            RuleKind::FailureRatio => Kind::FailureRatio {
                percent: match s.percent {
                    Some(p) if p.is_finite() && (0.0..=100.0).contains(&p) => p,
                    Some(_) => return Err("percent: a number from 0 to 100".into()),
                    None => return Err("percent: missing (a failure_ratio rule needs it)".into()),
                },
                window: bounded("window", need("window", &s.window)?, MAX_WINDOW)?,
                min_count: s.min_count.unwrap_or(1).max(1),
                task: glob("task", &s.task)?,
            },
            RuleKind::StuckStarted => Kind::StuckStarted {
                after: need("after", &s.after)?,
                task: glob("task", &s.task)?,
            },
            RuleKind::NoSuccess => Kind::NoSuccess {
                period: bounded("period", need("period", &s.period)?, MAX_WINDOW)?,
                task: glob("task", &s.task)?
                    .ok_or("task: missing (a no_success rule names the task type it watches)")?,
            },
        };
        let hold = match &s.hold {
            Some(t) => seconds("for", t)?,
            None => 0.0,
        };
        Ok(Rule {
            name: spec.name.clone(),
            severity: spec.severity,
            hold,
            kind,
            spec,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        let g = Glob::new("celery@web-*");
        assert!(g.matches("celery@web-1"));
        assert!(g.matches("celery@web-"));
        assert!(!g.matches("celery@db-1"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*b*b").matches("abxbb"));
        assert!(Glob::new("*").matches(""));
        assert_eq!(Glob::new("tasks.add").exact(), Some("tasks.add"));
        assert_eq!(Glob::new("tasks.*").exact(), None);
    }

    #[test]
    fn a_kind_takes_its_fields_and_no_other() {
        let mut s = RuleSpec::new("w", RuleKind::WorkerOffline);
        assert_eq!(
            Rule::check(s.clone(), Source::Page).unwrap_err(),
            "after: missing (a worker_offline rule needs it)"
        );
        s.after = Some("90s".into());
        s.hold = Some("1m".into());
        let r = Rule::check(s.clone(), Source::Page).unwrap();
        assert_eq!(
            r.kind,
            Kind::WorkerOffline {
                after: 90.0,
                worker: None
            }
        );
        assert_eq!(r.hold, 60.0);
        s.depth = Some(3);
        assert_eq!(
            Rule::check(s.clone(), Source::Page).unwrap_err(),
            "depth: a worker_offline rule takes only after, worker"
        );
        s.depth = None;
        s.after = Some("soon".into());
        assert_eq!(
            Rule::check(s, Source::Page).unwrap_err(),
            "after: \"soon\" is not a duration like 45s, 5m, 2h or 1d"
        );
        let mut f = RuleSpec::new("f", RuleKind::FailureRatio);
        f.percent = Some(120.0);
        f.window = Some("5m".into());
        assert_eq!(
            Rule::check(f.clone(), Source::Page).unwrap_err(),
            "percent: a number from 0 to 100"
        );
        f.percent = Some(50.0);
        f.window = Some("60d".into());
        assert_eq!(
            Rule::check(f, Source::Page).unwrap_err(),
            "window: at most 30 days"
        );
        let n = RuleSpec {
            period: Some("1h".into()),
            ..RuleSpec::new("n", RuleKind::NoSuccess)
        };
        assert!(
            Rule::check(n, Source::Page)
                .unwrap_err()
                .starts_with("task: missing")
        );
        assert_eq!(
            Rule::check(RuleSpec::new("a/b", RuleKind::QueueWait), Source::Page).unwrap_err(),
            "name: control characters and '/' are not allowed"
        );
    }
}
