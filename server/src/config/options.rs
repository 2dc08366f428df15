//! Every option celadon accepts: Flower 2.2's (`flower/options.py`, with
//! tornado's logging options), Celery's connection settings, and celadon's
//! own. One table says, for each, how it is spelled, where it may come
//! from, what it defaults to and whether celadon acts on it, so that the
//! parser, `--help`, the README's table and the test that sets every
//! option all read the same list.

/// How an option's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true/false/1/0/yes/no/t/f/y/n/on/off`; a flag with no value is true.
    Bool,
    Int,
    Float,
    Text,
    /// Comma-separated (and a list in `flowerconfig.py`).
    List,
}

/// What celadon does with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Applied,
    /// Accepted, and named in a warning when set: it means nothing here.
    NoEffect(&'static str),
    /// Accepted, and named in a warning when set: not implemented yet.
    NotYet(&'static str),
    /// Not implemented yet, and ignoring it would leave celadon more open
    /// than its configuration asks: setting it stops startup.
    Refused(&'static str),
}

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// The name, with underscores (`--max_tasks` and `--max-tasks` both
    /// work on the command line).
    pub name: &'static str,
    /// Environment variables that set it, first found wins; `FLOWER_<NAME>`
    /// for Flower's options.
    pub env: &'static [&'static str],
    pub kind: Kind,
    /// The default, as it would be written; `None` when unset by default.
    pub default: Option<&'static str>,
    pub help: &'static str,
    pub support: Support,
    /// A value other than the default, which the test that sets every
    /// option uses.
    pub sample: &'static str,
}

