//! What the evaluation loop, the API and `/metrics` share about alerts:
//! the rules (the file's, read-only, and the page's, kept in the store),
//! the webhooks, the alerts firing now and each rule's count, and the
//! pending ones (the Alerts page's only). One
//! [`Alerts`] behind an `Arc`; its mutex is held for a copy or a swap,
//! never across an await. Edits are written to the store first, then
//! take effect, and wake the loop.

use std::sync::{Arc, Mutex};

use app::wire::alerts::{
    Alert, AlertsAnswer, FiringNow, PendingAlert, RuleEntry, RuleSpec, Source, WebhookEntry,
    WebhookFormat, WebhookSpec, WebhookTest,
};
use tokio::sync::{Notify, watch};

use super::eval::Transition;
use crate::notify::{self, Notice, NoticeStatus, Notifier};

use super::{
    file::{AlertsConfig, MAX_WEBHOOKS, WebhookConf},
    rules::{MAX_RULES, Rule},
    trail::AlertStore,
};
use crate::store::StoreError;

/// Firings `GET /api/alerts` shows besides those firing now.
pub const RECENT_HISTORY: usize = 50;

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The request's fault: a 400 naming what.
    #[error("{0}")]
    Invalid(String),
    /// No such page rule or webhook: a 404.
    #[error("{0}")]
    Unknown(String),
    /// The store failed: a 503.
    #[error("the alerts could not be kept: {0}")]
    Store(#[from] StoreError),
}

#[derive(Default)]
struct Live {
    page_rules: Vec<Rule>,
    page_webhooks: Vec<WebhookConf>,
    firing: Vec<Alert>,
    /// Waiting for their rule's `for`: shown on the Alerts page only.
    pending: Vec<PendingAlert>,
    /// Whether the page's rules and webhooks were read from the store
    /// (a PostgreSQL not answering at start is read again later).
    loaded: bool,
}

/// A webhook as the notifier takes it.
fn webhook(w: &WebhookConf) -> notify::Webhook {
    notify::Webhook {
        name: w.name.clone(),
        url: w.url.clone(),
        format: match w.format {
            WebhookFormat::Generic => notify::Format::Generic,
            WebhookFormat::Slack => notify::Format::Slack,
        },
        secret: w.secret.as_deref().map(notify::Secret::new),
    }
}

/// The alerts' shared state.
pub struct Alerts {
    file: Option<AlertsConfig>,
    store: AlertStore,
    /// The URL people reach celadon at, prefix included, no final `/`.
    external_url: String,
    live: Mutex<Live>,
    /// Wakes the loop after an edit.
    pub changed: Notify,
    /// The alerts firing now, for every page's banner.
    firing_tx: watch::Sender<FiringNow>,
    /// Delivers to the webhooks (the file's and the page's).
    notifier: Notifier,
}

impl Alerts {
    /// Starts from the file and what the store holds. A page rule or
    /// webhook that no longer passes the checks (or clashes with the
    /// file's) is logged and left out.
    pub async fn open(
        file: Option<AlertsConfig>,
        store: AlertStore,
        external_url: String,
        notifier: Notifier,
    ) -> Arc<Alerts> {
        let (firing_tx, _) = watch::channel(FiringNow::default());
        let alerts = Arc::new(Alerts {
            file,
            store,
            external_url: external_url.trim_end_matches('/').to_string(),
            live: Mutex::default(),
            changed: Notify::new(),
            firing_tx,
            notifier,
        });
        alerts.load().await;
        alerts
    }

