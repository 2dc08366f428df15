//! Webhook notifications over real HTTP: celadon's notifier delivering to
//! the kit's receiver (`kit::webhook`), which records the exact bytes and
//! headers and answers 500, 404 or nothing when told. The backoff is the
//! real one (1 s, then 2 s), so the retry tests take a few seconds.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use kit::{WebhookReceiver, webhook::Answer};
use server::notify::{
    Format, Notice, NoticeStatus, Notifier, NotifyError, Secret, Webhook, WebhookStats, body,
};

/// Time enough for a delivery that is due now (no backoff) to arrive.
const ARRIVE: Duration = Duration::from_secs(5);
/// Time enough for two retries (1 s and 2 s of backoff) and an arrival.
const RETRIED: Duration = Duration::from_secs(15);

fn notice(key: &str, status: NoticeStatus) -> Notice {
    Notice {
        key: key.to_string(),
        status,
        rule: "worker offline".to_string(),
        summary: "worker celery@a offline for 62 s".to_string(),
        details: vec![("worker".to_string(), "celery@a".to_string())],
        link: "http://celadon.example/worker/celery@a".to_string(),
        started_at: 1_700_000_000.5,
        ended_at: (status == NoticeStatus::Resolved).then_some(1_700_000_100.0),
    }
}

fn hook(name: &str, url: String, format: Format, secret: Option<&str>) -> Webhook {
    Webhook {
        name: name.to_string(),
        url,
        format,
        secret: secret.map(Secret::new),
    }
}

/// A notifier and what owns its tasks; `stop` checks they end.
struct Running {
    notifier: Notifier,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Running {
    fn start(webhooks: Vec<Webhook>) -> Running {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let notifier = Notifier::start(webhooks, cancel.clone(), &tracker).unwrap();
        Running {
            notifier,
            cancel,
            tracker,
        }
    }

    fn stats(&self, name: &str) -> WebhookStats {
        self.notifier
            .stats()
            .webhooks
            .into_iter()
            .find(|w| w.name == name)
            .unwrap()
    }

    /// Waits until `name` holds nothing (delivered or given up).
    async fn settled(&self, name: &str) -> WebhookStats {
        kit::poll::until_async(&format!("{name} to settle"), RETRIED, || {
            let s = self.stats(name);
            std::future::ready(Ok((s.pending == 0).then_some(s)))
        })
        .await
        .unwrap()
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(2), self.tracker.wait())
            .await
            .expect("the notifier's tasks end on cancel");
    }
}

/// A body as text, to compare exactly and show readably: celadon's
/// bodies are UTF-8 JSON, so this fails on any other bytes.
fn text(body: &[u8]) -> &str {
    std::str::from_utf8(body).expect("a UTF-8 body")
}

