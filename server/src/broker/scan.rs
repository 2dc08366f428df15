//! A JSON reader for one shape only: a Celery event body (an event object,
//! or a list of them) whose values are strings, numbers, booleans, null, or
//! `loadavg`'s list of three numbers. It reads each event once, borrowing
//! strings without escapes, and finds string ends with SIMD. Whenever it
//! meets anything else (a type it does not expect, a duplicate key, an
//! unusual escape, a syntax error) it gives up and returns `None`, and the
//! caller parses with serde instead; so its results are serde's results,
//! only faster. Pure.

use std::borrow::Cow;

use super::raw::RawEvent;

/// Nesting skipped in values of keys celadon does not read.
const MAX_SKIP_DEPTH: usize = 32;

/// The text is validated as UTF-8 once; strings are slices of it between
/// ASCII quotes, which are always character boundaries.
struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a [u8]) -> Option<Scanner<'a>> {
        // SIMD validation: std's reads a word at a time, a measurable
        // share of ingestion (docs/measurements.md).
        let s = simdutf8::basic::from_utf8(text).ok()?;
        Some(Scanner {
            s,
            b: s.as_bytes(),
            i: 0,
        })
    }
}

/// Bytes that end the plain run of a string: the closing quote, an escape,
/// or a control character (which JSON forbids in strings).
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Byte-parallel tests on 8 bytes at a time (SWAR): the lowest flagged
/// byte is always exact.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is below `n` (n ≤ 0x80).
fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// High bit set in each byte of `w` equal to `c`.
fn bytes_equal(w: u64, c: u8) -> u64 {
    bytes_below(w ^ (ONES * u64::from(c)), 1)
}

/// The object members celadon reads, in events and in envelopes, named by
/// their keys. Each has a bit in an object's `seen` mask, at its
/// discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Member {
    Type,
    Hostname,
    Timestamp,
    Utcoffset,
    Pid,
    Clock,
    Freq,
    Active,
    Processed,
    Loadavg,
    SwIdent,
    SwVer,
    SwSys,
    Uuid,
    Name,
    Args,
    Kwargs,
    RootId,
    ParentId,
    Retries,
    Eta,
    Expires,
    Queue,
    Exchange,
    RoutingKey,
    Result,
    Runtime,
    Exception,
    Traceback,
    Terminated,
    Signum,
    Expired,
    Requeue,
    Body,
    ContentType,
    Properties,
    BodyEncoding,
    /// Any key not above: skipped, never marked seen.
    Other,
}

/// Every key but [`Member::Other`], with its text.
const KEYS: [(Member, &[u8]); Member::Other as usize] = [
    (Member::Type, b"type"),
    (Member::Hostname, b"hostname"),
    (Member::Timestamp, b"timestamp"),
    (Member::Utcoffset, b"utcoffset"),
    (Member::Pid, b"pid"),
    (Member::Clock, b"clock"),
    (Member::Freq, b"freq"),
    (Member::Active, b"active"),
    (Member::Processed, b"processed"),
    (Member::Loadavg, b"loadavg"),
    (Member::SwIdent, b"sw_ident"),
    (Member::SwVer, b"sw_ver"),
    (Member::SwSys, b"sw_sys"),
    (Member::Uuid, b"uuid"),
    (Member::Name, b"name"),
    (Member::Args, b"args"),
    (Member::Kwargs, b"kwargs"),
    (Member::RootId, b"root_id"),
    (Member::ParentId, b"parent_id"),
    (Member::Retries, b"retries"),
    (Member::Eta, b"eta"),
    (Member::Expires, b"expires"),
    (Member::Queue, b"queue"),
    (Member::Exchange, b"exchange"),
    (Member::RoutingKey, b"routing_key"),
    (Member::Result, b"result"),
    (Member::Runtime, b"runtime"),
    (Member::Exception, b"exception"),
    (Member::Traceback, b"traceback"),
    (Member::Terminated, b"terminated"),
    (Member::Signum, b"signum"),
    (Member::Expired, b"expired"),
    (Member::Requeue, b"requeue"),
    (Member::Body, b"body"),
    (Member::ContentType, b"content-type"),
    (Member::Properties, b"properties"),
    (Member::BodyEncoding, b"body_encoding"),
];

