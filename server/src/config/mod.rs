//! celadon's settings, read as Flower reads its own: every Flower 2.2
//! option by its name (`--max_tasks` or `--max-tasks`, `--name=value`),
//! as a `FLOWER_*` variable, or in `flowerconfig.py`; Celery's connection
//! settings by Celery's variable names, and from the Celery app itself
//! when `celery -A proj celadon` starts it (`CELADON_CELERY_CONF`). The table in `options` lists them
//! all. An option celadon does not act on is named in a warning at start;
//! one whose absence would leave celadon more open than asked (sign-on,
//! TLS) stops it.

mod celery;
pub mod options;
pub mod signon;
mod sources;
mod values;

use std::{
    collections::BTreeMap,
    fmt::Write,
    path::{Path, PathBuf},
    time::Duration,
};

pub use celery::CeleryConfError;
use options::{Kind, OPTIONS, Opt, Support};
use signon::SignOnOptions;
use sources::{Given, Request, Source, SourceError};

use crate::{
    auth::email::EmailPattern,
    broker::{
        backend::BackendUrl,
        ssl::SslOptions,
        transport::{Role, TransportOptions},
        url::{BrokerUrl, Servers},
    },
    logfile::{LogFileOptions, Rotation, When},
    state::ModelConfig,
    store::{DEFAULT_SAVE_INTERVAL, HistoryConfig, Location, PgUrl},
};

/// What [`crate::run`] needs, independent of how it was given.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub broker: BrokerUrl,
    pub transport: TransportOptions,
    /// `--broker-use-ssl`: TLS for the broker, even on `redis://`.
    pub broker_use_ssl: Option<SslOptions>,
    /// `--result-backend`: Redis, or a database (Celery's or
    /// django-celery-results').
    pub result_backend: Option<BackendUrl>,
    /// `--result-backend-transport-options`.
    pub backend_transport: TransportOptions,
    /// `--redis-backend-use-ssl`.
    pub backend_use_ssl: Option<SslOptions>,
    pub model: ModelConfig,
    pub enable_events: bool,
    pub inspect_timeout: Duration,
    pub purge_offline_workers: Option<f64>,
    /// `--tasks-columns`.
    pub tasks_columns: Vec<String>,
    /// `--basic-auth`: empty for none.
    pub basic_auth: Vec<(String, String)>,
    pub read_only: bool,
    /// `FLOWER_UNAUTHENTICATED_API`: without a login, the API answers.
    pub unauthenticated_api: bool,
    /// `--xheaders`: the client's address and scheme are the proxy's
    /// `X-Forwarded-*`/`X-Real-Ip`.
    pub xheaders: bool,
    /// `--allowed-hosts`: the names celadon answers to; `None` for the
    /// defaults (`api::hosts`).
    pub allowed_hosts: Option<Vec<String>>,
    /// `--natural-time`: the pages open with times as "3 min ago".
    pub natural_time: bool,
    /// `--url-prefix`: every page and path is under it.
    pub url_prefix: app::base::Base,
    /// `--db`, `--persistent` and the rest: where history is kept, if
    /// anywhere.
    pub history: Option<HistoryConfig>,
    /// `--auth-provider`, `--oidc-issuer`, `--roles` and the rest.
    pub sign_on: signon::SignOnConfig,
    /// `--alerts`: the rules and webhooks of the file, checked.
    pub alerts: Option<crate::alerts::file::AlertsConfig>,
    /// `--external-url`, without a final `/`; `None`: made from the host
    /// name, the port and the prefix.
    pub external_url: Option<String>,
}

impl Config {
    /// Flower's defaults for `broker`.
    pub fn new(broker: BrokerUrl) -> Config {
        Config {
            broker,
            transport: TransportOptions::default(),
            broker_use_ssl: None,
            result_backend: None,
            backend_transport: TransportOptions::default(),
            backend_use_ssl: None,
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
            unauthenticated_api: false,
            xheaders: false,
            allowed_hosts: None,
            natural_time: false,
            url_prefix: app::base::Base::default(),
            history: None,
            sign_on: signon::SignOnConfig::default(),
            alerts: None,
            external_url: None,
        }
    }
}

