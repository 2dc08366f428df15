//! The `--alerts` file: rules (`[[rule]]`) and webhooks (`[[webhook]]`)
//! in TOML, or the same as YAML (`rule:`/`webhook:` lists; `.yaml`,
//! `.yml`), chosen by the file's extension. Read once at start; anything
//! wrong (an unknown key, a bad duration, a missing field, a duplicate
//! name, a secret's variable unset) refuses the start with the file, line
//! and column. YAML is read with `serde_yaml_ng`, the maintained fork of
//! the archived `serde_yaml` (same API and libyaml-based parser, errors
//! with their line and column).

use std::path::{Path, PathBuf};

use app::wire::alerts::{RuleSpec, Source, WebhookFormat, WebhookSpec};
use serde::Deserialize;

use super::rules::{MAX_RULES, Rule, check_name};

/// Webhooks one celadon delivers to (file and page together).
pub const MAX_WEBHOOKS: usize = 20;

/// The largest `--alerts` file read.
pub const MAX_FILE: u64 = 1 << 20;

/// A webhook, checked, its secret resolved. Its `Debug` never shows the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConf {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    pub secret: Option<String>,
    pub source: Source,
}

impl std::fmt::Debug for WebhookConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConf")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("secret", &self.secret.as_ref().map(|_| "‹secret›"))
            .field("source", &self.source)
            .finish()
    }
}

