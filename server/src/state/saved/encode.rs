//! The model, besides its tasks, written in the saved format (see the
//! module above for the layout). Sym-keyed entries are written in symbol
//! order, so the same model always gives the same bytes, and the names
//! table keeps the symbols' order for the restored model.

use app::wire::celery::{TaskEventKind, WorkerEventKind};

use super::{
    FORMAT_VERSION, MAGIC, PREVIOUS_FORMAT_VERSION,
    codec::{Writer, checksum},
};
use crate::state::{
    Model,
    metrics::Metrics,
    queues::{DepthRing, Queue},
    series::{Gauges, WAIT_BUCKETS, WaitRing, Windows},
    stats::{LogHistogram, OUTCOMES, PromHistogram, Ring},
    symbols::Sym,
    workers::Worker,
};

/// The names of every symbol the saved state refers to, in symbol order;
/// a symbol is written as its position here.
struct Names(Vec<Sym>);

impl Names {
    fn of(model: &Model) -> Names {
        let m = &model.metrics;
        let mut syms: Vec<Sym> = model.types.keys().copied().collect();
        syms.extend(model.series.by_task.keys());
        syms.extend(model.series.by_worker.keys());
        syms.extend(m.events.keys().flat_map(|(w, k, t)| [*w, *k, *t]));
        syms.extend(m.runtime.keys().flat_map(|(w, t)| [*w, *t]));
        syms.extend(m.prefetch_time.keys().flat_map(|(w, t)| [*w, *t]));
        syms.extend(m.prefetched.keys().flat_map(|(w, t)| [*w, *t]));
        syms.extend(m.online.keys());
        syms.extend(m.executing.keys());
        syms.extend(m.queue_wait.keys());
        syms.extend(m.queue_wait_quantiles.keys());
        syms.sort_unstable();
        syms.dedup();
        Names(syms)
    }

    fn write(&self, w: &mut Writer, sym: Sym) {
        // Every symbol written was collected by `of`.
        w.len(self.0.binary_search(&sym).unwrap_or(0));
    }
}

/// Entries of a sym-keyed map, in key order.
fn sorted<K: Ord + Copy, V, S>(map: &std::collections::HashMap<K, V, S>) -> Vec<(K, &V)> {
    let mut v: Vec<(K, &V)> = map.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_unstable_by_key(|(k, _)| *k);
    v
}

pub(super) fn encode(model: &Model, now: f64) -> Vec<u8> {
    encode_as(model, now, FORMAT_VERSION)
}

/// `model` in the layout of `version`: [`FORMAT_VERSION`], or
/// [`PREVIOUS_FORMAT_VERSION`] (without the queues' history per priority
/// step), which stays writable so the tests can check that this build
/// reads what the previous one wrote.
pub(super) fn encode_as(model: &Model, now: f64, version: u16) -> Vec<u8> {
    let names = Names::of(model);
    let mut w = Writer {
        buf: Vec::with_capacity(64 * 1024),
    };
    w.buf.extend_from_slice(&MAGIC);
    w.buf.extend_from_slice(&version.to_le_bytes());
    w.buf.extend_from_slice(&[0; 8]);
    let body = w.buf.len();

    w.f64(now);
    w.uint(model.clock);
    w.len(names.0.len());
    for sym in &names.0 {
        w.str(model.symbols.text(*sym));
    }
    w.len(model.custom_states.len());
    for s in &model.custom_states {
        w.str(s);
    }
    counters(&mut w, model);
    types(&mut w, model, &names);
    ring(&mut w, &model.throughput.per_second);
    ring(&mut w, &model.throughput.per_minute);
    let workers = model.workers.in_creation_order();
    w.len(workers.len());
    for worker in workers {
        self::worker(&mut w, worker);
    }
    series(&mut w, model, &names);
    metrics(&mut w, &model.metrics, &names);
    w.opt(model.queues.unacked_total, Writer::uint);
    w.len(model.queues.by_name.len());
    for q in model.queues.by_name.values() {
        queue(&mut w, q, version);
    }
    w.len(model.gaps.len());
    for gap in &model.gaps {
        w.f64(gap.from);
        w.opt(gap.to, Writer::f64);
    }
    let links: Vec<_> = model.retry_links.in_order().collect();
    w.len(links.len());
    for (original, retry) in links {
        w.str(original);
        w.str(retry);
    }

    let sum = checksum(&w.buf[body..]);
    w.buf[body - 8..body].copy_from_slice(&sum.to_le_bytes());
    w.buf
}

