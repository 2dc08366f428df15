//! The TLS settings of a Redis connection as Celery users write them:
//! kombu's `ssl_*` query parameters on a broker URL, and Celery's
//! `broker_use_ssl` / `redis_backend_use_ssl` dicts (the same keys, as
//! JSON). Pure: the files they name are read by `tls`.

use std::path::PathBuf;

/// `ssl_cert_reqs`: whether the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertReqs {
    Required,
    /// Python's `CERT_OPTIONAL` means, for a client, what `CERT_REQUIRED`
    /// means: the server always presents a certificate, and it is checked.
    Optional,
    /// Nothing about the server's certificate is checked.
    None,
}

/// The keys celadon reads, named in every error about an unknown one.
pub const KNOWN_KEYS: &str =
    "ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_check_hostname";

/// One connection's TLS settings. Every field unset means: verify the
/// server's certificate against the system's roots, check its name, send
/// no client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SslOptions {
    pub cert_reqs: Option<CertReqs>,
    /// PEM file of the CAs to trust instead of the system's.
    pub ca_certs: Option<PathBuf>,
    /// PEM file of the client certificate (chain), and of its key when
    /// `keyfile` is unset (as Python's `load_cert_chain` reads it).
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// redis-py's `ssl_check_hostname`.
    pub check_hostname: Option<bool>,
}

impl SslOptions {
    /// Whether the server's certificate chain is verified: unless
    /// `ssl_cert_reqs` says none. (kombu falls back to no verification when
    /// a `rediss://` URL says nothing; celadon verifies unless told not to.)
    pub fn verifies(&self) -> bool {
        self.cert_reqs != Some(CertReqs::None)
    }

    /// Whether the certificate must name the host connected to; Python
    /// cannot check a name without the chain, nor can celadon.
    pub fn checks_hostname(&self) -> bool {
        self.verifies() && self.check_hostname.unwrap_or(true)
    }

    /// The `ssl_*` parameters of a URL's query; `None` if it has none.
    pub fn from_query<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<SslOptions>, String> {
        let mut options = None;
        for (key, value) in pairs.filter(|(k, _)| k.starts_with("ssl_")) {
            let o = options.get_or_insert_with(SslOptions::default);
            o.set(key, Setting::Text(value))?;
        }
        if let Some(o) = &options {
            o.check()?;
        }
        Ok(options)
    }

    /// A `broker_use_ssl` dict as JSON: `{"ssl_cert_reqs": "required",
    /// "ssl_ca_certs": "/etc/ca.pem", …}`. `ssl_cert_reqs` may also be
    /// `CERT_REQUIRED` or Python's number for it (`ssl.CERT_REQUIRED` is 2).
    pub fn from_json(json: &str) -> Result<SslOptions, String> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| format!("not a JSON object of TLS settings ({KNOWN_KEYS}): {e}"))?;
        let mut options = SslOptions::default();
        for (key, value) in &map {
            let setting = match value {
                serde_json::Value::String(s) => Setting::Text(s),
                serde_json::Value::Bool(b) => Setting::Bool(*b),
                serde_json::Value::Number(n) => match n.as_u64() {
                    Some(n) => Setting::Int(n),
                    None => return Err(format!("{key}: {n} is not a setting")),
                },
                other => return Err(format!("{key}: {other} is not a setting")),
            };
            options.set(key, setting)?;
        }
        options.check()?;
        Ok(options)
    }

    fn set(&mut self, key: &str, value: Setting<'_>) -> Result<(), String> {
        let path = |value: Setting<'_>| match value {
            Setting::Text(t) if !t.is_empty() => Ok(PathBuf::from(t)),
            other => Err(format!("{key}={other} is not a file name")),
        };
        match key {
            "ssl_cert_reqs" => self.cert_reqs = Some(cert_reqs(value)?),
            "ssl_ca_certs" => self.ca_certs = Some(path(value)?),
            "ssl_certfile" => self.certfile = Some(path(value)?),
            "ssl_keyfile" => self.keyfile = Some(path(value)?),
            "ssl_check_hostname" => {
                self.check_hostname = Some(match value {
                    Setting::Bool(b) => b,
                    // kombu's reading of the query parameter.
                    Setting::Text(t) => !t.eq_ignore_ascii_case("false"),
                    Setting::Int(n) => n != 0,
                });
            }
            other => {
                return Err(format!(
                    "{other} is not a TLS setting celadon knows ({KNOWN_KEYS})"
                ));
            }
        }
        Ok(())
    }

    /// What no single key can say: a key without its certificate.
    fn check(&self) -> Result<(), String> {
        if self.keyfile.is_some() && self.certfile.is_none() {
            return Err("ssl_keyfile is set without ssl_certfile".into());
        }
        Ok(())
    }
}

