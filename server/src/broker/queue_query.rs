//! The queue browser's search language: terms that must all match a
//! waiting task message, by its name, id or arguments' text. Matching is
//! on the decoded message (`broker::messages`), so a search reads the
//! queue a chunk at a time and never holds it whole. Pure.

use super::messages::TaskMessage;

/// The longest query the browser's search takes, in bytes.
pub const MAX_QUERY: usize = 1_000;

/// A search within a queue: terms that must all match, each
/// `name:<task name>` (a trailing `*` matches a prefix), `id:<task id>`,
/// `args:<text>` (found in the args' or kwargs' JSON text), or a bare
/// `<text>` found in any of those. `"…"` quotes a term with spaces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq)]
enum Term {
    Name(String),
    Id(String),
    Args(String),
    Any(String),
}

impl Query {
    /// Parses `q`; `Err` says what is wrong with it.
    pub fn parse(q: &str) -> Result<Query, String> {
        if q.len() > MAX_QUERY {
            return Err(format!("longer than {MAX_QUERY} bytes"));
        }
        let mut terms = Vec::new();
        for word in words(q)? {
            let term = match word.split_once(':') {
                Some((field, value)) if !word.starts_with('"') => {
                    let value = unquote(value)?;
                    if value.is_empty() {
                        return Err(format!("{field}: needs a value"));
                    }
                    match field {
                        "name" => Term::Name(value),
                        "id" => Term::Id(value),
                        "args" => Term::Args(value),
                        other => {
                            return Err(format!(
                                "unknown field {other:?} (name:, id: and args: are known; \
                                 quote text holding a colon)"
                            ));
                        }
                    }
                }
                _ => Term::Any(unquote(&word)?),
            };
            terms.push(term);
        }
        Ok(Query { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether it looks into task arguments (refused to those whose view
    /// of them is redacted: finding a message would tell a hidden value).
    pub fn reads_arguments(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t, Term::Args(_) | Term::Any(_)))
    }

    pub fn matches(&self, m: &TaskMessage) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Name(n) => match n.strip_suffix('*') {
                Some(prefix) => m.task.starts_with(prefix),
                None => m.task == *n,
            },
            Term::Id(id) => m.id == *id,
            Term::Args(text) => m.args.contains(text.as_str()) || m.kwargs.contains(text.as_str()),
            Term::Any(text) => [&m.task, &m.id, &m.args, &m.kwargs]
                .iter()
                .any(|f| f.contains(text.as_str())),
        })
    }
}

/// `q` cut at spaces outside double quotes.
fn words(q: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// A value without its surrounding quotes; a quote inside is refused.
fn unquote(value: &str) -> Result<String, String> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| format!("{value}: a quote must close the value"))?,
        None => value,
    };
    if inner.contains('"') {
        return Err(format!("{value}: quotes go around a whole value"));
    }
    Ok(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_name_id_and_argument_text() {
        let t = TaskMessage {
            id: "id-7".into(),
            task: "billing.charge".into(),
            args: r#"[42, "eur"]"#.into(),
            kwargs: r#"{"user": "ann"}"#.into(),
            ..TaskMessage::default()
        };
        let yes = |q: &str| Query::parse(q).unwrap().matches(&t);
        assert!(yes(""));
        assert!(yes("name:billing.charge"));
        assert!(yes("name:billing.*"));
        assert!(!yes("name:billing"));
        assert!(yes("id:id-7"));
        assert!(!yes("id:id-"));
        assert!(yes("args:\"eur\""));
        assert!(yes("args:ann"));
        assert!(yes("name:billing.charge 42"));
        assert!(!yes("name:billing.charge 43"));
        assert!(yes("\"billing.ch\""));
        for bad in ["nope:x", "name:", "\"open", "args:a\"b"] {
            assert!(Query::parse(bad).is_err(), "{bad}");
        }
        assert!(Query::parse("args:x").unwrap().reads_arguments());
        assert!(!Query::parse("name:x id:y").unwrap().reads_arguments());
    }
}
