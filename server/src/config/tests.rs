//! Every option, set every way it can be: each either takes effect, or is
//! named in a warning, or stops startup, and none is silently ignored.

use std::collections::BTreeMap;

use super::*;

/// A directory to run in, with `files` in it.
fn cwd_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("a file written");
    }
    dir
}

/// The sample configuration file an option's `conf` sample names.
const SAMPLE_CONF: (&str, &str) = ("celadon-test-flowerconfig.py", "max_tasks = 7\n");

/// The alert rules `--alerts`' sample names.
const SAMPLE_ALERTS: (&str, &str) = (
    "celadon-test-alerts.toml",
    "[[rule]]\nname = \"down\"\nkind = \"worker_offline\"\nafter = \"1m\"\n",
);

fn run(argv: &[String], env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = cwd_with(&[SAMPLE_CONF, SAMPLE_ALERTS]);
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match load(argv, &env, dir.path())? {
        Startup::Run(settings) => Ok(*settings),
        other => panic!("not a run: {other:?}"),
    }
}

fn flags(argv: &[&str]) -> Result<Settings, ConfigError> {
    run(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &[])
}

/// One option set to its sample value, as a flag and as its first
/// variable: it changes the settings, or is warned about, or is refused,
/// the same way both times, and never silently.
#[test]
fn every_option_set_either_takes_effect_is_warned_about_or_is_refused() {
    let default = flags(&[]).expect("the defaults load");
    assert!(default.warnings.is_empty(), "{:?}", default.warnings);
    for opt in OPTIONS {
        let flag = format!("--{}={}", opt.name, opt.sample);
        let env = opt.env[0];
        for (how, got) in [
            ("flag", flags(&[&flag])),
            (env, run(&[], &[(env, opt.sample)])),
        ] {
            let name = opt.name.replace('_', "-");
            match (opt.support, got) {
                (Support::Applied, Ok(s)) => {
                    assert!(s.warnings.is_empty(), "{name} by {how}: {:?}", s.warnings);
                    assert_ne!(
                        Settings {
                            warnings: Vec::new(),
                            ..s
                        },
                        default,
                        "{name} by {how} changed nothing"
                    );
                }
                (Support::NoEffect(_) | Support::NotYet(_), Ok(s)) => {
                    assert_eq!(s.warnings.len(), 1, "{name} by {how}: {:?}", s.warnings);
                    assert!(s.warnings[0].contains(&name), "{name}: {:?}", s.warnings);
                }
                // HTTPS's files count only together (see below).
                (Support::Applied, Err(ConfigError::Incomplete(why))) => {
                    assert!(why.contains(&name), "{name} by {how}: {why}");
                }
                (Support::Refused(_), Err(ConfigError::Refused { what, .. })) => {
                    assert!(what.contains(&name), "{name} by {how}: {what}");
                }
                (support, got) => panic!("{name} by {how} ({support:?}): {got:?}"),
            }
        }
    }
}

/// Flower serves plain HTTP when given a certificate without its key;
/// celadon does not start.
#[test]
fn https_takes_a_certificate_and_its_key_together() {
    let s = flags(&["--certfile=c.pem", "--keyfile=k.pem"]).unwrap();
    assert_eq!(
        s.listen.https,
        Some(Https {
            certfile: "c.pem".into(),
            keyfile: "k.pem".into(),
            ca_certs: None,
        })
    );
    let s = run(
        &[],
        &[
            ("FLOWER_CERTFILE", "c.pem"),
            ("FLOWER_KEYFILE", "k.pem"),
            ("FLOWER_CA_CERTS", "ca.pem"),
        ],
    )
    .unwrap();
    assert_eq!(s.listen.https.unwrap().ca_certs, Some("ca.pem".into()));
    for alone in [
        &["--certfile=c.pem"][..],
        &["--keyfile=k.pem"],
        &["--ca-certs=ca.pem"],
        &["--certfile=c.pem", "--ca-certs=ca.pem"],
    ] {
        let e = flags(alone).unwrap_err().to_string();
        assert!(
            e.contains("celadon will not") || e.contains("need HTTPS"),
            "{alone:?}: {e}"
        );
    }
    assert_eq!(
        flags(&["--certfile=", "--keyfile="]).unwrap().listen.https,
        None,
        "Flower's empty value is no value"
    );
}

