//! The `celadon` binary's command line.

use std::{process::Command, time::Duration};

use server::config::options::{OPTIONS, Support};

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
        "redis://[[user]:password@][host][:port][/db]",
        "rediss://",
        "sentinel://host[:port][/db]",
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

/// The binary started with `args` and `env` in a directory holding the
/// sample configuration file: it must come up and listen, and say nothing
/// of options it does not act on (every one set here is applied).
async fn starts_with(
    name: &str,
    scratch: &kit::Scratch,
    args: Vec<String>,
    env: Vec<(String, String)>,
) {
    std::fs::write(
        scratch.path().join("celadon-test-flowerconfig.py"),
        "max_tasks = 7\n",
    )
    .unwrap();
    // `--alerts`' sample names this file.
    std::fs::write(
        scratch.path().join("celadon-test-alerts.toml"),
        "[[rule]]\nname = \"down\"\nkind = \"worker_offline\"\nafter = \"1m\"\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_celadon"));
    command
        .args(&args)
        .envs(env)
        .env("NO_COLOR", "1")
        .current_dir(scratch.path());
    let mut proc = kit::Proc::spawn(name, &mut command, scratch).unwrap();
    proc.ready("celadon to subscribe", Duration::from_secs(15), |p| {
        p.log().contains("subscribed to events").then_some(())
    })
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let log = proc.log();
    assert!(!log.contains("WARN"), "{args:?} warned:\n{log}");
    proc.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
}

/// Every option celadon applies, set at once to a value other than its
/// default: as flags, then as their variables. No option can stop it or
/// go unread.
#[tokio::test]
async fn every_applied_option_set_at_once_starts_celadon() {
    let scratch = kit::Scratch::new().unwrap();
    let redis = kit::Redis::start(&scratch).unwrap();
    let certs = kit::Certs::make(scratch.path(), "cli").unwrap();
    let log_file = scratch.path().join("celadon.log");
    let applied: Vec<_> = OPTIONS
        .iter()
        .filter(|o| o.support == Support::Applied)
        .map(|o| {
            // A real broker (none listens at the sample's port), and a free
            // port rather than a fixed one; every other value the sample.
            let value = match o.name {
                "port" => "0".to_string(),
                "broker" => redis.kombu_url(),
                "result_backend" => redis.kombu_backend_url(),
                // Files of its own: a socket in the scratch directory,
                // a real certificate and key.
                "unix_socket" => scratch.path().join("celadon.sock").display().to_string(),
                "certfile" => certs.server_cert.display().to_string(),
                "keyfile" => certs.server_key.display().to_string(),
                "ca_certs" => certs.ca.display().to_string(),
                "log_file_prefix" => log_file.display().to_string(),
                // The log file and stderr both, which the test reads.
                "log_to_stderr" => "true".to_string(),
                _ => o.sample.to_string(),
            };
            (o, value)
        })
        .collect();
    let flags = applied
        .iter()
        .map(|(o, v)| format!("--{}={v}", o.name))
        .collect();
    starts_with("celadon-flags", &scratch, flags, Vec::new()).await;
    let logged = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        logged.contains("subscribed to events") && !logged.contains('\x1b'),
        "the log file has the log, without colours:\n{logged}"
    );
    std::fs::remove_file(&log_file).unwrap();
    let env = applied
        .iter()
        .map(|(o, v)| (o.env[0].to_string(), v.clone()))
        .collect();
    starts_with("celadon-env", &scratch, Vec::new(), env).await;
    assert!(
        std::fs::read_to_string(&log_file)
            .unwrap()
            .contains("subscribed to events")
    );
}
