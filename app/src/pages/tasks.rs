//! The Tasks page (`/tasks`): one page of tasks matching a query, live.
//! Everything the user picks (search, state, worker, name, sort, page,
//! columns) lives in the URL, so a view can be shared and reloaded; the
//! server sends only this page's rows and the totals.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};

use super::tasks_bulk::BulkActions;
use crate::base::{Base, use_base};
use crate::components::{CopyButton, StateBadge, Time, format_duration};
use crate::live::{snapshot_resource, use_live};
use crate::wire::{COLUMNS, DEFAULT_PAGE_SIZE, TaskRow, TasksData, TasksQuery, View, ViewData};

/// The query a URL's parameters describe. Unknown or malformed numbers fall
/// back to defaults; a bad search or sort comes back from the server as an
/// error shown next to the search box.
pub fn query_from(p: &ParamsMap) -> TasksQuery {
    let text = |k: &str| p.get(k).filter(|v| !v.is_empty() && v != "All");
    let number = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
    TasksQuery {
        search: p.get("search").unwrap_or_default(),
        state: text("state"),
        worker: text("worker"),
        name: text("name"),
        sort: text("sort").unwrap_or_else(|| TasksQuery::default().sort),
        offset: number("offset").unwrap_or(0),
        limit: number("limit").unwrap_or(DEFAULT_PAGE_SIZE),
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query's search and filters as URL parameters, the worker and task
/// name filters under the names given: the page's `worker` and `name`, or
/// the API's `workername` and `taskname`.
pub fn filter_params(q: &TasksQuery, worker: &str, name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    if !q.search.is_empty() {
        parts.push(format!("search={}", encode(&q.search)));
    }
    for (k, v) in [("state", &q.state), (worker, &q.worker), (name, &q.name)] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", encode(v)));
        }
    }
    parts
}

/// The URL of a view of the Tasks page; defaults are left out.
pub fn tasks_href(q: &TasksQuery, columns: Option<&str>) -> String {
    let d = TasksQuery::default();
    let mut parts = filter_params(q, "worker", "name");
    if q.sort != d.sort {
        parts.push(format!("sort={}", encode(&q.sort)));
    }
    if q.offset != 0 {
        parts.push(format!("offset={}", q.offset));
    }
    if q.limit != d.limit {
        parts.push(format!("limit={}", q.limit));
    }
    if let Some(c) = columns {
        parts.push(format!("columns={}", encode(c)));
    }
    if parts.is_empty() {
        "/tasks".into()
    } else {
        format!("/tasks?{}", parts.join("&"))
    }
}

#[component]
pub fn TasksPage() -> impl IntoView {
    let live = use_live();
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(query_from));
    let columns = Memo::new(move |_| params.with(|p| p.get("columns")));
    let view = Memo::new(move |_| View::Tasks { query: query.get() });
    live.follow(view);
    let initial = snapshot_resource(view.get_untracked());
    view! {
        <h1>"Tasks"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading tasks…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <TasksBody query columns/> }
            })}
        </Suspense>
    }
}

#[component]
fn TasksBody(query: Memo<TasksQuery>, columns: Memo<Option<String>>) -> impl IntoView {
    let live = use_live();
    // The last data received for this page; kept while a changed query's
    // first answer is on its way, so the table does not flash empty.
    let data = Memo::new(move |prev: Option<&Option<TasksData>>| {
        let fresh = live.model.with(|m| match &m.data {
            Some(ViewData::Tasks(t)) => Some(t.clone()),
            _ => None,
        });
        fresh.or_else(|| prev.cloned().flatten())
    });
    let shown = Memo::new(move |_| {
        let chosen = columns.get();
        let defaults = data.with(|d| d.as_ref().map(|d| d.default_columns.clone()));
        let list: Vec<String> = match chosen {
            Some(c) => c.split(',').map(str::to_string).collect(),
            None => defaults.unwrap_or_else(|| {
                crate::wire::DEFAULT_COLUMNS
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }),
        };
        list.into_iter()
            .filter(|c| COLUMNS.iter().any(|(k, _)| k == c))
            .collect::<Vec<_>>()
    });
    let rows =
        Memo::new(move |_| data.with(|d| d.as_ref().map(|d| d.rows.clone()).unwrap_or_default()));
    view! {
        <SearchBar query columns data/>
        <StatePills query columns data/>
        <BulkActions query/>
        <div class="toolbar">
            <ColumnChooser query shown/>
            <Pager query columns data/>
        </div>
        <Show
            when=move || !rows.with(Vec::is_empty)
            fallback=move || {
                let filtered = query.with(|q| q != &TasksQuery::default());
                view! {
                    <p class="empty" data-testid="no-tasks">
                        {if filtered {
                            "No task matches this query."
                        } else {
                            "No tasks yet. Tasks appear here as workers send their events."
                        }}
                    </p>
                }
            }
        >
            <div class="table-scroll">
            <table class="grid tasks" data-testid="tasks-table">
                <thead>
                    <tr>
                        <For
                            each=move || shown.get()
                            key=|c| c.clone()
                            children=move |c| view! { <SortHeader column=c query columns/> }
                        />
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.get()
                        key=|r| format!("{}:{}:{:?}:{:?}", r.id, r.state, r.retries, r.runtime)
                        children=move |row| view! { <TaskLine row shown/> }
                    />
                </tbody>
            </table>
            </div>
        </Show>
    }
}