#[test]
fn flowers_spellings_are_read_as_flower_reads_them() {
    let s = flags(&[
        "--max_tasks=500",
        "--enable_events=False",
        "--purge_offline_workers",
        "60",
        "--max-workers",
        "7",
        "--logging=warning",
        "--task_runtime_metric_buckets=1,10,inf",
    ])
    .unwrap();
    assert_eq!(s.config.model.limits.max_tasks, 500);
    assert!(!s.config.enable_events);
    assert_eq!(s.config.purge_offline_workers, Some(60.0));
    assert_eq!(s.config.model.max_workers, 7);
    assert_eq!(s.log_filter, "warn");
    assert_eq!(s.config.model.runtime_buckets, [1.0, 10.0]);
    let d = flags(&[]).unwrap();
    assert!(d.config.enable_events);
    assert_eq!(d.config.model.limits.max_tasks, 100_000);
    assert_eq!(d.config.inspect_timeout, Duration::from_millis(1000));
    assert_eq!(
        d.config.tasks_columns,
        ["name", "uuid", "state", "received", "runtime", "worker"]
    );
    assert!(flags(&["--enable-events"]).unwrap().config.enable_events);
    assert_eq!(flags(&["--debug"]).unwrap().log_filter, "debug");
    assert_eq!(
        flags(&["--debug", "--logging=error"]).unwrap().log_filter,
        "error"
    );
}

#[test]
fn the_url_prefix_is_read_as_flower_reads_it() {
    for given in ["flower", "/flower", "/flower/"] {
        let s = flags(&[&format!("--url_prefix={given}")]).unwrap();
        assert_eq!(s.config.url_prefix.as_str(), "/flower", "{given}");
    }
    let s = run(&[], &[("FLOWER_URL_PREFIX", "ops/flower/")]).unwrap();
    assert_eq!(s.config.url_prefix.as_str(), "/ops/flower");
    assert_eq!(flags(&[]).unwrap().config.url_prefix.as_str(), "");
    let e = flags(&["--url-prefix={all}"]).unwrap_err().to_string();
    assert!(
        e.contains("url_prefix") && e.contains("may not be in a URL prefix"),
        "{e}"
    );
}

#[test]
fn allowed_hosts_are_a_list_from_the_flag_or_the_variable_and_unset_by_default() {
    assert_eq!(flags(&[]).unwrap().config.allowed_hosts, None);
    let s = flags(&["--allowed-hosts=celadon.example.com, .corp.example"]).unwrap();
    assert_eq!(
        s.config.allowed_hosts,
        Some(vec!["celadon.example.com".into(), ".corp.example".into()])
    );
    let s = run(&[], &[("CELADON_ALLOWED_HOSTS", "*")]).unwrap();
    assert_eq!(s.config.allowed_hosts, Some(vec!["*".into()]));
    let e = flags(&["--allowed-hosts=,"]).unwrap_err().to_string();
    assert!(
        e.contains("allowed_hosts") && e.contains("at least one host"),
        "{e}"
    );
}

#[test]
fn bad_values_are_refused_saying_where_they_came_from() {
    let refused = |argv: &[&str], env: &[(&str, &str)]| {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        run(&argv, env).unwrap_err().to_string()
    };
    let e = refused(&["--tasks-columns=name,colour"], &[]);
    assert!(e.contains("\"colour\" is not a column"), "{e}");
    let e = refused(&[], &[("FLOWER_MAX_TASKS", "lots")]);
    assert!(e.starts_with("FLOWER_MAX_TASKS sets max_tasks"), "{e}");
    let e = refused(&["--broker-transport-options={oops"], &[]);
    assert!(e.contains("transport options"), "{e}");
    let e = refused(&["--port=70000"], &[]);
    assert!(e.contains("70000 is not a port"), "{e}");
    let e = refused(&["--task-runtime-metric-buckets=2,1"], &[]);
    assert!(e.contains("increase"), "{e}");
    let github = "--auth-provider=flower.views.auth.GithubLoginHandler";
    let e = refused(&[github, "--oauth2-key=id"], &[]);
    assert!(e.contains("needs --auth"), "{e}");
    let e = refused(&[github, "--auth=.*@example.com"], &[]);
    assert!(e.contains("--oauth2-key"), "{e}");
    let gitlab = "--auth-provider=flower.views.auth.GitLabLoginHandler";
    let e = refused(
        &[gitlab, "--auth=.*@example.com", "--oauth2-key=id"],
        &[("FLOWER_GITLAB_MIN_ACCESS_LEVEL", "owner")],
    );
    assert!(e.contains("FLOWER_GITLAB_MIN_ACCESS_LEVEL"), "{e}");
}

