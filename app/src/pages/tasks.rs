//! The Tasks page (`/tasks`). Everything the user picks (search, state,
//! worker, name, sort, page, columns, time range) lives in the URL, so a
//! view can be shared and reloaded (`tasks_url`). Live, the default, is one
//! page of the tasks in memory, kept current: the server sends only this
//! page's rows and the totals. A time range lists from history instead
//! (`tasks_history`), in pages fetched from the read API.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
};

use super::tasks_bulk::BulkActions;
use super::tasks_history::HistoryBody;
use super::tasks_range::{Downloads, RangePicker};
use super::tasks_table::{ColumnChooser, TaskTable, shown_columns};
use super::tasks_url::TasksUrl;
use crate::base::use_base;
use crate::live::{Live, snapshot_resource, use_live};
use crate::wire::{TasksData, TasksQuery, View, ViewData};

#[component]
pub fn TasksPage() -> impl IntoView {
    let live = use_live();
    let params = use_query_map();
    let url = Memo::new(move |_| params.with(TasksUrl::from_params));
    let query = Memo::new(move |_| url.with(|u| u.query.clone()));
    // The page follows its query's live view in both modes: it brings the
    // page's settings (controls, default columns, time display) and keeps
    // the indicator true; outside Live its rows are not shown.
    let view = Memo::new(move |_| View::Tasks { query: query.get() });
    live.follow(view);
    let initial = snapshot_resource(view.get_untracked());
    let is_live = Memo::new(move |_| url.with(|u| u.range.is_live()));
    view! {
        <h1>"Tasks"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading tasks…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                let data = live_data(live);
                view! {
                    <RangePicker url/>
                    {move || if is_live.get() {
                        view! { <TasksBody url data/> }.into_any()
                    } else {
                        view! { <HistoryBody url data/> }.into_any()
                    }}
                }
            })}
        </Suspense>
    }
}

/// The last data the live view received for this page; kept while a
/// changed query's first answer is on its way, so the table does not flash
/// empty.
fn live_data(live: Live) -> Memo<Option<TasksData>> {
    Memo::new(move |prev: Option<&Option<TasksData>>| {
        let fresh = live.model.with(|m| match &m.data {
            Some(ViewData::Tasks(t)) => Some(t.clone()),
            _ => None,
        });
        fresh.or_else(|| prev.cloned().flatten())
    })
}

/// The server's default columns, once the live view said them.
pub fn default_columns(data: Memo<Option<TasksData>>) -> Signal<Option<Vec<String>>> {
    Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.default_columns.clone())))
}

