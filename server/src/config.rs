//! celadon's command line. Flags keep Flower's names, spelled with hyphens
//! or underscores (`--max-tasks` or `--max_tasks`), and Flower's `FLOWER_*`
//! environment variables, so an existing Flower deployment's settings work
//! unchanged. Celery's own settings keep Celery's variable names.

use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::{
    broker::{naming::TransportOptions, url::BrokerUrl},
    state::{ModelConfig, stats::DEFAULT_RUNTIME_BUCKETS, tasks::Limits},
};

#[derive(Parser, Debug)]
#[command(
    name = "celadon",
    version,
    about = "A live monitoring dashboard for Celery on Redis",
    after_help = "Flags may be written with hyphens or underscores, and set in the environment \
                  as with Flower (FLOWER_PORT, FLOWER_MAX_TASKS, ...)."
)]
pub struct Args {
    /// Celery broker URL: redis://[[user]:password@]host[:port][/db],
    /// redis+socket:///path/to/redis.sock[?virtual_host=db] or
    /// unix:///path/to/redis.sock[?db=N].
    #[arg(
        long,
        short = 'b',
        env = "CELERY_BROKER_URL",
        default_value = "redis://localhost:6379/0",
        value_parser = parse_broker,
        value_name = "URL"
    )]
    pub broker: BrokerUrl,

    /// Celery's broker_transport_options, as JSON (global_keyprefix,
    /// fanout_prefix, fanout_patterns, sep, priority_steps).
    #[arg(
        long,
        alias = "broker_transport_options",
        env = "CELERY_BROKER_TRANSPORT_OPTIONS",
        value_parser = TransportOptions::parse,
        value_name = "JSON"
    )]
    pub broker_transport_options: Option<TransportOptions>,

    /// Redis result backend, in the broker URL forms: lets celadon catch up
    /// on tasks whose events were lost.
    #[arg(
        long,
        alias = "result_backend",
        env = "CELERY_RESULT_BACKEND",
        value_parser = parse_broker,
        value_name = "URL"
    )]
    pub result_backend: Option<BrokerUrl>,

    /// Port to serve the dashboard on (0 picks a free one and logs it).
    #[arg(long, env = "FLOWER_PORT", default_value_t = 5555)]
    pub port: u16,

    /// Address to listen on; empty means every interface.
    #[arg(long, env = "FLOWER_ADDRESS", default_value = "")]
    pub address: String,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "FLOWER_LOGGING", default_value = "info")]
    pub logging: String,

    /// Tasks kept in memory; finished ones are forgotten first.
    #[arg(
        long,
        alias = "max_tasks",
        env = "FLOWER_MAX_TASKS",
        default_value_t = 100_000
    )]
    pub max_tasks: usize,

    /// Workers kept; the longest offline are forgotten first.
    #[arg(
        long,
        alias = "max_workers",
        env = "FLOWER_MAX_WORKERS",
        default_value_t = 5000
    )]
    pub max_workers: usize,

    /// Memory budget of the model (512MB, 2GiB, …; 0 for none). Whichever of
    /// this and --max-tasks binds first applies.
    #[arg(
        long,
        alias = "max_memory",
        env = "CELADON_MAX_MEMORY",
        default_value = "1GiB",
        value_parser = parse_size,
        value_name = "SIZE"
    )]
    pub max_memory: usize,

    /// Cast enable_events to all workers every 5 s (Flower's default).
    #[arg(
        long,
        alias = "enable_events",
        env = "FLOWER_ENABLE_EVENTS",
        default_value = "true",
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set,
        value_parser = parse_bool,
        value_name = "BOOL"
    )]
    pub enable_events: bool,

    /// How long to wait for workers' replies to inspect commands, in ms.
    #[arg(
        long,
        alias = "inspect_timeout",
        env = "FLOWER_INSPECT_TIMEOUT",
        default_value_t = 1000.0
    )]
    pub inspect_timeout: f64,

    /// Forget workers that have been offline for this many seconds.
    #[arg(
        long,
        alias = "purge_offline_workers",
        env = "FLOWER_PURGE_OFFLINE_WORKERS",
        value_name = "SECONDS"
    )]
    pub purge_offline_workers: Option<f64>,

    /// Upper bounds of flower_task_runtime_seconds, comma-separated.
    #[arg(
        long,
        alias = "task_runtime_metric_buckets",
        env = "FLOWER_TASK_RUNTIME_METRIC_BUCKETS",
        value_parser = parse_buckets,
        value_name = "SECONDS,..."
    )]
    pub task_runtime_metric_buckets: Option<Vec<f64>>,

    /// The Tasks page's columns unless the URL picks others, comma-separated
    /// (Flower's names: name, uuid, state, args, kwargs, result, received,
    /// started, runtime, worker, exchange, routing_key, retries, revoked,
    /// exception, expires, eta).
    #[arg(
        long,
        alias = "tasks_columns",
        env = "FLOWER_TASKS_COLUMNS",
        default_value = app::wire::DEFAULT_COLUMNS,
        value_parser = parse_columns,
        value_name = "COLUMNS"
    )]
    pub tasks_columns: TaskColumns,

    /// Require a login for every page, the websocket and the API
    /// (/healthcheck and /metrics stay open, as in Flower):
    /// user:password, comma-separated for several.
    #[arg(
        long,
        alias = "basic_auth",
        env = "FLOWER_BASIC_AUTH",
        value_parser = parse_users,
        value_name = "USER:PASSWORD,..."
    )]
    pub basic_auth: Option<Users>,

    /// Show everything, control nothing: the UI hides every action and
    /// every control endpoint answers 403.
    #[arg(
        long,
        alias = "read_only",
        env = "FLOWER_READ_ONLY",
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set,
        value_parser = parse_bool,
        value_name = "BOOL"
    )]
    pub read_only: bool,
}

