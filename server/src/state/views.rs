//! The explicit conversion from the model to what a view shows on the
//! wire. Model types are not serializable; these functions are the
//! boundary. Pure: `now` is a parameter.

use app::wire::{
    self, BrokerData, BrokerState, BrokerStatus, Cluster, Inspection, MAX_PAGE_SIZE, QueueRow,
    Snapshot, TaskDetail, TaskRow, TasksData, TasksQuery, TimelineEntry, View, ViewData,
    WorkerData, WorkerRow,
};

use super::{
    Model,
    key::TaskKey,
    query::{self, Sort, SortKey, TaskQuery},
    read::MAX_READ_SPAN,
    search,
    task::{NO_RETRIES, Task, TaskEventKind, flags},
    text::Field,
    workers::Worker,
};
use crate::broker::{BrokerLink, LinkState};

/// What the views need beyond the model: settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct ViewConfig {
    /// `--tasks-columns`.
    pub tasks_columns: Vec<String>,
    /// The broker's priority steps, which queue depths are split by.
    pub priority_steps: Vec<u8>,
    /// Whether the UI offers control actions (not with `--read-only`).
    pub controls: bool,
    /// `--natural-time`.
    pub natural_time: bool,
}

pub fn broker_status(link: &BrokerLink, url: &str) -> BrokerStatus {
    BrokerStatus {
        state: match link.state {
            LinkState::Connecting => BrokerState::Connecting,
            LinkState::Connected => BrokerState::Connected,
            LinkState::Unreachable => BrokerState::Unreachable,
        },
        url: url.to_string(),
        detail: link.detail.clone(),
        since: link.since,
    }
}

pub fn worker_row(w: &Worker, now: f64) -> WorkerRow {
    WorkerRow {
        hostname: w.hostname.clone(),
        status: if w.online {
            wire::WorkerStatus::Online
        } else {
            wire::WorkerStatus::Offline
        },
        active: w.active,
        processed: w.processed,
        loadavg: w.loadavg,
        sw_ident: w.sw_ident.clone(),
        sw_ver: w.sw_ver.clone(),
        sw_sys: w.sw_sys.clone(),
        pid: w.pid,
        freq: Some(w.freq),
        succeeded: w.task_count(TaskEventKind::Succeeded),
        failed: w.task_count(TaskEventKind::Failed),
        retried: w.task_count(TaskEventKind::Retried),
        rate: round2(w.rate(now)),
        last_heartbeat: w.last_heartbeat,
        rev: w.rev,
    }
}

/// Rates to two decimals, so that noise below that is not a change.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn cluster(model: &Model, now: f64) -> Cluster {
    let sum = |k: TaskEventKind| model.workers.iter().map(|w| w.task_count(k)).sum();
    let rate: f64 = model.workers.iter().map(|w| w.rate(now)).sum();
    let (recent, recent_start) = super::graphs::recent(model, now);
    Cluster {
        succeeded: sum(TaskEventKind::Succeeded),
        failed: sum(TaskEventKind::Failed),
        retried: sum(TaskEventKind::Retried),
        rate: round2(rate),
        recent,
        recent_start,
    }
}

pub fn snapshot(
    model: &Model,
    config: &ViewConfig,
    broker: BrokerStatus,
    view: &View,
    now: f64,
) -> Snapshot {
    let data = match view {
        View::Workers => ViewData::Workers {
            workers: model.workers.iter().map(|w| worker_row(w, now)).collect(),
            cluster: cluster(model, now),
        },
        View::Worker { name } => ViewData::Worker(worker_data(model, name, now)),
        View::Tasks { query } => ViewData::Tasks(tasks_data(model, config, query)),
        View::Task { id } => ViewData::Task {
            id: id.clone(),
            task: task_detail(model, id).map(Box::new),
        },
        View::Broker => ViewData::Broker(broker_data(model, config)),
        View::Graphs { query } => ViewData::Graphs(super::graphs::graphs_data(model, query, now)),
    };
    Snapshot {
        broker,
        data,
        controls: config.controls,
        natural_time: config.natural_time,
        history: None,
        alerts: None,
    }
}

