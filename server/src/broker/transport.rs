//! Celery's `broker_transport_options` (and
//! `result_backend_transport_options`), which celadon takes as JSON flags:
//! every option kombu's Redis transport reads is either applied here (the
//! names of keys and channels, how connections are made, Sentinel) or
//! accepted and named, in one line at start, as having no effect. Only a
//! malformed value is refused. Pure.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Map, Value};

use super::{ssl::SslOptions, url::Login};

/// Which setting the options are: the broker's, or the result backend's
/// (which names nothing but its keys' prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Broker,
    Backend,
}

/// How every connection to one Redis deployment is made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectOptions {
    /// `socket_timeout`: how long a command may wait for its answer.
    pub socket_timeout: Option<Duration>,
    /// `socket_connect_timeout`: TCP, TLS and the login together.
    pub socket_connect_timeout: Option<Duration>,
    /// `socket_keepalive`: TCP keepalive on every connection.
    pub socket_keepalive: bool,
    /// `client_name`: `CLIENT SETNAME` on every connection.
    pub client_name: Option<String>,
}

/// Sentinel's options: the master's name, and how to reach the sentinels
/// (`sentinel_kwargs`: redis-py's connection arguments for them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SentinelOptions {
    pub master_name: Option<String>,
    /// A master is taken only from a sentinel that sees this many others.
    pub min_other_sentinels: u64,
    pub login: Login,
    /// `ssl: true` in `sentinel_kwargs`, with its `ssl_*` settings.
    pub tls: Option<SslOptions>,
    pub socket_timeout: Option<Duration>,
    pub socket_connect_timeout: Option<Duration>,
}

/// Every option, with kombu's defaults for Celery (`fanout_prefix` and
/// `fanout_patterns` on).
#[derive(Clone, Debug, PartialEq)]
pub struct TransportOptions {
    /// Prefixes every key and channel.
    pub global_keyprefix: String,
    /// Puts `/{db}.` before channel names (pub/sub is global across dbs).
    pub fanout_prefix: bool,
    /// Adds `/{routing_key}` to event channels.
    pub fanout_patterns: bool,
    /// kombu's separator in priority queue keys and binding members.
    pub sep: String,
    pub priority_steps: Vec<u8>,
    /// The hash of messages delivered and not yet acknowledged.
    pub unacked_key: String,
    /// The sorted set of their delivery times (`unacked_index_key`).
    pub unacked_index_key: String,
    /// `visibility_timeout`: seconds after its delivery that an
    /// unacknowledged message is restored to its queue by kombu's sweep.
    pub visibility_timeout: f64,
    pub connect: ConnectOptions,
    pub sentinel: SentinelOptions,
    /// Options given that change nothing here, each with why, for the one
    /// line said at start.
    pub ignored: Vec<(String, &'static str)>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            global_keyprefix: String::new(),
            fanout_prefix: true,
            fanout_patterns: true,
            sep: "\x06\x16".into(),
            priority_steps: vec![0, 3, 6, 9],
            unacked_key: "unacked".into(),
            unacked_index_key: "unacked_index".into(),
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            connect: ConnectOptions::default(),
            sentinel: SentinelOptions::default(),
            ignored: Vec::new(),
        }
    }
}

/// kombu's `visibility_timeout` when none is given: an hour.
pub const DEFAULT_VISIBILITY_TIMEOUT: f64 = 3600.0;

const CONSUMES_NOTHING: &str = "celadon consumes no messages";
const OWN_RETRIES: &str = "celadon retries the broker forever with its own backoff";
const FEW_CONNECTIONS: &str = "celadon opens a fixed few connections";
const REOPENS: &str = "celadon reopens a connection after any failure on it";
const BROKER_ONLY: &str = "it names the broker's queues and channels, not the backend's keys";
const BACKEND_ONLY: &str = "it is read by Celery's result backend only";
const UNKNOWN: &str = "not an option of kombu's Redis transport";

