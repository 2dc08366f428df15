//! Requests from the browser: control, a same-origin `POST` to celadon's
//! REST API, and the snapshot fetch that stands in for the websocket
//! (`live::poll`), each answer decoded into the wire type the endpoint
//! sends (`app::wire::control`, `app::wire::Snapshot`), or into the API's
//! error shape. Only the browser sends them (from event handlers and
//! timers); on the server there is nothing to send.

use crate::wire::rest::ErrorAnswer;

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

#[cfg(feature = "hydrate")]
async fn send<T: serde::de::DeserializeOwned>(
    method: &str,
    url: &str,
    timeout: Option<std::time::Duration>,
) -> Result<Answer<T>, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
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
    decode(response.ok(), response.status(), &text)
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
}
