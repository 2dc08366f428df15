//! The history stages' figures, and their lines in the summary.

use crate::{group, verdict};

/// Most the server's RSS may grow while it streams the export for its
/// memory to count as constant (its read connections' caches are 16 MiB).
const EXPORT_RSS_GROWTH: u64 = 64 << 20;

/// One dashboard run of the ingest stage.
#[derive(Clone, Debug, Default)]
pub struct IngestRun {
    pub kept: u64,
    pub offered: u64,
    pub events: u64,
    pub cpu: f64,
    /// Of `cpu`, the store's writer thread's.
    pub writer_cpu: f64,
    /// `/api/stats` → `history.lag_seconds`, sorted.
    pub lags: Vec<f64>,
    /// Seconds from the end of the stream until the store caught up.
    pub caught_up: Option<f64>,
    pub rows_written: u64,
    /// Tasks the SQLite file holds once celadon has stopped, and of them
    /// those finished (the local store only).
    pub stored: Option<(u64, u64)>,
    pub last_error: Option<String>,
}

impl IngestRun {
    pub(super) fn cpu_per_event(&self) -> f64 {
        self.cpu / self.events.max(1) as f64 * 1e6
    }

    pub(super) fn writer_cpu_per_event(&self) -> f64 {
        self.writer_cpu / self.events.max(1) as f64 * 1e6
    }

    pub(super) fn kept_percent(&self) -> f64 {
        100.0 * self.kept as f64 / self.offered.max(1) as f64
    }
}

/// One restart's figures.
#[derive(Clone, Debug)]
pub struct Restart {
    pub what: String,
    /// Process start to the Tasks page answering 200, in seconds.
    pub to_page: f64,
    /// The log's `took_ms` of "history opened" (celadon only).
    pub opened_ms: Option<u64>,
    pub loaded: Option<u64>,
}

/// One `/api/tasks` query's figures over the large history.
#[derive(Clone, Debug)]
pub struct Page {
    pub query: String,
    pub p50: f64,
    pub p99: f64,
    pub target_ms: f64,
}

#[derive(Clone, Debug)]
pub struct Export {
    pub rows: u64,
    pub bytes: u64,
    pub secs: f64,
    pub rss_before: u64,
    pub rss_peak: u64,
}

/// Bytes on disk for the same [`FLOWER_TASKS`] tasks.
#[derive(Clone, Debug)]
pub struct SameTasks {
    pub tasks: u64,
    pub celadon: u64,
    pub flower: Option<u64>,
    /// celadon's bytes per task by table and index.
    pub breakdown: Vec<(String, f64)>,
}

#[derive(Debug, Default)]
pub struct Figures {
    pub backend: Option<&'static str>,
    /// The stream without the store (none with `--history-ingest-only`)
    /// and with it.
    pub ingest: Option<(Option<IngestRun>, IngestRun)>,
    /// The same stream at 50k events/s into PostgreSQL.
    pub postgres_ingest: Option<IngestRun>,
    pub restarts: Vec<Restart>,
    pub large_tasks: u64,
    pub build_rate: f64,
    pub large_bytes: u64,
    pub pages: Vec<Page>,
    pub export: Option<Export>,
    pub same_tasks: Option<SameTasks>,
    /// Parts not measured, and why.
    pub skipped: Vec<String>,
}

pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub(super) fn print_restart(r: &Restart) {
    println!(
        "  restart: {:<48} Tasks page 200 after {:.2} s{}",
        r.what,
        r.to_page,
        r.opened_ms.map_or(String::new(), |ms| format!(
            " (history opened in {ms} ms, {} tasks read back)",
            group(r.loaded.unwrap_or(0) as f64)
        ))
    );
}

