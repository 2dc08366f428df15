//! The saved format read back into [`Saved`]: everything checked (magic,
//! version, checksum, every count, index, name and ring shape) before the
//! model is touched. Rings are rebuilt into fresh ones of this build's
//! shape: a saved ring must have the same bucket width; a longer one keeps
//! only the buckets this build's ring has room for.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use app::wire::celery::{TaskEventKind, WorkerEventKind};

use super::{
    FORMAT_VERSION, HEADER, MAGIC, PREVIOUS_FORMAT_VERSION, Saved, SavedError, SavedMetrics,
    SavedSeries, SavedType,
    codec::{Reader, checksum},
};
use crate::state::{
    Counters, Gap, MAX_GAPS,
    key::TaskKey,
    metrics::{Counted, Observed, QUEUE_WAIT_BUCKETS},
    queues::{DepthRing, MAX_PRIORITY_STEPS, Queue},
    series::{Gauges, WAIT_BUCKETS, WaitRing, Windows},
    stats::{LogHistogram, OUTCOMES, PromHistogram, Ring, Throughput},
    workers::{HEARTBEATS_KEPT, Worker},
};

type Result<T> = std::result::Result<T, SavedError>;

/// The largest bucket number a ring's head may have: a second-wide
/// bucket's number is its Unix time, so this is millions of years away,
/// and ring arithmetic (head differences) cannot overflow.
const MAX_BUCKET_NUMBER: u64 = 1 << 48;

pub(super) fn decode(bytes: &[u8]) -> Result<Saved> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(SavedError::NotSaved);
    }
    if bytes.len() < HEADER {
        return Err(SavedError::Truncated {
            what: "the header",
            at: bytes.len(),
        });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION && version != PREVIOUS_FORMAT_VERSION {
        return Err(SavedError::UnknownVersion { found: version });
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&bytes[10..HEADER]);
    let body = &bytes[HEADER..];
    if checksum(body) != u64::from_le_bytes(sum) {
        return Err(SavedError::Damaged { len: bytes.len() });
    }
    let r = &mut Reader::new(body, HEADER);
    let saved_at = r.f64("the time saved")?;
    let clock = r.uint("the clock")?;
    let names = r.list("the names", 1, |r| r.string("a name"))?;
    let name = |r: &mut Reader<'_>| -> Result<u32> {
        let i = r.u32("a name's number")?;
        if (i as usize) < names.len() {
            Ok(i)
        } else {
            Err(r.invalid("a name's number"))
        }
    };
    let custom_states = r.list("the custom states", 1, |r| r.string("a custom state"))?;
    let counters = counters(r)?;
    let types = r.list("the task types", 1, |r| {
        Ok(SavedType {
            name: name(r)?,
            outcomes: fixed(r, "a type's outcomes")?,
            runtime: log_histogram(r)?,
            last_failure: r.opt("a type's last failure", task_key)?,
        })
    })?;
    let mut throughput = Throughput::default();
    ring(r, &mut throughput.per_second)?;
    ring(r, &mut throughput.per_minute)?;
    let mut hostnames = HashSet::new();
    let workers = r.list("the workers", 1, |r| {
        let w = worker(r)?;
        if hostnames.insert(w.hostname.clone()) {
            Ok(w)
        } else {
            Err(r.invalid("a worker's hostname (twice)"))
        }
    })?;
    let all = windows(r)?;
    let by_task = r.list("the series by task", 1, |r| Ok((name(r)?, windows(r)?)))?;
    let by_worker = r.list("the series by worker", 1, |r| Ok((name(r)?, windows(r)?)))?;
    let series = SavedSeries {
        all,
        by_task,
        by_worker,
        untracked: r.uint("the untracked count")?,
        gauges: gauges(r)?,
    };
    let metrics = metrics(r, &name)?;
    let unacked_total = r.opt("the unacked total", |r| r.uint("the unacked total"))?;
    let queues = r.list("the queues", 1, |r| queue(r, version))?;
    let gaps = r.list("the gaps", 9, |r| {
        Ok(Gap {
            from: r.f64("a gap")?,
            to: r.opt("a gap's end", |r| r.f64("a gap's end"))?,
        })
    })?;
    if gaps.len() > MAX_GAPS {
        return Err(r.invalid("the gaps"));
    }
    let retry_links = r.list("the retry links", 2, |r| {
        Ok((r.string("a retried task")?, r.string("a retry")?))
    })?;
    r.end()?;
    Ok(Saved {
        saved_at,
        clock,
        names,
        custom_states,
        counters,
        types,
        throughput,
        workers,
        series,
        metrics,
        queues,
        unacked_total,
        gaps,
        retry_links,
    })
}

