//! `/api/tasks?format=csv|ndjson`: any listing, across history, streamed as
//! it is read (a page from memory and one from the store at a time), so an
//! export of millions of tasks holds a few pages, never the whole result.

use app::wire::rest;
use axum::{
    body::{Body, Bytes},
    http::header,
    response::{IntoResponse, Response},
};
use futures_util::stream;

use super::{redaction::Redaction, tasks::HISTORY_HEADER};
use crate::history::Listing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;

/// The CSV's columns: every field of a task as the read API names it.
pub const CSV_COLUMNS: [&str; 29] = [
    "uuid",
    "name",
    "state",
    "received",
    "sent",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
    "runtime",
    "retries",
    "worker",
    "queue",
    "exchange",
    "routing_key",
    "args",
    "kwargs",
    "result",
    "exception",
    "traceback",
    "eta",
    "expires",
    "root_id",
    "parent_id",
    "children",
    "client",
];

struct Export {
    listing: Listing,
    format: Format,
    skip: usize,
    left: usize,
    header: bool,
    done: bool,
    redaction: Redaction,
}

/// The response streaming `listing` (after `offset`, at most `limit`).
pub fn stream(
    listing: Listing,
    format: Format,
    offset: usize,
    limit: Option<usize>,
    redaction: Redaction,
) -> Response {
    let completeness = listing.completeness();
    let export = Export {
        listing: listing.scan_everything(),
        format,
        skip: offset,
        left: limit.unwrap_or(usize::MAX),
        header: format == Format::Csv,
        done: false,
        redaction,
    };
    let body = stream::unfold(export, |mut export| async move {
        if export.done {
            return None;
        }
        let chunk = export.chunk().await;
        if chunk.is_err() {
            export.done = true;
        }
        Some((chunk, export))
    });
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "celadon-tasks.csv"),
        Format::Ndjson => ("application/x-ndjson", "celadon-tasks.ndjson"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (
                header::HeaderName::from_static(HISTORY_HEADER),
                completeness.header(),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

impl Export {
    /// The next chunk; the last one may be short, an empty one ends the
    /// stream. A failed read ends it with an error, so the client sees a
    /// cut transfer rather than a complete-looking file.
    async fn chunk(&mut self) -> Result<Bytes, std::io::Error> {
        let mut out = String::new();
        if std::mem::take(&mut self.header) {
            out.push_str(&CSV_COLUMNS.join(","));
            out.push_str("\r\n");
        }
        while out.len() < CHUNK && self.left > 0 {
            let next = self.listing.next().await.map_err(|error| {
                tracing::warn!(%error, "an export stopped: history could not be read");
                std::io::Error::other("history could not be read")
            })?;
            let Some(task) = next else {
                self.left = 0;
                break;
            };
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            self.left -= 1;
            let mut task = task;
            self.redaction.apply(|r| r.rest_task(&mut task));
            match self.format {
                Format::Csv => csv_row(&mut out, &task),
                Format::Ndjson => {
                    out.push_str(&serde_json::to_string(&task).map_err(std::io::Error::other)?);
                    out.push('\n');
                }
            }
        }
        if self.left == 0 {
            self.done = true;
        }
        Ok(Bytes::from(out))
    }
}

fn csv_row(out: &mut String, t: &rest::Task) {
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let fields: [String; 29] = [
        t.uuid.clone(),
        t.name.clone().unwrap_or_default(),
        t.state.clone(),
        num(t.received),
        num(t.sent),
        num(t.started),
        num(t.succeeded),
        num(t.failed),
        num(t.retried),
        num(t.revoked),
        num(t.rejected),
        num(t.timestamp),
        num(t.runtime),
        t.retries.map(|r| r.to_string()).unwrap_or_default(),
        t.worker.clone().unwrap_or_default(),
        t.queue.clone().unwrap_or_default(),
        t.exchange.clone().unwrap_or_default(),
        t.routing_key.clone().unwrap_or_default(),
        t.args.clone().unwrap_or_default(),
        t.kwargs.clone().unwrap_or_default(),
        t.result.clone().unwrap_or_default(),
        t.exception.clone().unwrap_or_default(),
        t.traceback.clone().unwrap_or_default(),
        t.eta.clone().unwrap_or_default(),
        t.expires.clone().unwrap_or_default(),
        t.root_id.clone().unwrap_or_default(),
        t.parent_id.clone().unwrap_or_default(),
        t.children.join(" "),
        t.client.clone().unwrap_or_default(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// RFC 4180: a field with a comma, a quote or a line break is quoted, its
/// quotes doubled; the text is otherwise as Celery sent it.
pub(super) fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        for f in ["plain", "a,b", "say \"hi\"", "line\nbreak", "(1, 'x')"] {
            csv_field(&mut out, f);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"line\nbreak\"|\"(1, 'x')\"|"
        );
    }
}
