//! The `celadon` binary's command line.

use std::process::Command;

/// Runs `celadon --broker=<url>`; returns whether it succeeded, and stderr.
fn with_broker(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_celadon"))
        .arg(format!("--broker={url}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr)
}

#[test]
fn a_nonsense_broker_url_exits_non_zero_naming_the_accepted_forms() {
    let (ok, stderr) = with_broker("nonsense");
    assert!(!ok);
    for form in [
        "redis://[[user]:password@]host[:port][/db]",
        "redis+socket:///path/to/redis.sock",
        "unix:///path/to/redis.sock",
    ] {
        assert!(stderr.contains(form), "names {form}: {stderr}");
    }
}

#[test]
fn an_unsupported_broker_scheme_is_refused_by_name() {
    let (ok, stderr) = with_broker("amqp://guest:guest@localhost:5672//");
    assert!(!ok);
    assert!(
        stderr.contains("amqp:// broker is not supported"),
        "{stderr}"
    );
}