/// The history options as given, resolved together once all are read.
#[derive(Clone, Debug, PartialEq)]
struct HistoryOptions {
    persistent: bool,
    db: Location,
    save_interval: Duration,
    retention: Option<Duration>,
    max_size: Option<u64>,
    /// `--alerts` (read once every option is).
    alerts: Option<PathBuf>,
}

impl Default for HistoryOptions {
    fn default() -> HistoryOptions {
        HistoryOptions {
            persistent: true,
            db: Location::Sqlite(PathBuf::from("celadon.db")),
            save_interval: DEFAULT_SAVE_INTERVAL,
            retention: None,
            max_size: None,
            alerts: None,
        }
    }
}

impl HistoryOptions {
    /// Nothing with `--persistent=false`. A relative `--db` is the
    /// process's working directory's, as Flower's is.
    fn resolve(self) -> Option<HistoryConfig> {
        self.persistent.then_some(HistoryConfig {
            location: self.db,
            save_interval: self.save_interval,
            retention: self.retention,
            max_size: self.max_size,
        })
    }
}

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// Empty: every interface, IPv4 and IPv6.
    pub address: String,
    pub port: u16,
    /// `--unix-socket`: listen there instead of on a port.
    pub unix_socket: Option<PathBuf>,
    /// `--certfile`, `--keyfile`, `--ca-certs`: serve HTTPS.
    pub https: Option<Https>,
}

/// The files HTTPS is served with, as Flower names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Https {
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    /// Client certificates must be signed by this CA.
    pub ca_certs: Option<PathBuf>,
}

/// The HTTPS options as given, checked together once all are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HttpsFiles {
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    ca_certs: Option<PathBuf>,
}

impl HttpsFiles {
    /// Flower serves HTTPS only with both a certificate and a key, and
    /// silently serves plain HTTP otherwise; celadon refuses to start, so
    /// it never runs more open than asked.
    fn https(self) -> Result<Option<Https>, ConfigError> {
        let refuse =
            |what: &str, why: &str| ConfigError::Incomplete(format!("{what} is set, but {why}"));
        match self {
            HttpsFiles {
                certfile: Some(certfile),
                keyfile: Some(keyfile),
                ca_certs,
            } => Ok(Some(Https {
                certfile,
                keyfile,
                ca_certs,
            })),
            HttpsFiles {
                certfile: None,
                keyfile: None,
                ca_certs: None,
            } => Ok(None),
            HttpsFiles {
                certfile: None,
                keyfile: None,
                ..
            } => Err(refuse(
                "--ca-certs",
                "client certificates need HTTPS: give --certfile and --keyfile too",
            )),
            HttpsFiles { certfile: None, .. } => Err(refuse(
                "--keyfile",
                "HTTPS needs --certfile too; celadon will not serve plain HTTP instead",
            )),
            HttpsFiles { keyfile: None, .. } => Err(refuse(
                "--certfile",
                "HTTPS needs --keyfile too; celadon will not serve plain HTTP instead",
            )),
        }
    }
}

/// Everything the command line, the environment and the configuration file
/// said.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub config: Config,
    pub listen: Listen,
    /// A `tracing` filter.
    pub log_filter: String,
    /// Where the log goes.
    pub log: LogOutput,
    /// Options given that celadon does not act on, and what it skipped.
    pub warnings: Vec<String>,
}

/// Where the log goes, as tornado decides it for Flower: the options as
/// given (the rotation ones matter only with a file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOutput {
    /// `--log-file-prefix`.
    pub file: Option<PathBuf>,
    /// `--log-to-stderr`; unset, stderr only when there is no file.
    pub to_stderr: Option<bool>,
    pub max_size: u64,
    pub backups: u32,
    pub rotate_by_time: bool,
    pub when: When,
    pub interval: u32,
}

impl Default for LogOutput {
    /// Tornado's defaults.
    fn default() -> LogOutput {
        LogOutput {
            file: None,
            to_stderr: None,
            max_size: 100_000_000,
            backups: 10,
            rotate_by_time: false,
            when: When::Midnight,
            interval: 1,
        }
    }
}

impl LogOutput {
    /// Whether to log to stderr.
    pub fn stderr(&self) -> bool {
        self.to_stderr.unwrap_or(self.file.is_none())
    }