fn time(t: f64) -> Option<f64> {
    t.is_finite().then_some(t)
}

fn sym_text(model: &Model, s: super::symbols::Sym) -> Option<String> {
    (!s.is_none()).then(|| model.symbols.text(s).to_string())
}

pub fn task_row(model: &Model, t: &Task) -> TaskRow {
    let text = |f: Field| t.text.get(f).map(str::to_string);
    TaskRow {
        id: model.id_text(t.key).unwrap_or_default(),
        name: sym_text(model, t.name),
        state: model.state_name(t.state).to_string(),
        args: text(Field::Args),
        kwargs: text(Field::Kwargs),
        result: text(Field::Result),
        exception: text(Field::Exception),
        sent: time(t.times.sent),
        received: time(t.times.received),
        started: time(t.times.started),
        revoked: time(t.times.revoked),
        runtime: time(t.runtime),
        worker: sym_text(model, t.worker),
        exchange: sym_text(model, t.exchange),
        routing_key: sym_text(model, t.routing_key),
        retries: (t.retries != NO_RETRIES).then_some(t.retries),
        expires: text(Field::Expires),
        eta: text(Field::Eta),
    }
}

/// The wire query as a model query, or why it is not one.
pub fn task_query(q: &TasksQuery) -> Result<TaskQuery, String> {
    let (descending, key) = match q.sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, q.sort.as_str()),
    };
    let key = SortKey::parse(key).ok_or_else(|| format!("cannot sort by {key:?}"))?;
    let search = if q.search.trim().is_empty() {
        None
    } else {
        Some(search::parse(&q.search).map_err(|e| e.to_string())?)
    };
    let limit = q.limit.clamp(1, MAX_PAGE_SIZE) as usize;
    // A page ranks `offset + limit` tasks at every flush it changes in:
    // the bound of one read of the model.
    let offset = usize::try_from(q.offset)
        .ok()
        .filter(|o| o.saturating_add(limit) <= MAX_READ_SPAN)
        .ok_or_else(|| {
            format!(
                "only the first {MAX_READ_SPAN} tasks of an order are shown: \
                 narrow the search, or sort the other way"
            )
        })?;
    Ok(TaskQuery {
        state: q.state.clone(),
        name: q.name.clone(),
        worker: q.worker.clone(),
        search,
        sort: Sort { key, descending },
        offset,
        limit: Some(limit),
        ..TaskQuery::default()
    })
}