/// Options kombu (or Celery's backend) reads that mean nothing here.
fn no_effect(key: &str) -> Option<&'static str> {
    Some(match key {
        "ack_emulation"
        | "unacked_mutex_key"
        | "unacked_mutex_expire"
        | "unacked_restore_limit"
        | "unacked_restore_interval"
        | "unacked_restore_throttle"
        | "queue_order_strategy"
        | "polling_interval"
        | "brpop_timeout"
        | "body_encoding"
        | "deadletter_queue" => CONSUMES_NOTHING,
        "max_retries" | "interval_start" | "interval_step" | "interval_max" => OWN_RETRIES,
        "max_connections" => FEW_CONNECTIONS,
        "health_check_interval" | "retry_on_timeout" => REOPENS,
        "socket_keepalive_options" => "TCP keepalive uses the system's timings",
        "sentinel_fanout_compat" => {
            "celadon listens on the current fanout topic, which kombu publishes on either way"
        }
        "retry_policy" | "result_chord_ordered" | "additional_connection_errors" => {
            "celadon only reads task results"
        }
        _ => return None,
    })
}

impl TransportOptions {
    /// Parses the options of `role` as JSON (a Python dict written as
    /// JSON). A malformed value is an error naming its key.
    pub fn parse(json: &str, role: Role) -> Result<TransportOptions, String> {
        let map: Map<String, Value> = serde_json::from_str(json)
            .map_err(|e| format!("not valid transport options JSON: {e}"))?;
        let mut o = TransportOptions::default();
        for (key, value) in &map {
            let bad = |what: &str| format!("{key}={value} is not {what}");
            let text = || {
                value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("text"))
            };
            let flag = || value.as_bool().ok_or_else(|| bad("true or false"));
            let names = role == Role::Broker || key == "global_keyprefix";
            match key.as_str() {
                "global_keyprefix" => o.global_keyprefix = text()?,
                "fanout_prefix" if names => o.fanout_prefix = flag()?,
                "fanout_patterns" if names => o.fanout_patterns = flag()?,
                "sep" if names => o.sep = text()?,
                "unacked_key" if names => o.unacked_key = text()?,
                "unacked_index_key" if names => o.unacked_index_key = text()?,
                // Read to say when a held message will be redelivered.
                "visibility_timeout" if names => {
                    o.visibility_timeout = seconds(value)
                        .map_err(bad)?
                        .map_or(DEFAULT_VISIBILITY_TIMEOUT, |d| d.as_secs_f64());
                }
                "priority_steps" if names => {
                    o.priority_steps = serde_json::from_value(value.clone())
                        .map_err(|_| bad("a list of priorities 0-255"))?;
                    if o.priority_steps.is_empty() {
                        return Err("priority_steps must not be empty".into());
                    }
                }
                "fanout_prefix" | "fanout_patterns" | "sep" | "unacked_key" | "priority_steps"
                | "unacked_index_key" | "visibility_timeout" => {
                    o.ignored.push((key.clone(), BROKER_ONLY))
                }
                "socket_timeout" => o.connect.socket_timeout = seconds(value).map_err(bad)?,
                "socket_connect_timeout" => {
                    o.connect.socket_connect_timeout = seconds(value).map_err(bad)?;
                }
                "socket_keepalive" => o.connect.socket_keepalive = !value.is_null() && flag()?,
                "client_name" => {
                    o.connect.client_name = (!value.is_null()).then(text).transpose()?;
                }
                "master_name" => o.sentinel.master_name = Some(text()?),
                "min_other_sentinels" => {
                    o.sentinel.min_other_sentinels =
                        value.as_u64().ok_or_else(|| bad("a count"))?;
                }
                "sentinel_kwargs" => sentinel_kwargs(value, &mut o)?,
                "retry_policy" | "result_chord_ordered" | "additional_connection_errors"
                    if role == Role::Broker =>
                {
                    o.ignored.push((key.clone(), BACKEND_ONLY));
                }
                other => o
                    .ignored
                    .push((other.to_string(), no_effect(other).unwrap_or(UNKNOWN))),
            }
        }
        Ok(o)
    }

    /// The one line said at start about options that change nothing, with
    /// the flag they came from; `None` when there are none.
    pub fn ignored_note(&self, flag: &str) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let mut by_why: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (key, why) in &self.ignored {
            by_why.entry(why).or_default().push(key);
        }
        let parts: Vec<String> = by_why
            .into_iter()
            .map(|(why, keys)| format!("{} ({why})", keys.join(", ")))
            .collect();
        Some(format!("{flag}: no effect here: {}", parts.join("; ")))
    }
}

