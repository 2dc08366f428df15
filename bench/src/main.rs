//! `celadon-bench`: measures celadon (and Flower, when it is in the venv) on
//! the same protocol-exact event streams, and prints a table. It is a tool,
//! not a test: figures vary with the machine; the table says what was
//! offered and what was kept.
//!
//! Stages:
//! 1. loss by rate: a fresh celadon and Flower subscribed together, one
//!    stream per rate, 24 events per PUBLISH (prefork workers) and 1 per
//!    PUBLISH; kept = tasks whose final state reached the dashboard;
//! 2. memory: RSS per retained task at 100k and 1M tasks;
//! 3. query latency: a filtered, sorted `/api/tasks` page at 1M tasks;
//! 4. the Tasks and Graphs pages in Chromium under a stream;
//! 5. the history store (see [`history`]).
//!
//! Stages 1 to 3 run celadon with `--persistent=false`: they measure the
//! live model, as before there was a store; stage 5 measures the store's
//! cost beside it on the same stream.

#![expect(clippy::print_stdout, reason = "printing the table is this tool's job")]

mod generator;
mod history;
mod ui;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use generator::{Spec, Templates};
use kit::{CeladonBinary, Flower, FlowerOptions, Redis, Scratch};

#[derive(Parser, Debug)]
#[command(about = "Benchmark celadon's ingest, memory and queries (and Flower's, if installed)")]
struct Args {
    /// The celadon binary (build it with scripts/build --release).
    #[arg(long, default_value = "target/release/celadon")]
    celadon: PathBuf,
    /// The Python venv that may hold Flower.
    #[arg(long, default_value = ".venv")]
    venv: PathBuf,
    /// Captured fixtures to build events from.
    #[arg(long, default_value = "server/fixtures")]
    fixtures: PathBuf,
    /// Rates (events/s) for the 24-per-PUBLISH stages.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "6000,25000,50000,100000,150000,200000"
    )]
    rates: Vec<f64>,
    /// Rates (events/s) for the 1-per-PUBLISH stages.
    #[arg(long, value_delimiter = ',', default_value = "6000,25000,50000,100000")]
    single_rates: Vec<f64>,
    /// Seconds per rate stage.
    #[arg(long, default_value_t = 15.0)]
    stage_seconds: f64,
    /// Seconds for the 100k events/s, 24-per-PUBLISH stage.
    #[arg(long, default_value_t = 60.0)]
    headline_seconds: f64,
    /// Tasks for the large memory and query stage.
    #[arg(long, default_value_t = 1_000_000)]
    large: u64,
    /// Leave Flower out even if it is installed.
    #[arg(long)]
    no_flower: bool,
    /// Fake workers sending the events.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Only measure ingestion in-process (no Redis, no HTTP) over this many
    /// tasks, then exit: for profilers.
    #[arg(long)]
    micro: Option<u64>,
    /// Only measure the two `/api/tasks` queries in-process (no HTTP) over
    /// this many tasks, as the API runs them (the page alone) and as the
    /// Tasks page does (counted), then exit: for profilers.
    #[arg(long)]
    query_micro: Option<u64>,
    /// Only publish load to the Redis at this unix socket (at the first of
    /// --rates, for --stage-seconds), then exit: to profile a running server.
    #[arg(long, value_name = "SOCKET")]
    publish_only: Option<PathBuf>,
    /// Rate (events/s) of the stream under the Tasks page in Chromium.
    #[arg(long, default_value_t = 5_000.0)]
    ui_rate: f64,
    /// Seconds the Tasks page is watched under that stream.
    #[arg(long, default_value_t = 10.0)]
    ui_seconds: f64,
    /// Only run the under-load stage of the Tasks page.
    #[arg(long)]
    ui_only: bool,
    /// Only run the memory and query stage (RSS at 100k and --large tasks,
    /// `/api/tasks` latency at --large tasks).
    #[arg(long)]
    large_only: bool,
    /// Only run the history store's stages.
    #[arg(long)]
    history: bool,
    /// Leave the history store's stages out of the full run.
    #[arg(long)]
    no_history: bool,
    /// With --history: only the PostgreSQL store's stream.
    #[arg(long)]
    history_postgres_only: bool,
    /// With --history: only the stream into the SQLite store (no run
    /// without it, no PostgreSQL, restart or large history): a few
    /// minutes, for comparing changes to the store's writer.
    #[arg(long, conflicts_with = "history_postgres_only")]
    history_ingest_only: bool,
    /// Tasks in the history for the page, search, export and size stage.
    #[arg(long, default_value_t = 10_000_000)]
    history_tasks: u64,
    /// Tasks in the history a restart reads back.
    #[arg(long, default_value_t = 1_000_000)]
    history_restart_tasks: u64,
    /// The history store measured.
    #[arg(long, value_enum, default_value = "sqlite")]
    history_backend: history::Backend,
}

