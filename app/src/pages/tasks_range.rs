//! The Tasks page's time range (Live, the last hour, day or week, or a
//! custom span of history) and its download links. Both are links under
//! the base: picking a range changes the URL, and a download is a plain
//! `<a download>` to the read API's export of the page's query.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, hooks::use_navigate};

use super::tasks_url::{DOWNLOADS, Range, Recent, TasksUrl, Window, download_href};
use crate::base::{Base, use_base};

#[component]
pub fn RangePicker(url: Memo<TasksUrl>) -> impl IntoView {
    let base = use_base();
    let choices = move || {
        let u = url.get();
        let custom = match u.range {
            custom @ Range::Custom { .. } => custom,
            _ => Range::Custom {
                since: None,
                until: None,
            },
        };
        let mut out = vec![choice(base, &u, Range::Live, "live", "Live")];
        for r in Recent::ALL {
            out.push(choice(base, &u, Range::Recent(r), r.key(), r.label()));
        }
        out.push(choice(base, &u, custom, "custom", "Custom"));
        out
    };
    let is_custom = move || matches!(url.with(|u| u.range), Range::Custom { .. });
    view! {
        <div class="range">
            <nav class="pills" data-testid="range" aria-label="Time range">{choices}</nav>
            <Show when=is_custom>
                <CustomRange url/>
            </Show>
        </div>
    }
}

/// A link to the page with `range` (from its first page).
fn choice(
    base: Base,
    u: &TasksUrl,
    range: Range,
    key: &'static str,
    label: &'static str,
) -> AnyView {
    let selected = u.range == range;
    let to = u.in_range(range);
    view! {
        <a class="pill" class:selected=selected data-range=key href=base.href(&to.href())>
            {label}
        </a>
    }
    .into_any()
}

#[component]
fn CustomRange(url: Memo<TasksUrl>) -> impl IntoView {
    let navigate = use_navigate();
    let bounds = move || match url.with(|u| u.range) {
        Range::Custom { since, until } => (since, until),
        _ => (None, None),
    };
    let set = move |is_since: bool, value: String| {
        let at = clock::seconds_of_local(&value);
        let (mut since, mut until) = bounds();
        if is_since {
            since = at;
        } else {
            until = at;
        }
        let to = url.get_untracked().in_range(Range::Custom { since, until });
        navigate(
            &to.href(),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };
    let set_until = set.clone();
    view! {
        <div class="custom-range">
            <label>
                "From "
                <input
                    type="datetime-local"
                    data-testid="range-since"
                    prop:value=move || bounds().0.map(clock::local_text).unwrap_or_default()
                    on:change=move |ev| set(true, event_target_value(&ev))
                />
            </label>
            <label>
                " to "
                <input
                    type="datetime-local"
                    data-testid="range-until"
                    prop:value=move || bounds().1.map(clock::local_text).unwrap_or_default()
                    on:change=move |ev| set_until(false, event_target_value(&ev))
                />
            </label>
            <span class="subtle">" by each task's last change, in your time zone; empty for no bound"</span>
        </div>
    }
}

/// Links that download every task the page's query matches, as CSV and
/// NDJSON: `window` is `Some(None)` for Live, `Some(Some(w))` for history
/// over `w`, and `None` while that is not known yet (a history page before
/// the browser has read its clock).
#[component]
pub fn Downloads(url: Memo<TasksUrl>, window: Signal<Option<Option<Window>>>) -> impl IntoView {
    let base = use_base();
    move || {
        let window = window.get()?;
        let q = url.with(|u| u.query.clone());
        let links = DOWNLOADS
            .iter()
            .map(|(format, label)| {
                let href = base.href(&download_href(&q, window, format));
                view! {
                    <a class="download" href=href download="" data-download=*format>{*label}</a>
                }
            })
            .collect_view();
        Some(view! { <span class="downloads">{links}</span> })
    }
}

/// Local time for the custom range's inputs: the browser's time zone. The
/// server renders no input values (they are properties), so it needs none.
mod clock {
    /// `datetime-local`'s text (`2026-01-02T15:04`) for unix seconds.
    #[cfg(feature = "hydrate")]
    pub fn local_text(at: i64) -> String {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64 * 1000.0));
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes()
        )
    }

    /// Unix seconds of a `datetime-local` text, read in local time (as
    /// JavaScript reads a date and time without a zone); `None` if empty
    /// or not a time.
    #[cfg(feature = "hydrate")]
    pub fn seconds_of_local(text: &str) -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        let ms = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(text)).get_time();
        ms.is_finite().then(|| (ms / 1000.0).floor() as i64)
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn local_text(_at: i64) -> String {
        String::new()
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn seconds_of_local(_text: &str) -> Option<i64> {
        None
    }
}
