//! A private `redis-server` that speaks only TLS, on a free port of
//! 127.0.0.1, with certificates `openssl` makes in the [`Scratch`]
//! directory: a CA, a server certificate for `IP:127.0.0.1` (kombu's
//! redis-py checks the name), and a client certificate, which Redis asks
//! for by default. Ready once its TLS port accepts connections.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, ensure};

use crate::{KombuBroker, Proc, Scratch, free_port, redis::REDIS_START};

/// The files of one certificate authority and what it signed.
#[derive(Clone, Debug)]
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

const SERVER_EXT: &str = "basicConstraints=CA:FALSE\n\
     keyUsage=critical,digitalSignature,keyEncipherment\n\
     extendedKeyUsage=serverAuth\n\
     subjectAltName=IP:127.0.0.1,DNS:localhost\n";
const CLIENT_EXT: &str = "basicConstraints=CA:FALSE\n\
     keyUsage=critical,digitalSignature,keyEncipherment\n\
     extendedKeyUsage=clientAuth\n";

impl Certs {
    /// Makes a CA named `name`, and a server and a client certificate it
    /// signs, as `<name>-*.{crt,key}` in `dir`. Another name makes an
    /// unrelated CA: one a client must refuse.
    pub fn make(dir: &Path, name: &str) -> anyhow::Result<Certs> {
        let file = |what: &str| dir.join(format!("{name}-{what}"));
        let certs = Certs {
            ca: file("ca.crt"),
            server_cert: file("server.crt"),
            server_key: file("server.key"),
            client_cert: file("client.crt"),
            client_key: file("client.key"),
        };
        let ca_key = file("ca.key");
        let subject = format!("/CN={name} test CA");
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            "rsa:2048".as_ref(),
            "-nodes".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-keyout".as_ref(),
            ca_key.as_os_str(),
            "-out".as_ref(),
            certs.ca.as_os_str(),
            "-subj".as_ref(),
            subject.as_ref(),
            "-addext".as_ref(),
            "basicConstraints=critical,CA:TRUE".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
        ])?;
        for (cert, key, ext, cn) in [
            (
                &certs.server_cert,
                &certs.server_key,
                SERVER_EXT,
                "/CN=localhost",
            ),
            (
                &certs.client_cert,
                &certs.client_key,
                CLIENT_EXT,
                "/CN=celadon test client",
            ),
        ] {
            let csr = cert.with_extension("csr");
            let ext_file = cert.with_extension("ext");
            std::fs::write(&ext_file, ext)?;
            openssl(&[
                "req".as_ref(),
                "-newkey".as_ref(),
                "rsa:2048".as_ref(),
                "-nodes".as_ref(),
                "-keyout".as_ref(),
                key.as_os_str(),
                "-out".as_ref(),
                csr.as_os_str(),
                "-subj".as_ref(),
                cn.as_ref(),
            ])?;
            openssl(&[
                "x509".as_ref(),
                "-req".as_ref(),
                "-days".as_ref(),
                "2".as_ref(),
                "-CAcreateserial".as_ref(),
                "-in".as_ref(),
                csr.as_os_str(),
                "-CA".as_ref(),
                certs.ca.as_os_str(),
                "-CAkey".as_ref(),
                ca_key.as_os_str(),
                "-out".as_ref(),
                cert.as_os_str(),
                "-extfile".as_ref(),
                ext_file.as_os_str(),
            ])?;
        }
        Ok(certs)
    }
}

fn openssl(args: &[&OsStr]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl (scripts/setup installs it)")?;
    ensure!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

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
