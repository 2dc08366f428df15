//! The Workers page (`/`): every worker that has sent an event, live, with
//! cluster totals that link to the matching tasks. The table sorts and
//! filters in the browser: it holds a few hundred rows at most.

use leptos::prelude::*;

use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::{Line, LineChart};
use crate::live::{snapshot_resource, use_live};
use crate::wire::{Cluster, View, ViewData, WorkerRow, WorkerStatus};

#[component]
pub fn WorkersPage() -> impl IntoView {
    let live = use_live();
    live.show(View::Workers);
    let initial = snapshot_resource(View::Workers);
    view! {
        <h1>"Workers"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading workers…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <WorkersBody/> }
            })}
        </Suspense>
    }
}

/// Columns the table sorts by: (key, heading, numeric).
const SORTS: [(&str, &str, bool); 9] = [
    ("hostname", "Worker", false),
    ("status", "Status", false),
    ("active", "Active", true),
    ("processed", "Processed", true),
    ("succeeded", "Succeeded", true),
    ("failed", "Failed", true),
    ("retried", "Retried", true),
    ("rate", "Tasks/s", true),
    ("loadavg", "Load average", false),
];

fn sort_rows(rows: &mut [WorkerRow], key: &str, descending: bool) {
    let n = |v: Option<u64>| v.unwrap_or(0) as f64;
    rows.sort_by(|a, b| {
        let ord = match key {
            "status" => {
                (a.status == WorkerStatus::Offline).cmp(&(b.status == WorkerStatus::Offline))
            }
            "active" => n(a.active).total_cmp(&n(b.active)),
            "processed" => n(a.processed).total_cmp(&n(b.processed)),
            "succeeded" => a.succeeded.cmp(&b.succeeded),
            "failed" => a.failed.cmp(&b.failed),
            "retried" => a.retried.cmp(&b.retried),
            "rate" => a.rate.total_cmp(&b.rate),
            "loadavg" => {
                let l = |r: &WorkerRow| r.loadavg.map_or(0.0, |l| l[0]);
                l(a).total_cmp(&l(b))
            }
            _ => std::cmp::Ordering::Equal,
        };
        let ord = ord.then_with(|| a.hostname.cmp(&b.hostname));
        if descending { ord.reverse() } else { ord }
    });
}

#[component]
fn WorkersBody() -> impl IntoView {
    let live = use_live();
    let all = Memo::new(move |_| {
        live.model.with(|m| match &m.data {
            Some(ViewData::Workers { workers, cluster }) => (workers.clone(), cluster.clone()),
            _ => (Vec::new(), Cluster::default()),
        })
    });
    let sort = RwSignal::new(("hostname".to_string(), false));
    let filter = RwSignal::new(String::new());
    let rows = Memo::new(move |_| {
        let needle = filter.get().to_lowercase();
        let mut rows: Vec<WorkerRow> = all.with(|(w, _)| {
            w.iter()
                .filter(|r| needle.is_empty() || r.hostname.to_lowercase().contains(&needle))
                .cloned()
                .collect()
        });
        let (key, descending) = sort.get();
        sort_rows(&mut rows, &key, descending);
        rows
    });
    let workers = Memo::new(move |_| all.with(|(w, _)| w.clone()));
    let cluster = Memo::new(move |_| all.with(|(_, c)| c.clone()));
    let strip = Signal::derive(move || {
        cluster.with(|c| {
            super::graphs::CHARTED
                .iter()
                .map(|(outcome, class)| Line {
                    name: outcome.name().to_string(),
                    class,
                    values: c
                        .recent
                        .iter()
                        .find(|o| o.outcome == *outcome)
                        .map(|o| o.counts.iter().map(|n| f64::from(*n) / 5.0).collect())
                        .unwrap_or_default(),
                })
                .collect::<Vec<_>>()
        })
    });
    let strip_start = Signal::derive(move || cluster.with(|c| c.recent_start));
    view! {
        <Totals workers cluster/>
        <section class="chart-panel strip">
            <h2>"Tasks per second, last 5 minutes " <a href=use_base().href("/graphs")>"all graphs →"</a></h2>
            <LineChart lines=strip start=strip_start step=5.0 unit="tasks/s" testid="strip-chart"/>
        </section>
        <Show
            when=move || !workers.with(Vec::is_empty)
            fallback=|| {
                view! {
                    <p class="empty" data-testid="no-workers">
                        "No workers have sent events yet. Start workers with events on ("
                        <code>"celery -A proj worker -E"</code>
                        "), or leave --enable-events on and celadon turns them on."
                    </p>
                }
            }
        >
            <div class="toolbar">
                <input
                    type="search"
                    class="filter"
                    data-testid="worker-filter"
                    placeholder="Filter workers"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                />
            </div>
            <table class="grid workers">
                <thead>
                    <tr>
                        {SORTS
                            .iter()
                            .map(|(key, label, numeric)| {
                                let key = *key;
                                let arrow = move || {
                                    sort.with(|(k, d)| match (k == key, d) {
                                        (true, true) => " ↓",
                                        (true, false) => " ↑",
                                        _ => "",
                                    })
                                };
                                let on_click = move |_| {
                                    sort.update(|(k, d)| {
                                        if k == key {
                                            *d = !*d;
                                        } else {
                                            *k = key.to_string();
                                            *d = *numeric;
                                        }
                                    })
                                };
                                view! {
                                    <th class:num=*numeric>
                                        <button class="sort" data-sort=key on:click=on_click>
                                            {*label}
                                            {arrow}
                                        </button>
                                    </th>
                                }
                            })
                            .collect_view()}
                        <th>"Software"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.get()
                        key=|row| (row.hostname.clone(), row.rev, row.rate.to_bits())
                        children=|row| view! { <WorkerLine row/> }
                    />
                </tbody>
            </table>
        </Show>
    }
}

