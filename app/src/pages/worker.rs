//! The Worker page (`/worker/<name>`): Flower's tabs (Pool, Broker, Queues,
//! Tasks, Limits, Config, System) filled from the worker's replies to
//! inspect commands, which the server refreshes while the page is open,
//! and what its events tell in the meantime.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde_json::Value;

use super::tasks_url::encode;
use super::worker_controls::WorkerControls;
use crate::base::use_base;
use crate::components::{JsonView, Time, format_relative};
use crate::live::{snapshot_resource, use_live};
use crate::wire::{View, ViewData, WorkerData};

const TABS: [(&str, &str); 7] = [
    ("pool", "Pool"),
    ("broker", "Broker"),
    ("queues", "Queues"),
    ("tasks", "Tasks"),
    ("limits", "Limits"),
    ("config", "Config"),
    ("system", "System"),
];

#[component]
pub fn WorkerPage() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let name = Memo::new(move |_| params.with(|p| p.get("name").unwrap_or_default()));
    let view = Memo::new(move |_| View::Worker { name: name.get() });
    live.follow(view);
    let initial = snapshot_resource(view.get_untracked());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the worker…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <WorkerBody name/> }
            })}
        </Suspense>
    }
}

#[component]
fn WorkerBody(name: Memo<String>) -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let tab = Memo::new(move |_| query.with(|q| q.get("tab").unwrap_or_else(|| "pool".into())));
    let data = Memo::new(move |_| {
        let name = name.get();
        live.model.with(|m| match &m.data {
            Some(ViewData::Worker(w)) if w.name == name => Some(w.clone()),
            _ => None,
        })
    });
    let base = use_base();
    let tabs = move || {
        let current = tab.get();
        let page = base.href(&format!("/worker/{}", encode(&name.get())));
        TABS.iter()
            .map(|(key, label)| {
                let href = format!("{page}?tab={key}");
                view! {
                    <a class="tab" class:selected=current == *key data-tab=*key href=href>
                        {*label}
                    </a>
                }
            })
            .collect_view()
    };
    view! {
        <h1 class="mono">{move || name.get()}</h1>
        {move || data.get().map(|w| view! { <Summary w/> })}
        // Keyed on the name, outside the data (which changes often): what a
        // worker answered stays on screen.
        {move || {
            name.track();
            view! { <WorkerControls name/> }
        }}
        <nav class="tabs">{tabs}</nav>
        <section class="tab-body">
            {move || match data.get() {
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Some(w) => tab_body(&tab.get(), &w),
            }}
        </section>
    }
}

#[component]
fn Summary(w: WorkerData) -> impl IntoView {
    let live = use_live();
    let (status, heartbeat) = match &w.row {
        Some(r) => (format!("{:?}", r.status).to_lowercase(), r.last_heartbeat),
        None => ("unknown".into(), None),
    };
    let software = w.row.as_ref().and_then(|r| match (&r.sw_ident, &r.sw_ver) {
        (Some(i), Some(v)) => Some(format!("{i} {v}")),
        _ => None,
    });
    let tasks_href = use_base().href(&format!("/tasks?worker={}", encode(&w.name)));
    let counts = w
        .events
        .iter()
        .map(|(k, n)| view! { <li><span class="mono">{k.clone()}</span> ": " {*n}</li> })
        .collect_view();
    let last_reply = w
        .inspections
        .iter()
        .map(|i| i.at)
        .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))));
    let replied = move || match (last_reply, live.now.get()) {
        (Some(t), Some(now)) => format!("inspected {}", format_relative(t, now)),
        (Some(_), None) => "inspected".into(),
        (None, _) => "no inspect reply yet".into(),
    };
    view! {
        <section class="cards">
            <div class="card" data-testid="worker-status">
                <span class=format!("badge {status}")>{status.clone()}</span>
                <span class="caption">"last heartbeat " <Time at=Signal::stored(heartbeat)/></span>
            </div>
            <div class="card">
                <span class="value">{w.row.as_ref().and_then(|r| r.processed)}</span>
                <span class="caption">"Processed"</span>
            </div>
            <div class="card">
                <span class="value">{w.row.as_ref().and_then(|r| r.active)}</span>
                <span class="caption">"Active"</span>
            </div>
            <div class="card">
                <span class="caption">{software}</span>
                <span class="caption">{replied}</span>
                <a href=tasks_href>"Its tasks →"</a>
            </div>
        </section>
        <details class="event-counts">
            <summary>"Task events from this worker"</summary>
            <ul class="plain">{counts}</ul>
        </details>
    }
}

/// The reply to `method`, parsed, if the worker sent one.
fn reply(w: &WorkerData, method: &str) -> Option<Value> {
    w.inspections
        .iter()
        .find(|i| i.method == method)
        .and_then(|i| serde_json::from_str(&i.reply).ok())
}

fn missing(what: &str) -> AnyView {
    let text = format!(
        "The worker has not answered `{what}` yet. It is asked every 10 seconds while this page \
         is open; a worker that is busy, offline or started without remote control does not answer."
    );
    view! { <p class="empty">{text}</p> }.into_any()
}

fn section(title: &'static str, value: Option<Value>, what: &str) -> AnyView {
    match value {
        Some(v) => view! {
            <h2>{title}</h2>
            <JsonView value=v/>
        }
        .into_any(),
        None => view! {
            <h2>{title}</h2>
            {missing(what)}
        }
        .into_any(),
    }
}

fn tab_body(tab: &str, w: &WorkerData) -> AnyView {
    let stats = reply(w, "stats");
    let pick = |key: &str| stats.as_ref().and_then(|s| s.get(key).cloned());
    match tab {
        "broker" => section("Broker connection", pick("broker"), "stats"),
        "queues" => section("Active queues", reply(w, "active_queues"), "active_queues"),
        "tasks" => view! {
            {section("Active", reply(w, "active"), "active")}
            {section("Scheduled (ETA)", reply(w, "scheduled"), "scheduled")}
            {section("Reserved", reply(w, "reserved"), "reserved")}
            {section("Revoked", reply(w, "revoked"), "revoked")}
        }
        .into_any(),
        "limits" => view! {
            {section("Registered tasks", reply(w, "registered"), "registered")}
            <p class="subtle">
                "Rate and time limits are set per task type through remote control; their \
                 current values are the task options in Config."
            </p>
        }
        .into_any(),
        "config" => section("Configuration", reply(w, "conf"), "conf"),
        "system" => {
            let mut system = serde_json::Map::new();
            for key in [
                "pid",
                "clock",
                "uptime",
                "prefetch_count",
                "rusage",
                "total",
            ] {
                if let Some(v) = pick(key) {
                    system.insert(key.to_string(), v);
                }
            }
            let value = stats.as_ref().map(|_| Value::Object(system));
            section("System", value, "stats")
        }
        _ => section("Pool", pick("pool"), "stats"),
    }
}
