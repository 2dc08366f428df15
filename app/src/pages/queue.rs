//! A queue's page (`/broker/queue/<name>`): its depth per priority now and
//! over the last hour, its oldest message's age, its consumers; its
//! waiting messages, decoded, a page at a time from either end or found by
//! a search; the messages workers hold for it; and the actions
//! (`queue_actions`). The server renders the frame; the browser fetches
//! the queue browser's API (`/api/queues/<name>…`). Task data is text.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::queue_actions::{ActionPanel, RowActions};
use super::queue_held::HeldTable;
use super::tasks_url::encode;
use crate::base::use_base;
use crate::components::{Line, LineChart, format_duration};
use crate::live::{http::get, use_live};
use crate::wire::queues::{QueueHeld, QueueInfo, QueueMessage, QueueMessages};
use crate::wire::{View, ViewData};

/// A request not answered by then is given up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages per page.
const PAGE: u64 = 50;

/// What the page's URL asks for: `from`, `offset`, `q`, `cursor`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Asked {
    pub tail: bool,
    pub offset: u64,
    pub q: String,
    pub cursor: String,
}

impl Asked {
    fn api(&self, name: &str) -> String {
        let mut s = format!(
            "/api/queues/{}/messages?limit={PAGE}&from={}",
            encode(name),
            if self.tail { "tail" } else { "head" }
        );
        if self.q.is_empty() {
            s.push_str(&format!("&offset={}", self.offset));
        } else {
            s.push_str(&format!("&q={}", encode(&self.q)));
            if !self.cursor.is_empty() {
                s.push_str(&format!("&cursor={}", encode(&self.cursor)));
            }
        }
        s
    }

    /// This page's own URL for `a`.
    fn href(name: &str, a: &Asked) -> String {
        let mut s = format!(
            "/broker/queue/{}?from={}",
            encode(name),
            if a.tail { "tail" } else { "head" }
        );
        if a.offset > 0 {
            s.push_str(&format!("&offset={}", a.offset));
        }
        if !a.q.is_empty() {
            s.push_str(&format!("&q={}", encode(&a.q)));
        }
        if !a.cursor.is_empty() {
            s.push_str(&format!("&cursor={}", encode(&a.cursor)));
        }
        s
    }
}

/// One fetch's state.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<T> {
    Loading,
    Got(T),
    Failed(String),
}

/// GETs `path` (under the base) into `into`.
fn fetch_into<T>(path: String, into: RwSignal<Fetched<T>>)
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let href = use_base().href(&path);
    leptos::task::spawn_local(async move {
        let _ = into.try_set(match get::<T>(&href, FETCH_TIMEOUT).await {
            Ok(Ok(t)) => Fetched::Got(t),
            Ok(Err(refused)) => Fetched::Failed(refused.error),
            Err(e) => Fetched::Failed(e),
        });
    });
}

/// Follows the Broker view, which keeps the websocket (and with it the
/// indicator and the alerts banner) live on this page, and reads the
/// queue's numbers and chart again at each new measurement of it (every
/// 2 s). The messages are read again only on request or after an action:
/// a list that moved under the reader's eyes would be hard to act on.
fn follow_measurements(name: Memo<String>, info: RwSignal<Fetched<QueueInfo>>) {
    let live = use_live();
    live.show(View::Broker);
    let measured = Memo::new(move |_| {
        let n = name.get();
        live.model.with(|m| match &m.data {
            Some(ViewData::Broker(b)) => b
                .queues
                .iter()
                .find(|q| q.name == n)
                .and_then(|q| q.measured_at),
            _ => None,
        })
    });
    Effect::new(move |seen: Option<Option<f64>>| {
        let at = measured.get();
        if seen.is_some_and(|s| s.is_some() && s != at) {
            fetch_into(
                format!("/api/queues/{}", encode(&name.get_untracked())),
                info,
            );
        }
        at
    });
}

