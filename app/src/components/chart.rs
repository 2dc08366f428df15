//! Charts drawn as SVG by Leptos itself: a line chart over time and a bar
//! chart. The paths are derived signals, so new data moves the lines in
//! place without rebuilding the page; colors come from CSS classes, so both
//! themes apply. Hovering a line chart shows every series' value at that
//! time.

use leptos::prelude::*;

use super::{format_duration, time_of_day};
use crate::live::use_live;

/// One line: a name for the legend, a CSS class for its color, and one
/// value per time step.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub class: &'static str,
    pub values: Vec<f64>,
}

const W: f64 = 640.0;
const H: f64 = 200.0;
/// Room for the axes' labels.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;
const RIGHT: f64 = 8.0;

/// A "nice" upper bound and tick step for values up to `max`.
pub fn nice_scale(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.5);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

/// A number for an axis or a tooltip: short, no needless decimals.
pub fn short_number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v.abs() >= 10.0 || (v.fract()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Clock time of `t` as HH:MM or HH:MM:SS, for an axis: in the browser's
/// zone when `local`, else UTC.
fn clock_label(t: f64, with_seconds: bool, local: bool) -> String {
    let (h, m, s) = time_of_day(t, local);
    if with_seconds {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// The SVG path of `values`; a NaN (no value in that bucket) breaks the
/// line.
fn path(values: &[f64], top: f64) -> String {
    let n = values.len().max(2) - 1;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / n as f64;
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v / top).clamp(0.0, 1.0));
    let mut out = Vec::with_capacity(values.len());
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        if v.is_nan() {
            pen_down = false;
            continue;
        }
        let op = if pen_down { "L" } else { "M" };
        out.push(format!("{op}{:.1},{:.1}", x(i), y(*v)));
        pen_down = true;
    }
    out.join(" ")
}