/// The history lines of the summary.
pub fn print(f: &Figures) {
    println!(
        "  History ({} store, one writer thread, in the same process)",
        f.backend.unwrap_or("-")
    );
    if let Some((off, on)) = &f.ingest {
        println!(
            "    tasks kept at 100k ev/s, 24/PUBLISH      store on {:.2} % of {}{}{}   target 100 %: {}",
            on.kept_percent(),
            group(on.offered as f64),
            off.as_ref()
                .map_or(String::from(" (off not run)"), |off| format!(
                    ", off {:.2} %",
                    off.kept_percent()
                )),
            on.stored.map_or(String::new(), |(all, finished)| format!(
                "; in the file after SIGTERM {} ({} finished)",
                group(all as f64),
                group(finished as f64)
            )),
            verdict(
                on.kept == on.offered
                    && on
                        .stored
                        .is_none_or(|(all, finished)| all == on.offered && finished == on.offered)
            )
        );
        println!(
            "    CPU per event (whole process)            store on {:.2} µs (its writer thread {:.2} µs){}   target ≤ 2 µs: {}",
            on.cpu_per_event(),
            on.writer_cpu_per_event(),
            off.as_ref()
                .map_or(String::from(" (off not run)"), |off| format!(
                    ", off {:.2} µs (+{:.0} %)",
                    off.cpu_per_event(),
                    100.0 * (on.cpu_per_event() / off.cpu_per_event() - 1.0)
                )),
            verdict(on.cpu_per_event() <= 2.0)
        );
        let p99 = percentile(&on.lags, 0.99);
        println!(
            "    store lag (/api/stats every 250 ms)      p50 {:.2} s p99 {:.2} s max {:.2} s ({} samples); caught up {} after the stream{}   target p99 ≤ 2 s: {}",
            percentile(&on.lags, 0.5),
            p99,
            percentile(&on.lags, 1.0),
            on.lags.len(),
            on.caught_up
                .map_or("not within 120 s".into(), |s| format!("{s:.1} s")),
            on.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}")),
            verdict(p99 <= 2.0)
        );
    }
    if let Some(pg) = &f.postgres_ingest {
        let p99 = percentile(&pg.lags, 0.99);
        println!(
            "    PostgreSQL store at 50k ev/s, 24/PUBLISH  {:.2} % of {} kept, {:.2} µs CPU/ev (celadon's process; PostgreSQL's own not counted); lag p50 {:.2} s p99 {:.2} s; caught up {}{}   target 100 % and p99 ≤ 5 s: {}",
            pg.kept_percent(),
            group(pg.offered as f64),
            pg.cpu_per_event(),
            percentile(&pg.lags, 0.5),
            p99,
            pg.caught_up.map_or("not within 120 s".into(), |s| format!(
                "{s:.1} s after the stream"
            )),
            pg.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}")),
            verdict(pg.kept == pg.offered && p99 <= 5.0)
        );
    }
    for r in &f.restarts {
        println!(
            "    restart → Tasks page 200                 {} : {:.2} s{}",
            r.what,
            r.to_page,
            if r.opened_ms.is_some() {
                format!("   target ≤ 1 s: {}", verdict(r.to_page <= 1.0))
            } else {
                String::new()
            }
        );
    }
    if f.large_tasks > 0 {
        println!(
            "    history of {} tasks                   written through server::store at {} rows/s; {:.0} B on disk per task",
            group(f.large_tasks as f64),
            group(f.build_rate),
            f.large_bytes as f64 / f.large_tasks as f64
        );
    }
    for p in &f.pages {
        println!(
            "    /api/tasks{} @{}   p50 {:.2} ms p99 {:.2} ms   target p99 ≤ {:.0} ms: {}",
            p.query,
            group(f.large_tasks as f64),
            p.p50,
            p.p99,
            p.target_ms,
            verdict(p.p99 <= p.target_ms)
        );
    }
    if let Some(e) = &f.export {
        let growth = e.rss_peak.saturating_sub(e.rss_before);
        println!(
            "    CSV export of the newest {} @{}   {} rows/s ({} MB); RSS {} MB before, {} MB at most (+{} MB)   target RSS growth ≤ {} MB: {}",
            group(e.rows as f64),
            group(f.large_tasks as f64),
            group(e.rows as f64 / e.secs),
            e.bytes >> 20,
            e.rss_before >> 20,
            e.rss_peak >> 20,
            growth >> 20,
            EXPORT_RSS_GROWTH >> 20,
            verdict(growth <= EXPORT_RSS_GROWTH)
        );
    }
    if let Some(s) = &f.same_tasks {
        let ours = s.celadon as f64 / s.tasks as f64;
        match s.flower {
            Some(theirs) => {
                let theirs = theirs as f64 / s.tasks as f64;
                println!(
                    "    bytes on disk per task, same {} tasks  celadon {ours:.0} B, Flower --persistent {theirs:.0} B ({:.2}×)   target ≤ ⅓ of Flower's: {}",
                    group(s.tasks as f64),
                    ours / theirs,
                    verdict(ours * 3.0 <= theirs)
                );
            }
            None => println!(
                "    bytes on disk per task, {} tasks       celadon {ours:.0} B (Flower's file not measured)",
                group(s.tasks as f64)
            ),
        }
    }
    if let Some(s) = &f.same_tasks {
        let parts: Vec<String> = s
            .breakdown
            .iter()
            .map(|(name, b)| format!("{name} {b:.0}"))
            .collect();
        println!(
            "    celadon's bytes per task by table and index (dbstat): {}",
            parts.join(", ")
        );
    }
    for s in &f.skipped {
        println!("    not measured: {s}");
    }
}