impl WebhookConf {
    /// Checks `spec`; a `secret_env` is looked up with `env`.
    pub fn check(
        spec: WebhookSpec,
        source: Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WebhookConf, String> {
        check_name(&spec.name)?;
        let url = url::Url::parse(&spec.url).map_err(|e| format!("url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("url: an http:// or https:// URL with a host".into());
        }
        let secret =
            match (spec.secret, spec.secret_env) {
                (Some(_), Some(_)) => return Err("secret and secret_env: give one of them".into()),
                (Some(s), None) => Some(s),
                (None, Some(var)) => Some(env(&var).ok_or_else(|| {
                    format!("secret_env: the environment variable {var} is not set")
                })?),
                (None, None) => None,
            };
        Ok(WebhookConf {
            name: spec.name,
            url: spec.url,
            format: spec.format,
            secret: secret.filter(|s| !s.is_empty()),
            source,
        })
    }

    pub fn entry(&self) -> app::wire::alerts::WebhookEntry {
        app::wire::alerts::WebhookEntry {
            name: self.name.clone(),
            url: self.url.clone(),
            format: self.format,
            has_secret: self.secret.is_some(),
            source: self.source.clone(),
        }
    }
}

/// What the file gave.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsConfig {
    pub path: PathBuf,
    pub rules: Vec<Rule>,
    pub webhooks: Vec<WebhookConf>,
}

/// Why the file was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", match (line, column) {
    (Some(l), Some(c)) => format!(":{l}:{c}"),
    (Some(l), None) => format!(":{l}"),
    _ => String::new(),
})]
pub struct FileError {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// A rule checked while it is read, so its error carries its place.
struct Checked(Rule);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = RuleSpec::deserialize(d)?;
        Rule::check(spec, Source::Page)
            .map(Checked)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default, alias = "rules")]
    rule: Vec<Checked>,
    #[serde(default, alias = "webhooks")]
    webhook: Vec<WebhookSpec>,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<AlertsConfig, FileError> {
    let shown = path.display().to_string();
    let fail = |line, column, message: String| FileError {
        path: shown.clone(),
        line,
        column,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(None, None, format!("cannot read it: {e}")))?
        .len();
    if size > MAX_FILE {
        return Err(fail(None, None, format!("larger than {MAX_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(None, None, format!("cannot read it: {e}")))?;
    parse(path, &text, env)
}

/// Checks `text` as the file at `path` (its extension says the format).
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AlertsConfig, FileError> {
    let shown = path.display().to_string();
    let fail = |line, column, message: String| FileError {
        path: shown.clone(),
        line,
        column,
        message,
    };
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let spec: FileSpec = if yaml {
        if text.trim().is_empty() {
            FileSpec {
                rule: Vec::new(),
                webhook: Vec::new(),
            }
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let at = e.location();
                let message = e.to_string();
                // Its text ends with the place, which is said first.
                let message = match message.rfind(" at line ") {
                    Some(i) => message[..i].to_string(),
                    None => message,
                };
                fail(
                    at.as_ref().map(|l| l.line()),
                    at.map(|l| l.column()),
                    message,
                )
            })?
        }
    } else {
        toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            fail(line, column, e.message().to_string())
        })?
    };
    let source = Source::File {
        path: shown.clone(),
    };
    let at = |needle: &str| place_of(text, needle);
    if spec.rule.len() > MAX_RULES {
        return Err(fail(None, None, format!("more than {MAX_RULES} rules")));
    }
    if spec.webhook.len() > MAX_WEBHOOKS {
        return Err(fail(
            None,
            None,
            format!("more than {MAX_WEBHOOKS} webhooks"),
        ));
    }
    let mut rules: Vec<Rule> = Vec::new();
    for Checked(mut rule) in spec.rule {
        if rules.iter().any(|r| r.name == rule.name) {
            let (l, c) = at(&rule.name).unzip();
            return Err(fail(l, c, format!("a second rule named {:?}", rule.name)));
        }
        rule.source = source.clone();
        rules.push(rule);
    }
    let mut webhooks: Vec<WebhookConf> = Vec::new();
    for w in spec.webhook {
        let name = w.name.clone();
        let var = w.secret_env.clone();
        let checked = WebhookConf::check(w, source.clone(), env).map_err(|m| {
            let needle = match (&var, m.starts_with("secret_env")) {
                (Some(v), true) => v.clone(),
                _ => name.clone(),
            };
            let (l, c) = at(&needle).unzip();
            fail(l, c, format!("webhook {name:?}: {m}"))
        })?;
        if webhooks.iter().any(|x| x.name == checked.name) {
            let (l, c) = at(&name).unzip();
            return Err(fail(l, c, format!("a second webhook named {name:?}")));
        }
        webhooks.push(checked);
    }
    Ok(AlertsConfig {
        path: path.to_path_buf(),
        rules,
        webhooks,
    })
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// Where `needle` last appears as a quoted or bare value, for errors found
/// after reading (a duplicate name: its second appearance).
fn place_of(text: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    text.rfind(needle).map(|i| line_column(text, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::wire::alerts::{RuleKind, Severity};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn toml_err(text: &str) -> String {
        parse(Path::new("a.toml"), text, &no_env)
            .unwrap_err()
            .to_string()
    }

    fn yaml_err(text: &str) -> String {
        parse(Path::new("a.yaml"), text, &no_env)
            .unwrap_err()
            .to_string()
    }

    const GOOD_TOML: &str = r#"
[[rule]]
name = "worker down"
kind = "worker_offline"
after = "60s"
worker = "celery@web-*"
severity = "critical"

[[rule]]
name = "backlog"
kind = "queue_depth"
depth = 100
during = "5m"
for = "1m"

[[webhook]]
name = "ops"
url = "https://hooks.example.com/celadon"
format = "slack"
secret_env = "OPS_SECRET"
"#;

    #[test]
    fn a_good_file_reads_in_either_format() {
        let env = |v: &str| (v == "OPS_SECRET").then(|| "s3".to_string());
        let t = parse(Path::new("/etc/a.toml"), GOOD_TOML, &env).unwrap();
        assert_eq!(t.rules.len(), 2);
        assert_eq!(t.rules[0].severity, Severity::Critical);
        assert_eq!(t.rules[1].hold, 60.0);
        assert_eq!(
            t.rules[0].source,
            Source::File {
                path: "/etc/a.toml".into()
            }
        );
        assert_eq!(t.webhooks[0].secret.as_deref(), Some("s3"));
        assert!(!format!("{:?}", t.webhooks[0]).contains("s3"));
        let yaml = r#"
rules:
  - name: worker down
    kind: worker_offline
    after: 60s
    worker: "celery@web-*"
    severity: critical
  - name: backlog
    kind: queue_depth
    depth: 100
    during: 5m
    for: 1m
webhooks:
  - name: ops
    url: https://hooks.example.com/celadon
    format: slack
    secret_env: OPS_SECRET
"#;
        let y = parse(Path::new("/etc/a.toml.yml"), yaml, &env).unwrap();
        assert_eq!(
            y.rules.iter().map(|r| &r.kind).collect::<Vec<_>>(),
            t.rules.iter().map(|r| &r.kind).collect::<Vec<_>>()
        );
        assert_eq!(y.webhooks[0].format, WebhookFormat::Slack);
        assert_eq!(y.rules[1].spec.kind, RuleKind::QueueDepth);
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        assert_eq!(
            toml_err(
                "[[rule]]\nname = \"x\"\nkind = \"worker_offline\"\nafter = \"60s\"\ncolour = 1\n"
            ),
            "a.toml:5:1: unknown field `colour`, expected one of `name`, `kind`, `for`, \
             `severity`, `worker`, `queue`, `task`, `after`, `depth`, `during`, `p95`, `window`, \
             `percent`, `min_count`, `period`"
        );
        assert_eq!(
            toml_err("\n[[rule]]\nname = \"x\"\nkind = \"worker_offline\"\nafter = \"soon\"\n"),
            "a.toml:2:1: after: \"soon\" is not a duration like 45s, 5m, 2h or 1d"
        );
        assert_eq!(
            toml_err("[[rule]]\nname = \"x\"\nafter = \"6s\"\n"),
            "a.toml:1:1: missing field `kind`"
        );
        assert_eq!(
            yaml_err(
                "rule:\n  - name: x\n    kind: worker_offline\n    after: 60s\n    colour: 1\n"
            ),
            "a.yaml:5:5: rule[0]: unknown field `colour`, expected one of `name`, `kind`, \
             `for`, `severity`, `worker`, `queue`, `task`, `after`, `depth`, `during`, `p95`, \
             `window`, `percent`, `min_count`, `period`"
        );
        assert_eq!(
            yaml_err("rule:\n  - name: x\n    kind: queue_depth\n"),
            "a.yaml:2:3: rule: depth: missing (a queue_depth rule needs it)"
        );
        assert_eq!(
            toml_err(
                "[[rule]]\nname = \"x\"\nkind = \"queue_wait\"\np95 = \"1s\"\n\n[[rule]]\n\
                 name = \"x\"\nkind = \"queue_wait\"\np95 = \"2s\"\n"
            ),
            "a.toml:7:9: a second rule named \"x\""
        );
        assert_eq!(
            toml_err(
                "[[webhook]]\nname = \"w\"\nurl = \"https://h/x\"\nsecret_env = \"NOPE_VAR\"\n"
            ),
            "a.toml:4:15: webhook \"w\": secret_env: the environment variable NOPE_VAR is not set"
        );
    }
}