    /// The log file and its rotation, if there is one.
    pub fn file_options(&self) -> Option<LogFileOptions> {
        let rotation = if self.rotate_by_time {
            Rotation::Time {
                when: self.when,
                interval: self.interval,
            }
        } else {
            Rotation::Size {
                max_bytes: self.max_size,
            }
        };
        Some(LogFileOptions {
            path: self.file.clone()?,
            rotation,
            backups: self.backups,
        })
    }
}

/// What celadon was asked to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Startup {
    Run(Box<Settings>),
    Help(String),
    Version,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Celery(#[from] CeleryConfError),
    #[error("{origin} sets {option}: {why}")]
    Value {
        option: &'static str,
        origin: Source,
        why: String,
    },
    #[error("{0}")]
    Incomplete(String),
    #[error("{origin} sets {what}, but {why}")]
    Refused {
        what: String,
        origin: Source,
        why: &'static str,
    },
}

/// Reads the settings from `argv` (without the program's name), the
/// environment `env` (the Celery app's settings in `CELADON_CELERY_CONF`
/// included), and the configuration file, relative to `cwd`.
pub fn load(
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Startup, ConfigError> {
    let mut warnings = Vec::new();
    let mut flags = Vec::new();
    match sources::command_line(argv, &mut flags, &mut warnings)? {
        Request::Help => return Ok(Startup::Help(help())),
        Request::Version => return Ok(Startup::Version),
        Request::Run => {}
    }
    let mut given: BTreeMap<&'static str, (&'static Opt, Given, Source)> = BTreeMap::new();
    let from_celery = celery::read(env)?;
    warnings.extend(from_celery.warnings);
    for (opt, value, source) in from_celery.given {
        given.insert(opt.name, (opt, value, source));
    }
    let mut from_env = Vec::new();
    sources::environment(env, &mut from_env, &mut warnings);
    for (opt, value, var) in from_env {
        given.insert(opt.name, (opt, value, Source::Env(var)));
    }
    let mut settings = defaults()?;
    for (var, support) in sources::env_only(env) {
        match support {
            Support::Refused(why) => {
                return Err(ConfigError::Refused {
                    what: var.into(),
                    origin: Source::Env(var),
                    why,
                });
            }
            Support::NoEffect(why) | Support::NotYet(why) => {
                warnings.push(format!("{var} has no effect: {why}"));
            }
            Support::Applied => apply_env_only(var, env, &mut settings)?,
        }
    }
    let conf = conf_path(&flags, &given)?;
    for (opt, value, source) in read_config_file(conf, cwd, &mut warnings)? {
        given.insert(opt.name, (opt, value, source));
    }
    for (opt, value) in flags {
        given.insert(opt.name, (opt, value, Source::Flag));
    }
    if from_celery.no_broker && !given.contains_key("broker") {
        warnings.push(format!(
            "the Celery app names no broker ({}): Celery would use amqp://localhost, \
             which celadon cannot watch; celadon uses its default, {}",
            celery::VAR,
            options::find("broker")
                .and_then(|o| o.default)
                .unwrap_or_default()
        ));
    }
    let mut https = HttpsFiles::default();
    let mut history = HistoryOptions::default();
    let mut sign_on = SignOnOptions::new();
    sign_on.okta_base_url = env.get("FLOWER_OAUTH2_OKTA_BASE_URL").cloned();
    sign_on.github_domain = env.get("FLOWER_GITHUB_OAUTH_DOMAIN").cloned();
    sign_on.gitlab_domain = env.get("FLOWER_GITLAB_OAUTH_DOMAIN").cloned();
    sign_on.gitlab_groups = env.get("FLOWER_GITLAB_AUTH_ALLOWED_GROUPS").cloned();
    sign_on.gitlab_min_access_level = env.get("FLOWER_GITLAB_MIN_ACCESS_LEVEL").cloned();
    for (opt, value, source) in given.into_values() {
        apply(
            opt,
            &value,
            &source,
            &mut settings,
            (&mut https, &mut history, &mut sign_on),
            &mut warnings,
        )?;
    }
    settings.listen.https = https.https()?;
    if let Some(path) = history.alerts.take() {
        let read = crate::alerts::file::load(&cwd.join(path), &|v| env.get(v).cloned());
        settings.config.alerts = Some(read.map_err(|e| ConfigError::Incomplete(e.to_string()))?);
    }
    settings.config.history = history.resolve();
    settings.config.sign_on = sign_on.resolve().map_err(ConfigError::Incomplete)?;

    check(&settings.config)?;
    settings.warnings = warnings;
    Ok(Startup::Run(Box::new(settings)))
}

