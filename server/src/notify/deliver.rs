//! One webhook's deliveries: its task (a queue in, attempts out, retries
//! with backoff, order kept per key), and one HTTP attempt. Each webhook
//! has its own task, so a slow or dead receiver holds up only its own
//! bodies.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    Notice, Webhook, payload,
    schedule::{Job, Schedule},
};
use crate::clock;
use app::wire::notify::WebhookStats;

/// A webhook's first retry waits this long, each next one twice the last…
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// …up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// A body is given up after this many attempts (about 18 minutes of
/// backoff)…
pub const MAX_ATTEMPTS: u32 = 12;
/// …or when its next attempt would come later than this after its first:
/// a notice an hour old is news no longer.
pub const MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// A receiver's `Retry-After` is honoured up to this (a longer one would
/// park the body past the backoff's own ceiling).
pub const MAX_RETRY_AFTER: Duration = MAX_BACKOFF;
/// One attempt, connecting included, ends after this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting alone ends after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies a webhook holds (waiting, backing off or in flight); while it
/// holds this many it takes no more from its queue, which then fills and
/// drops (counted).
pub const MAX_PENDING: usize = 1024;
/// Attempts one webhook has in flight at once (different keys; one key's
/// bodies go one after the other).
pub const MAX_IN_FLIGHT: usize = 4;