/// A key of at most 15 bytes as one number (its bytes, little-endian, and
/// its length in the top byte): what [`Scanner::key`] reads in one go.
/// Longer keys get [`LONG_KEY`], which is none of ours.
const fn key_code(key: &[u8]) -> u128 {
    if key.len() > 15 {
        return LONG_KEY;
    }
    let mut code = (key.len() as u128) << 120;
    let mut i = 0;
    while i < key.len() {
        code |= (key[i] as u128) << (8 * i);
        i += 1;
    }
    code
}

/// The code of every key longer than 15 bytes.
const LONG_KEY: u128 = u128::MAX;

/// Finding a key is one multiplication into a table of 256 slots, where
/// the multiplier ([`KEY_SEED`], found at compile time) gives each of our
/// keys a slot of its own, and one comparison with that key's code: a
/// handful of instructions where a `match` on 33 codes of 128 bits took a
/// chain of comparisons.
const fn key_slot(code: u128, seed: u64) -> usize {
    let folded = (code as u64) ^ ((code >> 64) as u64).rotate_left(32);
    (folded.wrapping_mul(seed) >> 56) as usize
}

const KEY_SEED: u64 = {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut tries = 0;
    loop {
        let mut used = [false; 256];
        let mut clash = false;
        let mut i = 0;
        while i < KEYS.len() {
            let slot = key_slot(key_code(KEYS[i].1), seed);
            clash |= used[slot];
            used[slot] = true;
            i += 1;
        }
        if !clash {
            break seed;
        }
        tries += 1;
        assert!(tries < 100_000, "no multiplier separates the keys");
        seed = seed.wrapping_add(0x2545_F491_4F6C_DD1E);
    }
};

const KEY_SLOTS: [Member; 256] = {
    let mut slots = [Member::Other; 256];
    let mut i = 0;
    while i < KEYS.len() {
        slots[key_slot(key_code(KEYS[i].1), KEY_SEED)] = KEYS[i].0;
        i += 1;
    }
    slots
};

/// Each key's code, at its discriminant; [`Member::Other`]'s matches only
/// long keys, which are other keys too.
const KEY_CODES: [u128; Member::Other as usize + 1] = {
    let mut codes = [LONG_KEY; Member::Other as usize + 1];
    let mut i = 0;
    while i < KEYS.len() {
        codes[KEYS[i].0 as usize] = key_code(KEYS[i].1);
        i += 1;
    }
    codes
};

fn key_of(code: u128) -> Member {
    let key = KEY_SLOTS[key_slot(code, KEY_SEED)];
    if KEY_CODES[key as usize] == code {
        key
    } else {
        Member::Other
    }
}

/// `KEY_MASK[n]` keeps the low `n` bytes of a 16-byte word.
const KEY_MASK: [u128; 16] = {
    let mut masks = [0u128; 16];
    let mut n = 1;
    while n < 16 {
        masks[n] = u128::MAX >> (128 - 8 * n);
        n += 1;
    }
    masks
};

/// How far [`each_event`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// Every event was read and handed over.
    All,
    /// Nothing was handed over: read the whole body another way.
    Nothing,
    /// The events before byte `.0` of a list were handed over; what starts
    /// there (an event, or whatever stands where one should) was not.
    Until(usize),
}

/// Hands every event of `body` to `each`, in order, as far as it can.
/// Each is read into one slot that `each` may take from: events are
/// several hundred bytes, and moving each one whole from frame to frame
/// was a measurable share of ingestion (docs/measurements.md).
pub fn each_event<'a>(body: &'a [u8], mut each: impl FnMut(&mut RawEvent<'a>)) -> Scanned {
    let Some(mut s) = Scanner::new(body) else {
        return Scanned::Nothing;
    };
    let mut event = RawEvent::default();
    s.ws();
    if s.peek() != Some(b'[') {
        if s.event(&mut event).is_none() {
            return Scanned::Nothing;
        }
        s.ws();
        if s.i != s.b.len() {
            return Scanned::Nothing;
        }
        each(&mut event);
        return Scanned::All;
    }
    s.i += 1;
    s.ws();
    if s.peek() == Some(b']') {
        s.i += 1;
        s.ws();
        return if s.i == s.b.len() {
            Scanned::All
        } else {
            Scanned::Nothing
        };
    }
    let mut handed = false;
    loop {
        let start = s.i;
        if s.event(&mut event).is_none() {
            return if handed {
                Scanned::Until(start)
            } else {
                Scanned::Nothing
            };
        }
        // Separator first: an event followed by junk is not handed over.
        s.ws();
        let sep = s.peek();
        match sep {
            Some(b',') | Some(b']') => {
                s.i += 1;
                if sep == Some(b']') {
                    s.ws();
                    if s.i != s.b.len() {
                        return if handed {
                            Scanned::Until(start)
                        } else {
                            Scanned::Nothing
                        };
                    }
                    each(&mut event);
                    return Scanned::All;
                }
                each(&mut event);
                handed = true;
                s.ws();
            }
            _ => {
                return if handed {
                    Scanned::Until(start)
                } else {
                    Scanned::Nothing
                };
            }
        }
    }
}

