//! The queue browser's API: one queue (`GET /api/queues/{name}`), its
//! waiting messages a page at a time from either end or searched
//! (`/messages`), the messages workers hold for it (`/unacked`), where a
//! task waits (`GET /api/task/{id}/queue`), and the actions
//! (`POST /api/queues/{name}/delete|purge|move`, each with `dry_run`).
//! The broker is read and changed by `broker::{browse, held, actions}`;
//! the model says who holds a message and when it was sent. Viewers see
//! task data redacted (`--redact`) and may not search it. The actions'
//! handler is `api::queue_actions`.

use app::wire::queues::{
    HeldMessage, OldestMessage, QueueHeld, QueueInfo, QueueMessage, QueueMessages, TaskPlace,
    Undecodable,
};
use axum::{Json, extract::State, http::StatusCode};

use super::{AppState, error::ApiError, extract::Path, params::Params, redaction::Redaction};
use crate::{
    auth::redact::SEARCH_REFUSED,
    broker::{
        browse::{Cursor, End, MAX_PAGE, Waiting},
        messages::Message,
        queue_query::Query,
    },
    clock,
    state::key::TaskKey,
};

/// Messages a page shows unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// Seconds per bucket of the depth series (the model's finest ring).
const SERIES_STEP: u32 = 5;

/// A failure at the broker; a key of another type under the queue's name
/// is the request's mistake, not the broker's.
pub(super) fn broker_error(doing: &'static str, e: redis::RedisError) -> ApiError {
    // A pipeline's error may arrive wrapped: its text names it too.
    if e.code() == Some("WRONGTYPE") || e.to_string().contains("WRONGTYPE") {
        return ApiError::Invalid(
            "that name holds something other than a queue's lists in Redis".into(),
        );
    }
    ApiError::Broker {
        doing,
        cause: e.to_string(),
    }
}

/// `name` if celadon may read and act on it as a queue: never a key kombu
/// or Celery keeps for itself, and a name it has seen or a plain one (the
/// rule for sending tasks, `Control::check_queue`).
pub(super) async fn queue_name(
    app: &AppState,
    param: &'static str,
    name: &str,
) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad(param, "a queue name is needed"));
    }
    app.control
        .check_queue(name)
        .await
        .map_err(|why| ApiError::bad(param, why))
}

/// A message as the wire shows it, redacted for viewers.
pub(super) fn wire_message(w: &Waiting, steps: &[u8], redaction: &Redaction) -> QueueMessage {
    let mut m = message_of(&w.message, w.raw.len());
    m.position = w.position;
    m.priority_step = steps.get(w.step).copied().unwrap_or(0);
    redact(&mut m, redaction);
    m
}

fn message_of(message: &Message, size: usize) -> QueueMessage {
    match message {
        Message::Task(t) => QueueMessage {
            size: size as u64,
            id: Some(t.id.clone()),
            task: Some(t.task.clone()),
            args: Some(t.args.clone()),
            kwargs: Some(t.kwargs.clone()),
            eta: t.eta.clone(),
            expires: t.expires.clone(),
            retries: t.retries,
            priority: t.priority,
            parent_id: t.parent_id.clone(),
            root_id: t.root_id.clone(),
            group: t.group.clone(),
            origin: t.origin.clone(),
            headers: Some(t.headers.clone()),
            delivery_tag: t.delivery_tag.clone(),
            redelivered: t.redelivered,
            ..QueueMessage::default()
        },
        Message::Undecodable(u) => QueueMessage {
            size: u.size as u64,
            undecodable: Some(Undecodable {
                why: u.why.clone(),
                start: u.start.clone(),
            }),
            ..QueueMessage::default()
        },
    }
}

fn redact(m: &mut QueueMessage, redaction: &Redaction) {
    redaction.apply(|r| {
        for text in [&mut m.args, &mut m.kwargs, &mut m.headers]
            .into_iter()
            .flatten()
        {
            r.redact(text);
        }
        if let Some(u) = &mut m.undecodable {
            r.redact(&mut u.start);
        }
    });
}

