//! The Task page (`/task/<id>`): every field of one task, its args, result
//! and traceback as text, its relatives as links, and its events in time
//! order. Live: a state change shows without a reload. A task past memory
//! is shown from history (without its events), fetched by the browser.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::{Answers, ConfirmAction, CopyButton, StateBadge, Time, format_duration};
use crate::live::{http, snapshot_resource, use_live};
use crate::wire::{TaskDetail, View, ViewData, rest};

#[component]
pub fn TaskPage() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let view = Memo::new(move |_| View::Task { id: id.get() });
    live.follow(view);
    let initial = snapshot_resource(view.get_untracked());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the task…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <TaskBody id/> }
            })}
        </Suspense>
    }
}

#[component]
fn TaskBody(id: Memo<String>) -> impl IntoView {
    let live = use_live();
    let task = Memo::new(move |_| {
        let id = id.get();
        live.model.with(|m| match &m.data {
            Some(ViewData::Task { id: shown, task }) if *shown == id => Some(task.clone()),
            _ => None,
        })
    });
    let state = Memo::new(move |_| {
        task.with(|t| {
            t.as_ref()
                .and_then(|t| t.as_ref())
                .map(|t| t.row.state.clone())
        })
    });
    let name = Memo::new(move |_| {
        task.with(|t| {
            t.as_ref()
                .and_then(|t| t.as_ref())
                .and_then(|t| t.row.name.clone())
        })
    });
    // The actions sit outside the task's view, which is rebuilt on every
    // change: what the workers answered stays on screen as the state moves.
    // Keyed on the id: another task's page starts without the last outcome.
    view! {
        {move || {
            id.track();
            view! { <TaskActions id state name/> }
        }}
        <WaitingIn id state/>
        {move || task_view(id, task.get())}
    }
}

/// "Waiting in queue X at position N", while the task is sent and not yet
/// received (`/api/task/<id>/queue`, asked again when its state changes).
#[component]
fn WaitingIn(id: Memo<String>, state: Memo<Option<String>>) -> impl IntoView {
    let base = use_base();
    let place = RwSignal::new(None::<crate::wire::queues::TaskPlace>);
    Effect::new(move |_| {
        let (asked, state) = (id.get(), state.get());
        place.set(None);
        if state.as_deref() != Some("PENDING") {
            return;
        }
        let url = base.href(&format!("/api/task/{}/queue", encode(&asked)));
        leptos::task::spawn_local(async move {
            let answer = http::get::<crate::wire::queues::TaskPlace>(&url, INFO_TIMEOUT).await;
            if let Ok(Ok(found)) = answer
                && found.found
            {
                let _ = place.try_set(Some(found));
            }
        });
    });
    move || {
        place.get().and_then(|p| {
            let queue = p.queue?;
            let href = base.href(&format!(
                "/broker/queue/{}?q=id:{}",
                encode(&queue),
                encode(&p.task_id)
            ));
            Some(view! {
                <p class="note" data-testid="task-waiting">
                    "Waiting in queue " <a href=href>{queue}</a>
                    {format!(" at position {}", p.position.unwrap_or(0))}
                    " (0 is the next a worker takes)"
                </p>
            })
        })
    }
}

fn task_view(id: Memo<String>, task: Option<Option<Box<TaskDetail>>>) -> AnyView {
    match task {
        None => view! { <p class="loading">"Loading the task…"</p> }.into_any(),
        Some(None) => view! { <FromHistory id/> }.into_any(),
        Some(Some(t)) => view! { <TaskView t=*t/> }.into_any(),
    }
}

/// What history says of a task the model does not hold.
#[derive(Clone, Debug, PartialEq)]
enum Lookup {
    Looking,
    Found(Box<TaskDetail>),
    Missing,
    Failed(String),
}

