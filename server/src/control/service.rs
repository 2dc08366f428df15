//! Control on users' behalf: worker commands with their replies, revoke,
//! faithful retry and sending tasks. Everything here reports what really
//! happened: how many received a command (PUBLISH's count), who answered
//! what, who stayed silent, and where a retry's arguments came from.

use std::{sync::Arc, time::Duration};

use super::{
    arguments::Arguments,
    commands::{self, Command},
    message::{self, NewTask, Options},
    original::{self, Original, Source},
    pidbox::{ControlError, Pidbox},
};
use crate::{
    broker::{
        backend::{Meta, ResultBackend},
        conn::LazyConnection,
        dial::Endpoint,
        naming::Naming,
    },
    clock,
    state::{key::TaskKey, owner::StateHandle},
};

/// `unacked` entries read per HSCAN step while looking for a task.
const UNACKED_SCAN_COUNT: usize = 500;
/// Entries looked at, at most, for one task: a huge backlog is not
/// scanned in full for one button press.
const UNACKED_SCAN_LIMIT: usize = 200_000;

/// What the workers did with a command.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Receivers of the PUBLISH (0: nobody got it).
    pub delivered: i64,
    /// `(worker, Ok(text) | Err(error text))`, in arrival order.
    pub replies: Vec<(String, Result<String, String>)>,
    /// Workers asked (or online, for a broadcast) that did not answer.
    pub silent: Vec<String>,
}

/// A retry that was sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Retried {
    pub original: String,
    pub id: String,
    pub name: String,
    pub queue: String,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("unknown task '{0}'")]
    Unknown(String),
    #[error("{0}")]
    NoArguments(String),
    /// The task's queue is not one celadon sends to ([`Control::check_queue`]).
    #[error("{0}")]
    Queue(String),
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// The longest queue name celadon sends to without having seen it.
pub const MAX_NEW_QUEUE_NAME: usize = 200;

/// Whether `queue` looks like a task queue someone named: letters, digits
/// and `_ . : @ -`, starting with a letter, digit or `_`, at most
/// [`MAX_NEW_QUEUE_NAME`] characters.
pub fn plain_queue_name(queue: &str) -> bool {
    queue.len() <= MAX_NEW_QUEUE_NAME
        && queue
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && queue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '@' | '-'))
}

