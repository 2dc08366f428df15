//! The Workers page (`/`): every worker that has sent an event, live.

use leptos::prelude::*;

use crate::live::{snapshot_resource, use_live};
use crate::wire::{View, ViewData, WorkerRow, WorkerStatus};

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

#[component]
fn WorkersBody() -> impl IntoView {
    let live = use_live();
    let rows = Memo::new(move |_| {
        live.model.with(|m| match &m.data {
            Some(ViewData::Workers { workers }) => workers.clone(),
            _ => Vec::new(),
        })
    });
    view! {
        <Totals rows/>
        <Show
            when=move || !rows.with(Vec::is_empty)
            fallback=|| {
                view! {
                    <p class="empty" data-testid="no-workers">
                        "No workers have sent events yet. Start workers with events on: "
                        <code>"celery -A proj worker -E"</code>
                        "."
                    </p>
                }
            }
        >
            <table class="grid workers">
                <thead>
                    <tr>
                        <th>"Worker"</th>
                        <th>"Status"</th>
                        <th class="num">"Active"</th>
                        <th class="num">"Processed"</th>
                        <th>"Load average"</th>
                        <th>"Software"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.get()
                        key=|row| (row.hostname.clone(), row.rev)
                        children=|row| view! { <WorkerLine row/> }
                    />
                </tbody>
            </table>
        </Show>
    }
}

/// The summary cards above the table.
#[component]
fn Totals(rows: Memo<Vec<WorkerRow>>) -> impl IntoView {
    let online = move || {
        rows.with(|r| {
            r.iter()
                .filter(|w| w.status == WorkerStatus::Online)
                .count()
        })
    };
    let active = move || {
        rows.with(|r| {
            r.iter()
                .filter(|w| w.status == WorkerStatus::Online)
                .filter_map(|w| w.active)
                .sum::<u64>()
        })
    };
    let processed = move || rows.with(|r| r.iter().filter_map(|w| w.processed).sum::<u64>());
    view! {
        <section class="cards">
            <div class="card" data-testid="online-workers">
                <span class="value">{online}</span>
                <span class="caption">"Online workers"</span>
            </div>
            <div class="card" data-testid="active-tasks">
                <span class="value">{active}</span>
                <span class="caption">"Active tasks"</span>
            </div>
            <div class="card" data-testid="processed-tasks">
                <span class="value">{processed}</span>
                <span class="caption">"Processed"</span>
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
        _ => "–".to_string(),
    };
    let hostname = row.hostname;
    let key = hostname.clone();
    view! {
        <tr data-worker=key data-status=status_key>
            <td class="name">{hostname}</td>
            <td>
                <span class=format!("badge {status_key}")>{status_label}</span>
            </td>
            <td class="num" data-col="active">{count(row.active)}</td>
            <td class="num" data-col="processed">{count(row.processed)}</td>
            <td data-col="loadavg">{loadavg}</td>
            <td data-col="software">{software}</td>
        </tr>
    }
}
