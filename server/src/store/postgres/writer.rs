//! The PostgreSQL writer's task and the readers' pool.
//!
//! The task owns one connection. On it, it migrates the schema, then
//! competes for the writer's lock: holding it, this replica writes every
//! batch the save loop hands over, on that same session, so a replica
//! whose session ended (and with it the lock) cannot write another batch
//! before taking the lock again. Without it, the replica stands by: the
//! save loop leaves the model's changes where they are
//! (`Writer::stands_by`), and the task tries for the lock every
//! [`LOCK_POLL`]. When the database cannot be reached (at start or later),
//! it tries again every [`RECONNECT`]; what the save loop took meanwhile
//! it holds and writes once this replica writes again.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{Semaphore, mpsc, watch};

use super::{Link, PgUrl, within};
use crate::{
    clock,
    store::{
        Batch, HistoryConfig, Loaded, Paged, PagedQuery, Role, Status, StoreError, TaskRow,
        writer::{
            MAX_READERS, PRUNE_STEP, Reader, WRITE_QUEUE, WriteRequest, Writer, WriterThread,
        },
    },
};

/// How often a standby tries for the writer's lock. With the save
/// interval, how long history goes unwritten after the writer's session
/// ends.
pub const LOCK_POLL: Duration = Duration::from_secs(1);

/// How often the writer touches its session when it has nothing to
/// write: well inside `WRITER_IDLE_LIMIT`.
pub const PING: Duration = Duration::from_secs(2);

/// After the database could not be reached, the next try waits this long.
pub const RECONNECT: Duration = Duration::from_secs(2);

/// A batch (at most `MAX_SAVE_ROWS` rows) written within this, or the
/// connection is dropped (the server rolls the transaction back) and the
/// save loop tries the batch again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Reading back the newest tasks at start.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Any other statement: the lock, a ping, a prune step, the size, a page.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a standby refreshes the size it shows.
const SIZE_EVERY: Duration = Duration::from_secs(10);

/// Opens the history in PostgreSQL and starts the writer's task. A
/// database that cannot be reached is not an error: celadon starts without
/// what it would have read back, and the task keeps trying. A database
/// refused as it is (newer, or not ours) is.
pub async fn open(
    url: &PgUrl,
    config: &HistoryConfig,
    load_limit: usize,
    status: Arc<Status>,
) -> Result<(Writer, WriterThread, Reader, Loaded), StoreError> {
    let (role_tx, role) = watch::channel(Role::Unknown);
    let mut task = PgWriter {
        url: url.clone(),
        policy: config.clone(),
        status,
        link: None,
        role: role_tx,
        failing: false,
        sized_at: Instant::now(),
    };
    let loaded = match task.start(load_limit).await {
        Ok(loaded) => loaded,
        Err(error) if error.is_refusal() => return Err(error),
        Err(error) => {
            tracing::error!(
                %error,
                "history's PostgreSQL cannot be reached: celadon serves live data, keeps what \
                 changes, and writes it once the database answers"
            );
            task.down(&error);
            Loaded::default()
        }
    };
    let (requests, rx) = mpsc::channel(WRITE_QUEUE);
    let handle = tokio::spawn(task.run(rx));
    let reader = PgReader {
        url: url.clone(),
        pool: Arc::new(Mutex::new(Vec::new())),
        permits: Arc::new(Semaphore::new(MAX_READERS)),
    };
    Ok((
        Writer::new(requests, role),
        WriterThread::task(handle),
        Reader::postgres(reader),
        loaded,
    ))
}

struct PgWriter {
    url: PgUrl,
    policy: HistoryConfig,
    status: Arc<Status>,
    /// The session that holds the lock, or competes for it.
    link: Option<Link>,
    role: watch::Sender<Role>,
    /// In a spell of failures (logged once).
    failing: bool,
    sized_at: Instant,
}

impl PgWriter {
    fn location(&self) -> &str {
        self.url.masked()
    }

    fn current(&self) -> Role {
        *self.role.borrow()
    }

    /// The first connection: reads back the newest tasks, then competes.
    async fn start(&mut self, load_limit: usize) -> Result<Loaded, StoreError> {
        self.connect().await?;
        let location = self.location().to_string();
        let Some(link) = &self.link else {
            return Ok(Loaded::default());
        };
        let loaded = within(&location, LOAD_TIMEOUT, link.load(load_limit)).await?;
        self.status.update(|s| {
            s.rows_written = loaded.stored;
            s.loaded_tasks = loaded.tasks.len() as u64;
        });
        Ok(loaded)
    }

