//! `/api/openapi.json`: the OpenAPI 3 document of the whole API, kept by
//! hand in `openapi.json` beside this file and served with its `servers`
//! naming `--url-prefix`. It is part of the API, so the guard's rules
//! apply to it as to any `/api` path. A test holds it to the router: a
//! route added to `api/mod.rs` without a path in the document fails it.
//!
//! Hand-written rather than derived: the API reads its parameters as
//! Flower does (`params::Params`, from the query, a form or JSON), so no
//! derive would see them, and the document is reviewed as the contract
//! it is. `scripts/schemathesis` checks it against the live server.

use app::base::Base;
use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};

/// The document as written, with `"servers": [{"url": "/"}]`.
const DOCUMENT: &str = include_str!("openapi.json");

/// The document for a server at `base`: its `servers` names the prefix, so
/// that clients (and schemathesis) reach the paths under it.
pub fn document(base: Base) -> Bytes {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        // The tests parse it; this is only a guard against a bad edit.
        tracing::warn!("openapi.json does not parse; serving it as written");
        return Bytes::from_static(DOCUMENT.as_bytes());
    };
    let url = match base.as_str() {
        "" => "/",
        prefix => prefix,
    };
    doc["servers"] = serde_json::json!([{ "url": url }]);
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_else(|_| DOCUMENT.as_bytes().to_vec()))
}

/// The answer: `document`, as JSON.
pub fn answer(document: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn parsed(base: Base) -> Value {
        serde_json::from_slice(&document(base)).unwrap()
    }

    /// Every path the router serves under `/api` (and the two open text
    /// ones), read from the router's own source.
    fn routed() -> BTreeSet<String> {
        let source = include_str!("mod.rs");
        source
            .split("at(\"")
            .skip(1)
            .filter_map(|rest| rest.split_once('"').map(|(path, _)| path.to_string()))
            .filter(|p| p.starts_with("/api/") || p == "/healthcheck" || p == "/metrics")
            .collect()
    }

    #[test]
    fn the_document_is_openapi_3_and_names_the_prefix_it_is_served_under() {
        let doc = parsed(Base::default());
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["servers"][0]["url"], "/");
        let doc = parsed(Base::parse("/flower").unwrap());
        assert_eq!(doc["servers"][0]["url"], "/flower");
    }

    #[test]
    fn every_api_route_the_router_has_is_documented_and_nothing_else() {
        let doc = parsed(Base::default());
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let routed = routed();
        assert!(
            routed.len() > 25,
            "the router's routes were not found: {routed:?}"
        );
        assert!(routed.contains("/api/openapi.json"));
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes without documentation: {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "documented paths the router lacks: {unrouted:?}"
        );
    }

    /// Every `$ref` names something the document defines, and every path
    /// parameter in a path is declared.
    #[test]
    fn every_reference_resolves_and_every_path_parameter_is_declared() {
        let doc = parsed(Base::default());
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            let named: BTreeSet<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}').map(|(n, _)| n))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(declared, named, "{method} {path}");
                assert!(op["responses"]["200"].is_object(), "{method} {path}");
            }
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
