//! JSON text as Python's `json` module reads it, for task arguments:
//! [`repr`] is Python's `repr()` of what `json.loads` makes of a JSON text,
//! walked in the text's own order (serde_json's `Value` sorts object
//! members, and a Python dict is ordered), for `argsrepr` and the events.
//! Pure.

use std::fmt::Write;

use crate::pyrepr;

/// Containers nested deeper than this are shown as `[...]` / `{...}` (as
/// Python shows a container inside itself) instead of being walked, so the
/// walk's recursion is bounded whatever the text.
const MAX_DEPTH: usize = 128;

/// Python's repr of the value in `json` (one JSON value), in its own order.
/// Text that is not JSON cannot come from the callers, which hold
/// validated text; it shows as `...`, which no retry takes for a complete
/// repr.
pub fn repr(json: &str) -> String {
    let mut walk = Walk {
        s: json.as_bytes(),
        text: json,
        at: 0,
    };
    let mut out = String::with_capacity(json.len());
    match walk.value(0, &mut out) {
        Some(()) => out,
        None => "...".into(),
    }
}

struct Walk<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Walk<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn value(&mut self, depth: usize, out: &mut String) -> Option<()> {
        match self.peek()? {
            open @ (b'[' | b'{') if depth >= MAX_DEPTH => {
                self.skip_container()?;
                out.push_str(if open == b'[' { "[...]" } else { "{...}" });
            }
            b'[' => {
                self.at += 1;
                out.push('[');
                let mut first = true;
                while self.next_item(b']', &mut first)? {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    self.value(depth + 1, out)?;
                }
                out.push(']');
            }
            b'{' => {
                self.at += 1;
                out.push('{');
                let mut first = true;
                while self.next_item(b'}', &mut first)? {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    self.string(out)?;
                    (self.peek()? == b':').then_some(())?;
                    self.at += 1;
                    out.push_str(": ");
                    self.value(depth + 1, out)?;
                }
                out.push('}');
            }
            b'"' => self.string(out)?,
            b't' => self.word("true", "True", out)?,
            b'f' => self.word("false", "False", out)?,
            b'n' => self.word("null", "None", out)?,
            _ => self.number(out)?,
        }
        Some(())
    }

    /// Whether another item follows in a container closed by `close`
    /// (consuming the comma before it, or the closing bracket).
    fn next_item(&mut self, close: u8, first: &mut bool) -> Option<bool> {
        let c = self.peek()?;
        if c == close {
            self.at += 1;
            return Some(false);
        }
        if !*first {
            (c == b',').then_some(())?;
            self.at += 1;
        }
        // The caller clears `first` after writing its separator.
        Some(true)
    }

    fn word(&mut self, json: &str, python: &str, out: &mut String) -> Option<()> {
        self.s[self.at..]
            .starts_with(json.as_bytes())
            .then_some(())?;
        self.at += json.len();
        out.push_str(python);
        Some(())
    }

    /// A number as Python's `json.loads` reads it: an int (any size) when
    /// it has no fraction or exponent, else a float.
    fn number(&mut self, out: &mut String) -> Option<()> {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        let token = self.text.get(start..self.at).filter(|t| !t.is_empty())?;
        if token.contains(['.', 'e', 'E']) {
            out.push_str(&pyrepr::float_repr(token.parse::<f64>().ok()?));
        } else {
            token
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'-')
                .then_some(())?;
            // JSON has no leading zeros; only `-0` differs from Python's int.
            out.push_str(if token == "-0" { "0" } else { token });
        }
        Some(())
    }

    /// A JSON string, written as Python's repr of it. A lone surrogate
    /// (Python's `json` writes and reads them) is written as `\udXXX`, as
    /// Python's repr does.
    fn string(&mut self, out: &mut String) -> Option<()> {
        (self.peek()? == b'"').then_some(())?;
        self.at += 1;
        let mut units: Vec<Result<char, u16>> = Vec::new();
        loop {
            let c = self.text.get(self.at..)?.chars().next()?;
            self.at += c.len_utf8();
            match c {
                '"' => break,
                '\\' => units.push(self.escape()?),
                c => units.push(Ok(c)),
            }
        }
        let has = |q| units.contains(&Ok(q));
        let quote = pyrepr::repr_quote(has('\''), has('"'));
        out.push(quote);
        for unit in units {
            match unit {
                Ok(c) => pyrepr::push_repr_char(c, quote, out),
                Err(lone) => {
                    let _ = write!(out, "\\u{lone:04x}");
                }
            }
        }
        out.push(quote);
        Some(())
    }

    fn escape(&mut self) -> Option<Result<char, u16>> {
        let e = *self.s.get(self.at)?;
        self.at += 1;
        Some(Ok(match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                if !(0xD800..0xDC00).contains(&high) {
                    return Some(char::from_u32(u32::from(high)).ok_or(high));
                }
                let save = self.at;
                let low = if self.s.get(self.at..).is_some_and(|r| r.starts_with(b"\\u")) {
                    self.at += 2;
                    self.hex4()
                } else {
                    None
                };
                match low.filter(|l| (0xDC00..0xE000).contains(l)) {
                    Some(low) => {
                        let high = u32::from(high) - 0xD800;
                        char::from_u32(0x10000 + (high << 10) + (u32::from(low) - 0xDC00))?
                    }
                    None => {
                        self.at = save;
                        return Some(Err(high));
                    }
                }
            }
            _ => return None,
        }))
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.text.get(self.at..self.at + 4)?;
        let v = u16::from_str_radix(digits, 16).ok()?;
        self.at += 4;
        Some(v)
    }

    /// Steps over a container without looking inside (but for strings,
    /// whose brackets do not count).
    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let c = *self.s.get(self.at)?;
            self.at += 1;
            match c {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                b'"' => loop {
                    match *self.s.get(self.at)? {
                        b'\\' => self.at += 2,
                        b'"' => {
                            self.at += 1;
                            break;
                        }
                        _ => self.at += 1,
                    }
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_keep_the_texts_order_and_pythons_spellings() {
        for (json, want) in [
            (
                r#"{"zkw": {"b": 1, "a": [{"d": 2, "c": 3}]}, "akw": {"y": [], "x": {}}}"#,
                "{'zkw': {'b': 1, 'a': [{'d': 2, 'c': 3}]}, 'akw': {'y': [], 'x': {}}}",
            ),
            (
                "[9007199254740993, 9223372036854775808, -9223372036854775808, \
                 123456789012345678901234567890, -0, 0]",
                "[9007199254740993, 9223372036854775808, -9223372036854775808, \
                 123456789012345678901234567890, 0, 0]",
            ),
            (
                "[1e-07, 2.5e+300, 1E5, 1.0, -0.0, 0.0001, 1e16, 1e400]",
                "[1e-07, 2.5e+300, 100000.0, 1.0, -0.0, 0.0001, 1e+16, inf]",
            ),
            (
                r#"["a\"b\\c\n\u0001", "it's", "h\u00e9llo \u2603 \ud834\udd1e", "héllo ☃ 𝄞"]"#,
                r#"['a"b\\c\n\x01', "it's", 'héllo ☃ 𝄞', 'héllo ☃ 𝄞']"#,
            ),
            (r#"["\ud800x", "\udc00"]"#, r"['\ud800x', '\udc00']"),
            ("[true, false, null, [], {}]", "[True, False, None, [], {}]"),
            (" [ 1 ,\n 2 ] ", "[1, 2]"),
        ] {
            assert_eq!(repr(json), want, "{json}");
        }
    }

    #[test]
    fn deep_nesting_is_cut_not_recursed() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let text = repr(&deep);
        assert!(text.contains("[...]"));
        assert!(
            pyrepr::parse(&text).is_err(),
            "a cut repr is never taken as complete"
        );
        assert_eq!(repr(r#"[{"a": "]}"}]"#), "[{'a': ']}'}]");
    }

    #[test]
    fn invalid_text_shows_as_cut() {
        for text in ["", "[1,", "{\"a\" 1}", "[tru]", "[1 2]", "\"open"] {
            assert_eq!(repr(text), "...", "{text}");
        }
    }
}
