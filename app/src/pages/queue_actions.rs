//! The queue page's actions: move or purge what the search matches, purge
//! the whole queue (admin), and delete or move one message. Every one
//! asks the server for a dry run first and shows exactly what it would
//! touch (how many messages, and the first of them); nothing changes
//! until that is confirmed. Each outcome is said at the top of the page,
//! and the page reads the queue again.

use leptos::prelude::*;

use super::queue::Asked;
use super::tasks_url::encode;
use crate::base::use_base;
use crate::live::http::post;
use crate::person::use_person;
use crate::wire::{queues::QueueActionAnswer, session::Role};

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Checking,
    Confirming(QueueActionAnswer),
    Sending,
}

/// The last action's outcome, shown above the tables: whether it went
/// well, and what the server said.
#[derive(Clone, Copy)]
struct Outcome(RwSignal<Option<(bool, String)>>);

fn action_url(name: &str, action: &str, params: &[(&str, String)], dry_run: bool) -> String {
    let mut s = format!("/api/queues/{}/{action}?", encode(name));
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        s.push_str(&format!("{k}={}&", encode(v)));
    }
    if dry_run {
        s.push_str("dry_run=1");
    }
    s
}

/// A button whose action is checked by a dry run, then confirmed.
#[component]
fn Confirmed(
    label: &'static str,
    /// `delete`, `purge` or `move`.
    action: &'static str,
    /// The queue, and the action's parameters (`q`, `id`, `to`…).
    #[prop(into)]
    request: Signal<(String, Vec<(&'static str, String)>)>,
    /// What is missing before it can run, if anything.
    #[prop(into)]
    missing: Signal<Option<&'static str>>,
    version: RwSignal<u32>,
    testid: &'static str,
) -> impl IntoView {
    let base = use_base();
    let phase = RwSignal::new(Phase::Idle);
    let outcome = use_context::<Outcome>().map(|o| o.0);
    let tell = move |said: (bool, String)| {
        if let Some(o) = outcome {
            o.set(Some(said));
        }
    };
    let url = move |dry_run: bool| {
        let (name, params) = request.get_untracked();
        base.href(&action_url(&name, action, &params, dry_run))
    };
    let check = move |_| {
        phase.set(Phase::Checking);
        let url = url(true);
        leptos::task::spawn_local(async move {
            match post::<QueueActionAnswer>(&url).await {
                Ok(Ok(answer)) => phase.set(Phase::Confirming(answer)),
                Ok(Err(refused)) => {
                    phase.set(Phase::Idle);
                    tell((false, refused.error));
                }
                Err(e) => {
                    phase.set(Phase::Idle);
                    tell((false, e));
                }
            }
        });
    };
    let send = move |_| {
        phase.set(Phase::Sending);
        let url = url(false);
        leptos::task::spawn_local(async move {
            let said = match post::<QueueActionAnswer>(&url).await {
                Ok(Ok(answer)) => (true, answer.message),
                Ok(Err(refused)) => (false, refused.error),
                Err(e) => (false, e),
            };
            let _ = phase.try_set(Phase::Idle);
            tell(said);
            version.update(|v| *v += 1);
        });
    };
    move || match phase.get() {
        Phase::Idle => view! {
            <button
                class="action"
                data-action=testid
                disabled=move || missing.get().is_some()
                title=move || missing.get().unwrap_or_default()
                on:click=check
            >
                {label}
            </button>
        }
        .into_any(),
        Phase::Checking | Phase::Sending => {
            view! { <span class="subtle">"Asking celadon…"</span> }.into_any()
        }
        Phase::Confirming(answer) => {
            let n = answer.selected;
            let first = answer
                .first
                .iter()
                .map(|m| {
                    let text = format!(
                        "#{} {} {} {}",
                        m.position,
                        m.task.clone().unwrap_or_default(),
                        m.id.clone().unwrap_or_default(),
                        m.args.clone().unwrap_or_default()
                    );
                    view! { <li class="mono">{text}</li> }
                })
                .collect_view();
            let text = if n == 0 {
                "Nothing matches: nothing to do.".to_string()
            } else {
                let partial = if answer.complete {
                    ""
                } else {
                    " (only part of the queue was looked at: run it again for the rest)"
                };
                format!(
                    "{}{partial}. Nothing has been changed yet; the messages are selected again \
                     when you confirm, as the queue stands then. The first of them:",
                    answer.message
                )
            };
            let verb = match action {
                "move" => "move",
                _ => "delete",
            };
            let yes = match n {
                1 => format!("Yes, {verb} 1 message"),
                n => format!("Yes, {verb} {n} messages"),
            };
            view! {
                <div class="confirm" data-testid="queue-confirm">
                    <p data-testid="queue-confirm-text">{text}</p>
                    <ul class="plain">{first}</ul>
                    <button class="action danger" data-testid="queue-confirm-yes" disabled=n == 0
                        on:click=send>
                        {yes}
                    </button>
                    " "
                    <button class="action" on:click=move |_| phase.set(Phase::Idle)>"Cancel"</button>
                </div>
            }
            .into_any()
        }
    }
}

/// Actions on what the search matches, and on the whole queue.
#[component]
pub fn ActionPanel(
    name: Memo<String>,
    asked: Memo<Asked>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let outcome = RwSignal::new(None::<(bool, String)>);
    provide_context(Outcome(outcome));
    let person = use_person();
    let operator = person.can(Role::Operator);
    let admin = person.can(Role::Admin);
    let to = RwSignal::new(String::new());
    let q = move || asked.get().q;
    let needs_q = Signal::derive(move || {
        q().is_empty()
            .then_some("search first: the action takes what the search matches")
    });
    let move_missing = Signal::derive(move || {
        needs_q.get().or_else(|| {
            to.get()
                .trim()
                .is_empty()
                .then_some("name the destination queue")
        })
    });
    let said = move || {
        outcome.get().map(|(ok, text)| {
            let class = if ok { "outcome ok" } else { "outcome error" };
            view! {
                <div class=class data-testid="queue-outcome">
                    <p>{text}</p>
                    <button class="action" on:click=move |_| outcome.set(None)>"OK"</button>
                </div>
            }
        })
    };
    view! {
        {said}
        {operator.then(|| view! {
            <div class="actions queue-actions">
                <label>
                    "Move to queue "
                    <input
                        data-testid="move-to"
                        prop:value=move || to.get()
                        on:input=move |ev| to.set(event_target_value(&ev))
                    />
                </label>
                " "
                <Confirmed
                    label="Move matching…"
                    action="move"
                    request=Signal::derive(move || (name.get(), vec![("q", q()), ("to", to.get().trim().to_string())]))
                    missing=move_missing
                    version
                    testid="move-matching"
                />
                " "
                <Confirmed
                    label="Purge matching…"
                    action="purge"
                    request=Signal::derive(move || (name.get(), vec![("q", q())]))
                    missing=needs_q
                    version
                    testid="purge-matching"
                />
                " "
                {admin.then(|| view! {
                    <Confirmed
                        label="Purge the whole queue…"
                        action="purge"
                        request=Signal::derive(move || (name.get(), Vec::new()))
                        missing=Signal::stored(None)
                        version
                        testid="purge-all"
                    />
                })}
            </div>
        })}
    }
}

/// Delete or move one message (by its task id and delivery tag).
#[component]
pub fn RowActions(
    name: Memo<String>,
    id: String,
    delivery_tag: Option<String>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let operator = use_person().can(Role::Operator);
    let to = RwSignal::new(String::new());
    let tag = delivery_tag.unwrap_or_default();
    let one = {
        let (id, tag) = (id.clone(), tag.clone());
        move || vec![("id", id.clone()), ("delivery_tag", tag.clone())]
    };
    let one_to = {
        let one = one.clone();
        move || {
            let mut p = one();
            p.push(("to", to.get().trim().to_string()));
            p
        }
    };
    operator.then(|| {
        view! {
            <Confirmed
                label="Delete…"
                action="delete"
                request=Signal::derive(move || (name.get(), one()))
                missing=Signal::stored(None)
                version
                testid="delete-one"
            />
            <details class="move-one">
                <summary>"Move…"</summary>
                <input
                    data-testid="move-one-to"
                    placeholder="queue"
                    prop:value=move || to.get()
                    on:input=move |ev| to.set(event_target_value(&ev))
                />
                <Confirmed
                    label="Move"
                    action="move"
                    request=Signal::derive(move || (name.get(), one_to()))
                    missing=Signal::derive(move || to.get().trim().is_empty().then_some("name the destination queue"))
                    version
                    testid="move-one"
                />
            </details>
        }
    })
}
