//! A private `redis-server` that speaks only TLS, on a free port of
//! 127.0.0.1, with certificates `openssl` makes in the [`Scratch`]
//! directory: a CA, a server certificate for `IP:127.0.0.1` (kombu's
//! redis-py checks the name), and a client certificate, which Redis asks
//! for by default. Ready once its TLS port accepts connections.

use std::{path::Path, process::Command};

use crate::{Certs, KombuBroker, Proc, Scratch, free_port, redis::REDIS_START};

/// A running TLS-only redis-server and the certificates it was made with.
pub struct RedisTls {
    proc: Proc,
    pub port: u16,
    pub certs: Certs,
}

impl RedisTls {
    /// Makes the certificates, starts redis-server with TLS only (`--port
    /// 0` turns plain TCP off) and client certificates required, and waits
    /// until it accepts TLS connections.
    pub fn start(scratch: &Scratch) -> anyhow::Result<RedisTls> {
        let certs = Certs::make(scratch.path(), "redis")?;
        let port = free_port()?;
        let mut proc = Proc::spawn(
            "redis-tls",
            Command::new("redis-server")
                .args(["--port", "0", "--bind", "127.0.0.1"])
                .args(["--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&certs.server_cert)
                .arg("--tls-key-file")
                .arg(&certs.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&certs.ca)
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(scratch.path()),
            scratch,
        )
        .map_err(|e| e.context("redis-server must be installed (scripts/setup installs it)"))?;
        proc.ready(
            "redis-server to accept TLS connections",
            REDIS_START,
            |_| {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(drop)
            },
        )?;
        Ok(RedisTls { proc, port, certs })
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// The `rediss://` URL, kombu's spelling, of `db`, trusting `ca` and
    /// presenting the client certificate.
    pub fn url_trusting(&self, db: u32, ca: &Path) -> String {
        format!(
            "rediss://127.0.0.1:{}/{db}?ssl_cert_reqs=required&ssl_ca_certs={}\
             &ssl_certfile={}&ssl_keyfile={}",
            self.port,
            ca.display(),
            self.certs.client_cert.display(),
            self.certs.client_key.display()
        )
    }

    /// The URL of `db` with the right CA: celadon and Celery take it alike.
    pub fn url(&self, db: u32) -> String {
        self.url_trusting(db, &self.certs.ca)
    }
}

impl KombuBroker for RedisTls {
    fn kombu_url(&self) -> String {
        self.url(0)
    }

    fn kombu_backend_url(&self) -> String {
        self.url(1)
    }
}
