//! The worker commands celadon sends on users' behalf, checked before they
//! leave: each becomes the method and arguments Celery's own client sends
//! (PROTOCOL.md §5.3), and anything a worker could choke on is refused here
//! with a message saying what was wrong. Pure.

use serde_json::{Value, json};

/// Signals `revoke(terminate=True)` may send, by the names Celery accepts.
pub const SIGNALS: [&str; 10] = [
    "SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGABRT",
    "SIGALRM", "SIGCONT",
];

/// The most processes one grow or shrink may ask for: a worker forks them
/// at once, so a mistyped or hostile `n` could exhaust its machine.
pub const MAX_POOL_STEP: u32 = 64;

/// The largest pool `autoscale` may set (its `max`).
pub const MAX_AUTOSCALE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(why: impl Into<String>) -> Invalid {
    Invalid(why.into())
}

/// A command, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub method: &'static str,
    pub arguments: Value,
}

/// A signal name, `TERM` or `SIGTERM` in any case, as `SIGTERM`.
pub fn signal(name: &str) -> Result<String, Invalid> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if SIGNALS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(invalid(format!(
            "signal must be one of {}, not {name:?}",
            SIGNALS.join(", ")
        )))
    }
}

/// A task id: what Celery generates is a UUID, but any id made of
/// printable characters is accepted, as Celery does.
pub fn task_id(id: &str) -> Result<&str, Invalid> {
    if id.is_empty() || id.len() > 255 || id.chars().any(|c| c.is_control()) {
        return Err(invalid(format!("{id:?} is not a task id")));
    }
    Ok(id)
}

pub fn revoke(ids: &[String], terminate: bool, signal_name: &str) -> Result<Command, Invalid> {
    for id in ids {
        task_id(id)?;
    }
    if ids.is_empty() {
        return Err(invalid("no task to revoke"));
    }
    Ok(Command {
        method: "revoke",
        arguments: json!({
            "task_id": ids,
            "terminate": terminate,
            "signal": signal(signal_name)?,
        }),
    })
}

/// A task name as Celery registers them: dotted Python identifiers (and
/// the odd dash), never empty.
pub fn task_name(name: &str) -> Result<&str, Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(name)
    } else {
        Err(invalid(format!("{name:?} is not a task name")))
    }
}

/// Celery's rate syntax: `N`, `N/s`, `N/m` or `N/h` (N may have a
/// fraction); empty or `0` turns the limit off.
pub fn rate_limit(task: &str, rate: &str) -> Result<Command, Invalid> {
    task_name(task)?;
    let rate = rate.trim();
    let value = if rate.is_empty() || rate == "0" {
        Value::Null
    } else {
        let (n, unit) = rate.split_once('/').unwrap_or((rate, "s"));
        let number_ok = n.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0)
            && n.chars().all(|c| c.is_ascii_digit() || c == '.');
        if !number_ok || !matches!(unit, "s" | "m" | "h") {
            return Err(invalid(format!(
                "rate limit must look like 10, 10/s, 10/m or 10/h, not {rate:?}"
            )));
        }
        Value::String(rate.to_string())
    };
    Ok(Command {
        method: "rate_limit",
        arguments: json!({"task_name": task, "rate_limit": value}),
    })
}

/// Soft and hard time limits in seconds; at least one, each positive, and
/// the soft one below the hard one.
pub fn time_limit(task: &str, soft: Option<f64>, hard: Option<f64>) -> Result<Command, Invalid> {
    task_name(task)?;
    if soft.is_none() && hard.is_none() {
        return Err(invalid("give soft, hard or both (seconds)"));
    }
    for (what, v) in [("soft", soft), ("hard", hard)] {
        if v.is_some_and(|v| !v.is_finite() || v <= 0.0) {
            return Err(invalid(format!(
                "{what} must be a positive number of seconds"
            )));
        }
    }
    if let (Some(s), Some(h)) = (soft, hard)
        && s >= h
    {
        return Err(invalid("the soft limit must be below the hard one"));
    }
    Ok(Command {
        method: "time_limit",
        arguments: json!({"task_name": task, "soft": soft, "hard": hard}),
    })
}

fn pool_step(n: u32) -> Result<u32, Invalid> {
    if n == 0 || n > MAX_POOL_STEP {
        return Err(invalid(format!(
            "n must be from 1 to {MAX_POOL_STEP} (celadon's cap on one step), not {n}"
        )));
    }
    Ok(n)
}

pub fn pool_grow(n: u32) -> Result<Command, Invalid> {
    Ok(Command {
        method: "pool_grow",
        arguments: json!({"n": pool_step(n)?}),
    })
}

pub fn pool_shrink(n: u32) -> Result<Command, Invalid> {
    Ok(Command {
        method: "pool_shrink",
        arguments: json!({"n": pool_step(n)?}),
    })
}

