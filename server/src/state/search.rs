//! Flower 2.2's task search syntax (FLOWER.md §1.6), parsed the way Flower
//! parses it, with the same limits and messages: whitespace or `AND` means
//! and, uppercase `OR`, parentheses up to depth 5, `"quoted phrases"`,
//! qualifiers `name: state: worker: args: kwargs: result:` (`kwargs:k=v` is
//! an exact pair), bare terms search every field. Terms match
//! case-insensitive substrings of at least 3 characters; `state:` is exact.
//! No `NOT` and no `-term`. Pure.
//!
//! One limit is celadon's own: [`MAX_TEXT_TERMS`].

use std::fmt;

pub const MAX_QUERY_LENGTH: usize = 2048;
pub const MAX_QUERY_TOKENS: usize = 128;
pub const MAX_QUERY_DEPTH: usize = 5;
pub const MIN_SUBSTRING_LENGTH: usize = 3;

/// The most terms one query may have that read a task's texts (`args:`,
/// `kwargs:`, `result:` and bare terms, which read them all). A search
/// runs on the model's owner, between turns of event ingestion, over
/// every task in memory: its cost is one pass over the tasks, scanning
/// each task's texts once per such term (and parsing its kwargs at most
/// once, for `kwargs:key=value` terms, and only when its text holds a
/// plain `key`), so this bound, with `--max-tasks`, bounds how long one
/// read holds ingestion up. More is a 400.
pub const MAX_TEXT_TERMS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchField {
    Name,
    State,
    Worker,
    Args,
    Kwargs,
    Result,
}

impl SearchField {
    fn parse(s: &str) -> Option<SearchField> {
        Some(match s.to_lowercase().as_str() {
            "name" => SearchField::Name,
            "state" => SearchField::State,
            "worker" => SearchField::Worker,
            "args" => SearchField::Args,
            "kwargs" => SearchField::Kwargs,
            "result" => SearchField::Result,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    MatchAll,
    /// `field: None` searches every field. `value` is lower-cased.
    Term {
        field: Option<SearchField>,
        value: String,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A query Flower would refuse, with where (in characters) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub position: Option<usize>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} at position {p}.", self.message),
            None => write!(f, "{}.", self.message),
        }
    }
}

impl std::error::Error for SyntaxError {}

fn error(message: impl Into<String>, position: Option<usize>) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        position,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Term(String),
    Eof,
}