const HEADLINE_RATE: f64 = 100_000.0;
const FAIL_EVERY: u64 = 10;

struct Bench {
    args: Args,
    templates: Templates,
    http: reqwest::Client,
    next_task: u64,
}

/// What a dashboard kept of a stage.
#[derive(Clone, Copy, Debug, Default)]
struct Kept {
    /// Tasks whose final state reached the dashboard.
    finished: u64,
    /// Tasks offered to it (the same stream for both, unless the generator
    /// fell short of the rate in one run).
    offered: u64,
    cpu: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let templates = Templates::load(&args.fixtures)?;
    if let Some(tasks) = args.micro {
        let (events, payloads, bytes, ns) = ingest_cost(&templates, tasks, args.workers)?;
        println!(
            "ingested {events} events in {payloads} payloads ({} MB): {ns:.0} ns per event",
            bytes / 1_000_000
        );
        return Ok(());
    }
    if let Some(tasks) = args.query_micro {
        for (query, p50, p99) in query_cost(&templates, tasks, args.workers)? {
            println!("{query:<80} p50 {p50:.2} ms p99 {p99:.2} ms");
        }
        return Ok(());
    }
    if let Some(socket) = &args.publish_only {
        let client = redis::Client::open(format!("unix://{}", socket.display()).as_str())?;
        let mut conn = client.get_connection()?;
        let spec = Spec {
            rate: args.rates.first().copied(),
            duration: Duration::from_secs_f64(args.stage_seconds),
            batch: 24,
            first_task: 1,
            workers: args.workers,
            fail_every: FAIL_EVERY,
            max_tasks: None,
        };
        let plan = generator::render(&templates, &spec, generator::clock_now());
        let sent = generator::publish(&mut conn, &plan)?;
        println!(
            "published {} events ({} tasks, {} MB) in {:?}",
            sent.events,
            sent.tasks,
            plan.bytes() / 1_000_000,
            sent.elapsed
        );
        return Ok(());
    }
    if !args.celadon.exists() {
        anyhow::bail!(
            "{} is missing: run scripts/build --release",
            args.celadon.display()
        );
    }
    // celadon runs in its scratch directory, where its history goes.
    let args = Args {
        celadon: std::path::absolute(&args.celadon)?,
        ..args
    };
    let mut bench = Bench {
        args,
        templates,
        http: reqwest::Client::new(),
        next_task: 1,
    };
    if bench.args.ui_only {
        let figures = bench.ui_stage().await?;
        print_ui(figures.as_ref(), &bench.args);
        return Ok(());
    }
    let flower_there = !bench.args.no_flower && {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        flower(&bench.args.venv, &redis, &scratch, 10)?.is_some()
    };
    if bench.args.large_only {
        let (memory, queries) = bench.large(flower_there).await?;
        print_large(&memory, &queries);
        return Ok(());
    }
    if bench.args.history {
        println!(
            "celadon benchmark, history store: {} cores; Flower: {}\n",
            cores(),
            if flower_there {
                "2.2 from the venv"
            } else {
                "not installed"
            }
        );
        let figures = bench.history(flower_there).await?;
        println!();
        println!("Summary (targets on a 2-core machine)");
        history::print(&figures);
        return Ok(());
    }
    println!(
        "celadon benchmark: {} cores; events built from the captured fixtures",
        cores()
    );
    println!(
        "Flower: {}\n",
        if flower_there {
            "2.2 from the venv, measured on the same streams"
        } else {
            "not installed in the venv; celadon only"
        }
    );

