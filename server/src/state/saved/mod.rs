//! The model besides its tasks, saved as bytes and restored into a fresh
//! model, so that after a restart every chart and counter shows what it
//! showed before. The tasks are the history store's rows; this is the
//! rest: workers (counters, heartbeats, the Workers strip's recent rate),
//! events by type, per task type outcomes and runtimes, throughput,
//! Flower's `/metrics` series with their `_created` times, every chart
//! series at every window (and workers online and queue waits), queues
//! with their depth history (in total and per priority step), gaps, retry links, custom states and the
//! receiver's Lamport clock. Pure: `now` comes in, bytes go out.
//!
//! **Counted from events, saved here**, versus **derived from the retained
//! tasks, rebuilt by inserting them**:
//! - `TypeStats::outcomes`, `runtime` and `last_failure` count every event
//!   since start, including tasks long evicted: saved. `TypeStats::retained`
//!   counts the tasks the store holds by state: not saved, rebuilt as the
//!   reloaded tasks are inserted. Restoring overwrites the first three of
//!   a type and leaves `retained` as it is, so it may run before or after
//!   the tasks are reloaded.
//! - `Counters` (events by type, undecodable, duplicates), the worker
//!   counters, throughput, the chart series and the metrics series count
//!   events: saved, and restored by replacing what the model holds.
//! - Not saved: the tasks, children waiting for their parent, inspection
//!   replies and workers just joined (asked again at start), the broker
//!   link's state (a fresh model is disconnected until the stream says
//!   otherwise), the decoder's envelope tails.
//!
//! **Restoring judges what time changed.** A worker is online only if its
//! last sign of life is within its heartbeat window at `now`, whatever it
//! was when saved: one last heard from before the restart shows offline
//! from when its window ran out until it beats again. The time between
//! the save and the restart is a gap (events sent then were lost), opened
//! at the save's time and closed when the stream connects, unless the
//! saved model was in an open gap already. Flower's `flower_worker_online`
//! stays the last worker event's word, as Flower's rule is.
//!
//! **Symbols are per process.** Names are written as text, in a table in
//! symbol order, and interned again on restore, so a restored model's
//! series keep their relative order (that of `/metrics`). Custom states
//! known before the restore keep their codes (reloaded tasks may use
//! them); saved ones not yet known are added after them.
//!
//! **The format is written by hand, not by serde.** Serde lives at the
//! wire and model types are not serializable; serde mirrors of every ring
//! would copy each ring, zeros and all, once a second before writing it,
//! where the encoder here reads the model in place and skips the zeros.
//! The format is a few primitives (`codec`): LEB128 integers, doubles as
//! their bits (exact: a restored model compares equal), length-prefixed
//! UTF-8; rings are written as their head and their non-zero buckets by
//! age, each with a mask of the outcomes it counts, so an idle series
//! costs a few bytes. No dependency is added for it. A decoded blob waits
//! in plain structs (`Saved`, with names as positions) until it is
//! applied.
//!
//! Layout: [`MAGIC`], [`FORMAT_VERSION`] (u16, little-endian), a checksum
//! of the body (u64, `codec::checksum`), then the body: the save's time,
//! the clock, the names, the custom states, the counters, the task types,
//! throughput, the workers, the series and gauges, the metrics, the
//! queues, the gaps, the retry links. A change to any of it, or to a
//! ring's bucket width, takes a new version; a ring made longer or shorter
//! than the saved one still reads it (the buckets that fit). The previous
//! version ([`PREVIOUS_FORMAT_VERSION`]) is read too, so an upgrade keeps
//! the charts: version 1 lacks the queues' history per priority step,
//! which then starts empty.
//!
//! **A blob is decoded in full before the model is touched**: one that is
//! not ours, of another version, damaged (checksum), truncated or
//! malformed is an error that leaves the model as it was. Only what no
//! check can refuse differs from before: `--max-workers` lower than the
//! saved workers forgets the longest offline; changed runtime buckets
//! (`--task-runtime-metric-buckets`) leave `flower_task_runtime_seconds`
//! to start again, as a restarted Flower's would.