/// `N` counters, written with their number, which must be `N`.
fn fixed<const N: usize>(r: &mut Reader<'_>, what: &'static str) -> Result<[u64; N]> {
    if r.usize(what)? != N {
        return Err(r.invalid(what));
    }
    let mut out = [0; N];
    for v in &mut out {
        *v = r.uint(what)?;
    }
    Ok(out)
}

fn task_key(r: &mut Reader<'_>) -> Result<TaskKey> {
    r.u128("a task id").map(TaskKey)
}

fn counters(r: &mut Reader<'_>) -> Result<Counters> {
    let task_types = fixed::<{ TaskEventKind::COUNT }>(r, "the task events by kind")?;
    let worker_types = fixed::<{ WorkerEventKind::COUNT }>(r, "the worker events by kind")?;
    let other_types = r
        .list("the other events", 2, |r| {
            Ok((r.string("an event type")?, r.uint("an event count")?))
        })?
        .into_iter()
        .collect::<BTreeMap<_, _>>();
    Ok(Counters {
        task_types,
        worker_types,
        other_types,
        undecodable: r.uint("the undecodable count")?,
        duplicates: r.uint("the duplicate count")?,
    })
}

fn log_histogram(r: &mut Reader<'_>) -> Result<LogHistogram> {
    let mut counts = vec![0; LogHistogram::BUCKETS].into_boxed_slice();
    r.sparse("a runtime histogram", &mut counts)?;
    let total = r.uint("a histogram's count")?;
    let sum = r.f64("a histogram's sum")?;
    LogHistogram::from_parts(counts, total, sum).ok_or_else(|| r.invalid("a runtime histogram"))
}

fn prom_histogram(r: &mut Reader<'_>, buckets: usize) -> Result<PromHistogram> {
    let counts = r.list("a histogram's buckets", 1, |r| r.uint("a bucket"))?;
    if counts.len() != buckets {
        return Err(r.invalid("a histogram's buckets"));
    }
    Ok(PromHistogram {
        counts: counts.into_boxed_slice(),
        sum: r.f64("a histogram's sum")?,
        count: r.uint("a histogram's count")?,
    })
}

/// A ring's width, length and head, checked against `fresh`'s shape:
/// the head, and the oldest age to accept.
fn ring_shape(
    r: &mut Reader<'_>,
    what: &'static str,
    (width, _): (u32, usize),
) -> Result<(Option<i64>, usize)> {
    let saved_width = r.u32(what)?;
    if saved_width != width {
        return Err(SavedError::Shape {
            what,
            saved: saved_width,
            expected: width,
        });
    }
    let len = r.usize(what)?;
    let head = r.opt(what, |r| r.int(what))?;
    if len == 0 || head.is_some_and(|h| h.unsigned_abs() > MAX_BUCKET_NUMBER) {
        return Err(r.invalid(what));
    }
    // Nothing is in a ring that never moved.
    let max_age = if head.is_some() { len - 1 } else { 0 };
    Ok((head, max_age))
}

