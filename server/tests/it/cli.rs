//! The `celadon` binary's command line.

use std::process::Command;

#[test]
fn a_nonsense_broker_url_exits_non_zero_naming_the_accepted_forms() {
    let out = Command::new(env!("CARGO_BIN_EXE_celadon"))
        .arg("--broker=nonsense")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
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
    let out = Command::new(env!("CARGO_BIN_EXE_celadon"))
        .arg("--broker=amqp://guest:guest@localhost:5672//")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("amqp:// broker is not supported"),
        "{stderr}"
    );
}
