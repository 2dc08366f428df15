//! The store's writer, which alone writes, and the readers beside it:
//! the same API over both backends. For SQLite, the writer is an OS
//! thread (its calls block), and WAL mode lets readers read while it
//! writes, so a history page never waits for a batch; for PostgreSQL, a
//! task (`store::postgres`), which writes only while this replica holds
//! the writer's lock.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use super::{
    Batch, HistoryConfig, Loaded, Location, Paged, PagedQuery, Role, Status, StoreError, TaskRow,
    postgres::{self, PgReader},
    sqlite::{Checkpointer, Sqlite, WAL_LIMIT},
};
use crate::clock;

/// Batches handed to the writer at once. The save loop waits for each
/// write to finish before it takes the next from the model, so one is
/// enough; the model coalesces what changes meanwhile.
pub const WRITE_QUEUE: usize = 1;

/// Oldest tasks pruned after each write, at most: retention keeps up over
/// a few writes instead of stalling one.
pub const PRUNE_STEP: usize = 5_000;

/// Read connections open at once; more readers wait their turn.
pub const MAX_READERS: usize = 4;

pub struct WriteRequest {
    pub batch: Batch,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands batches to the writer.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::Sender<WriteRequest>,
    role: watch::Receiver<Role>,
}

impl Writer {
    pub fn new(requests: mpsc::Sender<WriteRequest>, role: watch::Receiver<Role>) -> Writer {
        Writer { requests, role }
    }

    /// Whether another replica writes the history: then this one takes
    /// nothing from the model, so that all it holds as changed is written
    /// should it take over.
    pub fn stands_by(&self) -> bool {
        *self.role.borrow() == Role::Standby
    }

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

/// The writer: SQLite's OS thread (its calls block, and a batch can take
/// a good part of a second), or PostgreSQL's task.
pub struct WriterThread(Running);

enum Running {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl WriterThread {
    pub fn task(handle: tokio::task::JoinHandle<()>) -> WriterThread {
        WriterThread(Running::Task(handle))
    }

