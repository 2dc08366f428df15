//! The result backends that live in a SQL database: Celery's own database
//! backend (`db+postgresql://…`, `db+sqlite:///…`: SQLAlchemy's
//! `celery_taskmeta` table) and django-celery-results (`django-db`: the
//! `django_celery_results_taskresult` table of the Django project's
//! database). How they are spelled, and what their rows mean. Pure: the
//! reads are in `postgres` and `sqlite`.
//!
//! What the two write (Celery 5.7, django-celery-results 2.6, seen from
//! real workers):
//! - Celery's table keeps `result`, `args` and `kwargs` as bytes in the
//!   result serializer's format: JSON text by default (`args` as Python's
//!   `json.dumps` wrote the call's arguments, the same text as the Redis
//!   backend's), a pickle with `result_serializer = "pickle"` or in rows an
//!   older Celery wrote with SQLAlchemy's `PickleType`. The extended
//!   columns (`name`, `args`, `kwargs`, `worker`, `retries`, `queue`)
//!   exist only in a table made with `result_extended`.
//! - django-celery-results keeps `result` as the serializer's text, with
//!   `content_type` and `content_encoding` (`binary`: base64), and in
//!   `task_args`/`task_kwargs` the JSON of Celery's `argsrepr` and
//!   `kwargsrepr`: a Python repr in a JSON string, cut by Celery at 1024
//!   characters, so a retry takes them only by `control::original`'s rules
//!   for reprs. It keeps no queue and no retry count, and writes
//!   `date_done` at every state.
//!
//! A pickle is never unpickled: it is reported as unreadable, and a retry
//! will not use it.

use std::{fmt, path::PathBuf};

use serde_json::{Value, value::RawValue};

use super::{Meta, StoredArguments};

/// Named in every parse error of a SQL result backend's URL.
pub const SQL_FORMS: &str = "db+postgresql://[user[:password]@]host[:port]/dbname (also \
     db+postgresql+psycopg2://, db+postgres://), db+sqlite:///relative/path.db, \
     db+sqlite:////absolute/path.db, and django-db+ before the same database URLs \
     (postgresql://… or sqlite:///…) for django-celery-results";

/// Which table, written by whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// Celery's database backend: `celery_taskmeta`.
    Celery,
    /// django-celery-results (`django-db`): `django_celery_results_taskresult`.
    Django,
}

impl Store {
    pub fn table(self) -> &'static str {
        match self {
            Store::Celery => "celery_taskmeta",
            Store::Django => "django_celery_results_taskresult",
        }
    }
}

/// Where the table is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Postgres(Box<tokio_postgres::Config>),
    /// Relative to celadon's working directory, as it is to the workers'
    /// for Celery.
    Sqlite(PathBuf),
}

/// A SQL result backend's URL, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct SqlUrl {
    pub store: Store,
    pub database: Database,
    /// The URL with any password masked, for messages.
    shown: String,
}

/// The password never shows.
impl fmt::Debug for SqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlUrlError {
    #[error(
        "django-db names no database: give --result-backend=django-db+postgresql://… or \
         django-db+sqlite:///… (celery celadon hands the Django project's database over)"
    )]
    DjangoWithoutDatabase,
    #[error("{0}; celadon reads {SQL_FORMS}")]
    Unsupported(String),
    #[error("not a PostgreSQL URL ({0}); celadon reads {SQL_FORMS}")]
    Postgres(String),
    #[error(
        "it asks for TLS (sslmode=require), which celadon's PostgreSQL reader does not \
         speak yet; use sslmode=disable or prefer on a trusted network"
    )]
    Tls,
}

impl SqlUrl {
    /// Whether `text` names a SQL result backend (so its errors are this
    /// parser's, not the Redis URL parser's).
    pub fn claims(text: &str) -> bool {
        text.starts_with("db+") || text == "django-db" || text.starts_with("django-db+")
    }