#[component]
pub fn QueuePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = Memo::new(move |_| params.with(|p| p.get("name").unwrap_or_default()));
    let asked = Memo::new(move |_| {
        query.with(|q| Asked {
            tail: q.get("from").as_deref() == Some("tail"),
            offset: q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0),
            q: q.get("q").unwrap_or_default(),
            cursor: q.get("cursor").unwrap_or_default(),
        })
    });
    // Bumped after an action: everything is read again.
    let version = RwSignal::new(0u32);
    let info = RwSignal::new(Fetched::<QueueInfo>::Loading);
    let messages = RwSignal::new(Fetched::<QueueMessages>::Loading);
    let held = RwSignal::new(Fetched::<QueueHeld>::Loading);
    Effect::new(move |_| {
        version.track();
        let (n, a) = (name.get(), asked.get());
        let path = encode(&n);
        fetch_into(format!("/api/queues/{path}"), info);
        fetch_into(a.api(&n), messages);
        fetch_into(format!("/api/queues/{path}/unacked?limit=100"), held);
    });
    follow_measurements(name, info);
    let base = use_base();
    view! {
        <p class="crumbs"><a href=base.href("/broker")>"Broker"</a> " › queue"</p>
        <h1 class="mono" data-testid="queue-name">{move || name.get()}</h1>
        <InfoPanel info/>
        <DepthChart info/>
        <ActionPanel name asked version/>
        <h2>"Waiting messages"</h2>
        <SearchForm name asked/>
        <MessagesTable name asked messages version/>
        <h2>"Held by workers (unacknowledged)"</h2>
        <HeldTable held/>
    }
}

#[component]
fn InfoPanel(info: RwSignal<Fetched<QueueInfo>>) -> impl IntoView {
    let base = use_base();
    move || match info.get() {
        Fetched::Loading => view! { <p class="loading">"Reading the queue…"</p> }.into_any(),
        Fetched::Failed(e) => view! { <p class="outcome error">{e}</p> }.into_any(),
        Fetched::Got(i) => {
            let steps = i
                .priority_steps
                .iter()
                .zip(&i.depths)
                .map(
                    |(s, d)| view! { <span class="step">{format!("priority {s}: {d}")}</span> " " },
                )
                .collect_view();
            let oldest = match &i.oldest {
                None => "no message waits".to_string(),
                Some(o) => match o.age {
                    Some(age) => format!("the next has waited {}", format_duration(age)),
                    None => "the next message's age is not known (no task-sent event seen)".into(),
                },
            };
            let consumers = if i.consumers.is_empty() {
                view! { <span class="warn-text">"no consumer"</span> }.into_any()
            } else {
                i.consumers
                    .iter()
                    .map(|c| {
                        let href = base.href(&format!("/worker/{}", encode(c)));
                        view! { <a class="consumer" href=href>{c.clone()}</a> " " }
                    })
                    .collect_view()
                    .into_any()
            };
            // Each part's type erased: one nested view type is too deep
            // for the compiler's layout of the hydrating build.
            let cards = view! {
                <section class="cards">
                    <div class="card" data-testid="queue-depth">
                        <span class="value">{i.depth}</span>
                        <span class="caption">"Waiting"</span>
                    </div>
                    <div class="card">
                        <span class="value">{i.unacked.map_or("–".into(), |u| u.to_string())}</span>
                        <span class="caption">"Unacknowledged"</span>
                    </div>
                </section>
            }
            .into_any();
            let facts = view! {
                <p data-testid="queue-steps">{steps}</p>
                <p data-testid="queue-oldest">{oldest}</p>
                <p>"Consumers: " {consumers}</p>
            }
            .into_any();
            view! { {cards} {facts} }.into_any()
        }
    }
}

/// Colors of the lines per priority step, in turn.
const STEP_CLASSES: [&str; 6] = ["q0", "q1", "q2", "q3", "q4", "q5"];

/// The chart's lines: one per priority step when the model keeps them,
/// else the total (a queue with one step).
fn depth_lines(i: &QueueInfo) -> Vec<Line> {
    let values = |s: &[Option<u32>]| s.iter().map(|v| f64::from(v.unwrap_or(0))).collect();
    if i.series_by_step.len() > 1 && i.series_by_step.len() == i.priority_steps.len() {
        i.priority_steps
            .iter()
            .zip(&i.series_by_step)
            .enumerate()
            .map(|(k, (step, series))| Line {
                name: format!("priority {step}"),
                class: STEP_CLASSES[k % STEP_CLASSES.len()],
                values: values(series),
            })
            .collect()
    } else {
        vec![Line {
            name: "depth".into(),
            class: "q0",
            values: values(&i.series),
        }]
    }
}

