//! Control requests from the browser: a same-origin `POST` to celadon's
//! REST API, answered with JSON. Only the browser sends them (from event
//! handlers); on the server there is nothing to send.

/// What a control endpoint answered: its JSON, and whether the status was
/// a success.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub ok: bool,
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    /// The answer's `message`, or its `error`, as text.
    pub fn text(&self) -> String {
        let field = if self.ok { "message" } else { "error" };
        self.body[field]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }
}

#[cfg(feature = "hydrate")]
pub async fn post(url: &str) -> Result<Answer, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
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
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Ok(Answer {
        ok: response.ok(),
        status: response.status(),
        body,
    })
}

#[cfg(not(feature = "hydrate"))]
pub async fn post(_url: &str) -> Result<Answer, String> {
    Err("control requests are sent from the browser".into())
}
