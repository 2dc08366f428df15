//! The `celadon` wheel as a user gets it: built by maturin, installed by
//! pip into a fresh venv beside Celery (pinned as scripts/setup pins it)
//! and Django, and started as `celery -A shop celadon` in a Django project
//! (`fixtures/django-shop`) whose settings alone name the broker, with a
//! worker of the same project running.
//!
//! A test binary of its own, not one of `it`'s: maturin's cargo finds the
//! binary built, but links `target/debug/celadon` again all the same, and
//! a test of `it` starting the binary at that moment found no file. Cargo
//! runs test binaries one at a time, so nothing starts it meanwhile.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking with what it was waiting for"
)]

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use kit::{
    Proc, Redis, Scratch,
    celadon::CELADON_START,
    celery::WORKER_START,
    wheel::{self, Venv},
};
use serde_json::{Value, json};

/// The binary the tests run, which the wheel must carry.
const TESTED_BINARY: &str = env!("CARGO_BIN_EXE_celadon");

/// celadon at a URL it logged.
struct Served(String);

impl Served {
    /// Polls `path` until its JSON satisfies `done`, or panics with `what`
    /// and the last answer after `deadline`.
    async fn json_until(
        &self,
        what: &str,
        path: &str,
        deadline: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let url = format!("{}{path}", self.0);
        let start = tokio::time::Instant::now();
        loop {
            let body = match reqwest::get(url.as_str()).await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if done(&value) {
                return value;
            }
            assert!(
                start.elapsed() < deadline,
                "timed out after {deadline:?} waiting for {what}; last {path}: {body}"
            );
            tokio::time::sleep(kit::poll::INTERVAL).await;
        }
    }
}

#[tokio::test]
async fn the_wheel_runs_celadon_as_a_celery_command_of_a_django_project() {
    let scratch = Scratch::new().unwrap();
    let redis = Redis::start(&scratch).unwrap();
    let (venv, project) = install(&scratch);
    let shop = Shop {
        venv: &venv,
        project: &project,
        redis: &redis,
    };
    let mut worker = shop.spawn(
        "worker",
        &[
            "-A",
            "shop",
            "worker",
            "-E",
            "-n",
            "orders@it",
            "-c",
            "1",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        ],
        &scratch,
    );
    let mut celadon = shop.spawn(
        "celadon",
        &["-A", "shop", "celadon", "--port=0", "--address=127.0.0.1"],
        &scratch,
    );
    let served = celadon
        .ready("celadon to listen and subscribe", CELADON_START, |p| {
            let log = p.log();
            let port: String = log
                .split("listening on http://127.0.0.1:")
                .nth(1)?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            log.contains("subscribed to events")
                .then(|| Served(format!("http://127.0.0.1:{port}")))
        })
        .unwrap();
    execd_with_the_settings_in_its_environment(&celadon, &venv.bin("celadon"), &redis);

    // The worker is found only through the app's settings: db 3, keys and
    // channels prefixed `shop:`. `refresh` inspects it over its pidbox.
    served
        .json_until(
            "the project's worker, inspected",
            "/api/workers?refresh=1",
            WORKER_START,
            |workers| workers["orders@it"]["stats"]["pid"].is_u64(),
        )
        .await;
    let log = celadon.log();
    assert!(
        !log.contains("WARN") && !log.contains("CELADON_CELERY_CONF"),
        "celadon took every setting of the app, silently:\n{log}"
    );
    help_is_the_binarys(&shop);
    settings_are_handed_over_exactly(&shop);

    drop(celadon);
    worker
        .stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(20))
        .await
        .unwrap();
    venv.uninstall("celadon").unwrap();
    let installed = venv.bin("celadon");
    assert!(!installed.exists(), "pip uninstall left {installed:?}");
    let gone = shop.output("shop.settings", &["-A", "shop", "celadon", "--help"], &[]);
    assert!(!gone.status.success(), "{gone:?}");
}

/// A fresh venv with Celery (as scripts/setup pins it), the project's
/// requirements (Django) and the wheel, built with nothing compiled again
/// and carrying the binary the tests ran; and the project, copied.
fn install(scratch: &Scratch) -> (Venv, PathBuf) {
    let built = wheel::build(scratch, &profile()).unwrap();
    assert!(
        built.compiled.is_empty(),
        "maturin's cargo compiled {:?} again: the wheel must package the test build's \
         binary (same profile and features; see server/Cargo.toml)",
        built.compiled
    );
    let venv = Venv::create(scratch, "venv").unwrap();
    let project = scratch.path().join("project");
    copy_dir(
        &kit::repo_root().join("server/fixtures/django-shop"),
        &project,
    );
    let mut requirements = wheel::pinned(&["celery", "kombu", "redis"]).unwrap();
    requirements.extend([
        "-r".into(),
        project.join("requirements.txt").display().to_string(),
        built.wheel.display().to_string(),
    ]);
    venv.install(&requirements).unwrap();
    assert!(
        same_bytes(&venv.bin("celadon"), Path::new(TESTED_BINARY)),
        "the wheel's binary is not the one the tests built ({TESTED_BINARY}): maturin's \
         cargo build resolved other features (see server/Cargo.toml) or another profile"
    );
    (venv, project)
}

