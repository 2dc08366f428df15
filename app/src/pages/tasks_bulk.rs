//! Bulk revoke and retry on the Tasks page: over every task the page's
//! query matches. The first click only asks the server for a dry run (how
//! many tasks match, and the first of them); nothing is sent to a worker
//! until the user confirms that. Hidden when celadon runs with --read-only.

use leptos::prelude::*;

use super::tasks::encode;
use crate::live::http::{post, Answer};
use crate::live::use_live;
use crate::wire::TasksQuery;

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Checking(&'static str),
    /// The dry run's answer, for this action.
    Confirming(&'static str, Answer),
    Sending,
    Done(Answer),
    Failed(String),
}

/// `/api/tasks/<action>` with the page's filters.
fn bulk_url(action: &str, q: &TasksQuery, dry_run: bool) -> String {
    let mut parts = Vec::new();
    if !q.search.is_empty() {
        parts.push(format!("search={}", encode(&q.search)));
    }
    for (key, value) in [
        ("state", &q.state),
        ("workername", &q.worker),
        ("taskname", &q.name),
    ] {
        if let Some(v) = value {
            parts.push(format!("{key}={}", encode(v)));
        }
    }
    if dry_run {
        parts.push("dry_run=1".into());
    }
    format!("/api/tasks/{action}?{}", parts.join("&"))
}

#[component]
pub fn BulkActions(query: Memo<TasksQuery>) -> impl IntoView {
    let live = use_live();
    let controls = Memo::new(move |_| live.model.with(|m| m.controls));
    let phase = RwSignal::new(Phase::Idle);
    let check = move |action: &'static str| {
        phase.set(Phase::Checking(action));
        let url = bulk_url(action, &query.get_untracked(), true);
        leptos::task::spawn_local(async move {
            phase.set(match post(&url).await {
                Ok(a) if a.ok => Phase::Confirming(action, a),
                Ok(a) => Phase::Done(a),
                Err(e) => Phase::Failed(e),
            });
        });
    };
    let send = move |action: &'static str| {
        phase.set(Phase::Sending);
        let url = bulk_url(action, &query.get_untracked(), false);
        leptos::task::spawn_local(async move {
            phase.set(match post(&url).await {
                Ok(a) => Phase::Done(a),
                Err(e) => Phase::Failed(e),
            });
        });
    };
    let body = move || match phase.get() {
        Phase::Idle => view! {
            <button class="action" data-action="bulk-revoke" on:click=move |_| check("revoke")>
                "Revoke all matching…"
            </button>
            <button class="action" data-action="bulk-retry" on:click=move |_| check("retry")>
                "Retry all matching…"
            </button>
        }
        .into_any(),
        Phase::Checking(_) | Phase::Sending => {
            view! { <span class="subtle">"Asking celadon…"</span> }.into_any()
        }
        Phase::Confirming(action, answer) => {
            let count = answer.body["count"].as_u64().unwrap_or(0);
            let limit = answer.body["limit"].as_u64().unwrap_or(0);
            let first = answer.body["first"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            let id = r["uuid"].as_str().unwrap_or("").to_string();
                            let name = r["name"].as_str().unwrap_or("").to_string();
                            let state = r["state"].as_str().unwrap_or("").to_string();
                            view! { <li class="mono">{id} " " {name} " " {state}</li> }
                        })
                        .collect_view()
                })
                .unwrap_or_default();
            let verb = if action == "revoke" {
                "Revoke"
            } else {
                "Retry"
            };
            let sendable = count > 0 && count <= limit;
            let text = if count == 0 {
                "No task matches this query: nothing to do.".to_string()
            } else if count > limit {
                format!(
                    "{count} tasks match; a bulk action takes at most {limit}. Narrow the search."
                )
            } else {
                format!("{verb} these {count} tasks? Nothing has been sent yet. The first of them:")
            };
            view! {
                <div class="confirm" data-testid="bulk-confirm">
                    <p data-testid="bulk-count">{text}</p>
                    <ul class="plain">{first}</ul>
                    <button class="action danger" data-testid="bulk-yes" disabled=!sendable
                        on:click=move |_| send(action)>
                        {format!("Yes, {} {count} tasks", verb.to_lowercase())}
                    </button>
                    " "
                    <button class="action" on:click=move |_| phase.set(Phase::Idle)>"Cancel"</button>
                </div>
            }
            .into_any()
        }
        Phase::Done(answer) => {
            let class = if answer.ok {
                "outcome ok"
            } else {
                "outcome error"
            };
            let refused = answer.body["refused"].as_array().map_or(0, Vec::len);
            view! {
                <div class=class data-testid="bulk-outcome">
                    <p>{answer.text()}</p>
                    {(refused > 0).then(|| view! {
                        <p>{format!("{refused} could not be retried: no exact arguments (see the API answer).")}</p>
                    })}
                    <button class="action" on:click=move |_| phase.set(Phase::Idle)>"OK"</button>
                </div>
            }
            .into_any()
        }
        Phase::Failed(e) => view! {
            <div class="outcome error" data-testid="bulk-outcome">{e}
                <button class="action" on:click=move |_| phase.set(Phase::Idle)>"OK"</button>
            </div>
        }
        .into_any(),
    };
    move || {
        controls
            .get()
            .then(|| view! { <div class="actions bulk">{body}</div> })
    }
}
