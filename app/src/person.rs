//! The person a page is for ([`Person`]): the server finds them for each
//! request and writes them into the page (`<meta name="celadon-person">`),
//! so the browser's first render offers the same actions as the server's.
//! Components ask [`use_person`] whether to show an action; the server
//! checks every request regardless.

use leptos::prelude::*;

use crate::wire::session::Person;

/// The name of the `<meta>` element that carries the person to the
/// browser, as JSON.
pub const META_NAME: &str = "celadon-person";

/// Makes the person available to every component: during server
/// rendering, the one the server provided; in the browser, the one the
/// server wrote into the page.
pub fn provide_person() {
    #[cfg(not(feature = "hydrate"))]
    let person = use_context::<Person>().unwrap_or_default();
    #[cfg(feature = "hydrate")]
    let person = from_document().unwrap_or_default();
    provide_context(person);
}

/// The person provided by [`provide_person`]; nobody if there is none.
pub fn use_person() -> Person {
    use_context::<Person>().unwrap_or_default()
}

/// The page's person as JSON, for the `<meta>` element.
pub fn to_meta(person: &Person) -> String {
    serde_json::to_string(person).unwrap_or_default()
}

/// The person the server wrote into the page.
#[cfg(feature = "hydrate")]
pub fn from_document() -> Option<Person> {
    let content = document()
        .query_selector(&format!("meta[name=\"{META_NAME}\"]"))
        .ok()
        .flatten()?
        .get_attribute("content")?;
    serde_json::from_str(&content).ok()
}