#[test]
fn transport_options_without_effect_are_one_warning_naming_each() {
    let s = flags(&[
        r#"--broker-transport-options={"polling_interval": 1, "max_connections": 20, "colour": 1}"#,
        r#"--result-backend-transport-options={"retry_policy": {}}"#,
    ])
    .unwrap();
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    let broker = &s.warnings[0];
    assert!(
        broker.starts_with("--broker-transport-options: no effect here:"),
        "{broker}"
    );
    for key in ["polling_interval", "max_connections", "colour"] {
        assert!(broker.contains(key), "{key}: {broker}");
    }
    assert!(s.warnings[1].contains("retry_policy"), "{:?}", s.warnings);
}

#[test]
fn database_result_backends_are_read_and_a_bad_one_stops_celadon_by_name() {
    let s = flags(&["--result-backend=db+postgresql+psycopg2://u:pw@db/results"]).unwrap();
    let Some(crate::broker::backend::BackendUrl::Sql(url)) = &s.config.result_backend else {
        panic!("{:?}", s.config.result_backend)
    };
    assert_eq!(url.store, crate::broker::backend::sql::Store::Celery);
    assert!(
        !format!("{:?}", s.config).contains("pw"),
        "no password shown"
    );
    for (value, says) in [
        ("django-db", "django-db names no database"),
        ("db+mysql://u@h/r", "the mysql dialect is not read"),
        ("db+postgresql://h/r?sslmode=require", "TLS"),
        ("rpc://", "db+postgresql://"),
    ] {
        let e = flags(&[&format!("--result-backend={value}")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("result_backend") || e.contains("--result-backend"),
            "{e}"
        );
        assert!(e.contains(says), "{value}: {e}");
    }
}

#[test]
fn sentinel_urls_need_a_master_name_and_tls_settings_are_read() {
    let e = flags(&["--broker=sentinel://h1;sentinel://h2/0"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("needs master_name in --broker-transport-options"),
        "{e}"
    );
    let e = flags(&[
        "--result-backend=sentinel://h1/1",
        r#"--broker-transport-options={"master_name": "m"}"#,
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("--result-backend-transport-options"), "{e}");
    let s = flags(&[
        "--broker=sentinel://h1;sentinel://h2/0",
        r#"--broker-transport-options={"master_name": "m"}"#,
        r#"--broker-use-ssl={"ssl_cert_reqs": "CERT_REQUIRED", "ssl_ca_certs": "/ca.pem"}"#,
        r#"--redis-backend-use-ssl={"ssl_cert_reqs": 0}"#,
    ])
    .unwrap();
    let ssl = s.config.broker_use_ssl.unwrap();
    assert_eq!(ssl.ca_certs.as_deref(), Some(Path::new("/ca.pem")));
    assert!(!s.config.backend_use_ssl.unwrap().verifies());
    let e = flags(&[r#"--broker-use-ssl={"ssl_cert_reqs": "sometimes"}"#])
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl_cert_reqs=\"sometimes\""), "{e}");
}

#[test]
fn flags_override_the_file_which_overrides_the_environment() {
    let dir = cwd_with(&[("flowerconfig.py", "max_tasks = 20\nmax_workers = 21\n")]);
    let env: BTreeMap<String, String> = [
        ("FLOWER_MAX_TASKS", "10"),
        ("FLOWER_MAX_WORKERS", "11"),
        ("FLOWER_PORT", "5600"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let Ok(Startup::Run(s)) = load(&["--max-tasks=30".into()], &env, dir.path()) else {
        panic!("loads");
    };
    assert_eq!(s.config.model.limits.max_tasks, 30, "the flag wins");
    assert_eq!(
        s.config.model.max_workers, 21,
        "the file beats the environment"
    );
    assert_eq!(
        s.listen.port, 5600,
        "the environment, when nothing else sets it"
    );
}

#[test]
fn a_named_configuration_file_must_exist_and_the_default_need_not() {
    assert!(flags(&[]).is_ok());
    let e = flags(&["--conf=missing.py"]).unwrap_err().to_string();
    assert!(e.contains("missing.py"), "{e}");
}

#[test]
fn unknown_options_and_variables_are_warned_about() {
    let s = run(
        &["--colour=blue".into()],
        &[
            ("FLOWER_COLOUR", "blue"),
            ("FLOWER_UNAUTHENTICATED_API", "true"),
        ],
    )
    .unwrap();
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(
        s.config.unauthenticated_api,
        "a variable Flower reads is read"
    );
}

#[test]
fn flowers_unauthenticated_api_variable_takes_its_booleans() {
    for (value, open) in [("true", true), ("1", true), ("no", false), ("", false)] {
        let s = run(&[], &[("FLOWER_UNAUTHENTICATED_API", value)]).unwrap();
        assert_eq!(s.config.unauthenticated_api, open, "{value:?}");
    }
    assert!(run(&[], &[("FLOWER_UNAUTHENTICATED_API", "maybe")]).is_err());
}

/// The README's table is this one, so it cannot drift from the parser.
#[test]
fn the_readme_lists_every_option_as_the_parser_reads_them() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let table = markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's options table differs from the parser's; it should read:\n\n{table}"
    );
}

#[test]
fn help_lists_every_option() {
    let help = help();
    for opt in OPTIONS {
        assert!(help.contains(&flag(opt)), "{}", opt.name);
    }
}

/// `CELADON_CELERY_CONF` as `celery celadon` writes it, with `settings`.
fn celery_conf(settings: &str) -> (&'static str, String) {
    ("CELADON_CELERY_CONF", settings.to_string())
}

fn with_conf(settings: &str, argv: &[&str], env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let (var, conf) = celery_conf(settings);
    let mut env = env.to_vec();
    env.push((var, &conf));
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    run(&argv, &env)
}

/// Each setting of the app does what the flag does with the same value.
#[test]
fn the_celery_apps_settings_act_as_the_flags_with_their_values() {
    for (settings, argv) in [
        (
            r#"{"broker_url": "redis://:s3cret@h:6380/2"}"#,
            &["--broker=redis://:s3cret@h:6380/2"][..],
        ),
        (
            r#"{"broker_url": "redis+socket:///run/r.sock?virtual_host=3", "broker_read_url": "redis+socket:///run/r.sock?virtual_host=3", "broker_write_url": "redis+socket:///run/r.sock?virtual_host=3"}"#,
            &["--broker=redis+socket:///run/r.sock?virtual_host=3"],
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "redis://h/1", "broker_transport_options": {"global_keyprefix": "shop:", "socket_timeout": 5.0}}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=redis://h/1",
                r#"--broker-transport-options={"global_keyprefix":"shop:","socket_timeout":5.0}"#,
            ],
        ),
        // Celery's database backend, and django-db with the Django
        // project's database handed over beside it.
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "db+postgresql://u:pw@db:5432/results"}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=db+postgresql://u:pw@db:5432/results",
            ],
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "db+sqlite:///results.db"}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=db+sqlite:///results.db",
            ],
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "django-db", "django_database_url": "postgresql://shop:pw@db/shop"}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=django-db+postgresql://shop:pw@db/shop",
            ],
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "django-db", "django_database_url": "sqlite:////srv/shop/db.sqlite3"}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=django-db+sqlite:////srv/shop/db.sqlite3",
            ],
        ),
        // A list of URLs is kombu's failover list.
        (
            r#"{"broker_url": ["redis://:s3cret@h1/2", "redis://:s3cret@h2/2"]}"#,
            &["--broker=redis://:s3cret@h1/2;redis://:s3cret@h2/2"],
        ),
        (
            r#"{"broker_url": "sentinel://s1:26379;sentinel://s2:26379", "broker_transport_options": {"master_name": "shop"}, "broker_use_ssl": {"ssl_cert_reqs": "required", "ssl_ca_certs": "/etc/shop/ca.pem"}}"#,
            &[
                "--broker=sentinel://s1:26379;sentinel://s2:26379",
                r#"--broker-transport-options={"master_name":"shop"}"#,
                r#"--broker-use-ssl={"ssl_cert_reqs":"required","ssl_ca_certs":"/etc/shop/ca.pem"}"#,
            ],
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "rediss://h:6380/1", "result_backend_transport_options": {"global_keyprefix": "results:"}, "redis_backend_use_ssl": {"ssl_cert_reqs": "none"}}"#,
            &[
                "--broker=redis://h/0",
                "--result-backend=rediss://h:6380/1",
                r#"--result-backend-transport-options={"global_keyprefix":"results:"}"#,
                r#"--redis-backend-use-ssl={"ssl_cert_reqs":"none"}"#,
            ],
        ),
        // Python's false is "not set", as Celery reads it (`if ssl:`).
        (
            r#"{"broker_url": "redis://h/0", "result_backend": null, "broker_transport_options": {}, "broker_use_ssl": false, "redis_backend_use_ssl": {}, "event_exchange": "celeryev", "control_exchange": "celery", "timezone": "Europe/Paris", "app_main": "shop"}"#,
            &["--broker=redis://h/0"],
        ),
    ] {
        let from_app = with_conf(settings, &[], &[]).unwrap();
        assert!(
            from_app.warnings.is_empty(),
            "{settings}: {:?}",
            from_app.warnings
        );
        assert_eq!(from_app, flags(argv).unwrap(), "{settings}");
    }
}