/// The configuration file to read: `--conf`, else `FLOWER_CONF`, else
/// `flowerconfig.py`, with whether it was named.
fn conf_path(
    flags: &[(&'static Opt, Given)],
    given: &BTreeMap<&'static str, (&'static Opt, Given, Source)>,
) -> Result<(PathBuf, bool), ConfigError> {
    let named = flags
        .iter()
        .rev()
        .find(|(o, _)| o.name == "conf")
        .map(|(_, g)| (g.clone(), Source::Flag))
        .or_else(|| given.get("conf").map(|(_, g, s)| (g.clone(), s.clone())));
    match named {
        Some((value, source)) => {
            let path = values::text(&value).map_err(|why| ConfigError::Value {
                option: "conf",
                origin: source,
                why,
            })?;
            Ok((PathBuf::from(path), true))
        }
        None => Ok((PathBuf::from("flowerconfig.py"), false)),
    }
}

/// The settings in the configuration file; a missing default file is no
/// error, as in Flower.
fn read_config_file(
    (path, named): (PathBuf, bool),
    cwd: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(&'static Opt, Given, Source)>, ConfigError> {
    let path = cwd.join(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SourceError::File {
                path: path.display().to_string(),
                why: e.to_string(),
            }
            .into());
        }
    };
    let mut read = Vec::new();
    sources::config_file(&path, &text, &mut read, warnings)?;
    Ok(read)
}

/// Every default, as the table writes it.
fn defaults() -> Result<Settings, ConfigError> {
    let mut settings = Settings {
        config: Config::new(BrokerUrl::parse("redis://localhost:6379/0").map_err(|e| {
            ConfigError::Value {
                option: "broker",
                origin: Source::Flag,
                why: e.to_string(),
            }
        })?),
        listen: Listen {
            address: String::new(),
            port: 5555,
            unix_socket: None,
            https: None,
        },
        log_filter: "info".into(),
        log: LogOutput::default(),
        warnings: Vec::new(),
    };
    settings.config.model.limits.max_bytes = 1 << 30;
    Ok(settings)
}

/// A variable Flower reads that is not an option.
fn apply_env_only(
    var: &'static str,
    env: &BTreeMap<String, String>,
    settings: &mut Settings,
) -> Result<(), ConfigError> {
    let value = env.get(var).map_or("", String::as_str);
    let bad = |why: String| ConfigError::Value {
        option: var,
        origin: Source::Env(var),
        why,
    };
    match var {
        "FLOWER_UNAUTHENTICATED_API" => {
            // Flower: strtobool(os.environ.get(...) or "false").
            settings.config.unauthenticated_api =
                !value.is_empty() && values::parse_bool(value).map_err(bad)?;
        }
        // Read with the sign-on options, which it completes.
        "FLOWER_OAUTH2_OKTA_BASE_URL"
        | "FLOWER_GITHUB_OAUTH_DOMAIN"
        | "FLOWER_GITLAB_OAUTH_DOMAIN"
        | "FLOWER_GITLAB_AUTH_ALLOWED_GROUPS"
        | "FLOWER_GITLAB_MIN_ACCESS_LEVEL" => {}
        other => {
            return Err(bad(format!(
                "{other} is applied nowhere (a bug in celadon)"
            )));
        }
    }
    Ok(())
}

/// What no single option can say wrong: Sentinel without a master's name.
fn check(config: &Config) -> Result<(), ConfigError> {
    let needs_name = |url: &BrokerUrl, options: &TransportOptions, flag: &str, what: &str| {
        if matches!(url.servers, Servers::Sentinel { .. }) && options.sentinel.master_name.is_none()
        {
            return Err(ConfigError::Incomplete(format!(
                "the {what} is a sentinel:// URL, which needs master_name in {flag} \
                 (e.g. {flag}='{{\"master_name\": \"mymaster\"}}')"
            )));
        }
        Ok(())
    };
    needs_name(
        &config.broker,
        &config.transport,
        "--broker-transport-options",
        "broker",
    )?;
    if let Some(BackendUrl::Redis(url)) = &config.result_backend {
        needs_name(
            url,
            &config.backend_transport,
            "--result-backend-transport-options",
            "result backend",
        )?;
    }
    Ok(())
}

