//! The Graphs page (`/graphs?window=&task=&worker=`): tasks per second by
//! outcome over 5 min, 1 h, 24 h, 7 days or 30 days, filterable by task
//! name or by worker; runtime percentiles and counts per task type; queue
//! depths. Live: the charts move as the server's deltas arrive.

use leptos::prelude::*;
use leptos_router::{hooks::use_query_map, params::ParamsMap};

use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::{BarChart, Bars, Line, LineChart, format_duration};
use crate::live::{snapshot_resource, use_live};
use crate::wire::{GraphsData, GraphsQuery, View, ViewData, WINDOWS, celery::TaskEventKind};

/// The outcomes charted, with their CSS classes.
pub const CHARTED: [(TaskEventKind, &str); 4] = [
    (TaskEventKind::Succeeded, "ok"),
    (TaskEventKind::Failed, "bad"),
    (TaskEventKind::Retried, "warn"),
    (TaskEventKind::Revoked, "muted"),
];

pub fn graphs_query(p: &ParamsMap) -> GraphsQuery {
    let text = |k: &str| p.get(k).filter(|v| !v.is_empty());
    GraphsQuery {
        window: text("window").unwrap_or_else(|| WINDOWS[0].into()),
        task: text("task"),
        worker: text("worker"),
    }
}

/// The URL of a view of the Graphs page.
pub fn graphs_href(q: &GraphsQuery) -> String {
    let mut parts = vec![format!("window={}", encode(&q.window))];
    if let Some(t) = &q.task {
        parts.push(format!("task={}", encode(t)));
    }
    if let Some(w) = &q.worker {
        parts.push(format!("worker={}", encode(w)));
    }
    format!("/graphs?{}", parts.join("&"))
}

/// Tasks per second, by outcome, from a view's counts per bucket.
pub fn outcome_lines(d: &GraphsData) -> Vec<Line> {
    let step = f64::from(d.bucket_seconds.max(1));
    CHARTED
        .iter()
        .map(|(outcome, class)| Line {
            name: outcome.name().to_string(),
            class,
            values: d
                .outcomes
                .iter()
                .find(|o| o.outcome == *outcome)
                .map(|o| o.counts.iter().map(|c| f64::from(*c) / step).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// Queues charted, at most; each gets one of as many colors.
const QUEUE_COLORS: usize = 6;

/// Each queue's depth over the window (the deepest first).
pub fn queue_lines(d: &GraphsData) -> Vec<Line> {
    let mut queues: Vec<_> = d.queues.iter().collect();
    queues.sort_by(|a, b| b.depth.cmp(&a.depth).then(a.name.cmp(&b.name)));
    const CLASSES: [&str; QUEUE_COLORS] = ["q0", "q1", "q2", "q3", "q4", "q5"];
    queues
        .into_iter()
        .take(QUEUE_COLORS)
        .zip(CLASSES)
        .map(|(q, class)| Line {
            name: format!("{} ({})", q.name, q.depth),
            class,
            values: q.series.iter().map(|v| f64::from(*v)).collect(),
        })
        .collect()
}

#[component]
pub fn GraphsPage() -> impl IntoView {
    let live = use_live();
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(graphs_query));
    let view = Memo::new(move |_| View::Graphs { query: query.get() });
    live.follow(view);
    let initial = snapshot_resource(view.get_untracked());
    view! {
        <h1>"Graphs"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading the charts…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <GraphsBody query/> }
            })}
        </Suspense>
    }
}

#[component]
fn GraphsBody(query: Memo<GraphsQuery>) -> impl IntoView {
    let live = use_live();
    let data = Memo::new(move |prev: Option<&Option<GraphsData>>| {
        let fresh = live.model.with(|m| match &m.data {
            Some(ViewData::Graphs(g)) => Some(g.clone()),
            _ => None,
        });
        fresh.or_else(|| prev.cloned().flatten())
    });
    let lines =
        Signal::derive(move || data.with(|d| d.as_ref().map(outcome_lines).unwrap_or_default()));
    let start = Signal::derive(move || data.with(|d| d.as_ref().map_or(0.0, |d| d.start)));
    let step = Signal::derive(move || {
        data.with(|d| d.as_ref().map_or(1.0, |d| f64::from(d.bucket_seconds)))
    });
    let runtimes = Signal::derive(move || {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.types
                        .iter()
                        .filter(|t| t.p50.is_some())
                        .map(|t| Bars {
                            label: t.name.clone(),
                            values: vec![
                                ("p50", t.p50.unwrap_or(0.0)),
                                ("p95", t.p95.unwrap_or(0.0)),
                                ("p99", t.p99.unwrap_or(0.0)),
                            ],
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    let queues =
        Signal::derive(move || data.with(|d| d.as_ref().map(queue_lines).unwrap_or_default()));
    let waits = Signal::derive(move || {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    vec![Line {
                        name: "p95 wait".into(),
                        class: "q0",
                        values: d.wait_p95.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                    }]
                })
                .unwrap_or_default()
        })
    });
    let online = Signal::derive(move || {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    vec![Line {
                        name: "online".into(),
                        class: "ok",
                        values: d.online.iter().map(|n| f64::from(*n)).collect(),
                    }]
                })
                .unwrap_or_default()
        })
    });
    view! {
        <Filters query data/>
        {move || data.with(|d| d.as_ref().and_then(|d| d.error.clone())).map(|e| view! {
            <p class="search-error" data-testid="graphs-error">{e}</p>
        })}
        <section class="chart-panel">
            <h2>"Tasks per second, by outcome"</h2>
            <LineChart lines start step unit="tasks/s" testid="throughput-chart"/>
        </section>
        <div class="columns-2">
            <section class="chart-panel">
                <h2>"Runtime by task type (p50, p95, p99)"</h2>
                <BarChart groups=runtimes seconds=true testid="runtime-chart"/>
            </section>
            <section class="chart-panel">
                <h2>"Queue depth"</h2>
                <LineChart lines=queues start step unit="messages" testid="queue-chart"/>
            </section>
        </div>
        <div class="columns-2">
            <section class="chart-panel">
                <h2>"Queue wait, p95 (task-sent → task-started, without ETA tasks)"</h2>
                <LineChart lines=waits start step unit="seconds" testid="wait-chart"/>
            </section>
            <section class="chart-panel">
                <h2>
                    "Workers online "
                    <span class="subtle">
                        {move || data.with(|d| d.as_ref().map(|d| format!("(now {})", d.workers_online)))}
                    </span>
                </h2>
                <LineChart lines=online start step unit="workers" testid="online-chart"/>
            </section>
        </div>
        <TypeTable data/>
    }
}