/// `--basic-auth`: `(user, password)` pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Users(pub Vec<(String, String)>);

fn parse_users(s: &str) -> Result<Users, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                out.push((user.to_string(), password.to_string()));
            }
            _ => return Err(format!("{pair:?} is not user:password")),
        }
    }
    if out.is_empty() {
        return Err("no user:password given".into());
    }
    Ok(Users(out))
}

/// `--tasks-columns`, checked against Flower's column names.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskColumns(pub Vec<String>);

fn parse_columns(s: &str) -> Result<TaskColumns, String> {
    let known: Vec<&str> = app::wire::COLUMNS.iter().map(|(k, _)| *k).collect();
    let mut out = Vec::new();
    for c in s.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !known.contains(&c) {
            return Err(format!("{c:?} is not a column; use {}", known.join(", ")));
        }
        out.push(c.to_string());
    }
    if out.is_empty() {
        return Err("no columns given".into());
    }
    Ok(TaskColumns(out))
}

fn parse_broker(s: &str) -> Result<BrokerUrl, String> {
    BrokerUrl::parse(s).map_err(|e| e.to_string())
}

/// Python-style booleans as Flower accepts them.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

/// `512MB` (10⁶), `2GiB` (2³⁰), `1000` (bytes); `0` means no budget.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512MB or 2GiB"))?;
    let scale: f64 = match unit.trim().to_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    Ok((n * scale) as usize)
}

fn parse_buckets(s: &str) -> Result<Vec<f64>, String> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let b: f64 = part
            .parse()
            .map_err(|_| format!("{part:?} is not a number of seconds"))?;
        if v.last().is_some_and(|last| b <= *last) {
            return Err("buckets must increase".into());
        }
        v.push(b);
    }
    if v.is_empty() {
        return Err("no buckets given".into());
    }
    Ok(v)
}