/// Every event in `body`, or `None` where [`each_event`] could not read it
/// all (for tests).
#[cfg(test)]
pub fn events(body: &[u8]) -> Option<Vec<RawEvent<'_>>> {
    let mut out = Vec::new();
    (each_event(body, |e| out.push(std::mem::take(e))) == Scanned::All).then_some(out)
}

/// Marks `key` seen in an object, giving up (`None`) on a key seen twice:
/// serde errors on a duplicate field. (It would not for a key that this
/// object does not store, but giving up there costs only speed.)
macro_rules! first_time {
    ($seen:ident, $key:expr) => {{
        let key = $key;
        if key != Member::Other {
            let bit = 1u64 << key as u32;
            if $seen & bit != 0 {
                return None;
            }
            $seen |= bit;
        }
        key
    }};
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// The `:` after an object's key, with the whitespace around it.
    /// Python writes `": "`, taken in one comparison.
    fn colon(&mut self) -> Option<()> {
        if self.b.get(self.i..self.i + 2) == Some(b": ") {
            self.i += 2;
            return Some(());
        }
        self.ws();
        if self.next()? != b':' {
            return None;
        }
        self.ws();
        Some(())
    }

    /// What follows a member's value: `true` after a `,` and the
    /// whitespace up to the next key, `false` after the object's closing
    /// `}`. Python writes `, `, taken in one comparison.
    fn member_end(&mut self) -> Option<bool> {
        if self.b.get(self.i..self.i + 2) == Some(b", ") {
            self.i += 2;
            self.ws();
            return Some(true);
        }
        self.ws();
        match self.next()? {
            b',' => {
                self.ws();
                Some(true)
            }
            b'}' => Some(false),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// `null` → `Some(None)`.
    fn null(&mut self) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(true);
        }
        Some(false)
    }

    /// Where the plain run starting at `from` stops: the first quote,
    /// backslash or control character.
    fn stop(&self, from: usize) -> Option<usize> {
        let b = self.b;
        let mut k = from;
        while let Some(chunk) = b.get(k..k + 8) {
            let w = u64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
            let hits = bytes_equal(w, b'"') | bytes_equal(w, b'\\') | bytes_below(w, 0x20);
            if hits != 0 {
                return Some(k + (hits.trailing_zeros() / 8) as usize);
            }
            k += 8;
        }
        b[k..]
            .iter()
            .position(|c| STOP[usize::from(*c)])
            .map(|p| k + p)
    }

    /// An object key: which of ours it is.
    #[inline(always)]
    fn key(&mut self) -> Option<Member> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        // The usual key: short, plain, and followed by more text, read as
        // one 16-byte word whose first stop byte ends it.
        if let Some(chunk) = self.b.get(start..start + 16) {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(chunk);
            let word = u128::from_le_bytes(bytes);
            let stops =
                |w: u64| bytes_equal(w, b'"') | bytes_equal(w, b'\\') | bytes_below(w, 0x20);
            let (low, high) = (stops(word as u64), stops((word >> 64) as u64));
            let len = if low != 0 {
                (low.trailing_zeros() / 8) as usize
            } else {
                8 + (high.trailing_zeros() / 8) as usize
            };
            if len < 16 && bytes[len] == b'"' {
                self.i = start + len + 1;
                return Some(key_of((word & KEY_MASK[len]) | ((len as u128) << 120)));
            }
        }
        let end = self.stop(start)?;
        if self.b[end] == b'"' {
            self.i = end + 1;
            return Some(key_of(key_code(&self.b[start..end])));
        }
        // Escapes in a key: rare, decoded the long way.
        self.string().map(|k| key_of(key_code(k.as_bytes())))
    }

    /// Moves past a string (the scanner is at its opening quote) whose
    /// value is not needed.
    fn skip_string(&mut self) -> Option<()> {
        let start = self.i + 1;
        let end = self.stop(start)?;
        if self.b[end] == b'"' {
            self.i = end + 1;
            return Some(());
        }
        // Escapes (or junk): the full reader checks them.
        self.string().map(|_| ())
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.i;
        let end = self.stop(start)?;
        match self.b[end] {
            b'"' => {
                self.i = end + 1;
                // Quotes are ASCII, so both ends are character boundaries.
                self.s.get(start..end).map(Cow::Borrowed)
            }
            b'\\' => self.escaped(start),
            _ => None,
        }
    }

    /// A string with escapes, decoded; `start` is just after the opening
    /// quote.
    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let mut out = String::with_capacity(64);
        let mut i = start;
        loop {
            let next = self.stop(i)?;
            out.push_str(self.s.get(i..next)?);
            match self.b[next] {
                b'"' => {
                    self.i = next + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {}
                _ => return None,
            }
            let e = *self.b.get(next + 1)?;
            i = next + 2;
            match e {
                b'"' | b'\\' | b'/' => out.push(char::from(e)),
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'u' => {
                    let unit = hex4(self.b.get(i..i + 4)?)?;
                    i += 4;
                    let code = if (0xD800..0xDC00).contains(&unit) {
                        // A high surrogate must be followed by a low one.
                        if self.b.get(i..i + 2)? != b"\\u" {
                            return None;
                        }
                        let low = hex4(self.b.get(i + 2..i + 6)?)?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..0xE000).contains(&unit) {
                        return None;
                    } else {
                        unit
                    };
                    out.push(char::from_u32(code)?);
                }
                _ => return None,
            }
        }
    }

    /// A JSON number, checked against JSON's grammar: its text, and,
    /// when it has no exponent and at most 19 digits (so no overflow), its
    /// digits as one integer and how many of them follow the point.
    fn number(&mut self) -> Option<(&'a str, Option<(u64, usize)>)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let mut w = self.digits(0);
        let int_digits = self.i - int_start;
        if int_digits == 0 || (int_digits > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut k = 0;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let fraction_start = self.i;
            w = self.digits(w);
            k = self.i - fraction_start;
            if k == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let exponent_start = self.i;
            self.digits(0);
            if self.i == exponent_start {
                return None;
            }
        }
        let digits = (!exponent && int_digits + k <= 19).then_some((w, k));
        Some((self.s.get(start..self.i)?, digits))
    }

    /// Moves past ASCII digits, accumulating them onto `w` (wrapping: the
    /// value is only used when there are at most 19 digits).
    fn digits(&mut self, mut w: u64) -> u64 {
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            w = w.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        w
    }

    fn float(&mut self) -> Option<Option<f64>> {
        if self.null()? {
            return Some(None);
        }
        let (text, digits) = self.number()?;
        let quick = digits.and_then(|(w, k)| quick_float(w, k));
        let v = match quick {
            Some(v) if text.starts_with('-') => -v,
            Some(v) => v,
            None => text.parse().ok()?,
        };
        v.is_finite().then_some(Some(v))
    }

    /// An integer of type `T`; a fraction, an exponent or a value out of
    /// range is serde's error.
    fn int<T: TryFrom<i64>>(&mut self) -> Option<Option<T>> {
        if self.null()? {
            return Some(None);
        }
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let start = self.i;
        let mut value: i64 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        T::try_from(if negative { -value } else { value })
            .ok()
            .map(Some)
    }

    fn bool(&mut self) -> Option<Option<bool>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            _ => None,
        }
    }

    fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null()? {
            return Some(None);
        }
        self.string().map(Some)
    }

    fn loadavg(&mut self) -> Option<Option<[f64; 3]>> {
        if self.null()? {
            return Some(None);
        }
        if self.next()? != b'[' {
            return None;
        }
        let mut v = [0.0; 3];
        for (k, slot) in v.iter_mut().enumerate() {
            self.ws();
            *slot = self.float()??;
            self.ws();
            let sep = self.next()?;
            if (k < 2 && sep != b',') || (k == 2 && sep != b']') {
                return None;
            }
        }
        Some(Some(v))
    }

    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_SKIP_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'[' | b'{' => {
                let close = if self.next()? == b'[' { b']' } else { b'}' };
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if close == b'}' {
                        self.ws();
                        if self.peek()? != b'"' {
                            return None;
                        }
                        self.skip_string()?;
                        self.ws();
                        if self.next()? != b':' {
                            return None;
                        }
                        self.ws();
                    }
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => self.number().map(|_| ()),
        }
    }

    /// Reads one event into `e`, cleared first; after `None` it holds part
    /// of one, not to be handed over.
    fn event(&mut self, e: &mut RawEvent<'a>) -> Option<()> {
        *e = RawEvent::default();
        if self.next()? != b'{' {
            return None;
        }
        let mut kind: Option<Cow<'a, str>> = None;
        let mut seen = 0u64;
        self.ws();
        if self.peek()? == b'}' {
            return None; // no type: serde errors
        }
        loop {
            let key = first_time!(seen, self.key()?);
            self.colon()?;
            match key {
                Member::Type => kind = Some(self.string()?),
                Member::Hostname => e.hostname = self.opt_string()?,
                Member::Timestamp => e.timestamp = self.float()?,
                Member::Utcoffset => e.utcoffset = self.float()?,
                Member::Pid => e.pid = self.int()?,
                Member::Clock => e.clock = self.int()?,
                Member::Freq => e.freq = self.float()?,
                Member::Active => e.active = self.int()?,
                Member::Processed => e.processed = self.int()?,
                Member::Loadavg => e.loadavg = self.loadavg()?,
                Member::SwIdent => e.sw_ident = self.opt_string()?,
                Member::SwVer => e.sw_ver = self.opt_string()?,
                Member::SwSys => e.sw_sys = self.opt_string()?,
                Member::Uuid => e.uuid = self.opt_string()?,
                Member::Name => e.name = self.opt_string()?,
                Member::Args => e.args = self.opt_string()?,
                Member::Kwargs => e.kwargs = self.opt_string()?,
                Member::RootId => e.root_id = self.opt_string()?,
                Member::ParentId => e.parent_id = self.opt_string()?,
                Member::Retries => e.retries = self.int()?,
                Member::Eta => e.eta = self.opt_string()?,
                Member::Expires => e.expires = self.opt_string()?,
                Member::Queue => e.queue = self.opt_string()?,
                Member::Exchange => e.exchange = self.opt_string()?,
                Member::RoutingKey => e.routing_key = self.opt_string()?,
                Member::Result => e.result = self.opt_string()?,
                Member::Runtime => e.runtime = self.float()?,
                Member::Exception => e.exception = self.opt_string()?,
                Member::Traceback => e.traceback = self.opt_string()?,
                Member::Terminated => e.terminated = self.bool()?,
                Member::Signum => e.signum = self.int()?,
                Member::Expired => e.expired = self.bool()?,
                Member::Requeue => e.requeue = self.bool()?,
                _ => self.skip(0)?,
            }
            if !self.member_end()? {
                break;
            }
        }
        e.kind = kind?;
        Some(())
    }
}

