//! Webhook notifications: owns the configured webhooks, their delivery
//! tasks and counters. A caller (the alert engine) hands [`Notifier::notify`]
//! a [`Notice`]; each webhook receives it at most once per key and status
//! (the generic JSON payload or Slack's message, signed when the webhook
//! has a secret), retried with backoff on its own task, so no webhook
//! waits on another and the caller waits on none. It names nothing of the
//! model, the alerts or the API (layer: beside `broker` and `store`).

mod deliver;
mod payload;
mod prometheus;
mod schedule;

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    sync::{Arc, Mutex},
};

use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use app::wire::notify::{NoticeStatus, NotifyStats, WebhookStats};
pub use deliver::{
    FIRST_BACKOFF, MAX_AGE, MAX_ATTEMPTS, MAX_BACKOFF, MAX_IN_FLIGHT, MAX_PENDING, MAX_RETRY_AFTER,
    REQUEST_TIMEOUT, retry_delay,
};
pub use payload::{body, signature, slack_escape};
pub use prometheus::prometheus;

/// Notices one webhook's queue holds before its task takes them; a notice
/// finding it full is dropped for that webhook (counted, logged). The
/// queue fills only when the webhook already holds [`MAX_PENDING`] bodies.
pub const WEBHOOK_QUEUE: usize = 256;
/// Keys whose Firing/Resolved were taken, remembered so a repeated
/// `notify` sends nothing; the oldest are forgotten beyond this.
pub const MAX_REMEMBERED: usize = 8192;

/// The payload a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// [`app::wire::notify::GenericPayload`].
    Generic,
    /// [`app::wire::notify::SlackMessage`], for Slack's incoming webhooks
    /// (and the many tools that read the same shape).
    Slack,
}

/// A webhook's signing secret. It prints as `‹secret›` and is never
/// serialised: nothing sends it back to anyone.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: &str) -> Secret {
        Secret(secret.to_string())
    }

    /// The key, for signing only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("‹secret›")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("‹secret›")
    }
}

/// A webhook: where notices go, in which format, signed or not. Its URL is
/// never logged or shown in counters (a Slack URL is itself a secret):
/// the name is what is reported, and `Debug` shows the URL's scheme and
/// host only.
#[derive(Clone, PartialEq)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub format: Format,
    pub secret: Option<Secret>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let url = url::Url::parse(&self.url).map_or_else(
            |_| "‹unparsed›".to_string(),
            |u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        );
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &url)
            .field("format", &self.format)
            .field("secret", &self.secret)
            .finish()
    }
}

impl Webhook {
    /// Checks what a configuration can get wrong: an empty name, a URL
    /// that does not parse or is not `http`/`https` with a host.
    pub fn validate(&self) -> Result<(), NotifyError> {
        let invalid = |why: &str| NotifyError::Invalid {
            webhook: self.name.clone(),
            why: why.to_string(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("the name is empty"));
        }
        let url = url::Url::parse(&self.url)
            .map_err(|e| invalid(&format!("the URL does not parse ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(&format!(
                "the URL's scheme is {:?}; only http and https are sent to",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        Ok(())
    }
}

/// One firing's news, as the alert engine gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// One firing's identity, e.g. `"<rule name>#<firing id>"`: each
    /// webhook gets at most one Firing and one Resolved body per key.
    pub key: String,
    pub status: NoticeStatus,
    pub rule: String,
    /// One human line: "worker celery@a offline for 62 s".
    pub summary: String,
    /// Named values, in order (names should be unique: they become a JSON
    /// object's keys).
    pub details: Vec<(String, String)>,
    /// The absolute URL of the page that shows the cause (empty: none).
    pub link: String,
    /// Unix seconds.
    pub started_at: f64,
    pub ended_at: Option<f64>,
}

/// What a test delivery got back.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The `X-Celadon-Delivery` it carried.
    pub id: String,
    /// The receiver's HTTP status (2xx: delivered).
    pub status: u16,
}

impl Delivery {
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook {webhook:?}: {why}")]
    Invalid { webhook: String, why: String },
    #[error("two webhooks are named {0:?}")]
    Duplicate(String),
    #[error("no webhook is named {0:?}")]
    Unknown(String),
    /// No HTTP answer (connection, TLS, timeout); in words, without the URL.
    #[error("webhook {webhook:?}: {why}")]
    Unreachable { webhook: String, why: String },
    #[error("webhook notifications cannot start: {0}")]
    Setup(String),
}

/// Checks a set of webhooks as [`Notifier::set_webhooks`] will.
pub fn validate(webhooks: &[Webhook]) -> Result<(), NotifyError> {
    let mut names = HashSet::new();
    for hook in webhooks {
        hook.validate()?;
        if !names.insert(hook.name.as_str()) {
            return Err(NotifyError::Duplicate(hook.name.clone()));
        }
    }
    Ok(())
}

/// A handle on the webhooks and their tasks; clones share them.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    cancel: CancellationToken,
    tracker: TaskTracker,
    runtime: tokio::runtime::Handle,
    hooks: Mutex<Hooks>,
}

