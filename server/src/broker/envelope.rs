//! Kombu's message envelope (PROTOCOL.md §3): a JSON object whose `body` is
//! the payload, base64-encoded when `properties.body_encoding` says so. Pure.

use std::borrow::Cow;

use base64::Engine;
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("not a kombu envelope: {0}")]
    NotJson(String),
    #[error("body is not valid base64: {0}")]
    BadBase64(String),
    #[error("content type {0:?} cannot be read (celadon reads application/json)")]
    ContentType(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    body: Cow<'a, str>,
    #[serde(rename = "content-type", borrow, default)]
    content_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    properties: Properties<'a>,
}

#[derive(Deserialize, Default)]
struct Properties<'a> {
    #[serde(borrow, default)]
    body_encoding: Option<Cow<'a, str>>,
}

/// The payload bytes carried by one envelope (JSON text, for everything
/// Celery sends over Redis).
pub fn decode_body(raw: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(raw).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    if let Some(ct) = envelope.content_type.as_deref() {
        if ct != "application/json" {
            return Err(EnvelopeError::ContentType(ct.to_string()));
        }
    }
    match envelope.properties.body_encoding.as_deref() {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(envelope.body.as_bytes())
            .map_err(|e| EnvelopeError::BadBase64(e.to_string())),
        _ => Ok(envelope.body.into_owned().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_plain_bodies_decode() {
        let b64 = br#"{"body": "eyJhIjogMX0=", "content-type": "application/json", "properties": {"body_encoding": "base64"}}"#;
        assert_eq!(decode_body(b64).unwrap(), br#"{"a": 1}"#);
        let plain =
            br#"{"body": "{\"a\": 1}", "content-type": "application/json", "properties": {}}"#;
        assert_eq!(decode_body(plain).unwrap(), br#"{"a": 1}"#);
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        let cases: [&[u8]; 5] = [
            b"",
            b"\xff\xfe",
            br#"{"nobody": 1}"#,
            br#"{"body": "!!!", "properties": {"body_encoding": "base64"}}"#,
            br#"{"body": "x", "content-type": "application/x-python-serialize"}"#,
        ];
        for raw in cases {
            assert!(
                decode_body(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