/// How long to wait before the next attempt after `failures` failed ones
/// (at least 1): [`FIRST_BACKOFF`] doubling, at most [`MAX_BACKOFF`], and
/// no shorter than the receiver's `Retry-After` (itself at most
/// [`MAX_RETRY_AFTER`]). No jitter: one process sends few bodies, and a
/// deterministic schedule is one a test can check.
pub fn retry_delay(failures: u32, retry_after: Option<Duration>) -> Duration {
    let doubling = 2u32.saturating_pow(failures.saturating_sub(1));
    let backoff = FIRST_BACKOFF.saturating_mul(doubling).min(MAX_BACKOFF);
    backoff.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// A 2xx.
    Delivered { status: u16 },
    /// Worth another try: no connection, a timeout, a 5xx or a 429.
    Retry {
        error: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// The receiver refused the body for good (another 4xx, a redirect).
    Refused { error: String, status: u16 },
}

/// A webhook's counters, written by its task, read by `stats`.
pub type Counters = Arc<Mutex<WebhookStats>>;

pub fn count(counters: &Counters, f: impl FnOnce(&mut WebhookStats)) {
    if let Ok(mut c) = counters.lock() {
        f(&mut c);
    }
}

/// Makes one attempt to deliver `body` to `hook`: signed when the
/// webhook has a secret, with a fresh timestamp (the delivery id stays).
pub async fn attempt(client: &reqwest::Client, hook: &Webhook, id: &str, body: &[u8]) -> Attempt {
    // Whole seconds, as receivers compare it with their clock.
    let timestamp = (clock::now().max(0.0) as u64).to_string();
    let mut request = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-celadon-delivery", id)
        .header("x-celadon-timestamp", &timestamp)
        .body(body.to_vec());
    if let Some(secret) = &hook.secret {
        request = request.header(
            "x-celadon-signature",
            payload::signature(secret, &timestamp, body),
        );
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return Attempt::Retry {
                error: describe(&error),
                status: None,
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered { status: code };
    }
    let error = format!("answered {status}");
    if status.is_server_error() || code == 429 {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Attempt::Retry {
            error,
            status: Some(code),
            retry_after,
        }
    } else {
        Attempt::Refused {
            error,
            status: code,
        }
    }
}

/// A request's failure in words, without its URL (a Slack webhook's URL
/// is its secret) but with its causes ("connection refused").
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let mut text = if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The webhook's task: takes bodies from `queue`, attempts each when due
/// (a key's bodies in the order they came, at most [`MAX_IN_FLIGHT`]
/// attempts at once), retries or gives up, and counts. Ends on `cancel`
/// (logging what was not delivered) or when its queue closes and nothing
/// is left.
pub async fn run(
    name: String,
    config: watch::Receiver<Arc<Webhook>>,
    mut queue: mpsc::Receiver<Arc<Notice>>,
    client: reqwest::Client,
    counters: Counters,
    cancel: CancellationToken,
) {
    let mut schedule = Schedule::default();
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    loop {
        let now = Instant::now();
        for (seq, job) in schedule.start_due(now, MAX_IN_FLIGHT.saturating_sub(in_flight.len())) {
            let hook = config.borrow().clone();
            let client = client.clone();
            in_flight.push(async move {
                let outcome = attempt(&client, &hook, &job.id, &job.body).await;
                (seq, job, outcome)
            });
        }
        let next = schedule.next_wake(now);
        let held = schedule.waiting() + in_flight.len();
        count(&counters, |c| c.pending = held as u64);
        if !open && held == 0 {
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            Some((seq, job, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                let key = job.key.clone();
                let retry = settle(&name, &counters, job, outcome, Instant::now());
                schedule.finished(seq, &key, retry);
            }
            notice = queue.recv(), if open && held < MAX_PENDING => {
                let Some(notice) = notice else {
                    open = false;
                    continue;
                };
                let format = config.borrow().format;
                schedule.push(Job::new(&notice, payload::body(format, &notice), Instant::now()));
            }
            () = sleep_until(next), if next.is_some() => {}
        }
    }
    // One line per webhook, not per body: a dead receiver may hold
    // MAX_PENDING of them.
    let lost = schedule.waiting() + in_flight.len();
    if lost > 0 {
        let keys: Vec<String> = schedule
            .jobs()
            .take(LOGGED_KEYS)
            .map(|j| format!("{} ({})", j.key, j.status.as_str()))
            .collect();
        tracing::warn!(webhook = %name, not_delivered = lost, in_flight = in_flight.len(),
            ?keys, "webhook bodies not delivered: the webhook was removed or celadon is stopping");
    }
    count(&counters, |c| c.pending = lost as u64);
}

/// Keys named in the line that reports bodies not delivered at a stop.
const LOGGED_KEYS: usize = 10;

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Counts an attempt's outcome; gives the job back, due again, when it is
/// to be retried.
fn settle(
    name: &str,
    counters: &Counters,
    mut job: Job,
    outcome: Attempt,
    ended: Instant,
) -> Option<Job> {
    job.attempts += 1;
    let now = clock::now();
    match outcome {
        Attempt::Delivered { status } => {
            count(counters, |c| {
                c.delivered += 1;
                c.last_delivered_at = Some(now);
            });
            tracing::debug!(webhook = %name, key = %job.key, delivery = %job.id,
                attempts = job.attempts, status, "webhook body delivered");
            None
        }
        Attempt::Retry {
            error, retry_after, ..
        } => {
            let delay = retry_delay(job.attempts, retry_after);
            let give_up = job.attempts >= MAX_ATTEMPTS
                || (ended + delay).saturating_duration_since(job.first) > MAX_AGE;
            count(counters, |c| {
                c.failed_attempts += 1;
                c.given_up += u64::from(give_up);
                c.last_error = Some(error.clone());
                c.last_error_at = Some(now);
            });
            if give_up {
                tracing::warn!(webhook = %name, key = %job.key, delivery = %job.id,
                    attempts = job.attempts, %error, "webhook body given up");
                return None;
            }
            tracing::info!(webhook = %name, key = %job.key, delivery = %job.id,
                attempts = job.attempts, %error, retry_in_s = delay.as_secs_f64(),
                "webhook attempt failed; will retry");
            job.due = ended + delay;
            Some(job)
        }
        Attempt::Refused { error, status } => {
            count(counters, |c| {
                c.failed_attempts += 1;
                c.given_up += 1;
                c.last_error = Some(error.clone());
                c.last_error_at = Some(now);
            });
            tracing::warn!(webhook = %name, key = %job.key, delivery = %job.id,
                status, %error, "webhook refused the body; not retried");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{NoticeStatus, schedule::test_job as job};

    #[test]
    fn the_backoff_doubles_from_one_second_to_five_minutes() {
        let schedule: Vec<u64> = (1..=MAX_ATTEMPTS)
            .map(|n| retry_delay(n, None).as_secs())
            .collect();
        assert_eq!(schedule, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX, None), MAX_BACKOFF);
        // The attempts' waits fit in MAX_AGE, so the attempts run out first.
        let total: Duration = (1..MAX_ATTEMPTS).map(|n| retry_delay(n, None)).sum();
        assert!(total < MAX_AGE, "{total:?}");
    }

    fn counters() -> Counters {
        Arc::new(Mutex::new(WebhookStats::default()))
    }

    fn retry(after: Option<u64>) -> Attempt {
        Attempt::Retry {
            error: "answered 503 Service Unavailable".into(),
            status: Some(503),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn settling_counts_and_reschedules() {
        let t0 = Instant::now();
        let c = counters();
        let j = job("a", NoticeStatus::Firing, t0);
        let j = settle("w", &c, j, retry(None), t0).unwrap();
        assert_eq!((j.attempts, j.due), (1, t0 + FIRST_BACKOFF));
        let t1 = j.due;
        let j = settle("w", &c, j, retry(Some(30)), t1).unwrap();
        assert_eq!((j.attempts, j.due), (2, t1 + Duration::from_secs(30)));
        assert!(settle("w", &c, j, Attempt::Delivered { status: 204 }, t1).is_none());
        let j = job("b", NoticeStatus::Firing, t0);
        let refused = Attempt::Refused {
            error: "answered 410 Gone".into(),
            status: 410,
        };
        assert!(settle("w", &c, j, refused, t0).is_none());
        let got = c.lock().unwrap().clone();
        assert_eq!(
            (got.delivered, got.failed_attempts, got.given_up),
            (1, 3, 1)
        );
        assert_eq!(got.last_error.as_deref(), Some("answered 410 Gone"));
    }

    #[test]
    fn a_body_is_given_up_out_of_attempts_or_of_time() {
        let t0 = Instant::now();
        let c = counters();
        let mut j = job("a", NoticeStatus::Firing, t0);
        j.attempts = MAX_ATTEMPTS - 2;
        let j = settle("w", &c, j, retry(None), t0).unwrap();
        assert!(settle("w", &c, j, retry(None), t0).is_none());
        // The last retry allowed is the one due exactly MAX_AGE after the first.
        let j = job("b", NoticeStatus::Firing, t0);
        let late = t0 + MAX_AGE - FIRST_BACKOFF;
        let j = settle("w", &c, j, retry(None), late).unwrap();
        assert_eq!(j.due, t0 + MAX_AGE);
        let j = job("c", NoticeStatus::Firing, t0);
        assert!(settle("w", &c, j, retry(None), late + Duration::from_millis(1)).is_none());
        let got = c.lock().unwrap().clone();
        assert_eq!((got.given_up, got.failed_attempts), (2, 4));
    }

    #[test]
    fn retry_after_lengthens_a_wait_up_to_its_bound() {
        let s = Duration::from_secs;
        assert_eq!(retry_delay(1, Some(s(30))), s(30));
        assert_eq!(retry_delay(5, Some(s(3))), s(16));
        assert_eq!(retry_delay(1, Some(s(86_400))), MAX_RETRY_AFTER);
    }
}