mod codec;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

use super::{
    Counters, Gap, Model,
    key::TaskKey,
    metrics::{Counted, Observed},
    queues::Queue,
    series::{Gauges, Windows},
    stats::{LogHistogram, OUTCOMES, PromHistogram, Throughput},
    symbols::Sym,
    workers::Worker,
};

/// The first bytes of every saved blob.
pub const MAGIC: [u8; 8] = *b"CLDNREST";

/// The layout [`Model::save_besides_tasks`] writes; the only one
/// [`Model::restore_besides_tasks`] reads.
/// Version 2 added each queue's history per priority step.
pub const FORMAT_VERSION: u16 = 2;

/// The layout before [`FORMAT_VERSION`], read too: its queues start with
/// no history per priority step.
pub const PREVIOUS_FORMAT_VERSION: u16 = 1;

/// Magic, version and checksum.
const HEADER: usize = MAGIC.len() + 2 + 8;

/// Why a saved blob was not restored. The model is left as it was.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SavedError {
    #[error("not a saved celadon model: it does not start with \"CLDNREST\"")]
    NotSaved,
    #[error(
        "saved in format version {found}; this celadon reads versions {PREVIOUS_FORMAT_VERSION} and {FORMAT_VERSION}"
    )]
    UnknownVersion { found: u16 },
    #[error("damaged: the checksum of its {len} bytes does not match")]
    Damaged { len: usize },
    #[error("truncated: it ends at byte {at}, in {what}")]
    Truncated { what: &'static str, at: usize },
    #[error("malformed: {what} at byte {at}")]
    Invalid { what: &'static str, at: usize },
    #[error("{what} has buckets of {saved} s; this celadon's have {expected} s")]
    Shape {
        what: &'static str,
        saved: u32,
        expected: u32,
    },
}

/// A decoded blob, checked, not yet applied. Symbols are positions in
/// `names`.
#[derive(Debug)]
struct Saved {
    saved_at: f64,
    clock: u64,
    names: Vec<String>,
    custom_states: Vec<String>,
    counters: Counters,
    types: Vec<SavedType>,
    throughput: Throughput,
    workers: Vec<Worker>,
    series: SavedSeries,
    metrics: SavedMetrics,
    queues: Vec<Queue>,
    unacked_total: Option<u64>,
    gaps: Vec<Gap>,
    retry_links: Vec<(String, String)>,
}

#[derive(Debug)]
struct SavedType {
    name: u32,
    outcomes: [u64; OUTCOMES],
    runtime: LogHistogram,
    last_failure: Option<TaskKey>,
}

#[derive(Debug)]
struct SavedSeries {
    all: Windows,
    by_task: Vec<(u32, Windows)>,
    by_worker: Vec<(u32, Windows)>,
    untracked: u64,
    gauges: Gauges,
}

#[derive(Debug)]
struct SavedMetrics {
    runtime_bounds: Vec<f64>,
    events: Vec<([u32; 3], Counted)>,
    runtime: Vec<([u32; 2], Observed)>,
    prefetch_time: Vec<([u32; 2], f64)>,
    prefetched: Vec<([u32; 2], i64)>,
    online: Vec<(u32, bool)>,
    executing: Vec<(u32, u64)>,
    queue_wait: Vec<(u32, PromHistogram)>,
    queue_wait_quantiles: Vec<(u32, LogHistogram)>,
}

impl Model {
    /// Everything the model holds besides its tasks, at `now`, in the
    /// saved format.
    pub fn save_besides_tasks(&self, now: f64) -> Vec<u8> {
        encode::encode(self, now)
    }

    /// Restores what [`Model::save_besides_tasks`] wrote into this model
    /// (fresh, perhaps holding reloaded tasks), at `now`, before the event
    /// stream connects (its first connection closes the restart's gap).
    /// On an error the model is unchanged.
    pub fn restore_besides_tasks(&mut self, bytes: &[u8], now: f64) -> Result<(), SavedError> {
        let saved = decode::decode(bytes)?;
        saved.apply(self, now);
        Ok(())
    }
}

impl Saved {
    fn apply(self, model: &mut Model, now: f64) {
        let syms: Vec<Sym> = self.names.iter().map(|n| model.symbols.intern(n)).collect();
        // Positions were checked against `names` when decoding.
        let sym = |i: u32| syms.get(i as usize).copied().unwrap_or(Sym::NONE);

        model.clock = model.clock.max(self.clock);
        for state in self.custom_states {
            if !model.custom_states.iter().any(|s| **s == *state)
                && model.custom_states.len() < super::MAX_CUSTOM_STATES
            {
                model.custom_states.push(state.into());
            }
        }
        model.counters = self.counters;
        for t in self.types {
            let stats = model.type_stats(sym(t.name));
            stats.outcomes = t.outcomes;
            stats.runtime = t.runtime;
            stats.last_failure = t.last_failure;
        }
        model.throughput = self.throughput;
        model.workers.restore(self.workers, now);

        let series = &mut model.series;
        series.all = self.series.all;
        series.by_task = self
            .series
            .by_task
            .into_iter()
            .map(|(n, w)| (sym(n), w))
            .collect();
        series.by_worker = self
            .series
            .by_worker
            .into_iter()
            .map(|(n, w)| (sym(n), w))
            .collect();
        series.untracked = self.series.untracked;
        series.gauges = self.series.gauges;
        model.series_version += 1;

        let m = self.metrics;
        let metrics = &mut model.metrics;
        let pair = |[a, b]: [u32; 2]| (sym(a), sym(b));
        metrics.events = m
            .events
            .into_iter()
            .map(|([w, k, t], c)| ((sym(w), sym(k), sym(t)), c))
            .collect();
        metrics.runtime = if m.runtime_bounds == metrics.runtime_bounds {
            m.runtime.into_iter().map(|(k, o)| (pair(k), o)).collect()
        } else {
            Default::default()
        };
        metrics.prefetch_time = m
            .prefetch_time
            .into_iter()
            .map(|(k, v)| (pair(k), v))
            .collect();
        metrics.prefetched = m
            .prefetched
            .into_iter()
            .map(|(k, v)| (pair(k), v))
            .collect();
        metrics.online = m.online.into_iter().map(|(w, v)| (sym(w), v)).collect();
        metrics.executing = m.executing.into_iter().map(|(w, v)| (sym(w), v)).collect();
        metrics.queue_wait = m.queue_wait.into_iter().map(|(q, h)| (sym(q), h)).collect();
        metrics.queue_wait_quantiles = m
            .queue_wait_quantiles
            .into_iter()
            .map(|(q, h)| (sym(q), h))
            .collect();

        model.queue_syms = self
            .queues
            .iter()
            .filter(|q| q.sent_to)
            .map(|q| model.symbols.intern(&q.name))
            .collect();
        model.queues.by_name = self
            .queues
            .into_iter()
            .map(|q| (q.name.clone(), q))
            .collect();
        model.queues.unacked_total = self.unacked_total;
        for w in model.workers.iter().filter(|w| !w.online) {
            model.queues.forget_consumer(&w.hostname);
        }
        model.queues.version += 1;

        model.gaps = self.gaps;
        if model.gaps.last().is_none_or(|g| g.to.is_some()) {
            model.record_gap(self.saved_at.min(now), None);
        }
        model.retry_links = super::links::RetryLinks::default();
        for (original, retry) in self.retry_links {
            model.retry_links.link(original, retry);
        }
        model.task_version += 1;
    }
}