pub struct Control {
    pub pidbox: Arc<Pidbox>,
    state: StateHandle,
    naming: Naming,
    /// Sending tasks and reading `unacked`.
    broker: LazyConnection,
    /// Reading results and retries' arguments, with `--result-backend`.
    backend: Option<Arc<ResultBackend>>,
    timeout: Duration,
    origin: String,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Control {
    pub fn new(
        pidbox: Arc<Pidbox>,
        state: StateHandle,
        naming: Naming,
        broker: Arc<Endpoint>,
        backend: Option<Arc<ResultBackend>>,
        timeout: Duration,
    ) -> Control {
        Control {
            pidbox,
            state,
            naming,
            broker: LazyConnection::new(broker),
            backend,
            timeout,
            origin: format!("celadon{}@{}", std::process::id(), hostname()),
        }
    }

    pub fn has_backend(&self) -> bool {
        self.backend.is_some()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Workers the model believes online.
    pub async fn online_workers(&self) -> Result<Vec<String>, ControlError> {
        self.state
            .online_workers(clock::now())
            .await
            .map_err(|_| ControlError::ShuttingDown)
    }

    pub async fn knows_worker(&self, name: &str) -> Result<bool, ControlError> {
        self.state
            .knows_worker(name.to_string())
            .await
            .map_err(|_| ControlError::ShuttingDown)
    }

    /// Sends `command` to `destination` (every worker when `None`) and
    /// collects replies until every expected worker answered or the
    /// timeout passed.
    pub async fn call(
        &self,
        command: Command,
        destination: Option<Vec<String>>,
    ) -> Result<Outcome, ControlError> {
        let expected = match &destination {
            Some(d) => d.clone(),
            None => self.online_workers().await?,
        };
        let replies = self
            .pidbox
            .call(
                command.method,
                command.arguments,
                destination.as_deref(),
                self.timeout,
                Some(expected.len()).filter(|n| *n > 0),
            )
            .await?;
        let answered: Vec<(String, Result<String, String>)> = replies
            .replies
            .iter()
            .map(|(host, reply)| (host.clone(), commands::reply_outcome(reply)))
            .collect();
        let silent = expected
            .into_iter()
            .filter(|w| !answered.iter().any(|(h, _)| h == w))
            .collect();
        Ok(Outcome {
            delivered: replies.delivered,
            replies: answered,
            silent,
        })
    }

    /// Sends `command` without waiting for replies (Celery's casts:
    /// `shutdown` answers nothing). Returns how many received it.
    pub async fn cast(
        &self,
        command: Command,
        destination: Option<Vec<String>>,
    ) -> Result<i64, ControlError> {
        self.pidbox
            .cast(command.method, command.arguments, destination.as_deref())
            .await
    }

    /// The task's original call, from the best source that has it.
    pub async fn original(&self, id: &str) -> Result<Original, RetryError> {
        let key = TaskKey::of(id);
        let known = self
            .state
            .retry_seed(key)
            .await
            .map_err(|_| ControlError::ShuttingDown)?
            .map(|seed| (seed.name, seed.queue, seed.args_repr, seed.kwargs_repr));
        let from_model = |mut o: Original| {
            if let Some((name, queue, _, _)) = &known {
                o.name = o.name.or_else(|| name.clone());
                o.queue = o.queue.or_else(|| queue.clone());
            }
            o
        };
        let in_backend = self.args_in_backend(id).await;
        let backend_note = match in_backend {
            Ok(o) => return Ok(from_model(o)),
            Err(note) => note,
        };
        if let Some(o) = self.args_on_workers(id).await? {
            return Ok(from_model(o));
        }
        if let Some(o) = self.args_in_unacked(id).await? {
            return Ok(from_model(o));
        }
        let Some((_, _, args, kwargs)) = &known else {
            return Err(RetryError::Unknown(id.to_string()));
        };
        let repr = original::from_repr(
            args.as_deref().unwrap_or(""),
            kwargs.as_deref().unwrap_or("{}"),
        );
        match repr {
            Ok(o) => Ok(from_model(o)),
            Err(why) => Err(RetryError::NoArguments(format!(
                "{} ({}its events' repr does not parse: {why})",
                original::HOW_TO_ENABLE,
                backend_note.map_or(String::new(), |note| format!(
                    "the result backend has the task, but {note}; "
                ))
            ))),
        }
    }

    /// The arguments the result backend keeps; or, when it has the task
    /// but not arguments a retry may use, why.
    async fn args_in_backend(&self, id: &str) -> Result<Original, Option<String>> {
        let backend = self.backend.as_ref().ok_or(None)?;
        let meta = backend
            .get(id)
            .await
            .inspect_err(|error| {
                tracing::warn!(%error, task = id, "the result backend could not be read for a retry; trying the next source");
            })
            .map_err(|_| None)?
            .ok_or(None)?;
        original::from_backend(&meta).map_err(Some)
    }

    async fn args_on_workers(&self, id: &str) -> Result<Option<Original>, ControlError> {
        let expected = self.online_workers().await?;
        if expected.is_empty() {
            return Ok(None);
        }
        // Raw replies: the arguments are re-sent as the worker wrote them.
        let replies = self
            .pidbox
            .call_raw(
                "query_task",
                serde_json::json!({"ids": [id]}),
                None,
                self.timeout,
                Some(expected.len()),
            )
            .await?;
        Ok(replies
            .replies
            .iter()
            .find_map(|(host, reply)| original::from_query_task(host, reply, id)))
    }

    async fn args_in_unacked(&self, id: &str) -> Result<Option<Original>, ControlError> {
        let mut conn = self.broker.get().await?;
        let key = self.naming.unacked_key();
        let needle = format!("\"id\": \"{id}\"");
        let mut cursor: u64 = 0;
        let mut seen = 0;
        loop {
            let (next, entries): (u64, Vec<(String, Vec<u8>)>) = match redis::cmd("HSCAN")
                .arg(&key)
                .arg(cursor)
                .arg("COUNT")
                .arg(UNACKED_SCAN_COUNT)
                .query_async(&mut *conn)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    self.broker.reset(&conn).await;
                    return Err(e.into());
                }
            };
            seen += entries.len();
            for (_, value) in &entries {
                // The id sits in the envelope's headers as JSON text; the
                // substring test skips decoding every other entry.
                let text = String::from_utf8_lossy(value);
                if (text.contains(&needle) || text.contains(&format!("\\\"id\\\": \\\"{id}\\\"")))
                    && let Some(o) = original::from_unacked(value, id)
                {
                    return Ok(Some(o));
                }
            }
            if next == 0 || seen >= UNACKED_SCAN_LIMIT {
                return Ok(None);
            }
            cursor = next;
        }
    }

