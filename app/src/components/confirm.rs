//! A control action behind a confirmation: the button asks first, naming
//! what will happen; once confirmed it POSTs to celadon's API and shows
//! what came back — the message, each worker's reply, who did not answer,
//! and for a retry where its arguments came from and the new task.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::base::use_base;
use crate::live::http::post;
use crate::pages::encode;
use crate::wire::{
    control::{CommandAnswer, RetryAnswer, ShutdownAnswer, WorkerReply},
    rest::ErrorAnswer,
};

/// What the endpoint an action POSTs to answers with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Answers {
    /// What each worker said ([`CommandAnswer`]).
    #[default]
    Command,
    /// The retry sent ([`RetryAnswer`]).
    Retry,
    /// A cast no worker answers ([`ShutdownAnswer`]).
    Shutdown,
}

/// An answer, decoded as its endpoint's type.
#[derive(Clone, Debug, PartialEq)]
enum Done {
    Command(CommandAnswer),
    Retry(RetryAnswer),
    Shutdown(ShutdownAnswer),
    Refused(ErrorAnswer),
}

async fn send_to(answers: Answers, url: &str) -> Result<Done, String> {
    Ok(match answers {
        Answers::Command => post::<CommandAnswer>(url)
            .await?
            .map_or_else(Done::Refused, Done::Command),
        Answers::Retry => post::<RetryAnswer>(url)
            .await?
            .map_or_else(Done::Refused, Done::Retry),
        Answers::Shutdown => post::<ShutdownAnswer>(url)
            .await?
            .map_or_else(Done::Refused, Done::Shutdown),
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Confirming,
    Sending,
    Done(Done),
    Failed(String),
}

#[component]
pub fn ConfirmAction(
    /// The button's text, e.g. "Revoke".
    label: &'static str,
    /// What confirming will do, in words.
    #[prop(into)]
    confirm: Signal<String>,
    /// Where to POST: an API path from celadon's root (`/api/…`), which is
    /// sent under the base.
    #[prop(into)]
    url: Signal<String>,
    /// Names the action in `data-action` for tests.
    action: &'static str,
    #[prop(optional)] danger: bool,
    /// Whether the action applies now (the button is greyed out if not);
    /// always, if not given.
    #[prop(into, optional)]
    enabled: Option<Signal<bool>>,
    /// Why it does not apply, shown on the greyed-out button.
    #[prop(optional)]
    disabled_why: &'static str,
    /// What the endpoint answers with; a worker command's outcome if not
    /// given.
    #[prop(optional)]
    answers: Answers,
) -> impl IntoView {
    let enabled = enabled.unwrap_or(Signal::stored(true));
    let base = use_base();
    let url = Signal::derive(move || base.href(&url.get()));
    let phase = RwSignal::new(Phase::Idle);
    let send = move |_| {
        phase.set(Phase::Sending);
        let url = url.get_untracked();
        leptos::task::spawn_local(async move {
            phase.set(match send_to(answers, &url).await {
                Ok(done) => Phase::Done(done),
                Err(e) => Phase::Failed(e),
            });
        });
    };
    let class = if danger { "action danger" } else { "action" };
    view! {
        <span class="confirm-action" data-action=action>
            {move || match phase.get() {
                Phase::Idle => view! {
                    <button
                        class=class
                        disabled=move || !enabled.get()
                        title=move || if enabled.get() { "" } else { disabled_why }
                        on:click=move |_| phase.set(Phase::Confirming)
                    >
                        {label}
                    </button>
                }
                .into_any(),
                Phase::Confirming => view! {
                    <span class="confirm" data-testid="confirm">
                        <span class="confirm-text">{move || confirm.get()}</span>
                        " "
                        <button class=class data-testid="confirm-yes" on:click=send>
                            {format!("Yes, {}", label.to_lowercase())}
                        </button>
                        " "
                        <button class="action" on:click=move |_| phase.set(Phase::Idle)>"Cancel"</button>
                    </span>
                }
                .into_any(),
                Phase::Sending => view! { <span class="subtle">"Sending…"</span> }.into_any(),
                Phase::Done(done) => view! {
                    <Outcome done/>
                    <button class="action" on:click=move |_| phase.set(Phase::Idle)>"OK"</button>
                }
                .into_any(),
                Phase::Failed(e) => view! {
                    <span class="outcome error" data-testid="outcome">{e}</span>
                    <button class="action" on:click=move |_| phase.set(Phase::Idle)>"OK"</button>
                }
                .into_any(),
            }}
        </span>
    }
}

/// Each worker's reply, as a list.
fn replies_view(replies: BTreeMap<String, WorkerReply>) -> impl IntoView {
    replies
        .into_iter()
        .map(|(host, reply)| {
            let (class, text) = match reply {
                WorkerReply::Ok(text) => ("ok", text),
                WorkerReply::Error(text) => ("error", text),
            };
            view! { <li class=class data-worker=host.clone()><b>{host.clone()}</b> ": " {text}</li> }
        })
        .collect_view()
}

/// An answer from a control endpoint, as text.
#[component]
fn Outcome(done: Done) -> impl IntoView {
    let (ok, message, replies, silent) = match &done {
        Done::Command(c) => (
            true,
            c.message.clone(),
            c.replies.clone(),
            c.no_reply.clone(),
        ),
        Done::Retry(r) => (true, r.message.clone(), BTreeMap::new(), Vec::new()),
        Done::Shutdown(s) => (true, s.message.clone(), BTreeMap::new(), Vec::new()),
        Done::Refused(e) => (false, e.error.clone(), e.replies.clone(), Vec::new()),
    };
    let silent = (!silent.is_empty())
        .then(|| view! { <p class="subtle">"No reply from: " {silent.join(", ")}</p> });
    let retried = match done {
        Done::Retry(r) => {
            let href = use_base().href(&format!("/task/{}", encode(&r.task_id)));
            Some(view! {
                <p>
                    "New task: " <a class="mono" href=href data-testid="retried-as">{r.task_id}</a>
                    <br/>
                    "Arguments from " <span data-testid="args-source">{r.source_text}</span>
                </p>
            })
        }
        _ => None,
    };
    let class = if ok { "outcome ok" } else { "outcome error" };
    view! {
        <div class=class data-testid="outcome">
            <p data-testid="outcome-message">{message}</p>
            {retried}
            <ul class="plain replies">{replies_view(replies)}</ul>
            {silent}
        </div>
    }
}