    let mut table: Vec<Row> = Vec::new();
    let mut lossless = [0.0f64, 0.0];
    let mut flower_lossless = [0.0f64, 0.0];
    let mut headline_cpu = None;
    let stages: Vec<(usize, f64, f64)> = bench
        .args
        .rates
        .iter()
        .map(|r| {
            let secs = if *r == HEADLINE_RATE {
                bench.args.headline_seconds
            } else {
                bench.args.stage_seconds
            };
            (24usize, *r, secs)
        })
        .chain(
            bench
                .args
                .single_rates
                .iter()
                .map(|r| (1usize, *r, bench.args.stage_seconds)),
        )
        .collect();
    for (batch, rate, secs) in stages {
        let headline = batch == 24 && rate == HEADLINE_RATE;
        // The same work in-process, just before celadon's run of the
        // headline stage: how fast the machine is at that moment (it moves
        // by 2x within minutes), to read the CPU figure against.
        let baseline = if headline {
            Some(ingest_cost(&bench.templates, 200_000, bench.args.workers)?.3)
        } else {
            None
        };
        let (sent, ours, theirs) = bench.stage(batch, rate, secs, flower_there).await?;
        let achieved = sent.events as f64 / sent.elapsed.as_secs_f64();
        let kept = ours.finished as f64 / sent.tasks as f64;
        let mode = usize::from(batch == 1);
        if ours.finished == sent.tasks && achieved >= 0.95 * rate {
            lossless[mode] = lossless[mode].max(rate);
        }
        if let Some(f) = theirs
            && f.finished == f.offered
            && achieved >= 0.95 * rate
        {
            flower_lossless[mode] = flower_lossless[mode].max(rate);
        }
        let cpu_per_event = ours.cpu / sent.events as f64 * 1e6;
        if let Some(model_ns) = baseline {
            headline_cpu = Some((cpu_per_event, model_ns));
        }
        table.push(Row {
            what: format!("{batch:>2}/PUBLISH {:>8} ev/s for {secs:.0} s", group(rate)),
            ours: format!(
                "{:>7.2} % kept, {:.2} µs CPU/ev",
                100.0 * kept,
                cpu_per_event
            ),
            theirs: theirs.map(|f| {
                format!(
                    "{:>7.2} % kept, {:.1} µs CPU/ev",
                    100.0 * f.finished as f64 / f.offered as f64,
                    f.cpu / sent.events as f64 * 1e6
                )
            }),
            note: format!("{} offered", group(achieved)),
        });
        print_row(table.last());
    }

    let (memory, queries) = bench.large(flower_there).await?;
    let ui_figures = bench.ui_stage().await?;
    let history_figures = if bench.args.no_history {
        None
    } else {
        Some(bench.history(flower_there).await?)
    };
    println!();
    println!("Summary (targets on a 2-core machine)");
    let flower_text = |v: f64| {
        if flower_there {
            format!("{} ev/s", group(v))
        } else {
            "-".into()
        }
    };
    println!(
        "  highest lossless rate, 24/PUBLISH   celadon {:>9} ev/s   Flower {:>12}   target ≥ 100,000: {}",
        group(lossless[0]),
        flower_text(flower_lossless[0]),
        verdict(lossless[0] >= HEADLINE_RATE)
    );
    println!(
        "  highest lossless rate, 1/PUBLISH    celadon {:>9} ev/s   Flower {:>12}",
        group(lossless[1]),
        flower_text(flower_lossless[1])
    );
    if let Some((cpu, model_ns)) = headline_cpu {
        println!(
            "  CPU per event at 100k ev/s          celadon {cpu:>9.2} µs   (the model alone, in-process, just before: {:.2} µs)   target ≤ 2 µs: {}",
            model_ns / 1e3,
            verdict(cpu <= 2.0)
        );
    }
    print_large(&memory, &queries);
    print_ui(ui_figures.as_ref(), &bench.args);
    if let Some(f) = &history_figures {
        history::print(f);
    }
    Ok(())
}

