//! The Broker page (`/broker`): every queue celadon knows, with its depth
//! per priority, messages held unacknowledged, and its consumers. Queues
//! nobody consumes are listed too: they are the ones that fill up. Each
//! queue's name opens its page (`pages::queue`).

use leptos::prelude::*;

use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::Time;
use crate::live::{snapshot_resource, use_live};
use crate::wire::{BrokerData, QueueRow, View, ViewData};

#[component]
pub fn BrokerPage() -> impl IntoView {
    let live = use_live();
    live.show(View::Broker);
    let initial = snapshot_resource(View::Broker);
    view! {
        <h1>"Broker"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading queues…"</p> }>
            {move || Suspend::new(async move {
                if let Some(snapshot) = initial.await {
                    live.seed(snapshot);
                }
                view! { <BrokerBody/> }
            })}
        </Suspense>
    }
}

#[component]
fn BrokerBody() -> impl IntoView {
    let live = use_live();
    let data = Memo::new(move |_| {
        live.model.with(|m| match &m.data {
            Some(ViewData::Broker(b)) => Some(b.clone()),
            _ => None,
        })
    });
    move || match data.get() {
        None => view! { <p class="loading">"Loading queues…"</p> }.into_any(),
        Some(b) if b.queues.is_empty() => view! {
            <p class="empty" data-testid="no-queues">
                "No queues known yet. celadon finds queues in kombu's binding tables, in \
                 task-sent events and in the workers' active_queues."
            </p>
        }
        .into_any(),
        Some(b) => view! { <QueueTable b/> }.into_any(),
    }
}

fn step_label(step: u8) -> String {
    if step == 0 {
        "priority 0".into()
    } else {
        format!("priority {step}")
    }
}

#[component]
fn QueueTable(b: BrokerData) -> impl IntoView {
    let steps = b.priority_steps.clone();
    let headers = steps
        .iter()
        .map(|s| view! { <th class="num">{step_label(*s)}</th> })
        .collect_view();
    let total_unacked = b.unacked.map_or_else(|| "–".to_string(), |n| n.to_string());
    let rows = b
        .queues
        .into_iter()
        .map(|q| view! { <QueueLine q steps=steps.len()/> })
        .collect_view();
    view! {
        <section class="cards">
            <div class="card" data-testid="unacked-total">
                <span class="value">{total_unacked}</span>
                <span class="caption">"Unacknowledged (all queues)"</span>
            </div>
        </section>
        <table class="grid queues" data-testid="queues-table">
            <thead>
                <tr>
                    <th>"Queue"</th>
                    <th class="num">"Messages"</th>
                    {headers}
                    <th class="num">"Unacked"</th>
                    <th>"Consumers"</th>
                    <th>"Measured"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn QueueLine(q: QueueRow, steps: usize) -> impl IntoView {
    let total = q
        .depths
        .as_ref()
        .map_or_else(|| "–".to_string(), |d| d.iter().sum::<u64>().to_string());
    let per_step = (0..steps)
        .map(|i| {
            let n = q
                .depths
                .as_ref()
                .and_then(|d| d.get(i))
                .map_or_else(|| "–".to_string(), u64::to_string);
            view! { <td class="num">{n}</td> }
        })
        .collect_view();
    let unacked = q.unacked.map_or_else(|| "–".to_string(), |n| n.to_string());
    let consumers = if q.consumers.is_empty() {
        view! { <span class="warn-text">"no consumer"</span> }.into_any()
    } else {
        let base = use_base();
        q.consumers
            .into_iter()
            .map(|c| {
                let href = base.href(&format!("/worker/{}", encode(&c)));
                view! { <a class="consumer" href=href>{c}</a> }
            })
            .collect_view()
            .into_any()
    };
    let page = use_base().href(&format!("/broker/queue/{}", encode(&q.name)));
    view! {
        <tr data-queue=q.name.clone()>
            <td class="name"><a href=page data-testid="queue-link">{q.name.clone()}</a></td>
            <td class="num" data-col="messages">{total}</td>
            {per_step}
            <td class="num" data-col="unacked">{unacked}</td>
            <td>{consumers}</td>
            <td><Time at=Signal::stored(q.measured_at)/></td>
        </tr>
    }
}
