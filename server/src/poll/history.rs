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

use app::wire::HistoryHealth;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    clock,
    state::owner::StateHandle,
    store::{Batch, PagedQuery, Reader, Status, StoreError, TaskOrder, Writer},
};

/// Tasks taken from the model per write, at most: a batch is one
/// transaction, and its rows are copied out on the model's thread.
pub const MAX_SAVE_ROWS: usize = 50_000;

/// Tasks read back at start before the model starts: enough for every
/// page's first screen; the rest follow a chunk at a time
/// ([`load_older`]), so a restart with a million stored tasks serves its
/// pages at once.
pub const FIRST_LOAD: usize = 20_000;

/// Older tasks read back per chunk after the start.
const LOAD_CHUNK: usize = 5_000;

/// After a failed write, the next try waits this long.
const RETRY_AFTER: Duration = Duration::from_secs(2);

pub async fn run(
    state: StateHandle,
    writer: Writer,
    status: Arc<Status>,
    health: watch::Sender<HistoryHealth>,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut saver = Saver {
        state,
        writer,
        status,
        health,
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

/// Reads the rest of history's newest tasks back into the model after it
/// started, newest first, a chunk at a time, up to `left` tasks or the
/// model's limits. Events applied meanwhile win: a task the model already
/// holds keeps its copy.
pub async fn load_older(
    state: StateHandle,
    reader: Reader,
    mut next: (f64, i64),
    mut left: usize,
    status: Arc<Status>,
    cancel: CancellationToken,
) {
    let started = std::time::Instant::now();
    let mut loaded = 0;
    while left > 0 {
        let query = PagedQuery {
            states: Vec::new(),
            name: None,
            worker: None,
            from: None,
            to: None,
            words: None,
            order: TaskOrder::AtDesc,
            after: Some(next),
            limit: left.min(LOAD_CHUNK),
        };
        let page = tokio::select! {
            () = cancel.cancelled() => return,
            page = reader.page(query) => page,
        };
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading older history back stopped");
                break;
            }
        };
        let Some(last) = page.last() else {
            break;
        };
        next = last.cursor;
        left = left.saturating_sub(page.len());
        let rows = page.into_iter().map(|p| p.row).collect();
        let Ok(restored) = state.restore_older(rows).await else {
            return;
        };
        loaded += restored.put;
        status.update(|s| s.loaded_tasks += restored.put as u64);
        if restored.full {
            break;
        }
    }
    tracing::info!(
        loaded,
        took_ms = started.elapsed().as_millis() as u64,
        "older history read back"
    );
}

struct Saver {
    state: StateHandle,
    writer: Writer,
    status: Arc<Status>,
    /// What every page says about history.
    health: watch::Sender<HistoryHealth>,
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
                    let Ok(unsaved) = self.state.take_unsaved(MAX_SAVE_ROWS, at).await else {
                        return;
                    };
                    self.status.update(|s| s.unsaved_dropped = unsaved.dropped);
                    if !unsaved.more {
                        self.drained(at);
                    }
                    // With no task changed, the charts and counters still
                    // move (heartbeats, the clock): they are written alone.
                    Batch {
                        at,
                        tasks: unsaved.tasks,
                        rest: unsaved.rest,
                    }
                }
            };
            match self.writer.write(batch.clone()).await {
                Ok(()) => {
                    if self.failing {
                        tracing::info!("history is being written again");
                        self.failing = false;
                        self.health.send_replace(HistoryHealth {
                            writing: true,
                            problem: None,
                        });
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
                        self.health.send_replace(HistoryHealth {
                            writing: false,
                            problem: Some(format!(
                                "history is not being written (pages stay live; it resumes by itself): {error}"
                            )),
                        });
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