/// exec, not a child: the celery command's process is now the binary,
/// with the user's arguments and nothing else on its command line, and
/// the settings, from Django's CELERY_ names, in its environment.
fn execd_with_the_settings_in_its_environment(celadon: &Proc, installed: &Path, redis: &Redis) {
    let pid = celadon.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, installed.canonicalize().unwrap());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(
        argv,
        [
            installed.display().to_string(),
            "--port=0".into(),
            "--address=127.0.0.1".into()
        ]
    );
    let conf = handed_over(&std::fs::read(format!("/proc/{pid}/environ")).unwrap());
    assert_eq!(
        conf["broker_url"],
        format!("redis+socket://{}?virtual_host=3", redis.socket().display())
    );
    assert_eq!(
        conf["broker_transport_options"],
        json!({"global_keyprefix": "shop:"})
    );
}

/// `celery celadon --help` is the binary's help; `celery --help` lists
/// the command.
fn help_is_the_binarys(shop: &Shop<'_>) {
    let help = shop.output("shop.settings", &["-A", "shop", "celadon", "--help"], &[]);
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.starts_with("celadon: a live monitoring dashboard for Celery on Redis")
            && text.contains("--broker-transport-options"),
        "{text}"
    );
    let celery_help = shop.output("shop.settings", &["-A", "shop", "--help"], &[]);
    let text = String::from_utf8_lossy(&celery_help.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("celadon") && l.contains("Run celadon")),
        "{text}"
    );
}

/// Every kind of value a Django settings file holds, as it is handed over
/// (`env` stands in for the binary and prints its environment), with
/// Celery's --result-backend before the sub-command winning over the file;
/// config::tests reads this very JSON (a Django project's settings are read
/// whole). What JSON cannot carry is refused by name, and nothing is run.
fn settings_are_handed_over_exactly(shop: &Shop<'_>) {
    let env = [("CELADON_BIN", "/usr/bin/env")];
    let probe = shop.output(
        "shop.settings_probe",
        &[
            "-A",
            "shop",
            "--result-backend=redis://cli:6379/7",
            "celadon",
        ],
        &env,
    );
    assert!(probe.status.success(), "{probe:?}");
    let lines: Vec<u8> = probe
        .stdout
        .iter()
        .map(|b| if *b == b'\n' { 0 } else { *b })
        .collect();
    let brokers = json!([
        "redis://:s3cret@127.0.0.1:6390/2",
        "redis://:s3cret@127.0.0.1:6391/2"
    ]);
    assert_eq!(
        handed_over(&lines),
        json!({
            "broker_url": brokers,
            "broker_read_url": brokers,
            "broker_write_url": brokers,
            "broker_transport_options": {
                "master_name": "shop",
                "visibility_timeout": 3600.0,
                "priority_steps": [0, 5, 9]
            },
            "broker_use_ssl": {"ssl_cert_reqs": "required", "ssl_ca_certs": "/etc/shop/ca.pem"},
            "result_backend": "redis://cli:6379/7",
            "result_backend_transport_options": {"global_keyprefix": "results:"},
            "redis_backend_use_ssl": {"ssl_cert_reqs": "optional"},
            "event_exchange": "celeryev",
            "control_exchange": "celery"
        })
    );
    let refused = shop.output("shop.settings_unpassable", &["-A", "shop", "celadon"], &env);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Error: celadon cannot pass the setting broker_use_ssl.ssl_context: a SSLContext \
         has no JSON form (give the settings it stands for instead)\n"
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
}

/// Where the Django project runs from, and how its commands start.
struct Shop<'a> {
    venv: &'a Venv,
    project: &'a Path,
    redis: &'a Redis,
}

impl Shop<'_> {
    /// `celery ARGS` from the venv in the project, with `settings`; nothing
    /// from the caller's environment names a broker or a binary.
    fn command(&self, settings: &str, args: &[&str]) -> Command {
        let mut command = Command::new(self.venv.bin("celery"));
        command
            .args(args)
            .current_dir(self.project)
            .env("DJANGO_SETTINGS_MODULE", settings)
            .env("SHOP_REDIS", self.redis.socket())
            .env("FLOWER_UNAUTHENTICATED_API", "true")
            .env("NO_COLOR", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for var in [
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "CELERY_BROKER_TRANSPORT_OPTIONS",
            "CELADON_CELERY_CONF",
            "CELADON_BIN",
        ] {
            command.env_remove(var);
        }
        command
    }

    /// Started with the project's settings, logging to `<name>.log`.
    fn spawn(&self, name: &str, args: &[&str], scratch: &Scratch) -> Proc {
        Proc::spawn(name, &mut self.command("shop.settings", args), scratch).unwrap()
    }

    fn output(&self, settings: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        self.command(settings, args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

/// The Cargo profile `TESTED_BINARY` was built with: its directory's
/// name, but for `dev`'s.
fn profile() -> String {
    match Path::new(TESTED_BINARY)
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
    {
        Some("debug") | None => "dev".into(),
        Some(other) => other.into(),
    }
}

/// The JSON in `CELADON_CELERY_CONF` of an environment block.
fn handed_over(environ: &[u8]) -> Value {
    let var = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"CELADON_CELERY_CONF="))
        .expect("CELADON_CELERY_CONF is set");
    serde_json::from_slice(var).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Whether two files hold the same bytes, read a block at a time.
fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut a, mut b) = (std::io::BufReader::new(a), std::io::BufReader::new(b));
    let (mut x, mut y) = (vec![0; 1 << 20], vec![0; 1 << 20]);
    loop {
        let n = read_full(&mut a, &mut x);
        if n != read_full(&mut b, &mut y) || x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => panic!("reading: {e}"),
        }
    }
    filled
}
