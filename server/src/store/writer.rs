//! The store's own thread, which alone writes, and the readers beside it.
//! SQLite in WAL mode lets readers read while the writer writes, so a
//! history page never waits for a batch.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    Batch, HistoryConfig, Loaded, Location, Paged, PagedQuery, Status, StoreError, TaskRow,
    sqlite::Sqlite,
};
use crate::clock;

/// Batches handed to the writer's thread at once. The save loop waits for
/// each write to finish before it takes the next from the model, so one is
/// enough; the model coalesces what changes meanwhile.
const WRITE_QUEUE: usize = 1;

/// Oldest tasks pruned after each write, at most: retention keeps up over
/// a few writes instead of stalling one.
pub const PRUNE_STEP: usize = 5_000;

/// Read connections open at once; more readers wait their turn.
pub const MAX_READERS: usize = 4;

struct WriteRequest {
    batch: Batch,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands batches to the writer's thread.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::Sender<WriteRequest>,
}

impl Writer {
    /// Writes `batch` (all or nothing) and waits for it.
    pub async fn write(&self, batch: Batch) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(WriteRequest { batch, reply })
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

/// The writer's OS thread: SQLite's calls block, and a batch can take a
/// good part of a second.
pub struct WriterThread(std::thread::JoinHandle<()>);

impl WriterThread {
    /// Waits for the thread, which ends once every [`Writer`] is dropped.
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.0.join()).await;
    }
}

/// Opens the history (creating it if there is none), reads back the
/// newest `load_limit` tasks and the model's other state, and starts the
/// writer. Blocking: call it off the async runtime.
pub fn open(
    config: &HistoryConfig,
    load_limit: usize,
    status: Arc<Status>,
) -> Result<(Writer, WriterThread, Reader, Loaded), StoreError> {
    let Location::Sqlite(path) = &config.location;
    let mut db = Sqlite::open(path)?;
    let loaded = db.load(load_limit)?;
    let size = db.size()?;
    status.update(|s| {
        s.available = true;
        s.writing = true;
        s.size_bytes = size;
        s.rows_written = loaded.stored;
        s.loaded_tasks = loaded.tasks.len() as u64;
    });
    let (requests, rx) = mpsc::channel(WRITE_QUEUE);
    let policy = config.clone();
    let thread_status = status.clone();
    let thread = std::thread::Builder::new()
        .name("celadon-history".into())
        .spawn(move || write_loop(db, rx, &policy, &thread_status))
        .map_err(|e| StoreError::Io(path.clone(), e))?;
    let reader = Reader {
        path: path.clone(),
        pool: Arc::new(Mutex::new(Vec::new())),
        permits: Arc::new(Semaphore::new(MAX_READERS)),
    };
    Ok((Writer { requests }, WriterThread(thread), reader, loaded))
}

fn write_loop(
    mut db: Sqlite,
    mut requests: mpsc::Receiver<WriteRequest>,
    policy: &HistoryConfig,
    status: &Status,
) {
    while let Some(WriteRequest { batch, reply }) = requests.blocking_recv() {
        let started = Instant::now();
        let rows = batch.tasks.len();
        let written = db.write(&batch);
        let took = started.elapsed().as_secs_f64();
        let pruned = if written.is_ok() {
            prune(&mut db, policy)
        } else {
            0
        };
        let size = db.size().ok();
        status.update(|s| {
            s.tasks_pruned += pruned as u64;
            if let Some(size) = size {
                s.size_bytes = size;
            }
            match &written {
                Ok(()) => {
                    s.writing = true;
                    s.batches_written += 1;
                    s.rows_written += rows as u64;
                    if rows > 0 && took > 0.0 {
                        s.write_rate = rows as f64 / took;
                    }
                    s.last_write_at = Some(clock::now());
                }
                Err(e) => {
                    s.writing = false;
                    s.write_errors += 1;
                    s.last_error = Some(e.to_string());
                }
            }
        });
        let _ = reply.send(written);
    }
    // Every write is in; fold the WAL into the file so it is whole alone.
    if let Err(error) = db.checkpoint() {
        tracing::warn!(%error, "could not fold the history's WAL into its file");
    }
}

/// One step of retention: tasks past `--history-retention`, then the
/// oldest while over `--history-max-size`.
fn prune(db: &mut Sqlite, policy: &HistoryConfig) -> usize {
    let mut pruned = 0;
    if let Some(keep) = policy.retention {
        let before = clock::now() - keep.as_secs_f64();
        match db.prune(Some(before), false, PRUNE_STEP) {
            Ok(n) => pruned += n,
            Err(error) => tracing::warn!(%error, "pruning old history failed"),
        }
    }
    if let Some(max) = policy.max_size
        && db.size().is_ok_and(|size| size > max)
    {
        match db.prune(None, true, PRUNE_STEP) {
            Ok(n) => pruned += n,
            Err(error) => tracing::warn!(%error, "pruning history over its size failed"),
        }
    }
    pruned
}

/// Reads history beside the writer: a task, a page. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    path: std::path::PathBuf,
    /// Open read connections, reused. A mutex: it is held only to push or
    /// pop one, never across a query.
    pool: Arc<Mutex<Vec<Sqlite>>>,
    permits: Arc<Semaphore>,
}

impl Reader {
    /// Runs `f` on a read connection, off the async runtime.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Sqlite) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Stopped)?;
        let path = self.path.clone();
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().ok().and_then(|mut p| p.pop());
            let db = match taken {
                Some(db) => db,
                None => Sqlite::open_read(&path)?,
            };
            let answer = f(&db);
            if let Ok(mut p) = pool.lock() {
                p.push(db);
            }
            answer
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }

    pub async fn task(&self, id: String) -> Result<Option<TaskRow>, StoreError> {
        self.with(move |db| db.task(&id)).await
    }

    pub async fn page(&self, query: PagedQuery) -> Result<Vec<Paged>, StoreError> {
        self.with(move |db| db.page(&query)).await
    }
}
