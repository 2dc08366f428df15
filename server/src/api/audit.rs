//! The audit trail over HTTP: the middleware that records every request
//! that changes something (`auth::policy::needed` names a role for it),
//! refused ones included, and every failed basic-auth login; and
//! `/api/audit` (a page, or an export) and `/api/audit/verify`.
//!
//! The middleware sits outside the guard, so the guard's refusals are
//! recorded too; the guard puts the [`Principal`] it found on the answer.
//! It reads the request's body (up to [`MAX_REQUEST_BODY`], the API's own
//! limit) and the answer's (when its size is known and at most
//! [`MAX_ANSWER`]), and passes both on unchanged.

use app::wire::audit::{AuditPage, BrokenLink, ChainStatus};
use axum::{
    Json,
    body::{Body, Bytes, HttpBody},
    extract::{RawQuery, State},
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;
use futures_util::stream;

use super::{AppState, error::ApiError, export::csv_field, params::Params};
use crate::{
    audit::{Entry, NewEntry, Outcome, Query, Verdict},
    auth::{Principal, policy},
    listen::client::Client,
};

/// The largest request body read to record its parameters: the API's
/// own limit, which the handlers would apply anyway. A larger body is
/// refused here with 413, as the handler would refuse it.
pub const MAX_REQUEST_BODY: usize = super::limits::MAX_BODY;

/// The largest answer read for an entry's outcome (control answers are
/// small JSON). A larger one, or one of unknown size, is passed on
/// without being read, and the entry says so.
pub const MAX_ANSWER: u64 = 256 * 1024;

/// Entries in one page of `/api/audit`, at most (and by default
/// [`DEFAULT_PAGE`]).
pub const MAX_PAGE: usize = 1_000;
pub const DEFAULT_PAGE: usize = 100;

/// Entries read per round trip of an export.
const EXPORT_PAGE: usize = 500;

/// Records `request` if it changes something, or if it is a failed
/// basic-auth login; everything else passes untouched.
pub async fn record(State(app): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let Some(path) = app.base.strip(request.uri().path()).map(str::to_string) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && policy::needed(&method, &path).is_some();
    let client = request
        .extensions()
        .get::<Client>()
        .map_or_else(|| "unknown".to_string(), |c| c.addr.clone());
    let user = basic_user(request.headers());
    if !changes {
        let response = next.run(request).await;
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(user) = user
        {
            let why = format!("wrong user or password ({method} {path})");
            keep(
                &app,
                NewEntry::login_failed(&user, "basic", &client, 401, &why),
            )
            .await;
        }
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(_) => {
            let error = ApiError::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                why: format!("the request's body is over {MAX_REQUEST_BODY} bytes"),
            };
            let response = error.into_response();
            let principal = Principal::anonymous(None);
            let outcome = Outcome {
                status: 413,
                result: Verdict::Refused,
                detail: "the request's body was too large to read".into(),
            };
            let (action, target) =
                alerts_action(&method, &path).unwrap_or_else(|| action_of(&path));
            let params = parts.uri.query().unwrap_or("").to_string();
            let entry = NewEntry::new(&principal, &client, &action, target, &params, outcome);
            keep(&app, unknown_via(entry)).await;
            return response;
        }
    };
    let params = params_text(parts.uri.query(), &without_secret(&path, &body));
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    let (response, answer) = read_answer(response).await;
    let (action, target) = alerts_action(&method, &path).unwrap_or_else(|| action_of(&path));
    let detail = answer
        .as_deref()
        .map_or_else(|| "(the answer was not kept: too large)".into(), lossy);
    let outcome = Outcome {
        status: status.as_u16(),
        result: verdict(status, answer.as_deref()),
        detail,
    };
    let entry = match (response.extensions().get::<Principal>(), user) {
        (_, Some(user)) if status == StatusCode::UNAUTHORIZED => {
            let why = format!("wrong user or password (asked for {action})");
            let mut entry = NewEntry::login_failed(&user, "basic", &client, 401, &why);
            entry.params = crate::audit::bounded(&params, crate::audit::MAX_PARAMS);
            entry
        }
        (Some(principal), _) => {
            NewEntry::new(principal, &client, &action, target, &params, outcome)
        }
        (None, _) => unknown_via(NewEntry::new(
            &Principal::anonymous(None),
            &client,
            &action,
            target,
            &params,
            outcome,
        )),
    };
    keep(&app, entry).await;
    response
}

/// An entry whose asker the guard never recognised.
fn unknown_via(mut entry: NewEntry) -> NewEntry {
    entry.via = "none".into();
    entry
}

async fn keep(app: &AppState, entry: NewEntry) {
    // A trail that has stopped logged the entry itself.
    let _ = app.audit.record(entry).await;
}

