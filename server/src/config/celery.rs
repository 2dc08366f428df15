//! The Celery app's own settings, as `celery -A proj celadon` hands them
//! over: a JSON object in `CELADON_CELERY_CONF`, written by
//! `python/celadon/celery_command.py` from `getattr(app.conf, key)`. They
//! are the lowest source of all, below the environment, the configuration
//! file and flags, as in Flower, which starts from the app's configuration
//! and lets its own options override it.
//!
//! The JSON holds passwords. Nothing here shows a value: messages name
//! `CELADON_CELERY_CONF` and the Celery setting, and [`redact`] takes the
//! setting's text out of the reasons the options' own parsers give.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    options::{self, Opt},
    sources::{Given, Source},
};

/// The variable the Python command sets.
pub const VAR: &str = "CELADON_CELERY_CONF";

/// What celadon does with one Celery setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// It sets this option (by the option's name), as the option's flag
    /// would with the same value.
    Sets(&'static str),
    /// Read, and warned about when it differs from `broker_url`: celadon
    /// reads and writes through one broker connection.
    LikeBroker,
    /// An exchange celadon names by Celery's default; the app must use
    /// that default, or `Exchange::refuse` says what follows.
    Exchange(Exchange),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Exchange {
    default: &'static str,
    /// Refuse to start (celadon could do nothing), or warn (it could do
    /// part of its job).
    refuse: bool,
    why: &'static str,
}

/// Every Celery setting celadon reads; others in the JSON are ignored.
const SETTINGS: &[(&str, Use)] = &[
    ("broker_url", Use::Sets("broker")),
    ("broker_read_url", Use::LikeBroker),
    ("broker_write_url", Use::LikeBroker),
    (
        "broker_transport_options",
        Use::Sets("broker_transport_options"),
    ),
    ("broker_use_ssl", Use::Sets("broker_use_ssl")),
    ("result_backend", Use::Sets("result_backend")),
    (
        "result_backend_transport_options",
        Use::Sets("result_backend_transport_options"),
    ),
    ("redis_backend_use_ssl", Use::Sets("redis_backend_use_ssl")),
    (
        "event_exchange",
        Use::Exchange(Exchange {
            default: "celeryev",
            refuse: true,
            why: "celadon listens for events on Celery's default exchange, celeryev, \
                  only: it would see no event from this app's workers",
        }),
    ),
    (
        "control_exchange",
        Use::Exchange(Exchange {
            default: "celery",
            refuse: false,
            why: "celadon sends remote-control commands on Celery's default exchange, \
                  celery, only: this app's workers will not hear them, so inspections \
                  and controls get no answer (events are still read)",
        }),
    ),
];

/// The schemes of the Redis result backends celadon reads (as the broker's).
const REDIS_SCHEMES: &[&str] = &["redis", "rediss", "redis+socket", "unix", "sentinel"];

/// Not a Celery setting: the Django project's default database as a URL
/// (`postgresql://…`, `sqlite:///…`), which `celery celadon` adds when it
/// runs in a Django project, for `result_backend = "django-db"`.
pub const DJANGO_DATABASE: &str = "django_database_url";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CeleryConfError {
    #[error("{VAR} is not JSON ({0}); it is written by `celery celadon`")]
    NotJson(String),
    #[error("{VAR} is not a JSON object of Celery settings; it is written by `celery celadon`")]
    NotObject,
    #[error("the Celery app's {key} ({VAR}) {why}")]
    Setting { key: &'static str, why: String },
}

/// What the app's settings say, ready to be merged with the other sources.
#[derive(Debug, Default)]
pub struct FromCelery {
    /// Options set, with the setting each came from.
    pub given: Vec<(&'static Opt, Given, Source)>,
    pub warnings: Vec<String>,
    /// The app names no broker (Celery itself would then use
    /// `amqp://localhost`); said when nothing else names one either.
    pub no_broker: bool,
}

/// The settings in `CELADON_CELERY_CONF`, if it is set.
pub fn read(env: &BTreeMap<String, String>) -> Result<FromCelery, CeleryConfError> {
    let mut out = FromCelery::default();
    let Some(text) = env.get(VAR).filter(|t| !t.trim().is_empty()) else {
        return Ok(out);
    };
    // A syntax error's message gives a position, never the text.
    let json: Value =
        serde_json::from_str(text).map_err(|e| CeleryConfError::NotJson(e.to_string()))?;
    let Value::Object(settings) = json else {
        return Err(CeleryConfError::NotObject);
    };
    let broker = settings.get("broker_url").unwrap_or(&Value::Null);
    let django = settings.get(DJANGO_DATABASE).and_then(Value::as_str);
    for (key, use_) in SETTINGS {
        let value = settings.get(*key).unwrap_or(&Value::Null);
        let bad = |why: &str| CeleryConfError::Setting {
            key,
            why: why.into(),
        };
        match use_ {
            // Python's false (None, "", {}, []) is "not set" to Celery
            // (`if ssl:`, `conf.broker_url or …`), and so here.
            Use::Sets("broker") if is_falsy(value) => out.no_broker = true,
            _ if is_falsy(value) => {}
            // kombu's Redis transport swallows the TypeError a boolean
            // gives and connects without TLS; celadon does as the workers.
            Use::Sets("broker_use_ssl") if value == &Value::Bool(true) => {
                out.warnings.push(format!(
                    "the Celery app's {key} ({VAR}) is a boolean, not a dict of ssl_* \
                     settings: kombu's Redis transport then connects without TLS, and so \
                     does celadon (use a rediss:// URL, or a dict)"
                ));
            }
            Use::Sets(name) => {
                let Some(text) = option_text(name, value, django).map_err(bad)? else {
                    let what = if value.as_str() == Some("django-db") {
                        "is django-db, and no Django database was handed over (celery \
                         celadon hands it over when it runs in the Django project)"
                    } else {
                        "is not a result backend celadon reads (Redis; Celery's database \
                         backend or django-db on PostgreSQL or SQLite)"
                    };
                    out.warnings.push(format!(
                        "the Celery app's {key} ({VAR}) {what}: celadon runs without one (no \
                         retries from stored arguments, no reconciliation); give \
                         --result-backend to read one"
                    ));
                    continue;
                };
                let opt = options::find(name)
                    .ok_or_else(|| bad("is read by no option (a bug in celadon)"))?;
                out.given
                    .push((opt, Given::Text(text), Source::Celery(key)));
            }
            Use::LikeBroker => {
                if value != broker {
                    out.warnings.push(format!(
                        "the Celery app's {key} ({VAR}) differs from its broker_url: celadon \
                         reads events and sends commands through broker_url only"
                    ));
                }
            }
            Use::Exchange(exchange) => {
                let Value::String(name) = value else {
                    return Err(bad("is not an exchange's name"));
                };
                if name != exchange.default {
                    let what = format!(
                        "is not Celery's default ({}), and {}",
                        exchange.default, exchange.why
                    );
                    if exchange.refuse {
                        return Err(bad(&format!("{what}; celadon cannot follow it yet")));
                    }
                    out.warnings
                        .push(format!("the Celery app's {key} ({VAR}) {what}"));
                }
            }
        }
    }
    Ok(out)
}

/// Whether Python would take the value as false.
fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The option's text for a setting's value, as its flag takes it; `None`
/// for a result backend celadon does not read. `django` is the Django
/// project's database, for `django-db`.
fn option_text(
    option: &str,
    value: &Value,
    django: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match (option, value) {
        ("broker", Value::String(url)) => Ok(Some(url.clone())),
        // Celery takes a list of URLs for failover, as kombu takes them
        // joined by ';'.
        ("broker", Value::Array(urls)) => urls
            .iter()
            .map(|u| {
                u.as_str()
                    .ok_or("is a list holding something other than URLs")
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|urls| Some(urls.join(";"))),
        ("broker", _) => Err("is not a URL or a list of URLs"),
        ("result_backend", Value::String(url)) if url == "django-db" => {
            Ok(django.map(|db| format!("django-db+{db}")))
        }
        ("result_backend", Value::String(url)) => {
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            let dialect = scheme.strip_prefix("db+").map(|s| s.split('+').next());
            let database = matches!(dialect, Some(Some("postgresql" | "postgres" | "sqlite")));
            Ok((REDIS_SCHEMES.contains(&scheme) || database).then(|| url.clone()))
        }
        ("result_backend", _) => Err("is not a URL"),
        (_, Value::Object(map)) => Ok(Some(Value::Object(map.clone()).to_string())),
        // Celery's Redis backend fails on it too (`connparams.update(True)`).
        ("redis_backend_use_ssl", Value::Bool(true)) => Err(
            "is a boolean, not a dict of ssl_* settings (Celery's Redis backend fails on one too)",
        ),
        _ => Err("is not a dict"),
    }
}

/// `why`, a reason an option's parser gave for a value from the app's
/// settings, without the value: every string in it (and each URL of a
/// `;`-separated list) is taken out where it appears quoted, as the parsers
/// quote what they reject, and where it appears bare, unless too short to
/// be told from the reason's own words.
pub fn redact(why: &str, given: &Given) -> String {
    let text = match given {
        Given::Text(t) => t.clone(),
        Given::Py(p) => p.py_repr(),
    };
    let mut secrets = Vec::new();
    match serde_json::from_str::<Value>(&text) {
        Ok(json @ (Value::Object(_) | Value::Array(_))) => strings(&json, &mut secrets),
        _ => secrets.push(text),
    }
    let pieces: Vec<String> = secrets
        .iter()
        .flat_map(|s| s.split(';').map(str::trim).map(str::to_string))
        .collect();
    secrets.extend(pieces);
    secrets.retain(|s| !s.is_empty());
    // Longest first, so that a URL goes before a piece of it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = why.to_string();
    for secret in &secrets {
        for quoted in [
            format!("{secret:?}"),
            Value::String(secret.clone()).to_string(),
        ] {
            out = out.replace(&quoted, "\"…\"");
        }
        if secret.len() >= MIN_BARE {
            out = out.replace(secret.as_str(), "…");
        }
    }
    out
}

/// The shortest string taken out where it appears unquoted.
const MIN_BARE: usize = 4;

/// Every string in `json`, keys of objects aside.
fn strings(json: &Value, out: &mut Vec<String>) {
    match json {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_takes_every_string_of_the_value_out_of_a_reason() {
        let text = |t: &str| Given::Text(t.into());
        for (why, value, shown) in [
            (
                r#""redis://:pw@h/x" is not a broker URL"#,
                "redis://:pw@h/x",
                r#""…" is not a broker URL"#,
            ),
            // One URL of a failover list, quoted alone.
            (
                r#""redis://:pw@h2/x" is not a broker URL"#,
                "redis://h1/0; redis://:pw@h2/x",
                r#""…" is not a broker URL"#,
            ),
            // serde_json writes strings inside the values it quotes.
            (
                r#"sentinel_kwargs={"password":"pw"} is not a dict"#,
                r#"{"sentinel_kwargs": {"password": "pw"}}"#,
                r#"sentinel_kwargs={"password":"…"} is not a dict"#,
            ),
            // Bare, when long enough not to be a word of the reason.
            (
                "cannot read /etc/s3cret.pem: no such file",
                r#"{"ssl_ca_certs": "/etc/s3cret.pem"}"#,
                "cannot read …: no such file",
            ),
            ("no host given", r#"{"x": "ho"}"#, "no host given"),
        ] {
            assert_eq!(redact(why, &text(value)), shown, "{why}");
        }
    }
}