/// `q`, parsed; a search into arguments is refused to whom they are
/// redacted for.
fn query(params: &Params, redaction: &Redaction) -> Result<Option<Query>, ApiError> {
    let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Ok(None);
    };
    let query = Query::parse(q).map_err(|why| ApiError::bad("q", why))?;
    if query.reads_arguments() && redaction.refuses_any() {
        return Err(ApiError::Rejected {
            status: StatusCode::FORBIDDEN,
            why: SEARCH_REFUSED.into(),
        });
    }
    Ok(Some(query))
}

fn limit(params: &Params) -> Result<usize, ApiError> {
    match params.number("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ApiError::bad("limit", "must be at least 1")),
        Some(n) if n > MAX_PAGE => Err(ApiError::bad("limit", format!("at most {MAX_PAGE}"))),
        Some(n) => Ok(n),
    }
}

/// `GET /api/queues/{name}/messages?from=head|tail&offset=&limit=`, or with
/// `q=` a search (from `cursor=`, as the last answer's `next_cursor`).
pub async fn messages(
    State(app): State<AppState>,
    redaction: Redaction,
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<QueueMessages>, ApiError> {
    queue_name(&app, "name", &name).await?;
    let end = match params.get("from").unwrap_or("head") {
        "head" | "" => End::Head,
        "tail" => End::Tail,
        other => {
            return Err(ApiError::bad(
                "from",
                format!("{other:?} is not head or tail"),
            ));
        }
    };
    let limit = limit(&params)?;
    let offset = params.number("offset")?.unwrap_or(0) as u64;
    let query = query(&params, &redaction)?;
    let browser = &app.queues;
    let steps = browser.steps().to_vec();
    let answer = |depths: Vec<u64>, messages: &[Waiting]| QueueMessages {
        queue: name.clone(),
        from: if end == End::Head { "head" } else { "tail" }.into(),
        offset,
        limit,
        priority_steps: steps.clone(),
        depth: depths.iter().sum(),
        depths,
        messages: messages
            .iter()
            .map(|w| wire_message(w, &steps, &redaction))
            .collect(),
        query: None,
        scanned: None,
        next_cursor: None,
    };
    let Some(query) = query else {
        let page = browser
            .page(&name, end, offset, limit)
            .await
            .map_err(|e| broker_error("reading the queue", e))?;
        return Ok(Json(answer(page.depths, &page.messages)));
    };
    let cursor = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => Cursor::default(),
        Some(c) => Cursor::parse(c)
            .filter(|c| c.step < steps.len())
            .ok_or_else(|| {
                ApiError::bad("cursor", format!("{c:?} is not a cursor this API gave"))
            })?,
    };
    let found = browser
        .search(&name, &query, cursor, limit)
        .await
        .map_err(|e| broker_error("searching the queue", e))?;
    Ok(Json(QueueMessages {
        query: params.get("q").map(str::to_string),
        scanned: Some(found.scanned),
        next_cursor: found.next.map(|c| c.text()),
        ..answer(found.depths, &found.messages)
    }))
}

