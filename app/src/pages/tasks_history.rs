//! The Tasks page over a time range: a page of history (memory and the
//! history store, newest change first) fetched from the read API
//! (`/api/tasks` with a `limit`, `since` and `until`) and shown in the same
//! table as Live. The server renders it empty ("loading"); the browser
//! reads its clock, fetches, and again on every change of the query or a
//! click on Refresh. The count is what the API can tell: which rows these
//! are (no total: the API lists without counting), with "older" usable
//! when a full page came back; and when the history header says a search
//! did not look at all of history, a note says so.

use std::time::Duration;

use leptos::prelude::*;

use super::tasks::{PageLink, SearchBar, StatePills, default_columns};
use super::tasks_range::Downloads;
use super::tasks_table::{ColumnChooser, TaskTable, shown_columns};
use super::tasks_url::{HISTORY_SORT, Range, TasksUrl, Window, history_page_href};
use crate::base::use_base;
use crate::live::{browser_now, http::list_tasks};
use crate::wire::{TaskRow, TasksData, TasksQuery, celery::TaskState, rest::HistoryCoverage};

/// A page of history not answered by then is given up (a search history's
/// index cannot narrow reads many stored tasks first).
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq)]
enum Listing {
    /// Not answered yet: while the server renders, and until the browser's
    /// first answer arrives.
    Loading,
    /// The rows of `query`'s page, in the server's order.
    Rows {
        query: TasksQuery,
        rows: Vec<TaskRow>,
        coverage: Option<HistoryCoverage>,
    },
    /// The server refused the query (a search it cannot read): why.
    Refused(String),
    /// celadon could not be reached, or its answer could not be read.
    Failed(String),
}

#[component]
pub fn HistoryBody(url: Memo<TasksUrl>, data: Memo<Option<TasksData>>) -> impl IntoView {
    let base = use_base();
    let listing = RwSignal::new(Listing::Loading);
    let busy = RwSignal::new(false);
    let window = RwSignal::new(None::<Window>);
    let refresh = RwSignal::new(0u64);
    // Which fetch is the latest: an answer to an older one is dropped.
    let latest = StoredValue::new(0u64);
    // What the listing depends on: not the columns, nor Live's sort.
    let asked = Memo::new(move |_| {
        url.with(|u| {
            let query = TasksQuery {
                sort: HISTORY_SORT.into(),
                ..u.query.clone()
            };
            (query, u.range)
        })
    });
    Effect::new(move |_| {
        refresh.track();
        let (query, range) = asked.get();
        let Some(now) = browser_now() else { return };
        if range == Range::Live {
            return;
        }
        let span = range.window(now);
        window.set(Some(span));
        busy.set(true);
        let generation = latest.get_value() + 1;
        latest.set_value(generation);
        let href = base.href(&history_page_href(&query, span));
        leptos::task::spawn_local(async move {
            let answer = list_tasks(&href, LIST_TIMEOUT).await;
            if latest.try_get_value() != Some(generation) {
                return; // a newer question was asked, or the page left
            }
            let _ = busy.try_set(false);
            let _ = listing.try_set(match answer {
                Ok(Ok(listed)) => Listing::Rows {
                    query,
                    rows: listed.tasks.into_iter().map(TaskRow::from).collect(),
                    coverage: listed.coverage,
                },
                Ok(Err(refused)) => Listing::Refused(refused.error),
                Err(e) => Listing::Failed(e),
            });
        });
    });

    let shown = shown_columns(url, default_columns(data));
    let rows = Memo::new(move |_| {
        listing.with(|l| match l {
            Listing::Rows { rows, .. } => rows.clone(),
            _ => Vec::new(),
        })
    });
    let error = Signal::derive(move || {
        listing.with(|l| match l {
            Listing::Refused(why) => Some(why.clone()),
            _ => None,
        })
    });
    let states = Signal::derive(|| {
        TaskState::ALL
            .iter()
            .map(|s| (s.name().to_string(), None))
            .collect()
    });
    // Erased: the page's whole type is otherwise deeper than rustc's limit.
    let page = view! {
        <SearchBar url error/>
        <StatePills url states/>
        <div class="toolbar">
            <ColumnChooser url shown/>
            <Downloads url window=Signal::derive(move || window.get().map(Some))/>
            <HistoryPager url listing busy refresh/>
        </div>
        <CoverageNote listing/>
        <Show when=move || !rows.with(Vec::is_empty) fallback=move || view! { <NoRows listing/> }>
            <TaskTable url shown rows sortable=false/>
        </Show>
    };
    page.into_any()
}

