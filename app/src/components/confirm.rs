//! A control action behind a confirmation: the button asks first, naming
//! what will happen; once confirmed it POSTs to celadon's API and shows
//! what came back — the message, each worker's reply, who did not answer,
//! and for a retry where its arguments came from and the new task.

use leptos::prelude::*;

use crate::live::http::{post, Answer};
use crate::pages::encode;

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Confirming,
    Sending,
    Done(Answer),
    Failed(String),
}

#[component]
pub fn ConfirmAction(
    /// The button's text, e.g. "Revoke".
    label: &'static str,
    /// What confirming will do, in words.
    #[prop(into)]
    confirm: Signal<String>,
    /// Where to POST.
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
) -> impl IntoView {
    let enabled = enabled.unwrap_or(Signal::stored(true));
    let phase = RwSignal::new(Phase::Idle);
    let send = move |_| {
        phase.set(Phase::Sending);
        let url = url.get_untracked();
        leptos::task::spawn_local(async move {
            phase.set(match post(&url).await {
                Ok(answer) => Phase::Done(answer),
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
                Phase::Done(answer) => view! {
                    <Outcome answer/>
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

/// An answer from a control endpoint, as text.
#[component]
fn Outcome(answer: Answer) -> impl IntoView {
    let b = &answer.body;
    let replies = b["replies"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(host, reply)| {
                    let (class, text) = match (reply["ok"].as_str(), reply["error"].as_str()) {
                        (Some(ok), _) => ("ok", ok.to_string()),
                        (_, Some(e)) => ("error", e.to_string()),
                        _ => ("", reply.to_string()),
                    };
                    view! { <li class=class data-worker=host.clone()><b>{host.clone()}</b> ": " {text}</li> }
                })
                .collect_view()
        })
        .unwrap_or_default();
    let silent: Vec<String> = b["no_reply"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let silent = (!silent.is_empty())
        .then(|| view! { <p class="subtle">"No reply from: " {silent.join(", ")}</p> });
    let retried = b["retry-of"].as_str().and(b["task-id"].as_str()).map(|new| {
        let href = format!("/task/{}", encode(new));
        let source = b["source-text"].as_str().unwrap_or("").to_string();
        view! {
            <p>
                "New task: " <a class="mono" href=href data-testid="retried-as">{new.to_string()}</a>
                <br/>
                "Arguments from " <span data-testid="args-source">{source}</span>
            </p>
        }
    });
    let class = if answer.ok {
        "outcome ok"
    } else {
        "outcome error"
    };
    view! {
        <div class=class data-testid="outcome">
            <p data-testid="outcome-message">{answer.text()}</p>
            {retried}
            <ul class="plain replies">{replies}</ul>
            {silent}
        </div>
    }
}