    pub fn parse(text: &str) -> Result<SqlUrl, SqlUrlError> {
        let (store, database) = if let Some(rest) = text.strip_prefix("db+") {
            (Store::Celery, rest)
        } else if let Some(rest) = text.strip_prefix("django-db+") {
            (Store::Django, rest)
        } else if text == "django-db" {
            return Err(SqlUrlError::DjangoWithoutDatabase);
        } else {
            return Err(SqlUrlError::Unsupported("not a database URL".into()));
        };
        let (scheme, rest) = database
            .split_once("://")
            .ok_or_else(|| SqlUrlError::Unsupported("no scheme".into()))?;
        // SQLAlchemy's dialect[+driver]: the driver is the workers' business.
        let dialect = scheme.split_once('+').map_or(scheme, |(d, _)| d);
        let database = match dialect {
            "postgresql" | "postgres" => {
                let url = format!("postgresql://{rest}");
                let mut config: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e: tokio_postgres::Error| SqlUrlError::Postgres(e.to_string()))?;
                if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                    return Err(SqlUrlError::Tls);
                }
                if config.get_connect_timeout().is_none() {
                    config.connect_timeout(super::DATABASE_TIMEOUT);
                }
                Database::Postgres(Box::new(config))
            }
            "sqlite" => {
                // SQLAlchemy: sqlite:///relative, sqlite:////absolute;
                // sqlite:// is a database in the worker's own memory.
                let path = rest.strip_prefix('/').unwrap_or(rest);
                let path = path.split_once('?').map_or(path, |(p, _)| p);
                if path.is_empty() || path == ":memory:" {
                    return Err(SqlUrlError::Unsupported(
                        "an in-memory SQLite database lives inside the worker's process".into(),
                    ));
                }
                Database::Sqlite(PathBuf::from(path))
            }
            other => {
                return Err(SqlUrlError::Unsupported(format!(
                    "the {other} dialect is not read"
                )));
            }
        };
        Ok(SqlUrl {
            store,
            database,
            shown: mask(text),
        })
    }

    /// The URL with any password masked.
    pub fn masked(&self) -> &str {
        &self.shown
    }
}

/// `scheme://user:****@host…`: the password between the first `:` after
/// the scheme and the last `@` before the path is masked.
fn mask(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****{}", &rest[at..]),
        None => text.to_string(),
    }
}

/// One row as read, before decoding: text columns as bytes too, so both
/// tables share it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub task_id: String,
    pub status: String,
    pub result: Option<Vec<u8>>,
    /// django-celery-results' `content_type` and `content_encoding`.
    pub content: Option<(String, String)>,
    pub traceback: Option<String>,
    /// `date_done` as unix seconds (the databases keep UTC).
    pub date_done: Option<f64>,
    pub name: Option<String>,
    pub args: Option<Vec<u8>>,
    pub kwargs: Option<Vec<u8>>,
    pub worker: Option<String>,
    pub retries: Option<i64>,
    pub queue: Option<String>,
}

/// Celery's ready states: only these have a `date_done` that means "done"
/// (django-celery-results writes one at every state).
fn is_ready(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILURE" | "REVOKED")
}

