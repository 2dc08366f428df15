//! Where celadon is served from: `--url-prefix`, read as Flower reads it.
//! Every URL the UI writes (links, the bundle, the stylesheet, API calls,
//! the snapshot fetch, the websocket) and the router's base are built from
//! one [`Base`]. The server provides it as context while it renders and
//! writes it into the page (`<meta name="celadon-base">`, see
//! [`crate::shell`]); the browser reads it back from there when it
//! hydrates, so the two always agree.

use std::sync::{Mutex, PoisonError};

use leptos::prelude::*;

/// The name of the `<meta>` element that carries the base to the browser.
pub const META_NAME: &str = "celadon-base";

/// The path every URL of celadon starts with: `""` when served at the
/// root, else `/` and the prefix, with no slash after (`/flower`). `Copy`,
/// so that every closure of a view can build its links from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Base(&'static str);

impl Base {
    /// Reads `--url-prefix` as Flower does: slashes around it are dropped,
    /// so `flower`, `/flower` and `/flower/` all serve under `/flower/`,
    /// and an empty or all-slash prefix serves at the root. Refused: what
    /// would not stay one plain path in a URL and a route (characters other
    /// than letters, digits, `-._~` and `/`, or an empty segment).
    pub fn parse(prefix: &str) -> Result<Base, String> {
        let inner = prefix.trim_matches('/');
        if inner.is_empty() {
            return Ok(Base::default());
        }
        if let Some(c) = inner
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~/".contains(*c)))
        {
            return Err(format!(
                "{c:?} may not be in a URL prefix (letters, digits, '-', '.', '_', '~' and '/' may)"
            ));
        }
        if inner
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!("{prefix:?} has an empty, '.' or '..' segment"));
        }
        Ok(Base(intern(format!("/{inner}"))))
    }

    /// `""` or `/prefix`.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// `path`, written from celadon's root (`/tasks?state=FAILURE`), under
    /// the prefix (`/flower/tasks?state=FAILURE`).
    pub fn href(self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The part of a request's `path` below the prefix, if it is under it:
    /// `/flower/ws` gives `/ws`, `/flower` gives `""`, `/flowers` nothing.
    pub fn strip(self, path: &str) -> Option<&str> {
        let rest = path.strip_prefix(self.0)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

/// The one copy of `prefix` for the life of the process. A process serves
/// under one prefix (a test process under a few), so each distinct one is
/// kept once and never freed, and a [`Base`] is a plain reference.
fn intern(prefix: String) -> &'static str {
    static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = interned.iter().find(|known| **known == prefix) {
        return known;
    }
    let kept: &'static str = Box::leak(prefix.into_boxed_str());
    interned.push(kept);
    kept
}

/// Makes the base this page is served under available to every component:
/// during server rendering, the one the server provided; in the browser,
/// the one the server wrote into the page.
pub fn provide_base() -> Base {
    #[cfg(not(feature = "hydrate"))]
    let base = use_base();
    #[cfg(feature = "hydrate")]
    let base = from_document();
    provide_context(base);
    base
}

/// The base provided by [`provide_base`] (or, on the server, by the
/// server's context).
#[expect(
    clippy::expect_used,
    reason = "the server provides it to every render, and App in the browser"
)]
pub fn use_base() -> Base {
    use_context::<Base>().expect("the base is provided by the server and by App")
}

/// The base the server wrote into the page; the root if there is none (a
/// page from a server that predates the prefix).
#[cfg(feature = "hydrate")]
fn from_document() -> Base {
    document()
        .query_selector(&format!("meta[name=\"{META_NAME}\"]"))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"))
        .and_then(|content| Base::parse(&content).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_read_as_flower_reads_it_with_or_without_slashes() {
        for given in ["flower", "/flower", "flower/", "/flower/", "//flower//"] {
            assert_eq!(Base::parse(given).unwrap().as_str(), "/flower", "{given}");
        }
        assert_eq!(Base::parse("a/b").unwrap().as_str(), "/a/b");
        for root in ["", "/", "//"] {
            assert_eq!(Base::parse(root).unwrap(), Base::default(), "{root:?}");
        }
        assert_eq!(Base::default().href("/tasks"), "/tasks");
        let base = Base::parse("flower").unwrap();
        assert_eq!(base.href("/tasks?state=X"), "/flower/tasks?state=X");
        assert_eq!(base.href("/"), "/flower/");
    }

    #[test]
    fn a_prefix_that_would_not_stay_a_plain_path_is_refused() {
        for bad in ["{x}", "a b", "a//b", "a/../b", "f?x", "f#x", "*all", "é"] {
            assert!(Base::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_paths_under_the_prefix_are_stripped() {
        let base = Base::parse("flower").unwrap();
        assert_eq!(base.strip("/flower/ws"), Some("/ws"));
        assert_eq!(base.strip("/flower/"), Some("/"));
        assert_eq!(base.strip("/flower"), Some(""));
        assert_eq!(base.strip("/flowers/ws"), None);
        assert_eq!(base.strip("/ws"), None);
        assert_eq!(Base::default().strip("/ws"), Some("/ws"));
    }
}