/// Seconds as a number, or `null` for none.
fn seconds(value: &Value) -> Result<Option<Duration>, &'static str> {
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_f64()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or("a number of seconds")
}

/// redis-py's arguments for the sentinels' own connections.
fn sentinel_kwargs(value: &Value, o: &mut TransportOptions) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let map = value
        .as_object()
        .ok_or_else(|| format!("sentinel_kwargs={value} is not a dict"))?;
    let mut ssl = Map::new();
    let mut tls = false;
    for (key, value) in map {
        let bad = |what: &str| format!("sentinel_kwargs: {key}={value} is not {what}");
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("text"))
        };
        match key.as_str() {
            "password" => o.sentinel.login.password = Some(text()?),
            "username" => o.sentinel.login.username = Some(text()?),
            "socket_timeout" => o.sentinel.socket_timeout = seconds(value).map_err(bad)?,
            "socket_connect_timeout" => {
                o.sentinel.socket_connect_timeout = seconds(value).map_err(bad)?;
            }
            "ssl" => tls = value.as_bool().ok_or_else(|| bad("true or false"))?,
            k if k.starts_with("ssl_") => {
                ssl.insert(k.to_string(), value.clone());
            }
            other => o.ignored.push((
                format!("sentinel_kwargs.{other}"),
                "celadon reads password, username, socket_timeout, socket_connect_timeout, \
                 ssl and ssl_* there",
            )),
        }
    }
    if tls {
        let json = Value::Object(ssl).to_string();
        o.sentinel.tls =
            Some(SslOptions::from_json(&json).map_err(|e| format!("sentinel_kwargs: {e}"))?);
    } else if !ssl.is_empty() {
        return Err("sentinel_kwargs has ssl_* settings without \"ssl\": true".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(json: &str) -> TransportOptions {
        TransportOptions::parse(json, Role::Broker).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn connection_and_sentinel_options_are_applied() {
        let o = broker(
            r#"{"socket_timeout": 2.5, "socket_connect_timeout": 3, "socket_keepalive": true,
                "client_name": "celadon", "master_name": "mymaster", "min_other_sentinels": 1,
                "sentinel_kwargs": {"password": "s3", "socket_timeout": 0.5, "ssl": true,
                                    "ssl_cert_reqs": "none"}}"#,
        );
        assert_eq!(o.connect.socket_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            o.connect.socket_connect_timeout,
            Some(Duration::from_secs(3))
        );
        assert!(o.connect.socket_keepalive);
        assert_eq!(o.connect.client_name.as_deref(), Some("celadon"));
        assert_eq!(o.sentinel.master_name.as_deref(), Some("mymaster"));
        assert_eq!(o.sentinel.min_other_sentinels, 1);
        assert_eq!(o.sentinel.login.password.as_deref(), Some("s3"));
        assert_eq!(o.sentinel.socket_timeout, Some(Duration::from_millis(500)));
        assert!(o.sentinel.tls.as_ref().is_some_and(|t| !t.verifies()));
        assert!(o.ignored.is_empty(), "{:?}", o.ignored);
        assert_eq!(o.ignored_note("--x"), None);
    }

    #[test]
    fn options_without_effect_are_named_in_one_line_with_why() {
        let o = broker(
            r#"{"ack_emulation": true, "max_connections": 10, "socket_keepalive_options": {},
                "health_check_interval": 25, "max_retries": 3, "global_key_prefix": "x",
                "sentinel_kwargs": {"db": 0}, "global_keyprefix": "app:"}"#,
        );
        assert_eq!(o.global_keyprefix, "app:");
        let note = o.ignored_note("--broker-transport-options").unwrap();
        assert!(!note.contains('\n'));
        for key in [
            "ack_emulation (celadon consumes no messages)",
            "max_connections (celadon opens a fixed few connections)",
            "socket_keepalive_options",
            "health_check_interval",
            "max_retries",
            "global_key_prefix (not an option of kombu's Redis transport)",
            "sentinel_kwargs.db",
        ] {
            assert!(note.contains(key), "{key}: {note}");
        }
        assert!(
            note.starts_with("--broker-transport-options: no effect here: "),
            "{note}"
        );
    }

    #[test]
    fn the_unacked_index_and_visibility_timeout_are_applied() {
        let o = broker(r#"{"visibility_timeout": 43200, "unacked_index_key": "held_at"}"#);
        assert_eq!(o.visibility_timeout, 43200.0);
        assert_eq!(o.unacked_index_key, "held_at");
        assert!(o.ignored.is_empty(), "{:?}", o.ignored);
        assert_eq!(broker("{}").visibility_timeout, DEFAULT_VISIBILITY_TIMEOUT);
        assert_eq!(
            broker(r#"{"visibility_timeout": null}"#).visibility_timeout,
            3600.0
        );
        let err = TransportOptions::parse(r#"{"visibility_timeout": "long"}"#, Role::Broker);
        assert!(err.unwrap_err().contains("visibility_timeout"));
    }

    #[test]
    fn the_backend_takes_its_key_prefix_and_names_the_brokers_options() {
        let o = TransportOptions::parse(
            r#"{"global_keyprefix": "b:", "fanout_prefix": false, "retry_policy": {},
                "master_name": "m"}"#,
            Role::Backend,
        )
        .unwrap();
        assert_eq!(o.global_keyprefix, "b:");
        assert!(o.fanout_prefix, "not applied for the backend");
        assert_eq!(o.sentinel.master_name.as_deref(), Some("m"));
        let keys: Vec<&str> = o.ignored.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["fanout_prefix", "retry_policy"]);
        let o = broker(r#"{"retry_policy": {}}"#);
        assert_eq!(o.ignored, [("retry_policy".to_string(), BACKEND_ONLY)]);
    }

    #[test]
    fn malformed_values_are_refused_naming_them() {
        for (json, why) in [
            (
                r#"{"priority_steps": []}"#,
                "priority_steps must not be empty",
            ),
            (
                r#"{"priority_steps": [300]}"#,
                "priority_steps=[300] is not a list",
            ),
            (
                r#"{"socket_timeout": "soon"}"#,
                "socket_timeout=\"soon\" is not a number",
            ),
            (
                r#"{"socket_timeout": -1}"#,
                "socket_timeout=-1 is not a number",
            ),
            (
                r#"{"socket_keepalive": 1}"#,
                "socket_keepalive=1 is not true or false",
            ),
            (r#"{"master_name": 3}"#, "master_name=3 is not text"),
            (
                r#"{"fanout_prefix": "yes"}"#,
                "fanout_prefix=\"yes\" is not true or false",
            ),
            (
                r#"{"sentinel_kwargs": [1]}"#,
                "sentinel_kwargs=[1] is not a dict",
            ),
            (
                r#"{"sentinel_kwargs": {"ssl_cert_reqs": "none"}}"#,
                "without \"ssl\": true",
            ),
            (
                r#"{"min_other_sentinels": -1}"#,
                "min_other_sentinels=-1 is not a count",
            ),
            ("nope", "not valid transport options JSON"),
        ] {
            let err = TransportOptions::parse(json, Role::Broker).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }
}
