//! `celadon alerts export-prometheus [--alerts FILE]`: reads the rules of
//! an `--alerts` file (or `CELADON_ALERTS`), checked as at start, and
//! writes them as Prometheus alerting rules (`export`) on stdout; the
//! rules Prometheus cannot express are named on stderr. `main.rs` hands
//! it the arguments after `alerts`; nothing here is a server flag.

use std::path::PathBuf;

use super::{export::prometheus_rules, file};

/// Written, checked and nothing left out; or some rules left out; or
/// nothing written (bad arguments, a file refused).
pub const WRITTEN: u8 = 0;
pub const PARTIAL: u8 = 1;
pub const FAILED: u8 = 2;

const USAGE: &str = "usage: celadon alerts export-prometheus [--alerts FILE]\n\
\n\
Writes the alert rules of FILE (default: $CELADON_ALERTS) as Prometheus\n\
alerting rules over celadon's /metrics series, for Alertmanager.\n\
Exit status: 0 written, 1 written without the rules Prometheus cannot\n\
express (named on stderr), 2 nothing written.\n";

/// Runs `celadon alerts <args>` with the environment `env`; returns what
/// to print on stdout and on stderr, and the exit status.
pub fn run(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> (String, String, u8) {
    let fail = |why: String| {
        (
            String::new(),
            format!("celadon alerts: {why}\n{USAGE}"),
            FAILED,
        )
    };
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("export-prometheus") => {}
        None | Some("-h" | "--help") => return (USAGE.to_string(), String::new(), WRITTEN),
        Some(other) => return fail(format!("unknown command {other:?}")),
    }
    let mut path = env("CELADON_ALERTS").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alerts" => match args.next() {
                Some(p) => path = Some(PathBuf::from(p)),
                None => return fail("--alerts needs a file".into()),
            },
            a if a.starts_with("--alerts=") => {
                path = Some(PathBuf::from(&a["--alerts=".len()..]));
            }
            "-h" | "--help" => return (USAGE.to_string(), String::new(), WRITTEN),
            other => return fail(format!("unknown argument {other:?}")),
        }
    }
    let Some(path) = path else {
        return fail("no rules: give --alerts FILE".into());
    };
    let config = match file::load(&path, env) {
        Ok(c) => c,
        Err(e) => return (String::new(), format!("celadon alerts: {e}\n"), FAILED),
    };
    let (yaml, skipped) = prometheus_rules(&config.rules);
    if skipped.is_empty() {
        return (yaml, String::new(), WRITTEN);
    }
    let why = skipped
        .iter()
        .map(|n| {
            format!(
                "celadon alerts: rule {n:?} left out: no Prometheus series holds a task's start\n"
            )
        })
        .collect();
    (yaml, why, PARTIAL)
}