fn counters(w: &mut Writer, model: &Model) {
    let c = &model.counters;
    w.len(TaskEventKind::COUNT);
    c.task_types.iter().for_each(|n| w.uint(*n));
    w.len(WorkerEventKind::COUNT);
    c.worker_types.iter().for_each(|n| w.uint(*n));
    w.len(c.other_types.len());
    for (name, n) in &c.other_types {
        w.str(name);
        w.uint(*n);
    }
    w.uint(c.undecodable);
    w.uint(c.duplicates);
}

fn types(w: &mut Writer, model: &Model, names: &Names) {
    let types = sorted(&model.types);
    w.len(types.len());
    for (sym, t) in types {
        names.write(w, sym);
        w.len(OUTCOMES);
        t.outcomes.iter().for_each(|n| w.uint(*n));
        log_histogram(w, &t.runtime);
        w.opt(t.last_failure, |w, k| w.u128(k.0));
    }
}

fn log_histogram(w: &mut Writer, h: &LogHistogram) {
    let (counts, total, sum) = h.parts();
    w.sparse(counts);
    w.uint(total);
    w.f64(sum);
}

fn prom_histogram(w: &mut Writer, h: &PromHistogram) {
    w.len(h.counts.len());
    h.counts.iter().for_each(|n| w.uint(*n));
    w.f64(h.sum);
    w.uint(h.count);
}

/// A ring: its bucket width, its length, its head, and its non-zero
/// buckets by age, each an outcome mask and the counts it names.
fn ring(w: &mut Writer, r: &Ring) {
    w.uint(u64::from(r.width()));
    w.len(r.len());
    w.opt(r.head(), Writer::int);
    w.aged(r.nonzero(), |w, counts| {
        let mask = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .fold(0u8, |m, (i, _)| m | (1 << i));
        w.u8(mask);
        counts
            .iter()
            .filter(|c| **c != 0)
            .for_each(|c| w.uint(u64::from(*c)));
    });
}

fn depth_ring(w: &mut Writer, r: &DepthRing) {
    let (width, len) = r.shape();
    w.uint(u64::from(width));
    w.len(len);
    w.opt(r.head(), Writer::int);
    w.aged(r.nonzero(), |w, v| w.uint(u64::from(v)));
}

fn wait_ring(w: &mut Writer, r: &WaitRing) {
    let (width, len) = r.shape();
    w.uint(u64::from(width));
    w.len(len);
    w.opt(r.head(), Writer::int);
    w.aged(r.nonzero(), |w, h: &[u32; WAIT_BUCKETS]| w.sparse(h));
}

fn windows(w: &mut Writer, windows: &Windows) {
    windows.rings().iter().for_each(|r| ring(w, r));
}

fn gauges(w: &mut Writer, g: &Gauges) {
    g.online.iter().for_each(|r| depth_ring(w, r));
    g.wait.iter().for_each(|r| wait_ring(w, r));
}