/// What an envelope's members after `body` say.
#[derive(Debug, Default)]
pub struct EnvelopeRest<'a> {
    pub content_type: Option<Cow<'a, str>>,
    pub body_encoding: Option<Cow<'a, str>>,
    /// Where the value of the last member starts, when it is a string that
    /// decides nothing above (in Celery's layout, the delivery tag, new in
    /// every message): the members before it decide the rest.
    pub skipped_last: Option<usize>,
}

/// `content-type` and `properties.body_encoding` from `members`: the
/// envelope's members after `body`, up to and including its closing `}`.
/// `None` to take the serde path.
pub fn envelope_rest(members: &[u8]) -> Option<EnvelopeRest<'_>> {
    let mut s = Scanner::new(members)?;
    let mut rest = EnvelopeRest::default();
    let mut seen = 0u64;
    s.ws();
    if s.peek()? != b'}' {
        loop {
            s.ws();
            let key = first_time!(seen, s.key()?);
            s.ws();
            if s.next()? != b':' {
                return None;
            }
            s.ws();
            rest.skipped_last = None;
            match key {
                Member::ContentType => rest.content_type = s.opt_string()?,
                Member::Properties => {
                    (rest.body_encoding, rest.skipped_last) = s.properties_encoding()?;
                }
                Member::Body => return None,
                _ => rest.skipped_last = s.skip_noting_string()?,
            }
            s.ws();
            match s.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    } else {
        s.i += 1;
    }
    s.ws();
    (s.i == s.b.len()).then_some(rest)
}

