//! A small Redis client over any stream `dial` opened: it speaks just
//! enough RESP2 to log in and ask a question (AUTH, ROLE, SENTINEL MASTER),
//! PSUBSCRIBE, and read `pmessage` frames, which it cuts out of one read
//! buffer without copying: each payload is a `Bytes` slice of what came off
//! the socket. The general-purpose client builds an owned value per element
//! of every frame; at tens of thousands of messages a second that was most
//! of the event reader's cost.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Read buffer growth step. Redis writes pub/sub messages back to back, so
/// big reads amortize the syscalls.
const READ_CHUNK: usize = 256 * 1024;

/// A frame may not claim more than this (Redis caps bulk strings at 512 MB).
const MAX_BULK: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("redis said: {0}")]
    Server(String),
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    #[error("the connection was closed")]
    Closed,
}

/// A connection's byte stream: TCP, a unix socket, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One RESP2 value, with bulk strings as slices of the read buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Bytes),
    Error(Bytes),
    Integer(i64),
    Bulk(Option<Bytes>),
    Array(Option<Vec<Frame>>),
}

/// Messages published on channels matching our pattern, cut from the
/// socket in one go: their bytes, and where each message's channel and
/// payload lie in them. One shared buffer for all of them, so handing a
/// read to another thread costs one reference count, not one per message.
#[derive(Debug, Clone, Default)]
pub struct Messages {
    bytes: Bytes,
    spans: Vec<Span>,
}

/// Where one message's channel and payload lie in [`Messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    channel: (u32, u32),
    payload: (u32, u32),
}

impl Messages {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Payload bytes of all messages.
    pub fn payload_bytes(&self) -> usize {
        self.spans
            .iter()
            .map(|s| (s.payload.1 - s.payload.0) as usize)
            .sum()
    }

    /// Messages laid end to end, as a read would bring them (for tests of
    /// their consumers).
    #[cfg(test)]
    pub fn of(messages: &[(&[u8], &[u8])]) -> Messages {
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        let mut put = |b: &[u8]| {
            let start = bytes.len() as u32;
            bytes.extend_from_slice(b);
            (start, bytes.len() as u32)
        };
        for (channel, payload) in messages {
            let channel = put(channel);
            let payload = put(payload);
            spans.push(Span { channel, payload });
        }
        Messages {
            bytes: bytes.into(),
            spans,
        }
    }

    /// Message `i`: `(channel, payload)`.
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let s = self.spans.get(i)?;
        let at = |(a, b): (u32, u32)| &self.bytes[a as usize..b as usize];
        Some((at(s.channel), at(s.payload)))
    }
}

pub struct RespConn {
    stream: Box<dyn Stream>,
    buf: BytesMut,
}

/// Finds `\r\n` from `at`; returns the index of `\r`.
fn line_end(b: &[u8], at: usize) -> Option<usize> {
    memchr::memchr(b'\r', &b[at..]).map(|k| at + k)
}

fn int(line: &[u8]) -> Result<i64, RespError> {
    let bad = || RespError::Protocol(format!("bad number {:?}", String::from_utf8_lossy(line)));
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 18 {
        return Err(bad());
    }
    let mut n: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Ok(if negative { -n } else { n })
}

