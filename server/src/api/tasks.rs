//! `/api/tasks`, `/api/task/info/<id>`, `/api/task/types`: Flower's read API
//! for tasks, with its parameters and shapes.

use std::collections::HashSet;

use app::wire::rest;
use axum::{
    Json,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use chrono::{Local, NaiveDateTime, TimeZone};
use serde::{Serialize, Serializer, ser::SerializeMap};

use super::{
    AppState, error::ApiError, export, extract::Path, limits::MAX_LIST_LIMIT, params::Params,
    redaction::Redaction,
};
use crate::history::{self, HistoryError, Listing};
use crate::state::{
    key::TaskKey,
    query::{Sort, SortKey, TaskQuery},
    read::{MAX_READ_ROWS, MAX_READ_SPAN, TaskList},
    search,
};

/// A JSON object whose keys keep the given order (Flower's `/api/tasks`
/// is an ordered mapping from task id to task).
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Flower's `received_start`/`received_end`: local time, to the minute.
fn local_minute(name: &'static str, value: &str) -> Result<f64, ApiError> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M").map_err(|_| {
        ApiError::bad(
            name,
            format!("{value:?} is not a time like 2026-11-21 15:04"),
        )
    })?;
    let local = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| ApiError::bad(name, format!("{value:?} does not exist in local time")))?;
    Ok(local.timestamp() as f64)
}

/// Parses `/api/tasks` parameters into a query, refusing anything malformed.
pub fn parse_query(params: &Params) -> Result<TaskQuery, ApiError> {
    let mut q = TaskQuery {
        limit: params.number("limit")?,
        offset: params.number("offset")?.unwrap_or(0),
        ..TaskQuery::default()
    };
    let any = |v: Option<&str>| {
        v.filter(|v| !v.is_empty() && *v != "All")
            .map(str::to_string)
    };
    q.worker = any(params.get("workername"));
    q.name = any(params.get("taskname"));
    q.state = any(params.get("state"));
    if let Some(v) = params.get("received_start").filter(|v| !v.is_empty()) {
        q.received.0 = Some(local_minute("received_start", v)?);
    }
    if let Some(v) = params.get("received_end").filter(|v| !v.is_empty()) {
        q.received.1 = Some(local_minute("received_end", v)?);
    }
    if let Some(sort) = params.get("sort_by").filter(|v| !v.is_empty()) {
        let (descending, name) = match sort.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, sort),
        };
        let key = SortKey::parse(name).ok_or_else(|| {
            let known: Vec<_> = SortKey::ALL.iter().map(|(n, _)| *n).collect();
            ApiError::bad(
                "sort_by",
                format!("{name:?} is not a column; use one of {}", known.join(", ")),
            )
        })?;
        q.sort = Sort { key, descending };
    }
    // celadon's: the last change in [since, until], unix seconds (the
    // Tasks page's time range).
    q.timestamp = (params.float("since")?, params.float("until")?);
    if let Some(text) = params.get("search") {
        q.search = Some(search::parse(text).map_err(|e| ApiError::bad("search", e.to_string()))?);
    }
    Ok(q)
}