impl<'a> Scanner<'a> {
    /// `body_encoding` inside the `properties` object, and where its last
    /// member's value starts if it is a skipped string.
    fn properties_encoding(&mut self) -> Option<(Option<Cow<'a, str>>, Option<usize>)> {
        if self.next()? != b'{' {
            return None;
        }
        let mut encoding = None;
        let mut skipped_last;
        let mut seen = 0u64;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some((None, None));
        }
        loop {
            self.ws();
            let key = first_time!(seen, self.key()?);
            self.ws();
            if self.next()? != b':' {
                return None;
            }
            self.ws();
            if key == Member::BodyEncoding {
                encoding = self.opt_string()?;
                skipped_last = None;
            } else {
                skipped_last = self.skip_noting_string()?;
            }
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Some((encoding, skipped_last)),
                _ => return None,
            }
        }
    }

    /// Skips a value; where it starts if it is a string.
    fn skip_noting_string(&mut self) -> Option<Option<usize>> {
        let at = self.i;
        self.skip(0)?;
        Some((self.b[at] == b'"').then_some(at))
    }
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Powers of ten as integers, for [`nearest`].
const POW10_INT: [u128; 23] = {
    let mut t = [1u128; 23];
    let mut k = 1;
    while k < 23 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `w / 10^k` (the digits of a JSON number without an exponent, and how
/// many of them follow the point: every timestamp, runtime and offset
/// Celery sends) as the nearest `f64`, by one division whose result is
/// then proven nearest with integer arithmetic; `None` when the proof
/// fails, and the caller parses the text the long way. Either way the
/// value is the one `str::parse` gives, at a fraction of its cost.
fn quick_float(w: u64, k: usize) -> Option<f64> {
    if k == 0 {
        // An integer converts with one rounding, to nearest.
        return Some(w as f64);
    }
    let r = w as f64 / *POW10.get(k)?;
    (w == 0 || nearest(w, k, r)).then_some(r)
}

/// Whether `r` is the `f64` nearest to `w / 10^k` (ties to even).
fn nearest(w: u64, k: usize, r: f64) -> bool {
    let bits = r.to_bits();
    let biased = (bits >> 52) & 0x7ff;
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    // Subnormals, and powers of two (whose gap below is half the gap
    // above), are left to the long way.
    if biased == 0 || m == 1 << 52 {
        return false;
    }
    // r = m · 2^-shift; only fractions of a modest size are checked.
    let Some(shift) = 1075u64.checked_sub(biased).filter(|s| *s <= 62) else {
        return false;
    };
    let p = POW10_INT[k];
    // |w/p − r| against half a unit in the last place, everything
    // multiplied by 2·p·2^shift to stay in integers.
    let lhs = u128::from(w) << (shift + 1);
    let Some(rhs) = u128::from(m).checked_mul(p).and_then(|x| x.checked_mul(2)) else {
        return false;
    };
    let d = lhs.abs_diff(rhs);
    d < p || (d == p && m.is_multiple_of(2))
}

fn hex4(b: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;

    /// serde's reading of a body, the reference.
    fn serde_events(body: &[u8]) -> Option<Vec<RawEvent<'_>>> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first == b'[' {
            serde_json::from_slice(body).ok()
        } else {
            serde_json::from_slice(body).ok().map(|e| vec![e])
        }
    }

    /// A tiny deterministic generator (xorshift), enough for varied input.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[(self.next() % items.len() as u64) as usize]
        }
    }

    const KEYS: [&str; 36] = [
        "type",
        "hostname",
        "timestamp",
        "utcoffset",
        "pid",
        "clock",
        "freq",
        "active",
        "processed",
        "loadavg",
        "sw_ident",
        "sw_ver",
        "sw_sys",
        "uuid",
        "name",
        "args",
        "kwargs",
        "root_id",
        "parent_id",
        "retries",
        "eta",
        "expires",
        "queue",
        "exchange",
        "routing_key",
        "result",
        "runtime",
        "exception",
        "traceback",
        "terminated",
        "signum",
        "expired",
        "requeue",
        "unknown",
        "extra_nested",
        "type",
    ];

    fn text(r: &mut Rng) -> String {
        let parts = [
            "a",
            "tasks.add",
            "é",
            "\"q\"",
            "back\\slash",
            "line\nbreak",
            "tab\t",
            "😀",
            "<script>",
            "\u{1}",
            " ",
        ];
        (0..r.next() % 6).map(|_| *r.pick(&parts)).collect()
    }

    fn value(r: &mut Rng, depth: u32) -> Value {
        match r.next() % 12 {
            0 => Value::Null,
            1 => json!(r.next().is_multiple_of(2)),
            2 => json!(r.next() % 100_000),
            3 => json!(-((r.next() % 1000) as i64)),
            4 => json!((r.next() % 1_000_000) as f64 / 7.0),
            5 => json!(1.795e9 + (r.next() % 1000) as f64 / 3.0),
            6 if depth < 3 => {
                Value::Array((0..r.next() % 4).map(|_| value(r, depth + 1)).collect())
            }
            7 if depth < 3 => {
                let mut m = Map::new();
                for _ in 0..r.next() % 3 {
                    m.insert(text(r), value(r, depth + 1));
                }
                Value::Object(m)
            }
            8 => json!([0.5, 1.25, (r.next() % 10) as f64]),
            _ => Value::String(text(r)),
        }
    }

    /// Python's `json.dumps` (ASCII only, `\uXXXX` escapes, surrogates).
    fn python(v: &Value) -> String {
        match v {
            Value::String(s) => {
                let mut out = String::from("\"");
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                            let mut buf = [0u16; 2];
                            for u in c.encode_utf16(&mut buf) {
                                out.push_str(&format!("\\u{u:04x}"));
                            }
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            Value::Array(a) => format!("[{}]", a.iter().map(python).collect::<Vec<_>>().join(", ")),
            Value::Object(o) => format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("{}: {}", python(&Value::String(k.clone())), python(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }

    /// A value of the type the key should have, most of the time.
    fn typed(r: &mut Rng, key: &str) -> Value {
        if r.next().is_multiple_of(5) {
            return value(r, 0);
        }
        match key {
            "timestamp" | "utcoffset" | "freq" | "runtime" => {
                json!((r.next() % 10_000_000) as f64 / 3.0)
            }
            "pid" | "clock" | "active" | "processed" | "retries" => json!(r.next() % 100_000),
            "signum" => json!((r.next() % 64) as i64 - 32),
            "terminated" | "expired" | "requeue" => json!(r.next().is_multiple_of(2)),
            "loadavg" => json!([0.5, (r.next() % 100) as f64 / 8.0, 2.0]),
            "unknown" | "extra_nested" => value(r, 0),
            _ => Value::String(text(r)),
        }
    }

    /// Separators between an event's members and after its keys: Python's,
    /// compact, and unusual whitespace.
    const LAYOUTS: [(&str, &str); 3] = [(", ", ": "), (",", ":"), (" ,\n\t", " :\r ")];

    fn random_event(r: &mut Rng) -> String {
        let (comma, colon) = *r.pick(&LAYOUTS);
        let mut fields = vec![(
            "type".to_string(),
            json!(
                r.pick(&["task-received", "worker-heartbeat", "task-custom"])
                    .to_string()
            ),
        )];
        for _ in 0..r.next() % 10 {
            let key = r.pick(&KEYS[1..]).to_string();
            let v = typed(r, &key);
            fields.push((key, v));
        }
        if r.next().is_multiple_of(2) {
            let other = (r.next() % fields.len() as u64) as usize;
            fields.swap(0, other);
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}{colon}{}", python(&Value::String(k.clone())), python(v)))
            .collect();
        format!("{{{}}}", body.join(comma))
    }

    #[test]
    fn whatever_the_scanner_reads_serde_reads_the_same() {
        let mut r = Rng(0x5eed_1234_abcd_9876);
        let (mut fast, mut total) = (0, 0);
        for _ in 0..20_000 {
            let n = r.next() % 4;
            let events: Vec<String> = (0..n.max(1)).map(|_| random_event(&mut r)).collect();
            let body = if n == 0 {
                events[0].clone()
            } else {
                format!("[{}]", events.join(", "))
            };
            total += 1;
            let Some(ours) = events_of(body.as_bytes()) else {
                continue;
            };
            fast += 1;
            let reference = serde_events(body.as_bytes());
            assert_eq!(Some(ours), reference, "{body}");
        }
        eprintln!("fast path: {fast} of {total}");
        assert!(
            fast > total / 4,
            "the fast path takes a fair share: {fast} of {total}"
        );
    }

    #[test]
    fn any_whitespace_around_separators_takes_the_fast_path() {
        for body in [
            r#"{"type":"task-started","uuid":"a","clock":3}"#,
            "{ \"type\" :\t\"task-started\" ,\n\"uuid\": \"a\",\r\n \"clock\" : 3 }",
        ] {
            let ours = events_of(body.as_bytes()).unwrap_or_else(|| panic!("{body}"));
            assert_eq!(Some(ours), serde_events(body.as_bytes()), "{body}");
        }
    }

    fn events_of(body: &[u8]) -> Option<Vec<RawEvent<'_>>> {
        events(body)
    }

    #[test]
    fn every_captured_body_takes_the_fast_path_and_agrees() {
        let dir = format!("{}/fixtures/events", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let Some(raw) = doc["raw"].as_str() else {
                continue;
            };
            let body = crate::broker::envelope::decode_body(raw.as_bytes()).unwrap();
            let ours = events(&body).unwrap_or_else(|| panic!("{} fell back", path.display()));
            assert_eq!(Some(ours), serde_events(&body), "{}", path.display());
        }
    }

    #[test]
    fn quick_floats_are_the_nearest_like_the_standard_parser() {
        let mut r = Rng(0xf10a_7000_1234_5678);
        let mut quick = 0;
        let mut check = |text: &str| {
            let expected: f64 = text.parse().unwrap();
            let mut s = Scanner::new(text.as_bytes()).unwrap();
            let v = s.float().unwrap().unwrap();
            assert_eq!(v.to_bits(), expected.to_bits(), "{text}");
            assert_eq!(s.i, text.len());
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let k = text.split_once('.').map_or(0, |(_, f)| f.len());
            if digits.len() <= 19 && quick_float(digits.parse().unwrap(), k).is_some() {
                quick += 1;
            }
        };
        for text in [
            "0.0",
            "-0.0",
            "0",
            "1795274093.0944142",
            "0.011028618999944229",
            "2.0",
            "1e5",
            "9007199254740993",
            "1844674407370955161",
            "18446744073709551616",
            "0.1",
            "-3.25",
            "1.5e3",
            "-0.25E-2",
        ] {
            check(text);
        }
        for _ in 0..300_000 {
            let digits = 1 + r.next() % 21;
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + (r.next() % 10) as u8))
                .collect();
            let point = r.next() % (digits + 1);
            if text.starts_with('0') && point != 1 {
                text.replace_range(..1, "1");
            }
            if point > 0 && point < digits {
                text.insert(point as usize, '.');
            }
            if r.next().is_multiple_of(4) {
                text.insert(0, '-');
            }
            check(&text);
        }
        assert!(quick > 200_000, "most numbers take the quick way: {quick}");
    }

    #[test]
    fn every_key_finds_itself_and_no_other_text_finds_a_key() {
        for (i, (key, text)) in super::KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i, "KEYS is in discriminant order");
            assert_eq!(key_of(key_code(text)), *key);
        }
        for other in [
            &b""[..],
            b"typ",
            b"types",
            b"delivery_mode",
            b"delivery_tag",
            b"content-encoding",
            b"hostname_suffix",
            b"Type",
        ] {
            assert_eq!(key_of(key_code(other)), Member::Other, "{other:?}");
        }
    }

    #[test]
    fn keys_are_read_whole_at_any_length_and_with_escapes() {
        for body in [
            // Escaped keys are the keys they spell.
            r#"{"typ\u0065": "task-sent", "\u0075uid": "u1"}"#,
            // Keys of 15 and 16 bytes, and prefixes of ours, are not ours.
            r#"{"type": "x", "hostname_suffix": "a", "hostname_suffix2": "b", "nam": "c"}"#,
            // A key ending at the end of the text's 16-byte window.
            r#"{"type": "x", "name": "n","#,
            r#"{"": 1, "type": "x"}"#,
        ] {
            assert_eq!(
                events(body.as_bytes()),
                serde_events(body.as_bytes()),
                "{body}"
            );
        }
        let read = events(br#"{"typ\u0065": "task-sent", "\u0075uid": "u1"}"#).unwrap();
        assert_eq!(
            (read[0].kind.as_ref(), read[0].uuid.as_deref()),
            ("task-sent", Some("u1"))
        );
        let read = events(br#"{"type": "x", "hostname_suffix": "a", "nam": "c"}"#).unwrap();
        assert_eq!(
            (read[0].hostname.as_deref(), read[0].name.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn malformed_bodies_fall_back() {
        for body in [
            "",
            "[",
            "[{\"type\": \"x\"},]",
            "{\"type\": 1}",
            "{\"type\": \"x\", \"pid\": 1.5}",
            "{\"type\": \"x\", \"pid\": -1}",
            "{\"type\": \"x\", \"loadavg\": [1, 2]}",
            "{\"type\": \"x\", \"name\": \"a\", \"name\": \"b\"}",
            "{\"type\": \"x\"} trailing",
            "{\"type\": \"\\ud800\"}",
            "{\"type\": \"raw\ncontrol\"}",
            "{}",
            "{\"type\": \"x\", \"timestamp\": 1e999}",
        ] {
            assert!(events(body.as_bytes()).is_none(), "{body:?}");
        }
    }
}
