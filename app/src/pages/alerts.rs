//! The Alerts page (`/alerts`): what fires now (each summary as it reads
//! now), each linking to the page that shows the cause; what is pending
//! (holding, waiting for its rule's `for`: here only, never in the
//! banner); the rules (the `--alerts` file's read-only, with
//! their source; admins add, edit and delete the page's); the webhooks
//! (admins add, edit, delete and test them; a secret is written, never
//! shown); and the history of firings. The server renders it empty; the
//! browser fetches `/api/alerts` now and every [`REFRESH`]. Every value is
//! shown as text.

use std::time::Duration;

use leptos::prelude::*;

use crate::base::use_base;
use crate::components::format_utc;
use crate::live::http::{get, send_json};
use crate::wire::alerts::{
    Alert, AlertsAnswer, PendingAlert, RuleEntry, RuleKind, RuleSpec, Severity, Source,
    WebhookEntry, WebhookFormat, WebhookSpec, WebhookTest,
};
use crate::wire::session::Role;

/// A fetch not answered by then is given up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the page asks again (the browser only).
#[cfg(feature = "hydrate")]
const REFRESH: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Loading,
    Answer(Box<AlertsAnswer>),
    Failed(String),
}

/// Bumped to fetch again (after an edit, and on the timer).
#[derive(Clone, Copy)]
struct Reload(RwSignal<u64>);

#[component]
pub fn AlertsPage() -> impl IntoView {
    let base = use_base();
    let shown = RwSignal::new(Shown::Loading);
    let reload = Reload(RwSignal::new(0));
    provide_context(reload);
    // Above the tables and the forms, which both need them.
    provide_context(Editing(RwSignal::new(None)));
    provide_context(EditingHook(RwSignal::new(None)));
    provide_context(TestOutcomes(RwSignal::new(Default::default())));
    Effect::new(move |_| {
        reload.0.track();
        let href = base.href("/api/alerts");
        leptos::task::spawn_local(async move {
            let answer = get::<AlertsAnswer>(&href, FETCH_TIMEOUT).await;
            let now = match answer {
                Ok(Ok(a)) => Shown::Answer(Box::new(a)),
                Ok(Err(refused)) => Shown::Failed(refused.error),
                Err(e) => Shown::Failed(e),
            };
            // An unchanged answer leaves the tables as they are.
            if shown.try_with_untracked(|s| *s != now).unwrap_or(false) {
                let _ = shown.try_set(now);
            }
        });
    });
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(move || reload.0.update(|n| *n += 1), REFRESH);
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }
    // This page has no view of its own; following the Workers view (the
    // smallest) keeps the websocket, and so every page's banner, live here
    // too.
    crate::live::use_live().show(crate::wire::View::Workers);
    let admin = crate::person::use_person().can(Role::Admin);
    // The tables follow each answer; the forms stay as they are (what an
    // admin is typing survives a refresh).
    let answer = move || match shown.get() {
        Shown::Answer(a) => Some(a),
        _ => None,
    };
    view! {
        <h1>"Alerts"</h1>
        {move || match shown.get() {
            Shown::Loading => Some(view! { <p class="loading">"Loading the alerts…"</p> }.into_any()),
            Shown::Failed(why) => {
                Some(view! { <p class="outcome error" role="alert">{why}</p> }.into_any())
            }
            Shown::Answer(a) => (!a.persisted).then(|| {
                view! {
                    <p class="note" data-testid="alerts-not-persisted">
                        "No history store: the alerts' history and the rules and webhooks added \
                         here last until celadon stops."
                    </p>
                }
                .into_any()
            }),
        }}
        <h2>"Firing now"</h2>
        {move || answer().map(|a| view! {
            <AlertTable alerts=a.firing testid="alerts-firing" empty="Nothing fires."/>
        })}
        {move || answer().map(|a| view! { <PendingTable pending=a.pending/> })}
        <h2>"Rules"</h2>
        {move || answer().map(|a| {
            let file = a.file.map(|f| view! { <p class="note">"Rules file: " <code>{f}</code></p> });
            view! { {file} <RuleTable rules=a.rules admin/> }
        })}
        {admin.then(|| view! { <RuleForm/> })}
        <h2>"Webhooks"</h2>
        {move || answer().map(|a| view! { <WebhookTable hooks=a.webhooks stats=a.deliveries admin/> })}
        {admin.then(|| view! { <WebhookForm/> })}
        <h2>"History"</h2>
        {move || answer().map(|a| view! {
            <AlertTable alerts=a.history testid="alerts-history" empty="No alert has fired."/>
        })}
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Info => "badge sev-info",
        Severity::Warning => "badge sev-warning",
        Severity::Critical => "badge sev-critical",
    }
}