    /// Publishes a task message and its `task-sent` event.
    pub async fn send(&self, task: &NewTask) -> Result<(), ControlError> {
        let sep = &self.naming.options.sep;
        let binding = self.naming.key(&format!("_kombu.binding.{}", task.queue));
        let member = format!("{q}{sep}{sep}{q}", q = task.queue);
        let pipe = redis::pipe()
            .sadd(&binding, &member)
            .ignore()
            .lpush(
                message::list_key(
                    &self.naming,
                    &task.queue,
                    task.options.priority.unwrap_or(0),
                ),
                message::envelope(task),
            )
            .ignore()
            .publish(
                self.naming.event_channel("task.sent"),
                message::sent_event(
                    task,
                    std::process::id(),
                    clock::now(),
                    &uuid::Uuid::new_v4().to_string(),
                ),
            )
            .ignore()
            .clone();
        Ok(self
            .broker
            .run(async |c| pipe.query_async::<()>(c).await)
            .await?)
    }

    /// A new task message for `name`, under `id` (a new one if `None`).
    pub fn new_task(
        &self,
        name: &str,
        arguments: Arguments,
        options: Options,
        id: Option<String>,
    ) -> NewTask {
        let queue = options
            .queue
            .clone()
            .or_else(|| options.routing_key.clone())
            .unwrap_or_else(|| "celery".into());
        NewTask {
            id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: name.to_string(),
            arguments,
            queue,
            options,
            root_id: None,
            parent_id: None,
            origin: self.origin.clone(),
            delivery_tag: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `Err` if `queue` is a key kombu or Celery keeps for itself
    /// (`Naming::reserved`), saying which.
    pub fn not_reserved(&self, queue: &str) -> Result<(), String> {
        match self.naming.reserved(queue) {
            Some(what) => Err(format!(
                "{queue:?} is not a task queue but {what}; celadon does not write there \
                 nor has a worker consume it"
            )),
            None => Ok(()),
        }
    }

    /// Whether celadon may send a task to `queue`: never to a key kombu or
    /// Celery keeps for itself (`Naming::reserved`: that would write into
    /// their bookkeeping); otherwise to a queue celadon has seen (in
    /// events or depth polling), to `celery`, or to a new queue with a
    /// plain name ([`plain_queue_name`]). `Err` says why not.
    pub async fn check_queue(&self, queue: &str) -> Result<(), String> {
        self.not_reserved(queue)?;
        if queue == "celery" || plain_queue_name(queue) {
            return Ok(());
        }
        let known = self.state.queue_names().await.unwrap_or_default();
        if known.iter().any(|q| q == queue) {
            return Ok(());
        }
        Err(format!(
            "{queue:?} is not a queue celadon has seen, and a new queue's name may hold only \
             letters, digits and _ . : @ - (at most {MAX_NEW_QUEUE_NAME})"
        ))
    }

    /// Re-sends task `id` with its original arguments, under a new id, to
    /// its original queue; the model links the two.
    pub async fn retry(&self, id: &str) -> Result<Retried, RetryError> {
        let o = self.original(id).await?;
        let name = o.name.clone().ok_or_else(|| {
            RetryError::NoArguments(format!("the name of task '{id}' is not known"))
        })?;
        let task = self.new_task(
            &name,
            o.arguments,
            Options {
                queue: o.queue,
                priority: o.priority,
                ..Options::default()
            },
            None,
        );
        self.check_queue(&task.queue)
            .await
            .map_err(RetryError::Queue)?;
        self.send(&task).await?;
        self.state.link_retry(id.to_string(), task.id.clone()).await;
        Ok(Retried {
            original: id.to_string(),
            id: task.id,
            name,
            queue: task.queue,
            source: o.source,
        })
    }

    /// Marks task `id` ABORTED in the result backend, as Celery's
    /// `AbortableAsyncResult.abort()` does (an `AbortableTask` checks its
    /// state and stops); `false` without a result backend.
    pub async fn abort(&self, id: &str) -> Result<bool, ControlError> {
        let Some(backend) = &self.backend else {
            return Ok(false);
        };
        backend.abort(id).await?;
        Ok(true)
    }

    /// The result backend's record of `id`: `None` when it has none yet.
    pub async fn result(&self, id: &str) -> Result<Option<Meta>, ControlError> {
        let Some(backend) = &self.backend else {
            return Ok(None);
        };
        Ok(backend.get(id).await?)
    }
}