pub fn autoscale(max: u32, min: u32) -> Result<Command, Invalid> {
    if max == 0 || max > MAX_AUTOSCALE || min > max {
        return Err(invalid(format!(
            "autoscale needs 0 ≤ min ≤ max, 1 ≤ max ≤ {MAX_AUTOSCALE}"
        )));
    }
    Ok(Command {
        method: "autoscale",
        arguments: json!({"max": max, "min": min}),
    })
}

pub fn pool_restart() -> Command {
    Command {
        method: "pool_restart",
        arguments: json!({"modules": null, "reload": false, "reloader": null}),
    }
}

/// A queue name: kombu keys lists by it, so no control characters.
pub fn queue(name: &str) -> Result<&str, Invalid> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(invalid(format!("{name:?} is not a queue name")));
    }
    Ok(name)
}

pub fn add_consumer(q: &str) -> Result<Command, Invalid> {
    Ok(Command {
        method: "add_consumer",
        arguments: json!({
            "queue": queue(q)?,
            "exchange": null,
            "exchange_type": "direct",
            "routing_key": null,
        }),
    })
}

pub fn cancel_consumer(q: &str) -> Result<Command, Invalid> {
    Ok(Command {
        method: "cancel_consumer",
        arguments: json!({"queue": queue(q)?}),
    })
}

pub fn shutdown() -> Command {
    Command {
        method: "shutdown",
        arguments: json!({}),
    }
}

/// What a worker's reply says: `Ok(text)` or `Err(text)`.
pub fn reply_outcome(reply: &Value) -> Result<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(e) = reply.get("error") {
        return Err(text(e));
    }
    if let Some(ok) = reply.get("ok") {
        return Ok(text(ok));
    }
    Ok(text(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_arguments(name: &str) -> Value {
        let path = format!(
            "{}/fixtures/control/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let raw = doc["request"]["raw"].as_str().unwrap();
        let body = crate::broker::envelope::decode_body(raw.as_bytes()).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        body["arguments"].clone()
    }

    #[test]
    fn commands_carry_the_arguments_celery_sends() {
        let check = |c: Command, fixture: &str| {
            let theirs = fixture_arguments(fixture);
            let (Value::Object(ours), Value::Object(theirs)) = (&c.arguments, &theirs) else {
                panic!("not objects");
            };
            let mut a: Vec<_> = ours.keys().collect();
            let mut b: Vec<_> = theirs.keys().collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{fixture}");
        };
        check(
            revoke(&["x".into()], true, "TERM").unwrap(),
            "revoke.terminate",
        );
        check(rate_limit("tasks.add", "10/m").unwrap(), "rate_limit");
        check(
            time_limit("tasks.slow", Some(2.0), Some(3.0)).unwrap(),
            "time_limit",
        );
        check(pool_grow(1).unwrap(), "pool_grow");
        check(pool_shrink(1).unwrap(), "pool_shrink");
        check(autoscale(4, 1).unwrap(), "autoscale");
        check(pool_restart(), "pool_restart");
        check(add_consumer("extra").unwrap(), "add_consumer");
        check(cancel_consumer("extra").unwrap(), "cancel_consumer");
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        assert!(signal("SIGFOO").unwrap_err().0.contains("SIGTERM"));
        assert_eq!(signal("kill").unwrap(), "SIGKILL");
        assert!(rate_limit("tasks.add", "ten").is_err());
        assert!(rate_limit("tasks.add", "10/d").is_err());
        assert!(rate_limit("tasks.add", "1e9").is_err());
        assert_eq!(
            rate_limit("tasks.add", "").unwrap().arguments["rate_limit"],
            Value::Null
        );
        assert!(rate_limit("tasks add", "1").is_err());
        assert!(time_limit("t", None, None).is_err());
        assert!(time_limit("t", Some(5.0), Some(3.0)).is_err());
        assert!(time_limit("t", Some(-1.0), None).is_err());
        assert!(pool_grow(0).is_err());
        assert!(pool_grow(MAX_POOL_STEP).is_ok());
        let too_many = pool_grow(MAX_POOL_STEP + 1).unwrap_err().0;
        assert!(too_many.contains("n must be from 1 to 64"), "{too_many}");
        assert!(autoscale(1, 2).is_err());
        assert!(add_consumer("").is_err());
        assert!(revoke(&[], false, "TERM").is_err());
        assert!(revoke(&["a\nb".into()], false, "TERM").is_err());
    }

    #[test]
    fn replies_read_as_ok_or_error() {
        assert_eq!(
            reply_outcome(&json!({"ok": "pool will grow"})),
            Ok("pool will grow".into())
        );
        assert_eq!(
            reply_outcome(&json!({"error": "ValueError('Autoscale not enabled')"})),
            Err("ValueError('Autoscale not enabled')".into())
        );
    }
}
