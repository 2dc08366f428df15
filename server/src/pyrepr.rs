//! Python literal reprs, as Celery's events carry args, kwargs and results:
//! `(2, 3)`, `{'a': [1, None]}`. Reads only literals (what
//! `ast.literal_eval` accepts: strings, bytes, numbers, True/False/None,
//! tuples, lists, dicts, sets); anything else, including saferepr's `...`
//! truncation marker, is refused. Pure.

use std::fmt::Write;

#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    /// Kept as written: Python ints have no size limit.
    Int(String),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<PyValue>),
    List(Vec<PyValue>),
    Set(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python literal at character {at}: {why}")]
pub struct ReprError {
    pub at: usize,
    pub why: &'static str,
}

/// Nesting deeper than this is refused (Celery cuts reprs at a few levels).
const MAX_DEPTH: usize = 64;

/// A JSON value as Python holds it once decoded: what Celery's `saferepr`
/// then prints (arrays are lists, objects dicts).
pub fn from_json(v: &serde_json::Value) -> PyValue {
    match v {
        serde_json::Value::Null => PyValue::None,
        serde_json::Value::Bool(b) => PyValue::Bool(*b),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => PyValue::Int(n.to_string()),
        serde_json::Value::Number(n) => PyValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => PyValue::Str(s.clone()),
        serde_json::Value::Array(a) => PyValue::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => PyValue::Dict(
            o.iter()
                .map(|(k, v)| (PyValue::Str(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}

pub fn parse(text: &str) -> Result<PyValue, ReprError> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
        src: text,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.at != p.s.len() {
        return Err(p.err("trailing text"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, why: &'static str) -> ReprError {
        ReprError { at: self.at, why }
    }

    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.at..].starts_with(word.as_bytes()) {
            let end = self.at + word.len();
            let boundary = self
                .s
                .get(end)
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
            if boundary {
                self.at = end;
                return true;
            }
        }
        false
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, ReprError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'(') => {
                let (items, trailing_comma) = self.sequence(b')', depth)?;
                Ok(if items.len() == 1 && !trailing_comma {
                    items.into_iter().next().unwrap_or(PyValue::None)
                } else {
                    PyValue::Tuple(items)
                })
            }
            Some(b'[') => Ok(PyValue::List(self.sequence(b']', depth)?.0)),
            Some(b'{') => self.dict_or_set(depth),
            Some(b'\'' | b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'b' | b'B') if matches!(self.s.get(self.at + 1), Some(b'\'' | b'"')) => {
                self.at += 1;
                Ok(PyValue::Bytes(self.bytes_literal()?))
            }
            Some(b'.') if self.s[self.at..].starts_with(b"...") => Err(self.err("truncated (...)")),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() || c == b'.' => self.number(),
            Some(_) => {
                if self.eat("None") {
                    Ok(PyValue::None)
                } else if self.eat("True") {
                    Ok(PyValue::Bool(true))
                } else if self.eat("False") {
                    Ok(PyValue::Bool(false))
                } else {
                    Err(self.err("not a literal"))
                }
            }
        }
    }

    /// Items up to `close`; also says whether a comma trailed the last one.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<(Vec<PyValue>, bool), ReprError> {
        self.at += 1;
        let mut items = Vec::new();
        let mut trailing = false;
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok((items, trailing));
            }
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    trailing = true;
                }
                Some(c) if c == close => trailing = false,
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    fn dict_or_set(&mut self, depth: usize) -> Result<PyValue, ReprError> {
        self.at += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(PyValue::Dict(Vec::new()));
        }
        let first = self.value(depth + 1)?;
        self.ws();
        if self.peek() != Some(b':') {
            let mut items = vec![first];
            loop {
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        self.ws();
                        if self.peek() == Some(b'}') {
                            self.at += 1;
                            return Ok(PyValue::Set(items));
                        }
                        items.push(self.value(depth + 1)?);
                    }
                    Some(b'}') => {
                        self.at += 1;
                        return Ok(PyValue::Set(items));
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        let mut pairs = Vec::new();
        let mut key = first;
        loop {
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            pairs.push((key, value));
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Ok(PyValue::Dict(pairs));
                    }
                    key = self.value(depth + 1)?;
                }
                Some(b'}') => {
                    self.at += 1;
                    return Ok(PyValue::Dict(pairs));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn number(&mut self) -> Result<PyValue, ReprError> {
        let start = self.at;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.at += 1;
        }
        let mut float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => {}
                b'.' | b'e' | b'E' => float = true,
                b'+' | b'-' if matches!(self.s[self.at - 1], b'e' | b'E') => {}
                _ => break,
            }
            self.at += 1;
        }
        let text = self.src[start..self.at].replace('_', "");
        if float {
            text.parse::<f64>()
                .map(PyValue::Float)
                .map_err(|_| ReprError {
                    at: start,
                    why: "bad number",
                })
        } else if text.trim_start_matches(['-', '+']).is_empty() {
            Err(ReprError {
                at: start,
                why: "bad number",
            })
        } else {
            Ok(PyValue::Int(text.trim_start_matches('+').to_string()))
        }
    }

    fn string(&mut self) -> Result<String, ReprError> {
        let bytes = self.quoted(false)?;
        String::from_utf8(bytes).map_err(|_| self.err("bad string"))
    }

    fn bytes_literal(&mut self) -> Result<Vec<u8>, ReprError> {
        self.quoted(true)
    }

    /// The contents of a quoted literal, escapes resolved (as UTF-8 for
    /// strings, raw for bytes).
    fn quoted(&mut self, bytes: bool) -> Result<Vec<u8>, ReprError> {
        let quote = self.s[self.at];
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.at += 1;
            if c == quote {
                return Ok(out);
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.at += 1;
            match e {
                b'\\' | b'\'' | b'"' => out.push(e),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'x' => {
                    let v = self.hex(2)?;
                    if bytes {
                        out.push(u8::try_from(v).unwrap_or(0));
                    } else {
                        push_char(&mut out, v).map_err(|_| self.err("bad escape"))?;
                    }
                }
                b'u' if !bytes => {
                    let v = self.hex(4)?;
                    push_char(&mut out, v).map_err(|_| self.err("bad escape"))?;
                }
                b'U' if !bytes => {
                    let v = self.hex(8)?;
                    push_char(&mut out, v).map_err(|_| self.err("bad escape"))?;
                }
                _ => return Err(self.err("unknown escape")),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Result<u32, ReprError> {
        let end = self.at + digits;
        let text = self
            .src
            .get(self.at..end)
            .ok_or_else(|| self.err("short escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad escape"))?;
        self.at = end;
        Ok(v)
    }
}

fn push_char(out: &mut Vec<u8>, code: u32) -> Result<(), ()> {
    let c = char::from_u32(code).ok_or(())?;
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    Ok(())
}

impl PyValue {
    /// Python's `str()` of the value.
    pub fn py_str(&self) -> String {
        match self {
            PyValue::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python's `repr()` of the value.
    pub fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        let seq = |out: &mut String, items: &[PyValue], open: &str, close: &str| {
            out.push_str(open);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                item.write_repr(out);
            }
            out.push_str(close);
        };
        match self {
            PyValue::None => out.push_str("None"),
            PyValue::Bool(true) => out.push_str("True"),
            PyValue::Bool(false) => out.push_str("False"),
            PyValue::Int(i) => out.push_str(i),
            PyValue::Float(f) => out.push_str(&float_repr(*f)),
            PyValue::Str(s) => str_repr(s, out),
            PyValue::Bytes(b) => {
                out.push('b');
                out.push('\'');
                for c in b {
                    match c {
                        b'\\' => out.push_str("\\\\"),
                        b'\'' => out.push_str("\\'"),
                        b'\n' => out.push_str("\\n"),
                        b'\r' => out.push_str("\\r"),
                        b'\t' => out.push_str("\\t"),
                        0x20..=0x7e => out.push(char::from(*c)),
                        _ => {
                            let _ = write!(out, "\\x{c:02x}");
                        }
                    }
                }
                out.push('\'');
            }
            PyValue::Tuple(items) if items.len() == 1 => {
                out.push('(');
                items[0].write_repr(out);
                out.push_str(",)");
            }
            PyValue::Tuple(items) => seq(out, items, "(", ")"),
            PyValue::List(items) => seq(out, items, "[", "]"),
            PyValue::Set(items) if items.is_empty() => out.push_str("set()"),
            PyValue::Set(items) => seq(out, items, "{", "}"),
            PyValue::Dict(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

/// Python's `repr()` of a float, which is also how its `json` module
/// writes one.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's shortest round-trip digits, in Python's layout: `1e-05`, `1e+16`.
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Python's quoting rule: single quotes unless the text has a single quote
/// and no double quote.
pub(crate) fn repr_quote(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

fn str_repr(s: &str, out: &mut String) {
    let quote = repr_quote(s.contains('\''), s.contains('"'));
    out.push(quote);
    for c in s.chars() {
        push_repr_char(c, quote, out);
    }
    out.push(quote);
}

/// One character of a string's repr inside `quote`s, escaped as Python
/// escapes it.
pub(crate) fn push_repr_char(c: char, quote: char, out: &mut String) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_parse_and_repr_back_as_python_writes_them() {
        let cases = [
            "(2, 3)",
            "[1, -2.5, None, True, False]",
            "{'a': 1, 'b': [1, 2], 'c': {'d': (1,)}}",
            "\"it's\"",
            "'line\\nbreak \\x00 \\u00e9'",
            "b'\\x00\\xffab'",
            "{1, 2}",
            "()",
            "{}",
            "12345678901234567890123",
            "1e-05",
        ];
        let want = [
            "(2, 3)",
            "[1, -2.5, None, True, False]",
            "{'a': 1, 'b': [1, 2], 'c': {'d': (1,)}}",
            "\"it's\"",
            "'line\\nbreak \\x00 é'",
            "b'\\x00\\xffab'",
            "{1, 2}",
            "()",
            "{}",
            "12345678901234567890123",
            "1e-05",
        ];
        for (text, want) in cases.iter().zip(want) {
            let v = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(v.py_repr(), want, "{text}");
        }
        assert_eq!(
            parse("(7)").unwrap(),
            PyValue::Int("7".into()),
            "parentheses, not a tuple"
        );
    }

    #[test]
    fn truncated_and_non_literal_reprs_are_refused() {
        for text in [
            "[0, 1, 2, ..., 999]",
            "{'a': [...]}",
            "datetime.datetime(2024, 1, 1)",
            "<object at 0x7f>",
            "(1, 2",
            "'open",
            "[1 2]",
            "{'a' 1}",
            "",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn str_of_a_value_is_its_text_for_strings_and_repr_otherwise() {
        assert_eq!(PyValue::Str("x y".into()).py_str(), "x y");
        assert_eq!(parse("[1, 'a']").unwrap().py_str(), "[1, 'a']");
    }
}
