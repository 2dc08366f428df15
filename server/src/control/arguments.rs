//! A task call's arguments as JSON text, `args` (a list) and `kwargs` (an
//! object), kept exactly as their source wrote them. A retry re-sends
//! these bytes and never a re-serialisation: serde_json's `Value` sorts
//! object keys and respells numbers (`1e-07` as `1e-7`), and Python code
//! that iterates a dict sees the difference. The texts are checked once,
//! when an `Arguments` is made, to be one JSON value of the right shape,
//! so a message built from them is always one a worker can decode. From
//! a Python repr (the events), the text is what Python's `json.dumps`
//! (Celery's serializer) writes for those values, in their order.

use std::fmt::Write;

use serde_json::value::RawValue;

use crate::pyrepr::{self, PyValue};

/// The third element of a task body when the task has no callbacks,
/// errbacks, chain or chord, as Celery writes it.
const NO_EMBED: &str = r#"{"callbacks": null, "errbacks": null, "chain": null, "chord": null}"#;

/// Arguments no `Value` round trip keeps, for tests: keys out of order at
/// every depth, integers past 2^53 and 2^63, Python's float spellings,
/// escapes, and text beyond ASCII both raw and escaped.
#[cfg(test)]
pub(crate) const TRICKY_ARGS: &str = r#"[9007199254740993, 9223372036854775807, -9223372036854775808, 9223372036854775808, 1e-07, 2.5e+300, "a\"b\\c\n\u0001", "héllo ☃ 𝄞", "h\u00e9llo \u2603 \ud834\udd1e"]"#;
#[cfg(test)]
pub(crate) const TRICKY_KWARGS: &str =
    r#"{"zkw": {"b": 1, "a": [{"d": 2, "c": 3}]}, "akw": {"y": [], "x": {}}}"#;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arguments {
    /// One JSON array, nothing around it.
    args: Box<str>,
    /// One JSON object, nothing around it.
    kwargs: Box<str>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentsError {
    #[error("args must be a JSON list")]
    ArgsNotList,
    #[error("kwargs must be a JSON object")]
    KwargsNotObject,
    #[error("not JSON: {0}")]
    NotJson(String),
}

impl Default for Arguments {
    /// No arguments: `[]` and `{}`.
    fn default() -> Arguments {
        Arguments {
            args: "[]".into(),
            kwargs: "{}".into(),
        }
    }
}

impl Arguments {
    /// From JSON values a parser kept as text (a `RawValue` holds one
    /// valid JSON value, without the whitespace around it).
    pub fn from_raw(args: Box<RawValue>, kwargs: Box<RawValue>) -> Result<Self, ArgumentsError> {
        Arguments::from_raw_or_none(Some(args), Some(kwargs))
    }

    /// As [`Arguments::from_raw`], where `None` stands for no arguments.
    pub fn from_raw_or_none(
        args: Option<Box<RawValue>>,
        kwargs: Option<Box<RawValue>>,
    ) -> Result<Self, ArgumentsError> {
        let args = match args {
            Some(a) => shaped(a, '[', ArgumentsError::ArgsNotList)?,
            None => "[]".into(),
        };
        let kwargs = match kwargs {
            Some(k) => shaped(k, '{', ArgumentsError::KwargsNotObject)?,
            None => "{}".into(),
        };
        Ok(Arguments { args, kwargs })
    }

    /// From JSON texts, checked.
    pub fn from_text(args: String, kwargs: String) -> Result<Self, ArgumentsError> {
        let raw =
            |text| RawValue::from_string(text).map_err(|e| ArgumentsError::NotJson(e.to_string()));
        Arguments::from_raw(raw(args)?, raw(kwargs)?)
    }

    /// From Python literals (the events' reprs): the JSON text Celery's
    /// serializer would have sent for them, in their order, or why JSON
    /// cannot carry them.
    pub fn from_py(args: &PyValue, kwargs: &PyValue) -> Result<Self, String> {
        let args = match args {
            PyValue::Tuple(_) | PyValue::List(_) => {
                dumps(args).map_err(|e| format!("args: {e}"))?
            }
            _ => return Err("args: not a tuple or list".into()),
        };
        let kwargs = match kwargs {
            PyValue::Dict(_) => dumps(kwargs).map_err(|e| format!("kwargs: {e}"))?,
            _ => return Err("kwargs: not a dict".into()),
        };
        Arguments::from_text(args, kwargs).map_err(|e| e.to_string())
    }

    pub fn args(&self) -> &str {
        &self.args
    }

    pub fn kwargs(&self) -> &str {
        &self.kwargs
    }

    /// The task body of protocol 2, `[args, kwargs, embed]`, laid out as
    /// Celery lays it out, with the two texts as they are.
    pub fn body(&self) -> String {
        format!("[{}, {}, {NO_EMBED}]", self.args, self.kwargs)
    }
}

/// `json` as text, if it is a container opened by `open`.
fn shaped(
    json: Box<RawValue>,
    open: char,
    error: ArgumentsError,
) -> Result<Box<str>, ArgumentsError> {
    if json.get().starts_with(open) {
        Ok(json.into())
    } else {
        Err(error)
    }
}