/// Whether `value` says what the option's default says.
fn is_default(opt: &Opt, value: &Given) -> bool {
    let Some(default) = opt.default else {
        return match value {
            Given::Text(t) => t.is_empty(),
            Given::Py(p) => matches!(p, crate::pyrepr::PyValue::None),
        };
    };
    let default = Given::Text(default.into());
    match opt.kind {
        Kind::Bool => values::bool(value).ok() == values::bool(&default).ok(),
        Kind::Int => values::int(value).ok() == values::int(&default).ok(),
        Kind::Float => values::float(value).ok() == values::float(&default).ok(),
        Kind::Text => values::text(value).ok() == values::text(&default).ok(),
        Kind::List => values::list(value).ok() == values::list(&default).ok(),
    }
}

/// Applies one option's value to `settings`, or says why it cannot.
fn apply(
    opt: &'static Opt,
    value: &Given,
    source: &Source,
    settings: &mut Settings,
    (https, history, sign_on): (&mut HttpsFiles, &mut HistoryOptions, &mut SignOnOptions),
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let bad = |why: String| ConfigError::Value {
        option: opt.name,
        origin: source.clone(),
        // The app's settings hold passwords: its values are never shown.
        why: match source {
            Source::Celery(_) => celery::redact(&why, value),
            _ => why,
        },
    };
    match opt.support {
        Support::Applied => {}
        _ if is_default(opt, value) => return Ok(()),
        Support::NoEffect(why) => {
            warnings.push(format!("{} has no effect: {why}", flag(opt)));
            return Ok(());
        }
        Support::NotYet(why) => {
            warnings.push(format!(
                "{} is not supported yet and is ignored: {why}",
                flag(opt)
            ));
            return Ok(());
        }
        Support::Refused(why) => {
            return Err(ConfigError::Refused {
                what: flag(opt),
                origin: source.clone(),
                why,
            });
        }
    }
    let c = &mut settings.config;
    let log = &mut settings.log;
    let list = || values::list(value).map_err(bad);
    let text = || values::text(value).map_err(bad);
    // Flower's empty string means "not set".
    let path = || -> Result<Option<PathBuf>, ConfigError> {
        Ok(Some(text()?).filter(|p| !p.is_empty()).map(PathBuf::from))
    };
    if matches!(
        opt.name,
        "auth"
            | "oauth2_key"
            | "oauth2_secret"
            | "oauth2_redirect_uri"
            | "oidc_scopes"
            | "oidc_groups_claim"
    ) {
        sign_on.needs_provider.push(opt.name);
    }
    match opt.name {
        "broker" => c.broker = BrokerUrl::parse(&text()?).map_err(|e| bad(e.to_string()))?,
        "broker_transport_options" | "result_backend_transport_options" => {
            let json = values::json(value).map_err(bad)?;
            let (role, options) = match opt.name {
                "broker_transport_options" => (Role::Broker, &mut c.transport),
                _ => (Role::Backend, &mut c.backend_transport),
            };
            *options = TransportOptions::parse(&json, role).map_err(bad)?;
            // Named as it was given: the app's setting, or the flag.
            let given_as = match source {
                Source::Celery(_) => source.to_string(),
                _ => flag(opt),
            };
            warnings.extend(options.ignored_note(&given_as));
        }
        "broker_use_ssl" | "redis_backend_use_ssl" => {
            let json = values::json(value).map_err(bad)?;
            let ssl = if json.trim().is_empty() {
                None
            } else {
                Some(SslOptions::from_json(&json).map_err(bad)?)
            };
            match opt.name {
                "broker_use_ssl" => c.broker_use_ssl = ssl,
                _ => c.backend_use_ssl = ssl,
            }
        }
        "result_backend" => {
            let url = text()?;
            c.result_backend = if url.is_empty() {
                None
            } else {
                Some(BackendUrl::parse(&url).map_err(|e| bad(e.to_string()))?)
            };
        }
        "port" => {
            let port = values::int(value).map_err(bad)?;
            settings.listen.port =
                u16::try_from(port).map_err(|_| bad(format!("{port} is not a port")))?;
        }
        "address" => settings.listen.address = text()?,
        "unix_socket" => {
            settings.listen.unix_socket =
                Some(text()?).filter(|p| !p.is_empty()).map(PathBuf::from);
        }
        "certfile" => https.certfile = path()?,
        "keyfile" => https.keyfile = path()?,
        "ca_certs" => https.ca_certs = path()?,
        "xheaders" => c.xheaders = values::bool(value).map_err(bad)?,
        "allowed_hosts" => {
            let hosts = list()?;
            if hosts.iter().all(|h| h.trim().is_empty()) {
                return Err(bad("name at least one host, or * for any".into()));
            }
            c.allowed_hosts = Some(hosts);
        }
        "natural_time" => c.natural_time = values::bool(value).map_err(bad)?,
        "log_to_stderr" => log.to_stderr = Some(values::bool(value).map_err(bad)?),
        "log_file_prefix" => log.file = path()?,
        "log_file_max_size" => {
            let n = values::int(value).map_err(bad)?;
            log.max_size = u64::try_from(n).map_err(|_| bad(format!("{n} is not a size")))?;
        }
        "log_file_num_backups" => {
            let n = values::int(value).map_err(bad)?;
            log.backups = u32::try_from(n).map_err(|_| bad(format!("{n} is not a count")))?;
        }
        "log_rotate_mode" => {
            log.rotate_by_time = match text()?.as_str() {
                "size" => false,
                "time" => true,
                other => return Err(bad(format!("{other:?} is not \"size\" or \"time\""))),
            };
        }
        "log_rotate_when" => log.when = When::parse(&text()?).map_err(bad)?,
        "log_rotate_interval" => {
            let n = values::int(value).map_err(bad)?;
            log.interval = u32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("{n} is not a number of periods")))?;
        }
        "logging" => settings.log_filter = values::log_filter(&text()?),
        "debug" => {
            // Flower: debug raises the level only when it was left at info.
            if values::bool(value).map_err(bad)? && settings.log_filter == "info" {
                settings.log_filter = "debug".into();
            }
        }
        "max_tasks" => c.model.limits.max_tasks = count(value).map_err(bad)?,
        "max_memory" => {
            let bytes = values::parse_size(&text()?).map_err(bad)?;
            c.model.limits.max_bytes = if bytes == 0 { usize::MAX } else { bytes };
        }
        "max_workers" => c.model.max_workers = count(value).map_err(bad)?,
        "enable_events" => c.enable_events = values::bool(value).map_err(bad)?,
        "inspect_timeout" => {
            let ms = values::float(value).map_err(bad)?;
            if ms <= 0.0 {
                return Err(bad(format!("{ms} ms is not a timeout")));
            }
            c.inspect_timeout = Duration::from_secs_f64((ms / 1000.0).max(0.01));
        }
        "purge_offline_workers" => {
            let seconds = values::int(value).map_err(bad)?;
            c.purge_offline_workers = (seconds > 0).then_some(seconds as f64);
        }
        "task_runtime_metric_buckets" => {
            c.model.runtime_buckets = values::parse_buckets(&list()?).map_err(bad)?;
        }
        "tasks_columns" => c.tasks_columns = values::parse_columns(&list()?).map_err(bad)?,
        "basic_auth" => c.basic_auth = values::parse_users(&list()?).map_err(bad)?,
        "auth" => {
            let t = text()?;
            sign_on.allowed = if t.is_empty() {
                None
            } else {
                Some(EmailPattern::parse(&t).map_err(bad)?)
            };
        }
        "auth_provider" => sign_on.provider = Some(text()?).filter(|t| !t.is_empty()),
        "oidc_issuer" => sign_on.issuer = Some(text()?).filter(|t| !t.is_empty()),
        "oauth2_key" => sign_on.client_id = Some(text()?).filter(|t| !t.is_empty()),
        "oauth2_secret" => sign_on.client_secret = Some(text()?).filter(|t| !t.is_empty()),
        "oauth2_redirect_uri" => sign_on.redirect_uri = Some(text()?),
        "cookie_secret" => sign_on.cookie_secret = Some(text()?),
        "oidc_scopes" => sign_on.scopes = list()?,
        "oidc_groups_claim" => sign_on.groups_claim = text()?,
        "roles" => sign_on.roles = list()?,
        "redact" => {
            sign_on.redact = Some(text()?)
                .filter(|t| !t.is_empty())
                .into_iter()
                .collect()
        }
        "default_role" => sign_on.default_role = signon::default_role(&text()?).map_err(bad)?,
        "read_only" => c.read_only = values::bool(value).map_err(bad)?,
        "url_prefix" => c.url_prefix = app::base::Base::parse(&text()?).map_err(bad)?,
        "db" => {
            let given = text()?;
            history.db = if PgUrl::claims(&given) {
                Location::Postgres(PgUrl::parse(&given).map_err(|e| bad(e.to_string()))?)
            } else {
                let path = path()?.ok_or_else(|| bad("an empty path names no file".into()))?;
                Location::Sqlite(path)
            };
        }
        "persistent" => history.persistent = values::bool(value).map_err(bad)?,
        "alerts" => history.alerts = path()?,
        "external_url" => {
            let t = text()?;
            c.external_url = if t.is_empty() {
                None
            } else {
                let u = url::Url::parse(&t).map_err(|e| bad(format!("{t:?}: {e}")))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(bad(format!("{t:?}: an http:// or https:// URL")));
                }
                Some(t.trim_end_matches('/').to_string())
            };
        }
        "state_save_interval" => {
            let ms = values::int(value).map_err(bad)?;
            history.save_interval = match u64::try_from(ms) {
                Ok(0) => DEFAULT_SAVE_INTERVAL,
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => return Err(bad(format!("{ms} ms is not an interval"))),
            };
        }
        "history_retention" => {
            let t = text()?;
            history.retention = if t.is_empty() {
                None
            } else {
                Some(values::parse_duration(&t).map_err(bad)?)
            };
        }
        "history_max_size" => {
            let t = text()?;
            history.max_size = if t.is_empty() {
                None
            } else {
                Some(values::parse_size(&t).map_err(bad)? as u64)
            };
        }
        // Read before the others (see `read_config_file`).
        "conf" => {}
        other => {
            return Err(bad(format!(
                "{other} is applied nowhere (a bug in celadon)"
            )));
        }
    }
    Ok(())
}

