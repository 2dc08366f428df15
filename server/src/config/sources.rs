//! Where settings come from, read as Flower reads them: the Celery app's
//! settings (`celery celadon`, read in `celery`), then `FLOWER_*` (and
//! Celery's) environment variables, then `flowerconfig.py`, then the
//! command line, each overriding the one before (Flower starts from the
//! app, applies the environment and reads its file after it). Every value is kept
//! with where it came from, so a bad one is reported as it was written.

use std::{collections::BTreeMap, fmt, path::Path};

use super::options::{self, Kind, OPTIONS, Opt, Support};
use crate::pyrepr::{self, PyValue};

/// Where a value was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    /// The configuration file, and the line of the assignment.
    File(String, usize),
    /// The Celery app's setting of this name, in `CELADON_CELERY_CONF`.
    Celery(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("the command line"),
            Source::Env(var) => write!(f, "{var}"),
            Source::File(path, line) => write!(f, "{path} line {line}"),
            Source::Celery(key) => write!(f, "the Celery app's {key} ({})", super::celery::VAR),
        }
    }
}

/// A value as given: text from a flag or a variable, a Python literal from
/// the configuration file.
#[derive(Clone, Debug, PartialEq)]
pub enum Given {
    Text(String),
    Py(PyValue),
}

/// What the command line asks for besides settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Run,
    Help,
    Version,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("--{0} needs a value (--{0}=VALUE)")]
    NoValue(String),
    #[error("{0:?} is not an option (options start with --; see --help)")]
    Stray(String),
    #[error("cannot read the configuration file {path}: {why}")]
    File { path: String, why: String },
    #[error("{origin}: {why}")]
    Statement { origin: Source, why: String },
}

/// The command line's settings, in order, and what it asks for.
pub fn command_line(
    argv: &[String],
    out: &mut Vec<(&'static Opt, Given)>,
    ignored: &mut Vec<String>,
) -> Result<Request, SourceError> {
    let mut args = argv.iter().peekable();
    while let Some(arg) = args.next() {
        let (name, value) = match arg.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "-V" | "--version" => return Ok(Request::Version),
            // Celery's `-b` for the broker, as celadon has always taken it.
            "-b" => ("broker", None),
            a if a.starts_with("-b") && !a.starts_with("--") => ("broker", Some(&a[2..])),
            a => match a.strip_prefix("--") {
                Some(rest) => match rest.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (rest, None),
                },
                None => return Err(SourceError::Stray(a.to_string())),
            },
        };
        let Some(opt) = options::find(name) else {
            ignored.push(format!("--{name} is not an option of celadon or Flower"));
            continue;
        };
        let value = match value {
            Some(v) => v.to_string(),
            None if opt.kind == Kind::Bool => {
                // `--debug` alone is true; `--debug false` reads the next
                // word only when it is a boolean.
                match args.peek().filter(|next| super::values::is_bool(next)) {
                    Some(next) => {
                        let next = next.to_string();
                        args.next();
                        next
                    }
                    None => "true".into(),
                }
            }
            None => match args.next_if(|next| !next.starts_with("--")) {
                Some(next) => next.clone(),
                None => return Err(SourceError::NoValue(opt.name.replace('_', "-"))),
            },
        };
        out.push((opt, Given::Text(value)));
    }
    Ok(Request::Run)
}

/// The environment's settings, and the `FLOWER_*` variables celadon does
/// not know.
pub fn environment(
    env: &BTreeMap<String, String>,
    out: &mut Vec<(&'static Opt, Given, &'static str)>,
    ignored: &mut Vec<String>,
) {
    for opt in OPTIONS {
        if let Some((var, value)) = opt.env.iter().find_map(|v| Some((*v, env.get(*v)?))) {
            out.push((opt, Given::Text(value.clone()), var));
        }
    }
    let known = |name: &str| {
        OPTIONS.iter().any(|o| o.env.contains(&name))
            || options::ENV_ONLY.iter().any(|(v, _)| *v == name)
    };
    for name in env.keys().filter(|k| k.starts_with("FLOWER_")) {
        if !known(name) {
            ignored.push(format!("{name} is not a variable celadon or Flower reads"));
        }
    }
}

/// The variables Flower reads that are not options, which are set.
pub fn env_only(env: &BTreeMap<String, String>) -> Vec<(&'static str, Support)> {
    options::ENV_ONLY
        .iter()
        .filter(|(var, _)| env.get(*var).is_some_and(|v| !v.is_empty()))
        .copied()
        .collect()
}