#[component]
fn AlertTable(alerts: Vec<Alert>, testid: &'static str, empty: &'static str) -> impl IntoView {
    let base = use_base();
    if alerts.is_empty() {
        return view! { <p class="empty" data-testid=testid>{empty}</p> }.into_any();
    }
    let rows = alerts
        .into_iter()
        .map(|a| {
            let ended = a
                .ended
                .map(format_utc)
                .unwrap_or_else(|| "firing".to_string());
            view! {
                <tr data-rule=a.rule.clone()>
                    <td>{format_utc(a.started)}</td>
                    <td>{ended}</td>
                    <td>{a.rule.clone()}</td>
                    <td><span class=severity_class(a.severity)>{a.severity.as_str()}</span></td>
                    <td><a href=base.href(&a.link)>{a.summary.clone()}</a></td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <table class="grid alerts" data-testid=testid>
            <thead>
                <tr>
                    <th>"Started"</th>
                    <th>"Ended"</th>
                    <th>"Rule"</th>
                    <th>"Severity"</th>
                    <th>"What"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// What holds but waits for its rule's `for`; nothing while nothing does.
#[component]
fn PendingTable(pending: Vec<PendingAlert>) -> impl IntoView {
    let base = use_base();
    if pending.is_empty() {
        return ().into_any();
    }
    let rows = pending
        .into_iter()
        .map(|p| {
            view! {
                <tr data-rule=p.rule.clone()>
                    <td>{format_utc(p.since)}</td>
                    <td>{format!("{} unless it clears", format_utc(p.fires_at))}</td>
                    <td>{p.rule.clone()}</td>
                    <td><span class=severity_class(p.severity)>{p.severity.as_str()}</span></td>
                    <td><a href=base.href(&p.link)>{p.summary.clone()}</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Pending"</h2>
        <table class="grid alerts" data-testid="alerts-pending">
            <thead>
                <tr>
                    <th>"Holding since"</th>
                    <th>"Fires at"</th>
                    <th>"Rule"</th>
                    <th>"Severity"</th>
                    <th>"What"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// A rule's bounds in one line, as written.
fn describe(s: &RuleSpec) -> String {
    let fields = [
        ("worker", s.worker.clone()),
        ("queue", s.queue.clone()),
        ("task", s.task.clone()),
        ("after", s.after.clone()),
        ("depth", s.depth.map(|d| d.to_string())),
        ("during", s.during.clone()),
        ("p95", s.p95.clone()),
        ("window", s.window.clone()),
        ("percent", s.percent.map(|p| p.to_string())),
        ("min_count", s.min_count.map(|m| m.to_string())),
        ("period", s.period.clone()),
        ("for", s.hold.clone()),
    ];
    fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rule being edited in the form (its original name), if any.
#[derive(Clone, Copy)]
struct Editing(RwSignal<Option<RuleSpec>>);

#[derive(Clone, Copy)]
struct EditingHook(RwSignal<Option<WebhookEntry>>);

#[component]
fn RuleTable(rules: Vec<RuleEntry>, admin: bool) -> impl IntoView {
    if rules.is_empty() {
        return view! { <p class="empty" data-testid="alerts-rules">"No rule."</p> }.into_any();
    }
    let editing = use_context::<Editing>();
    let rows = rules
        .into_iter()
        .map(|r| {
            let source = match &r.source {
                Source::File { path } => format!("file {path}"),
                Source::Page => "page".to_string(),
            };
            let actions = (admin && r.source == Source::Page).then(|| {
                let spec = r.spec.clone();
                let name = r.spec.name.clone();
                view! {
                    <button class="action" on:click=move |_| {
                        if let Some(e) = editing {
                            e.0.set(Some(spec.clone()));
                        }
                    }>"Edit"</button>
                    <DeleteButton what="rules" name/>
                }
                .into_any()
            });
            view! {
                <tr data-rule=r.spec.name.clone()>
                    <td>{r.spec.name.clone()}</td>
                    <td>{r.spec.kind.as_str()}</td>
                    <td><span class=severity_class(r.spec.severity)>{r.spec.severity.as_str()}</span></td>
                    <td>{describe(&r.spec)}</td>
                    <td>{r.firing}</td>
                    <td>{source}</td>
                    <td>{actions}</td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <table class="grid alerts" data-testid="alerts-rules">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Kind"</th>
                    <th>"Severity"</th>
                    <th>"Bounds"</th>
                    <th>"Firing"</th>
                    <th>"Source"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// Deletes a page rule or webhook, after the browser's confirmation.
#[component]
fn DeleteButton(what: &'static str, name: String) -> impl IntoView {
    let base = use_base();
    let reload = use_context::<Reload>();
    let failed = RwSignal::new(None::<String>);
    let click = move |_| {
        let name = name.clone();
        #[cfg(feature = "hydrate")]
        {
            let question = format!("Delete the {} {name:?}?", &what[..what.len() - 1]);
            let sure = web_sys::window()
                .and_then(|w| w.confirm_with_message(&question).ok())
                .unwrap_or(false);
            if !sure {
                return;
            }
        }
        let href = base.href(&format!(
            "/api/alerts/{what}/{}",
            crate::pages::encode(&name)
        ));
        leptos::task::spawn_local(async move {
            match send_json::<serde_json::Value>("DELETE", &href, None).await {
                Ok(Ok(_)) => {
                    if let Some(r) = reload {
                        r.0.update(|n| *n += 1);
                    }
                }
                Ok(Err(e)) => failed.set(Some(e.error)),
                Err(e) => failed.set(Some(e)),
            }
        });
    };
    view! {
        <button class="action danger" on:click=click>"Delete"</button>
        {move || failed.get().map(|f| view! { <span class="outcome error">{f}</span> })}
    }
}

fn text(v: &str) -> Option<String> {
    Some(v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Adds a rule, or replaces the one being edited.
#[component]
fn RuleForm() -> impl IntoView {
    let base = use_base();
    let reload = use_context::<Reload>();
    let editing = use_context::<Editing>().unwrap_or(Editing(RwSignal::new(None)));
    let fields: [(&'static str, RwSignal<String>); 14] = [
        ("name", RwSignal::new(String::new())),
        ("kind", RwSignal::new("worker_offline".to_string())),
        ("severity", RwSignal::new("warning".to_string())),
        ("for", RwSignal::new(String::new())),
        ("worker", RwSignal::new(String::new())),
        ("queue", RwSignal::new(String::new())),
        ("task", RwSignal::new(String::new())),
        ("after", RwSignal::new(String::new())),
        ("depth", RwSignal::new(String::new())),
        ("during", RwSignal::new(String::new())),
        ("p95", RwSignal::new(String::new())),
        ("window", RwSignal::new(String::new())),
        ("percent", RwSignal::new(String::new())),
        ("period", RwSignal::new(String::new())),
    ];
    let min_count = RwSignal::new(String::new());
    let get = move |k: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, s)| s.get_untracked())
            .unwrap_or_default()
    };
    Effect::new(move |_| {
        if let Some(spec) = editing.0.get() {
            let set = |k: &str, v: Option<String>| {
                if let Some((_, s)) = fields.iter().find(|(n, _)| *n == k) {
                    s.set(v.unwrap_or_default());
                }
            };
            set("name", Some(spec.name.clone()));
            set("kind", Some(spec.kind.as_str().into()));
            set("severity", Some(spec.severity.as_str().into()));
            set("for", spec.hold.clone());
            set("worker", spec.worker.clone());
            set("queue", spec.queue.clone());
            set("task", spec.task.clone());
            set("after", spec.after.clone());
            set("depth", spec.depth.map(|d| d.to_string()));
            set("during", spec.during.clone());
            set("p95", spec.p95.clone());
            set("window", spec.window.clone());
            set("percent", spec.percent.map(|p| p.to_string()));
            set("period", spec.period.clone());
            min_count.set(spec.min_count.map(|m| m.to_string()).unwrap_or_default());
        }
    });
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let kind = RuleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == get("kind"))
            .unwrap_or(RuleKind::WorkerOffline);
        let severity = match get("severity").as_str() {
            "info" => Severity::Info,
            "critical" => Severity::Critical,
            _ => Severity::Warning,
        };
        let number = |k: &str| -> Result<Option<u64>, String> {
            text(&get(k))
                .map(|v| v.parse::<u64>().map_err(|_| format!("{k}: a whole number")))
                .transpose()
        };
        let spec = (|| -> Result<RuleSpec, String> {
            Ok(RuleSpec {
                name: get("name").trim().to_string(),
                kind,
                hold: text(&get("for")),
                severity,
                worker: text(&get("worker")),
                queue: text(&get("queue")),
                task: text(&get("task")),
                after: text(&get("after")),
                depth: number("depth")?,
                during: text(&get("during")),
                p95: text(&get("p95")),
                window: text(&get("window")),
                percent: text(&get("percent"))
                    .map(|v| {
                        v.parse::<f64>()
                            .map_err(|_| "percent: a number".to_string())
                    })
                    .transpose()?,
                min_count: text(&min_count.get_untracked())
                    .map(|v| {
                        v.parse::<u64>()
                            .map_err(|_| "min_count: a whole number".to_string())
                    })
                    .transpose()?,
                period: text(&get("period")),
            })
        })();
        let spec = match spec {
            Ok(s) => s,
            Err(e) => return outcome.set(Some(Err(e))),
        };
        let (method, href) = match editing.0.get_untracked() {
            Some(old) => (
                "PUT",
                base.href(&format!(
                    "/api/alerts/rules/{}",
                    crate::pages::encode(&old.name)
                )),
            ),
            None => ("POST", base.href("/api/alerts/rules")),
        };
        let body = serde_json::to_string(&spec).unwrap_or_default();
        leptos::task::spawn_local(async move {
            let answer = send_json::<RuleSpec>(method, &href, Some(body)).await;
            outcome.set(Some(match answer {
                Ok(Ok(s)) => {
                    editing.0.set(None);
                    if let Some(r) = reload {
                        r.0.update(|n| *n += 1);
                    }
                    Ok(format!("Rule {:?} saved.", s.name))
                }
                Ok(Err(e)) => Err(e.error),
                Err(e) => Err(e),
            }));
        });
    };
    let input = move |k: &'static str, hint: &'static str| {
        let s = fields.iter().find(|(n, _)| *n == k).map(|(_, s)| *s);
        s.map(|s| {
            view! {
                <label>
                    {k} " "
                    <input name=k placeholder=hint prop:value=move || s.get()
                        on:input=move |ev| s.set(event_target_value(&ev))/>
                </label>
            }
        })
    };
    let kind = fields[1].1;
    let severity = fields[2].1;
    view! {
        <form class="alert-form" data-testid="rule-form" on:submit=submit>
            <h3>{move || match editing.0.get() {
                Some(r) => format!("Edit rule {:?}", r.name),
                None => "Add a rule".to_string(),
            }}</h3>
            {input("name", "worker down")}
            <label>
                "kind "
                <select name="kind" prop:value=move || kind.get()
                    on:change=move |ev| kind.set(event_target_value(&ev))>
                    {RuleKind::ALL.map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>
                "severity "
                <select name="severity" prop:value=move || severity.get()
                    on:change=move |ev| severity.set(event_target_value(&ev))>
                    <option value="info">"info"</option>
                    <option value="warning">"warning"</option>
                    <option value="critical">"critical"</option>
                </select>
            </label>
            {input("for", "30s")}
            {input("worker", "celery@web-*")}
            {input("queue", "celery")}
            {input("task", "tasks.*")}
            {input("after", "60s")}
            {input("depth", "100")}
            {input("during", "5m")}
            {input("p95", "30s")}
            {input("window", "10m")}
            {input("percent", "20")}
            <label>
                "min_count "
                <input name="min_count" placeholder="5" prop:value=move || min_count.get()
                    on:input=move |ev| min_count.set(event_target_value(&ev))/>
            </label>
            {input("period", "1h")}
            <button class="action" type="submit">"Save rule"</button>
            {move || outcome.get().map(|o| match o {
                Ok(m) => view! { <span class="outcome ok">{m}</span> }.into_any(),
                Err(e) => view! { <span class="outcome error" role="alert">{e}</span> }.into_any(),
            })}
        </form>
    }
}

#[component]
fn WebhookTable(
    hooks: Vec<WebhookEntry>,
    stats: crate::wire::notify::NotifyStats,
    admin: bool,
) -> impl IntoView {
    if hooks.is_empty() {
        return view! { <p class="empty" data-testid="alerts-webhooks">"No webhook."</p> }
            .into_any();
    }
    let editing = use_context::<EditingHook>();
    let rows = hooks
        .into_iter()
        .map(|h| {
            let source = match &h.source {
                Source::File { path } => format!("file {path}"),
                Source::Page => "page".to_string(),
            };
            let format = match h.format {
                WebhookFormat::Generic => "generic",
                WebhookFormat::Slack => "slack",
            };
            let page = h.source == Source::Page;
            let delivery = stats
                .webhooks
                .iter()
                .find(|w| w.name == h.name)
                .map(|w| {
                    let mut t = format!(
                        "{} delivered, {} failed attempts, {} given up, {} pending",
                        w.delivered, w.failed_attempts, w.given_up, w.pending
                    );
                    if let Some(e) = &w.last_error {
                        t.push_str(&format!("; last error: {e}"));
                    }
                    t
                })
                .unwrap_or_default();
            let entry = h.clone();
            let actions = admin.then(|| {
                let name = h.name.clone();
                view! {
                    <TestButton name=name.clone()/>
                    {page.then(|| view! {
                        <button class="action" on:click=move |_| {
                            if let Some(e) = editing {
                                e.0.set(Some(entry.clone()));
                            }
                        }>"Edit"</button>
                        <DeleteButton what="webhooks" name=name.clone()/>
                    })}
                }
                .into_any()
            });
            view! {
                <tr data-webhook=h.name.clone()>
                    <td>{h.name.clone()}</td>
                    <td>{h.url.clone()}</td>
                    <td>{format}</td>
                    <td>{if h.has_secret { "set" } else { "none" }}</td>
                    <td>{delivery}</td>
                    <td>{source}</td>
                    <td>{actions}</td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <table class="grid alerts" data-testid="alerts-webhooks">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"URL"</th>
                    <th>"Format"</th>
                    <th>"Secret"</th>
                    <th>"Deliveries"</th>
                    <th>"Source"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// Each webhook's last test answer, kept above the table (which a refresh
/// renders anew).
#[derive(Clone, Copy)]
struct TestOutcomes(RwSignal<std::collections::BTreeMap<String, Result<String, String>>>);

/// Sends a test notice now and shows what the receiver answered.
#[component]
fn TestButton(name: String) -> impl IntoView {
    let base = use_base();
    let outcomes =
        use_context::<TestOutcomes>().unwrap_or(TestOutcomes(RwSignal::new(Default::default())));
    let key = name.clone();
    let set = move |o: Result<String, String>| {
        let key = key.clone();
        outcomes.0.update(|m| {
            m.insert(key, o);
        });
    };
    let shown_key = name.clone();
    let outcome = Signal::derive(move || outcomes.0.with(|m| m.get(&shown_key).cloned()));
    let href = base.href(&format!(
        "/api/alerts/webhooks/{}/test",
        crate::pages::encode(&name)
    ));
    let click = move |_| {
        let href = href.clone();
        let set = set.clone();
        set(Ok("sending…".into()));
        leptos::task::spawn_local(async move {
            let answer = send_json::<WebhookTest>("POST", &href, None).await;
            set(match answer {
                Ok(Ok(t)) => {
                    let status = t.status.map(|s| format!("HTTP {s}")).unwrap_or_default();
                    match t.delivered {
                        true => Ok(format!("delivered: {status} {}", t.detail)),
                        false => Err(format!("not delivered: {status} {}", t.detail)),
                    }
                }
                Ok(Err(e)) => Err(e.error),
                Err(e) => Err(e),
            });
        });
    };
    view! {
        <button class="action" on:click=click>"Test"</button>
        {move || outcome.get().map(|o| match o {
            Ok(m) => view! { <span class="outcome ok" data-testid="webhook-test">{m}</span> }.into_any(),
            Err(e) => view! { <span class="outcome error" data-testid="webhook-test">{e}</span> }.into_any(),
        })}
    }
}

/// Adds a webhook, or replaces the one being edited (an empty secret
/// keeps the one it has).
#[component]
fn WebhookForm() -> impl IntoView {
    let base = use_base();
    let reload = use_context::<Reload>();
    let editing = use_context::<EditingHook>().unwrap_or(EditingHook(RwSignal::new(None)));
    let name = RwSignal::new(String::new());
    let url = RwSignal::new(String::new());
    let format = RwSignal::new("generic".to_string());
    let secret = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(h) = editing.0.get() {
            name.set(h.name.clone());
            url.set(h.url.clone());
            format.set(match h.format {
                WebhookFormat::Generic => "generic".into(),
                WebhookFormat::Slack => "slack".into(),
            });
            secret.set(String::new());
        }
    });
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let spec = WebhookSpec {
            name: name.get_untracked().trim().to_string(),
            url: url.get_untracked().trim().to_string(),
            format: match format.get_untracked().as_str() {
                "slack" => WebhookFormat::Slack,
                _ => WebhookFormat::Generic,
            },
            secret: text(&secret.get_untracked()),
            secret_env: None,
        };
        let (method, href) = match editing.0.get_untracked() {
            Some(old) => (
                "PUT",
                base.href(&format!(
                    "/api/alerts/webhooks/{}",
                    crate::pages::encode(&old.name)
                )),
            ),
            None => ("POST", base.href("/api/alerts/webhooks")),
        };
        let body = serde_json::to_string(&spec).unwrap_or_default();
        secret.set(String::new());
        leptos::task::spawn_local(async move {
            let answer = send_json::<WebhookEntry>(method, &href, Some(body)).await;
            outcome.set(Some(match answer {
                Ok(Ok(w)) => {
                    editing.0.set(None);
                    if let Some(r) = reload {
                        r.0.update(|n| *n += 1);
                    }
                    Ok(format!("Webhook {:?} saved.", w.name))
                }
                Ok(Err(e)) => Err(e.error),
                Err(e) => Err(e),
            }));
        });
    };
    view! {
        <form class="alert-form" data-testid="webhook-form" on:submit=submit>
            <h3>{move || match editing.0.get() {
                Some(h) => format!("Edit webhook {:?}", h.name),
                None => "Add a webhook".to_string(),
            }}</h3>
            <label>"name " <input name="webhook-name" prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))/></label>
            <label>"url " <input name="webhook-url" placeholder="https://hooks.example.com/…"
                prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/></label>
            <label>
                "format "
                <select name="webhook-format" prop:value=move || format.get()
                    on:change=move |ev| format.set(event_target_value(&ev))>
                    <option value="generic">"generic JSON"</option>
                    <option value="slack">"Slack"</option>
                </select>
            </label>
            <label>"secret " <input name="webhook-secret" type="password" autocomplete="off"
                placeholder="write-only" prop:value=move || secret.get()
                on:input=move |ev| secret.set(event_target_value(&ev))/></label>
            <button class="action" type="submit">"Save webhook"</button>
            {move || outcome.get().map(|o| match o {
                Ok(m) => view! { <span class="outcome ok">{m}</span> }.into_any(),
                Err(e) => view! { <span class="outcome error" role="alert">{e}</span> }.into_any(),
            })}
        </form>
    }
}