fn worker(w: &mut Writer, x: &Worker) {
    w.str(&x.hostname);
    w.opt(x.pid, |w, v| w.uint(u64::from(v)));
    w.f64(x.freq);
    w.opt(x.active, Writer::uint);
    w.opt(x.processed, Writer::uint);
    w.opt(x.loadavg, |w, l| l.iter().for_each(|v| w.f64(*v)));
    w.opt(x.sw_ident.as_deref(), Writer::str);
    w.opt(x.sw_ver.as_deref(), Writer::str);
    w.opt(x.sw_sys.as_deref(), Writer::str);
    w.opt(x.utcoffset, Writer::f64);
    w.uint(x.clock);
    w.opt(x.last_heartbeat, Writer::f64);
    w.len(x.heartbeats.len());
    x.heartbeats.iter().for_each(|t| w.f64(*t));
    w.bool(x.online);
    w.opt(x.offline_since, Writer::f64);
    w.len(TaskEventKind::COUNT);
    x.task_events.iter().for_each(|n| w.uint(*n));
    w.uint(x.custom_events);
    w.len(WorkerEventKind::COUNT);
    x.worker_events.iter().for_each(|n| w.uint(*n));
    ring(w, &x.recent);
    w.uint(x.rev);
}

fn series(w: &mut Writer, model: &Model, names: &Names) {
    let s = &model.series;
    windows(w, &s.all);
    for keyed in [&s.by_task, &s.by_worker] {
        let keyed = sorted(keyed);
        w.len(keyed.len());
        for (sym, series) in keyed {
            names.write(w, sym);
            windows(w, series);
        }
    }
    w.uint(s.untracked);
    gauges(w, &s.gauges);
}

fn metrics(w: &mut Writer, m: &Metrics, names: &Names) {
    w.len(m.runtime_bounds.len());
    m.runtime_bounds.iter().for_each(|b| w.f64(*b));
    let events = sorted(&m.events);
    w.len(events.len());
    for ((worker, kind, task), c) in events {
        [worker, kind, task]
            .into_iter()
            .for_each(|s| names.write(w, s));
        w.uint(c.count);
        w.f64(c.created);
    }
    let runtime = sorted(&m.runtime);
    w.len(runtime.len());
    for ((worker, task), o) in runtime {
        [worker, task].into_iter().for_each(|s| names.write(w, s));
        prom_histogram(w, &o.histogram);
        w.f64(o.created);
    }
    let prefetch_time = sorted(&m.prefetch_time);
    w.len(prefetch_time.len());
    for ((worker, task), v) in prefetch_time {
        [worker, task].into_iter().for_each(|s| names.write(w, s));
        w.f64(*v);
    }
    let prefetched = sorted(&m.prefetched);
    w.len(prefetched.len());
    for ((worker, task), v) in prefetched {
        [worker, task].into_iter().for_each(|s| names.write(w, s));
        w.int(*v);
    }
    let online = sorted(&m.online);
    w.len(online.len());
    for (worker, v) in online {
        names.write(w, worker);
        w.bool(*v);
    }
    let executing = sorted(&m.executing);
    w.len(executing.len());
    for (worker, v) in executing {
        names.write(w, worker);
        w.uint(*v);
    }
    let queue_wait = sorted(&m.queue_wait);
    w.len(queue_wait.len());
    for (queue, h) in queue_wait {
        names.write(w, queue);
        prom_histogram(w, h);
    }
    let quantiles = sorted(&m.queue_wait_quantiles);
    w.len(quantiles.len());
    for (queue, h) in quantiles {
        names.write(w, queue);
        log_histogram(w, h);
    }
}

fn queue(w: &mut Writer, q: &Queue, version: u16) {
    w.str(&q.name);
    w.opt(q.depths.as_deref(), |w, d| {
        w.len(d.len());
        d.iter().for_each(|n| w.uint(*n));
    });
    w.opt(q.measured_at, Writer::f64);
    w.opt(q.unacked, Writer::uint);
    w.len(q.consumers.len());
    q.consumers.iter().for_each(|c| w.str(c));
    w.bool(q.declared);
    w.bool(q.sent_to);
    [&q.per_5s, &q.per_minute, &q.per_hour]
        .into_iter()
        .for_each(|r| depth_ring(w, r));
    if version > PREVIOUS_FORMAT_VERSION {
        w.len(q.per_step_5s.len());
        q.per_step_5s.iter().for_each(|r| depth_ring(w, r));
    }
}