/// A line chart of `lines` over time: step `i` starts at `start + i * step`
/// seconds. `unit` labels the y axis.
#[component]
pub fn LineChart(
    #[prop(into)] lines: Signal<Vec<Line>>,
    #[prop(into)] start: Signal<f64>,
    #[prop(into)] step: Signal<f64>,
    unit: &'static str,
    /// Names the chart for tests.
    testid: &'static str,
) -> impl IntoView {
    let hover: RwSignal<Option<usize>> = RwSignal::new(None);
    // UTC until the browser's clock runs (as the server rendered), then local.
    let live = use_live();
    let local = Memo::new(move |_| live.now.with(Option::is_some));
    let len =
        Memo::new(move |_| lines.with(|l| l.iter().map(|l| l.values.len()).max().unwrap_or(0)));
    let scale = Memo::new(move |_| {
        let max = lines.with(|l| {
            l.iter()
                .flat_map(|l| l.values.iter().copied())
                .fold(0.0, f64::max)
        });
        nice_scale(max)
    });
    // Grid lines are drawn in the SVG, which stretches to the box; labels
    // are HTML placed by percentage, so text is never stretched with it.
    let pct = |v: f64, of: f64| format!("{:.2}%", 100.0 * v / of);
    let y_ticks = move || {
        let (top, tick) = scale.get();
        let mut lines = Vec::new();
        let mut labels = Vec::new();
        let mut v = 0.0;
        while v <= top + tick * 0.01 {
            let y = TOP + (H - TOP - BOTTOM) * (1.0 - v / top);
            lines.push(view! { <line x1=LEFT x2=W - RIGHT y1=y y2=y class="grid-line"/> });
            let style = format!("top: {}; width: {}", pct(y, H), pct(LEFT - 6.0, W));
            labels.push(view! { <span class="ylab" style=style>{short_number(v)}</span> });
            v += tick;
        }
        (lines, labels)
    };
    let x_ticks = move || {
        let n = len.get();
        if n < 2 {
            return Vec::new();
        }
        let (s, st) = (start.get(), step.get());
        let with_seconds = st < 60.0;
        (0..5)
            .map(|k| {
                let i = (n - 1) * k / 4;
                let x = LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64;
                let shift = match k {
                    0 => "0%",
                    4 => "-100%",
                    _ => "-50%",
                };
                let style = format!("left: {}; transform: translateX({shift})", pct(x, W));
                view! {
                    <span class="xlab" style=style>{clock_label(s + st * i as f64, with_seconds, local.get())}</span>
                }
            })
            .collect::<Vec<_>>()
    };
    let paths = move || {
        let (top, _) = scale.get();
        lines.with(|ls| {
            ls.iter()
                .map(|l| {
                    let d = path(&l.values, top);
                    let class = format!("series {}", l.class);
                    view! { <path d=d class=class fill="none"/> }
                })
                .collect::<Vec<_>>()
        })
    };
    let cursor = move || {
        hover.get().and_then(|i| {
            let n = len.get();
            (n >= 2 && i < n).then(|| {
                let x = LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64;
                view! { <line class="cursor" x1=x x2=x y1=TOP y2=H - BOTTOM/> }
            })
        })
    };
    let tooltip = move || {
        hover.get().and_then(|i| {
            let at = start.get() + step.get() * i as f64;
            let rows = lines.with(|ls| {
                ls.iter()
                    .map(|l| {
                        let v = l.values.get(i).copied().unwrap_or(f64::NAN);
                        let text = if v.is_nan() { "–".to_string() } else { short_number(v) };
                        let class = format!("swatch {}", l.class);
                        view! {
                            <li><span class=class></span>{l.name.clone()} ": " {text} " " {unit}</li>
                        }
                    })
                    .collect::<Vec<_>>()
            });
            (i < len.get()).then(|| {
                view! {
                    <div class="chart-tip" data-testid="chart-tip">
                        <b>
                            {clock_label(at, step.get() < 60.0, local.get())}
                            {if local.get() { "" } else { " UTC" }}
                        </b>
                        <ul class="plain">{rows}</ul>
                    </div>
                }
            })
        })
    };
    let on_move = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let n = len.get_untracked();
            let width = ev
                .current_target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .map(|e| f64::from(e.client_width()))
                .unwrap_or(W);
            let x = f64::from(ev.offset_x()) * W / width.max(1.0);
            if n >= 2 {
                let i = ((x - LEFT) / (W - LEFT - RIGHT) * (n - 1) as f64).round();
                hover.set(Some(i.clamp(0.0, (n - 1) as f64) as usize));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let legend = move || {
        lines.with(|ls| {
            ls.iter()
                .map(|l| {
                    let total: f64 = l.values.iter().filter(|v| v.is_finite()).sum();
                    let class = format!("swatch {}", l.class);
                    view! {
                        <li data-series=l.name.clone() data-total=total.to_string()>
                            <span class=class></span>{l.name.clone()}
                        </li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let grid = move || y_ticks().0;
    let y_labels = move || y_ticks().1;
    view! {
        <figure class="chart" data-testid=testid>
            <ul class="legend plain">
                <li class="unit">{unit}</li>
                {legend}
            </ul>
            <div class="chart-box">
                <svg
                    viewBox=format!("0 0 {W} {H}")
                    preserveAspectRatio="none"
                    role="img"
                    on:mousemove=on_move
                    on:mouseleave=move |_| hover.set(None)
                >
                    <g class="axis">{grid}</g>
                    {paths}
                    {cursor}
                </svg>
                <div class="labels">{y_labels}{x_ticks}</div>
                {tooltip}
            </div>
        </figure>
    }
}

/// One bar group: a label and its values, drawn against the same scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Bars {
    pub label: String,
    pub values: Vec<(&'static str, f64)>,
}

/// Horizontal bars, one group per row (e.g. p50/p95/p99 per task type),
/// with each value written next to its bar; `seconds` formats values as
/// durations.
#[component]
pub fn BarChart(
    #[prop(into)] groups: Signal<Vec<Bars>>,
    seconds: bool,
    testid: &'static str,
) -> impl IntoView {
    let max = Memo::new(move |_| {
        groups.with(|g| {
            g.iter()
                .flat_map(|b| b.values.iter().map(|(_, v)| *v))
                .fold(0.0, f64::max)
        })
    });
    let text = move |v: f64| {
        if seconds {
            format_duration(v)
        } else {
            short_number(v)
        }
    };
    view! {
        <div class="bars" data-testid=testid>
            {move || {
                groups
                    .get()
                    .into_iter()
                    .map(|g| {
                        let bars = g
                            .values
                            .iter()
                            .map(|(class, v)| {
                                let width = if max.get() > 0.0 { 100.0 * v / max.get() } else { 0.0 };
                                let style = format!("width: {width:.1}%");
                                let class = format!("bar {class}");
                                view! {
                                    <div class="bar-row">
                                        <span class=class style=style></span>
                                        <span class="bar-value">{text(*v)}</span>
                                    </div>
                                }
                            })
                            .collect::<Vec<_>>();
                        view! {
                            <div class="bar-group">
                                <div class="bar-label mono">{g.label.clone()}</div>
                                <div class="bar-stack">{bars}</div>
                            </div>
                        }
                    })
                    .collect::<Vec<_>>()
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_end_on_a_round_number_above_the_data() {
        assert_eq!(nice_scale(0.0), (1.0, 0.5));
        assert_eq!(nice_scale(7.0), (8.0, 2.0));
        assert_eq!(nice_scale(95.0), (100.0, 25.0));
        assert_eq!(nice_scale(1234.0), (1500.0, 500.0));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(short_number(12.4), "12");
        assert_eq!(short_number(2500.0), "2.5k");
    }
}