/// A task the model does not hold, looked up in history by the read API
/// (`/api/task/info/<id>` answers from the history store past memory).
/// The server renders "looking"; the browser asks. When the task shows up
/// live, the live view takes its place.
#[component]
fn FromHistory(id: Memo<String>) -> impl IntoView {
    let base = use_base();
    let lookup = RwSignal::new(Lookup::Looking);
    Effect::new(move |_| {
        let asked = id.get();
        lookup.set(Lookup::Looking);
        let url = base.href(&format!("/api/task/info/{}", encode(&asked)));
        leptos::task::spawn_local(async move {
            let answer = http::get::<rest::Task>(&url, INFO_TIMEOUT).await;
            if id.try_get_untracked().as_ref() != Some(&asked) {
                return; // another task's page by now
            }
            let _ = lookup.try_set(match answer {
                Ok(Ok(t)) => Lookup::Found(Box::new(TaskDetail::from(t))),
                Ok(Err(_)) => Lookup::Missing,
                Err(why) => Lookup::Failed(why),
            });
        });
    });
    move || match lookup.get() {
        Lookup::Looking => {
            view! { <p class="loading">"Looking for the task in history…"</p> }.into_any()
        }
        Lookup::Found(t) => view! {
            <p class="note" data-testid="task-from-history">
                "From history: celadon no longer holds this task in memory, and the page does \
                 not follow it unless it changes again."
            </p>
            <TaskView t=*t/>
        }
        .into_any(),
        Lookup::Missing => view! {
            <h1 class="mono">{id.get()}</h1>
            <p class="empty" data-testid="unknown-task">
                "celadon has no task with this id, in memory or in history: it may not have been \
                 sent yet, or it was forgotten. This page updates when it appears."
            </p>
        }
        .into_any(),
        Lookup::Failed(why) => {
            view! { <p class="outcome error" data-testid="unknown-task">{why}</p> }.into_any()
        }
    }
}

/// A lookup in history not answered by then is given up.
const INFO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Revoke, terminate and retry, each behind a confirmation; hidden when
/// celadon runs with --read-only.
#[component]
fn TaskActions(
    id: Memo<String>,
    state: Memo<Option<String>>,
    name: Memo<Option<String>>,
) -> impl IntoView {
    let live = use_live();
    // Offered when the server allows control at all and this person's
    // role allows these actions.
    let allowed = crate::person::use_person().can(crate::wire::session::Role::Operator);
    let controls = Memo::new(move |_| allowed && live.model.with(|m| m.controls));
    let signal = RwSignal::new("SIGTERM".to_string());
    let finished = Signal::derive(move || {
        matches!(
            state.get().as_deref(),
            Some("SUCCESS" | "FAILURE" | "REVOKED" | "REJECTED")
        )
    });
    let known = Signal::derive(move || state.get().is_some());
    let started = Signal::derive(move || state.get().as_deref() == Some("STARTED"));
    let path = move || encode(&id.get());
    let signals = SIGNALS
        .iter()
        .map(|s| view! { <option value=*s>{*s}</option> })
        .collect_view();
    move || {
        controls.get().then(|| {
            let signals = signals.clone();
            view! {
                <div class="actions" data-testid="task-actions">
                    <ConfirmAction
                        label="Revoke"
                        action="revoke"
                        enabled=Signal::derive(move || known.get() && !finished.get())
                        disabled_why="the task has finished"
                        url=Signal::derive(move || format!("/api/task/revoke/{}", path()))
                        confirm=Signal::derive(move || format!(
                            "Revoke task {}? Workers discard it if it has not started; a running task keeps running.",
                            id.get()
                        ))
                    />
                    <span class="terminate">
                        <select
                            aria-label="Signal"
                            data-testid="signal"
                            on:change=move |ev| signal.set(event_target_value(&ev))
                        >
                            {signals}
                        </select>
                        <ConfirmAction
                            label="Terminate"
                            action="terminate"
                            danger=true
                            enabled=started
                            disabled_why="only a running task can be terminated"
                            url=Signal::derive(move || format!(
                                "/api/task/revoke/{}?terminate=true&signal={}",
                                path(),
                                signal.get()
                            ))
                            confirm=Signal::derive(move || format!(
                                "Terminate task {} with {}? Its worker kills the process running it.",
                                id.get(),
                                signal.get()
                            ))
                        />
                    </span>
                    <ConfirmAction
                        label="Retry"
                        action="retry"
                        answers=Answers::Retry
                        enabled=finished
                        disabled_why="the task has not finished"
                        url=Signal::derive(move || format!("/api/task/retry/{}", path()))
                        confirm=Signal::derive(move || format!(
                            "Send {} again, with its original arguments, as a new task?",
                            name.get().unwrap_or_else(|| "this task".into())
                        ))
                    />
                </div>
            }
        })
    }
}

/// Signals a terminate may send (the server checks them too).
const SIGNALS: [&str; 4] = ["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT"];

#[component]
fn TaskView(t: TaskDetail) -> AnyView {
    let row = t.row.clone();
    let title = row.name.clone().unwrap_or_else(|| "task".into());
    let id = row.id.clone();
    view! {
        <h1>
            {title} " " <StateBadge state=row.state.clone()/>
        </h1>
        <p class="mono subtle" data-testid="task-id">
            {id.clone()} " " <CopyButton text=id/>
        </p>
        <div class="columns-2">
            <Fields t=t.clone()/>
            <Timeline t=t.clone()/>
        </div>
        <TextBlock label="args" text=row.args.clone() testid="task-args"/>
        <TextBlock label="kwargs" text=row.kwargs.clone() testid="task-kwargs"/>
        <TextBlock label="Result" text=row.result.clone() testid="task-result"/>
        <TextBlock label="Exception" text=row.exception.clone() testid="task-exception"/>
        <TextBlock label="Traceback" text=t.traceback.clone() testid="task-traceback"/>
    }
    .into_any()
}