fn tokenize(query: &[char]) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let mut tokens = Vec::new();
    let push = |tokens: &mut Vec<(Tok, usize)>, tok, pos| {
        tokens.push((tok, pos));
        if tokens.len() > MAX_QUERY_TOKENS {
            return Err(error(
                format!("Query exceeds {MAX_QUERY_TOKENS} tokens"),
                None,
            ));
        }
        Ok(())
    };
    let mut i = 0;
    while i < query.len() {
        let c = query[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let position = i;
        if c == '(' || c == ')' {
            let tok = if c == '(' { Tok::LParen } else { Tok::RParen };
            push(&mut tokens, tok, position)?;
            i += 1;
            continue;
        }
        let mut value = String::new();
        let (mut quoted, mut in_quote) = (false, false);
        while i < query.len() {
            let c = query[i];
            if c == '\\' && i + 1 < query.len() && matches!(query[i + 1], '"' | '\\') {
                value.push(query[i + 1]);
                i += 2;
                continue;
            }
            if c == '"' {
                quoted = true;
                in_quote = !in_quote;
                i += 1;
                continue;
            }
            if !in_quote && (c.is_whitespace() || c == '(' || c == ')') {
                break;
            }
            value.push(c);
            i += 1;
        }
        if in_quote {
            return Err(error("Unterminated quoted phrase", Some(position)));
        }
        if value.is_empty() {
            return Err(error("Empty search term", Some(position)));
        }
        let tok = match (quoted, value.as_str()) {
            (false, "AND") => Tok::And,
            (false, "OR") => Tok::Or,
            (false, "NOT") => return Err(error("NOT is not supported", Some(position))),
            _ => Tok::Term(value),
        };
        push(&mut tokens, tok, position)?;
    }
    tokens.push((Tok::Eof, query.len()));
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser {
    fn current(&self) -> &(Tok, usize) {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> (Tok, usize) {
        let t = self.current().clone();
        self.at += 1;
        t
    }

    fn unexpected(&self) -> SyntaxError {
        let (tok, pos) = self.current();
        let text = match tok {
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::And => "'AND'".to_string(),
            Tok::Or => "'OR'".to_string(),
            Tok::Term(t) => format!("{t:?}"),
            Tok::Eof => "end of query".to_string(),
        };
        error(format!("Unexpected {text}"), Some(*pos))
    }

    fn parse(&mut self) -> Result<Expr, SyntaxError> {
        if self.current().0 == Tok::Eof {
            return Ok(Expr::MatchAll);
        }
        let e = self.parse_or(0)?;
        if self.current().0 != Tok::Eof {
            return Err(self.unexpected());
        }
        Ok(e)
    }

    fn ends_operand(tok: &Tok) -> bool {
        matches!(tok, Tok::Eof | Tok::RParen | Tok::And | Tok::Or)
    }

    fn parse_or(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut children = vec![self.parse_and(depth)?];
        while self.current().0 == Tok::Or {
            let (_, pos) = self.advance();
            if Self::ends_operand(&self.current().0) {
                return Err(error("OR must be followed by a search term", Some(pos)));
            }
            children.push(self.parse_and(depth)?);
        }
        Ok(combine(children, true))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut children = vec![self.parse_primary(depth)?];
        while !matches!(self.current().0, Tok::Eof | Tok::RParen | Tok::Or) {
            if self.current().0 == Tok::And {
                let (_, pos) = self.advance();
                if Self::ends_operand(&self.current().0) {
                    return Err(error("AND must be followed by a search term", Some(pos)));
                }
            }
            children.push(self.parse_primary(depth)?);
        }
        Ok(combine(children, false))
    }

    fn parse_primary(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let (tok, pos) = self.current().clone();
        match tok {
            Tok::LParen => {
                if depth >= MAX_QUERY_DEPTH {
                    return Err(error(
                        format!("Query nesting exceeds {MAX_QUERY_DEPTH} levels"),
                        Some(pos),
                    ));
                }
                self.advance();
                if self.current().0 == Tok::RParen {
                    return Err(error("Empty group", Some(pos)));
                }
                let e = self.parse_or(depth + 1)?;
                if self.current().0 != Tok::RParen {
                    return Err(error("Missing closing parenthesis", Some(pos)));
                }
                self.advance();
                Ok(e)
            }
            Tok::Term(value) => {
                self.advance();
                term(&value, pos)
            }
            _ => Err(error("Expected a search term", Some(pos))),
        }
    }
}

fn combine(children: Vec<Expr>, or: bool) -> Expr {
    let mut flat: Vec<Expr> = Vec::new();
    for child in children {
        let inner = match (child, or) {
            (Expr::Or(c), true) | (Expr::And(c), false) => c,
            (other, _) => vec![other],
        };
        for c in inner {
            if !flat.contains(&c) {
                flat.push(c);
            }
        }
    }
    if flat.len() == 1 {
        return flat.remove(0);
    }
    if or { Expr::Or(flat) } else { Expr::And(flat) }
}

fn term(token: &str, position: usize) -> Result<Expr, SyntaxError> {
    let (field, value) = match token.split_once(':') {
        Some((f, v)) => match SearchField::parse(f) {
            Some(field) => (Some(field), v),
            None => (None, token),
        },
        None => (None, token),
    };
    if field.is_none() && value.starts_with('-') {
        return Err(error("Negation with '-' is not supported", Some(position)));
    }
    if value.is_empty() {
        return Err(error("Search qualifier requires a value", Some(position)));
    }
    let exact = field == Some(SearchField::State)
        || (field == Some(SearchField::Kwargs) && value.contains('='));
    if !exact && value.trim().chars().count() < MIN_SUBSTRING_LENGTH {
        return Err(error(
            format!(
                "Substring search terms must contain at least {MIN_SUBSTRING_LENGTH} characters"
            ),
            Some(position),
        ));
    }
    Ok(Expr::Term {
        field,
        value: value.to_lowercase(),
    })
}

/// How many terms of `expr` read a task's texts.
fn text_terms(expr: &Expr) -> usize {
    match expr {
        Expr::MatchAll => 0,
        Expr::And(c) | Expr::Or(c) => c.iter().map(text_terms).sum(),
        Expr::Term { field, .. } => usize::from(matches!(
            field,
            None | Some(SearchField::Args | SearchField::Kwargs | SearchField::Result)
        )),
    }
}

/// Parses a query; the empty query matches everything.
pub fn parse(query: &str) -> Result<Expr, SyntaxError> {
    let expr = parse_flower(query)?;
    if text_terms(&expr) > MAX_TEXT_TERMS {
        return Err(error(
            format!(
                "Query has more than {MAX_TEXT_TERMS} terms that search arguments, keyword \
                 arguments or results"
            ),
            None,
        ));
    }
    Ok(expr)
}

/// Parses a query as Flower does; the empty query matches everything.
fn parse_flower(query: &str) -> Result<Expr, SyntaxError> {
    let query = query.trim();
    let chars: Vec<char> = query.chars().collect();
    if chars.len() > MAX_QUERY_LENGTH {
        return Err(error(
            format!("Query exceeds {MAX_QUERY_LENGTH} characters"),
            None,
        ));
    }
    Parser {
        tokens: tokenize(&chars)?,
        at: 0,
    }
    .parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(field: Option<SearchField>, value: &str) -> Expr {
        Expr::Term {
            field,
            value: value.into(),
        }
    }

    #[test]
    fn qualifiers_operators_groups_and_phrases_parse_as_flower_does() {
        let cases = [
            ("", Expr::MatchAll),
            ("state:FAILURE", t(Some(SearchField::State), "failure")),
            (
                "state:FAILURE name:tasks.add",
                Expr::And(vec![
                    t(Some(SearchField::State), "failure"),
                    t(Some(SearchField::Name), "tasks.add"),
                ]),
            ),
            (
                "boom OR timeout",
                Expr::Or(vec![t(None, "boom"), t(None, "timeout")]),
            ),
            (
                "(name:add OR name:mul) AND worker:w1@",
                Expr::And(vec![
                    Expr::Or(vec![
                        t(Some(SearchField::Name), "add"),
                        t(Some(SearchField::Name), "mul"),
                    ]),
                    t(Some(SearchField::Worker), "w1@"),
                ]),
            ),
            ("\"bad input\"", t(None, "bad input")),
            ("kwargs:a=1", t(Some(SearchField::Kwargs), "a=1")),
            ("Name:Add OR name:add", t(Some(SearchField::Name), "add")),
            ("foo:bar", t(None, "foo:bar")),
        ];
        for (query, want) in cases {
            assert_eq!(parse(query).unwrap(), want, "{query}");
        }
    }

    #[test]
    fn bad_queries_say_what_and_where() {
        let cases = [
            (
                "state:FAILURE AND",
                "AND must be followed by a search term at position 14.",
            ),
            ("(boom", "Missing closing parenthesis at position 0."),
            ("\"open", "Unterminated quoted phrase at position 0."),
            ("NOT boom", "NOT is not supported at position 0."),
            ("-boom", "Negation with '-' is not supported at position 0."),
            (
                "ab",
                "Substring search terms must contain at least 3 characters at position 0.",
            ),
            ("name:", "Search qualifier requires a value at position 0."),
            ("()", "Empty group at position 0."),
            ("boom)", "Unexpected ')' at position 4."),
            ("OR boom", "Expected a search term at position 0."),
            (
                "((((((deep))))))",
                "Query nesting exceeds 5 levels at position 5.",
            ),
        ];
        for (query, want) in cases {
            assert_eq!(parse(query).unwrap_err().to_string(), want, "{query}");
        }
        let long = "x".repeat(MAX_QUERY_LENGTH + 1);
        assert_eq!(
            parse(&long).unwrap_err().to_string(),
            "Query exceeds 2048 characters."
        );
        let kwargs: Vec<String> = (0..64).map(|i| format!("kwargs:k{i}=v")).collect();
        assert_eq!(
            parse(&kwargs.join(" ")).unwrap_err().to_string(),
            "Query has more than 8 terms that search arguments, keyword arguments or results."
        );
        let bounded: Vec<String> = (0..8).map(|i| format!("kwargs:k{i}=v")).collect();
        assert!(parse(&format!("{} state:SUCCESS name:add", bounded.join(" "))).is_ok());
        let many = vec!["abc"; 200].join(" ");
        assert_eq!(
            parse(&many).unwrap_err().to_string(),
            "Query exceeds 128 tokens."
        );
    }
}