#[derive(Default)]
struct Hooks {
    /// By name, in the order configured.
    live: Vec<(String, Hook)>,
    /// (key, status) pairs taken, oldest first.
    seen: HashSet<(String, NoticeStatus)>,
    seen_order: VecDeque<(String, NoticeStatus)>,
    duplicates: u64,
}

struct Hook {
    queue: mpsc::Sender<Arc<Notice>>,
    config: watch::Sender<Arc<Webhook>>,
    counters: deliver::Counters,
    cancel: CancellationToken,
}

impl Notifier {
    /// Starts a task per webhook on `tracker`; they stop on `cancel`. Must
    /// be called inside a tokio runtime (later calls may come from any
    /// thread).
    pub fn start(
        webhooks: Vec<Webhook>,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Notifier, NotifyError> {
        validate(&webhooks)?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(deliver::CONNECT_TIMEOUT)
            // A receiver that moved says so with a 3xx: followed, a body
            // (and its signature) would go to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("celadon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Setup(format!("no HTTP client: {e}")))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| NotifyError::Setup(format!("started outside a tokio runtime: {e}")))?;
        let notifier = Notifier {
            inner: Arc::new(Inner {
                client,
                cancel,
                tracker: tracker.clone(),
                runtime,
                hooks: Mutex::new(Hooks::default()),
            }),
        };
        notifier.set_webhooks(webhooks)?;
        Ok(notifier)
    }

    /// Hands `notice` to every webhook, unless its key already had this
    /// status (then it is counted as a duplicate and sent nowhere). Never
    /// blocks on a webhook: a full queue drops the notice for that webhook.
    pub fn notify(&self, notice: Notice) {
        let Ok(mut hooks) = self.inner.hooks.lock() else {
            return;
        };
        if notice.status != NoticeStatus::Test {
            let pair = (notice.key.clone(), notice.status);
            if !hooks.seen.insert(pair.clone()) {
                hooks.duplicates += 1;
                tracing::debug!(key = %notice.key, status = notice.status.as_str(),
                    "notice repeated; not sent again");
                return;
            }
            hooks.seen_order.push_back(pair);
            while hooks.seen_order.len() > MAX_REMEMBERED {
                if let Some(old) = hooks.seen_order.pop_front() {
                    hooks.seen.remove(&old);
                }
            }
        }
        let notice = Arc::new(notice);
        for (name, hook) in &hooks.live {
            if hook.queue.try_send(notice.clone()).is_err() {
                deliver::count(&hook.counters, |c| c.dropped += 1);
                tracing::warn!(webhook = %name, key = %notice.key,
                    status = notice.status.as_str(), queue = WEBHOOK_QUEUE,
                    "webhook queue full; notice dropped for this webhook");
            }
        }
    }

    /// Replaces the set of webhooks. A webhook kept by name keeps its task,
    /// its waiting bodies and its counters, and sends with its new URL and
    /// secret from its next attempt; a removed one's task stops (its
    /// waiting bodies logged as not delivered). Nothing changes if any
    /// webhook is invalid.
    pub fn set_webhooks(&self, webhooks: Vec<Webhook>) -> Result<(), NotifyError> {
        validate(&webhooks)?;
        let Ok(mut hooks) = self.inner.hooks.lock() else {
            return Ok(());
        };
        let mut old: HashMap<String, Hook> = hooks.live.drain(..).collect();
        for webhook in webhooks {
            let name = webhook.name.clone();
            let webhook = Arc::new(webhook);
            let hook = match old.remove(&name) {
                Some(hook) => {
                    hook.config.send_replace(webhook);
                    hook
                }
                None => self.spawn(webhook),
            };
            hooks.live.push((name, hook));
        }
        for hook in old.values() {
            hook.cancel.cancel();
        }
        Ok(())
    }

    fn spawn(&self, webhook: Arc<Webhook>) -> Hook {
        let (queue, rx) = mpsc::channel(WEBHOOK_QUEUE);
        let (config, config_rx) = watch::channel(webhook.clone());
        let counters = Arc::new(Mutex::new(WebhookStats {
            name: webhook.name.clone(),
            ..WebhookStats::default()
        }));
        let cancel = self.inner.cancel.child_token();
        self.inner.tracker.spawn_on(
            deliver::run(
                webhook.name.clone(),
                config_rx,
                rx,
                self.inner.client.clone(),
                counters.clone(),
                cancel.clone(),
            ),
            &self.inner.runtime,
        );
        Hook {
            queue,
            config,
            counters,
            cancel,
        }
    }

    /// Sends a Test notice to the webhook named `webhook` now, once, and
    /// says what its receiver answered (any HTTP status is an answer; no
    /// answer is an error). Not retried, not counted in [`stats`](Self::stats).
    pub async fn test(&self, webhook: &str) -> Result<Delivery, NotifyError> {
        let hook: Arc<Webhook> = self
            .inner
            .hooks
            .lock()
            .ok()
            .and_then(|h| {
                h.live
                    .iter()
                    .find(|(name, _)| name == webhook)
                    .map(|(_, hook)| hook.config.borrow().clone())
            })
            .ok_or_else(|| NotifyError::Unknown(webhook.to_string()))?;
        self.test_webhook(&hook).await
    }

    /// As [`test`](Self::test), for a webhook that may not be configured
    /// yet (the Alerts page's form before it is saved); validated first.
    pub async fn test_webhook(&self, hook: &Webhook) -> Result<Delivery, NotifyError> {
        hook.validate()?;
        let webhook = hook.name.as_str();
        let id = uuid::Uuid::new_v4().to_string();
        let notice = Notice {
            key: format!("test#{id}"),
            status: NoticeStatus::Test,
            rule: "test".to_string(),
            summary: format!("A test notification from celadon to the webhook {webhook:?}"),
            details: Vec::new(),
            link: String::new(),
            started_at: crate::clock::now(),
            ended_at: None,
        };
        let body = payload::body(hook.format, &notice);
        let status = match deliver::attempt(&self.inner.client, hook, &id, &body).await {
            deliver::Attempt::Delivered { status } | deliver::Attempt::Refused { status, .. } => {
                status
            }
            deliver::Attempt::Retry {
                status: Some(status),
                ..
            } => status,
            deliver::Attempt::Retry { error, .. } => {
                return Err(NotifyError::Unreachable {
                    webhook: webhook.to_string(),
                    why: error,
                });
            }
        };
        Ok(Delivery { id, status })
    }

    /// Every webhook's counters, in the configured order.
    pub fn stats(&self) -> NotifyStats {
        let Ok(hooks) = self.inner.hooks.lock() else {
            return NotifyStats::default();
        };
        NotifyStats {
            webhooks: hooks
                .live
                .iter()
                .filter_map(|(_, hook)| hook.counters.lock().ok().map(|c| c.clone()))
                .collect(),
            duplicates: hooks.duplicates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, url: &str) -> Webhook {
        Webhook {
            name: name.into(),
            url: url.into(),
            format: Format::Generic,
            secret: Some(Secret::new("hunter2")),
        }
    }

    #[test]
    fn neither_the_secret_nor_the_urls_path_prints() {
        let h = hook("a", "https://hooks.example.com/services/T0/B0/XyZ");
        let shown = format!("{h:?} {}", h.secret.as_ref().unwrap());
        assert_eq!(
            shown,
            "Webhook { name: \"a\", url: \"https://hooks.example.com/…\", format: Generic, secret: Some(‹secret›) } ‹secret›"
        );
    }

    #[test]
    fn a_configuration_error_names_the_webhook_and_the_fault() {
        let errors: Vec<String> = [
            hook("", "https://example.com/"),
            hook("a", "example.com/hook"),
            hook("b", "file:///etc/passwd"),
            hook("c", "javascript:alert(1)"),
            hook("d", "https://"),
        ]
        .iter()
        .map(|h| h.validate().unwrap_err().to_string())
        .collect();
        assert_eq!(
            errors,
            [
                "webhook \"\": the name is empty",
                "webhook \"a\": the URL does not parse (relative URL without a base)",
                "webhook \"b\": the URL's scheme is \"file\"; only http and https are sent to",
                "webhook \"c\": the URL's scheme is \"javascript\"; only http and https are sent to",
                "webhook \"d\": the URL does not parse (empty host)",
            ]
        );
        assert_eq!(
            hook("e", "http://10.0.0.1:8080/hook?x=1").validate(),
            Ok(())
        );
        assert_eq!(
            validate(&[hook("e", "https://a/"), hook("e", "https://b/")]),
            Err(NotifyError::Duplicate("e".into()))
        );
    }

    #[test]
    fn starting_outside_a_runtime_is_an_error_not_a_panic() {
        let got = Notifier::start(Vec::new(), CancellationToken::new(), &TaskTracker::new());
        assert!(
            matches!(&got, Err(NotifyError::Setup(why)) if why.starts_with("started outside a tokio runtime")),
            "{:?}",
            got.err()
        );
    }
}