/// Flower's listing. Without a `limit`, as in Flower, it is every task in
/// memory, read from the model a bounded page at a time (each page
/// continues from the last one's cursor, so a listing of every task never
/// holds up event ingestion for long). With a `limit`, or as an export
/// (`format=csv|ndjson`), it spans history too (`crate::history`), in the
/// default order (by last change); the `X-Celadon-History` header says
/// how much of history a search looked at.
pub async fn list(
    State(app): State<AppState>,
    redaction: Redaction,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let query = parse_query(&params)?;
    redaction.check(&query)?;
    let format = match params.get("format").unwrap_or("json") {
        "json" => None,
        "csv" => Some(export::Format::Csv),
        "ndjson" => Some(export::Format::Ndjson),
        other => {
            return Err(ApiError::bad(
                "format",
                format!("{other:?} is not json, csv or ndjson"),
            ));
        }
    };
    if format.is_none()
        && let Some(limit) = query.limit.filter(|l| *l > MAX_LIST_LIMIT)
    {
        return Err(ApiError::bad(
            "limit",
            format!(
                "{limit} is more than the {MAX_LIST_LIMIT} tasks one page lists; page with \
                 offset, or export with format=csv or format=ndjson"
            ),
        ));
    }
    let reader = app.history.as_ref().and_then(|h| h.reader.clone());
    if let Some(format) = format {
        let listing = Listing::new(app.state.clone(), reader, query.clone());
        return Ok(export::stream(
            listing,
            format,
            query.offset,
            query.limit,
            redaction,
        ));
    }
    if reader.is_none() || query.limit.is_none() || !history::spans_history(&query) {
        let rows = read_listing(query, |q, skip, take| {
            let state = app.state.clone();
            async move { Ok(state.task_list(q, skip, take).await?) }
        })
        .await?;
        let mut rows = rows;
        redaction.apply(|r| rows.iter_mut().for_each(|(_, t)| r.rest_task(t)));
        return Ok(Json(Ordered(rows)).into_response());
    }
    let mut listing = Listing::new(app.state.clone(), reader, query.clone());
    let mut rows = Vec::new();
    let mut skip = query.offset;
    let mut left = query.limit.unwrap_or(usize::MAX);
    while left > 0 {
        let Some(task) = listing.next().await.map_err(history_error)? else {
            break;
        };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        left -= 1;
        let mut task = task;
        redaction.apply(|r| r.rest_task(&mut task));
        rows.push((task.uuid.clone(), task));
    }
    Ok((
        [(HISTORY_HEADER, listing.completeness().header())],
        Json(Ordered(rows)),
    )
        .into_response())
}

/// Says how much of history a listing's search looked at (the browser
/// reads it as `rest::HistoryCoverage`).
pub const HISTORY_HEADER: &str = rest::HISTORY_HEADER;

/// A listing that could not be read: the store's error is logged, the
/// client told in a sentence.
pub fn history_error(error: HistoryError) -> ApiError {
    match error {
        HistoryError::Stopped(stopped) => stopped.into(),
        HistoryError::Store(error) => {
            tracing::warn!(%error, "could not read history for a listing");
            ApiError::Unavailable("history could not be read".into())
        }
    }
}