fn ring(r: &mut Reader<'_>, fresh: &mut Ring) -> Result<()> {
    const WHAT: &str = "an outcome ring";
    let (head, max_age) = ring_shape(r, WHAT, (fresh.width(), fresh.len()))?;
    let buckets = r.aged(WHAT, max_age, |r| {
        let mask = r.u8(WHAT)?;
        if mask == 0 {
            return Err(r.invalid(WHAT));
        }
        let mut counts = [0u32; OUTCOMES];
        for (i, c) in counts.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *c = r.u32(WHAT)?;
            }
        }
        Ok(counts)
    })?;
    match head {
        Some(head) => fresh.restore(head, &buckets),
        None if buckets.is_empty() => {}
        None => return Err(r.invalid(WHAT)),
    }
    Ok(())
}

fn depth_ring(r: &mut Reader<'_>, fresh: &mut DepthRing) -> Result<()> {
    const WHAT: &str = "a depth ring";
    let (head, max_age) = ring_shape(r, WHAT, fresh.shape())?;
    let values = r.aged(WHAT, max_age, |r| r.u32(WHAT))?;
    if head.is_none() && !values.is_empty() {
        return Err(r.invalid(WHAT));
    }
    fresh.restore(head, &values);
    Ok(())
}

fn wait_ring(r: &mut Reader<'_>, fresh: &mut WaitRing) -> Result<()> {
    const WHAT: &str = "a queue-wait ring";
    let (head, max_age) = ring_shape(r, WHAT, fresh.shape())?;
    let buckets = r.aged(WHAT, max_age, |r| {
        let mut h = [0u32; WAIT_BUCKETS];
        r.sparse(WHAT, &mut h)?;
        Ok(h)
    })?;
    if head.is_none() && !buckets.is_empty() {
        return Err(r.invalid(WHAT));
    }
    fresh.restore(head, &buckets);
    Ok(())
}

fn windows(r: &mut Reader<'_>) -> Result<Windows> {
    let mut w = Windows::default();
    for fresh in w.rings_mut() {
        ring(r, fresh)?;
    }
    Ok(w)
}

fn gauges(r: &mut Reader<'_>) -> Result<Gauges> {
    let mut g = Gauges::default();
    for fresh in &mut g.online {
        depth_ring(r, fresh)?;
    }
    for fresh in &mut g.wait {
        wait_ring(r, fresh)?;
    }
    Ok(g)
}

fn opt_string(r: &mut Reader<'_>, what: &'static str) -> Result<Option<String>> {
    r.opt(what, |r| r.string(what))
}

fn opt_f64(r: &mut Reader<'_>, what: &'static str) -> Result<Option<f64>> {
    r.opt(what, |r| r.f64(what))
}

fn worker(r: &mut Reader<'_>) -> Result<Worker> {
    let mut w = Worker::new(r.string("a worker's hostname")?);
    w.pid = r.opt("a worker's pid", |r| r.u32("a worker's pid"))?;
    w.freq = r.f64("a worker's heartbeat interval")?;
    w.active = r.opt("a worker's active", |r| r.uint("a worker's active"))?;
    w.processed = r.opt("a worker's processed", |r| r.uint("a worker's processed"))?;
    w.loadavg = r.opt("a worker's load", |r| {
        Ok([r.f64("a load")?, r.f64("a load")?, r.f64("a load")?])
    })?;
    w.sw_ident = opt_string(r, "a worker's software")?;
    w.sw_ver = opt_string(r, "a worker's version")?;
    w.sw_sys = opt_string(r, "a worker's system")?;
    w.utcoffset = opt_f64(r, "a worker's utcoffset")?;
    w.clock = r.uint("a worker's clock")?;
    w.last_heartbeat = opt_f64(r, "a worker's last heartbeat")?;
    w.heartbeats = r.list("a worker's heartbeats", 8, |r| r.f64("a heartbeat"))?;
    if w.heartbeats.len() > HEARTBEATS_KEPT {
        return Err(r.invalid("a worker's heartbeats"));
    }
    w.online = r.bool("a worker's status")?;
    w.offline_since = opt_f64(r, "a worker's offline time")?;
    w.task_events = fixed(r, "a worker's task events")?;
    w.custom_events = r.uint("a worker's custom events")?;
    w.worker_events = fixed(r, "a worker's worker events")?;
    ring(r, &mut w.recent)?;
    w.rev = r.uint("a worker's revision")?;
    Ok(w)
}

