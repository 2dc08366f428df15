//! The Audit page (`/audit`): the audit trail, newest first, filtered by
//! person, action, task and time, a page at a time, with CSV and NDJSON
//! downloads. The server renders it empty; the browser fetches
//! `/api/audit` (admins only: the server refuses anyone else). Every
//! value, parameters and answers included, is shown as text.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::audit_url::{AUDIT_PAGE, AuditFilters};
use crate::base::use_base;
use crate::components::format_utc;
use crate::live::http::get;
use crate::wire::audit::{AuditEntry, AuditPage as Page};

/// A page not answered by then is given up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq)]
enum Listing {
    Loading,
    Entries(Page),
    Failed(String),
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let base = use_base();
    // No view of its own: following the Workers view (the smallest) keeps
    // the websocket, the indicator and the alerts banner live here too.
    crate::live::use_live().show(crate::wire::View::Workers);
    let params = use_query_map();
    let filters = Memo::new(move |_| params.with(AuditFilters::from_params));
    let listing = RwSignal::new(Listing::Loading);
    Effect::new(move |_| {
        let href = base.href(&filters.get().api_href());
        listing.set(Listing::Loading);
        leptos::task::spawn_local(async move {
            let answer = get::<Page>(&href, FETCH_TIMEOUT).await;
            let _ = listing.try_set(match answer {
                Ok(Ok(page)) => Listing::Entries(page),
                Ok(Err(refused)) => Listing::Failed(refused.error),
                Err(e) => Listing::Failed(e),
            });
        });
    });
    view! {
        <h1>"Audit"</h1>
        <FilterForm filters/>
        <div class="toolbar">
            <a download href=move || base.href(&filters.get().download_href("csv"))>
                "CSV"
            </a>
            <a download href=move || base.href(&filters.get().download_href("ndjson"))>
                "NDJSON"
            </a>
            <Pager filters listing/>
        </div>
        <AuditBody listing/>
    }
}

/// The filters, as a plain GET form to this page.
#[component]
fn FilterForm(filters: Memo<AuditFilters>) -> impl IntoView {
    let base = use_base();
    let f = move || filters.get();
    view! {
        <form class="audit-filters" method="get" action=base.href("/audit")>
            <label>"Person " <input name="who" value=move || f().who/></label>
            <label>
                "Action " <input name="action" placeholder="task.revoke" value=move || f().action/>
            </label>
            <label>"Task " <input name="task" value=move || f().task/></label>
            <label>
                "Since (UTC) " <input type="datetime-local" name="since" value=move || f().since/>
            </label>
            <label>
                "Until (UTC) " <input type="datetime-local" name="until" value=move || f().until/>
            </label>
            <button class="action" type="submit">"Filter"</button>
        </form>
    }
}

#[component]
fn Pager(filters: Memo<AuditFilters>, listing: RwSignal<Listing>) -> impl IntoView {
    let base = use_base();
    let shown = move || {
        listing.with(|l| match l {
            Listing::Entries(p) => Some(p.entries.len()),
            _ => None,
        })
    };
    let newer = move || {
        let f = filters.get();
        (f.offset > 0).then(|| base.href(&f.page_href(f.offset.saturating_sub(AUDIT_PAGE))))
    };
    let older = move || {
        let f = filters.get();
        (shown()? >= AUDIT_PAGE).then(|| base.href(&f.page_href(f.offset + AUDIT_PAGE)))
    };
    let summary = move || match shown() {
        None | Some(0) => String::new(),
        Some(n) => {
            let from = filters.get().offset + 1;
            format!("entries {from}–{}", from + n - 1)
        }
    };
    view! {
        <div class="pager">
            <span data-testid="audit-count">{summary}</span>
            {move || newer().map(|h| view! { <a href=h>"‹ newer"</a> })}
            {move || older().map(|h| view! { <a href=h>"older ›"</a> })}
        </div>
    }
}

#[component]
fn AuditBody(listing: RwSignal<Listing>) -> impl IntoView {
    move || match listing.get() {
        Listing::Loading => view! { <p class="loading">"Loading the audit trail…"</p> }.into_any(),
        Listing::Failed(why) => {
            view! { <p class="outcome error" role="alert">{why}</p> }.into_any()
        }
        Listing::Entries(page) => {
            let note = (!page.persisted).then(|| {
                view! {
                    <p class="note" data-testid="audit-not-persisted">
                        "The audit trail is not persisted (no history store): only the newest \
                         entries since celadon started are kept, and each is in celadon's log."
                    </p>
                }
            });
            let table = match page.entries.is_empty() {
                true => view! { <p class="empty">"No entry matches."</p> }.into_any(),
                false => view! { <AuditTable entries=page.entries/> }.into_any(),
            };
            view! { {note} {table} }.into_any()
        }
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    let rows = entries
        .into_iter()
        .map(|e| view! { <AuditRow e/> })
        .collect_view();
    view! {
        <table class="grid audit" data-testid="audit-table">
            <thead>
                <tr>
                    <th>"Time"</th>
                    <th>"Who"</th>
                    <th>"Role"</th>
                    <th>"Client"</th>
                    <th>"Action"</th>
                    <th>"Target"</th>
                    <th>"Parameters"</th>
                    <th>"Outcome"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn AuditRow(e: AuditEntry) -> impl IntoView {
    let result_class = match e.result.as_str() {
        "ok" => "badge ok",
        "refused" => "badge refused",
        _ => "badge failed",
    };
    view! {
        <tr data-seq=e.seq.to_string()>
            <td title=format!("entry {}", e.seq)>{format_utc(e.at as f64 / 1000.0)}</td>
            <td>{e.who}</td>
            <td>{e.role.map_or("", |r| r.as_str())}</td>
            <td>{e.client}</td>
            <td><code>{e.action}</code></td>
            <td><code>{e.target.unwrap_or_default()}</code></td>
            <td><pre class="params">{e.params}</pre></td>
            <td>
                <span class=result_class>{e.result}</span>
                " " {e.status.to_string()}
                <details>
                    <summary>"answer"</summary>
                    <pre>{e.detail}</pre>
                </details>
            </td>
        </tr>
    }
}
