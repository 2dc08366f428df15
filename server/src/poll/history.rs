//! The save loop: every `--state-save-interval` it takes what changed in
//! the model (a bounded batch at a time) and has the history store write
//! it, waiting for each write before taking more. While a write is slow,
//! the model keeps collecting changes, one entry per task in its latest
//! state, so a store that falls behind catches up with fewer, fuller
//! batches, and ingestion never waits on the disk. A failed write (a full
//! disk, a database that went away) is kept and tried again, so nothing
//! taken is lost; it is reported in the status and the log, once per
//! failure spell. While another replica writes a shared database, this
//! loop takes nothing (see `store::Writer::stands_by`).

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    clock,
    state::owner::StateHandle,
    store::{Batch, Status, StoreError, Writer},
};

/// Tasks taken from the model per write, at most: a batch is one
/// transaction, and its rows are copied out on the model's thread.
pub const MAX_SAVE_ROWS: usize = 50_000;

/// After a failed write, the next try waits this long.
const RETRY_AFTER: Duration = Duration::from_secs(2);

pub async fn run(
    state: StateHandle,
    writer: Writer,
    status: Arc<Status>,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut saver = Saver {
        state,
        writer,
        status,
        held: None,
        drained_at: clock::now(),
        failing: false,
    };
    loop {
        let wait = if saver.failing { RETRY_AFTER } else { interval };
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        saver.save().await;
    }
    // A last write of what changed before the stop, while the model's
    // owner still answers (it stops after every loop has ended).
    saver.save().await;
}

struct Saver {
    state: StateHandle,
    writer: Writer,
    status: Arc<Status>,
    /// A batch whose write failed, written before anything newer.
    held: Option<Batch>,
    /// When the model last had nothing left unwritten.
    drained_at: f64,
    failing: bool,
}

impl Saver {
    /// Writes until the model has nothing more, or a write fails.
    async fn save(&mut self) {
        loop {
            // Another replica writes: the model keeps every change, for
            // this one to write should it take over.
            if self.writer.stands_by() {
                return;
            }
            let batch = match self.held.take() {
                Some(batch) => batch,
                None => {
                    let at = clock::now();
                    let Ok(unsaved) = self.state.take_unsaved(MAX_SAVE_ROWS).await else {
                        return;
                    };
                    self.status.update(|s| s.unsaved_dropped = unsaved.dropped);
                    if unsaved.tasks.is_empty() {
                        self.drained(at);
                        return;
                    }
                    if !unsaved.more {
                        self.drained(at);
                    }
                    Batch {
                        at,
                        tasks: unsaved.tasks,
                        rest: None,
                    }
                }
            };
            match self.writer.write(batch.clone()).await {
                Ok(()) => {
                    if self.failing {
                        tracing::info!("history is being written again");
                        self.failing = false;
                    }
                }
                Err(StoreError::Stopped) => return,
                // The writer's lock went to another replica since the
                // check above: the batch waits until this one writes again.
                Err(StoreError::Standby) => {
                    self.held = Some(batch);
                    return;
                }
                Err(error) => {
                    if !self.failing {
                        tracing::error!(%error, "history is not being written; the live model is unaffected, and writing resumes when the store answers");
                    }
                    self.failing = true;
                    self.held = Some(batch);
                    self.lag();
                    return;
                }
            }
            self.lag();
            if self.drained_at >= batch.at {
                return;
            }
        }
    }

    fn drained(&mut self, at: f64) {
        self.drained_at = at;
    }

    fn lag(&self) {
        let lag = (clock::now() - self.drained_at).max(0.0);
        self.status.update(|s| s.lag_seconds = lag);
    }
}