/// The memory and query lines of the summary.
fn print_large(memory: &[Memory], queries: &[Query]) {
    for m in memory {
        println!(
            "  RSS per retained task at {:>9}  celadon {:>6.0} B ({:>4.0} B beyond its {:.0} B of text; model says {:.0} B){}   target ≤ 400 B beyond text: {}",
            group(m.tasks as f64),
            m.per_task,
            m.per_task - m.text,
            m.text,
            m.model_says,
            m.flower.map_or(String::new(), |f| format!(
                "   Flower {f:.0} B ({:.1}×)",
                f / m.per_task
            )),
            verdict(m.per_task - m.text <= 400.0)
        );
    }
    for q in queries {
        println!(
            "  /api/tasks {:<52} @{:>9}  celadon p50 {:.2} ms p99 {:.2} ms{}   target p99 ≤ 5 ms: {}",
            q.query,
            group(q.tasks as f64),
            q.p50,
            q.p99,
            q.flower.map_or(String::new(), |(n, p50, p99)| format!(
                "   Flower @{}: p50 {:.0} ms p99 {:.0} ms",
                group(n as f64),
                p50,
                p99
            )),
            verdict(q.p99 <= 5.0)
        );
    }
}

/// The under-load stage's summary lines.
fn print_ui(figures: Option<&(ui::UiFigures, ui::UiFigures)>, args: &Args) {
    let Some((f, g)) = figures else {
        println!(
            "  Tasks page under {} ev/s            skipped: node or end2end/node_modules missing (run scripts/setup)",
            group(args.ui_rate)
        );
        return;
    };
    long_tasks_line("Tasks page in Chromium, ", f);
    let shown = |ms: f64| {
        if ms.is_finite() {
            format!("{ms:.0} ms")
        } else {
            "never".into()
        }
    };
    println!(
        "  PUBLISH → on the Tasks page         p50 {} p95 {} max {} ({} of {} probes shown)   target p95 ≤ 300 ms: {}",
        shown(f.latency(0.5)),
        shown(f.latency(0.95)),
        shown(f.latency(1.0)),
        f.latencies.len(),
        f.probes,
        verdict(f.latency(0.95) <= 300.0)
    );
    long_tasks_line("Graphs page in Chromium,", g);
}

/// A summary line's verdict on its target.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

/// One page's long-task summary line.
fn long_tasks_line(page: &str, f: &ui::UiFigures) {
    println!(
        "  {page} {} ev/s, {:.0} s   long tasks > 100 ms: {} (of {} over 50 ms; longest {:.0} ms; {} DOM updates){}   target none: {}",
        group(f.rate),
        f.window.as_secs_f64(),
        f.over(100.0),
        f.long_tasks.len(),
        f.longest(),
        f.updates,
        if f.calibrated {
            ""
        } else {
            " — the long-task probe did NOT see a deliberate 150 ms task"
        },
        verdict(f.calibrated && f.over(100.0) == 0)
    );
}

/// `tasks` tasks' events across `workers` workers, rendered flat out, and
/// an empty model that keeps up to `max_tasks` of them.
fn plan_and_model(
    templates: &Templates,
    tasks: u64,
    workers: usize,
    max_tasks: usize,
) -> (generator::Plan, server::state::Model) {
    use server::state::{Model, ModelConfig, tasks::Limits};
    let spec = Spec {
        rate: None,
        duration: Duration::from_secs(3600),
        batch: 24,
        first_task: 1,
        workers,
        fail_every: FAIL_EVERY,
        max_tasks: Some(tasks),
    };
    let plan = generator::render(templates, &spec, generator::clock_now());
    let model = Model::new(ModelConfig {
        limits: Limits {
            max_tasks,
            max_bytes: usize::MAX,
        },
        ..ModelConfig::default()
    });
    (plan, model)
}

