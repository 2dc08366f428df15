//! A task sent through the API, read from its JSON body as Flower reads it
//! (`json.loads(request.body)`, whatever the content type) and passes it
//! to Celery's `apply_async`: `args`, `kwargs`, and the options a message
//! carries. Times are Flower's (`2026-12-05 14:00:00.000000`, taken as UTC,
//! Celery's default) or RFC 3339; countdowns and expiries may be numbers of
//! seconds. An option celadon cannot send (callbacks, another serializer,
//! routing through a named exchange) is refused by name rather than
//! dropped. Pure: `now` is given.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Map, Value, value::RawValue};

use super::error::ApiError;
use crate::control::{
    arguments::{Arguments, ArgumentsError},
    commands,
    message::{Options, PROTOCOL_HEADERS},
};

/// What a request to send a task asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Call {
    pub arguments: Arguments,
    pub options: Options,
    /// `task_id`: the new task's id, if the client chose it.
    pub task_id: Option<String>,
    /// `timeout` (apply): seconds to wait for the result.
    pub timeout: Option<f64>,
}

/// Options Celery's `apply_async` takes that change nothing on Redis or in
/// a message celadon sends once: accepted, and ignored.
const NO_EFFECT: [&str; 5] = [
    "retry",
    "retry_policy",
    "delivery_mode",
    "mandatory",
    "add_to_parent",
];

/// Options that ask for what celadon does not send, with why.
const REFUSED: [(&str, &str); 7] = [
    ("link", "callbacks cannot be sent from the API"),
    ("link_error", "callbacks cannot be sent from the API"),
    ("chain", "canvases cannot be sent from the API"),
    ("chord", "canvases cannot be sent from the API"),
    ("group_id", "group members cannot be sent from the API"),
    ("compression", "celadon sends messages uncompressed"),
    ("producer", "celadon publishes with its own connection"),
];

fn invalid(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(format!("Invalid option {name}: {why}"))
}

/// Reads a send request's body (`None`: no body, a call with no arguments).
pub fn read(body: Option<&RawValue>, now: DateTime<Utc>) -> Result<Call, ApiError> {
    let Some(body) = body else {
        return Ok(Call::default());
    };
    // The options come from a `Value` (the text is valid JSON: this fails
    // only past serde_json's nesting limit); the arguments from the text.
    let obj = match serde_json::from_str(body.get()) {
        Ok(Value::Null) => Map::new(),
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(ApiError::Invalid("invalid options".into())),
        Err(e) => {
            return Err(ApiError::Invalid(format!(
                "the body is not valid JSON: {e}"
            )));
        }
    };
    let mut call = Call {
        arguments: if obj.is_empty() {
            Arguments::default()
        } else {
            arguments(body)?
        },
        ..Call::default()
    };
    let o = &mut call.options;
    for (name, value) in &obj {
        if value.is_null() {
            continue;
        }
        match name.as_str() {
            "args" | "kwargs" => {}
            "queue" => o.queue = Some(queue_name(name, value)?),
            "routing_key" => o.routing_key = Some(queue_name(name, value)?),
            "exchange" => {
                if !text(name, value)?.is_empty() {
                    return Err(invalid(
                        name,
                        "routing through a named exchange is not supported: name the queue",
                    ));
                }
            }
            "priority" => o.priority = Some(priority(value)?),
            "eta" => o.eta = Some(date(name, value)?.to_rfc3339()),
            "countdown" => o.eta = Some(after(name, seconds(name, value)?, now)?),
            "expires" => {
                o.expires = Some(match seconds(name, value) {
                    Ok(s) => after(name, s, now)?,
                    Err(_) => date(name, value)?.to_rfc3339(),
                });
            }
            "task_id" => {
                let id = text(name, value)?;
                commands::task_id(&id).map_err(|e| invalid(name, e.0))?;
                call.task_id = Some(id);
            }
            "shadow" => o.shadow = Some(text(name, value)?),
            "soft_time_limit" => o.time_limits.0 = Some(seconds(name, value)?),
            "time_limit" => o.time_limits.1 = Some(seconds(name, value)?),
            "ignore_result" => {
                o.ignore_result = value
                    .as_bool()
                    .ok_or_else(|| invalid(name, "not a boolean"))?;
            }
            "retries" => {
                o.retries = value
                    .as_u64()
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or_else(|| invalid(name, "not a count"))?;
            }
            "headers" => o.headers = headers(value)?,
            "serializer" if value == "json" => {}
            "serializer" => return Err(invalid(name, "celadon sends JSON messages only")),
            "timeout" => call.timeout = Some(seconds(name, value)?),
            n if NO_EFFECT.contains(&n) => {}
            n => {
                let why = REFUSED
                    .iter()
                    .find(|(r, _)| *r == n)
                    .map_or("not an apply_async option celadon knows", |(_, why)| why);
                return Err(invalid(n, why));
            }
        }
    }
    Ok(call)
}

