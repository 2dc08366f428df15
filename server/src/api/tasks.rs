//! `/api/tasks`, `/api/task/info/<id>`, `/api/task/types`: Flower's read API
//! for tasks, with its parameters and shapes.

use std::collections::HashSet;

use app::wire::rest;
use axum::{
    Json,
    extract::{RawQuery, State},
};
use chrono::{Local, NaiveDateTime, TimeZone};
use serde::{Serialize, Serializer, ser::SerializeMap};

use super::{AppState, error::ApiError, extract::Path, params::Params};
use crate::state::{
    key::TaskKey,
    query::{Sort, SortKey, TaskQuery},
    read::{MAX_READ_ROWS, MAX_READ_SPAN},
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
    if let Some(text) = params.get("search") {
        q.search = Some(search::parse(text).map_err(|e| ApiError::bad("search", e.to_string()))?);
    }
    Ok(q)
}

/// Flower's listing, read from the model a bounded page at a time (each
/// page continues from the last one's cursor, so a listing of every task
/// never holds up event ingestion for long). A task whose place in the
/// order moved between pages is listed once.
pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Ordered<rest::Task>>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let mut query = parse_query(&params)?;
    let mut skip = std::mem::take(&mut query.offset);
    let mut left = query.limit.take().unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    while left > 0 {
        // Skip ahead in reads of at most MAX_READ_SPAN, then take.
        let take = left.min(MAX_READ_ROWS);
        let skip_now = skip.min(MAX_READ_SPAN - take);
        let take = if skip > skip_now { 0 } else { take };
        let page = app.state.task_list(query.clone(), skip_now, take).await?;
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
    Ok(Json(Ordered(out)))
}

pub async fn info(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<rest::Task>, ApiError> {
    let task = app.state.task(TaskKey::of(&id)).await?;
    task.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Unknown task '{id}'")))
}

pub async fn types(State(app): State<AppState>) -> Result<Json<rest::TaskTypes>, ApiError> {
    Ok(Json(rest::TaskTypes {
        task_types: app.state.task_types().await?,
    }))
}
