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

fn run(argv: &[String], env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = cwd_with(&[SAMPLE_CONF]);
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
                (Support::Refused(_), Err(ConfigError::Refused { what, .. })) => {
                    assert!(what.contains(&name), "{name} by {how}: {what}");
                }
                (support, got) => panic!("{name} by {how} ({support:?}): {got:?}"),
            }
        }
    }
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
    let e = refused(&[], &[("FLOWER_GITHUB_OAUTH_DOMAIN", "example.com")]);
    assert!(e.contains("FLOWER_GITHUB_OAUTH_DOMAIN"), "{e}");
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
    assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
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