    /// Waits for the writer, which ends once every [`Writer`] is dropped.
    pub async fn join(self) {
        match self.0 {
            Running::Thread(thread) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            Running::Task(task) => {
                let _ = task.await;
            }
        }
    }
}

/// Opens the history (creating it if there is none), reads back the
/// newest `load_limit` tasks and the model's other state, and starts the
/// writer.
pub async fn open(
    config: &HistoryConfig,
    load_limit: usize,
    status: Arc<Status>,
) -> Result<(Writer, WriterThread, Reader, Loaded), StoreError> {
    match &config.location {
        Location::Sqlite(path) => {
            let (config, path) = (config.clone(), path.clone());
            tokio::task::spawn_blocking(move || open_sqlite(&config, &path, load_limit, status))
                .await
                .map_err(|_| StoreError::Stopped)?
        }
        Location::Postgres(url) => postgres::open(url, config, load_limit, status).await,
    }
}

/// [`open`] for SQLite. Blocking.
fn open_sqlite(
    config: &HistoryConfig,
    path: &std::path::Path,
    load_limit: usize,
    status: Arc<Status>,
) -> Result<(Writer, WriterThread, Reader, Loaded), StoreError> {
    let mut db = Sqlite::open(path)?;
    let loaded = db.load(load_limit)?;
    let size = db.size()?;
    status.update(|s| {
        s.available = true;
        s.writing = true;
        s.role = Role::Writer;
        s.size_bytes = size;
        s.rows_written = loaded.stored;
        s.loaded_tasks = loaded.tasks.len() as u64;
    });
    let spawned = |e| StoreError::Io(path.to_path_buf(), e);
    let (checkpoints, checkpoint_thread) =
        spawn_checkpoints(Checkpointer::open(path)?).map_err(spawned)?;
    let (requests, rx) = mpsc::channel(WRITE_QUEUE);
    let policy = config.clone();
    let thread_status = status.clone();
    let thread = std::thread::Builder::new()
        .name("celadon-history".into())
        .spawn(move || {
            let mut db = write_loop(db, rx, &checkpoints, &policy, &thread_status);
            // Every write is in: stop the checkpoints, then fold the WAL
            // into the file so it is whole alone.
            drop(checkpoints);
            let _ = checkpoint_thread.join();
            if let Err(error) = db.checkpoint() {
                tracing::warn!(%error, "could not fold the history's WAL into its file");
            }
        })
        .map_err(spawned)?;
    let reader = Reader(Readers::Sqlite(SqliteReader {
        path: path.to_path_buf(),
        pool: Arc::new(Mutex::new(Vec::new())),
        permits: Arc::new(Semaphore::new(MAX_READERS)),
    }));
    // One process writes SQLite: it is always the writer.
    let (_, role) = watch::channel(Role::Writer);
    Ok((
        Writer::new(requests, role),
        WriterThread(Running::Thread(thread)),
        reader,
        loaded,
    ))
}

/// A checkpoint to run: `Some` is answered when it has run.
type CheckpointRequest = Option<std::sync::mpsc::SyncSender<()>>;

/// Checkpoint requests waiting for the checkpointer. One is enough: a
/// checkpoint moves everything committed before it starts, so a request
/// that finds one waiting is already served by it (the writer drops it).
pub const CHECKPOINT_QUEUE: usize = 1;

/// Starts the checkpointer's thread, which runs a `PASSIVE` checkpoint for
/// each request until the sender is dropped. The writer's thread owns it
/// and joins it before its last checkpoint.
fn spawn_checkpoints(
    checkpointer: Checkpointer,
) -> std::io::Result<(
    std::sync::mpsc::SyncSender<CheckpointRequest>,
    std::thread::JoinHandle<()>,
)> {
    let (checkpoints, requests) =
        std::sync::mpsc::sync_channel::<CheckpointRequest>(CHECKPOINT_QUEUE);
    let thread = std::thread::Builder::new()
        .name("celadon-checkpoint".into())
        .spawn(move || {
            for request in requests {
                if let Err(error) = checkpointer.passive() {
                    tracing::warn!(%error, "a checkpoint of the history's WAL failed");
                }
                if let Some(done) = request {
                    let _ = done.send(());
                }
            }
        })?;
    Ok((checkpoints, thread))
}

fn write_loop(
    mut db: Sqlite,
    mut requests: mpsc::Receiver<WriteRequest>,
    checkpoints: &std::sync::mpsc::SyncSender<CheckpointRequest>,
    policy: &HistoryConfig,
    status: &Status,
) -> Sqlite {
    while let Some(WriteRequest { batch, reply }) = requests.blocking_recv() {
        // Writes have followed one another with no pause for a checkpoint
        // to finish: wait for one, so that this write starts the WAL over.
        if db.wal_bytes() > WAL_LIMIT {
            let (done, finished) = std::sync::mpsc::sync_channel(1);
            if checkpoints.send(Some(done)).is_ok() {
                let _ = finished.recv();
            }
        }
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
        let ok = written.is_ok();
        let _ = reply.send(written);
        if ok {
            // Full: a checkpoint not yet started will take this write too.
            let _ = checkpoints.try_send(None);
        }
    }
    db
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
pub struct Reader(Readers);

#[derive(Clone)]
enum Readers {
    Sqlite(SqliteReader),
    Postgres(PgReader),
}

impl Reader {
    pub fn postgres(reader: PgReader) -> Reader {
        Reader(Readers::Postgres(reader))
    }

    pub async fn task(&self, id: String) -> Result<Option<TaskRow>, StoreError> {
        match &self.0 {
            Readers::Sqlite(r) => r.with(move |db| db.task(&id)).await,
            Readers::Postgres(r) => r.task(&id).await,
        }
    }

    pub async fn page(&self, query: PagedQuery) -> Result<Vec<Paged>, StoreError> {
        match &self.0 {
            Readers::Sqlite(r) => r.with(move |db| db.page(&query)).await,
            Readers::Postgres(r) => r.page(&query).await,
        }
    }
}

#[derive(Clone)]
struct SqliteReader {
    path: std::path::PathBuf,
    /// Open read connections, reused. A mutex: it is held only to push or
    /// pop one, never across a query.
    pool: Arc<Mutex<Vec<Sqlite>>>,
    permits: Arc<Semaphore>,
}

impl SqliteReader {
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
}