/// The client's args and kwargs, kept as the text it sent (a task sent
/// from the API gets them byte for byte); absent or null is none.
fn arguments(body: &RawValue) -> Result<Arguments, ApiError> {
    let mut members: HashMap<String, Box<RawValue>> = serde_json::from_str(body.get())
        .map_err(|_| ApiError::Invalid("invalid options".into()))?;
    let mut take = |name| members.remove(name).filter(|v| v.get() != "null");
    let (args, kwargs) = (take("args"), take("kwargs"));
    Arguments::from_raw_or_none(args, kwargs).map_err(|e| match e {
        ArgumentsError::ArgsNotList => ApiError::Invalid("args must be an array".into()),
        ArgumentsError::KwargsNotObject => ApiError::Invalid("kwargs must be an object".into()),
        ArgumentsError::NotJson(why) => ApiError::Invalid(format!("invalid options: {why}")),
    })
}

fn text(name: &str, value: &Value) -> Result<String, ApiError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(name, "not a string"))
}

fn queue_name(name: &str, value: &Value) -> Result<String, ApiError> {
    let q = text(name, value)?;
    commands::queue(&q).map_err(|e| invalid(name, e.0))?;
    Ok(q)
}

fn priority(value: &Value) -> Result<u8, ApiError> {
    let p = match value {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        v => v.as_u64(),
    };
    p.filter(|p| *p <= 9)
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| invalid("priority", "not an integer from 0 to 9"))
}

/// A non-negative number of seconds, as a number or as text (Flower's
/// `float(value)`).
fn seconds(name: &str, value: &Value) -> Result<f64, ApiError> {
    let s = match value {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        v => v.as_f64(),
    };
    s.filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| invalid(name, "not a non-negative number of seconds"))
}

/// `secs` after `now`, in RFC 3339; refused past what a date holds.
fn after(name: &str, secs: f64, now: DateTime<Utc>) -> Result<String, ApiError> {
    let far = || invalid(name, "too far in the future");
    // Past i64 milliseconds the cast saturates, and the delta is refused.
    let delta = TimeDelta::try_milliseconds((secs * 1000.0) as i64).ok_or_else(far)?;
    Ok(now.checked_add_signed(delta).ok_or_else(far)?.to_rfc3339())
}

/// A time: RFC 3339, or Flower's `%Y-%m-%d %H:%M:%S[.%f]` (with a space or
/// a `T`), which has no offset and is taken as UTC.
fn date(name: &str, value: &Value) -> Result<DateTime<Utc>, ApiError> {
    let s = text(name, value)?;
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Ok(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| {
            invalid(
                name,
                format!("{s:?} is not a time like 2026-12-05 14:00:00.000000 or RFC 3339"),
            )
        })
}