fn task_link(id: Option<String>) -> Option<AnyView> {
    id.map(|id| {
        let href = use_base().href(&format!("/task/{}", encode(&id)));
        view! { <a class="mono" href=href>{id}</a> }.into_any()
    })
}

#[component]
fn Fields(t: TaskDetail) -> AnyView {
    let r = t.row;
    let worker = r.worker.clone().map(|w| {
        let href = use_base().href(&format!("/worker/{}", encode(&w)));
        view! { <a href=href>{w}</a> }
    });
    let revoked_how = match (t.terminated, t.expired, t.signum) {
        (Some(true), _, Some(sig)) => Some(format!("terminated (signal {sig})")),
        (Some(true), _, None) => Some("terminated".to_string()),
        (_, Some(true), _) => Some("expired".to_string()),
        (Some(false), _, _) => Some("revoked before it ran".to_string()),
        _ => None,
    };
    let children = t
        .children
        .into_iter()
        .map(|c| view! { <li>{task_link(Some(c))}</li> })
        .collect_view();
    let retried_as = t
        .retried_as
        .into_iter()
        .map(|c| view! { <li>{task_link(Some(c))}</li> })
        .collect_view();
    let text = |v: Option<String>| v.unwrap_or_default();
    view! {
        <table class="kv fields" data-testid="task-fields">
            <tbody>
                <tr><th>"State"</th><td data-field="state">{r.state.clone()}</td></tr>
                <tr><th>"Worker"</th><td data-field="worker">{worker}</td></tr>
                <tr><th>"Queue"</th><td>{text(t.queue)}</td></tr>
                <tr><th>"Exchange"</th><td>{text(r.exchange)}</td></tr>
                <tr><th>"Routing key"</th><td>{text(r.routing_key)}</td></tr>
                <tr><th>"Retries"</th><td data-field="retries">{r.retries.map(|n| n.to_string())}</td></tr>
                <tr><th>"Runtime"</th><td data-field="runtime">{r.runtime.map(format_duration)}</td></tr>
                <tr><th>"ETA"</th><td>{text(r.eta)}</td></tr>
                <tr><th>"Expires"</th><td>{text(r.expires)}</td></tr>
                <tr><th>"Revoked"</th><td>{revoked_how}</td></tr>
                <tr><th>"Sent by"</th><td>{text(t.client)}</td></tr>
                <tr><th>"Parent"</th><td data-field="parent">{task_link(t.parent)}</td></tr>
                <tr><th>"Root"</th><td data-field="root">{task_link(t.root)}</td></tr>
                <tr><th>"Children"</th><td data-field="children"><ul class="plain">{children}</ul></td></tr>
                <tr><th>"Retry of"</th><td data-field="retry-of">{task_link(t.retry_of)}</td></tr>
                <tr><th>"Retried as"</th><td data-field="retried-as"><ul class="plain">{retried_as}</ul></td></tr>
                <tr><th>"Clock"</th><td>{t.clock}</td></tr>
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Timeline(t: TaskDetail) -> AnyView {
    let first = t.timeline.first().map(|e| e.at);
    let entries = t
        .timeline
        .into_iter()
        .map(|e| {
            let offset = first
                .map(|f| format!("+{}", format_duration(e.at - f)))
                .unwrap_or_default();
            let by = e.by.unwrap_or_default();
            let key = e.event.clone();
            view! {
                <tr data-event=key>
                    <td class="mono">{e.event}</td>
                    <td><Time at=Signal::stored(Some(e.at))/></td>
                    <td class="num subtle">{offset}</td>
                    <td>{by}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="timeline">
            <h2>"Events"</h2>
            <table class="grid" data-testid="task-timeline">
                <thead>
                    <tr><th>"Event"</th><th>"Time"</th><th class="num">"After first"</th><th>"By"</th></tr>
                </thead>
                <tbody>{entries}</tbody>
            </table>
        </section>
    }
    .into_any()
}

/// A block of untrusted text (args, a traceback): shown as text, never as
/// HTML; leptos sets it as a text node.
#[component]
fn TextBlock(label: &'static str, text: Option<String>, testid: &'static str) -> AnyView {
    text.map(|text| {
        let copy = text.clone();
        view! {
            <section class="text-block">
                <h2>{label} " " <CopyButton text=copy/></h2>
                <pre data-testid=testid>{text}</pre>
            </section>
        }
    })
    .into_any()
}