/// The user a basic-auth header names (never its password).
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8_lossy(&decoded);
    let user = text.split_once(':').map_or(&*text, |(user, _)| user);
    Some(crate::audit::bounded(user, 256))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The query string, then the body on a line of its own, as given.
fn params_text(query: Option<&str>, body: &[u8]) -> String {
    let query = query.unwrap_or("");
    match (query.is_empty(), body.is_empty()) {
        (_, true) => query.to_string(),
        (true, false) => lossy(body),
        (false, false) => format!("{query}\n{}", lossy(body)),
    }
}

/// The answer, and its body's bytes when they could be read within
/// [`MAX_ANSWER`]; the answer passed on is the same either way.
async fn read_answer(response: Response) -> (Response, Option<Bytes>) {
    let known = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_ANSWER);
    if !known {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::try_from(MAX_ANSWER).unwrap_or(usize::MAX)).await {
        Ok(bytes) => (
            Response::from_parts(parts, Body::from(bytes.clone())),
            Some(bytes),
        ),
        Err(_) => (Response::from_parts(parts, Body::empty()), None),
    }
}

// Alerts (issue 21): the Alerts page's edits name what they do to which
// rule or webhook, and a webhook's secret is never recorded.

/// `alerts.rules.add|edit|delete`, `alerts.webhooks.add|edit|delete|test`,
/// with the rule or webhook's name; `None` for any other path.
pub fn alerts_action(method: &Method, path: &str) -> Option<(String, Option<String>)> {
    let (action, _) = action_of(path);
    let rest = action.strip_prefix("alerts.")?;
    let mut parts = rest.splitn(2, '.');
    let kind = parts
        .next()
        .filter(|k| matches!(*k, "rules" | "webhooks"))?;
    let name = parts.next().map(|_| {
        percent_encoding::percent_decode_str(
            path.trim_start_matches(&format!("/api/alerts/{kind}/"))
                .trim_end_matches("/test"),
        )
        .decode_utf8_lossy()
        .into_owned()
    });
    let verb = match (method.as_str(), path.ends_with("/test")) {
        ("POST", true) => "test",
        ("POST", false) => "add",
        ("PUT", _) => "edit",
        ("DELETE", _) => "delete",
        _ => return None,
    };
    Some((format!("alerts.{kind}.{verb}"), name))
}

/// The body as recorded: a webhook's `secret` replaced by `‹secret›`.
fn without_secret(path: &str, body: &[u8]) -> Bytes {
    if !path.starts_with("/api/alerts/webhooks") {
        return Bytes::copy_from_slice(body);
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut o)) => {
            if let Some(v) = o.get_mut("secret") {
                *v = serde_json::Value::String("‹secret›".into());
            }
            Bytes::from(serde_json::Value::Object(o).to_string())
        }
        // Not an object: nothing of it is kept (it may be a secret).
        Ok(_) | Err(_) if !body.is_empty() => Bytes::from_static(b"(not a JSON object: not kept)"),
        _ => Bytes::new(),
    }
}

/// The action a path names (relative to the base), and what it acts on.
pub fn action_of(path: &str) -> (String, Option<String>) {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (action, target) = match s.as_slice() {
        ["api", "task", "send-task", name] => ("task.send".to_string(), Some(*name)),
        ["api", "task", verb, target] => (format!("task.{verb}"), Some(*target)),
        ["api", "tasks", verb] => (format!("tasks.bulk.{verb}"), None),
        ["api", "queues", queue, verb] => (format!("queue.{verb}"), Some(*queue)),
        ["api", "worker", "shutdown", worker] => ("worker.shutdown".to_string(), Some(*worker)),
        ["api", "worker", kind, verb, worker] => (format!("worker.{kind}.{verb}"), Some(*worker)),
        ["api", rest @ ..] if !rest.is_empty() => (rest.join("."), None),
        _ => ("other".to_string(), Some(path)),
    };
    (action, target.map(str::to_string))
}

/// How an answer says the action ended.
pub fn verdict(status: StatusCode, body: Option<&[u8]>) -> Verdict {
    let json: Option<serde_json::Value> = body.and_then(|b| serde_json::from_slice(b).ok());
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    match status.as_u16() {
        200..=299 => {
            let delivered = field("delivered").and_then(serde_json::Value::as_i64);
            let replies = field("replies").and_then(serde_json::Value::as_object);
            let silent = field("no_reply")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|n| !n.is_empty());
            if delivered == Some(0) || (replies.is_some_and(|r| r.is_empty()) && silent) {
                Verdict::NotDelivered
            } else {
                Verdict::Ok
            }
        }
        // A worker that answered with an error: the action was tried.
        403 if field("replies")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|r| !r.is_empty()) =>
        {
            Verdict::Failed
        }
        504 => Verdict::NotDelivered,
        // `control::not_delivered`: no worker is connected to hear it.
        503 if field("error")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|e| e.contains("was not delivered")) =>
        {
            Verdict::NotDelivered
        }
        400..=499 => Verdict::Refused,
        _ => Verdict::Failed,
    }
}