/// Ingestion alone: the model's owner's work per event over `tasks`
/// tasks, without Redis, as (events, payloads, bytes, ns per event).
fn ingest_cost(
    templates: &Templates,
    tasks: u64,
    workers: usize,
) -> anyhow::Result<(u64, usize, usize, f64)> {
    let (plan, mut model) = plan_and_model(templates, tasks, workers, 100_000);
    let now = generator::clock_now();
    let start = Instant::now();
    for p in &plan.publishes {
        let errors = model.ingest(p.payload.as_bytes(), now);
        anyhow::ensure!(errors.is_empty(), "{errors:?}");
    }
    let elapsed = start.elapsed();
    Ok((
        plan.sent.events,
        plan.publishes.len(),
        plan.bytes(),
        elapsed.as_nanos() as f64 / plan.sent.events as f64,
    ))
}

/// p50 and p99 of 200 calls of `f`, in ms.
fn time_200(mut f: impl FnMut() -> usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        std::hint::black_box(f());
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[99], times[197])
}

/// The large stage's queries run in-process on a model of `tasks` tasks,
/// 200 times each, as a page alone and counted: `(query, p50 ms, p99 ms)`.
/// A page of 15 tasks found by `search`, newest first.
fn searched(search: &str) -> server::state::query::TaskQuery {
    use server::state::query;
    query::TaskQuery {
        search: server::state::search::parse(search).ok(),
        sort: query::Sort {
            key: query::SortKey::Received,
            descending: true,
        },
        limit: Some(15),
        ..query::TaskQuery::default()
    }
}

fn query_cost(
    templates: &Templates,
    tasks: u64,
    workers: usize,
) -> anyhow::Result<Vec<(String, f64, f64)>> {
    use server::state::query;
    let (plan, mut model) = plan_and_model(templates, tasks, workers, tasks as usize);
    let now = generator::clock_now();
    for p in &plan.publishes {
        model.ingest(p.payload.as_bytes(), now);
    }
    drop(plan);
    let queries = [
        query::TaskQuery {
            state: Some("FAILURE".into()),
            sort: query::Sort {
                key: query::SortKey::Received,
                descending: true,
            },
            limit: Some(15),
            ..query::TaskQuery::default()
        },
        query::TaskQuery {
            name: Some("tasks.add".into()),
            worker: Some("bench3@loadgen".into()),
            sort: query::Sort {
                key: query::SortKey::Received,
                descending: true,
            },
            offset: 30,
            limit: Some(15),
            ..query::TaskQuery::default()
        },
        // The costliest searches the API takes (issue 20's bound): terms
        // that read task data and match nothing, so every task is read.
        searched("zzqqxx"),
        searched(
            "kwargs:k1=zzqq1 OR kwargs:k2=zzqq2 OR kwargs:k3=zzqq3 OR kwargs:k4=zzqq4 OR \
             kwargs:k5=zzqq5 OR kwargs:k6=zzqq6 OR kwargs:k7=zzqq7 OR kwargs:k8=zzqq8",
        ),
    ];
    let mut out = Vec::new();
    for q in queries {
        let counted = query::run(&model, &q);
        let label = format!("{q:?}").chars().take(60).collect::<String>()
            + &format!(" → {} of {}", counted.filtered, counted.total);
        // `/api/tasks` reads a listing's page alone; the Tasks page counts.
        let (p50, p99) = time_200(|| query::listing(&model, &q).slots.len());
        out.push((format!("{label}, page"), p50, p99));
        let (p50, p99) = time_200(|| query::run(&model, &q).slots.len());
        out.push((format!("{label}, counted"), p50, p99));
    }
    Ok(out)
}

struct Row {
    what: String,
    ours: String,
    theirs: Option<String>,
    note: String,
}

