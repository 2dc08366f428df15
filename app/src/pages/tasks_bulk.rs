//! Bulk revoke and retry on the Tasks page: over every task the page's
//! query matches. The first click only asks the server for a dry run (how
//! many tasks match, and the first of them); nothing is sent to a worker
//! until the user confirms that. Hidden when celadon runs with --read-only.

use leptos::prelude::*;

use super::tasks_url::filter_params;
use crate::base::use_base;
use crate::live::http::post;
use crate::live::use_live;
use crate::wire::{
    TasksQuery,
    control::{BulkDryRun, BulkRetried, CommandAnswer},
};

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Checking(&'static str),
    /// The dry run's answer, for this action.
    Confirming(&'static str, BulkDryRun),
    Sending,
    /// What was done: the message, and how many could not be retried.
    Done {
        ok: bool,
        message: String,
        refused: usize,
    },
    Failed(String),
}

impl Phase {
    fn done<T>(
        answer: Result<T, crate::wire::rest::ErrorAnswer>,
        says: impl Fn(T) -> (String, usize),
    ) -> Phase {
        match answer {
            Ok(t) => {
                let (message, refused) = says(t);
                Phase::Done {
                    ok: true,
                    message,
                    refused,
                }
            }
            Err(e) => Phase::Done {
                ok: false,
                message: e.error,
                refused: 0,
            },
        }
    }
}

/// `/api/tasks/<action>` with the page's filters.
fn bulk_url(action: &str, q: &TasksQuery, dry_run: bool) -> String {
    let mut parts = filter_params(q, "workername", "taskname");
    if dry_run {
        parts.push("dry_run=1".into());
    }
    format!("/api/tasks/{action}?{}", parts.join("&"))
}

#[component]
pub fn BulkActions(query: Memo<TasksQuery>) -> impl IntoView {
    let live = use_live();
    // Offered when the server allows control at all and this person's
    // role allows these actions.
    let allowed = crate::person::use_person().can(crate::wire::session::Role::Operator);
    let controls = Memo::new(move |_| allowed && live.model.with(|m| m.controls));
    let phase = RwSignal::new(Phase::Idle);
    let base = use_base();
    let url = move |action: &str, dry_run: bool| {
        base.href(&bulk_url(action, &query.get_untracked(), dry_run))
    };
    let check = move |action: &'static str| {
        phase.set(Phase::Checking(action));
        let url = url(action, true);
        leptos::task::spawn_local(async move {
            phase.set(match post::<BulkDryRun>(&url).await {
                Ok(Ok(dry_run)) => Phase::Confirming(action, dry_run),
                Ok(refused) => Phase::done(refused, |_| (String::new(), 0)),
                Err(e) => Phase::Failed(e),
            });
        });
    };
    let send = move |action: &'static str| {
        phase.set(Phase::Sending);
        let url = url(action, false);
        leptos::task::spawn_local(async move {
            let done = if action == "revoke" {
                post::<CommandAnswer>(&url)
                    .await
                    .map(|a| Phase::done(a, |c| (c.message, 0)))
            } else {
                post::<BulkRetried>(&url)
                    .await
                    .map(|a| Phase::done(a, |r| (r.message, r.refused.len())))
            };
            phase.set(done.unwrap_or_else(Phase::Failed));
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
        Phase::Confirming(action, dry_run) => {
            let BulkDryRun {
                count,
                limit,
                first,
                ..
            } = dry_run;
            let first = first
                .into_iter()
                .map(|t| {
                    let name = t.name.unwrap_or_default();
                    view! { <li class="mono">{t.uuid} " " {name} " " {t.state}</li> }
                })
                .collect_view();
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
                let only = if action == "retry" {
                    " (only those that failed, were revoked or were rejected are retried)"
                } else {
                    ""
                };
                format!(
                    "{verb} these {count} tasks{only}? Nothing has been sent yet. The first of them:"
                )
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
        Phase::Done {
            ok,
            message,
            refused,
        } => {
            let class = if ok { "outcome ok" } else { "outcome error" };
            view! {
                <div class=class data-testid="bulk-outcome">
                    <p>{message}</p>
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
