//! The explicit conversion from the model to the read API's wire shapes
//! (`app::wire::rest`, Flower's JSON). Like `views`, the boundary where
//! model types become serializable ones; called by the named reads in
//! `read`. Pure.

use app::wire::{celery::TaskEventKind, rest};

use super::{
    Model, TypeSummary,
    read::WorkerInfo,
    task::{NO_RETRIES, Task, flags},
    text::Field,
    workers::Worker,
};

fn time(t: f64) -> Option<f64> {
    t.is_finite().then_some(t)
}

/// One task, as Flower's `/api/task/info` and `/api/tasks` show it.
pub fn task(model: &Model, t: &Task) -> rest::Task {
    let sym = |s: super::symbols::Sym| (!s.is_none()).then(|| model.symbols.text(s).to_string());
    let text = |f: Field| t.text.get(f).map(str::to_string);
    let root = model.link_text(t.root, t.text.get(Field::RootIdText));
    let parent = model.link_text(t.parent, t.text.get(Field::ParentIdText));
    let revoked = t.times.revoked.is_finite();
    rest::Task {
        uuid: model.id_text(t.key).unwrap_or_default(),
        name: sym(t.name),
        state: model.state_name(t.state).to_string(),
        received: time(t.times.received),
        sent: time(t.times.sent),
        started: time(t.times.started),
        rejected: time(t.times.rejected),
        succeeded: time(t.times.succeeded),
        failed: time(t.times.failed),
        retried: time(t.times.retried),
        revoked: time(t.times.revoked),
        args: text(Field::Args),
        kwargs: text(Field::Kwargs),
        eta: text(Field::Eta),
        expires: text(Field::Expires),
        retries: (t.retries != NO_RETRIES).then_some(t.retries),
        worker: sym(t.worker),
        result: text(Field::Result),
        exception: text(Field::Exception),
        timestamp: time(t.times.timestamp),
        runtime: time(t.runtime),
        traceback: text(Field::Traceback),
        exchange: sym(t.exchange),
        routing_key: sym(t.routing_key),
        clock: t.clock,
        client: text(Field::Client),
        root_id: root.clone(),
        root,
        parent_id: parent.clone(),
        parent,
        children: model.children_text(t),
        queue: sym(t.queue),
        terminated: revoked.then_some(t.flags & flags::TERMINATED != 0),
        signum: (t.signum != i16::MIN).then_some(i32::from(t.signum)),
        expired: revoked.then_some(t.flags & flags::EXPIRED != 0),
        retry_of: model.retry_links.retry_of(t.key).map(str::to_string),
        retried_as: model.retry_links.retried_as(t.key).to_vec(),
    }
}

fn worker_events(w: &Worker) -> rest::WorkerEvents {
    rest::WorkerEvents {
        status: w.online,
        active: w.active,
        processed: w.processed,
        loadavg: w.loadavg,
        pid: w.pid,
        freq: w.freq,
        sw_ident: w.sw_ident.clone(),
        sw_ver: w.sw_ver.clone(),
        sw_sys: w.sw_sys.clone(),
        utcoffset: w.utcoffset,
        last_heartbeat: w.last_heartbeat,
        offline_since: w.offline_since,
        task_events: w
            .task_events_by_type()
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
    }
}

/// Flower's workers table, every worker known.
pub fn workers_table(model: &Model, now: f64) -> rest::WorkersTable {
    let data = model
        .workers
        .iter()
        .map(|w| {
            let mut counter: std::collections::BTreeMap<String, u64> = w
                .task_events_by_type()
                .into_iter()
                .map(|(t, n)| (t.to_string(), n))
                .collect();
            for kind in app::wire::celery::WorkerEventKind::ALL {
                let n = w.worker_events[kind.index()];
                if n > 0 {
                    counter.insert(kind.type_name().to_string(), n);
                }
            }
            rest::WorkerInTable {
                counter,
                hostname: w.hostname.clone(),
                pid: w.pid,
                freq: w.freq,
                heartbeats: w.heartbeats.clone(),
                clock: w.clock,
                active: w.active,
                processed: w.processed,
                loadavg: w.loadavg,
                sw_ident: w.sw_ident.clone(),
                sw_ver: w.sw_ver.clone(),
                sw_sys: w.sw_sys.clone(),
                status: w.online && w.alive_at(now),
            }
        })
        .collect();
    rest::WorkersTable { data }
}

/// One worker in `/api/workers`: its inspection replies (shared, not
/// copied: the caller decodes them) and its events.
pub fn worker(model: &Model, name: &str) -> WorkerInfo {
    let inspected = model.inspected.get(name).map_or_else(Vec::new, |methods| {
        methods
            .iter()
            .map(|(method, (reply, at))| (method.clone(), reply.clone(), *at))
            .collect()
    });
    WorkerInfo {
        inspected,
        events: model.workers.get(name).map(worker_events),
    }
}

pub fn queue_lengths(model: &Model) -> rest::QueueLengths {
    rest::QueueLengths {
        active_queues: model
            .queues
            .iter()
            .map(|q| rest::QueueLength {
                name: q.name.clone(),
                messages: q.messages(),
                priorities: q.depths.clone().unwrap_or_default(),
                consumers: q.consumers.iter().cloned().collect(),
                measured_at: q.measured_at,
            })
            .collect(),
    }
}

/// `/api/stats`; `dropped` is the reader's, which the model does not see.
pub fn stats(model: &Model, dropped: u64) -> rest::Stats {
    let limits = model.tasks.limits();
    rest::Stats {
        model: rest::ModelStats {
            tasks: model.tasks.len(),
            workers: model.workers.len(),
            queues: model.queues.iter().count(),
            bytes: model.heap_bytes(),
            bytes_per_task_fixed: super::tasks::per_task_fixed_bytes(),
            max_tasks: limits.max_tasks,
            max_bytes: (limits.max_bytes != usize::MAX).then_some(limits.max_bytes),
            evicted: model.tasks.evicted_total(),
        },
        events: rest::EventStats {
            by_type: model.counters.events_by_type(),
            undecodable: model.counters.undecodable,
            duplicates: model.counters.duplicates,
            dropped,
        },
        broker_connected: model.broker_connected,
        gaps: model
            .gaps
            .iter()
            .map(|g| rest::Gap {
                from: g.from,
                to: g.to,
            })
            .collect(),
        history: None,
    }
}

/// One row of `/api/stats/types`.
pub fn task_type_stats(t: TypeSummary) -> rest::TaskTypeStats {
    rest::TaskTypeStats {
        name: t.name,
        states: t.states.into_iter().collect(),
        totals: TaskEventKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), t.totals[k.index()]))
            .collect(),
        success_rate: t.success_rate,
        runtime: rest::Runtime {
            count: t.runtime_count,
            mean: t.runtime_mean,
            p50: t.p50,
            p95: t.p95,
            p99: t.p99,
        },
        last_failure: t.last_failure,
    }
}
