//! The one TLS crypto provider, for the broker's connections and for HTTPS.

/// ring, not aws-lc-rs: no C toolchain in the build, and neither Redis's
/// TLS nor a dashboard's HTTPS needs post-quantum key exchange (the reason
/// rustls now prefers aws-lc-rs).
#[expect(
    deprecated,
    reason = "ring's provider works; it lacks only post-quantum groups"
)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