/// The depth over the last hour (the model's 5 s peaks, per priority
/// step where it keeps them), always in the
/// page: a chart inside a branch's erased view is too deep a type for
/// the hydrating build.
#[component]
fn DepthChart(info: RwSignal<Fetched<QueueInfo>>) -> impl IntoView {
    let got = move |f: &dyn Fn(&QueueInfo) -> f64| {
        info.with(|i| match i {
            Fetched::Got(i) => f(i),
            _ => 0.0,
        })
    };
    let lines = Signal::derive(move || {
        info.with(|i| match i {
            Fetched::Got(i) => depth_lines(i),
            _ => Vec::new(),
        })
    });
    let start = Signal::derive(move || got(&|i| i.series_start));
    let step = Signal::derive(move || got(&|i| f64::from(i.series_step)));
    view! {
        <section class="chart-panel">
            <h2>"Depth, last hour"</h2>
            <LineChart lines start step unit="messages" testid="queue-depth-chart"/>
        </section>
    }
}

#[component]
fn SearchForm(name: Memo<String>, asked: Memo<Asked>) -> impl IntoView {
    let base = use_base();
    let action = move || base.href(&format!("/broker/queue/{}", encode(&name.get())));
    let end = move |tail: bool| {
        let a = Asked {
            tail,
            ..Asked::default()
        };
        base.href(&Asked::href(&name.get(), &a))
    };
    view! {
        <form class="queue-search" method="get" action=action>
            <input
                name="q"
                data-testid="queue-search"
                placeholder="name:billing.charge  id:…  args:text  or any text"
                value=move || asked.get().q
            />
            <input type="hidden" name="from" value=move || if asked.get().tail { "tail" } else { "head" }/>
            <button class="action" type="submit">"Search"</button>
            " "
            <a href=move || end(false) data-testid="from-head">"From the head (next taken)"</a>
            " · "
            <a href=move || end(true) data-testid="from-tail">"From the tail"</a>
        </form>
    }
}

/// A message's text fields, for the table.
pub(super) fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