    /// Connects, migrates, competes for the lock.
    async fn connect(&mut self) -> Result<(), StoreError> {
        let location = self.location().to_string();
        // The URL's connect timeout bounds reaching the socket; this, a
        // server that accepts and then says nothing.
        let mut link = within(&location, STATEMENT_TIMEOUT, Link::connect(&self.url)).await?;
        within(&location, STATEMENT_TIMEOUT, link.migrate()).await?;
        link.limit_idle().await;
        let size = within(&location, STATEMENT_TIMEOUT, link.size()).await?;
        self.link = Some(link);
        self.sized_at = Instant::now();
        if self.failing {
            tracing::info!(location = %location, "history's PostgreSQL answers again");
            self.failing = false;
        }
        self.status.update(|s| {
            s.available = true;
            s.size_bytes = size;
        });
        self.compete().await
    }

    /// Tries for the writer's lock (when not holding it).
    async fn compete(&mut self) -> Result<(), StoreError> {
        let location = self.location().to_string();
        let Some(link) = &self.link else {
            return Ok(());
        };
        let won = within(&location, STATEMENT_TIMEOUT, link.try_lock()).await?;
        let role = if won { Role::Writer } else { Role::Standby };
        if role != self.current() {
            match role {
                Role::Writer => {
                    tracing::info!(location = %location, "this replica writes the history")
                }
                _ => tracing::info!(
                    location = %location,
                    "another replica writes the history; this one reads it and stands by"
                ),
            }
            self.role.send_replace(role);
            self.status.update(|s| {
                s.role = role;
                s.writing = role == Role::Writer;
            });
        }
        Ok(())
    }

    /// The session is gone, or was never had: everything starts over.
    fn down(&mut self, error: &StoreError) {
        self.link = None;
        if !self.failing {
            self.failing = true;
            tracing::warn!(%error, "history's PostgreSQL does not answer; trying again every {RECONNECT:?}");
        }
        self.role.send_replace(Role::Unknown);
        self.status.update(|s| {
            s.available = false;
            s.writing = false;
            s.role = Role::Unknown;
            s.last_error = Some(error.to_string());
        });
    }

    /// After an error: a session that ended, or a statement that did not
    /// answer (its session's state unknown), is dropped.
    fn after_error(&mut self, error: &StoreError) {
        let lost = matches!(error, StoreError::Timeout { .. })
            || self.link.as_ref().is_none_or(Link::is_closed);
        if lost {
            self.down(error);
        }
    }

