//! TLS for every connection celadon opens (rustls, with ring): the client
//! configuration one set of `ssl_*` settings means, built once at start
//! from the files they name, and a failed handshake explained in words
//! saying which certificate was refused and why.
//!
//! Verification is on unless `ssl_cert_reqs` is `none`: the server's chain
//! is checked against `ssl_ca_certs`, else the system's CA certificates,
//! and its name against the host connected to (unless
//! `ssl_check_hostname` is false).

use std::{fmt, io, path::Path, sync::Arc};

use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsConnector, client::TlsStream};

use super::ssl::SslOptions;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} {path}: {why}")]
    File {
        key: &'static str,
        path: String,
        why: String,
    },
    #[error("cannot load the system's CA certificates: {0}")]
    SystemRoots(String),
    #[error("the TLS settings cannot be used: {0}")]
    Settings(#[from] rustls::Error),
    #[error("{0:?} is not a host name TLS can check")]
    ServerName(String),
}

/// A TLS client for one set of settings.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    /// What the server's certificate is checked against, for error text.
    trust: String,
    certfile: Option<String>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tls(checked against {})", self.trust)
    }
}

impl Tls {
    /// Reads the files `options` name and builds the client.
    pub fn new(options: &SslOptions) -> Result<Tls, TlsError> {
        let provider = Arc::new(crate::crypto::provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let (roots, trust) = if !options.verifies() {
            (
                RootCertStore::empty(),
                "nothing (ssl_cert_reqs=none)".to_string(),
            )
        } else if let Some(path) = &options.ca_certs {
            let mut roots = RootCertStore::empty();
            for cert in certificates("ssl_ca_certs", path)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("ssl_ca_certs", path, e))?;
            }
            (
                roots,
                format!("the CA certificates in ssl_ca_certs={}", path.display()),
            )
        } else {
            (system_roots()?, "the system's CA certificates".to_string())
        };
        let verifier: Arc<dyn ServerCertVerifier> = if options.verifies() {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsError::Settings(rustls::Error::General(e.to_string())))?;
            if options.checks_hostname() {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        } else {
            Arc::new(Unverified(provider.signature_verification_algorithms))
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &options.certfile {
            Some(certfile) => {
                let chain = certificates("ssl_certfile", certfile)?;
                let (key_name, key_path) = match &options.keyfile {
                    Some(keyfile) => ("ssl_keyfile", keyfile),
                    None => ("ssl_certfile", certfile),
                };
                let key = PrivateKeyDer::from_pem_file(key_path)
                    .map_err(|e| file_error(key_name, key_path, e))?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            trust,
            certfile: options.certfile.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// The TLS handshake over `stream` with the server known as `host`.
    pub async fn connect<S>(&self, stream: S, host: &str) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| io::Error::other(TlsError::ServerName(host.into())))?;
        self.connector.connect(name, stream).await
    }

    /// What a failure of a TLS connection to `at` means, in words, when it
    /// is a TLS failure. With TLS 1.3 the server judges our certificate
    /// after our side has finished the handshake, so its refusal arrives
    /// on the first read: any IO error while the connection is set up is
    /// worth asking about.
    pub fn explain(&self, error: &io::Error, at: &str) -> Option<String> {
        let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        let ours = || match &self.certfile {
            Some(file) => format!("our client certificate (ssl_certfile={file})"),
            None => "the connection".into(),
        };
        Some(match tls {
            rustls::Error::InvalidCertificate(why) => format!(
                "TLS with {at} failed: the server's certificate was refused: {}; it was \
                 checked against {}",
                certificate_problem(why),
                self.trust
            ),
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => format!(
                "TLS with {at} failed: the server requires a client certificate; set \
                 ssl_certfile and ssl_keyfile"
            ),
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::UnknownCA
                | AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRevoked
                | AlertDescription::AccessDenied
                | AlertDescription::DecryptError),
            ) => format!(
                "TLS with {at} failed: the server refused {} (TLS alert {alert:?})",
                ours()
            ),
            rustls::Error::InvalidMessage(_) => format!(
                "TLS with {at} failed: the server does not speak TLS there (rediss:// or an \
                 ssl_* setting asks for TLS): {tls}"
            ),
            other => format!("TLS with {at} failed: {other}"),
        })
    }
}

