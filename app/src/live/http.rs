//! Requests from the browser: control, a same-origin `POST` to celadon's
//! REST API, the snapshot fetch that stands in for the websocket
//! (`live::poll`), and the Tasks page's listing from history, each answer
//! decoded into the wire type the endpoint sends (`app::wire::control`,
//! `app::wire::Snapshot`, `app::wire::rest::TaskListing`), or into the
//! API's error shape. Only the browser sends them (from event handlers,
//! effects and timers); on the server there is nothing to send.

use crate::wire::rest::{ErrorAnswer, HistoryCoverage, Task, TaskListing};

/// What an endpoint answered: its success, or the API's error.
pub type Answer<T> = Result<T, ErrorAnswer>;

/// Decodes an answer: `body` as `T` when the status was a success, else as
/// the error shape (or, if it is not one, the status alone). `Err` when a
/// success does not decode: the server and this bundle disagree.
pub fn decode<T: serde::de::DeserializeOwned>(
    ok: bool,
    status: u16,
    body: &str,
) -> Result<Answer<T>, String> {
    if ok {
        return serde_json::from_str(body)
            .map(Ok)
            .map_err(|e| format!("celadon's answer could not be read: {e}"));
    }
    Ok(Err(serde_json::from_str(body).unwrap_or_else(|_| {
        ErrorAnswer {
            error: format!("HTTP {status}"),
            replies: Default::default(),
        }
    })))
}

/// A page of `/api/tasks` (JSON): its tasks in the server's order, and
/// how much of history its search looked at, when the server said.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub tasks: Vec<Task>,
    pub coverage: Option<HistoryCoverage>,
}

/// Decodes a listing's answer: the body as for [`decode`], the header's
/// value (if any) as a [`HistoryCoverage`].
pub fn decode_listing(
    ok: bool,
    status: u16,
    body: &str,
    history: Option<&str>,
) -> Result<Answer<Listed>, String> {
    Ok(
        decode::<TaskListing>(ok, status, body)?.map(|listing| Listed {
            tasks: listing.0,
            coverage: history.and_then(HistoryCoverage::parse),
        }),
    )
}

/// POSTs to `url`; `Err` when celadon could not be reached or its answer
/// could not be read.
#[cfg(feature = "hydrate")]
pub async fn post<T: serde::de::DeserializeOwned>(url: &str) -> Result<Answer<T>, String> {
    send("POST", url, None).await
}

#[cfg(not(feature = "hydrate"))]
pub async fn post<T: serde::de::DeserializeOwned>(_url: &str) -> Result<Answer<T>, String> {
    Err("control requests are sent from the browser".into())
}

/// GETs `url`, giving up after `timeout`; `Err` as for [`post`].
#[cfg(feature = "hydrate")]
pub async fn get<T: serde::de::DeserializeOwned>(
    url: &str,
    timeout: std::time::Duration,
) -> Result<Answer<T>, String> {
    send("GET", url, Some(timeout)).await
}

/// GETs a listing of tasks from `url` (`/api/tasks?…`), giving up after
/// `timeout`; `Err` as for [`post`].
#[cfg(feature = "hydrate")]
pub async fn list_tasks(url: &str, timeout: std::time::Duration) -> Result<Answer<Listed>, String> {
    let (response, text) = fetch("GET", url, Some(timeout), None).await?;
    let history = response
        .headers()
        .get(crate::wire::rest::HISTORY_HEADER)
        .ok()
        .flatten();
    decode_listing(response.ok(), response.status(), &text, history.as_deref())
}

#[cfg(not(feature = "hydrate"))]
pub async fn list_tasks(
    _url: &str,
    _timeout: std::time::Duration,
) -> Result<Answer<Listed>, String> {
    Err("listings are fetched by the browser".into())
}

#[cfg(not(feature = "hydrate"))]
pub async fn get<T: serde::de::DeserializeOwned>(
    _url: &str,
    _timeout: std::time::Duration,
) -> Result<Answer<T>, String> {
    Err("requests are sent from the browser".into())
}

#[cfg(feature = "hydrate")]
async fn send<T: serde::de::DeserializeOwned>(
    method: &str,
    url: &str,
    timeout: Option<std::time::Duration>,
) -> Result<Answer<T>, String> {
    let (response, text) = fetch(method, url, timeout, None).await?;
    decode(response.ok(), response.status(), &text)
}

