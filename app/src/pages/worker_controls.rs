//! The Worker page's controls (Flower's worker actions): pool size,
//! autoscale, pool restart, shutdown, consumers, and per-task rate and
//! time limits. Each asks before it sends and shows the worker's reply.
//! Hidden when celadon runs with --read-only.

use leptos::prelude::*;

use super::tasks_url::encode;
use crate::components::{Answers, ConfirmAction};
use crate::live::use_live;

/// A text input bound to `value`.
fn input(label: &'static str, value: RwSignal<String>, size: u32) -> impl IntoView {
    view! {
        <label class="inline">
            {label} " "
            <input
                size=size
                data-input=label
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </label>
    }
}

#[component]
pub fn WorkerControls(name: Memo<String>) -> impl IntoView {
    let live = use_live();
    // Offered when the server allows control at all and this person's
    // role allows these actions.
    let allowed = crate::person::use_person().can(crate::wire::session::Role::Admin);
    let controls = Memo::new(move |_| allowed && live.model.with(|m| m.controls));
    let n = RwSignal::new("1".to_string());
    let min = RwSignal::new("1".to_string());
    let max = RwSignal::new("4".to_string());
    let queue = RwSignal::new(String::new());
    let task = RwSignal::new(String::new());
    let rate = RwSignal::new("10/m".to_string());
    let soft = RwSignal::new(String::new());
    let hard = RwSignal::new(String::new());
    let w = move || encode(&name.get());
    move || {
        controls.get().then(|| {
            view! {
                <details class="controls" data-testid="worker-controls">
                    <summary>"Control this worker"</summary>
                    <div class="actions">
                        {input("processes", n, 3)}
                        <ConfirmAction
                            label="Grow"
                            action="pool-grow"
                            url=Signal::derive(move || format!("/api/worker/pool/grow/{}?n={}", w(), encode(&n.get())))
                            confirm=Signal::derive(move || format!("Add {} pool processes to {}?", n.get(), name.get()))
                        />
                        <ConfirmAction
                            label="Shrink"
                            action="pool-shrink"
                            url=Signal::derive(move || format!("/api/worker/pool/shrink/{}?n={}", w(), encode(&n.get())))
                            confirm=Signal::derive(move || format!("Remove {} pool processes from {}?", n.get(), name.get()))
                        />
                    </div>
                    <div class="actions">
                        {input("min", min, 3)}
                        {input("max", max, 3)}
                        <ConfirmAction
                            label="Autoscale"
                            action="autoscale"
                            url=Signal::derive(move || format!(
                                "/api/worker/pool/autoscale/{}?min={}&max={}", w(), encode(&min.get()), encode(&max.get())
                            ))
                            confirm=Signal::derive(move || format!(
                                "Let {} scale its pool between {} and {} processes?", name.get(), min.get(), max.get()
                            ))
                        />
                        <ConfirmAction
                            label="Restart pool"
                            action="pool-restart"
                            danger=true
                            url=Signal::derive(move || format!("/api/worker/pool/restart/{}", w()))
                            confirm=Signal::derive(move || format!(
                                "Restart the pool of {}? Running tasks are interrupted (needs worker_pool_restarts).",
                                name.get()
                            ))
                        />
                        <ConfirmAction
                            label="Shut down"
                            action="shutdown"
                            answers=Answers::Shutdown
                            danger=true
                            url=Signal::derive(move || format!("/api/worker/shutdown/{}", w()))
                            confirm=Signal::derive(move || format!(
                                "Shut down {}? It finishes its running tasks, then stops; something must start it again.",
                                name.get()
                            ))
                        />
                    </div>
                    <div class="actions">
                        {input("queue", queue, 14)}
                        <ConfirmAction
                            label="Add consumer"
                            action="add-consumer"
                            url=Signal::derive(move || format!("/api/worker/queue/add-consumer/{}?queue={}", w(), encode(&queue.get())))
                            confirm=Signal::derive(move || format!("Make {} consume queue {:?}?", name.get(), queue.get()))
                        />
                        <ConfirmAction
                            label="Cancel consumer"
                            action="cancel-consumer"
                            url=Signal::derive(move || format!("/api/worker/queue/cancel-consumer/{}?queue={}", w(), encode(&queue.get())))
                            confirm=Signal::derive(move || format!("Make {} stop consuming queue {:?}?", name.get(), queue.get()))
                        />
                    </div>
                    <div class="actions">
                        {input("task", task, 22)}
                        {input("rate", rate, 6)}
                        <ConfirmAction
                            label="Set rate limit"
                            action="rate-limit"
                            url=Signal::derive(move || format!(
                                "/api/task/rate-limit/{}?workername={}&ratelimit={}", encode(&task.get()), w(), encode(&rate.get())
                            ))
                            confirm=Signal::derive(move || format!(
                                "Limit {} on {} to {}?", task.get(), name.get(), rate.get()
                            ))
                        />
                        {input("soft s", soft, 4)}
                        {input("hard s", hard, 4)}
                        <ConfirmAction
                            label="Set time limits"
                            action="time-limit"
                            url=Signal::derive(move || format!(
                                "/api/task/timeout/{}?workername={}&soft={}&hard={}",
                                encode(&task.get()), w(), encode(&soft.get()), encode(&hard.get())
                            ))
                            confirm=Signal::derive(move || format!(
                                "Set the time limits of {} on {} (soft {:?} s, hard {:?} s)?",
                                task.get(), name.get(), soft.get(), hard.get()
                            ))
                        />
                    </div>
                </details>
            }
        })
    }
}