    async fn run(mut self, mut requests: mpsc::Receiver<WriteRequest>) {
        let mut next = tokio::time::Instant::now() + self.interval();
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(WriteRequest { batch, reply }) = request else { break };
                    let written = self.write(&batch).await;
                    let _ = reply.send(written);
                }
                () = tokio::time::sleep_until(next) => {
                    if let Err(error) = self.tick().await {
                        if error.is_refusal() {
                            self.refused(&error);
                            break;
                        }
                        self.after_error(&error);
                    }
                    next = tokio::time::Instant::now() + self.interval();
                }
            }
        }
        // Dropping the link ends the session, and with it the lock.
    }

    fn interval(&self) -> Duration {
        match (&self.link, self.current()) {
            (None, _) => RECONNECT,
            (Some(_), Role::Writer) => PING,
            (Some(_), _) => LOCK_POLL,
        }
    }

    async fn tick(&mut self) -> Result<(), StoreError> {
        let location = self.location().to_string();
        match (&self.link, self.current()) {
            (None, _) => self.connect().await,
            (Some(link), Role::Writer) => within(&location, STATEMENT_TIMEOUT, link.ping()).await,
            (Some(link), _) => {
                if self.sized_at.elapsed() >= SIZE_EVERY {
                    let size = within(&location, STATEMENT_TIMEOUT, link.size()).await?;
                    self.status.update(|s| s.size_bytes = size);
                    self.sized_at = Instant::now();
                }
                self.compete().await
            }
        }
    }

    /// The database was refused as found: history stops here, and says why.
    fn refused(&mut self, error: &StoreError) {
        tracing::error!(%error, "history is unavailable: celadon serves live data only and does not touch the database");
        self.link = None;
        self.role.send_replace(Role::Unknown);
        self.status.update(|s| {
            s.available = false;
            s.writing = false;
            s.role = Role::Unknown;
            s.last_error = Some(error.to_string());
        });
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if self.link.is_none()
            && let Err(error) = self.connect().await
        {
            self.after_error(&error);
            return Err(error);
        }
        if self.current() != Role::Writer {
            return Err(StoreError::Standby);
        }
        let location = self.location().to_string();
        let Some(link) = &mut self.link else {
            return Err(StoreError::Standby);
        };
        let started = Instant::now();
        let written = within(&location, WRITE_TIMEOUT, link.write(batch)).await;
        let took = started.elapsed().as_secs_f64();
        let rows = batch.tasks.len();
        let pruned = match &written {
            Ok(()) => self.prune().await,
            Err(error) => {
                self.after_error(error);
                0
            }
        };
        self.status.update(|s| {
            s.tasks_pruned += pruned as u64;
            match &written {
                Ok(()) => {
                    s.writing = true;
                    s.batches_written += 1;
                    s.rows_written += rows as u64;
                    s.write_rate = if took > 0.0 { rows as f64 / took } else { 0.0 };
                    s.last_write_at = Some(clock::now());
                }
                Err(e) => {
                    s.writing = false;
                    s.write_errors += 1;
                    s.last_error = Some(e.to_string());
                }
            }
        });
        written
    }

    /// One step of retention after a write (as the SQLite store's), and
    /// the size it leaves.
    async fn prune(&mut self) -> usize {
        let location = self.location().to_string();
        let Some(link) = &self.link else { return 0 };
        let mut pruned = 0;
        if let Some(keep) = self.policy.retention {
            let before = clock::now() - keep.as_secs_f64();
            match within(
                &location,
                STATEMENT_TIMEOUT,
                link.prune(Some(before), false, PRUNE_STEP),
            )
            .await
            {
                Ok(n) => pruned += n,
                Err(error) => tracing::warn!(%error, "pruning old history failed"),
            }
        }
        let size = within(&location, STATEMENT_TIMEOUT, link.size()).await.ok();
        if let (Some(max), Some(size)) = (self.policy.max_size, size)
            && size > max
        {
            match within(
                &location,
                STATEMENT_TIMEOUT,
                link.prune(None, true, PRUNE_STEP),
            )
            .await
            {
                Ok(n) => pruned += n,
                Err(error) => tracing::warn!(%error, "pruning history over its size failed"),
            }
        }
        if let Some(size) = size {
            self.status.update(|s| s.size_bytes = size);
            self.sized_at = Instant::now();
        }
        pruned
    }
}

/// Reads history from the shared database: a task, a page. Cheap to clone.
#[derive(Clone)]
pub struct PgReader {
    url: PgUrl,
    /// Open connections, reused. A mutex: held only to push or pop one.
    pool: Arc<Mutex<Vec<Link>>>,
    permits: Arc<Semaphore>,
}

impl PgReader {
    async fn link(&self) -> Result<Link, StoreError> {
        let taken = self.pool.lock().ok().and_then(|mut p| p.pop());
        match taken {
            Some(link) if !link.is_closed() => Ok(link),
            _ => {
                within(
                    self.url.masked(),
                    STATEMENT_TIMEOUT,
                    Link::connect(&self.url),
                )
                .await
            }
        }
    }

    /// Keeps a connection that answered (even with an error of its own).
    fn give_back<T>(&self, link: Link, answer: &Result<T, StoreError>) {
        let answered = !matches!(answer, Err(StoreError::Timeout { .. })) && !link.is_closed();
        if answered && let Ok(mut p) = self.pool.lock() {
            p.push(link);
        }
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Stopped)?;
        let link = self.link().await?;
        let answer = within(self.url.masked(), STATEMENT_TIMEOUT, link.task(id)).await;
        self.give_back(link, &answer);
        answer
    }

    pub async fn page(&self, query: &PagedQuery) -> Result<Vec<Paged>, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Stopped)?;
        let link = self.link().await?;
        let answer = within(self.url.masked(), STATEMENT_TIMEOUT, link.page(query)).await;
        self.give_back(link, &answer);
        answer
    }
}
