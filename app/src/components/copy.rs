//! A button that copies a text (an id, a traceback) to the clipboard.

use leptos::prelude::*;

#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text.get_untracked());
            copied.set(true);
            set_timeout(
                move || copied.set(false),
                std::time::Duration::from_millis(1200),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (text, copied);
    };
    view! {
        <button class="copy" title="Copy to the clipboard" on:click=on_click>
            {move || if copied.get() { "copied" } else { "copy" }}
        </button>
    }
}