/// Why the server's certificate was refused, in words.
fn certificate_problem(why: &CertificateError) -> String {
    match why {
        CertificateError::UnknownIssuer => "it is not signed by a trusted CA".into(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("it does not name the host connected to ({why})")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("it has expired ({why})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("it is not valid yet ({why})")
        }
        other => other.to_string(),
    }
}

fn file_error(key: &'static str, path: &Path, why: impl fmt::Display) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// Every certificate in a PEM file; none is an error.
fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "it holds no PEM certificate"));
    }
    Ok(certs)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(TlsError::SystemRoots(why));
    }
    Ok(roots)
}

/// `ssl_check_hostname=false`: the chain is verified, the name is not.
/// webpki checks the chain before the name, so a name error means the
/// chain was good.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `ssl_cert_reqs=none`: any certificate is taken (the handshake's own
/// signatures are still checked, so the peer holds the key it shows).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use kit::Certs;
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::broker::ssl::CertReqs;

    /// A TLS server on one end of a pipe, presenting `certs`' server
    /// certificate (for 127.0.0.1 and localhost); the client's handshake
    /// with `host` on the other end, and its failure in words.
    async fn handshake(certs: &Certs, options: &SslOptions, host: &str) -> Result<(), String> {
        let chain = CertificateDer::pem_file_iter(&certs.server_cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&certs.server_key).unwrap();
        let server =
            rustls::ServerConfig::builder_with_provider(Arc::new(crate::crypto::provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let accepting = tokio::spawn(TlsAcceptor::from(Arc::new(server)).accept(theirs));
        let tls = Tls::new(options).map_err(|e| e.to_string())?;
        let result = tls.connect(ours, host).await;
        drop(accepting);
        result.map(drop).map_err(|e| {
            tls.explain(&e, host)
                .unwrap_or_else(|| format!("not a TLS failure: {e}"))
        })
    }

    #[tokio::test]
    async fn the_server_certificate_is_verified_unless_told_not_to_and_refusals_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let right = Certs::make(dir.path(), "right").unwrap();
        let wrong = Certs::make(dir.path(), "wrong").unwrap();
        let trusting = |ca: &Certs| SslOptions {
            ca_certs: Some(ca.ca.clone()),
            ..SslOptions::default()
        };
        assert_eq!(
            handshake(&right, &trusting(&right), "127.0.0.1").await,
            Ok(())
        );

        let err = handshake(&right, &trusting(&wrong), "127.0.0.1")
            .await
            .unwrap_err();
        assert!(
            err.contains("the server's certificate was refused"),
            "{err}"
        );
        assert!(err.contains("it is not signed by a trusted CA"), "{err}");
        assert!(err.contains(&wrong.ca.display().to_string()), "{err}");
        let unverified = SslOptions {
            cert_reqs: Some(CertReqs::None),
            ..trusting(&wrong)
        };
        assert_eq!(handshake(&right, &unverified, "127.0.0.1").await, Ok(()));

        let err = handshake(&right, &trusting(&right), "127.0.0.2")
            .await
            .unwrap_err();
        assert!(err.contains("it does not name the host"), "{err}");
        let any_name = SslOptions {
            check_hostname: Some(false),
            ..trusting(&right)
        };
        assert_eq!(handshake(&right, &any_name, "127.0.0.2").await, Ok(()));
        let wrong_any_name = SslOptions {
            check_hostname: Some(false),
            ..trusting(&wrong)
        };
        let err = handshake(&right, &wrong_any_name, "127.0.0.2")
            .await
            .unwrap_err();
        assert!(
            err.contains("not signed by a trusted CA"),
            "the chain still counts: {err}"
        );
    }

    #[test]
    fn unreadable_files_are_refused_naming_the_setting_and_the_file() {
        let missing = SslOptions {
            ca_certs: Some("/nonexistent/ca.pem".into()),
            ..SslOptions::default()
        };
        let err = Tls::new(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read ssl_ca_certs /nonexistent/ca.pem"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = Tls::new(&SslOptions {
            certfile: Some(empty),
            cert_reqs: Some(CertReqs::None),
            ..SslOptions::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ssl_certfile") && err.contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