#[component]
fn TasksBody(url: Memo<TasksUrl>, data: Memo<Option<TasksData>>) -> impl IntoView {
    let query = Memo::new(move |_| url.with(|u| u.query.clone()));
    let shown = shown_columns(url, default_columns(data));
    let rows =
        Memo::new(move |_| data.with(|d| d.as_ref().map(|d| d.rows.clone()).unwrap_or_default()));
    let error = Signal::derive(move || data.with(|d| d.as_ref().and_then(|d| d.error.clone())));
    let states = Signal::derive(move || {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.states
                        .iter()
                        .map(|(s, n)| (s.clone(), Some(*n)))
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    // Erased: the page's whole type is otherwise deeper than rustc's limit.
    let page = view! {
        <SearchBar url error/>
        <StatePills url states/>
        <BulkActions query/>
        <div class="toolbar">
            <ColumnChooser url shown/>
            <Downloads url window=Signal::stored(Some(None))/>
            <Pager url data/>
        </div>
        <Show when=move || !rows.with(Vec::is_empty) fallback=move || view! { <NoTasks query/> }>
            <TaskTable url shown rows sortable=true/>
        </Show>
    };
    page.into_any()
}

#[component]
fn NoTasks(query: Memo<TasksQuery>) -> impl IntoView {
    let filtered = move || query.with(|q| q != &TasksQuery::default());
    view! {
        <p class="empty" data-testid="no-tasks">
            {move || if filtered() {
                "No task matches this query."
            } else {
                "No tasks yet. Tasks appear here as workers send their events."
            }}
        </p>
    }
}

/// The search box; `error` is why the server refused the search, if it
/// did.
#[component]
pub(super) fn SearchBar(url: Memo<TasksUrl>, error: Signal<Option<String>>) -> impl IntoView {
    let navigate = use_navigate();
    let on_input = move |ev| {
        let search = event_target_value(&ev);
        let href = url.get_untracked().with(|q| q.search = search).href();
        navigate(
            &href,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    view! {
        <div class="search">
            <input
                type="search"
                data-testid="task-search"
                placeholder="Search: state:FAILURE name:add args:42 worker:w1 or any text"
                prop:value=move || url.with(|u| u.query.search.clone())
                on:input=on_input
                aria-invalid=move || error.with(Option::is_some).to_string()
            />
            <Show when=move || error.with(Option::is_some)>
                <p class="search-error" data-testid="search-error" role="alert">
                    {error}
                </p>
            </Show>
        </div>
    }
}

/// A pill per state (with its count, when known) and one per filter set.
#[component]
pub(super) fn StatePills(
    url: Memo<TasksUrl>,
    states: Signal<Vec<(String, Option<u64>)>>,
) -> impl IntoView {
    let base = use_base();
    let pills = move || {
        let u = url.get();
        let picked = u.query.state.clone();
        let all = u.with(|q| q.state = None);
        let mut out = vec![
            view! {
                <a class="pill" class:selected=picked.is_none() href=base.href(&all.href())>
                    "All"
                </a>
            }
            .into_any(),
        ];
        for (state, n) in states.get() {
            let pick = u.with(|q| q.state = Some(state.clone()));
            let selected = picked.as_deref() == Some(state.as_str());
            let class = format!("pill {}", crate::components::state_class(&state));
            let key = state.clone();
            out.push(
                view! {
                    <a class=class class:selected=selected data-pill=key href=base.href(&pick.href())>
                        {state}
                        {n.map(|n| view! { " " <span class="count">{n}</span> })}
                    </a>
                }
                .into_any(),
            );
        }
        out
    };
    let filters = move || {
        let u = url.get();
        let worker = u.query.worker.clone().map(|v| {
            let without = u.with(|q| q.worker = None);
            (format!("worker: {v} ×"), without)
        });
        let name = u.query.name.clone().map(|v| {
            let without = u.with(|q| q.name = None);
            (format!("name: {v} ×"), without)
        });
        [worker, name]
            .into_iter()
            .flatten()
            .map(|(text, without)| {
                view! {
                    <a class="pill filter" href=base.href(&without.href()) title="Remove this filter">
                        {text}
                    </a>
                }
            })
            .collect_view()
    };
    view! { <nav class="pills">{pills} {filters}</nav> }
}

#[component]
fn Pager(url: Memo<TasksUrl>, data: Memo<Option<TasksData>>) -> impl IntoView {
    let base = use_base();
    let summary = move || {
        let q = url.with(|u| u.query.clone());
        let (filtered, total) = data.with(|d| d.as_ref().map_or((0, 0), |d| (d.filtered, d.total)));
        let first = if filtered == 0 { 0 } else { q.offset + 1 };
        let last = (q.offset + q.limit).min(filtered);
        format!("{first}–{last} of {filtered} (of {total} kept)")
    };
    let link = move |forward: bool| {
        let mut to = url.get();
        let q = &to.query;
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
        to.query.offset = offset;
        usable.then(|| base.href(&to.href()))
    };
    view! {
        <div class="pager">
            <span data-testid="task-count">{summary}</span>
            <PageLink href=Signal::derive(move || link(false)) label="‹ newer"/>
            <PageLink href=Signal::derive(move || link(true)) label="older ›"/>
        </div>
    }
}

/// A link to another page of the listing, or its label greyed out when
/// there is none.
#[component]
pub(super) fn PageLink(href: Signal<Option<String>>, label: &'static str) -> impl IntoView {
    move || match href.get() {
        Some(href) => view! { <a class="page" href=href>{label}</a> }.into_any(),
        None => view! { <span class="page disabled">{label}</span> }.into_any(),
    }
}
