//! The series behind `/metrics`: Flower's (`flower_*`, same names and
//! labels, so existing dashboards and alerts keep working) and celadon's own
//! queue wait times. Keyed by interned symbols; rendered by `api::metrics`.

use app::wire::celery::TaskEventKind;
use foldhash::HashMap;

use super::{
    stats::{LogHistogram, PromHistogram},
    symbols::Sym,
    task::Times,
};

/// Upper bounds of `celadon_queue_wait_seconds`: from a busy queue's
/// milliseconds to a backlog's hour.
pub const QUEUE_WAIT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Debug)]
pub struct Metrics {
    pub runtime_bounds: Vec<f64>,
    /// `flower_events_total{worker, type, task}`.
    pub events: HashMap<(Sym, Sym, Sym), u64>,
    /// `flower_task_runtime_seconds{worker, task}`.
    pub runtime: HashMap<(Sym, Sym), PromHistogram>,
    /// `flower_task_prefetch_time_seconds{worker, task}`.
    pub prefetch_time: HashMap<(Sym, Sym), f64>,
    /// `flower_worker_prefetched_tasks{worker, task}`.
    pub prefetched: HashMap<(Sym, Sym), i64>,
    /// `celadon_queue_wait_seconds{queue}`: task-sent → task-started.
    pub queue_wait: HashMap<Sym, PromHistogram>,
    /// The same waits, for percentiles.
    pub queue_wait_quantiles: HashMap<Sym, LogHistogram>,
}

impl Metrics {
    pub fn new(runtime_bounds: Vec<f64>) -> Metrics {
        Metrics {
            runtime_bounds,
            events: HashMap::default(),
            runtime: HashMap::default(),
            prefetch_time: HashMap::default(),
            prefetched: HashMap::default(),
            queue_wait: HashMap::default(),
            queue_wait_quantiles: HashMap::default(),
        }
    }

    pub fn count_event(&mut self, hostname: Sym, kind: Sym, task: Sym) {
        *self.events.entry((hostname, kind, task)).or_insert(0) += 1;
    }

    pub fn observe_runtime(&mut self, worker: Sym, task: Sym, seconds: f64) {
        let bounds = &self.runtime_bounds;
        self.runtime
            .entry((worker, task))
            .or_insert_with(|| PromHistogram::new(bounds))
            .observe(bounds, seconds);
    }

    /// Flower's prefetch gauges as a task moves on. Tasks with an ETA wait
    /// on purpose and are left out, as Flower does.
    pub fn on_task_progress(
        &mut self,
        kind: TaskEventKind,
        worker: Sym,
        task: Sym,
        times: &Times,
        has_eta: bool,
    ) {
        if has_eta {
            return;
        }
        let key = (worker, task);
        match kind {
            TaskEventKind::Received if times.received.is_finite() => {
                *self.prefetched.entry(key).or_insert(0) += 1;
            }
            TaskEventKind::Started if times.received.is_finite() && times.started.is_finite() => {
                self.prefetch_time
                    .insert(key, times.started - times.received);
                *self.prefetched.entry(key).or_insert(0) -= 1;
            }
            TaskEventKind::Succeeded | TaskEventKind::Failed
                if times.received.is_finite() && times.started.is_finite() =>
            {
                self.prefetch_time.insert(key, 0.0);
            }
            _ => {}
        }
    }

    /// One task's wait in `queue`, task-sent to task-started; a little clock
    /// skew between client and worker reads as zero.
    pub fn observe_queue_wait(&mut self, queue: Sym, wait: f64) {
        let wait = wait.max(0.0);
        self.queue_wait
            .entry(queue)
            .or_insert_with(|| PromHistogram::new(&QUEUE_WAIT_BUCKETS))
            .observe(&QUEUE_WAIT_BUCKETS, wait);
        self.queue_wait_quantiles
            .entry(queue)
            .or_default()
            .record(wait);
    }

    /// Drops every series of a purged worker (as Flower 2.2 does).
    pub fn forget_worker(&mut self, worker: Sym) {
        self.events.retain(|(w, _, _), _| *w != worker);
        self.runtime.retain(|(w, _), _| *w != worker);
        self.prefetch_time.retain(|(w, _), _| *w != worker);
        self.prefetched.retain(|(w, _), _| *w != worker);
    }

    pub fn heap_bytes(&self) -> usize {
        let histogram = std::mem::size_of::<PromHistogram>() + 8 * (self.runtime_bounds.len() + 1);
        self.events.capacity() * 21
            + self.runtime.capacity() * (9 + histogram)
            + (self.prefetch_time.capacity() + self.prefetched.capacity()) * 17
            + self.queue_wait.capacity() * (5 + 8 * 16 + 32)
            + self.queue_wait_quantiles.len() * LogHistogram::default().heap_bytes()
    }
}