#[component]
fn SearchBar(
    query: Memo<TasksQuery>,
    columns: Memo<Option<String>>,
    data: Memo<Option<TasksData>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let on_input = move |ev| {
        let mut q = query.get_untracked();
        q.search = event_target_value(&ev);
        q.offset = 0;
        let href = tasks_href(&q, columns.get_untracked().as_deref());
        navigate(
            &href,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    let error = move || data.with(|d| d.as_ref().and_then(|d| d.error.clone()));
    view! {
        <div class="search">
            <input
                type="search"
                data-testid="task-search"
                placeholder="Search: state:FAILURE name:add args:42 worker:w1 or any text"
                prop:value=move || query.with(|q| q.search.clone())
                on:input=on_input
                aria-invalid=move || error().is_some().to_string()
            />
            <Show when=move || error().is_some()>
                <p class="search-error" data-testid="search-error" role="alert">
                    {error}
                </p>
            </Show>
        </div>
    }
}

#[component]
fn StatePills(
    query: Memo<TasksQuery>,
    columns: Memo<Option<String>>,
    data: Memo<Option<TasksData>>,
) -> impl IntoView {
    let base = use_base();
    let pills = move || {
        let q = query.get();
        let cols = columns.get();
        let states = data.with(|d| d.as_ref().map(|d| d.states.clone()).unwrap_or_default());
        let mut all = q.clone();
        all.state = None;
        all.offset = 0;
        let mut out = vec![view! {
            <a class="pill" class:selected=q.state.is_none() href=base.href(&tasks_href(&all, cols.as_deref()))>
                "All"
            </a>
        }
        .into_any()];
        for (state, n) in states {
            let mut pick = all.clone();
            pick.state = Some(state.clone());
            let selected = q.state.as_deref() == Some(state.as_str());
            let class = format!("pill {}", crate::components::state_class(&state));
            let key = state.clone();
            out.push(
                view! {
                    <a
                        class=class
                        class:selected=selected
                        data-pill=key
                        href=base.href(&tasks_href(&pick, cols.as_deref()))
                    >
                        {state}
                        " "
                        <span class="count">{n}</span>
                    </a>
                }
                .into_any(),
            );
        }
        out
    };
    let filters = move || {
        let q = query.get();
        let cols = columns.get();
        let mut out = Vec::new();
        for (label, value, clear) in [("worker", q.worker.clone(), 0), ("name", q.name.clone(), 1)]
        {
            if let Some(v) = value {
                let mut without = q.clone();
                if clear == 0 {
                    without.worker = None;
                } else {
                    without.name = None;
                }
                out.push(view! {
                    <a class="pill filter" href=base.href(&tasks_href(&without, cols.as_deref())) title="Remove this filter">
                        {format!("{label}: {v} ×")}
                    </a>
                });
            }
        }
        out
    };
    view! { <nav class="pills">{pills} {filters}</nav> }
}

#[component]
fn ColumnChooser(query: Memo<TasksQuery>, shown: Memo<Vec<String>>) -> impl IntoView {
    let base = use_base();
    let items = move || {
        let q = query.get();
        let current = shown.get();
        COLUMNS
            .iter()
            .map(|(key, label)| {
                let on = current.iter().any(|c| c == key);
                let next: Vec<&str> = COLUMNS
                    .iter()
                    .map(|(k, _)| *k)
                    .filter(|k| {
                        if k == key {
                            !on
                        } else {
                            current.iter().any(|c| c == k)
                        }
                    })
                    .collect();
                let href = base.href(&tasks_href(&q, Some(&next.join(","))));
                view! {
                    <a class="column-choice" class:on=on data-column=*key href=href>
                        {if on { "☑ " } else { "☐ " }}
                        {*label}
                    </a>
                }
            })
            .collect_view()
    };
    view! {
        <details class="columns">
            <summary>"Columns"</summary>
            <div class="column-list">{items}</div>
        </details>
    }
}

#[component]
fn Pager(
    query: Memo<TasksQuery>,
    columns: Memo<Option<String>>,
    data: Memo<Option<TasksData>>,
) -> impl IntoView {
    let base = use_base();
    let summary = move || {
        let q = query.get();
        let (filtered, total) = data.with(|d| d.as_ref().map_or((0, 0), |d| (d.filtered, d.total)));
        let first = if filtered == 0 { 0 } else { q.offset + 1 };
        let last = (q.offset + q.limit).min(filtered);
        format!("{first}–{last} of {filtered} (of {total} kept)")
    };
    let link = move |forward: bool| {
        let q = query.get();
        let filtered = data.with(|d| d.as_ref().map_or(0, |d| d.filtered));
        let offset = if forward {
            q.offset + q.limit
        } else {
            q.offset.saturating_sub(q.limit)
        };
        let usable = if forward {
            offset < filtered
        } else {
            q.offset > 0
        };
        let mut to = q;
        to.offset = offset;
        usable.then(|| base.href(&tasks_href(&to, columns.get().as_deref())))
    };
    view! {
        <div class="pager">
            <span data-testid="task-count">{summary}</span>
            {move || match link(false) {
                Some(href) => view! { <a class="page" href=href>"‹ newer"</a> }.into_any(),
                None => view! { <span class="page disabled">"‹ newer"</span> }.into_any(),
            }}
            {move || match link(true) {
                Some(href) => view! { <a class="page" href=href>"older ›"</a> }.into_any(),
                None => view! { <span class="page disabled">"older ›"</span> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn SortHeader(
    column: String,
    query: Memo<TasksQuery>,
    columns: Memo<Option<String>>,
) -> impl IntoView {
    let base = use_base();
    let label = COLUMNS
        .iter()
        .find(|(k, _)| *k == column)
        .map_or(column.clone(), |(_, l)| (*l).to_string());
    let key = column.clone();
    let sort_key = key.clone();
    let state = move || {
        let s = query.with(|q| q.sort.clone());
        if s == sort_key {
            Some(false)
        } else if s.strip_prefix('-') == Some(sort_key.as_str()) {
            Some(true)
        } else {
            None
        }
    };
    let href = {
        let key = key.clone();
        let state = state.clone();
        move || {
            let mut q = query.get();
            // First click sorts descending (newest, longest first).
            q.sort = match state() {
                Some(true) => key.clone(),
                _ => format!("-{key}"),
            };
            q.offset = 0;
            base.href(&tasks_href(&q, columns.get().as_deref()))
        }
    };
    let arrow = move || match state() {
        Some(true) => " ↓",
        Some(false) => " ↑",
        None => "",
    };
    view! {
        <th data-col=key>
            <a href=href>{label}{arrow}</a>
        </th>
    }
}

#[component]
fn TaskLine(row: TaskRow, shown: Memo<Vec<String>>) -> impl IntoView {
    let base = use_base();
    let id = row.id.clone();
    let cells = move || {
        shown
            .get()
            .into_iter()
            .map(|c| cell(base, &row, &c))
            .collect_view()
    };
    view! { <tr data-task=id>{cells}</tr> }
}

fn text_cell(key: &str, v: Option<String>) -> AnyView {
    let title = v.clone().unwrap_or_default();
    view! {
        <td data-col=key.to_string() class="text" title=title>
            {v}
        </td>
    }
    .into_any()
}

fn cell(base: Base, row: &TaskRow, column: &str) -> AnyView {
    let key = column.to_string();
    match column {
        "name" => text_cell(column, row.name.clone()),
        "uuid" => {
            let id = row.id.clone();
            let href = base.href(&format!("/task/{}", encode(&id)));
            view! {
                <td data-col=key class="mono id">
                    <a href=href>{id.clone()}</a>
                    <CopyButton text=id/>
                </td>
            }
            .into_any()
        }
        "state" => {
            let state = row.state.clone();
            view! {
                <td data-col=key>
                    <StateBadge state/>
                </td>
            }
            .into_any()
        }
        "args" => text_cell(column, row.args.clone()),
        "kwargs" => text_cell(column, row.kwargs.clone()),
        "result" => text_cell(column, row.result.clone()),
        "exception" => text_cell(column, row.exception.clone()),
        "received" | "started" | "revoked" => {
            let at = match column {
                "received" => row.received,
                "started" => row.started,
                _ => row.revoked,
            };
            view! {
                <td data-col=key class="time">
                    <Time at=Signal::stored(at)/>
                </td>
            }
            .into_any()
        }
        "runtime" => {
            let text = row.runtime.map(format_duration);
            view! { <td data-col=key class="num">{text}</td> }.into_any()
        }
        "worker" => {
            let w = row.worker.clone();
            let link = w.clone().map(|w| {
                let href = base.href(&format!("/worker/{}", encode(&w)));
                view! { <a href=href>{w}</a> }
            });
            view! { <td data-col=key>{link}</td> }.into_any()
        }
        "exchange" => text_cell(column, row.exchange.clone()),
        "routing_key" => text_cell(column, row.routing_key.clone()),
        "retries" => text_cell(column, row.retries.map(|r| r.to_string())),
        "expires" => text_cell(column, row.expires.clone()),
        "eta" => text_cell(column, row.eta.clone()),
        _ => view! { <td></td> }.into_any(),
    }
}
