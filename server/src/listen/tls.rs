//! HTTPS as Flower serves it: `--certfile` and `--keyfile` (PEM), and with
//! `--ca-certs` every client must present a certificate that CA signed
//! (Flower's `cert_reqs=CERT_REQUIRED`). rustls with ring's primitives.

use std::{path::Path, sync::Arc};

use anyhow::{Context, bail};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};

use crate::config::Https;

/// The server's TLS configuration, or what is wrong with its files.
pub fn server_config(https: &Https) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(crate::crypto::provider());
    let chain = certificates("--certfile", &https.certfile)?;
    let key = PrivateKeyDer::from_pem_file(&https.keyfile).map_err(|e| {
        anyhow::anyhow!(
            "--keyfile={}: no private key read: {e}",
            https.keyfile.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("rustls offers no protocol version")?;
    let builder = match &https.ca_certs {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("--ca-certs", ca)? {
                roots.add(cert).with_context(|| {
                    format!("--ca-certs={}: not a CA certificate", ca.display())
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("--ca-certs={}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!(
            "--certfile={} and --keyfile={} do not make a certificate and its key",
            https.certfile.display(),
            https.keyfile.display()
        )
    })?;
    // The websocket and the pages speak HTTP/1.1; browsers that offer h2
    // get HTTP/1.1 as well.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file at `path`, named by its `flag`.
fn certificates(flag: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{flag}={}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{flag}={}: no certificate in it", path.display());
    }
    Ok(certs)
}