/// The summary cards above the table; counts link to the tasks they count.
#[component]
fn Totals(workers: Memo<Vec<WorkerRow>>, cluster: Memo<Cluster>) -> impl IntoView {
    let base = use_base();
    let online = move || {
        workers.with(|r| {
            r.iter()
                .filter(|w| w.status == WorkerStatus::Online)
                .count()
        })
    };
    let active = move || {
        workers.with(|r| {
            r.iter()
                .filter(|w| w.status == WorkerStatus::Online)
                .filter_map(|w| w.active)
                .sum::<u64>()
        })
    };
    let processed = move || workers.with(|r| r.iter().filter_map(|w| w.processed).sum::<u64>());
    view! {
        <section class="cards">
            <div class="card" data-testid="online-workers">
                <span class="value">{online}</span>
                <span class="caption">"Online workers"</span>
            </div>
            <a class="card" data-testid="active-tasks" href=base.href("/tasks?state=STARTED")>
                <span class="value">{active}</span>
                <span class="caption">"Active tasks"</span>
            </a>
            <div class="card" data-testid="processed-tasks">
                <span class="value">{processed}</span>
                <span class="caption">"Processed"</span>
            </div>
            <a class="card ok" data-testid="succeeded-tasks" href=base.href("/tasks?state=SUCCESS")>
                <span class="value">{move || cluster.get().succeeded}</span>
                <span class="caption">"Succeeded"</span>
            </a>
            <a class="card bad" data-testid="failed-tasks" href=base.href("/tasks?state=FAILURE")>
                <span class="value">{move || cluster.get().failed}</span>
                <span class="caption">"Failed"</span>
            </a>
            <a class="card warn" data-testid="retried-tasks" href=base.href("/tasks?state=RETRY")>
                <span class="value">{move || cluster.get().retried}</span>
                <span class="caption">"Retried"</span>
            </a>
            <div class="card" data-testid="task-rate">
                <span class="value">{move || format!("{:.1}", cluster.get().rate)}</span>
                <span class="caption">"Tasks/s (last minute)"</span>
            </div>
        </section>
    }
}

#[component]
fn WorkerLine(row: WorkerRow) -> impl IntoView {
    let (status_key, status_label) = match row.status {
        WorkerStatus::Online => ("online", "Online"),
        WorkerStatus::Offline => ("offline", "Offline"),
    };
    let count = |n: Option<u64>| n.map_or_else(|| "–".to_string(), |n| n.to_string());
    let loadavg = row.loadavg.map_or_else(
        || "–".to_string(),
        |[a, b, c]| format!("{a:.2} / {b:.2} / {c:.2}"),
    );
    let software = match (&row.sw_ident, &row.sw_ver, &row.sw_sys) {
        (Some(ident), Some(ver), Some(sys)) => format!("{ident} {ver} ({sys})"),
        (Some(ident), Some(ver), None) => format!("{ident} {ver}"),
        _ => String::new(),
    };
    let hostname = row.hostname;
    let base = use_base();
    let page = base.href(&format!("/worker/{}", encode(&hostname)));
    let tasks = |state: &str| {
        base.href(&format!(
            "/tasks?worker={}&state={state}",
            encode(&hostname)
        ))
    };
    view! {
        <tr data-worker=hostname.clone() data-status=status_key>
            <td class="name">
                <a href=page>{hostname.clone()}</a>
            </td>
            <td>
                <span class=format!("badge {status_key}")>{status_label}</span>
            </td>
            <td class="num" data-col="active">{count(row.active)}</td>
            <td class="num" data-col="processed">{count(row.processed)}</td>
            <td class="num" data-col="succeeded">
                <a href=tasks("SUCCESS")>{row.succeeded}</a>
            </td>
            <td class="num" data-col="failed">
                <a href=tasks("FAILURE")>{row.failed}</a>
            </td>
            <td class="num" data-col="retried">
                <a href=tasks("RETRY")>{row.retried}</a>
            </td>
            <td class="num" data-col="rate">{format!("{:.1}", row.rate)}</td>
            <td data-col="loadavg">{loadavg}</td>
            <td data-col="software">{software}</td>
        </tr>
    }
}