/// A non-negative count.
fn count(value: &Given) -> Result<usize, String> {
    let n = values::int(value)?;
    usize::try_from(n).map_err(|_| format!("{n} is not a count"))
}

/// `--max-tasks` for `max_tasks`.
fn flag(opt: &Opt) -> String {
    format!("--{}", opt.name.replace('_', "-"))
}

/// `--help`: every option, generated from the table.
pub fn help() -> String {
    let mut out = String::from(
        "celadon: a live monitoring dashboard for Celery on Redis\n\n\
         Usage: celadon [--option=value ...]\n\n\
         Options take Flower's names, with hyphens or underscores; each can also be set in\n\
         the environment as shown, or in flowerconfig.py (--conf). Flags override the file,\n\
         which overrides the environment, as in Flower; run as `celery -A proj celadon`,\n\
         all three override the app's own settings.\n\n",
    );
    for opt in OPTIONS {
        let _ = writeln!(out, "  {}", flag(opt));
        let _ = writeln!(out, "      {}", opt.help);
        let mut notes = Vec::new();
        if let Some(d) = opt.default.filter(|d| !d.is_empty()) {
            notes.push(format!("default: {d}"));
        }
        notes.push(format!("env: {}", opt.env.join(", ")));
        match opt.support {
            Support::Applied => {}
            Support::NoEffect(why) => notes.push(format!("no effect: {why}")),
            Support::NotYet(why) => notes.push(format!("not supported yet: {why}")),
            Support::Refused(why) => notes.push(format!("refused: {why}")),
        }
        let _ = writeln!(out, "      [{}]", notes.join("; "));
    }
    out.push_str("  -h, --help\n  -V, --version\n");
    out
}

/// The README's table of options, generated from the table.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| option | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    for opt in OPTIONS {
        let default = match opt.default {
            Some("") | None => "none".to_string(),
            Some(d) => format!("`{d}`"),
        };
        let env = opt
            .env
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let status = match opt.support {
            Support::Applied => String::new(),
            Support::NoEffect(why) => format!(" *No effect: {why}.*"),
            Support::NotYet(why) => format!(" *Not supported yet (warned at start): {why}.*"),
            Support::Refused(why) => format!(" *Refused at start: {why}.*"),
        };
        let _ = writeln!(
            out,
            "| `{}` | {env} | {default} | {}.{status} |",
            flag(opt),
            opt.help.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests;