/// Flower starts from the app's configuration; the environment, the file
/// and flags each override it.
#[test]
fn the_environment_the_file_and_flags_override_the_celery_app() {
    let app = r#"{"broker_url": "redis://app/0"}"#;
    let file = ("flowerconfig.py", "broker = 'redis://file/0'\n");
    for (env, files, argv, wins) in [
        (&[][..], &[][..], &[][..], "app"),
        (
            &[("CELERY_BROKER_URL", "redis://env/0")][..],
            &[][..],
            &[][..],
            "env",
        ),
        (
            &[("CELERY_BROKER_URL", "redis://env/0")],
            &[file][..],
            &[][..],
            "file",
        ),
        (
            &[("CELERY_BROKER_URL", "redis://env/0")],
            &[file],
            &["--broker=redis://flag/0"][..],
            "flag",
        ),
    ] {
        let dir = cwd_with(files);
        let (var, conf) = celery_conf(app);
        let env: BTreeMap<String, String> = env
            .iter()
            .chain([(var, conf.as_str())].iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let Ok(Startup::Run(s)) = load(&argv, &env, dir.path()) else {
            panic!("{wins}: does not load");
        };
        assert_eq!(
            s.config.broker,
            BrokerUrl::parse(&format!("redis://{wins}/0")).unwrap(),
            "{wins} should win"
        );
    }
}

/// What celadon cannot follow, or does not read, is said at start, naming
/// the variable and the setting and never the value.
#[test]
fn what_celadon_cannot_follow_in_the_celery_app_is_warned_about_by_name() {
    for (settings, argv, warning) in [
        (
            r#"{"broker_url": null}"#,
            &[][..],
            "the Celery app names no broker (CELADON_CELERY_CONF): Celery would use \
             amqp://localhost, which celadon cannot watch; celadon uses its default, \
             redis://localhost:6379/0",
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "django-db"}"#,
            &[],
            "the Celery app's result_backend (CELADON_CELERY_CONF) is django-db, and no \
             Django database was handed over (celery celadon hands it over when it runs in \
             the Django project): celadon runs without one (no retries from stored \
             arguments, no reconciliation); give --result-backend to read one",
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": "db+mysql://u@h/r"}"#,
            &[],
            "the Celery app's result_backend (CELADON_CELERY_CONF) is not a result backend \
             celadon reads (Redis; Celery's database backend or django-db on PostgreSQL or \
             SQLite): celadon runs without one (no retries from stored arguments, no \
             reconciliation); give --result-backend to read one",
        ),
        (
            r#"{"broker_url": "redis://:s3cret@h/0", "broker_read_url": "redis://:s3cret@replica/0"}"#,
            &[],
            "the Celery app's broker_read_url (CELADON_CELERY_CONF) differs from its \
             broker_url: celadon reads events and sends commands through broker_url only",
        ),
        (
            r#"{"broker_url": "redis://h/0", "broker_transport_options": {"polling_interval": 1}}"#,
            &[],
            "the Celery app's broker_transport_options (CELADON_CELERY_CONF): no effect \
             here: polling_interval (celadon consumes no messages)",
        ),
        (
            r#"{"broker_url": "redis://h/0", "broker_use_ssl": true}"#,
            &[],
            "the Celery app's broker_use_ssl (CELADON_CELERY_CONF) is a boolean, not a dict \
             of ssl_* settings: kombu's Redis transport then connects without TLS, and so \
             does celadon (use a rediss:// URL, or a dict)",
        ),
        (
            r#"{"broker_url": "redis://h/0", "control_exchange": "ctl"}"#,
            &[],
            "the Celery app's control_exchange (CELADON_CELERY_CONF) is not Celery's default \
             (celery), and celadon sends remote-control commands on Celery's default \
             exchange, celery, only: this app's workers will not hear them, so inspections \
             and controls get no answer (events are still read)",
        ),
    ] {
        let s = with_conf(settings, argv, &[]).unwrap();
        assert_eq!(s.warnings, [warning], "{settings}");
    }
    let named = with_conf(r#"{"broker_url": null}"#, &["--broker=redis://h/0"], &[]).unwrap();
    assert!(
        named.warnings.is_empty(),
        "a broker named elsewhere: {:?}",
        named.warnings
    );
    let s = with_conf(
        r#"{"broker_url": "redis://h/0", "result_backend": "rpc://"}"#,
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(s.config.result_backend, None);
}

/// A setting celadon cannot use stops it, with a message naming the
/// variable and the setting; a password in it is never shown.
#[test]
fn a_celery_setting_celadon_cannot_use_is_refused_without_its_value() {
    let forms = crate::broker::url::ACCEPTED_FORMS;
    for (settings, error) in [
        (
            "{broker_url: 1}",
            "CELADON_CELERY_CONF is not JSON (key must be a string at line 1 column 2); it \
             is written by `celery celadon`",
        ),
        (
            r#"["redis://h/0"]"#,
            "CELADON_CELERY_CONF is not a JSON object of Celery settings; it is written by \
             `celery celadon`",
        ),
        (
            r#"{"broker_url": 5}"#,
            "the Celery app's broker_url (CELADON_CELERY_CONF) is not a URL or a list of URLs",
        ),
        (
            r#"{"broker_url": ["redis://:s3cret@h/0", 5]}"#,
            "the Celery app's broker_url (CELADON_CELERY_CONF) is a list holding something \
             other than URLs",
        ),
        (
            r#"{"broker_url": "redis://h/0", "broker_transport_options": "s3cret"}"#,
            "the Celery app's broker_transport_options (CELADON_CELERY_CONF) is not a dict",
        ),
        (
            r#"{"broker_url": "redis://h/0", "result_backend": ["redis://h/1"]}"#,
            "the Celery app's result_backend (CELADON_CELERY_CONF) is not a URL",
        ),
        (
            r#"{"broker_url": "redis://h/0", "event_exchange": "shop-events"}"#,
            "the Celery app's event_exchange (CELADON_CELERY_CONF) is not Celery's default \
             (celeryev), and celadon listens for events on Celery's default exchange, \
             celeryev, only: it would see no event from this app's workers; celadon cannot \
             follow it yet",
        ),
        (
            r#"{"broker_url": "redis://h/0", "redis_backend_use_ssl": true}"#,
            "the Celery app's redis_backend_use_ssl (CELADON_CELERY_CONF) is a boolean, not a \
             dict of ssl_* settings (Celery's Redis backend fails on one too)",
        ),
        (
            r#"{"broker_url": "redis://h/0", "broker_use_ssl": "yes"}"#,
            "the Celery app's broker_use_ssl (CELADON_CELERY_CONF) is not a dict",
        ),
    ]
    .into_iter()
    .map(|(settings, error)| (settings, error.to_string()))
    .chain([
        (
            r#"{"broker_url": "amqp://guest:s3cret@h//"}"#,
            format!(
                "the Celery app's broker_url (CELADON_CELERY_CONF) sets broker: the amqp:// \
                 broker is not supported; use {forms}"
            ),
        ),
        (
            r#"{"broker_url": "redis://:s3cret@h/zero"}"#,
            format!(
                "the Celery app's broker_url (CELADON_CELERY_CONF) sets broker: \"…\" is not \
                 a broker URL (\"zero\" is not a db number); use {forms}"
            ),
        ),
        (
            r#"{"broker_url": ["redis://:s3cret@h/0", "sentinel://:s3cret@s/0"]}"#,
            "the Celery app's broker_url (CELADON_CELERY_CONF) sets broker: the failover \
             list \"…\" mixes sentinel:// with other URLs"
                .to_string(),
        ),
        (
            r#"{"broker_url": "redis://h/0", "broker_use_ssl": {"ssl_cert_reqs": "s3cret"}}"#,
            "the Celery app's broker_use_ssl (CELADON_CELERY_CONF) sets broker_use_ssl: \
             ssl_cert_reqs=\"…\" is not one of required, optional, none (or CERT_REQUIRED, \
             CERT_OPTIONAL, CERT_NONE)"
                .to_string(),
        ),
    ]) {
        let got = with_conf(settings, &[], &[]).unwrap_err().to_string();
        assert_eq!(got, error, "{settings}");
    }
    // The options' own parsers quote what they reject; not from the app.
    let got = with_conf(
        r#"{"broker_url": "redis://h/0", "broker_transport_options": {"sentinel_kwargs": {"password": "s3cret"}, "priority_steps": "s3cret-too"}}"#,
        &[],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        got.starts_with(
            "the Celery app's broker_transport_options (CELADON_CELERY_CONF) sets \
             broker_transport_options: "
        ),
        "{got}"
    );
    assert!(!got.contains("s3cret"), "{got}");
}

/// What `celery celadon` hands over for the wheel test's
/// `shop.settings_probe` (server/tests/package/main.rs checks the Python
/// side writes exactly this) is read whole.
#[test]
fn the_settings_a_django_project_hands_over_are_read_whole() {
    let handed_over = r#"{"broker_url":["redis://:s3cret@127.0.0.1:6390/2","redis://:s3cret@127.0.0.1:6391/2"],"broker_read_url":["redis://:s3cret@127.0.0.1:6390/2","redis://:s3cret@127.0.0.1:6391/2"],"broker_write_url":["redis://:s3cret@127.0.0.1:6390/2","redis://:s3cret@127.0.0.1:6391/2"],"broker_transport_options":{"master_name":"shop","visibility_timeout":3600.0,"priority_steps":[0,5,9]},"broker_use_ssl":{"ssl_cert_reqs":"required","ssl_ca_certs":"/etc/shop/ca.pem"},"result_backend":"redis://cli:6379/7","result_backend_transport_options":{"global_keyprefix":"results:"},"redis_backend_use_ssl":{"ssl_cert_reqs":"optional"},"event_exchange":"celeryev","control_exchange":"celery"}"#;
    let s = with_conf(handed_over, &[], &[]).unwrap();
    // Every transport option it sets is applied (visibility_timeout says
    // when the queue browser's held messages are redelivered).
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.config.transport.visibility_timeout, 3600.0);
    let flags = flags(&[
        "--broker=redis://:s3cret@127.0.0.1:6390/2;redis://:s3cret@127.0.0.1:6391/2",
        r#"--broker-transport-options={"master_name":"shop","visibility_timeout":3600.0,"priority_steps":[0,5,9]}"#,
        r#"--broker-use-ssl={"ssl_cert_reqs":"required","ssl_ca_certs":"/etc/shop/ca.pem"}"#,
        "--result-backend=redis://cli:6379/7",
        r#"--result-backend-transport-options={"global_keyprefix":"results:"}"#,
        r#"--redis-backend-use-ssl={"ssl_cert_reqs":"optional"}"#,
    ])
    .unwrap();
    assert_eq!(s.config, flags.config);
}

/// Tornado's rule for Flower: stderr unless there is a log file, or as
/// --log-to-stderr says.
#[test]
fn the_log_goes_where_tornado_sends_flowers() {
    let default = flags(&[]).unwrap().log;
    assert!(default.stderr() && default.file_options().is_none());
    let file = flags(&["--log-file-prefix=celadon.log"]).unwrap().log;
    assert!(!file.stderr());
    assert_eq!(
        file.file_options(),
        Some(crate::logfile::LogFileOptions {
            path: "celadon.log".into(),
            rotation: crate::logfile::Rotation::Size {
                max_bytes: 100_000_000
            },
            backups: 10,
        })
    );
    let both = flags(&["--log-file-prefix=c.log", "--log-to-stderr"]).unwrap();
    assert!(both.log.stderr());
    assert!(!flags(&["--log-to-stderr=false"]).unwrap().log.stderr());
    let timed = flags(&[
        "--log-file-prefix=c.log",
        "--log-rotate-mode=time",
        "--log-rotate-when=W6",
        "--log-rotate-interval=2",
        "--log-file-num-backups=4",
    ])
    .unwrap();
    assert_eq!(
        timed.log.file_options().unwrap().rotation,
        crate::logfile::Rotation::Time {
            when: crate::logfile::When::Weekday(6),
            interval: 2
        }
    );
    for bad in [
        "--log-rotate-mode=daily",
        "--log-rotate-when=fortnight",
        "--log-rotate-interval=0",
        "--log-file-max-size=-1",
    ] {
        let e = flags(&[bad]).unwrap_err().to_string();
        let name = bad.trim_start_matches("--").split('=').next().unwrap();
        assert!(e.contains(&name.replace('-', "_")), "{bad}: {e}");
    }
}

#[test]
fn db_takes_an_sqlite_path_or_a_postgresql_url_whose_password_never_shows() {
    let location = |argv: &[&str]| flags(argv).unwrap().config.history.unwrap().location;
    assert_eq!(
        location(&["--db=/var/lib/celadon/h.db"]),
        crate::store::Location::Sqlite("/var/lib/celadon/h.db".into())
    );
    let pg = location(&["--db=postgresql://app:hush@db:5433/history"]);
    assert!(matches!(pg, crate::store::Location::Postgres(_)), "{pg:?}");
    assert_eq!(pg.describe(), "postgresql://app:****@db:5433/history");
    assert!(!format!("{pg:?}").contains("hush"));
    let e = flags(&["--db=postgres://app:hush@db/history?sslmode=require"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("TLS") && !e.contains("hush"), "{e}");
    let e = flags(&["--db=postgresql://app:hush@db"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no database") && !e.contains("hush"), "{e}");
}

/// Flower's GitHub and GitLab sign-on, with Flower's variables.
#[test]
fn flowers_github_and_gitlab_sign_on_read_flowers_variables() {
    use crate::auth::oauth::Flavour;
    let args = |provider: &str| {
        [
            format!("--auth-provider=flower.views.auth.{provider}"),
            "--auth=.*@example.com".to_string(),
            "--oauth2-key=id".to_string(),
            "--oauth2-secret=secret".to_string(),
        ]
    };
    let env = [
        ("FLOWER_GITHUB_OAUTH_DOMAIN", "github.example.com"),
        ("FLOWER_GITLAB_OAUTH_DOMAIN", "gitlab.example.com"),
        ("FLOWER_GITLAB_AUTH_ALLOWED_GROUPS", "ops/celery, sre"),
        ("FLOWER_GITLAB_MIN_ACCESS_LEVEL", "30"),
    ];
    let github = run(&args("GithubLoginHandler"), &env).unwrap();
    let oauth = github.config.sign_on.oauth.expect("GitHub sign-on");
    assert_eq!(
        oauth.flavour,
        Flavour::GitHub {
            domain: "github.example.com".into()
        }
    );
    assert_eq!(oauth.client_secret.as_deref(), Some("secret"));
    assert!(github.config.sign_on.oidc.is_none());
    let gitlab = run(&args("GitLabLoginHandler"), &env).unwrap();
    assert_eq!(
        gitlab.config.sign_on.oauth.expect("GitLab sign-on").flavour,
        Flavour::GitLab {
            domain: "gitlab.example.com".into(),
            allowed_groups: vec!["ops/celery".into(), "sre".into()],
            min_access_level: 30,
        }
    );
    let defaults = run(&args("GitLabLoginHandler"), &[]).unwrap();
    assert_eq!(
        defaults
            .config
            .sign_on
            .oauth
            .expect("GitLab sign-on")
            .flavour,
        Flavour::GitLab {
            domain: "gitlab.com".into(),
            allowed_groups: Vec::new(),
            min_access_level: 20,
        }
    );
}

/// `--alerts`: a file with a mistake stops startup, naming the file, the
/// line and the column; a secret's variable is read from the environment.
#[test]
fn an_alerts_file_with_a_mistake_stops_startup_at_its_line() {
    let dir = cwd_with(&[
        (
            "bad.toml",
            "[[rule]]\nname = \"down\"\nkind = \"worker_offline\"\nafter = \"10 minutes\"\n",
        ),
        (
            "good.yaml",
            "webhook:\n  - name: ops\n    url: https://hooks.example.com/x\n    secret_env: OPS\n",
        ),
    ]);
    let argv = |a: &str| vec![format!("--alerts={a}")];
    let env: BTreeMap<String, String> = [("OPS".to_string(), "s3".to_string())].into();
    let err = load(&argv("bad.toml"), &BTreeMap::new(), dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:1: after: \"10 minutes\" is not a duration like 45s, 5m, 2h or 1d",
            dir.path().join("bad.toml").display()
        )
    );
    match load(&argv("good.yaml"), &env, dir.path()).unwrap() {
        Startup::Run(s) => {
            let alerts = s.config.alerts.expect("read");
            assert_eq!(alerts.webhooks[0].secret.as_deref(), Some("s3"));
        }
        other => panic!("{other:?}"),
    }
    let err = load(&argv("good.yaml"), &BTreeMap::new(), dir.path()).unwrap_err();
    assert!(err.to_string().contains(":4:"), "{err}");
}