/// `GET /api/queues/{name}/unacked?cursor=&limit=`.
pub async fn unacked(
    State(app): State<AppState>,
    redaction: Redaction,
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<QueueHeld>, ApiError> {
    queue_name(&app, "name", &name).await?;
    let limit = limit(&params)?;
    let from = params.int::<u64>("cursor")?.unwrap_or(0);
    let timeout = app.queues.naming().options.visibility_timeout;
    let page = app
        .queues
        .held(&name, from, limit, timeout)
        .await
        .map_err(|e| broker_error("reading the unacknowledged messages", e))?;
    let keys = page
        .held
        .iter()
        .map(|h| TaskKey::of(h.message.task().map_or("", |t| t.id.as_str())))
        .collect();
    let seen = app.state.sightings(keys).await?;
    let held = page
        .held
        .iter()
        .zip(seen.into_iter().chain(std::iter::repeat(None)))
        .map(|(h, seen)| {
            let mut message = message_of(&h.message, 0);
            redact(&mut message, &redaction);
            HeldMessage {
                delivery_tag: h.delivery_tag.clone(),
                exchange: h.exchange.clone(),
                routing_key: h.routing_key.clone(),
                worker: seen.and_then(|s| s.worker),
                delivered_at: h.delivered_at,
                redeliver_at: h.redeliver_at,
                message,
            }
        })
        .collect();
    Ok(Json(QueueHeld {
        queue: name,
        visibility_timeout: timeout,
        held,
        scanned: page.scanned,
        next_cursor: page.next,
    }))
}

/// `GET /api/queues/{name}`: depths now, the oldest message's age (from
/// its task-sent event), consumers and depth history from the model.
pub async fn info(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<QueueInfo>, ApiError> {
    queue_name(&app, "name", &name).await?;
    let now = clock::now();
    let browser = &app.queues;
    let head = browser
        .page(&name, End::Head, 0, 1)
        .await
        .map_err(|e| broker_error("reading the queue", e))?;
    let detail = app.state.queue_detail(name.clone(), now).await?;
    let oldest = match head.messages.first().map(|w| &w.message) {
        None => None,
        Some(Message::Undecodable(_)) => Some(OldestMessage {
            id: None,
            task: None,
            sent: None,
            age: None,
        }),
        Some(Message::Task(t)) => {
            let seen = app.state.sightings(vec![TaskKey::of(&t.id)]).await?;
            let sent = seen.into_iter().next().flatten().and_then(|s| s.sent);
            Some(OldestMessage {
                id: Some(t.id.clone()),
                task: Some(t.task.clone()),
                sent,
                age: sent.map(|s| (now - s).max(0.0)),
            })
        }
    };
    let priority_steps = browser.steps().to_vec();
    // The model's steps are positions; a history measured with another
    // number of steps (before a restart with other options) is not shown.
    let series_by_step = detail
        .as_ref()
        .map(|d| d.series_by_step.clone())
        .filter(|s| s.len() == priority_steps.len())
        .unwrap_or_default();
    Ok(Json(QueueInfo {
        name,
        priority_steps,
        depth: head.depths.iter().sum(),
        depths: head.depths,
        unacked: detail.as_ref().and_then(|d| d.unacked),
        consumers: detail
            .as_ref()
            .map(|d| d.consumers.clone())
            .unwrap_or_default(),
        oldest,
        series_start: detail.as_ref().map_or(now, |d| d.series_start),
        series_step: SERIES_STEP,
        series: detail
            .as_ref()
            .map(|d| d.series.clone())
            .unwrap_or_default(),
        series_by_step,
        known: detail.is_some(),
    }))
}

/// `GET /api/task/{id}/queue`: where task `id` waits: in the queue the
/// model says it was sent to, else in every queue celadon knows.
pub async fn place(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskPlace>, ApiError> {
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::bad("id", "not a task id"));
    }
    let task = app.state.task(TaskKey::of(&id)).await?;
    let queues = match task.and_then(|t| t.queue.or(t.routing_key)) {
        Some(q) => vec![q],
        None => app.state.queue_names().await?,
    };
    let queues: Vec<String> = queues
        .into_iter()
        .filter(|q| app.queues.naming().reserved(q).is_none())
        .collect();
    let (found, scanned, complete) = app
        .queues
        .locate(&queues, &id)
        .await
        .map_err(|e| broker_error("looking for the task in its queue", e))?;
    let steps = app.queues.steps();
    Ok(Json(TaskPlace {
        task_id: id,
        found: found.is_some(),
        priority_step: found.as_ref().and_then(|p| steps.get(p.step).copied()),
        position: found.as_ref().map(|p| p.position),
        queue: found.map(|p| p.queue),
        scanned,
        complete,
    }))
}
