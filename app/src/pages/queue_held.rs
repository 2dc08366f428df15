//! The queue page's table of messages workers hold unacknowledged: the
//! task, its args as text, the worker (from its task-received event),
//! since when, and when the visibility timeout redelivers it.

use leptos::prelude::*;

use super::queue::{Fetched, opt};
use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::{Time, format_duration};
use crate::wire::queues::QueueHeld;

#[component]
pub fn HeldTable(held: RwSignal<Fetched<QueueHeld>>) -> impl IntoView {
    let base = use_base();
    move || match held.get() {
        Fetched::Loading => {
            view! { <p class="loading">"Reading unacknowledged messages…"</p> }.into_any()
        }
        Fetched::Failed(e) => view! { <p class="outcome error">{e}</p> }.into_any(),
        Fetched::Got(h) if h.held.is_empty() => view! {
            <p class="empty" data-testid="no-held">"No worker holds a message of this queue."</p>
        }
        .into_any(),
        Fetched::Got(h) => {
            let rows = h
                .held
                .into_iter()
                .map(|m| {
                    let id = opt(&m.message.id);
                    let task_href = base.href(&format!("/task/{}", encode(&id)));
                    let worker = m.worker.clone().map(|w| {
                        let href = base.href(&format!("/worker/{}", encode(&w)));
                        view! { <a href=href>{w}</a> }
                    });
                    view! {
                        <tr data-tag=m.delivery_tag.clone()>
                            <td>{opt(&m.message.task)} <br/> <a class="mono" href=task_href>{id}</a></td>
                            <td><code>{opt(&m.message.args)}</code></td>
                            <td>{worker}</td>
                            <td><Time at=Signal::stored(m.delivered_at)/></td>
                            <td><Time at=Signal::stored(m.redeliver_at)/></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <p class="subtle">
                    {format!(
                        "A held message goes back to its queue {} after its delivery if it is not acknowledged (visibility_timeout).",
                        format_duration(h.visibility_timeout)
                    )}
                </p>
                <table class="grid" data-testid="held-table">
                    <thead>
                        <tr>
                            <th>"Task"</th>
                            <th>"Args"</th>
                            <th>"Worker"</th>
                            <th>"Since"</th>
                            <th>"Redelivered at"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        }
    }
}