#[component]
fn Filters(query: Memo<GraphsQuery>, data: Memo<Option<GraphsData>>) -> impl IntoView {
    let base = use_base();
    let windows = move || {
        let q = query.get();
        WINDOWS
            .iter()
            .map(|w| {
                let href = base.href(&graphs_href(&GraphsQuery {
                    window: (*w).to_string(),
                    ..q.clone()
                }));
                let selected = q.window == *w;
                view! { <a class="pill" class:selected=selected data-window=*w href=href>{*w}</a> }
            })
            .collect_view()
    };
    let choices = move |names: Vec<String>,
                        current: Option<String>,
                        make: fn(&GraphsQuery, Option<String>) -> GraphsQuery| {
        let q = query.get_untracked();
        let all = base.href(&graphs_href(&make(&q, None)));
        let items = names
            .into_iter()
            .map(|n| {
                let href = base.href(&graphs_href(&make(&q, Some(n.clone()))));
                let selected = current.as_deref() == Some(n.as_str());
                view! { <a class="pill" class:selected=selected href=href>{n}</a> }
            })
            .collect_view();
        view! { <a class="pill" class:selected=current.is_none() href=all>"All"</a> {items} }
    };
    let by_task = move || {
        let names = data.with(|d| d.as_ref().map(|d| d.task_names.clone()).unwrap_or_default());
        choices(names, query.get().task, |q, t| GraphsQuery {
            task: t,
            worker: None,
            ..q.clone()
        })
    };
    let by_worker = move || {
        let names = data.with(|d| {
            d.as_ref()
                .map(|d| d.worker_names.clone())
                .unwrap_or_default()
        });
        choices(names, query.get().worker, |q, w| GraphsQuery {
            worker: w,
            task: None,
            ..q.clone()
        })
    };
    view! {
        <div class="filters">
            <div class="pills" data-testid="windows"><span class="subtle">"Window "</span>{windows}</div>
            <div class="pills" data-testid="task-filter"><span class="subtle">"Task "</span>{by_task}</div>
            <div class="pills" data-testid="worker-filter"><span class="subtle">"Worker "</span>{by_worker}</div>
        </div>
    }
}

#[component]
fn TypeTable(data: Memo<Option<GraphsData>>) -> impl IntoView {
    let base = use_base();
    let rows = move || {
        data.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.types
                        .iter()
                        .map(|t| {
                            let states = t
                                .states
                                .iter()
                                .map(|(s, n)| format!("{s} {n}"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let rate = t
                                .success_rate
                                .map(|r| format!("{:.1} %", 100.0 * r))
                                .unwrap_or_default();
                            let p = |v: Option<f64>| v.map(format_duration).unwrap_or_default();
                            let failure = t.last_failure.clone().map(|id| {
                                let href = base.href(&format!("/task/{}", encode(&id)));
                                view! { <a class="mono" href=href>{id}</a> }
                            });
                            let tasks = base.href(&format!("/tasks?name={}", encode(&t.name)));
                            view! {
                                <tr data-type=t.name.clone()>
                                    <td><a href=tasks>{t.name.clone()}</a></td>
                                    <td>{states}</td>
                                    <td class="num" data-col="succeeded">{t.succeeded}</td>
                                    <td class="num" data-col="failed">{t.failed}</td>
                                    <td class="num">{rate}</td>
                                    <td class="num">{p(t.p50)}</td>
                                    <td class="num">{p(t.p95)}</td>
                                    <td class="num">{p(t.p99)}</td>
                                    <td>{failure}</td>
                                </tr>
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    view! {
        <section>
            <h2>"Task types"</h2>
            <table class="grid" data-testid="types-table">
                <thead>
                    <tr>
                        <th>"Name"</th><th>"Retained, by state"</th><th class="num">"Succeeded"</th>
                        <th class="num">"Failed"</th><th class="num">"Success rate"</th>
                        <th class="num">"p50"</th><th class="num">"p95"</th><th class="num">"p99"</th>
                        <th>"Last failure"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
