//! Certificates for the tests, made with `openssl` in a [`Scratch`]
//! directory: a CA, a server certificate for `127.0.0.1` and `localhost`,
//! and a client certificate it signs. TLS Redis and celadon's HTTPS use
//! them.
//!
//! [`Scratch`]: crate::Scratch

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, ensure};

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