    /// Reads the page's rules and webhooks from the store, unless done:
    /// at start, and again at each evaluation until it succeeds.
    pub async fn load(&self) {
        if self.live.lock().is_ok_and(|l| l.loaded) {
            return;
        }
        let alerts = self;
        let (rules, hooks) = match (alerts.store.rules().await, alerts.store.webhooks().await) {
            (Ok(r), Ok(h)) => (r, h),
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "the Alerts page's rules and webhooks could not be read yet");
                return;
            }
        };
        let file_rules = alerts.file_rules();
        let file_hooks = alerts.file_webhooks();
        let mut page_rules = Vec::new();
        for spec in rules {
            let name = spec.name.clone();
            match Rule::check(spec, Source::Page) {
                Ok(r) if !file_rules.iter().any(|f| f.name == r.name) => page_rules.push(r),
                Ok(_) => tracing::warn!(
                    rule = name,
                    "a page rule has a file rule's name; the file's is used"
                ),
                Err(why) => tracing::warn!(rule = name, %why, "a stored alert rule is left out"),
            }
        }
        let mut page_webhooks = Vec::new();
        for spec in hooks {
            let name = spec.name.clone();
            match WebhookConf::check(spec, Source::Page, &|_| None) {
                Ok(w) if !file_hooks.iter().any(|f| f.name == w.name) => page_webhooks.push(w),
                Ok(_) => tracing::warn!(
                    webhook = name,
                    "a page webhook has a file webhook's name; the file's is used"
                ),
                Err(why) => tracing::warn!(webhook = name, %why, "a stored webhook is left out"),
            }
        }
        if let Ok(mut live) = alerts.live.lock() {
            // Edits made meanwhile were written to the store and are in
            // what was just read.
            live.page_rules = page_rules;
            live.page_webhooks = page_webhooks;
            live.loaded = true;
        }
        alerts.publish_webhooks();
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// The absolute URL of `link` (a path from the app's root).
    pub fn absolute(&self, link: &str) -> String {
        format!("{}{link}", self.external_url)
    }

    fn file_rules(&self) -> Vec<Rule> {
        self.file
            .as_ref()
            .map(|f| f.rules.clone())
            .unwrap_or_default()
    }

    fn file_webhooks(&self) -> Vec<WebhookConf> {
        self.file
            .as_ref()
            .map(|f| f.webhooks.clone())
            .unwrap_or_default()
    }

    /// Every rule: the file's, then the page's.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = self.file_rules();
        if let Ok(live) = self.live.lock() {
            rules.extend(live.page_rules.iter().cloned());
        }
        rules
    }

    /// Every webhook, secrets included (for the notifier only).
    pub fn webhooks(&self) -> Vec<WebhookConf> {
        let mut hooks = self.file_webhooks();
        if let Ok(live) = self.live.lock() {
            hooks.extend(live.page_webhooks.iter().cloned());
        }
        hooks
    }

    /// Hands the webhooks as they now are to the notifier.
    fn publish_webhooks(&self) {
        let hooks = self.webhooks().iter().map(webhook).collect();
        if let Err(error) = self.notifier.set_webhooks(hooks) {
            tracing::error!(%error, "the webhooks could not be handed to the notifier");
        }
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Tells the webhooks of a firing or an end (never waits on one).
    pub fn notify(&self, t: &Transition) {
        let (a, status) = match t {
            Transition::Fired(a) => (a, NoticeStatus::Firing),
            Transition::Resolved(a) => (a, NoticeStatus::Resolved),
        };
        self.notifier.notify(Notice {
            key: format!("{}#{}", a.rule, a.id),
            status,
            rule: a.rule.clone(),
            summary: a.summary.clone(),
            details: vec![
                ("severity".into(), a.severity.as_str().into()),
                (a.subject_kind.as_str().into(), a.subject.clone()),
            ],
            link: self.absolute(&a.link),
            started_at: a.started,
            ended_at: a.ended,
        });
    }

    /// One test delivery to the webhook `name` now: what its receiver
    /// answered.
    pub async fn test_webhook(&self, name: &str) -> WebhookTest {
        match self.notifier.test(name).await {
            Ok(d) => WebhookTest {
                delivered: d.delivered(),
                status: Some(d.status),
                detail: format!("delivery {}", d.id),
            },
            Err(e) => WebhookTest {
                delivered: false,
                status: None,
                detail: e.to_string(),
            },
        }
    }

    /// Follows the alerts firing now (every page's banner).
    pub fn subscribe_firing(&self) -> watch::Receiver<FiringNow> {
        self.firing_tx.subscribe()
    }

    /// The loop's word on what fires now (every page's banner) and what
    /// is pending (the Alerts page's only; not the webhooks' or
    /// `/metrics`'), taken together so no answer sees one without the
    /// other.
    pub fn set_evaluated(&self, firing: Vec<Alert>, pending: Vec<PendingAlert>) {
        if let Ok(mut live) = self.live.lock() {
            live.firing = firing.clone();
            live.pending = pending;
        }
        self.firing_tx.send_if_modified(|now| {
            let changed = now.alerts != firing;
            now.alerts = firing;
            changed
        });
    }

    pub fn firing(&self) -> Vec<Alert> {
        self.live
            .lock()
            .map(|l| l.firing.clone())
            .unwrap_or_default()
    }

    /// Each rule's name with the alerts of it firing now (0 for none),
    /// in the rules' order: `celadon_alerts_firing{rule}`.
    pub fn firing_counts(&self) -> Vec<(String, u64)> {
        let firing = self.firing();
        self.rules()
            .iter()
            .map(|r| {
                let n = firing.iter().filter(|a| a.rule == r.name).count() as u64;
                (r.name.clone(), n)
            })
            .collect()
    }

    /// `GET /api/alerts`.
    pub async fn answer(&self) -> AlertsAnswer {
        // One evaluation's word on both.
        let (firing, pending) = self
            .live
            .lock()
            .map(|l| (l.firing.clone(), l.pending.clone()))
            .unwrap_or_default();
        let history = self
            .store
            .history(RECENT_HISTORY, None)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "the alerts' history could not be read");
                Vec::new()
            });
        AlertsAnswer {
            file: self.file.as_ref().map(|f| f.path.display().to_string()),
            rules: self
                .rules()
                .into_iter()
                .map(|r| RuleEntry {
                    firing: firing.iter().filter(|a| a.rule == r.name).count() as u64,
                    spec: r.spec,
                    source: r.source,
                })
                .collect(),
            webhooks: self.webhooks().iter().map(WebhookConf::entry).collect(),
            firing,
            pending,
            history,
            persisted: self.store.persisted(),
            deliveries: self.notifier.stats(),
        }
    }

    /// Adds (`replace`: false) or replaces (`replace`: the name it had) a
    /// page rule.
    pub async fn put_rule(
        &self,
        spec: RuleSpec,
        replace: Option<&str>,
        now: f64,
    ) -> Result<(), EditError> {
        let rule = Rule::check(spec, Source::Page).map_err(EditError::Invalid)?;
        if self.file_rules().iter().any(|r| r.name == rule.name) {
            return Err(EditError::Invalid(format!(
                "name: the --alerts file has a rule named {:?}, which the page cannot change",
                rule.name
            )));
        }
        let (exists, count) = self
            .live
            .lock()
            .map(|l| {
                (
                    l.page_rules.iter().any(|r| r.name == rule.name),
                    l.page_rules.len(),
                )
            })
            .unwrap_or((false, 0));
        match replace {
            None if exists => {
                return Err(EditError::Invalid(format!(
                    "name: a rule named {:?} exists; edit it instead",
                    rule.name
                )));
            }
            Some(old) if !self.has_page_rule(old) => {
                return Err(EditError::Unknown(format!(
                    "no rule named {old:?} was added on the page"
                )));
            }
            Some(old) if old != rule.name && exists => {
                return Err(EditError::Invalid(format!(
                    "name: a rule named {:?} exists",
                    rule.name
                )));
            }
            None if count + self.file_rules().len() >= MAX_RULES => {
                return Err(EditError::Invalid(format!("at most {MAX_RULES} rules")));
            }
            _ => {}
        }
        self.store.put_rule(&rule.spec, now).await?;
        if let Some(old) = replace.filter(|o| *o != rule.name) {
            self.store.delete_rule(old).await?;
        }
        if let Ok(mut live) = self.live.lock() {
            live.page_rules
                .retain(|r| r.name != rule.name && Some(r.name.as_str()) != replace);
            live.page_rules.push(rule);
            live.page_rules.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.changed.notify_one();
        Ok(())
    }

    fn has_page_rule(&self, name: &str) -> bool {
        self.live
            .lock()
            .is_ok_and(|l| l.page_rules.iter().any(|r| r.name == name))
    }

    fn refuse_file(&self, what: &str, name: &str, in_file: bool) -> Result<(), EditError> {
        if in_file {
            return Err(EditError::Invalid(format!(
                "the {what} {name:?} comes from the --alerts file and is changed there"
            )));
        }
        Ok(())
    }

    pub async fn delete_rule(&self, name: &str) -> Result<(), EditError> {
        let in_file = self.file_rules().iter().any(|r| r.name == name);
        self.refuse_file("rule", name, in_file)?;
        if !self.has_page_rule(name) {
            return Err(EditError::Unknown(format!("no rule named {name:?}")));
        }
        self.store.delete_rule(name).await?;
        if let Ok(mut live) = self.live.lock() {
            live.page_rules.retain(|r| r.name != name);
        }
        self.changed.notify_one();
        Ok(())
    }

    fn page_webhook(&self, name: &str) -> Option<WebhookConf> {
        self.live
            .lock()
            .ok()
            .and_then(|l| l.page_webhooks.iter().find(|w| w.name == name).cloned())
    }

    /// Adds or replaces (`replace`: its name) a page webhook. A
    /// replacement without a secret keeps the one it had; `secret: ""`
    /// removes it. `secret_env` is for the file only.
    pub async fn put_webhook(
        &self,
        mut spec: WebhookSpec,
        replace: Option<&str>,
        now: f64,
    ) -> Result<WebhookEntry, EditError> {
        if spec.secret_env.is_some() {
            return Err(EditError::Invalid(
                "secret_env: only the --alerts file reads secrets from the environment".into(),
            ));
        }
        let previous = match replace {
            Some(old) => Some(self.page_webhook(old).ok_or_else(|| {
                EditError::Unknown(format!("no webhook named {old:?} was added on the page"))
            })?),
            None => None,
        };
        if spec.secret.is_none() {
            spec.secret = previous.as_ref().and_then(|p| p.secret.clone());
        }
        let hook = WebhookConf::check(spec, Source::Page, &|_| None).map_err(EditError::Invalid)?;
        if self.file_webhooks().iter().any(|w| w.name == hook.name) {
            return Err(EditError::Invalid(format!(
                "name: the --alerts file has a webhook named {:?}",
                hook.name
            )));
        }
        let clash = self.page_webhook(&hook.name).is_some();
        if clash && replace != Some(hook.name.as_str()) {
            return Err(EditError::Invalid(format!(
                "name: a webhook named {:?} exists",
                hook.name
            )));
        }
        if replace.is_none() && self.webhooks().len() >= MAX_WEBHOOKS {
            return Err(EditError::Invalid(format!(
                "at most {MAX_WEBHOOKS} webhooks"
            )));
        }
        self.store
            .put_webhook(&hook.name, &hook.url, hook.format, hook.secret.clone(), now)
            .await?;
        if let Some(old) = replace.filter(|o| *o != hook.name) {
            self.store.delete_webhook(old).await?;
        }
        if let Ok(mut live) = self.live.lock() {
            live.page_webhooks
                .retain(|w| w.name != hook.name && Some(w.name.as_str()) != replace);
            live.page_webhooks.push(hook.clone());
            live.page_webhooks.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.publish_webhooks();
        Ok(hook.entry())
    }

    pub async fn delete_webhook(&self, name: &str) -> Result<(), EditError> {
        let in_file = self.file_webhooks().iter().any(|w| w.name == name);
        self.refuse_file("webhook", name, in_file)?;
        if self.page_webhook(name).is_none() {
            return Err(EditError::Unknown(format!("no webhook named {name:?}")));
        }
        self.store.delete_webhook(name).await?;
        if let Ok(mut live) = self.live.lock() {
            live.page_webhooks.retain(|w| w.name != name);
        }
        self.publish_webhooks();
        Ok(())
    }
}