/// A value as JSON or a query gives it.
#[derive(Clone, Copy)]
enum Setting<'a> {
    Text(&'a str),
    Bool(bool),
    Int(u64),
}

impl std::fmt::Display for Setting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Text(t) => write!(f, "{t:?}"),
            Setting::Bool(b) => write!(f, "{b}"),
            Setting::Int(n) => write!(f, "{n}"),
        }
    }
}

fn cert_reqs(value: Setting<'_>) -> Result<CertReqs, String> {
    Ok(match value {
        Setting::Text("required" | "CERT_REQUIRED") | Setting::Int(2) => CertReqs::Required,
        Setting::Text("optional" | "CERT_OPTIONAL") | Setting::Int(1) => CertReqs::Optional,
        Setting::Text("none" | "CERT_NONE") | Setting::Int(0) => CertReqs::None,
        other => {
            return Err(format!(
                "ssl_cert_reqs={other} is not one of required, optional, none \
                 (or CERT_REQUIRED, CERT_OPTIONAL, CERT_NONE)"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Result<Option<SslOptions>, String> {
        SslOptions::from_query(q.split('&').filter_map(|kv| kv.split_once('=')))
    }

    #[test]
    fn both_spellings_of_cert_reqs_are_read() {
        for (text, reqs) in [
            ("required", CertReqs::Required),
            ("CERT_REQUIRED", CertReqs::Required),
            ("optional", CertReqs::Optional),
            ("CERT_OPTIONAL", CertReqs::Optional),
            ("none", CertReqs::None),
            ("CERT_NONE", CertReqs::None),
        ] {
            let o = query(&format!("ssl_cert_reqs={text}")).unwrap().unwrap();
            assert_eq!(o.cert_reqs, Some(reqs), "{text}");
            let json = SslOptions::from_json(&format!(r#"{{"ssl_cert_reqs": "{text}"}}"#));
            assert_eq!(json.unwrap().cert_reqs, Some(reqs), "{text}");
        }
        let python = SslOptions::from_json(r#"{"ssl_cert_reqs": 2}"#).unwrap();
        assert_eq!(python.cert_reqs, Some(CertReqs::Required));
    }

    #[test]
    fn verification_is_on_unless_cert_reqs_is_none() {
        assert!(SslOptions::default().verifies());
        assert!(SslOptions::default().checks_hostname());
        let optional = query("ssl_cert_reqs=optional").unwrap().unwrap();
        assert!(optional.verifies() && optional.checks_hostname());
        let none = query("ssl_cert_reqs=none").unwrap().unwrap();
        assert!(!none.verifies() && !none.checks_hostname());
        let no_name = query("ssl_check_hostname=false").unwrap().unwrap();
        assert!(no_name.verifies() && !no_name.checks_hostname());
    }

    #[test]
    fn files_come_from_the_query_and_the_dict_alike() {
        let q = query("ssl_ca_certs=/c/ca.pem&ssl_certfile=/c/me.crt&ssl_keyfile=/c/me.key&x=1")
            .unwrap()
            .unwrap();
        let j = SslOptions::from_json(
            r#"{"ssl_ca_certs": "/c/ca.pem", "ssl_certfile": "/c/me.crt", "ssl_keyfile": "/c/me.key"}"#,
        )
        .unwrap();
        assert_eq!(q, j);
        assert_eq!(
            q.ca_certs.as_deref(),
            Some(std::path::Path::new("/c/ca.pem"))
        );
        assert_eq!(
            query("db=1").unwrap(),
            None,
            "no ssl_ parameter, no TLS settings"
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        let err = query("ssl_cert_reqs=always").unwrap_err();
        assert!(err.contains("ssl_cert_reqs=\"always\""), "{err}");
        let err = query("ssl_ciphers=ALL").unwrap_err();
        assert!(err.contains("ssl_ciphers is not a TLS setting"), "{err}");
        let err = SslOptions::from_json(r#"{"ssl_ca_certs": 3}"#).unwrap_err();
        assert!(err.contains("ssl_ca_certs=3 is not a file name"), "{err}");
        let err = SslOptions::from_json("[1]").unwrap_err();
        assert!(err.contains("not a JSON object of TLS settings"), "{err}");
        let err = SslOptions::from_json(r#"{"ssl_keyfile": "/k"}"#).unwrap_err();
        assert!(err.contains("without ssl_certfile"), "{err}");
    }
}