/// Every option, in the order `--help` and the README list them.
pub const OPTIONS: &[Opt] = &[
    Opt {
        name: "broker",
        env: &["CELERY_BROKER_URL"],
        kind: Kind::Text,
        default: Some("redis://localhost:6379/0"),
        help: "The Celery broker, as kombu spells it: redis://[[user]:password@][host][:port][/db], \
               rediss://… (TLS, with kombu's ssl_cert_reqs, ssl_ca_certs, ssl_certfile, \
               ssl_keyfile parameters; certificates are verified unless ssl_cert_reqs=none), \
               redis+socket:///path/to/redis.sock[?virtual_host=db], \
               unix:///path/to/redis.sock[?db=N], sentinel://host[:port][/db] (with master_name \
               in --broker-transport-options), or several of one kind joined by ';' (a failover \
               list, tried in turn)",
        support: Support::Applied,
        sample: "redis://127.0.0.1:6390/3",
    },
    Opt {
        name: "broker_transport_options",
        env: &["CELERY_BROKER_TRANSPORT_OPTIONS"],
        kind: Kind::Text,
        default: None,
        help: "Celery's broker_transport_options as JSON. Applied: global_keyprefix, \
               fanout_prefix, fanout_patterns, sep, priority_steps, unacked_key, \
               unacked_index_key, visibility_timeout (when a held message is redelivered, \
               shown by the queue browser), socket_timeout, socket_connect_timeout, socket_keepalive, client_name, master_name, \
               min_other_sentinels, sentinel_kwargs (password, username, socket_timeout, \
               socket_connect_timeout, ssl, ssl_*); kombu's other options are named at start \
               as having no effect",
        support: Support::Applied,
        sample: r#"{"global_keyprefix": "app:"}"#,
    },
    Opt {
        name: "broker_use_ssl",
        env: &["CELERY_BROKER_USE_SSL"],
        kind: Kind::Text,
        default: None,
        help: "Celery's broker_use_ssl as JSON: TLS for the broker even on redis://, with \
               ssl_cert_reqs (required, optional, none), ssl_ca_certs, ssl_certfile, \
               ssl_keyfile, ssl_check_hostname; the URL's ssl_* parameters override its keys",
        support: Support::Applied,
        sample: r#"{"ssl_cert_reqs": "required"}"#,
    },
    Opt {
        name: "result_backend",
        env: &["CELERY_RESULT_BACKEND"],
        kind: Kind::Text,
        default: None,
        help: "The result backend the workers write: unfinished tasks are reconciled \
               from it after an event gap and every 5 min, and a retry takes a task's \
               exact arguments from it (result_extended). Redis, in the broker's URL \
               forms; Celery's database backend, db+postgresql://user[:password]@host[:port]/db \
               (also db+postgresql+psycopg2://, db+postgres://; no TLS yet), \
               db+sqlite:///relative/to/celadon's/directory.db or db+sqlite:////absolute.db \
               (its celery_taskmeta table; values the workers pickled are not read); or \
               django-celery-results, django-db+ before the Django database's URL \
               (django-db+postgresql://… or django-db+sqlite:////path/db.sqlite3; celery \
               celadon in a Django project reads django-db's database from the project). \
               celadon only reads a database; aborting needs Redis",
        support: Support::Applied,
        sample: "redis://127.0.0.1:6390/4",
    },
    Opt {
        name: "result_backend_transport_options",
        env: &["CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS"],
        kind: Kind::Text,
        default: None,
        help: "Celery's result_backend_transport_options as JSON: global_keyprefix, and the \
               connection and Sentinel options of --broker-transport-options",
        support: Support::Applied,
        sample: r#"{"global_keyprefix": "results:"}"#,
    },
    Opt {
        name: "redis_backend_use_ssl",
        env: &["CELERY_REDIS_BACKEND_USE_SSL"],
        kind: Kind::Text,
        default: None,
        help: "Celery's redis_backend_use_ssl as JSON: TLS for the result backend, with the \
               keys of --broker-use-ssl",
        support: Support::Applied,
        sample: r#"{"ssl_cert_reqs": "none"}"#,
    },
    Opt {
        name: "port",
        env: &["FLOWER_PORT"],
        kind: Kind::Int,
        default: Some("5555"),
        help: "Port to serve on; 0 picks a free one and logs it",
        support: Support::Applied,
        sample: "5566",
    },
    Opt {
        name: "address",
        env: &["FLOWER_ADDRESS"],
        kind: Kind::Text,
        default: Some(""),
        help: "Address to listen on (a name: every address it resolves to); empty for every interface, IPv4 and IPv6",
        support: Support::Applied,
        sample: "127.0.0.1",
    },
    Opt {
        name: "unix_socket",
        env: &["FLOWER_UNIX_SOCKET"],
        kind: Kind::Text,
        default: Some(""),
        help: "Listen on this unix socket (mode 0600) instead of a port",
        support: Support::Applied,
        sample: "/run/celadon.sock",
    },
    Opt {
        name: "logging",
        env: &["FLOWER_LOGGING"],
        kind: Kind::Text,
        default: Some("info"),
        help: "Log level (error, warning, info, debug, trace) or a tracing filter",
        support: Support::Applied,
        sample: "debug",
    },
    Opt {
        name: "debug",
        env: &["FLOWER_DEBUG"],
        kind: Kind::Bool,
        default: Some("false"),
        help: "Log at debug level (when --logging is left at info)",
        support: Support::Applied,
        sample: "true",
    },
    Opt {
        name: "max_tasks",
        env: &["FLOWER_MAX_TASKS"],
        kind: Kind::Int,
        default: Some("100000"),
        help: "Tasks kept in memory; finished ones are forgotten first, oldest first",
        support: Support::Applied,
        sample: "5000",
    },
    Opt {
        name: "max_memory",
        env: &["CELADON_MAX_MEMORY"],
        kind: Kind::Text,
        default: Some("1GiB"),
        help: "Memory budget of the model (512MB, 2GiB; 0 for none); whichever of this and \
               --max-tasks binds first applies",
        support: Support::Applied,
        sample: "256MB",
    },
    Opt {
        name: "max_workers",
        env: &["FLOWER_MAX_WORKERS"],
        kind: Kind::Int,
        default: Some("5000"),
        help: "Workers kept; the longest offline are forgotten first",
        support: Support::Applied,
        sample: "50",
    },
    Opt {
        name: "enable_events",
        env: &["FLOWER_ENABLE_EVENTS"],
        kind: Kind::Bool,
        default: Some("true"),
        help: "Cast enable_events to every worker every 5 s, so workers started without -E \
               send events",
        support: Support::Applied,
        sample: "false",
    },
    Opt {
        name: "inspect_timeout",
        env: &["FLOWER_INSPECT_TIMEOUT"],
        kind: Kind::Float,
        default: Some("1000"),
        help: "Milliseconds to wait for workers' replies to inspect commands",
        support: Support::Applied,
        sample: "2500",
    },
    Opt {
        name: "purge_offline_workers",
        env: &["FLOWER_PURGE_OFFLINE_WORKERS"],
        kind: Kind::Int,
        default: None,
        help: "Forget workers offline for this many seconds",
        support: Support::Applied,
        sample: "600",
    },
    Opt {
        name: "task_runtime_metric_buckets",
        env: &["FLOWER_TASK_RUNTIME_METRIC_BUCKETS"],
        kind: Kind::List,
        default: Some("0.005,0.01,0.025,0.05,0.075,0.1,0.25,0.5,0.75,1.0,2.5,5.0,7.5,10.0,inf"),
        help: "Upper bounds of flower_task_runtime_seconds, in seconds",
        support: Support::Applied,
        sample: "0.1,1,10,inf",
    },
    Opt {
        name: "tasks_columns",
        env: &["FLOWER_TASKS_COLUMNS"],
        kind: Kind::List,
        default: Some(app::wire::DEFAULT_COLUMNS),
        help: "The Tasks page's columns unless its URL picks others (Flower's names; also \
               args, kwargs, result, started, exchange, routing_key, retries, revoked, \
               exception, expires, eta)",
        support: Support::Applied,
        sample: "name,state,args,eta",
    },
    Opt {
        name: "basic_auth",
        env: &["FLOWER_BASIC_AUTH"],
        kind: Kind::List,
        default: None,
        help: "user:password[,user2:password2]: every page, the websocket and the API ask \
               for a login; /healthcheck and /metrics stay open, as in Flower",
        support: Support::Applied,
        sample: "ann:secret,bob:hunter2",
    },
    Opt {
        name: "read_only",
        env: &["FLOWER_READ_ONLY"],
        kind: Kind::Bool,
        default: Some("false"),
        help: "Show everything, control nothing: the UI hides every action and every \
               control endpoint answers 403",
        support: Support::Applied,
        sample: "true",
    },
    Opt {
        name: "conf",
        env: &["FLOWER_CONF"],
        kind: Kind::Text,
        default: Some("flowerconfig.py"),
        help: "A Flower configuration file: Python assignments of literals (no code is \
               run); read if the default one is missing",
        support: Support::Applied,
        sample: "celadon-test-flowerconfig.py",
    },
    Opt {
        name: "auth",
        env: &["FLOWER_AUTH"],
        kind: Kind::Text,
        default: Some(""),
        help: "Emails allowed to sign on, as Flower reads them: one address, a|b|c, or one * \
               before the @ (.*@example.com)",
        support: Support::Applied,
        sample: ".*@example.com",
    },
    Opt {
        name: "auth_provider",
        env: &["FLOWER_AUTH_PROVIDER"],
        kind: Kind::Text,
        default: None,
        help: "The sign-on provider: oidc (any OpenID Connect provider, with --oidc-issuer), \
               or Flower's flower.views.auth.GoogleAuth2LoginHandler or OktaLoginHandler \
               (FLOWER_OAUTH2_OKTA_BASE_URL), GithubLoginHandler (FLOWER_GITHUB_OAUTH_DOMAIN) or \
               GitLabLoginHandler (FLOWER_GITLAB_OAUTH_DOMAIN, _AUTH_ALLOWED_GROUPS, \
               _MIN_ACCESS_LEVEL)",
        support: Support::Applied,
        sample: "oidc",
    },
    Opt {
        name: "oidc_issuer",
        env: &["CELADON_OIDC_ISSUER"],
        kind: Kind::Text,
        default: None,
        help: "The OpenID Connect provider's issuer URL (its discovery document is read on \
               the first sign-on): Keycloak, Okta, Entra ID, Google, Authentik, Dex…",
        support: Support::Applied,
        sample: "https://id.example.com/realms/ops",
    },
    Opt {
        name: "oauth2_key",
        env: &["FLOWER_OAUTH2_KEY"],
        kind: Kind::Text,
        default: None,
        help: "OAuth2/OpenID Connect client id",
        support: Support::Applied,
        sample: "client-id",
    },
    Opt {
        name: "oauth2_secret",
        env: &["FLOWER_OAUTH2_SECRET"],
        kind: Kind::Text,
        default: None,
        help: "OAuth2/OpenID Connect client secret",
        support: Support::Applied,
        sample: "client-secret",
    },
    Opt {
        name: "oauth2_redirect_uri",
        env: &["FLOWER_OAUTH2_REDIRECT_URI"],
        kind: Kind::Text,
        default: None,
        help: "Where the provider sends the browser back: celadon's /login (by default, as \
               the request reached celadon)",
        support: Support::Applied,
        sample: "https://celadon.example.com/login",
    },
    Opt {
        name: "oidc_scopes",
        env: &["CELADON_OIDC_SCOPES"],
        kind: Kind::List,
        default: Some("openid,email,profile"),
        help: "The scopes asked for at sign-on (add groups where the provider needs it)",
        support: Support::Applied,
        sample: "openid,email,profile,groups",
    },
    Opt {
        name: "oidc_groups_claim",
        env: &["CELADON_OIDC_GROUPS_CLAIM"],
        kind: Kind::Text,
        default: Some("groups"),
        help: "The claim listing a person's groups (id token, else userinfo)",
        support: Support::Applied,
        sample: "roles",
    },
    Opt {
        name: "roles",
        env: &["CELADON_ROLES"],
        kind: Kind::List,
        default: None,
        help: "Who gets which role: ROLE=WHO, WHO a login or email, @domain, group:NAME or \
               *; roles are viewer (look), operator (also revoke/terminate/retry tasks) and \
               admin (also worker controls, sending tasks, the audit trail). Without rules, \
               everyone let in is an admin, as in Flower",
        support: Support::Applied,
        sample: "admin=ann,operator=group:ops,viewer=@example.com",
    },
    Opt {
        name: "default_role",
        env: &["CELADON_DEFAULT_ROLE"],
        kind: Kind::Text,
        default: Some("viewer"),
        help: "With --roles: the role of whoever matches no rule (none: they may not come in)",
        support: Support::Applied,
        sample: "none",
    },
    Opt {
        name: "redact",
        env: &["CELADON_REDACT"],
        kind: Kind::Text,
        default: None,
        help: "A regular expression (a|b for several) whose matches in task args, kwargs, results and \
               tracebacks viewers see as ‹redacted› (Flower's format_task need, without \
               running code); viewers may then search by name, state and worker only",
        support: Support::Applied,
        sample: "'password': '[^']*'",
    },
    Opt {
        name: "cookie_secret",
        env: &["FLOWER_COOKIE_SECRET"],
        kind: Kind::Text,
        default: None,
        help: "Secret of the sign-on session cookies (random by default: sessions end when \
               celadon restarts)",
        support: Support::Applied,
        sample: "0123456789abcdef",
    },
    Opt {
        name: "certfile",
        env: &["FLOWER_CERTFILE"],
        kind: Kind::Text,
        default: None,
        help: "Serve HTTPS with this certificate (PEM); needs --keyfile: one without the other stops celadon, where Flower would serve plain HTTP",
        support: Support::Applied,
        sample: "/etc/celadon/cert.pem",
    },
    Opt {
        name: "keyfile",
        env: &["FLOWER_KEYFILE"],
        kind: Kind::Text,
        default: None,
        help: "Serve HTTPS with this private key (PEM; with --certfile)",
        support: Support::Applied,
        sample: "/etc/celadon/key.pem",
    },
    Opt {
        name: "ca_certs",
        env: &["FLOWER_CA_CERTS"],
        kind: Kind::Text,
        default: None,
        help: "With HTTPS, every client must present a certificate this CA signed",
        support: Support::Applied,
        sample: "/etc/celadon/ca.pem",
    },
    Opt {
        name: "url_prefix",
        env: &["FLOWER_URL_PREFIX"],
        kind: Kind::Text,
        default: None,
        help: "Serve everything (pages, assets, the API, /metrics, /healthcheck, the websocket) under this path; `flower`, `/flower` and `/flower/` all mean /flower/",
        support: Support::Applied,
        sample: "flower",
    },
    Opt {
        name: "xheaders",
        env: &["FLOWER_XHEADERS"],
        kind: Kind::Bool,
        default: Some("false"),
        help: "Log the client's address and scheme from X-Forwarded-*/X-Real-Ip (behind a proxy)",
        support: Support::Applied,
        sample: "true",
    },
    Opt {
        name: "allowed_hosts",
        env: &["CELADON_ALLOWED_HOSTS"],
        kind: Kind::List,
        default: None,
        help: "The host names celadon answers to (comma-separated names or IP addresses;                .example.com allows every name under it; * allows any); a request for another                Host (with --xheaders, X-Forwarded-Host) gets a 400, so DNS rebinding reaches                nothing. Unset: localhost, the machine's host name and any IP address",
        support: Support::Applied,
        sample: "celadon.example.com,.corp.example",
    },
    // Alerts (issue 21).
    Opt {
        name: "alerts",
        env: &["CELADON_ALERTS"],
        kind: Kind::Text,
        default: None,
        help: "A file of alert rules and webhooks ([[rule]] and [[webhook]] tables in TOML, or \
               rule: and webhook: lists in .yaml/.yml), checked at start: an unknown key, a bad \
               duration or a missing field stops startup with the file, line and column. Rules \
               and webhooks may also be added on the Alerts page (kept in the history store)",
        support: Support::Applied,
        sample: "celadon-test-alerts.toml",
    },
    Opt {
        name: "external_url",
        env: &["CELADON_EXTERNAL_URL"],
        kind: Kind::Text,
        default: None,
        help: "The URL people reach celadon at, --url-prefix included (behind a proxy, the \
               proxy's), for the links in alert notifications. Unset: http://<hostname>:<port> \
               and the prefix",
        support: Support::Applied,
        sample: "https://celadon.example.com/flower",
    },
    Opt {
        name: "db",
        env: &["FLOWER_DB"],
        kind: Kind::Text,
        default: Some("celadon.db"),
        help: "Where history is kept: an SQLite file (created if missing; a file that is not \
               celadon's history is left untouched and history is then unavailable), or a \
               PostgreSQL database, postgresql://user[:password]@host[:port]/dbname (a unix \
               socket: ?host=/socket/dir; no TLS: sslmode=require is refused), which several \
               replicas may share: one writes, all read, another takes over if it stops",
        support: Support::Applied,
        sample: "/var/lib/celadon/history.db",
    },
    Opt {
        name: "persistent",
        env: &["FLOWER_PERSISTENT"],
        kind: Kind::Bool,
        default: Some("true"),
        help: "Keep history across restarts, in --db (unlike Flower, on by default; \
               --persistent=false keeps only what is in memory)",
        support: Support::Applied,
        sample: "false",
    },
    Opt {
        name: "state_save_interval",
        env: &["FLOWER_STATE_SAVE_INTERVAL"],
        kind: Kind::Int,
        default: Some("1000"),
        help: "The longest time between writes of history, in milliseconds (a kill -9 loses at \
               most this much); 0, Flower's \"only at shutdown\", means the default",
        support: Support::Applied,
        sample: "5000",
    },
    Opt {
        name: "history_retention",
        env: &["CELADON_HISTORY_RETENTION"],
        kind: Kind::Text,
        default: None,
        help: "Prune tasks received longer ago than this (e.g. 30d, 12h, 90m), a little at a time",
        support: Support::Applied,
        sample: "30d",
    },
    Opt {
        name: "history_max_size",
        env: &["CELADON_HISTORY_MAX_SIZE"],
        kind: Kind::Text,
        default: None,
        help: "Prune the oldest tasks while history takes more than this on disk (e.g. 10GB); \
               with --history-retention, whichever binds first",
        support: Support::Applied,
        sample: "10GB",
    },
    Opt {
        name: "natural_time",
        env: &["FLOWER_NATURAL_TIME"],
        kind: Kind::Bool,
        default: Some("false"),
        help: "Pages open with times as \"3 min ago\" (the button in the bar switches, and the browser remembers)",
        support: Support::Applied,
        sample: "true",
    },
    Opt {
        name: "auto_refresh",
        env: &["FLOWER_AUTO_REFRESH"],
        kind: Kind::Bool,
        default: Some("true"),
        help: "Refresh the Workers page",
        support: Support::NoEffect("every page is live"),
        sample: "false",
    },
    Opt {
        name: "broker_api",
        env: &["FLOWER_BROKER_API"],
        kind: Kind::Text,
        default: None,
        help: "RabbitMQ's management API",
        support: Support::NoEffect("celadon reads queue lengths from Redis itself"),
        sample: "http://guest:guest@localhost:15672/api/",
    },
    Opt {
        name: "format_task",
        env: &["FLOWER_FORMAT_TASK"],
        kind: Kind::Text,
        default: None,
        help: "A Python function that formats tasks",
        support: Support::NoEffect("celadon runs no Python code"),
        sample: "format_task",
    },
    Opt {
        name: "log_to_stderr",
        env: &["FLOWER_LOG_TO_STDERR"],
        kind: Kind::Bool,
        default: None,
        help: "Log to stderr too (by default, only when there is no log file; false with no file: no log at all, as in Flower)",
        support: Support::Applied,
        sample: "false",
    },
    Opt {
        name: "log_file_prefix",
        env: &["FLOWER_LOG_FILE_PREFIX"],
        kind: Kind::Text,
        default: None,
        help: "Log to this file (without colours), rotated as the next options say",
        support: Support::Applied,
        sample: "/var/log/celadon",
    },
    Opt {
        name: "log_file_max_size",
        env: &["FLOWER_LOG_FILE_MAX_SIZE"],
        kind: Kind::Int,
        default: Some("100000000"),
        help: "With --log-rotate-mode=size: bytes at which the log file is rotated (to prefix.1 … prefix.N)",
        support: Support::Applied,
        sample: "1000",
    },
    Opt {
        name: "log_file_num_backups",
        env: &["FLOWER_LOG_FILE_NUM_BACKUPS"],
        kind: Kind::Int,
        default: Some("10"),
        help: "Rotated log files kept (0: never rotate)",
        support: Support::Applied,
        sample: "3",
    },
    Opt {
        name: "log_rotate_mode",
        env: &["FLOWER_LOG_ROTATE_MODE"],
        kind: Kind::Text,
        default: Some("size"),
        help: "Rotate the log file by size or by time",
        support: Support::Applied,
        sample: "time",
    },
    Opt {
        name: "log_rotate_when",
        env: &["FLOWER_LOG_ROTATE_WHEN"],
        kind: Kind::Text,
        default: Some("midnight"),
        help: "With --log-rotate-mode=time: S, M, H, D, midnight or W0 (Monday) … W6, in UTC",
        support: Support::Applied,
        sample: "H",
    },
    Opt {
        name: "log_rotate_interval",
        env: &["FLOWER_LOG_ROTATE_INTERVAL"],
        kind: Kind::Int,
        default: Some("1"),
        help: "Units of --log-rotate-when between rotations",
        support: Support::Applied,
        sample: "6",
    },
];

/// Environment variables Flower reads that are not options: all about
/// sign-on or access.
pub const ENV_ONLY: &[(&str, Support)] = &[
    ("FLOWER_GITHUB_OAUTH_DOMAIN", Support::Applied),
    ("FLOWER_GITLAB_OAUTH_DOMAIN", Support::Applied),
    ("FLOWER_GITLAB_AUTH_ALLOWED_GROUPS", Support::Applied),
    ("FLOWER_GITLAB_MIN_ACCESS_LEVEL", Support::Applied),
    ("FLOWER_OAUTH2_OKTA_BASE_URL", Support::Applied),
    ("FLOWER_UNAUTHENTICATED_API", Support::Applied),
];

/// The option named `name` (underscores or hyphens).
pub fn find(name: &str) -> Option<&'static Opt> {
    let name = name.replace('-', "_");
    OPTIONS.iter().find(|o| o.name == name)
}