/// What is shown instead of the table: why there are no rows.
#[component]
fn NoRows(listing: RwSignal<Listing>) -> impl IntoView {
    move || match listing.get() {
        Listing::Loading => view! {
            <p class="loading" data-testid="history-loading">"Loading tasks from history…"</p>
        }
        .into_any(),
        Listing::Failed(why) => view! {
            <p class="outcome error" data-testid="history-error" role="alert">{why}</p>
        }
        .into_any(),
        Listing::Rows { .. } | Listing::Refused(_) => view! {
            <p class="empty" data-testid="no-tasks">"No task in this range matches this query."</p>
        }
        .into_any(),
    }
}

/// Which rows these are, the links to the pages around them, and Refresh.
#[component]
fn HistoryPager(
    url: Memo<TasksUrl>,
    listing: RwSignal<Listing>,
    busy: RwSignal<bool>,
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let base = use_base();
    // The answered page's offset, size and row count.
    let answered = move || {
        listing.with(|l| match l {
            Listing::Rows { query, rows, .. } => Some((query.offset, query.limit, rows.len())),
            _ => None,
        })
    };
    let summary = move || match answered() {
        None => String::new(),
        Some((0, _, 0)) => "no tasks".into(),
        Some((offset, _, 0)) => format!("no tasks past {offset}"),
        Some((offset, _, n)) => format!("tasks {}–{}", offset + 1, offset + n as u64),
    };
    let link = move |forward: bool| {
        let (offset, limit, n) = answered()?;
        let to = if forward {
            (n as u64 >= limit).then_some(offset + limit)?
        } else {
            (offset > 0).then(|| offset.saturating_sub(limit))?
        };
        let mut next = url.get();
        next.query.offset = to;
        Some(base.href(&next.href()))
    };
    view! {
        <div class="pager">
            <span data-testid="task-count" title="By last change, newest first">{summary}</span>
            <PageLink href=Signal::derive(move || link(false)) label="‹ newer"/>
            <PageLink href=Signal::derive(move || link(true)) label="older ›"/>
            <button
                class="action"
                data-testid="history-refresh"
                disabled=move || busy.get()
                on:click=move |_| refresh.update(|n| *n += 1)
            >
                {move || if busy.get() { "Loading…" } else { "Refresh" }}
            </button>
        </div>
    }
}

/// A line saying how far into history the search looked, unless it looked
/// at all of it.
#[component]
fn CoverageNote(listing: RwSignal<Listing>) -> impl IntoView {
    let note = move || {
        listing.with(|l| match l {
            Listing::Rows {
                coverage: Some(c), ..
            } => coverage_note(*c),
            _ => None,
        })
    };
    move || note().map(|text| view! { <p class="note" data-testid="history-note">{text}</p> })
}

/// The history header in plain words; nothing when history was searched
/// whole.
fn coverage_note(coverage: HistoryCoverage) -> Option<String> {
    match coverage {
        HistoryCoverage::Exact => None,
        HistoryCoverage::Words => Some(
            "Beyond the tasks in memory, history was searched for args and kwargs holding \
             the searched words whole: part of a word finds only tasks still in memory."
                .into(),
        ),
        HistoryCoverage::Scanned(n) => Some(format!(
            "History's index cannot narrow this search, so only its newest {n} tasks were \
             searched: older ones may match too. Search args: or kwargs: words, or narrow \
             the range; a download searches all of history."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_search_of_history_says_how_far_it_looked() {
        assert_eq!(coverage_note(HistoryCoverage::Exact), None);
        assert!(
            coverage_note(HistoryCoverage::Words)
                .is_some_and(|n| n.contains("holding the searched words whole"))
        );
        assert!(
            coverage_note(HistoryCoverage::Scanned(200_000))
                .is_some_and(|n| n.contains("newest 200000 tasks"))
        );
    }
}
