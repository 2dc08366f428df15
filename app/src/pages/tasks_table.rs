//! The Tasks page's table, the same in both of its modes (Live and
//! history): the columns picked in the URL, a row per task with its data
//! as text, and the column chooser. Headings sort the Live table; history
//! is listed in one order (by last change), so there they are plain.

use leptos::prelude::*;

use super::tasks_url::{TasksUrl, encode};
use crate::base::{Base, use_base};
use crate::components::{CopyButton, StateBadge, Time, format_duration};
use crate::wire::{COLUMNS, DEFAULT_COLUMNS, TaskRow};

/// The columns shown: those the URL picks, else the server's default
/// (`--tasks-columns`, once known), else Flower's; unknown keys dropped.
pub fn shown_columns(
    url: Memo<TasksUrl>,
    defaults: Signal<Option<Vec<String>>>,
) -> Memo<Vec<String>> {
    Memo::new(move |_| {
        let chosen = url.with(|u| u.columns.clone());
        let list: Vec<String> = match chosen {
            Some(c) => c.split(',').map(str::to_string).collect(),
            None => defaults
                .get()
                .unwrap_or_else(|| DEFAULT_COLUMNS.split(',').map(str::to_string).collect()),
        };
        list.into_iter()
            .filter(|c| COLUMNS.iter().any(|(k, _)| k == c))
            .collect()
    })
}

#[component]
pub fn TaskTable(
    url: Memo<TasksUrl>,
    shown: Memo<Vec<String>>,
    #[prop(into)] rows: Signal<Vec<TaskRow>>,
    /// Whether the headings sort (Live) or only name their column.
    sortable: bool,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
        <table class="grid tasks" data-testid="tasks-table">
            <thead>
                <tr>
                    <For
                        each=move || shown.get()
                        key=|c| c.clone()
                        children=move |c| view! { <SortHeader column=c url sortable/> }
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
    }
}

#[component]
pub fn ColumnChooser(url: Memo<TasksUrl>, shown: Memo<Vec<String>>) -> impl IntoView {
    let base = use_base();
    let items = move || {
        let u = url.get();
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
                let to = TasksUrl {
                    columns: Some(next.join(",")),
                    ..u.clone()
                };
                let href = base.href(&to.href());
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
fn SortHeader(column: String, url: Memo<TasksUrl>, sortable: bool) -> impl IntoView {
    let base = use_base();
    let label = COLUMNS
        .iter()
        .find(|(k, _)| *k == column)
        .map_or(column.clone(), |(_, l)| (*l).to_string());
    if !sortable {
        return view! { <th data-col=column>{label}</th> }.into_any();
    }
    let key = column.clone();
    // Whether the page is sorted by this column: descending or not.
    let state = move || {
        let s = url.with(|u| u.query.sort.clone());
        if s == key {
            Some(false)
        } else if s.strip_prefix('-') == Some(key.as_str()) {
            Some(true)
        } else {
            None
        }
    };
    let href = {
        let key = column.clone();
        let state = state.clone();
        move || {
            // First click sorts descending (newest, longest first).
            let sort = match state() {
                Some(true) => key.clone(),
                _ => format!("-{key}"),
            };
            base.href(&url.get().with(|q| q.sort = sort).href())
        }
    };
    let arrow = move || match state() {
        Some(true) => " ↓",
        Some(false) => " ↑",
        None => "",
    };
    view! {
        <th data-col=column>
            <a href=href>{label}{arrow}</a>
        </th>
    }
    .into_any()
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
