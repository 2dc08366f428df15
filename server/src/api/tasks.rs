//! `/api/tasks`, `/api/task/info/<id>`, `/api/task/types`: Flower's read API
//! for tasks, with its parameters and shapes.

use axum::{
    extract::{Path, RawQuery, State},
    Json,
};
use chrono::{Local, NaiveDateTime, TimeZone};

use super::{
    error::ApiError,
    json::{Ordered, TaskJson},
    params::Params,
    AppState,
};
use crate::state::{
    key::TaskKey,
    query::{self, Sort, SortKey, TaskQuery},
    search,
};

/// Tasks copied out of the model per owner turn, so that a huge page never
/// holds up event ingestion.
const FETCH_CHUNK: usize = 2000;

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

pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Ordered<TaskJson>>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let query = parse_query(&params)?;
    let keys = app
        .state
        .read(move |model| {
            query::page(model, &query)
                .iter()
                .filter_map(|s| model.tasks.at(*s).map(|t| t.key))
                .collect::<Vec<TaskKey>>()
        })
        .await
        .ok_or(ApiError::ShuttingDown)?;
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(FETCH_CHUNK) {
        let chunk = chunk.to_vec();
        let rows = app
            .state
            .read(move |model| {
                chunk
                    .iter()
                    .filter_map(|k| model.tasks.get(*k).map(|t| TaskJson::of(model, t)))
                    .collect::<Vec<_>>()
            })
            .await
            .ok_or(ApiError::ShuttingDown)?;
        out.extend(rows.into_iter().map(|t| (t.uuid.clone(), t)));
    }
    Ok(Json(Ordered(out)))
}

pub async fn info(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskJson>, ApiError> {
    let key = TaskKey::of(&id);
    let task = app
        .state
        .read(move |model| model.tasks.get(key).map(|t| TaskJson::of(model, t)))
        .await
        .ok_or(ApiError::ShuttingDown)?;
    task.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Unknown task '{id}'")))
}

pub async fn types(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut names = app
        .state
        .read(|model| {
            model
                .types
                .keys()
                .filter(|s| !s.is_none())
                .map(|s| model.symbols.text(*s).to_string())
                .collect::<Vec<_>>()
        })
        .await
        .ok_or(ApiError::ShuttingDown)?;
    names.sort();
    Ok(Json(serde_json::json!({ "task-types": names })))
}