/// `GET /api/audit`: a page newest first (`who`, `action`, `task`,
/// `since`/`until` in unix seconds as for `/api/tasks`, `limit`,
/// `offset`), or with `format=csv|ndjson` every matching entry.
pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let text = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let ms = |s: Option<f64>| s.map(|s| (s * 1000.0).round() as i64);
    let query = Query {
        who: text("who"),
        action: text("action"),
        target: text("task"),
        since: ms(params.float("since")?),
        until: ms(params.float("until")?),
        before: None,
        limit: params
            .number("limit")?
            .unwrap_or(DEFAULT_PAGE)
            .min(MAX_PAGE),
        offset: params.number("offset")?.unwrap_or(0),
    };
    let reader = app.audit.reader().clone();
    match params.get("format").unwrap_or("") {
        "" | "json" => {
            let entries = reader.page(query).await.map_err(unreadable)?;
            Ok(Json(AuditPage {
                persisted: reader.persisted(),
                entries: entries.iter().map(Entry::to_wire).collect(),
            })
            .into_response())
        }
        "csv" => Ok(export(reader, query, true)),
        "ndjson" => Ok(export(reader, query, false)),
        other => Err(ApiError::bad(
            "format",
            format!("{other:?} is not csv, ndjson or json"),
        )),
    }
}

fn unreadable(error: crate::store::StoreError) -> ApiError {
    tracing::warn!(%error, "the audit trail could not be read");
    ApiError::Unavailable("the audit trail could not be read; see celadon's log".into())
}

/// The CSV's columns.
pub const CSV_COLUMNS: [&str; 14] = [
    "seq",
    "at",
    "who",
    "role",
    "via",
    "client",
    "action",
    "target",
    "params",
    "status",
    "result",
    "detail",
    "prev_hash",
    "hash",
];