/// Sends a request, with `json` as its body when given, and reads its
/// whole answer as text.
#[cfg(feature = "hydrate")]
async fn fetch(
    method: &str,
    url: &str,
    timeout: Option<std::time::Duration>,
    json: Option<&str>,
) -> Result<(web_sys::Response, String), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new().map_err(|_| "could not build headers")?;
    // A signed-on browser proves each change comes from celadon's own page.
    if method != "GET"
        && let Some(token) = crate::person::from_document().and_then(|p| p.csrf)
    {
        headers
            .set("X-CSRF-Token", &token)
            .map_err(|_| "could not set the CSRF header")?;
    }
    if let Some(body) = json {
        headers
            .set("Content-Type", "application/json")
            .map_err(|_| "could not set the content type")?;
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
    }
    init.set_headers(&headers);
    if let Some(timeout) = timeout {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let signal = web_sys::AbortSignal::timeout_with_u32(ms);
        init.set_signal(Some(&signal));
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|_| format!("could not build a request to {url}"))?;
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "celadon did not answer: is it running?".to_string())?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| "not an HTTP response".to_string())?;
    let text = JsFuture::from(response.text().map_err(|_| "no body".to_string())?)
        .await
        .map_err(|_| "the answer could not be read".to_string())?
        .as_string()
        .unwrap_or_default();
    Ok((response, text))
}

// Alerts (issue 21): the Alerts page's edits send JSON bodies.

/// Sends `body` (JSON) to `url` with `method` (`POST`, `PUT`,
/// `DELETE`); an empty success (204) reads as `null`. `Err` as for
/// [`post`].
#[cfg(feature = "hydrate")]
pub async fn send_json<T: serde::de::DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<String>,
) -> Result<Answer<T>, String> {
    let (response, text) = fetch(method, url, None, body.as_deref()).await?;
    let text = if text.is_empty() {
        "null".to_string()
    } else {
        text
    };
    decode(response.ok(), response.status(), &text)
}

#[cfg(not(feature = "hydrate"))]
pub async fn send_json<T: serde::de::DeserializeOwned>(
    _method: &str,
    _url: &str,
    _body: Option<String>,
) -> Result<Answer<T>, String> {
    Err("requests are sent from the browser".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::{CommandAnswer, WorkerReply};

    #[test]
    fn a_success_decodes_as_its_type_and_an_error_as_the_error_shape() {
        let ok = r#"{"message":"Revoked 'x'","delivered":1,"replies":{"w@h":{"ok":"revoked"}},"no_reply":[]}"#;
        let answer = decode::<CommandAnswer>(true, 200, ok).unwrap().unwrap();
        assert_eq!(answer.replies["w@h"], WorkerReply::Ok("revoked".into()));
        let refused = decode::<CommandAnswer>(false, 404, r#"{"error":"Unknown worker 'w'"}"#);
        assert_eq!(refused.unwrap().unwrap_err().error, "Unknown worker 'w'");
        let bare = decode::<CommandAnswer>(false, 502, "<html>bad gateway</html>");
        assert_eq!(bare.unwrap().unwrap_err().error, "HTTP 502");
        assert!(
            decode::<CommandAnswer>(true, 200, r#"{"msg":"?"}"#).is_err(),
            "a success in another shape is an error, not a blank"
        );
    }

    #[test]
    fn a_listing_decodes_in_order_with_what_its_header_says() {
        let task = |id: &str| {
            serde_json::json!({"uuid": id, "name": "t.echo", "state": "SUCCESS",
                "received": null, "sent": null, "started": null, "rejected": null,
                "succeeded": null, "failed": null, "retried": null, "revoked": null,
                "args": "('order-1',)", "kwargs": "{}", "eta": null, "expires": null,
                "retries": 0, "worker": "w@h", "result": null, "exception": null,
                "timestamp": 2.0, "runtime": 0.1, "traceback": null, "exchange": null,
                "routing_key": null, "clock": 3, "client": null, "root": null,
                "root_id": null, "parent": null, "parent_id": null, "children": [],
                "queue": null, "terminated": null, "signum": null, "expired": null,
                "retry_of": null, "retried_as": []})
        };
        let body = format!(r#"{{"b":{},"a":{}}}"#, task("b"), task("a"));
        let listed = decode_listing(true, 200, &body, Some("words"))
            .unwrap()
            .unwrap();
        let ids: Vec<&str> = listed.tasks.iter().map(|t| t.uuid.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(listed.tasks[0].args.as_deref(), Some("('order-1',)"));
        assert_eq!(listed.coverage, Some(HistoryCoverage::Words));
        let bare = decode_listing(true, 200, "{}", None).unwrap().unwrap();
        assert_eq!((bare.tasks.len(), bare.coverage), (0, None));
        let refused = decode_listing(false, 400, r#"{"error":"search: unclosed quote"}"#, None);
        assert_eq!(
            refused.unwrap().unwrap_err().error,
            "search: unclosed quote"
        );
    }
}