/// The JSON text Python's `json.dumps` writes for `v`, or why JSON cannot
/// carry it. Dict keys must be strings: `json.dumps` would turn `1` into
/// `"1"`, which is not the value the task was called with.
fn dumps(v: &PyValue) -> Result<String, &'static str> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &PyValue, out: &mut String) -> Result<(), &'static str> {
    match v {
        PyValue::None => out.push_str("null"),
        PyValue::Bool(true) => out.push_str("true"),
        PyValue::Bool(false) => out.push_str("false"),
        PyValue::Int(text) => {
            // As Python's int() reads the literal: no `+`, no leading zeros.
            let (minus, digits) = match text.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, text.trim_start_matches('+')),
            };
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err("an integer Python would not write");
            }
            let digits = digits.trim_start_matches('0');
            match digits {
                "" => out.push('0'),
                d if minus => {
                    out.push('-');
                    out.push_str(d);
                }
                d => out.push_str(d),
            }
        }
        PyValue::Float(f) if f.is_finite() => out.push_str(&pyrepr::float_repr(*f)),
        PyValue::Float(_) => return Err("a float JSON cannot carry (nan or inf)"),
        PyValue::Str(s) => write_string(s, out),
        PyValue::Bytes(_) => return Err("bytes, which JSON cannot carry"),
        PyValue::Set(_) => return Err("a set, which JSON cannot carry"),
        PyValue::Tuple(items) | PyValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        PyValue::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                let PyValue::Str(k) = k else {
                    return Err("a dict key that is not a string");
                };
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(k, out);
                out.push_str(": ");
                write_json(v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A string as `json.dumps` writes it with `ensure_ascii` (its default, and
/// Celery's): printable ASCII as is, the rest escaped, UTF-16 for `\u`.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn only_a_list_and_an_object_are_arguments() {
        assert!(Arguments::from_raw(raw("[1]"), raw("{}")).is_ok());
        assert_eq!(
            Arguments::from_raw(raw("{}"), raw("{}")),
            Err(ArgumentsError::ArgsNotList)
        );
        assert_eq!(
            Arguments::from_raw(raw("[]"), raw("[]")),
            Err(ArgumentsError::KwargsNotObject)
        );
        assert_eq!(
            Arguments::from_raw(raw("\"[\""), raw("{}")),
            Err(ArgumentsError::ArgsNotList)
        );
        assert!(matches!(
            Arguments::from_text("[1,".into(), "{}".into()),
            Err(ArgumentsError::NotJson(_))
        ));
        let spaced = Arguments::from_text(" [1] ".into(), "\n{}".into()).unwrap();
        assert_eq!((spaced.args(), spaced.kwargs()), ("[1]", "{}"));
    }

    #[test]
    fn the_body_is_the_two_texts_as_they_are_and_celerys_embed() {
        let a = Arguments::from_text(TRICKY_ARGS.into(), TRICKY_KWARGS.into()).unwrap();
        assert_eq!(a.args().as_bytes(), TRICKY_ARGS.as_bytes());
        assert_eq!(a.kwargs().as_bytes(), TRICKY_KWARGS.as_bytes());
        assert_eq!(
            a.body().as_bytes(),
            format!("[{TRICKY_ARGS}, {TRICKY_KWARGS}, {NO_EMBED}]").as_bytes()
        );
        // The body of `add(2, 3)` as Celery sent it (fixtures/task-messages/add).
        let add = Arguments::from_text("[2, 3]".into(), "{}".into()).unwrap();
        assert_eq!(
            add.body(),
            r#"[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]"#
        );
        assert_eq!(Arguments::default().body(), add.body().replace("2, 3", ""));
    }

    #[test]
    fn literals_are_written_as_pythons_json_dumps_writes_them() {
        for (literal, want) in [
            (
                "({'zkw': {'b': 1, 'a': [{'d': 2, 'c': 3}]}, 'akw': {'y': [], 'x': {}}},)",
                r#"[{"zkw": {"b": 1, "a": [{"d": 2, "c": 3}]}, "akw": {"y": [], "x": {}}}]"#,
            ),
            (
                "(9007199254740993, 9223372036854775808, -9223372036854775808, 1_000, 007, -0)",
                "[9007199254740993, 9223372036854775808, -9223372036854775808, 1000, 7, 0]",
            ),
            (
                "[1e-07, 2.5e+300, 1.0, -0.0, 1e16, 0.1]",
                "[1e-07, 2.5e+300, 1.0, -0.0, 1e+16, 0.1]",
            ),
            (
                r#"('a"b\\c\n\x01\x7f', 'héllo ☃ 𝄞', None, True)"#,
                r#"["a\"b\\c\n\u0001\u007f", "h\u00e9llo \u2603 \ud834\udd1e", null, true]"#,
            ),
            ("{}", "{}"),
        ] {
            let v = pyrepr::parse(literal).unwrap();
            assert_eq!(dumps(&v).unwrap(), want, "{literal}");
        }
        for refused in ["(b'x',)", "({1},)", "{1: 2}", "(float('nan'),)", "[1e400]"] {
            let v = pyrepr::parse(refused);
            assert!(v.map_or(true, |v| dumps(&v).is_err()), "{refused}");
        }
    }
}