/// Parses one frame at the start of `b`: `Ok(None)` if more bytes are
/// needed, else the frame's end. Offsets only; nothing is copied.
fn frame_len(b: &[u8], at: usize) -> Result<Option<usize>, RespError> {
    let Some(kind) = b.get(at) else {
        return Ok(None);
    };
    let Some(eol) = line_end(b, at + 1) else {
        return Ok(None);
    };
    if b.len() < eol + 2 {
        return Ok(None);
    }
    let after = eol + 2;
    match kind {
        b'+' | b'-' | b':' => Ok(Some(after)),
        b'$' => {
            let n = int(&b[at + 1..eol])?;
            if n < 0 {
                return Ok(Some(after));
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > MAX_BULK {
                return Err(RespError::Protocol(format!("bulk string of {n} bytes")));
            }
            let end = after + n + 2;
            Ok((b.len() >= end).then_some(end))
        }
        b'*' => {
            let n = int(&b[at + 1..eol])?;
            let mut pos = after;
            for _ in 0..n.max(0) {
                match frame_len(b, pos)? {
                    Some(next) => pos = next,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        other => Err(RespError::Protocol(format!(
            "frame starting with {:?}",
            char::from(*other)
        ))),
    }
}

/// Builds the frame spanning `whole` (as found by [`frame_len`]).
fn build(whole: &Bytes, at: usize) -> Result<(Frame, usize), RespError> {
    let b = &whole[..];
    let eol = line_end(b, at + 1).ok_or_else(|| RespError::Protocol("truncated".into()))?;
    let line = whole.slice(at + 1..eol);
    let after = eol + 2;
    Ok(match b[at] {
        b'+' => (Frame::Simple(line), after),
        b'-' => (Frame::Error(line), after),
        b':' => (Frame::Integer(int(&line)?), after),
        b'$' => {
            let n = int(&line)?;
            if n < 0 {
                (Frame::Bulk(None), after)
            } else {
                let n = usize::try_from(n).unwrap_or(0);
                (
                    Frame::Bulk(Some(whole.slice(after..after + n))),
                    after + n + 2,
                )
            }
        }
        _ => {
            let n = int(&line)?;
            if n < 0 {
                return Ok((Frame::Array(None), after));
            }
            let mut items = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(16));
            let mut pos = after;
            for _ in 0..n {
                let (item, next) = build(whole, pos)?;
                items.push(item);
                pos = next;
            }
            (Frame::Array(Some(items)), pos)
        }
    })
}

fn command(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl RespConn {
    pub fn new(stream: Box<dyn Stream>) -> RespConn {
        RespConn {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// Sends one command and reads its reply; an error reply is an error.
    pub async fn call(&mut self, parts: &[&[u8]]) -> Result<Frame, RespError> {
        self.stream.write_all(&command(parts)).await?;
        match self.frame().await? {
            Frame::Error(e) => Err(RespError::Server(String::from_utf8_lossy(&e).into_owned())),
            frame => Ok(frame),
        }
    }

    /// The stream, for a client that takes it from here; only between
    /// replies, when nothing read is left unparsed.
    pub fn into_stream(self) -> Result<Box<dyn Stream>, RespError> {
        if !self.buf.is_empty() {
            return Err(RespError::Protocol(format!(
                "{} bytes nobody asked for",
                self.buf.len()
            )));
        }
        Ok(self.stream)
    }

    /// PSUBSCRIBE and wait for Redis to confirm.
    pub async fn psubscribe(&mut self, pattern: &str) -> Result<(), RespError> {
        self.stream
            .write_all(&command(&[b"PSUBSCRIBE", pattern.as_bytes()]))
            .await?;
        match self.frame().await? {
            Frame::Array(Some(items)) if matches!(items.first(), Some(Frame::Bulk(Some(k))) if &k[..] == b"psubscribe") => {
                Ok(())
            }
            Frame::Error(e) => Err(RespError::Server(String::from_utf8_lossy(&e).into_owned())),
            // A message can only come after the confirmation; anything
            // else is not what we asked for.
            other => Err(RespError::Protocol(format!("{other:?} to PSUBSCRIBE"))),
        }
    }

    /// The next frame, reading as needed.
    async fn frame(&mut self) -> Result<Frame, RespError> {
        loop {
            if let Some(end) = frame_len(&self.buf, 0)? {
                let whole = self.buf.split_to(end).freeze();
                return Ok(build(&whole, 0)?.0);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), RespError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(RespError::Closed);
        }
        Ok(())
    }

    /// Every message already received, waiting for more if there were
    /// none.
    pub async fn messages(&mut self) -> Result<Messages, RespError> {
        loop {
            let messages = cut_messages(&mut self.buf)?;
            if !messages.is_empty() {
                return Ok(messages);
            }
            self.fill().await?;
        }
    }
}

/// Cuts every complete frame off `buf` at once and keeps the messages
/// among them. A `pmessage` is read where it lies, in one pass; any other
/// frame is built (and only an error reply matters).
fn cut_messages(buf: &mut BytesMut) -> Result<Messages, RespError> {
    let mut spans = Vec::new();
    let mut pos = 0;
    loop {
        if let Some((span, end)) = pmessage_at(buf, pos) {
            spans.push(span);
            pos = end;
            continue;
        }
        let Some(end) = frame_len(buf, pos)? else {
            break;
        };
        let frame = Bytes::copy_from_slice(&buf[pos..end]);
        if let Frame::Error(e) = build(&frame, 0)?.0 {
            return Err(RespError::Server(String::from_utf8_lossy(&e).into_owned()));
        }
        pos = end;
    }
    let bytes = buf.split_to(pos).freeze();
    Ok(Messages { bytes, spans })
}

/// The complete `pmessage` frame at `at` of `b`, read in place: where its
/// channel and payload lie, and where it ends. `None` when `b` holds
/// anything else there (another frame, or only part of one).
fn pmessage_at(b: &[u8], at: usize) -> Option<(Span, usize)> {
    const HEAD: &[u8] = b"*4\r\n$8\r\npmessage\r\n";
    if !b.get(at..)?.starts_with(HEAD) {
        return None;
    }
    let (_, _, next) = bulk_at(b, at + HEAD.len())?;
    let (cs, ce, next) = bulk_at(b, next)?;
    let (ps, pe, end) = bulk_at(b, next)?;
    if b.get(pe..end)? != b"\r\n" || b.get(ce..ce + 2)? != b"\r\n" {
        return None;
    }
    let offset = |x: usize| u32::try_from(x).ok();
    let span = Span {
        channel: (offset(cs)?, offset(ce)?),
        payload: (offset(ps)?, offset(pe)?),
    };
    Some((span, end))
}

/// The bulk string at `at`: `(start, end)` of its data, and where the
/// next element starts; `None` if it is not one or not all there.
fn bulk_at(b: &[u8], at: usize) -> Option<(usize, usize, usize)> {
    if b.get(at) != Some(&b'$') {
        return None;
    }
    let eol = line_end(b, at + 1)?;
    let n = usize::try_from(int(b.get(at + 1..eol)?).ok()?).ok()?;
    if n > MAX_BULK {
        return None;
    }
    let start = eol + 2;
    let next = start + n + 2;
    (b.len() >= next).then_some((start, start + n, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(bytes: &[u8]) -> Option<Frame> {
        let b = Bytes::copy_from_slice(bytes);
        frame_len(&b, 0).unwrap().map(|_| build(&b, 0).unwrap().0)
    }

    #[test]
    fn pmessages_are_cut_from_the_buffer_and_partial_frames_wait() {
        let msg = b"*4\r\n$8\r\npmessage\r\n$13\r\n/0.celeryev/*\r\n$21\r\n/0.celeryev/task.sent\r\n$5\r\nhe\r\no\r\n";
        let confirm = b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n";
        let mut stream = Vec::new();
        stream.extend_from_slice(msg);
        stream.extend_from_slice(confirm);
        stream.extend_from_slice(msg);
        // Every cut of the stream: the whole frames before it come out as
        // messages, and the rest stays for the next read.
        for cut in 0..=stream.len() {
            let mut buf = BytesMut::from(&stream[..cut]);
            let got = cut_messages(&mut buf).unwrap();
            let whole = [msg.len(), msg.len() + confirm.len(), stream.len()]
                .iter()
                .filter(|end| **end <= cut)
                .count();
            let expected = [0, 1, 1, 2][whole];
            assert_eq!(got.len(), expected, "{cut} bytes");
            for i in 0..got.len() {
                let (channel, payload) = got.get(i).unwrap();
                assert_eq!(channel, b"/0.celeryev/task.sent");
                assert_eq!(payload, b"he\r\no", "payloads may hold CRLF");
            }
            let consumed = [0, msg.len(), msg.len() + confirm.len(), stream.len()][whole];
            assert_eq!(&buf[..], &stream[consumed..cut], "{cut} bytes");
        }
        let mut error = BytesMut::from(&b"-ERR no\r\n"[..]);
        assert!(matches!(
            cut_messages(&mut error),
            Err(RespError::Server(_))
        ));
    }

    /// A question gets its reply, an error reply is an error, and the
    /// stream is handed on only when nothing read is left over.
    #[tokio::test]
    async fn calls_read_their_reply_and_the_stream_is_handed_on_clean() {
        let (ours, mut server) = tokio::io::duplex(1024);
        let mut conn = RespConn::new(Box::new(ours));
        server
            .write_all(b"+PONG\r\n-ERR no such master\r\n")
            .await
            .unwrap();
        let pong = conn.call(&[b"PING"]).await.unwrap();
        assert_eq!(pong, Frame::Simple(Bytes::from_static(b"PONG")));
        let err = conn
            .call(&[b"SENTINEL", b"MASTER", b"x"])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "redis said: ERR no such master");
        let mut sent = vec![0; 64];
        let n = server.read(&mut sent).await.unwrap();
        assert!(sent[..n].starts_with(b"*1\r\n$4\r\nPING\r\n*3\r\n$8\r\nSENTINEL"));
        assert!(conn.into_stream().is_ok());
        let (ours, mut server) = tokio::io::duplex(1024);
        let mut conn = RespConn::new(Box::new(ours));
        server.write_all(b"+OK\r\n+EXTRA\r\n").await.unwrap();
        conn.call(&[b"PING"]).await.unwrap();
        assert!(conn.into_stream().is_err(), "a reply nobody asked for");
    }

    #[test]
    fn other_frames_parse_and_bad_ones_are_errors() {
        assert_eq!(
            frame_of(b"+OK\r\n"),
            Some(Frame::Simple(Bytes::from_static(b"OK")))
        );
        assert_eq!(frame_of(b":3\r\n"), Some(Frame::Integer(3)));
        assert_eq!(frame_of(b"$-1\r\n"), Some(Frame::Bulk(None)));
        assert_eq!(
            frame_of(b"-ERR nope\r\n"),
            Some(Frame::Error(Bytes::from_static(b"ERR nope")))
        );
        let sub = b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n";
        assert!(matches!(frame_of(sub), Some(Frame::Array(Some(items))) if items.len() == 3));
        assert!(frame_len(b"?what\r\n", 0).is_err());
        assert!(frame_len(b"$abc\r\n", 0).is_err());
        assert_eq!(
            command(&[b"PSUBSCRIBE", b"/0.celeryev/*"]),
            b"*2\r\n$10\r\nPSUBSCRIBE\r\n$13\r\n/0.celeryev/*\r\n"
        );
    }
}