/// The settings of a Flower configuration file: Python assignments of
/// literals, `name = value`. No code is run: another statement is skipped
/// with a warning, as is an assignment whose value is not a literal, unless
/// it sets an option whose absence would leave celadon more open than asked.
pub fn config_file(
    path: &Path,
    text: &str,
    out: &mut Vec<(&'static Opt, Given, Source)>,
    ignored: &mut Vec<String>,
) -> Result<(), SourceError> {
    let shown = path.display().to_string();
    for (line, statement) in statements(text) {
        let source = Source::File(shown.clone(), line);
        let Some((name, value)) = assignment(&statement) else {
            let first = statement.lines().next().unwrap_or("");
            ignored.push(format!("{source}: {first:?} is not an assignment; skipped"));
            continue;
        };
        let Some(opt) = options::find(name).filter(|o| o.name == name) else {
            ignored.push(format!(
                "{source}: {name} is not an option of celadon or Flower"
            ));
            continue;
        };
        match pyrepr::parse(value) {
            Ok(v) => out.push((opt, Given::Py(v), source)),
            Err(e) if matches!(opt.support, Support::Refused(_)) || is_security(opt) => {
                return Err(SourceError::Statement {
                    origin: source,
                    why: format!(
                        "{name} is set by code celadon does not run ({e}); write it as a \
                         literal, or set it in the environment"
                    ),
                });
            }
            Err(e) => ignored.push(format!(
                "{source}: {name} is not a Python literal ({e}); skipped"
            )),
        }
    }
    Ok(())
}

/// Options that guard access, which must never be dropped silently.
fn is_security(opt: &Opt) -> bool {
    matches!(opt.name, "basic_auth" | "read_only" | "address")
}

/// `name = value`, if the statement is one.
fn assignment(statement: &str) -> Option<(&str, &str)> {
    let (name, value) = statement.split_once('=')?;
    let name = name.trim();
    let simple = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.starts_with('=');
    simple.then_some((name, value.trim()))
}

/// The file's statements, with the line each starts on: comments and blank
/// lines dropped, brackets and strings joining lines, `\` continuing one.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                current.push(c);
                if let Some(next) = chars.next() {
                    line += usize::from(next == '\n');
                    current.push(next);
                }
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => {
                line += usize::from(c == '\n');
                current.push(c);
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, '#') => while chars.next_if(|n| *n != '\n').is_some() {},
            (None, '\\') if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
                current.push(' ');
            }
            (None, '(' | '[' | '{') => {
                depth += 1;
                current.push(c);
            }
            (None, ')' | ']' | '}') => {
                depth -= 1;
                current.push(c);
            }
            (None, '\n') if depth > 0 => {
                line += 1;
                current.push(c);
            }
            (None, '\n' | ';') => {
                if c == '\n' {
                    line += 1;
                }
                let statement = current.trim().to_string();
                if !statement.is_empty() {
                    out.push((start, statement));
                }
                current.clear();
                start = line;
            }
            (None, c) => {
                if current.trim().is_empty() {
                    start = line;
                }
                current.push(c);
            }
        }
    }
    let statement = current.trim().to_string();
    if !statement.is_empty() {
        out.push((start, statement));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flowerconfig_reads_as_python_assignments_of_literals() {
        let text = "# Flower's settings\n\
                    import os\n\
                    port = 5566  # a comment\n\
                    basic_auth = [\n    'ann:s3cret',  # ann\n    'bob:x#y',\n]\n\
                    tasks_columns = \"name,state\" ; max_tasks = 500\n\
                    broker_api = os.environ['API']\n\
                    colour = 'blue'\n";
        let mut out = Vec::new();
        let mut ignored = Vec::new();
        config_file(Path::new("flowerconfig.py"), text, &mut out, &mut ignored).unwrap();
        let got: Vec<(&str, Given, usize)> = out
            .into_iter()
            .map(|(o, g, s)| {
                let Source::File(_, line) = s else {
                    panic!("{s:?}")
                };
                (o.name, g, line)
            })
            .collect();
        let list = PyValue::List(vec![
            PyValue::Str("ann:s3cret".into()),
            PyValue::Str("bob:x#y".into()),
        ]);
        assert_eq!(
            got,
            [
                ("port", Given::Py(PyValue::Int("5566".into())), 3),
                ("basic_auth", Given::Py(list), 4),
                (
                    "tasks_columns",
                    Given::Py(PyValue::Str("name,state".into())),
                    8
                ),
                ("max_tasks", Given::Py(PyValue::Int("500".into())), 8),
            ]
        );
        assert_eq!(ignored.len(), 3, "{ignored:?}");
        assert!(ignored[0].contains("line 2") && ignored[0].contains("import os"));
        assert!(ignored[1].contains("broker_api is not a Python literal"));
        assert!(ignored[2].contains("colour is not an option"));
    }

    #[test]
    fn a_guarding_option_set_by_code_stops_the_reading() {
        let mut out = Vec::new();
        let refused = config_file(
            Path::new("f.py"),
            "basic_auth = [os.environ['PW']]\n",
            &mut out,
            &mut Vec::new(),
        );
        assert!(
            matches!(&refused, Err(SourceError::Statement { why, .. }) if why.contains("basic_auth")),
            "{refused:?}"
        );
    }

    #[test]
    fn the_command_line_takes_flowers_spellings() {
        let argv: Vec<String> = [
            "--max_tasks=5",
            "--max-workers",
            "7",
            "--debug",
            "--read-only",
            "false",
            "-b",
            "redis://h/1",
            "--colour=blue",
        ]
        .map(String::from)
        .to_vec();
        let (mut out, mut ignored) = (Vec::new(), Vec::new());
        assert_eq!(
            command_line(&argv, &mut out, &mut ignored),
            Ok(Request::Run)
        );
        let got: Vec<(&str, Given)> = out.into_iter().map(|(o, g)| (o.name, g)).collect();
        let text = |s: &str| Given::Text(s.into());
        assert_eq!(
            got,
            [
                ("max_tasks", text("5")),
                ("max_workers", text("7")),
                ("debug", text("true")),
                ("read_only", text("false")),
                ("broker", text("redis://h/1")),
            ]
        );
        assert_eq!(ignored.len(), 1);
        let mut out = Vec::new();
        assert_eq!(
            command_line(&["--port".into()], &mut out, &mut Vec::new()),
            Err(SourceError::NoValue("port".into()))
        );
        assert!(matches!(
            command_line(&["stray".into()], &mut out, &mut Vec::new()),
            Err(SourceError::Stray(_))
        ));
        assert_eq!(
            command_line(&["--help".into()], &mut out, &mut Vec::new()),
            Ok(Request::Help)
        );
    }
}