fn hex_hmac(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_and_its_resolution_arrive_once_each_signed() {
    let receiver = WebhookReceiver::start().await.unwrap();
    let run = Running::start(vec![hook(
        "ops",
        receiver.url("/hook"),
        Format::Generic,
        Some("s3cret"),
    )]);
    let firing = notice("worker offline#1", NoticeStatus::Firing);
    let resolved = notice("worker offline#1", NoticeStatus::Resolved);
    run.notifier.notify(firing.clone());
    run.notifier.notify(firing.clone());
    run.notifier.notify(resolved.clone());
    run.notifier.notify(resolved.clone());
    let got = receiver.wait_for(2, ARRIVE).await.unwrap();
    let stats = run.settled("ops").await;
    // Settled: nothing more can come, so exactly two requests.
    let got_all = receiver.requests();
    assert_eq!(got_all.len(), 2, "{got_all:#?}");
    assert_eq!(text(&got[0].body), text(&body(Format::Generic, &firing)));
    assert_eq!(text(&got[1].body), text(&body(Format::Generic, &resolved)));
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let timestamp = r.header("x-celadon-timestamp").unwrap();
        assert!(timestamp.bytes().all(|b| b.is_ascii_digit()), "{timestamp}");
        let age = server::clock::now() - timestamp.parse::<f64>().unwrap();
        assert!((0.0..30.0).contains(&age), "timestamp {timestamp}");
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(&r.body);
        assert_eq!(
            r.header("x-celadon-signature").unwrap(),
            format!("sha256={}", hex_hmac("s3cret", &signed))
        );
        uuid::Uuid::parse_str(r.header("x-celadon-delivery").unwrap()).unwrap();
    }
    assert_ne!(
        got[0].header("x-celadon-delivery"),
        got[1].header("x-celadon-delivery")
    );
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.given_up),
        (2, 0, 0)
    );
    assert_eq!(run.notifier.stats().duplicates, 2);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_retried_with_backoff_and_its_resolution_waits() {
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.fail_first(2, 500);
    let run = Running::start(vec![hook(
        "slack",
        receiver.url("/slack"),
        Format::Slack,
        None,
    )]);
    let firing = notice("queue deep#4", NoticeStatus::Firing);
    let resolved = notice("queue deep#4", NoticeStatus::Resolved);
    run.notifier.notify(firing.clone());
    run.notifier.notify(resolved.clone());
    let got = receiver.wait_for(4, RETRIED).await.unwrap();
    let stats = run.settled("slack").await;
    assert_eq!(receiver.requests().len(), 4);
    let answered: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 200, 200]);
    let firing_body = body(Format::Slack, &firing);
    for r in &got[..3] {
        assert_eq!(text(&r.body), text(&firing_body));
        assert_eq!(r.header("x-celadon-signature"), None);
        assert_eq!(
            r.header("x-celadon-delivery"),
            got[0].header("x-celadon-delivery")
        );
    }
    assert_eq!(text(&got[3].body), text(&body(Format::Slack, &resolved)));
    // The schedule: 1 s after the first failure, 2 s after the second.
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    assert!(
        gap1 >= Duration::from_millis(990) && gap1 < Duration::from_secs(2),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(1990) && gap2 < Duration::from_secs(3),
        "{gap2:?}"
    );
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.given_up),
        (2, 2, 0)
    );
    assert_eq!(
        stats.last_error.as_deref(),
        Some("answered 500 Internal Server Error")
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_given_up_at_once() {
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.fail_first(1, 404);
    let run = Running::start(vec![hook("gone", receiver.url("/"), Format::Generic, None)]);
    run.notifier.notify(notice("stuck#1", NoticeStatus::Firing));
    receiver.wait_for(1, ARRIVE).await.unwrap();
    let stats = run.settled("gone").await;
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.given_up),
        (0, 1, 1)
    );
    assert_eq!(receiver.requests().len(), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_hanging_webhook_delays_no_other() {
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.answer(Some("/hang"), None, Answer::Hang);
    let dead = format!("http://127.0.0.1:{}/", kit::free_port().unwrap());
    let run = Running::start(vec![
        hook("dead", dead, Format::Generic, None),
        hook("hang", receiver.url("/hang"), Format::Generic, None),
        hook("good", receiver.url("/good"), Format::Generic, None),
    ]);
    let started = Instant::now();
    for i in 0..3 {
        run.notifier
            .notify(notice(&format!("k#{i}"), NoticeStatus::Firing));
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    let good = receiver.wait_for_path("/good", 3, ARRIVE).await.unwrap();
    // Well inside the hanging webhook's 10 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(good.len(), 3);
    assert_eq!(run.settled("good").await.delivered, 3);
    let dead = kit::poll::until_async("the dead webhook's failure", ARRIVE, || {
        let s = run.stats("dead");
        std::future::ready(Ok((s.failed_attempts >= 1).then_some(s)))
    })
    .await
    .unwrap();
    let error = dead.last_error.unwrap();
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(!error.contains("127.0.0.1"), "the URL stays out: {error}");
    assert_eq!(run.stats("hang").pending, 3);
    // Stopping does not wait for the hanging receiver.
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_reports_the_receivers_answer() {
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.fail_path("/t", 1, 503);
    let dead = format!("http://127.0.0.1:{}/", kit::free_port().unwrap());
    let run = Running::start(vec![
        hook("t", receiver.url("/t"), Format::Generic, Some("k")),
        hook("dead", dead, Format::Slack, None),
    ]);
    let first = run.notifier.test("t").await.unwrap();
    assert_eq!(first.status, 503);
    assert!(!first.delivered());
    let second = run.notifier.test("t").await.unwrap();
    assert_eq!(second.status, 200);
    assert!(second.delivered());
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].header("x-celadon-delivery"),
        Some(second.id.as_str())
    );
    let payload: app::wire::notify::GenericPayload = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(payload.status, NoticeStatus::Test);
    assert!(got[1].header("x-celadon-signature").is_some());
    assert_eq!(
        run.notifier.test("nope").await,
        Err(NotifyError::Unknown("nope".to_string()))
    );
    let Err(NotifyError::Unreachable { webhook, why }) = run.notifier.test("dead").await else {
        panic!("a closed port is unreachable");
    };
    assert_eq!(webhook, "dead");
    assert!(why.starts_with("could not connect"), "{why}");
    // Tests are not counted as deliveries.
    assert_eq!(run.stats("t").delivered, 0);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_validated_and_replaced_by_name() {
    let receiver = WebhookReceiver::start().await.unwrap();
    let run = Running::start(vec![hook("a", receiver.url("/a1"), Format::Generic, None)]);
    let bad = run
        .notifier
        .set_webhooks(vec![hook("a", "ftp://x/".into(), Format::Generic, None)]);
    assert_eq!(
        bad.unwrap_err().to_string(),
        "webhook \"a\": the URL's scheme is \"ftp\"; only http and https are sent to"
    );
    let twice = run.notifier.set_webhooks(vec![
        hook("a", receiver.url("/"), Format::Generic, None),
        hook("a", receiver.url("/"), Format::Generic, None),
    ]);
    assert_eq!(twice, Err(NotifyError::Duplicate("a".into())));
    // The refused sets changed nothing.
    run.notifier.notify(notice("x#1", NoticeStatus::Firing));
    receiver.wait_for_path("/a1", 1, ARRIVE).await.unwrap();
    // A kept name keeps its counters and sends to its new URL.
    run.notifier
        .set_webhooks(vec![
            hook("a", receiver.url("/a2"), Format::Generic, None),
            hook("b", receiver.url("/b"), Format::Generic, None),
        ])
        .unwrap();
    run.notifier.notify(notice("x#2", NoticeStatus::Firing));
    receiver.wait_for_path("/a2", 1, ARRIVE).await.unwrap();
    receiver.wait_for_path("/b", 1, ARRIVE).await.unwrap();
    assert_eq!(run.settled("a").await.delivered, 2);
    let names: Vec<String> = run
        .notifier
        .stats()
        .webhooks
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    // A removed webhook's task ends.
    assert_eq!(run.tracker.len(), 2);
    run.notifier
        .set_webhooks(vec![hook("b", receiver.url("/b"), Format::Generic, None)])
        .unwrap();
    kit::poll::until_async("the removed webhook's task to end", ARRIVE, || {
        std::future::ready(Ok((run.tracker.len() == 1).then_some(())))
    })
    .await
    .unwrap();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429s_retry_after_is_waited() {
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.answer(
        None,
        Some(1),
        Answer::Status {
            status: 429,
            retry_after: Some(2),
        },
    );
    let run = Running::start(vec![hook("busy", receiver.url("/"), Format::Generic, None)]);
    run.notifier.notify(notice("q#1", NoticeStatus::Firing));
    let got = receiver.wait_for(2, RETRIED).await.unwrap();
    let gap = got[1].at - got[0].at;
    // Its 2 s, not the backoff's 1 s.
    assert!(
        gap >= Duration::from_millis(1990) && gap < Duration::from_secs(3),
        "{gap:?}"
    );
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [429, 200]
    );
    let stats = run.settled("busy").await;
    assert_eq!((stats.delivered, stats.failed_attempts), (1, 1));
    run.stop().await;
}

/// A webhook that never answers holds MAX_PENDING bodies, then its queue
/// fills, then notices are dropped for it, counted, while another webhook
/// gets every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_webhook_holds_a_bounded_number_then_drops() {
    use server::notify::{MAX_IN_FLIGHT, MAX_PENDING, WEBHOOK_QUEUE};
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.answer(Some("/stuck"), None, Answer::Hang);
    let run = Running::start(vec![
        hook("stuck", receiver.url("/stuck"), Format::Generic, None),
        hook("fine", receiver.url("/fine"), Format::Generic, None),
    ]);
    // Sent a queue's worth at a time, each taken before the next, so
    // neither queue overflows before the stuck webhook holds MAX_PENDING.
    let mut sent = 0;
    let send = |sent: &mut usize, n: usize| {
        for _ in 0..n {
            run.notifier
                .notify(notice(&format!("k#{sent}"), NoticeStatus::Firing));
            *sent += 1;
        }
    };
    let taken = |name: &'static str, n: usize| {
        let run = &run;
        async move {
            kit::poll::until_async(&format!("{name} to take {n} notices"), ARRIVE, || {
                let s = run.stats(name);
                std::future::ready(Ok((s.pending + s.delivered >= n as u64).then_some(())))
            })
            .await
            .unwrap();
        }
    };
    while sent < MAX_PENDING {
        send(&mut sent, WEBHOOK_QUEUE);
        taken("stuck", sent).await;
        taken("fine", sent).await;
    }
    assert_eq!(run.stats("stuck").pending, MAX_PENDING as u64);
    // The stuck webhook's queue fills…
    send(&mut sent, WEBHOOK_QUEUE);
    taken("fine", sent).await;
    assert_eq!(run.stats("stuck").dropped, 0);
    // …and what comes next is dropped for it alone.
    send(&mut sent, 10);
    let stuck = run.stats("stuck");
    assert_eq!((stuck.dropped, stuck.pending), (10, MAX_PENDING as u64));
    assert_eq!(receiver.requests_to("/stuck").len(), MAX_IN_FLIGHT);
    let total = MAX_PENDING + WEBHOOK_QUEUE + 10;
    receiver
        .wait_for_path("/fine", total, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(run.settled("fine").await.delivered, total as u64);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsaved_webhook_can_be_tested() {
    let receiver = WebhookReceiver::start().await.unwrap();
    let run = Running::start(Vec::new());
    let slack = hook("new", receiver.url("/new"), Format::Slack, None);
    let delivery = run.notifier.test_webhook(&slack).await.unwrap();
    assert_eq!(delivery.status, 200);
    let got = receiver.requests();
    let message: app::wire::notify::SlackMessage = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        message.text,
        "[TEST] test: A test notification from celadon to the webhook \"new\""
    );
    let bad = hook("new", "ftp://x/".into(), Format::Slack, None);
    assert!(matches!(
        run.notifier.test_webhook(&bad).await,
        Err(NotifyError::Invalid { .. })
    ));
    assert!(run.notifier.stats().webhooks.is_empty());
    run.stop().await;
}