/// Every entry matching `query` (its limit and offset aside), newest
/// first, a page at a time.
fn export(reader: crate::audit::trail::TrailReader, query: Query, csv: bool) -> Response {
    let start = Query {
        limit: EXPORT_PAGE,
        offset: 0,
        ..query
    };
    let state = (reader, Some(start), csv);
    let body = stream::unfold(state, |(reader, query, csv)| async move {
        let query = query?;
        let mut out = String::new();
        if csv && query.before.is_none() {
            out.push_str(&CSV_COLUMNS.join(","));
            out.push_str("\r\n");
        }
        let page = match reader.page(query.clone()).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "an audit export stopped: the trail could not be read");
                let cut = std::io::Error::other("the audit trail could not be read");
                return Some((Err(cut), (reader, None, csv)));
            }
        };
        for entry in &page {
            match csv {
                true => csv_row(&mut out, entry),
                false => {
                    let line = serde_json::to_string(&entry.to_wire()).unwrap_or_default();
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        let next = match (page.last(), page.len() == EXPORT_PAGE) {
            (Some(last), true) => Some(Query {
                before: Some(last.seq),
                ..query
            }),
            _ => None,
        };
        if out.is_empty() {
            return None;
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(out)),
            (reader, next, csv),
        ))
    });
    let (content_type, file) = match csv {
        true => ("text/csv; charset=utf-8", "celadon-audit.csv"),
        false => ("application/x-ndjson", "celadon-audit.ndjson"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn csv_row(out: &mut String, e: &Entry) {
    let at = chrono::DateTime::from_timestamp_millis(e.at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let fields = [
        e.seq.to_string(),
        at,
        e.who.clone(),
        e.role.map_or("", |r| r.as_str()).to_string(),
        e.via.clone(),
        e.client.clone(),
        e.action.clone(),
        e.target.clone().unwrap_or_default(),
        e.params.clone(),
        e.outcome.status.to_string(),
        e.outcome.result.as_str().to_string(),
        e.outcome.detail.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// `GET /api/audit/verify`: the whole chain walked.
pub async fn verify(State(app): State<AppState>) -> Result<Json<ChainStatus>, ApiError> {
    let reader = app.audit.reader();
    let (entries, broken) = reader.verify().await.map_err(unreadable)?;
    Ok(Json(ChainStatus {
        entries,
        intact: broken.is_none(),
        first_broken: broken.map(|b| BrokenLink {
            seq: b.seq,
            kind: b.kind.as_str().to_string(),
            why: b.why,
        }),
        persisted: reader.persisted(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_control_route_names_its_action_and_target() {
        let cases = [
            ("/api/task/revoke/6f1c", "task.revoke", Some("6f1c")),
            ("/api/task/retry/6f1c", "task.retry", Some("6f1c")),
            (
                "/api/task/send-task/proj.add",
                "task.send",
                Some("proj.add"),
            ),
            (
                "/api/task/async-apply/proj.add",
                "task.async-apply",
                Some("proj.add"),
            ),
            (
                "/api/task/rate-limit/proj.add",
                "task.rate-limit",
                Some("proj.add"),
            ),
            ("/api/tasks/retry", "tasks.bulk.retry", None),
            (
                "/api/worker/shutdown/w1%40h",
                "worker.shutdown",
                Some("w1@h"),
            ),
            (
                "/api/worker/pool/grow/w1@h",
                "worker.pool.grow",
                Some("w1@h"),
            ),
            (
                "/api/worker/queue/add-consumer/w1",
                "worker.queue.add-consumer",
                Some("w1"),
            ),
            ("/api/something/new", "something.new", None),
            ("/api/queues/celery/purge", "queue.purge", Some("celery")),
            ("/elsewhere", "other", Some("/elsewhere")),
        ];
        for (path, action, target) in cases {
            assert_eq!(
                action_of(path),
                (action.to_string(), target.map(str::to_string)),
                "{path}"
            );
        }
    }

    #[test]
    fn the_answer_says_how_the_action_ended() {
        let ok = StatusCode::OK;
        let v = |s: StatusCode, b: &str| verdict(s, Some(b.as_bytes()));
        assert_eq!(
            v(
                ok,
                r#"{"delivered":1,"replies":{"w":{"ok":"x"}},"no_reply":[]}"#
            ),
            Verdict::Ok
        );
        assert_eq!(
            v(ok, r#"{"message":"m","delivered":0}"#),
            Verdict::NotDelivered
        );
        assert_eq!(
            v(ok, r#"{"delivered":2,"replies":{},"no_reply":["w"]}"#),
            Verdict::NotDelivered
        );
        assert_eq!(
            v(StatusCode::FORBIDDEN, r#"{"error":"read only"}"#),
            Verdict::Refused
        );
        assert_eq!(
            v(
                StatusCode::FORBIDDEN,
                r#"{"error":"e","replies":{"w":{"error":"no"}}}"#
            ),
            Verdict::Failed
        );
        assert_eq!(v(StatusCode::UNAUTHORIZED, "{}"), Verdict::Refused);
        assert_eq!(v(StatusCode::GATEWAY_TIMEOUT, "{}"), Verdict::NotDelivered);
        assert_eq!(v(StatusCode::SERVICE_UNAVAILABLE, "{}"), Verdict::Failed);
        assert_eq!(
            v(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"revoke was not delivered: no worker is connected to the broker"}"#
            ),
            Verdict::NotDelivered
        );
    }

    #[test]
    fn the_alerts_edits_are_named_and_a_webhook_secret_is_never_kept() {
        let a = |m: Method, p: &str| alerts_action(&m, p);
        assert_eq!(
            a(Method::POST, "/api/alerts/rules"),
            Some(("alerts.rules.add".into(), None))
        );
        assert_eq!(
            a(Method::PUT, "/api/alerts/rules/worker%20down"),
            Some(("alerts.rules.edit".into(), Some("worker down".into())))
        );
        assert_eq!(
            a(Method::DELETE, "/api/alerts/webhooks/ops"),
            Some(("alerts.webhooks.delete".into(), Some("ops".into())))
        );
        assert_eq!(
            a(Method::POST, "/api/alerts/webhooks/ops/test"),
            Some(("alerts.webhooks.test".into(), Some("ops".into())))
        );
        assert_eq!(a(Method::POST, "/api/task/revoke/x"), None);
        let kept = without_secret(
            "/api/alerts/webhooks",
            br#"{"name":"ops","url":"http://h/x","secret":"hunter2"}"#,
        );
        assert_eq!(
            &kept[..],
            r#"{"name":"ops","secret":"‹secret›","url":"http://h/x"}"#.as_bytes()
        );
        assert_eq!(
            &without_secret("/api/alerts/webhooks/ops", b"hunter2")[..],
            b"(not a JSON object: not kept)"
        );
    }

    #[test]
    fn a_failed_login_names_the_user_never_the_password() {
        let mut h = HeaderMap::new();
        let given = base64::engine::general_purpose::STANDARD.encode("ann:s3cret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {given}").parse().unwrap(),
        );
        assert_eq!(basic_user(&h).as_deref(), Some("ann"));
        assert_eq!(basic_user(&HeaderMap::new()), None);
    }
}