/// Retained tasks by state, over every task type, most common first.
fn state_counts(model: &Model) -> Vec<(String, u64)> {
    let mut by_slot = [0u64; super::RETAINED_SLOTS];
    for t in model.types.values() {
        for (slot, n) in t.retained.iter().enumerate() {
            by_slot[slot] += n;
        }
    }
    let mut out: Vec<(String, u64)> = by_slot
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(slot, n)| (super::TypeStats::retained_name(slot).to_string(), *n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

pub fn tasks_data(model: &Model, config: &ViewConfig, q: &TasksQuery) -> TasksData {
    let (rows, filtered, error) = match task_query(q) {
        Ok(tq) => {
            let page = query::run(model, &tq);
            let rows = page
                .slots
                .iter()
                .filter_map(|s| model.tasks.at(*s))
                .map(|t| task_row(model, t))
                .collect();
            (rows, page.filtered as u64, None)
        }
        Err(e) => (Vec::new(), 0, Some(e)),
    };
    TasksData {
        query: q.clone(),
        error,
        rows,
        filtered,
        total: model.tasks.len() as u64,
        states: state_counts(model),
        default_columns: config.tasks_columns.clone(),
    }
}

/// A task's life from the times its events left: one entry per kind of
/// event, in time order. Only the last attempt's worker is known, so every
/// worker-side entry names it.
fn timeline(model: &Model, t: &Task) -> Vec<TimelineEntry> {
    let worker = sym_text(model, t.worker);
    let client = t.text.get(Field::Client).map(str::to_string);
    let times = &t.times;
    let mut out: Vec<TimelineEntry> = [
        (TaskEventKind::Sent, times.sent),
        (TaskEventKind::Received, times.received),
        (TaskEventKind::Started, times.started),
        (TaskEventKind::Retried, times.retried),
        (TaskEventKind::Succeeded, times.succeeded),
        (TaskEventKind::Failed, times.failed),
        (TaskEventKind::Rejected, times.rejected),
        (TaskEventKind::Revoked, times.revoked),
    ]
    .into_iter()
    .filter(|(_, at)| at.is_finite())
    .map(|(kind, at)| TimelineEntry {
        event: kind.type_name().to_string(),
        at,
        by: if kind == TaskEventKind::Sent {
            client.clone()
        } else {
            worker.clone()
        },
    })
    .collect();
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

pub fn task_detail(model: &Model, id: &str) -> Option<TaskDetail> {
    let t = model.tasks.get(TaskKey::of(id))?;
    let revoked = t.times.revoked.is_finite();
    Some(TaskDetail {
        row: task_row(model, t),
        traceback: t.text.get(Field::Traceback).map(str::to_string),
        queue: sym_text(model, t.queue),
        client: t.text.get(Field::Client).map(str::to_string),
        parent: model.link_text(t.parent, t.text.get(Field::ParentIdText)),
        root: model.link_text(t.root, t.text.get(Field::RootIdText)),
        children: model.children_text(t),
        succeeded: time(t.times.succeeded),
        failed: time(t.times.failed),
        retried: time(t.times.retried),
        rejected: time(t.times.rejected),
        terminated: revoked.then_some(t.flags & flags::TERMINATED != 0),
        signum: (t.signum != i16::MIN).then_some(i32::from(t.signum)),
        expired: revoked.then_some(t.flags & flags::EXPIRED != 0),
        clock: t.clock,
        timeline: timeline(model, t),
        retry_of: model.retry_links.retry_of(t.key).map(str::to_string),
        retried_as: model.retry_links.retried_as(t.key).to_vec(),
    })
}

pub fn worker_data(model: &Model, name: &str, now: f64) -> WorkerData {
    let worker = model.workers.get(name);
    let events = worker
        .map(|w| {
            w.task_events_by_type()
                .into_iter()
                .map(|(t, n)| (t.to_string(), n))
                .collect()
        })
        .unwrap_or_default();
    let inspections = model
        .inspected
        .get(name)
        .map(|by_method| {
            by_method
                .iter()
                .map(|(method, (reply, at))| Inspection {
                    method: method.clone(),
                    at: *at,
                    reply: reply.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    WorkerData {
        name: name.to_string(),
        row: worker.map(|w| worker_row(w, now)),
        events,
        inspections,
    }
}

pub fn broker_data(model: &Model, config: &ViewConfig) -> BrokerData {
    BrokerData {
        priority_steps: config.priority_steps.clone(),
        queues: model
            .queues
            .iter()
            .map(|q| QueueRow {
                name: q.name.clone(),
                depths: q.depths.clone(),
                unacked: q.unacked,
                consumers: q.consumers.iter().cloned().collect(),
                measured_at: q.measured_at,
            })
            .collect(),
        unacked: model.queues.unacked_total,
    }
}

/// Worker rows to send for the hostnames that changed, and the hostnames
/// that are gone.
pub fn workers_changes<'a>(
    model: &Model,
    changed: impl Iterator<Item = &'a String>,
    now: f64,
) -> (Vec<WorkerRow>, Vec<String>) {
    let mut upsert = Vec::new();
    let mut remove = Vec::new();
    for name in changed {
        match model.workers.get(name) {
            Some(w) => upsert.push(worker_row(w, now)),
            None => remove.push(name.clone()),
        }
    }
    (upsert, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_page_ranks_at_most_one_reads_worth_of_tasks() {
        let page = |offset, limit| {
            task_query(&TasksQuery {
                offset,
                limit,
                ..TasksQuery::default()
            })
        };
        let last = (MAX_READ_SPAN - 15) as u64;
        assert_eq!(page(last, 15).map(|q| q.offset), Ok(last as usize));
        let past = page(last + 1, 15).map(|q| q.offset);
        assert!(past.is_err_and(|e| e.contains("narrow the search")));
        assert!(page(u64::MAX, 15).is_err(), "no overflow on the way");
    }
}
