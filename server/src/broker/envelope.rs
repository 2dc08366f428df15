//! Kombu's message envelope (PROTOCOL.md §3): a JSON object whose `body` is
//! the payload, base64-encoded when `properties.body_encoding` says so. Pure.
//!
//! Celery writes `body` first, and a base64 body contains neither quotes nor
//! backslashes, so the fast path finds its end with one SIMD scan and parses
//! only the few hundred bytes that follow as JSON. Anything else takes the
//! general path, which parses the whole envelope.

use std::borrow::Cow;

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
    #[serde(flatten, borrow)]
    rest: Rest<'a>,
}

/// Everything but the body.
#[derive(Deserialize)]
struct Rest<'a> {
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

const BODY_FIRST: &[u8] = b"{\"body\": \"";

/// The payload bytes carried by one envelope (JSON text, for everything
/// Celery sends over Redis).
pub fn decode_body(raw: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut body = Vec::new();
    decode_body_into(raw, &mut body)?;
    Ok(body)
}

/// [`decode_body`] into `out` (cleared first), so that a caller reading
/// many envelopes reuses one buffer.
pub fn decode_body_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
    out.clear();
    if let Some(decoded) = fast_path(raw, out) {
        return decoded;
    }
    let envelope: Envelope<'_> =
        serde_json::from_slice(raw).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    finish(envelope.body.as_bytes(), &envelope.rest, out)
}

/// `None` when the envelope is not laid out as Celery writes it.
fn fast_path(raw: &[u8], out: &mut Vec<u8>) -> Option<Result<(), EnvelopeError>> {
    let rest = raw.strip_prefix(BODY_FIRST)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let (body, tail) = (&rest[..end], &rest[end + 1..]);
    // The members after `body`: `"content-encoding": …}`.
    let others = tail.strip_prefix(b", ")?;
    let (content_type, body_encoding) = super::scan::envelope_rest(others)?;
    let rest = Rest {
        content_type,
        properties: Properties { body_encoding },
    };
    Some(finish(body, &rest, out))
}

fn finish(body: &[u8], rest: &Rest<'_>, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
    if let Some(ct) = rest.content_type.as_deref() {
        if ct != "application/json" {
            return Err(EnvelopeError::ContentType(ct.to_string()));
        }
    }
    match rest.properties.body_encoding.as_deref() {
        Some("base64") => base64_simd::STANDARD
            .decode_append(body, out)
            .map_err(|e| EnvelopeError::BadBase64(e.to_string())),
        _ => {
            out.extend_from_slice(body);
            Ok(())
        }
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
        let reordered = br#"{"properties": {"body_encoding": "base64"}, "body": "eyJhIjogMX0="}"#;
        assert_eq!(decode_body(reordered).unwrap(), br#"{"a": 1}"#);
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_one_on_every_fixture() {
        let dir = format!("{}/fixtures/events", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let Some(raw) = doc["raw"].as_str() else {
                continue;
            };
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            fast_path(raw.as_bytes(), &mut fast)
                .expect("Celery's layout")
                .unwrap();
            let envelope: Envelope<'_> = serde_json::from_str(raw).unwrap();
            finish(envelope.body.as_bytes(), &envelope.rest, &mut general).unwrap();
            assert_eq!(fast, general, "{}", path.display());
        }
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        let cases: [&[u8]; 7] = [
            b"",
            b"\xff\xfe",
            br#"{"nobody": 1}"#,
            br#"{"body": "!!!", "properties": {"body_encoding": "base64"}}"#,
            br#"{"body": "x", "content-type": "application/x-python-serialize"}"#,
            br#"{"body": "eyJhIjogMX0=", "content-type": "application/x-python-serialize", "properties": {}}"#,
            br#"{"body": "eyJhIjogMX0=""#,
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