fn metrics(
    r: &mut Reader<'_>,
    name: &impl Fn(&mut Reader<'_>) -> Result<u32>,
) -> Result<SavedMetrics> {
    let runtime_bounds = r.list("the runtime buckets", 8, |r| r.f64("a runtime bucket"))?;
    let buckets = runtime_bounds.len() + 1;
    let events = r.list("flower_events_total", 4, |r| {
        Ok((
            [name(r)?, name(r)?, name(r)?],
            Counted {
                count: r.uint("an event count")?,
                created: r.f64("a series' creation")?,
            },
        ))
    })?;
    let runtime = r.list("flower_task_runtime_seconds", 3, |r| {
        Ok((
            [name(r)?, name(r)?],
            Observed {
                histogram: prom_histogram(r, buckets)?,
                created: r.f64("a series' creation")?,
            },
        ))
    })?;
    let prefetch_time = r.list("flower_task_prefetch_time_seconds", 10, |r| {
        Ok(([name(r)?, name(r)?], r.f64("a prefetch time")?))
    })?;
    let prefetched = r.list("flower_worker_prefetched_tasks", 3, |r| {
        Ok(([name(r)?, name(r)?], r.int("a prefetched count")?))
    })?;
    let online = r.list("flower_worker_online", 2, |r| {
        Ok((name(r)?, r.bool("a worker's online word")?))
    })?;
    let executing = r.list("flower_worker_executing", 2, |r| {
        Ok((name(r)?, r.uint("an executing count")?))
    })?;
    let queue_wait = r.list("celadon_queue_wait_seconds", 2, |r| {
        Ok((name(r)?, prom_histogram(r, QUEUE_WAIT_BUCKETS.len() + 1)?))
    })?;
    let queue_wait_quantiles = r.list("the queue wait quantiles", 2, |r| {
        Ok((name(r)?, log_histogram(r)?))
    })?;
    Ok(SavedMetrics {
        runtime_bounds,
        events,
        runtime,
        prefetch_time,
        prefetched,
        online,
        executing,
        queue_wait,
        queue_wait_quantiles,
    })
}

/// A queue; one saved by [`PREVIOUS_FORMAT_VERSION`] has no history per
/// priority step and starts with none.
fn queue(r: &mut Reader<'_>, version: u16) -> Result<Queue> {
    let mut q = Queue::new(&r.string("a queue's name")?);
    q.depths = r.opt("a queue's depths", |r| {
        r.list("a queue's depths", 1, |r| r.uint("a depth"))
    })?;
    q.measured_at = opt_f64(r, "a queue's measurement time")?;
    q.unacked = r.opt("a queue's unacked", |r| r.uint("a queue's unacked"))?;
    q.consumers = r
        .list("a queue's consumers", 1, |r| r.string("a consumer"))?
        .into_iter()
        .collect::<BTreeSet<_>>();
    q.declared = r.bool("a queue's declared flag")?;
    q.sent_to = r.bool("a queue's sent-to flag")?;
    depth_ring(r, &mut q.per_5s)?;
    depth_ring(r, &mut q.per_minute)?;
    depth_ring(r, &mut q.per_hour)?;
    if version > PREVIOUS_FORMAT_VERSION {
        const WHAT: &str = "a queue's priority steps";
        let mut read = 0;
        q.per_step_5s = r.list(WHAT, 1, |r| {
            // Refused before more rings are made than a queue may keep.
            read += 1;
            if read > MAX_PRIORITY_STEPS {
                return Err(r.invalid(WHAT));
            }
            let mut ring = Queue::step_ring();
            depth_ring(r, &mut ring)?;
            Ok(ring)
        })?;
        if q.per_step_5s.len() == 1 || q.per_step_5s.len() > MAX_PRIORITY_STEPS {
            return Err(r.invalid(WHAT));
        }
    }
    Ok(q)
}
