//! Kombu's message envelope (PROTOCOL.md §3): a JSON object whose `body` is
//! the payload, base64-encoded when `properties.body_encoding` says so. Pure.
//!
//! Celery writes `body` first, and a base64 body contains neither quotes nor
//! backslashes, so the fast path finds its end with one SIMD scan and parses
//! only the few hundred bytes that follow as JSON. Anything else takes the
//! general path, which parses the whole envelope.

use std::{borrow::Cow, collections::HashMap};

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

/// Tails a [`Decoder`] remembers; when this many are known it forgets them
/// all and starts over. Each is one producer's (a worker's, or a client's)
/// layout, a few hundred bytes.
pub const TAILS_KEPT: usize = 64;

/// Decodes envelope after envelope: keeps one buffer for their bodies, and
/// the envelope tails (the members after `body`) it has read. Kombu writes
/// the same tail in every message of a producer but for its last value, the
/// delivery tag; a tail known up to that value is not read again. Reading
/// it was a third of the decoding work of a one-event message.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The body of the last envelope.
    pub body: Vec<u8>,
    tails: Tails,
}

/// Known tails, each up to and including the opening quote of its last
/// value, with what it says.
type Tails = HashMap<Box<[u8]>, Known, foldhash::fast::RandomState>;

/// What a tail up to its last value says.
#[derive(Debug)]
struct Known {
    content_type: Option<Box<str>>,
    body_encoding: Option<Box<str>>,
}

impl Decoder {
    /// Decodes `raw`'s body into [`Decoder::body`].
    pub fn decode(&mut self, raw: &[u8]) -> Result<(), EnvelopeError> {
        self.body.clear();
        if let Some(decoded) = fast_path(raw, &mut self.body, Some(&mut self.tails)) {
            return decoded;
        }
        general_path(raw, &mut self.body)
    }

    /// Heap bytes held (estimated: a known tail's two short strings and
    /// allocator overhead are counted as 64 bytes).
    pub fn heap_bytes(&self) -> usize {
        self.body.capacity()
            + self.tails.capacity() * std::mem::size_of::<(Box<[u8]>, Known)>()
            + self.tails.keys().map(|k| k.len() + 64).sum::<usize>()
    }
}

/// `members` cut before the content of its last value, if that is a
/// string of plain characters closing the last two objects (`"}}`): what
/// comes before it, up to and including its opening quote.
fn before_last_string(members: &[u8]) -> Option<&[u8]> {
    let inner = members.strip_suffix(b"\"}}")?;
    let open = memchr::memrchr(b'"', inner)?;
    let plain = |b: &u8| (0x20..0x7f).contains(b) && *b != b'\\';
    inner[open + 1..]
        .iter()
        .all(plain)
        .then(|| &members[..=open])
}

/// The payload bytes carried by one envelope (JSON text, for everything
/// Celery sends over Redis).
pub fn decode_body(raw: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut body = Vec::new();
    if let Some(decoded) = fast_path(raw, &mut body, None) {
        decoded?;
        return Ok(body);
    }
    general_path(raw, &mut body)?;
    Ok(body)
}

fn general_path(raw: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(raw).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    finish(
        envelope.body.as_bytes(),
        envelope.rest.content_type.as_deref(),
        envelope.rest.properties.body_encoding.as_deref(),
        out,
    )
}

/// `None` when the envelope is not laid out as Celery writes it.
fn fast_path(
    raw: &[u8],
    out: &mut Vec<u8>,
    tails: Option<&mut Tails>,
) -> Option<Result<(), EnvelopeError>> {
    let rest = raw.strip_prefix(BODY_FIRST)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let (body, tail) = (&rest[..end], &rest[end + 1..]);
    // The members after `body`: `"content-encoding": …}`.
    let others = tail.strip_prefix(b", ")?;
    let before = before_last_string(others);
    if let (Some(tails), Some(before)) = (&tails, before)
        && let Some(known) = tails.get(before)
    {
        let (ct, enc) = (
            known.content_type.as_deref(),
            known.body_encoding.as_deref(),
        );
        return Some(finish(body, ct, enc, out));
    }
    let read = super::scan::envelope_rest(others)?;
    if let (Some(tails), Some(before)) = (tails, before) {
        // Only when the last value is the string found above, and one the
        // scanner skipped: then the members before it decided everything.
        if read.skipped_last == Some(before.len() - 1) {
            if tails.len() >= TAILS_KEPT {
                tails.clear();
            }
            let known = Known {
                content_type: read.content_type.as_deref().map(Box::from),
                body_encoding: read.body_encoding.as_deref().map(Box::from),
            };
            tails.insert(before.into(), known);
        }
    }
    let (ct, enc) = (read.content_type.as_deref(), read.body_encoding.as_deref());
    Some(finish(body, ct, enc, out))
}

fn finish(
    body: &[u8],
    content_type: Option<&str>,
    body_encoding: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), EnvelopeError> {
    if let Some(ct) = content_type
        && ct != "application/json"
    {
        return Err(EnvelopeError::ContentType(ct.to_string()));
    }
    match body_encoding {
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
            fast_path(raw.as_bytes(), &mut fast, None)
                .expect("Celery's layout")
                .unwrap();
            general_path(raw.as_bytes(), &mut general).unwrap();
            assert_eq!(fast, general, "{}", path.display());
        }
    }

    /// Every fixture twice through one decoder, the second time with
    /// another delivery tag: the body is what a fresh decode gives.
    #[test]
    fn a_known_tail_decodes_like_a_new_one() {
        let dir = format!("{}/fixtures/events", env!("CARGO_MANIFEST_DIR"));
        let mut decoder = Decoder::default();
        for entry in std::fs::read_dir(dir).unwrap() {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                    .unwrap();
            let Some(raw) = doc["raw"].as_str() else {
                continue;
            };
            let tag = doc["envelope"]["properties"]["delivery_tag"]
                .as_str()
                .unwrap();
            let again = raw.replace(tag, "00000000-1111-2222-3333-444444444444");
            for raw in [raw, &again] {
                decoder.decode(raw.as_bytes()).unwrap();
                assert_eq!(decoder.body, decode_body(raw.as_bytes()).unwrap());
            }
        }
        assert!(!decoder.tails.is_empty(), "Celery's tails are remembered");
    }

    /// A tail whose last value is one the decoder reads is never taken as
    /// known: the same members with another encoding decode otherwise.
    #[test]
    fn a_tail_is_known_only_up_to_a_value_it_skips() {
        let mut decoder = Decoder::default();
        let b64 = br#"{"body": "eyJhIjogMX0=", "properties": {"body_encoding": "base64"}}"#;
        decoder.decode(b64).unwrap();
        assert_eq!(decoder.body, br#"{"a": 1}"#);
        let other = br#"{"body": "eyJhIjogMX0=", "properties": {"body_encoding": "base65"}}"#;
        decoder.decode(other).unwrap();
        assert_eq!(decoder.body, b"eyJhIjogMX0=");
        // The tag after a known tail with an escape in it: read in full.
        let tag =
            br#"{"body": "eyJhIjogMX0=", "properties": {"body_encoding": "base64", "tag": "a"}}"#;
        decoder.decode(tag).unwrap();
        let escaped = br#"{"body": "eyJhIjogMX0=", "properties": {"body_encoding": "base64", "tag": "\u0041"}}"#;
        decoder.decode(escaped).unwrap();
        assert_eq!(decoder.body, br#"{"a": 1}"#);
        let cut =
            br#"{"body": "eyJhIjogMX0=", "properties": {"body_encoding": "base64", "tag": "a\"}}"#;
        assert!(decoder.decode(cut).is_err());
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
