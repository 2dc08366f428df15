//! Waiting with a deadline: the kit's one way to synchronise with what it
//! started. A condition is checked every [`INTERVAL`] until it holds, the
//! check fails, or the deadline passes; nothing waits a fixed time hoping
//! that is enough.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// How often a condition is checked: short next to every deadline, long
/// enough not to load a 2-core machine while a Python process starts.
pub const INTERVAL: Duration = Duration::from_millis(20);

/// Checks `probe` until it gives `Some`, blocking the thread between
/// checks. An error from `probe` ends the wait at once (the awaited thing
/// cannot happen any more, e.g. its process exited).
pub fn until<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe().with_context(|| format!("waiting for {what}"))? {
            return Ok(value);
        }
        if start.elapsed() >= deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(INTERVAL);
    }
}

/// As [`until`], for async callers: yields to the runtime between checks,
/// so what runs beside the caller (an in-process celadon) keeps running.
pub async fn until_async<T, F>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> F,
) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe()
            .await
            .with_context(|| format!("waiting for {what}"))?
        {
            return Ok(value);
        }
        if start.elapsed() >= deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_the_probe_gives() {
        let mut calls = 0;
        let got = until("the third call", Duration::from_secs(5), || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn names_what_it_waited_for_when_the_deadline_passes() {
        let error = until("nothing", Duration::from_millis(50), || Ok(None::<()>)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "timed out after 50ms waiting for nothing"
        );
    }

    #[test]
    fn a_failing_probe_ends_the_wait_at_once() {
        let start = Instant::now();
        let error = until::<()>("a dead process", Duration::from_secs(60), || {
            bail!("it exited")
        })
        .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            format!("{error:#}"),
            "waiting for a dead process: it exited"
        );
    }

    #[tokio::test]
    async fn the_async_wait_lets_other_tasks_run_between_checks() {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move { tx.send(7) });
        let got = until_async("the other task", Duration::from_secs(5), || {
            std::future::ready(Ok(rx.try_recv().ok()))
        })
        .await;
        assert_eq!(got.unwrap(), 7);
    }
}