/// What one stored value is, as far as celadon reads it.
enum Stored {
    Json(String),
    Unreadable(&'static str),
}

const PICKLE: &str = "a pickle (result_serializer = \"pickle\", or a row an older Celery \
     wrote with PickleType), which celadon does not unpickle";
const NOT_JSON: &str = "neither JSON nor a pickle (compressed with result_compression, or \
     another result_serializer)";

/// A value Celery's database backend wrote with its result serializer.
fn celery_value(bytes: &[u8]) -> Stored {
    if bytes.first() == Some(&0x80) {
        return Stored::Unreadable(PICKLE);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if serde_json::from_str::<&RawValue>(text).is_ok() => {
            Stored::Json(text.to_string())
        }
        _ => Stored::Unreadable(NOT_JSON),
    }
}

/// A value django-celery-results wrote: text in the serializer's content
/// type, base64 when `binary`.
fn django_value(bytes: &[u8], content: Option<&(String, String)>) -> Stored {
    let (content_type, encoding) = content.map_or(("", ""), |(t, e)| (t.as_str(), e.as_str()));
    match (content_type, encoding) {
        ("application/json", "utf-8" | "utf8") => celery_value(bytes),
        ("application/x-python-serialize", _) => Stored::Unreadable(PICKLE),
        _ => Stored::Unreadable(NOT_JSON),
    }
}

impl Row {
    /// The row as the backend's state of its task.
    pub fn decode(self, store: Store) -> Meta {
        let value = |bytes: &[u8]| match store {
            Store::Celery => celery_value(bytes),
            Store::Django => django_value(bytes, self.content.as_ref()),
        };
        let result = match self.result.as_deref().map(value) {
            None => Some(Value::Null),
            Some(Stored::Json(text)) => serde_json::from_str(&text).ok(),
            Some(Stored::Unreadable(_)) => None,
        };
        let arguments = match (self.args.as_deref(), self.kwargs.as_deref()) {
            (Some(args), Some(kwargs)) => match (value(args), value(kwargs)) {
                (Stored::Json(args), Stored::Json(kwargs)) => arguments(store, args, kwargs),
                (Stored::Unreadable(why), _) | (_, Stored::Unreadable(why)) => {
                    StoredArguments::Unreadable(why.to_string())
                }
            },
            _ => StoredArguments::Absent,
        };
        Meta {
            done_at: self.date_done.filter(|_| is_ready(&self.status)),
            status: self.status,
            result,
            traceback: self.traceback,
            name: self.name,
            arguments,
            worker: self.worker,
            retries: self.retries.and_then(|r| u32::try_from(r).ok()),
            queue: self.queue,
        }
    }
}

/// The arguments a row keeps, from the JSON text of its two columns.
fn arguments(store: Store, args: String, kwargs: String) -> StoredArguments {
    let raw = |text: String| RawValue::from_string(text).ok();
    let (Some(args), Some(kwargs)) = (raw(args), raw(kwargs)) else {
        return StoredArguments::Unreadable(NOT_JSON.into());
    };
    if store == Store::Django {
        // Celery's argsrepr/kwargsrepr in a JSON string (task protocol
        // 2); the real values only from a protocol 1 message.
        if let (Ok(args), Ok(kwargs)) = (
            serde_json::from_str::<String>(args.get()),
            serde_json::from_str::<String>(kwargs.get()),
        ) {
            return StoredArguments::Repr { args, kwargs };
        }
    }
    StoredArguments::Json { args, kwargs }
}

/// A `date_done` SQLite keeps as text (SQLAlchemy and Django both write
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, in UTC) as unix seconds.
pub fn sqlite_time(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)) {
        return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6);
    }
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())?;
    let t = naive.and_utc();
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn celery_row(status: &str, result: &[u8], args: &[u8], kwargs: &[u8]) -> Row {
        Row {
            task_id: "t-1".into(),
            status: status.into(),
            result: Some(result.to_vec()),
            date_done: Some(1_796_489_971.305_523),
            name: Some("celadon_tasks.echo_raw".into()),
            args: Some(args.to_vec()),
            kwargs: Some(kwargs.to_vec()),
            worker: Some("sqw@it".into()),
            retries: Some(0),
            queue: Some("celery".into()),
            ..Row::default()
        }
    }

    #[test]
    fn urls_in_every_accepted_spelling() {
        for (text, store, pg) in [
            ("db+postgresql://u:pw@h:5433/results", Store::Celery, true),
            ("db+postgresql+psycopg2://u@h/results", Store::Celery, true),
            ("db+postgres://u@h/results", Store::Celery, true),
            ("db+sqlite:///results.db", Store::Celery, false),
            (
                "db+sqlite:////var/lib/celery/results.db",
                Store::Celery,
                false,
            ),
            (
                "django-db+postgresql://u@/shop?host=/run/postgresql",
                Store::Django,
                true,
            ),
            (
                "django-db+sqlite:////srv/shop/db.sqlite3",
                Store::Django,
                false,
            ),
        ] {
            let url = SqlUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.store, store, "{text}");
            assert_eq!(matches!(url.database, Database::Postgres(_)), pg, "{text}");
            assert!(SqlUrl::claims(text));
        }
        let url = SqlUrl::parse("db+postgresql://u:pw@h:5433/results").unwrap();
        assert_eq!(url.masked(), "db+postgresql://u:****@h:5433/results");
        assert!(!format!("{url:?}").contains("pw"));
        let Database::Postgres(config) = url.database else {
            panic!()
        };
        assert_eq!(config.get_dbname(), Some("results"));
        assert_eq!(config.get_user(), Some("u"));
        assert_eq!(
            SqlUrl::parse("db+sqlite:///results.db").unwrap().database,
            Database::Sqlite("results.db".into())
        );
        assert_eq!(
            SqlUrl::parse("db+sqlite:////var/r.db").unwrap().database,
            Database::Sqlite("/var/r.db".into())
        );
    }

    #[test]
    fn urls_celadon_cannot_read_say_why() {
        assert_eq!(
            SqlUrl::parse("django-db"),
            Err(SqlUrlError::DjangoWithoutDatabase)
        );
        for (text, says) in [
            ("db+mysql://u@h/r", "the mysql dialect is not read"),
            ("db+sqlite://", "in-memory"),
            ("db+postgresql://h/r?sslmode=require", "TLS"),
            ("db+postgresql://h/r?nonsense=1", "not a PostgreSQL URL"),
            ("db+results.db", "no scheme"),
        ] {
            let e = SqlUrl::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(!SqlUrl::claims("redis://h/1"));
    }

    #[test]
    fn celery_rows_keep_the_json_text_of_the_arguments() {
        let meta = celery_row(
            "SUCCESS",
            b"{\"nargs\": 2}",
            br#"[1, "two", 9007199254740993]"#,
            br#"{"b": 1, "a": [2]}"#,
        )
        .decode(Store::Celery);
        assert_eq!(meta.result, Some(serde_json::json!({"nargs": 2})));
        let StoredArguments::Json { args, kwargs } = &meta.arguments else {
            panic!("{:?}", meta.arguments)
        };
        assert_eq!(args.get(), r#"[1, "two", 9007199254740993]"#);
        assert_eq!(kwargs.get(), r#"{"b": 1, "a": [2]}"#);
        assert_eq!(meta.done_at, Some(1_796_489_971.305_523));
        assert_eq!(meta.queue.as_deref(), Some("celery"));
        assert_eq!(meta.retries, Some(0));
    }

    #[test]
    fn a_pickle_is_reported_and_never_read() {
        // pickle.dumps([1, 2], protocol=4)
        let pickled = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.";
        let meta = celery_row("SUCCESS", pickled, pickled, b"{}").decode(Store::Celery);
        assert_eq!(meta.result, None);
        let StoredArguments::Unreadable(why) = &meta.arguments else {
            panic!("{:?}", meta.arguments)
        };
        assert!(why.contains("pickle"), "{why}");
        let zlib = celery_row("SUCCESS", b"x\x9c+\x01\x00", b"[]", b"{}").decode(Store::Celery);
        assert_eq!(zlib.result, None);
    }

    #[test]
    fn a_started_row_has_no_done_time_and_no_extended_columns_mean_no_arguments() {
        let row = Row {
            task_id: "t".into(),
            status: "STARTED".into(),
            result: Some(br#"{"pid": 7, "hostname": "w@h"}"#.to_vec()),
            date_done: Some(1.0e9),
            ..Row::default()
        };
        let meta = row.decode(Store::Celery);
        assert_eq!(meta.done_at, None);
        assert_eq!(meta.arguments, StoredArguments::Absent);
        assert_eq!(meta.result.unwrap()["hostname"], "w@h");
    }

    #[test]
    fn django_rows_hold_celerys_reprs_in_json_strings() {
        let row = Row {
            task_id: "t".into(),
            status: "FAILURE".into(),
            content: Some(("application/json".into(), "utf-8".into())),
            result: Some(br#"{"exc_type": "ValueError", "exc_message": ["cannot refund -5 on order 7"], "exc_module": "builtins"}"#.to_vec()),
            date_done: Some(1.8e9),
            name: Some("orders.tasks.refund".into()),
            args: Some(br#""[7, -5]""#.to_vec()),
            kwargs: Some(br#""{'reason': 'late'}""#.to_vec()),
            ..Row::default()
        };
        let meta = row.clone().decode(Store::Django);
        assert_eq!(meta.result.as_ref().unwrap()["exc_type"], "ValueError");
        assert_eq!(
            meta.arguments,
            StoredArguments::Repr {
                args: "[7, -5]".into(),
                kwargs: "{'reason': 'late'}".into()
            }
        );
        assert_eq!(meta.done_at, Some(1.8e9));
        let pickled = Row {
            content: Some(("application/x-python-serialize".into(), "binary".into())),
            result: Some(b"gASVAgAAAAAAAABLAS4=".to_vec()),
            ..row
        }
        .decode(Store::Django);
        assert_eq!(pickled.result, None);
        assert!(matches!(pickled.arguments, StoredArguments::Unreadable(_)));
    }

    #[test]
    fn sqlite_times_are_utc_text() {
        let near = |text: &str, want: f64| {
            let got = sqlite_time(text).unwrap_or_else(|| panic!("{text}"));
            assert!((got - want).abs() < 1e-6, "{text}: {got} != {want}");
        };
        near("2026-12-05 16:59:31.305523", 1_796_489_971.305_523);
        near("2026-12-05 16:59:31", 1_796_489_971.0);
        near("2026-12-05 17:59:31.5+01:00", 1_796_489_971.5);
        assert_eq!(sqlite_time("yesterday"), None);
    }
}
