//! Where the binary serves, reached as users reach it (curl): HTTPS with
//! `--certfile/--keyfile`, client certificates with `--ca-certs`, a unix
//! socket, and `--xheaders` in the access log.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command, time::Duration};

use kit::{Certs, Proc, Redis, Scratch};

/// The binary started with `flags` on a private Redis, once it serves.
fn start(scratch: &Scratch, redis: &Redis, name: &str, flags: &[String]) -> Proc {
    let mut proc = Proc::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_celadon"))
            .arg(format!("--broker={}", redis.kombu_url()))
            .args(flags)
            .current_dir(scratch.path())
            .env("FLOWER_UNAUTHENTICATED_API", "true")
            .env("NO_COLOR", "1"),
        scratch,
    )
    .unwrap();
    proc.ready("celadon to listen", Duration::from_secs(15), |p| {
        p.log().contains("celadon listening on").then_some(())
    })
    .unwrap();
    proc
}

/// The port a binary logged it listens on.
fn port(proc: &Proc) -> u16 {
    let log = proc.log();
    let url = log
        .split("celadon listening on ")
        .nth(1)
        .and_then(|after| after.split_whitespace().next())
        .unwrap();
    let port = url.rsplit(':').next().unwrap();
    port.trim_end_matches('/').parse().unwrap()
}

/// `curl -sS args...`: its status, and stdout (or stderr when it failed).
fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl (scripts/setup installs it)");
    let text = if out.status.success() {
        &out.stdout
    } else {
        &out.stderr
    };
    (
        out.status.success(),
        String::from_utf8_lossy(text).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn https_with_a_certificate_and_client_certificates_with_a_ca() {
    let scratch = Scratch::new().unwrap();
    let redis = Redis::start(&scratch).unwrap();
    let certs = Certs::make(scratch.path(), "https").unwrap();
    let https = [
        format!("--certfile={}", certs.server_cert.display()),
        format!("--keyfile={}", certs.server_key.display()),
        "--address=127.0.0.1".into(),
        "--port=0".into(),
    ];
    let mut proc = start(&scratch, &redis, "celadon-https", &https);
    assert!(proc.log().contains("listening on https://127.0.0.1:"));
    let base = format!("https://127.0.0.1:{}", port(&proc));
    let ca = path(&certs.ca);
    assert_eq!(
        curl(&["--cacert", ca, &format!("{base}/healthcheck")]),
        (true, "OK".into())
    );
    let (ok, workers) = curl(&["--cacert", ca, &format!("{base}/api/workers")]);
    assert!(ok && workers.starts_with('{'), "{workers}");
    let (ok, page) = curl(&["--cacert", ca, &format!("{base}/tasks")]);
    assert!(ok && page.contains("<html"), "{page}");
    // Over HTTPS, browsers are told to keep to it.
    let (ok, headers) = curl(&[
        "--cacert",
        ca,
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{base}/"),
    ]);
    assert!(
        ok && headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
    let (ok, why) = curl(&[&format!("{base}/healthcheck")]);
    assert!(!ok, "a client that does not trust the CA is refused: {why}");
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{}/healthcheck", port(&proc))]);
    assert!(!ok, "no plain HTTP on the HTTPS port");
    proc.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();

    let mut with_ca = https.to_vec();
    with_ca.push(format!("--ca-certs={}", certs.ca.display()));
    let mut proc = start(&scratch, &redis, "celadon-mtls", &with_ca);
    let url = format!("https://127.0.0.1:{}/healthcheck", port(&proc));
    let (ok, why) = curl(&["--cacert", ca, &url]);
    assert!(!ok, "a client without a certificate is refused: {why}");
    let other = Certs::make(scratch.path(), "stranger").unwrap();
    let (ok, why) = curl(&[
        "--cacert",
        ca,
        "--cert",
        path(&other.client_cert),
        "--key",
        path(&other.client_key),
        &url,
    ]);
    assert!(!ok, "a certificate another CA signed is refused: {why}");
    let signed = curl(&[
        "--cacert",
        ca,
        "--cert",
        path(&certs.client_cert),
        "--key",
        path(&certs.client_key),
        &url,
    ]);
    assert_eq!(signed, (true, "OK".into()));
    proc.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_unix_socket_serves_the_owner_alone_and_the_proxy_is_believed_with_xheaders() {
    let scratch = Scratch::new().unwrap();
    let redis = Redis::start(&scratch).unwrap();
    let socket = scratch.path().join("celadon.sock");
    let flags = [
        format!("--unix-socket={}", socket.display()),
        "--xheaders".into(),
    ];
    let mut proc = start(&scratch, &redis, "celadon-unix", &flags);
    assert!(
        proc.log()
            .contains(&format!("listening on http+unix://{}", socket.display())),
        "{}",
        proc.log()
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let over = |url: &str, extra: &[&str]| {
        let mut args = vec!["--unix-socket", path(&socket)];
        args.extend_from_slice(extra);
        args.push(url);
        curl(&args)
    };
    assert_eq!(over("http://celadon/healthcheck", &[]), (true, "OK".into()));
    let (ok, tasks) = over(
        "http://celadon/api/tasks?limit=1",
        &["-H", "X-Forwarded-For: 203.0.113.9, 198.51.100.2"],
    );
    assert!(ok && tasks.starts_with('{'), "{tasks}");
    let logged = proc
        .ready("the request in the log", Duration::from_secs(5), |p| {
            p.log()
                .lines()
                .find(|l| l.contains("GET /api/tasks?limit=1"))
                .map(str::to_string)
        })
        .unwrap();
    assert!(
        logged.contains("200 GET /api/tasks?limit=1 (198.51.100.2)"),
        "the proxy's last hop is the client: {logged}"
    );
    proc.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!socket.exists(), "the socket file is removed at exit");

    // Without --xheaders, the headers are a client's claim, not believed.
    let mut proc = start(
        &scratch,
        &redis,
        "celadon-direct",
        &["--address=127.0.0.1".into(), "--port=0".into()],
    );
    let url = format!("http://127.0.0.1:{}/api/tasks?limit=2", port(&proc));
    let (ok, _) = curl(&["-H", "X-Real-Ip: 192.0.2.5", &url]);
    assert!(ok);
    let logged = proc
        .ready("the request in the log", Duration::from_secs(5), |p| {
            p.log()
                .lines()
                .find(|l| l.contains("GET /api/tasks?limit=2"))
                .map(str::to_string)
        })
        .unwrap();
    assert!(logged.contains("(127.0.0.1)"), "{logged}");
    proc.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
        .await
        .unwrap();
}