fn headers(value: &Value) -> Result<Map<String, Value>, ApiError> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid("headers", "not an object"))?;
    if let Some(k) = map.keys().find(|k| PROTOCOL_HEADERS.contains(&k.as_str())) {
        return Err(invalid("headers", format!("{k} is Celery's own header")));
    }
    Ok(map.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::arguments::{TRICKY_ARGS, TRICKY_KWARGS};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn call(body: &str) -> Result<Call, ApiError> {
        let raw: Box<RawValue> = serde_json::from_str(body).unwrap();
        read(Some(&raw), now())
    }

    #[test]
    fn sent_arguments_are_kept_as_the_client_wrote_them() {
        let body = format!(r#"{{"kwargs": {TRICKY_KWARGS}, "queue": "q", "args": {TRICKY_ARGS}}}"#);
        let c = call(&body).unwrap();
        assert_eq!(c.arguments.args().as_bytes(), TRICKY_ARGS.as_bytes());
        assert_eq!(c.arguments.kwargs().as_bytes(), TRICKY_KWARGS.as_bytes());
        assert_eq!(c.options.queue.as_deref(), Some("q"));
    }

    #[test]
    fn no_arguments_are_none() {
        for body in [
            "null",
            "{}",
            r#"{"args": null, "kwargs": null}"#,
            r#"{"queue": "q"}"#,
        ] {
            assert_eq!(
                call(body).unwrap().arguments,
                Arguments::default(),
                "{body}"
            );
        }
        assert_eq!(read(None, now()).unwrap(), Call::default());
        let only_kwargs = call(r#"{"kwargs": {"b": 1, "a": 2}}"#).unwrap().arguments;
        assert_eq!(only_kwargs.args(), "[]");
        assert_eq!(only_kwargs.kwargs(), r#"{"b": 1, "a": 2}"#);
    }

    /// Every option a message carries, in the spellings Flower's clients
    /// write.
    #[test]
    fn apply_async_options_become_the_message_options() {
        let c = call(
            r#"{"routing_key": "rk", "priority": "3", "eta": "2026-12-05 15:00:00.250000",
                "expires": "60", "task_id": "my-id-1", "shadow": "nice name",
                "soft_time_limit": 5, "time_limit": 10.5, "ignore_result": true,
                "retries": 2, "headers": {"tenant": "acme"}, "serializer": "json",
                "retry": true, "timeout": "2.5"}"#,
        )
        .unwrap();
        let o = &c.options;
        assert_eq!(o.routing_key.as_deref(), Some("rk"));
        assert_eq!(o.priority, Some(3));
        assert_eq!(o.eta.as_deref(), Some("2026-12-05T15:00:00.250+00:00"));
        assert_eq!(o.expires.as_deref(), Some("2026-12-05T14:01:00+00:00"));
        assert_eq!(c.task_id.as_deref(), Some("my-id-1"));
        assert_eq!(o.shadow.as_deref(), Some("nice name"));
        assert_eq!(o.time_limits, (Some(5.0), Some(10.5)));
        assert!(o.ignore_result);
        assert_eq!(o.retries, 2);
        assert_eq!(o.headers.get("tenant"), Some(&Value::from("acme")));
        assert_eq!(c.timeout, Some(2.5));
        let countdown = call(r#"{"countdown": 90, "eta": "2030-01-01T00:00:00+01:00"}"#).unwrap();
        assert!(countdown.options.eta.is_some());
        let eta = call(r#"{"eta": "2030-01-01T00:00:00+01:00"}"#).unwrap();
        assert_eq!(
            eta.options.eta.as_deref(),
            Some("2029-12-31T23:00:00+00:00")
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_what_is_wrong() {
        let deep = format!(r#"{{"args": [{}1{}]}}"#, "[".repeat(200), "]".repeat(200));
        for (body, error) in [
            (deep.as_str(), "the body is not valid JSON"),
            (r#"{"args": {"x": 1}}"#, "args must be an array"),
            (r#"{"args": "[1]"}"#, "args must be an array"),
            (r#"{"kwargs": [1]}"#, "kwargs must be an object"),
            ("[1]", "invalid options"),
            ("\"text\"", "invalid options"),
            (r#"{"priority": 10}"#, "Invalid option priority"),
            (
                r#"{"countdown": 1e13}"#,
                "Invalid option countdown: too far",
            ),
            (r#"{"expires": 1e300}"#, "Invalid option expires: too far"),
            (r#"{"eta": "tomorrow"}"#, "Invalid option eta"),
            (
                r#"{"link": {"task": "x"}}"#,
                "Invalid option link: callbacks",
            ),
            (r#"{"exchange": "fanout"}"#, "Invalid option exchange"),
            (r#"{"serializer": "pickle"}"#, "Invalid option serializer"),
            (
                r#"{"headers": {"id": "x"}}"#,
                "Invalid option headers: id is Celery's own",
            ),
            (r#"{"task_id": "a\u0001b"}"#, "Invalid option task_id"),
            (r#"{"colour": "blue"}"#, "Invalid option colour"),
        ] {
            let refused = call(body).map(|_| ()).expect_err(body);
            assert!(matches!(refused, ApiError::Invalid(_)), "{body}");
            assert!(refused.to_string().starts_with(error), "{body}: {refused}");
        }
    }
}
