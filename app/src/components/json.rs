//! A worker's inspection reply, shown as nested key/value tables. Replies
//! come from workers: every value is shown as text.

use leptos::prelude::*;
use serde_json::Value;

/// Scalars as text; strings without their quotes.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

#[component]
pub fn JsonView(value: Value) -> AnyView {
    match value {
        Value::Object(map) if map.is_empty() => {
            view! { <span class="muted">"(none)"</span> }.into_any()
        }
        Value::Object(map) => view! {
            <table class="kv">
                <tbody>
                    {map
                        .into_iter()
                        .map(|(k, v)| {
                            view! {
                                <tr>
                                    <th>{k}</th>
                                    <td>
                                        <JsonView value=v/>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
        Value::Array(items) if items.is_empty() => {
            view! { <span class="muted">"(none)"</span> }.into_any()
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let text = items.iter().map(scalar_text).collect::<Vec<_>>().join(", ");
            view! { <span class="mono">{text}</span> }.into_any()
        }
        Value::Array(items) => view! {
            <ol class="json-list">
                {items
                    .into_iter()
                    .map(|v| view! { <li><JsonView value=v/></li> })
                    .collect_view()}
            </ol>
        }
        .into_any(),
        other => view! { <span class="mono">{scalar_text(&other)}</span> }.into_any(),
    }
}