/// What [`crate::run`] needs, independent of how it was given.
#[derive(Clone, Debug)]
pub struct Config {
    pub broker: BrokerUrl,
    pub transport: TransportOptions,
    pub result_backend: Option<BrokerUrl>,
    pub model: ModelConfig,
    pub enable_events: bool,
    pub inspect_timeout: Duration,
    pub purge_offline_workers: Option<f64>,
    /// `--tasks-columns`.
    pub tasks_columns: Vec<String>,
    /// `--basic-auth`: empty for none.
    pub basic_auth: Vec<(String, String)>,
    pub read_only: bool,
}

impl Config {
    /// Flower's defaults for `broker`.
    pub fn new(broker: BrokerUrl) -> Config {
        Config {
            broker,
            transport: TransportOptions::default(),
            result_backend: None,
            model: ModelConfig::default(),
            enable_events: true,
            inspect_timeout: Duration::from_millis(1000),
            purge_offline_workers: None,
            tasks_columns: app::wire::DEFAULT_COLUMNS
                .split(',')
                .map(str::to_string)
                .collect(),
            basic_auth: Vec::new(),
            read_only: false,
        }
    }
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            broker: self.broker.clone(),
            transport: self.broker_transport_options.clone().unwrap_or_default(),
            result_backend: self.result_backend.clone(),
            model: ModelConfig {
                limits: Limits {
                    max_tasks: self.max_tasks,
                    max_bytes: if self.max_memory == 0 {
                        usize::MAX
                    } else {
                        self.max_memory
                    },
                },
                max_workers: self.max_workers,
                runtime_buckets: self
                    .task_runtime_metric_buckets
                    .clone()
                    .unwrap_or_else(|| DEFAULT_RUNTIME_BUCKETS.to_vec()),
            },
            enable_events: self.enable_events,
            inspect_timeout: Duration::from_secs_f64((self.inspect_timeout / 1000.0).max(0.01)),
            purge_offline_workers: self.purge_offline_workers,
            tasks_columns: self.tasks_columns.0.clone(),
            basic_auth: self
                .basic_auth
                .as_ref()
                .map(|u| u.0.clone())
                .unwrap_or_default(),
            read_only: self.read_only,
        }
    }

    /// The address to bind, as Flower reads `--address` and `--port`.
    pub fn bind_addr(&self) -> String {
        let host = match self.address.as_str() {
            "" => "0.0.0.0",
            a => a,
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("celadon").chain(argv.iter().copied()))
    }

    #[test]
    fn flower_spellings_and_defaults_are_accepted() {
        let a = args(&[
            "--max_tasks=500",
            "--enable_events=False",
            "--purge_offline_workers",
            "60",
        ])
        .unwrap();
        assert_eq!(a.max_tasks, 500);
        assert!(!a.enable_events);
        assert_eq!(a.purge_offline_workers, Some(60.0));
        let d = args(&[]).unwrap();
        assert!(d.enable_events);
        assert_eq!(d.max_tasks, 100_000);
        assert_eq!(d.config().inspect_timeout, Duration::from_millis(1000));
        assert!(args(&["--enable-events"]).unwrap().enable_events);
    }

    #[test]
    fn sizes_and_buckets_parse_or_say_why_not() {
        assert_eq!(parse_size("512MB"), Ok(512_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("lots").is_err());
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert_eq!(parse_buckets("0.1, 1,10"), Ok(vec![0.1, 1.0, 10.0]));
        assert!(parse_buckets("1,0.5").is_err());
        assert!(
            args(&[
                "--broker-transport-options",
                "{\"global_keyprefix\": \"x:\"}"
            ])
            .is_ok()
        );
        assert!(args(&["--broker-transport-options", "{oops"]).is_err());
    }

    #[test]
    fn task_columns_are_flower_names_or_refused() {
        let a = args(&["--tasks_columns=name,state,eta"]).unwrap();
        assert_eq!(a.config().tasks_columns, ["name", "state", "eta"]);
        let d = args(&[]).unwrap().config().tasks_columns;
        assert_eq!(d.first().map(String::as_str), Some("name"));
        assert_eq!(d.len(), 10);
        let err = args(&["--tasks-columns=name,colour"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"colour\" is not a column"), "{err}");
    }
}