/// The tasks `query` lists after its `offset`, at most its `limit`, read
/// by `read(query, skip, take)` a page at a time: skipping ahead in reads
/// of at most `MAX_READ_SPAN`, then taking `MAX_READ_ROWS` at a time from
/// each page's cursor. A task the model moved between pages is listed
/// once (see `query::listing` for what a moving model means here).
async fn read_listing<F>(
    mut query: TaskQuery,
    mut read: impl FnMut(TaskQuery, usize, usize) -> F,
) -> Result<Vec<(String, rest::Task)>, ApiError>
where
    F: Future<Output = Result<TaskList, ApiError>>,
{
    let mut skip = std::mem::take(&mut query.offset);
    let mut left = query.limit.take().unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    while left > 0 {
        let take = left.min(MAX_READ_ROWS);
        let skip_now = skip.min(MAX_READ_SPAN - take);
        let take = if skip > skip_now { 0 } else { take };
        let page = read(query.clone(), skip_now, take).await?;
        skip -= skip_now;
        left -= page.rows.len();
        for row in page.rows {
            if seen.insert(row.uuid.clone()) {
                out.push((row.uuid.clone(), row));
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok(out)
}

pub async fn info(
    State(app): State<AppState>,
    redaction: Redaction,
    Path(id): Path<String>,
) -> Result<Json<rest::Task>, ApiError> {
    let redacted = |mut task: rest::Task| {
        redaction.apply(|r| r.rest_task(&mut task));
        Json(task)
    };
    if let Some(task) = app.state.task(TaskKey::of(&id)).await? {
        return Ok(redacted(task));
    }
    // Past memory: the history store, when it is kept.
    if let Some(reader) = app.history.as_ref().and_then(|h| h.reader.clone()) {
        match reader.task(id.clone()).await {
            Ok(Some(row)) => return Ok(redacted(crate::state::rows::rest_of_row(&row))),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, task = %id, "could not read a task from history");
                return Err(ApiError::Unavailable(
                    "the task is not in memory, and history could not be read".into(),
                ));
            }
        }
    }
    Err(ApiError::NotFound(format!("Unknown task '{id}'")))
}

pub async fn types(State(app): State<AppState>) -> Result<Json<rest::TaskTypes>, ApiError> {
    Ok(Json(rest::TaskTypes {
        task_types: app.state.task_types().await?,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::{
        Model,
        tasks::Limits,
        tests::{event, ingest},
    };

    /// `n` tasks received one a second, the newest last; their ids by age.
    fn model_of(n: usize) -> (Model, Vec<String>) {
        let mut model = Model::new(crate::state::ModelConfig {
            limits: Limits {
                max_tasks: n,
                max_bytes: usize::MAX,
            },
            ..Default::default()
        });
        let ids: Vec<String> = (0..n)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let events: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| event("task-received", id, 1e9 + i as f64, json!({"name": "t.a"})))
            .collect();
        ingest(&mut model, &events, 1e9);
        (model, ids)
    }

    async fn listed(model: &Model, offset: usize, limit: Option<usize>) -> Vec<String> {
        let q = TaskQuery {
            offset,
            limit,
            ..TaskQuery::default()
        };
        let rows = read_listing(q, |q, skip, take| {
            std::future::ready(Ok(model.task_list(&q, skip, take)))
        })
        .await
        .unwrap();
        rows.into_iter().map(|(id, _)| id).collect()
    }

    /// What the server writes, the browser reads: a listing in its order,
    /// and each spelling of the history header.
    #[tokio::test]
    async fn a_listing_and_its_history_header_read_back_as_the_browser_reads_them() {
        let (model, ids) = model_of(3);
        let q = TaskQuery {
            limit: Some(3),
            ..TaskQuery::default()
        };
        let rows = read_listing(q, |q, skip, take| {
            std::future::ready(Ok(model.task_list(&q, skip, take)))
        })
        .await
        .unwrap();
        let text = serde_json::to_string(&Ordered(rows.clone())).unwrap();
        let read: rest::TaskListing = serde_json::from_str(&text).unwrap();
        let newest_first: Vec<String> = ids.into_iter().rev().collect();
        let read_ids: Vec<String> = read.0.iter().map(|t| t.uuid.clone()).collect();
        assert_eq!(read_ids, newest_first);
        assert_eq!(read.0, rows.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
        use crate::history::Completeness;
        for (written, meant) in [
            (Completeness::Exact, rest::HistoryCoverage::Exact),
            (Completeness::Words, rest::HistoryCoverage::Words),
            (Completeness::Scanned(7), rest::HistoryCoverage::Scanned(7)),
        ] {
            assert_eq!(rest::HistoryCoverage::parse(&written.header()), Some(meant));
        }
    }

    /// Past a read's span, within it, and everything: each the newest-first
    /// slice of the whole, every task once.
    #[tokio::test]
    async fn a_listing_is_the_newest_first_slice_however_far_and_long() {
        let n = MAX_READ_SPAN + 2_500;
        let (model, ids) = model_of(n);
        let newest_first: Vec<String> = ids.into_iter().rev().collect();
        let slice = |from: usize, len: usize| newest_first[from..(from + len).min(n)].to_vec();
        assert_eq!(listed(&model, 0, Some(15)).await, slice(0, 15));
        assert_eq!(
            listed(&model, MAX_READ_SPAN + 500, Some(1_500)).await,
            slice(MAX_READ_SPAN + 500, 1_500),
            "skipped past one read's span, then taken across pages"
        );
        assert_eq!(listed(&model, 7, None).await, slice(7, n));
        assert_eq!(listed(&model, n, None).await, Vec::<String>::new());
    }
}