#[component]
fn MessagesTable(
    name: Memo<String>,
    asked: Memo<Asked>,
    messages: RwSignal<Fetched<QueueMessages>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let base = use_base();
    move || match messages.get() {
        Fetched::Loading => view! { <p class="loading">"Reading messages…"</p> }.into_any(),
        Fetched::Failed(e) => view! { <p class="outcome error">{e}</p> }.into_any(),
        Fetched::Got(page) => {
            let a = asked.get();
            let summary = match page.scanned {
                Some(scanned) => format!(
                    "{} found (newest first), looking at {scanned} of {} messages{}",
                    page.messages.len(),
                    page.depth,
                    if page.next_cursor.is_some() {
                        " (more to look at)"
                    } else {
                        ""
                    }
                ),
                None => format!("{} messages waiting", page.depth),
            };
            let n = name.get();
            let next = match &page.next_cursor {
                Some(c) => Some(Asked {
                    cursor: c.clone(),
                    ..a.clone()
                }),
                None if a.q.is_empty() && a.offset + PAGE < page.depth => Some(Asked {
                    offset: a.offset + PAGE,
                    ..a.clone()
                }),
                None => None,
            }
            .map(|next| base.href(&Asked::href(&n, &next)));
            let previous = (a.q.is_empty() && a.offset > 0).then(|| {
                base.href(&Asked::href(
                    &n,
                    &Asked {
                        offset: a.offset.saturating_sub(PAGE),
                        ..a.clone()
                    },
                ))
            });
            let rows = page
                .messages
                .into_iter()
                .map(|m| view! { <MessageRow m name version/> })
                .collect_view();
            view! {
                <div class="pager">
                    <span data-testid="messages-summary">{summary}</span>
                    {previous.map(|h| view! { <a href=h>"‹ previous"</a> })}
                    {next.map(|h| view! { <a href=h data-testid="messages-next">"next ›"</a> })}
                </div>
                <table class="grid queue-messages" data-testid="messages-table">
                    <thead>
                        <tr>
                            <th class="num">"Position"</th>
                            <th class="num">"Priority"</th>
                            <th>"Task"</th>
                            <th>"Args"</th>
                            <th>"Kwargs"</th>
                            <th>"ETA / expires"</th>
                            <th class="num">"Retries"</th>
                            <th>"Parent / root"</th>
                            <th>"Origin"</th>
                            <th></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        }
    }
}

#[component]
fn MessageRow(m: QueueMessage, name: Memo<String>, version: RwSignal<u32>) -> impl IntoView {
    let base = use_base();
    if let Some(u) = &m.undecodable {
        return view! {
            <tr class="undecodable" data-position=m.position>
                <td class="num">{m.position}</td>
                <td class="num">{m.priority_step}</td>
                <td colspan="8">
                    {format!("Undecodable ({}; {} bytes): ", u.why, m.size)}
                    <code>{u.start.clone()}</code>
                </td>
            </tr>
        }
        .into_any();
    }
    let id = opt(&m.id);
    let href = base.href(&format!("/task/{}", encode(&id)));
    let when = format!(
        "{} {}",
        opt(&m.eta),
        m.expires
            .as_ref()
            .map(|e| format!("(expires {e})"))
            .unwrap_or_default()
    );
    let family = format!("{} {}", opt(&m.parent_id), opt(&m.root_id));
    view! {
        <tr data-id=id.clone() data-position=m.position>
            <td class="num">{m.position}</td>
            <td class="num">{m.priority.map_or(m.priority_step.to_string(), |p| p.to_string())}</td>
            <td>
                <span class="name">{opt(&m.task)}</span>
                <br/>
                <a class="mono" href=href>{id.clone()}</a>
            </td>
            <td><code data-col="args">{opt(&m.args)}</code></td>
            <td><code data-col="kwargs">{opt(&m.kwargs)}</code></td>
            <td class="mono">{when}</td>
            <td class="num">{m.retries.map(|r| r.to_string()).unwrap_or_default()}</td>
            <td class="mono small">{family}</td>
            <td class="small">
                {opt(&m.origin)}
                <details>
                    <summary>"headers"</summary>
                    <code>{opt(&m.headers)}</code>
                </details>
            </td>
            <td><RowActions name id=id.clone() delivery_tag=m.delivery_tag.clone() version/></td>
        </tr>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(steps: Vec<u8>, series: Vec<Option<u32>>, by_step: Vec<Vec<Option<u32>>>) -> QueueInfo {
        QueueInfo {
            name: "q".into(),
            priority_steps: steps,
            depths: Vec::new(),
            depth: 0,
            unacked: None,
            consumers: Vec::new(),
            oldest: None,
            series_start: 0.0,
            series_step: 5,
            series,
            series_by_step: by_step,
            known: true,
        }
    }

    #[test]
    fn a_line_per_priority_step_else_the_total() {
        let steps = info(
            vec![0, 6],
            vec![Some(3), None],
            vec![vec![Some(1), None], vec![Some(2), Some(4)]],
        );
        let lines = depth_lines(&steps);
        let shown: Vec<_> = lines
            .iter()
            .map(|l| (l.name.as_str(), l.class, l.values.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                ("priority 0", "q0", vec![1.0, 0.0]),
                ("priority 6", "q1", vec![2.0, 4.0]),
            ]
        );
        for one in [
            info(vec![0], vec![Some(3), None], Vec::new()),
            info(vec![0, 6], vec![Some(3), None], Vec::new()),
            info(vec![0, 3, 6], vec![Some(3), None], vec![vec![None; 2]; 2]),
        ] {
            let lines = depth_lines(&one);
            assert_eq!(lines.len(), 1);
            assert_eq!(
                (lines[0].name.as_str(), &lines[0].values),
                ("depth", &vec![3.0, 0.0])
            );
        }
    }
}
