//! Alerts as the API serves them and the Alerts page reads them
//! (`/api/alerts`, `/api/alerts/history`, the rule and webhook editors),
//! and a rule or a webhook as written: the same shape in the `--alerts`
//! file (TOML or YAML), in a `POST`/`PUT` body and in the history store.
//! A webhook's secret goes in, never out: [`WebhookEntry`] says only
//! whether there is one.

use serde::{Deserialize, Serialize};

/// What a rule watches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A worker with no sign of life for more than `after`.
    WorkerOffline,
    /// A queue holding more than `depth` messages throughout `during`.
    QueueDepth,
    /// The cluster's p95 queue wait over `window` above `p95`.
    QueueWait,
    /// More than `percent` % of a task type's outcomes over `window`
    /// failures, with at least `min_count` outcomes.
    FailureRatio,
    /// A task in STARTED for longer than `after`.
    StuckStarted,
    /// A task type with no success within `period`.
    NoSuccess,
}

impl RuleKind {
    pub const ALL: [RuleKind; 6] = [
        RuleKind::WorkerOffline,
        RuleKind::QueueDepth,
        RuleKind::QueueWait,
        RuleKind::FailureRatio,
        RuleKind::StuckStarted,
        RuleKind::NoSuccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::WorkerOffline => "worker_offline",
            RuleKind::QueueDepth => "queue_depth",
            RuleKind::QueueWait => "queue_wait",
            RuleKind::FailureRatio => "failure_ratio",
            RuleKind::StuckStarted => "stuck_started",
            RuleKind::NoSuccess => "no_success",
        }
    }
}

/// How loud an alert is (ordered: `Critical` is the greatest).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A rule as written. Which of the optional fields a kind needs or allows
/// is checked by the server (`alerts::rules`); durations are written
/// `45s`, `5m`, `2h`, `1d`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub kind: RuleKind,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    #[serde(default)]
    pub severity: Severity,
    /// A hostname glob (`*`, `?`): worker_offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// A queue name glob: queue_depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// A task name glob: failure_ratio, stuck_started, no_success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// worker_offline, stuck_started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// queue_depth: messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
    /// queue_depth: how long the queue stays deeper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<String>,
    /// queue_wait: the p95 wait bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<String>,
    /// queue_wait, failure_ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// failure_ratio: 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// failure_ratio: outcomes needed before the ratio counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u64>,
    /// no_success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

impl RuleSpec {
    /// An empty rule of `kind` named `name`, every option unset.
    pub fn new(name: &str, kind: RuleKind) -> RuleSpec {
        RuleSpec {
            name: name.to_string(),
            kind,
            hold: None,
            severity: Severity::default(),
            worker: None,
            queue: None,
            task: None,
            after: None,
            depth: None,
            during: None,
            p95: None,
            window: None,
            percent: None,
            min_count: None,
            period: None,
        }
    }
}

/// Where a rule or a webhook comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// The `--alerts` file (read-only on the page).
    File { path: String },
    /// Added on the Alerts page (kept in the history store).
    Page,
}

/// A rule, with where it comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RuleEntry {
    pub spec: RuleSpec,
    pub source: Source,
    /// Alerts of this rule firing now.
    pub firing: u64,
}

/// The payload a webhook receives.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Generic,
    Slack,
}

/// A webhook as written (the file, a `POST`/`PUT` body). The secret is
/// given inline or, in the file, as the name of an environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// A webhook as shown: never its secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WebhookEntry {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    pub has_secret: bool,
    pub source: Source,
}

/// What an alert is about.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Worker,
    Queue,
    /// A task type.
    TaskName,
    /// One task, by id.
    Task,
    Cluster,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Worker => "worker",
            SubjectKind::Queue => "queue",
            SubjectKind::TaskName => "task_name",
            SubjectKind::Task => "task",
            SubjectKind::Cluster => "cluster",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectKind> {
        [
            SubjectKind::Worker,
            SubjectKind::Queue,
            SubjectKind::TaskName,
            SubjectKind::Task,
            SubjectKind::Cluster,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One firing of a rule for one subject: open while `ended` is `None`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Alert {
    /// Unique among all firings.
    pub id: String,
    pub rule: String,
    pub severity: Severity,
    pub subject_kind: SubjectKind,
    /// The worker, queue, task name or task id (empty for the cluster).
    pub subject: String,
    /// One line. In the alerts firing now (`AlertsAnswer::firing`,
    /// [`FiringNow`]) it reads as the condition reads at the last
    /// evaluation (a queue's depth now, not when it fired); in the history
    /// and in webhook notices, as it read when it fired.
    pub summary: String,
    /// The page that shows the cause, from the app's root (`/worker/…`).
    pub link: String,
    /// Unix seconds.
    pub started: f64,
    pub ended: Option<f64>,
}

/// A rule's condition holding for a subject, but not yet for the rule's
/// `for`: it fires at `fires_at` unless it clears first. Shown on the
/// Alerts page only: never in the banner, the history, a webhook notice
/// or `celadon_alerts_firing`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PendingAlert {
    pub rule: String,
    pub severity: Severity,
    pub subject_kind: SubjectKind,
    /// The worker, queue, task name or task id (empty for the cluster).
    pub subject: String,
    /// One line, as the condition reads at the last evaluation.
    pub summary: String,
    /// The page that shows the cause, from the app's root.
    pub link: String,
    /// Unix seconds: since when the condition holds.
    pub since: f64,
    /// Unix seconds: `since` plus the rule's `for`.
    pub fires_at: f64,
}

/// `GET /api/alerts`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AlertsAnswer {
    /// The `--alerts` file, if one was given.
    pub file: Option<String>,
    pub rules: Vec<RuleEntry>,
    pub webhooks: Vec<WebhookEntry>,
    /// Firing now, oldest first, each summary as it reads now.
    pub firing: Vec<Alert>,
    /// Pending (holding, waiting for their rule's `for`), the soonest to
    /// fire first.
    #[serde(default)]
    pub pending: Vec<PendingAlert>,
    /// The newest firings, open or ended, newest first.
    pub history: Vec<Alert>,
    /// Whether the history outlives the process (the history store).
    pub persisted: bool,
    /// Each webhook's deliveries since celadon started.
    #[serde(default)]
    pub deliveries: super::notify::NotifyStats,
}

/// `GET /api/alerts/history`: newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AlertHistory {
    pub alerts: Vec<Alert>,
}

/// The answer of `POST /api/alerts/webhooks/{name}/test`: what the
/// receiver said.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WebhookTest {
    pub delivered: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The start of its answer, or why nothing was delivered.
    pub detail: String,
}

/// What a page's banner shows: the alerts firing now (each summary as it
/// reads now; pending alerts are not here).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct FiringNow {
    pub alerts: Vec<Alert>,
}
