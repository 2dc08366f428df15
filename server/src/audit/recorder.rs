//! The [`Recorder`]: the handle every recording goes through, and the
//! appender task behind it, which alone holds the [`Trail`]. The appender
//! takes what is queued (up to [`APPEND_BATCH`]), appends it in one
//! transaction, writes each entry's log line, and only then answers each
//! recording: a request that records waits until its entry is kept.

use std::time::Duration;

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{
    Entry, NewEntry,
    trail::{Trail, TrailReader},
};
use crate::clock;

/// Recordings waiting for the appender. When it is full (the store is
/// slow or down) a recording waits for room: the request behind it waits
/// too, and no entry is dropped.
pub const RECORD_QUEUE: usize = 256;

/// Entries appended in one transaction, at most.
pub const APPEND_BATCH: usize = 64;

/// How long the appender waits before it tries a failed append again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

struct Recording {
    entry: NewEntry,
    at: i64,
    kept: oneshot::Sender<Entry>,
}

/// Records entries; cheap to clone. The appender ends once every handle
/// is dropped, after appending everything recorded.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Recording>,
    reader: TrailReader,
}

/// The recorder could not keep the entry: celadon is stopping and the
/// store would not take it. It was written to the log at error level.
#[derive(Debug, thiserror::Error)]
#[error("the audit trail has stopped")]
pub struct Stopped;

impl Recorder {
    /// Starts the appender on `trail`. After `cancel`, an append that
    /// fails is not tried again: its entries are logged as not kept, so
    /// that a store that is down cannot hold shutdown up forever.
    pub fn start(trail: Trail, cancel: CancellationToken) -> (Recorder, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(RECORD_QUEUE);
        let reader = trail.reader();
        let task = tokio::spawn(append_loop(trail, rx, cancel));
        (Recorder { queue, reader }, task)
    }

    /// Records `entry`, timed now, and waits until it is kept.
    pub async fn record(&self, entry: NewEntry) -> Result<Entry, Stopped> {
        let at = (clock::now() * 1000.0).round() as i64;
        let (kept, answer) = oneshot::channel();
        if let Err(refused) = self.queue.send(Recording { entry, at, kept }).await {
            not_kept(&refused.0.entry, "the audit trail has stopped");
            return Err(Stopped);
        }
        answer.await.map_err(|_| Stopped)
    }

    /// Reads the trail.
    pub fn reader(&self) -> &TrailReader {
        &self.reader
    }
}

async fn append_loop(
    mut trail: Trail,
    mut rx: mpsc::Receiver<Recording>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::with_capacity(APPEND_BATCH);
    while rx.recv_many(&mut batch, APPEND_BATCH).await > 0 {
        let entries: Vec<(NewEntry, i64)> = batch.iter().map(|r| (r.entry.clone(), r.at)).collect();
        let sealed = loop {
            match trail.append(entries.clone()).await {
                Ok(sealed) => break Some(sealed),
                Err(error) if cancel.is_cancelled() => {
                    for r in &batch {
                        not_kept(&r.entry, &error.to_string());
                    }
                    break None;
                }
                Err(error) => {
                    tracing::error!(
                        target: "celadon::audit",
                        %error,
                        waiting = batch.len(),
                        "the audit trail could not be written; trying again"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                        () = cancel.cancelled() => {}
                    }
                }
            }
        };
        for (recording, entry) in batch.drain(..).zip(sealed.into_iter().flatten()) {
            log(&entry);
            let _ = recording.kept.send(entry);
        }
    }
}

/// The entry's structured log line.
fn log(e: &Entry) {
    tracing::info!(
        target: "celadon::audit",
        seq = e.seq,
        who = %e.who,
        role = e.role.map_or("none", |r| r.as_str()),
        via = %e.via,
        client = %e.client,
        action = %e.action,
        target = e.target.as_deref().unwrap_or(""),
        params = %e.params,
        outcome = e.outcome.result.as_str(),
        status = e.outcome.status,
        hash = %e.hash,
        "{} {} by {}: {}",
        e.action,
        e.target.as_deref().unwrap_or(""),
        e.who,
        e.outcome.result.as_str(),
    );
}

fn not_kept(e: &NewEntry, why: &str) {
    tracing::error!(
        target: "celadon::audit",
        who = %e.who,
        role = e.role.map_or("none", |r| r.as_str()),
        via = %e.via,
        client = %e.client,
        action = %e.action,
        target = e.target.as_deref().unwrap_or(""),
        params = %e.params,
        outcome = e.outcome.result.as_str(),
        status = e.outcome.status,
        why,
        "audit entry not kept in the trail (only in this log)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::new_entry;

    #[tokio::test]
    async fn each_recording_is_kept_in_order_and_the_chain_holds() {
        let (recorder, task) = Recorder::start(Trail::open(None).await, CancellationToken::new());
        let mut waiting = Vec::new();
        for i in 0..200 {
            let r = recorder.clone();
            waiting.push(tokio::spawn(async move {
                r.record(new_entry(&format!("task.n{i}"))).await
            }));
        }
        for w in waiting {
            assert!(w.await.unwrap().is_ok());
        }
        let reader = recorder.reader().clone();
        assert_eq!(reader.verify().await.unwrap(), (200, None));
        let page = reader
            .page(crate::audit::Query {
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [200, 199, 198, 197, 196]
        );
        assert!(!reader.persisted());
        drop(recorder);
        task.await.unwrap();
    }
}
