//! Times as the browser's clock and time zone show them, or relative
//! ("3 min ago", Flower's natural_time) when the user toggles it. The
//! server renders UTC; once hydrated, the browser switches to its own zone,
//! so the first render matches on both sides.

use leptos::prelude::*;

use crate::live::use_live;

/// A civil UTC date and time from Unix seconds (Howard Hinnant's
/// days-from-civil inverse). Pure, so server and browser agree.
fn utc_parts(t: f64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    (year, month, day, h as u32, m as u32, s as u32)
}

/// Hours, minutes and seconds of `t`: in the browser's time zone when
/// `local` (only once hydrated, so the server's render matches), else UTC.
pub fn time_of_day(t: f64, local: bool) -> (u32, u32, u32) {
    #[cfg(feature = "hydrate")]
    if local {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(t * 1000.0));
        return (d.get_hours(), d.get_minutes(), d.get_seconds());
    }
    let _ = local;
    let (_, _, _, h, m, s) = utc_parts(t);
    (h, m, s)
}

/// `2026-11-21 15:04:05 UTC`.
pub fn format_utc(t: f64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `2026-11-21 16:04:05` in the browser's time zone.
#[cfg(feature = "hydrate")]
fn format_local(t: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(t * 1000.0));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

#[cfg(not(feature = "hydrate"))]
fn format_local(t: f64) -> String {
    format_utc(t)
}

/// `12 s ago`, `3 min ago`, `in 2 h`.
pub fn format_relative(t: f64, now: f64) -> String {
    let delta = now - t;
    let a = delta.abs();
    let span = if a < 1.0 {
        return "now".into();
    } else if a < 60.0 {
        format!("{} s", a as u64)
    } else if a < 3600.0 {
        format!("{} min", (a / 60.0) as u64)
    } else if a < 86_400.0 {
        format!("{} h", (a / 3600.0) as u64)
    } else {
        format!("{} d", (a / 86_400.0) as u64)
    };
    if delta >= 0.0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// Seconds as a duration: `0.012 s`, `3.4 s`, `2 min 5 s`.
pub fn format_duration(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.3} s")
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{} min {} s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{} h {} min",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

/// A point in time; empty when unknown.
#[component]
pub fn Time(#[prop(into)] at: Signal<Option<f64>>) -> impl IntoView {
    let live = use_live();
    let text = move || {
        let t = at.get()?;
        Some(match live.now.get() {
            None => format_utc(t),
            Some(now) if live.relative.get() => format_relative(t, now),
            Some(_) => format_local(t),
        })
    };
    let title = move || at.get().map(format_utc);
    view! { <time title=title>{text}</time> }
}

/// Switches every time on the page between clock times and relative ones.
#[component]
pub fn TimeToggle() -> impl IntoView {
    let live = use_live();
    let label = move || {
        if live.relative.get() {
            "relative times"
        } else {
            "clock times"
        }
    };
    view! {
        <button
            class="time-toggle"
            data-testid="time-toggle"
            title="Show times as clock times or as time ago"
            on:click=move |_| live.set_relative(!live.relative.get_untracked())
        >
            {label}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(format_utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_000_000.5), "2026-11-18 11:06:40 UTC");
        assert_eq!(format_utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(format_relative(100.0, 100.2), "now");
        assert_eq!(format_relative(100.0, 112.0), "12 s ago");
        assert_eq!(format_relative(100.0, 400.0), "5 min ago");
        assert_eq!(format_relative(8000.0, 800.0), "in 2 h");
    }
}