fn print_row(row: Option<&Row>) {
    if let Some(r) = row {
        println!(
            "  {:<34} celadon {:<36} Flower {:<34} ({})",
            r.what,
            r.ours,
            r.theirs.as_deref().unwrap_or("-"),
            r.note
        );
    }
}

fn group(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The flags every benchmarked celadon gets: no `enable_events` casts
/// (the load has no workers to answer them) and no memory budget, so that
/// `max_tasks` alone bounds the model.
fn celadon_flags(max_tasks: u64) -> Vec<String> {
    vec![
        "--enable-events=false".to_string(),
        "--max-memory=0".to_string(),
        format!("--max-tasks={max_tasks}"),
    ]
}

/// celadon's release binary on `redis`, retaining up to `max_tasks`
/// tasks, without a history store (the live model alone).
fn celadon(
    bin: &Path,
    redis: &Redis,
    scratch: &Scratch,
    max_tasks: u64,
) -> anyhow::Result<CeladonBinary> {
    let mut flags = celadon_flags(max_tasks);
    flags.push("--persistent=false".to_string());
    CeladonBinary::start(bin, redis, scratch, &flags)
}

/// Flower from `venv` on `redis`, retaining up to `max_tasks` tasks;
/// `None` if it is not installed there.
fn flower(
    venv: &Path,
    redis: &Redis,
    scratch: &Scratch,
    max_tasks: u64,
) -> anyhow::Result<Option<Flower>> {
    if !Flower::installed(venv) {
        return Ok(None);
    }
    let options = FlowerOptions {
        venv: venv.to_path_buf(),
        max_tasks,
        enable_events: false,
        db: None,
    };
    Ok(Some(Flower::start(redis, scratch, &options)?))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Memory {
    tasks: u64,
    per_task: f64,
    text: f64,
    model_says: f64,
    flower: Option<f64>,
}

struct Query {
    query: String,
    tasks: u64,
    p50: f64,
    p99: f64,
    flower: Option<(u64, f64, f64)>,
}

/// Bytes of text each generated task carries in celadon's model: args,
/// kwargs, the result (or exception and traceback), and the client name.
fn text_per_task() -> f64 {
    let common = (generator::ARGS.len() + generator::KWARGS.len() + "gen4242@client".len()) as f64;
    let ok = generator::RESULT.len() as f64;
    let bad = (generator::EXCEPTION.len() + generator::TRACEBACK.len()) as f64;
    common + (ok * (FAIL_EVERY - 1) as f64 + bad) / FAIL_EVERY as f64
}

impl Bench {
    fn spec(&mut self, batch: usize, rate: Option<f64>, secs: f64, max_tasks: Option<u64>) -> Spec {
        let spec = Spec {
            rate,
            duration: Duration::from_secs_f64(secs),
            batch,
            first_task: self.next_task,
            workers: self.args.workers,
            fail_every: FAIL_EVERY,
            max_tasks,
        };
        self.next_task += 1 << 32;
        spec
    }

    /// Renders a stage before any dashboard runs (see [`generator::Plan`]).
    async fn render(&self, spec: Spec) -> anyhow::Result<Arc<generator::Plan>> {
        let templates = self.templates.clone();
        Ok(tokio::task::spawn_blocking(move || {
            Arc::new(generator::render(&templates, &spec, generator::clock_now()))
        })
        .await?)
    }

    async fn publish(
        &self,
        socket: &Path,
        plan: Arc<generator::Plan>,
    ) -> anyhow::Result<generator::Sent> {
        let socket = socket.to_path_buf();
        tokio::task::spawn_blocking(move || -> anyhow::Result<generator::Sent> {
            let client = redis::Client::open(format!("unix://{}", socket.display()).as_str())?;
            let mut conn = client.get_connection()?;
            Ok(generator::publish(&mut conn, &plan)?)
        })
        .await?
    }

    /// The Tasks page in Chromium under a steady stream (see [`ui`]);
    /// `None` when the watcher cannot run here.
    /// The Tasks page, then the Graphs page, each under its own run of
    /// the same stream.
    async fn ui_stage(&mut self) -> anyhow::Result<Option<(ui::UiFigures, ui::UiFigures)>> {
        if !ui::available() {
            return Ok(None);
        }
        let window = Duration::from_secs_f64(self.args.ui_seconds);
        let mut pages = Vec::new();
        for page in [ui::TASKS_PAGE, ui::GRAPHS_PAGE] {
            let spec = self.spec(24, Some(self.args.ui_rate), 0.0, None);
            pages.push(
                ui::under_load(&self.args.celadon, &self.templates, spec, window, page).await?,
            );
        }
        let graphs = pages.pop().context("the Graphs page's figures")?;
        let tasks = pages.pop().context("the Tasks page's figures")?;
        Ok(Some((tasks, graphs)))
    }

    async fn json(&self, url: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.http.get(url).send().await?.json().await?)
    }

    /// Tasks finished (succeeded or failed) per celadon's all-time counts.
    async fn celadon_finished(&self, s: &CeladonBinary) -> anyhow::Result<u64> {
        let rows = self.json(&s.url("/api/stats/types")).await?;
        Ok(rows
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        r["totals"]["succeeded"].as_u64().unwrap_or(0)
                            + r["totals"]["failed"].as_u64().unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0))
    }

    /// Tasks finished per Flower's own event counters.
    async fn flower_finished(&self, s: &Flower) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(s.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| {
                l.starts_with("flower_events_total{")
                    && (l.contains("type=\"task-succeeded\"") || l.contains("type=\"task-failed\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    /// Polls `count` until it reaches `want` or stops moving for `quiet`.
    async fn settle<F, Fut>(&self, want: u64, quiet: Duration, limit: Duration, mut count: F) -> u64
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<u64>>,
    {
        let start = Instant::now();
        // (last count seen, when it last moved); a failed poll counts as
        // no movement.
        let mut last = (0, Instant::now());
        loop {
            let n = count().await.unwrap_or(last.0);
            if n >= want {
                return n;
            }
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() > quiet || start.elapsed() > limit {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn stage(
        &mut self,
        batch: usize,
        rate: f64,
        secs: f64,
        with_flower: bool,
    ) -> anyhow::Result<(generator::Sent, Kept, Option<Kept>)> {
        // Each dashboard takes the identical stream alone, with its own
        // Redis: on two cores, running them side by side would have them
        // compete for the CPU and measure the machine, not the dashboard.
        let spec = self.spec(batch, Some(rate), secs, None);
        let plan = self.render(spec).await?;
        let (sent, ours) = {
            let scratch = Scratch::new()?;
            let redis = Redis::start(&scratch)?;
            let ours = celadon(&self.args.celadon, &redis, &scratch, 100_000)?;
            let cpu0 = ours.proc().cpu_seconds();
            let sent = self.publish(redis.socket(), plan.clone()).await?;
            let kept = self
                .settle(
                    sent.tasks,
                    Duration::from_secs(3),
                    Duration::from_secs(30),
                    || self.celadon_finished(&ours),
                )
                .await;
            let cpu = ours.proc().cpu_seconds() - cpu0;
            let offered = sent.tasks;
            (
                sent,
                Kept {
                    finished: kept,
                    offered,
                    cpu,
                },
            )
        };
        if !with_flower {
            return Ok((sent, ours, None));
        }
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let Some(flower) = flower(&self.args.venv, &redis, &scratch, 100_000)? else {
            return Ok((sent, ours, None));
        };
        let cpu0 = flower.proc().cpu_seconds();
        let theirs_sent = self.publish(redis.socket(), plan).await?;
        let kept = self
            .settle(
                theirs_sent.tasks,
                Duration::from_secs(5),
                Duration::from_secs(120),
                || self.flower_finished(&flower),
            )
            .await;
        let theirs = Kept {
            finished: kept,
            offered: theirs_sent.tasks,
            cpu: flower.proc().cpu_seconds() - cpu0,
        };
        Ok((sent, ours, Some(theirs)))
    }

    /// Memory at 100k and `large` tasks, then query latency at `large`.
    async fn large(&mut self, with_flower: bool) -> anyhow::Result<(Vec<Memory>, Vec<Query>)> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let ours = celadon(&self.args.celadon, &redis, &scratch, self.args.large)?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let baseline = ours.proc().rss_bytes();
        let mut memory = Vec::new();
        let mut total = 0u64;
        let flower_100k = if with_flower {
            self.flower_100k().await?
        } else {
            None
        };
        for step in [100_000u64, self.args.large] {
            let add = step.saturating_sub(total);
            if add == 0 {
                continue;
            }
            let spec = self.spec(24, Some(150_000.0), 3600.0, Some(add));
            let plan = self.render(spec).await?;
            let sent = self.publish(redis.socket(), plan).await?;
            total += sent.tasks;
            self.settle(
                total,
                Duration::from_secs(3),
                Duration::from_secs(120),
                || self.celadon_finished(&ours),
            )
            .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let rss = ours.proc().rss_bytes().saturating_sub(baseline);
            let stats = self.json(&ours.url("/api/stats")).await?;
            let model = stats["model"]["bytes"].as_f64().unwrap_or(0.0);
            memory.push(Memory {
                tasks: total,
                per_task: rss as f64 / total as f64,
                text: text_per_task(),
                model_says: model / total as f64,
                flower: if step == 100_000 {
                    flower_100k.as_ref().map(|f| f.0)
                } else {
                    None
                },
            });
        }
        let mut queries = Vec::new();
        for (i, query) in [
            "?state=FAILURE&sort_by=-received&limit=15",
            "?taskname=tasks.add&workername=bench3@loadgen&sort_by=-received&offset=30&limit=15",
        ]
        .into_iter()
        .enumerate()
        {
            let (p50, p99) = self.latency(&ours.url("/api/tasks"), query, 200).await?;
            queries.push(Query {
                query: query.to_string(),
                tasks: total,
                p50,
                p99,
                flower: flower_100k
                    .as_ref()
                    .and_then(|f| f.1.get(i).copied())
                    .map(|(a, b)| (100_000, a, b)),
            });
        }
        Ok((memory, queries))
    }

    /// Flower's RSS per task and query latency at 100k tasks, loaded at a
    /// rate it keeps up with.
    async fn flower_100k(&mut self) -> anyhow::Result<Option<(f64, Vec<(f64, f64)>)>> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let Some(flower) = flower(&self.args.venv, &redis, &scratch, 200_000)? else {
            return Ok(None);
        };
        let baseline = flower.proc().rss_bytes();
        let spec = self.spec(24, Some(5_000.0), 3600.0, Some(100_000));
        let plan = self.render(spec).await?;
        let sent = self.publish(redis.socket(), plan).await?;
        self.settle(
            sent.tasks,
            Duration::from_secs(10),
            Duration::from_secs(300),
            || self.flower_finished(&flower),
        )
        .await;
        let rss = flower.proc().rss_bytes().saturating_sub(baseline) as f64 / sent.tasks as f64;
        let mut latencies = Vec::new();
        for query in [
            "?state=FAILURE&sort_by=-received&limit=15",
            "?taskname=tasks.add&workername=bench3@loadgen&sort_by=-received&offset=30&limit=15",
        ] {
            latencies.push(self.latency(&flower.url("/api/tasks"), query, 20).await?);
        }
        Ok(Some((rss, latencies)))
    }

    /// p50 and p99 of `n` sequential GETs of `{tasks}{query}` (`tasks` is
    /// a dashboard's `/api/tasks`), in ms.
    async fn latency(&self, tasks: &str, query: &str, n: usize) -> anyhow::Result<(f64, f64)> {
        let url = format!("{tasks}{query}");
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            let body = self.http.get(&url).send().await?.bytes().await?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(!body.is_empty(), "empty answer from {url}");
        }
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
        Ok((at(0.5), at(0.99)))
    }
}
