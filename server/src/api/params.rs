//! A request's parameters, read as Flower reads them (tornado's
//! `get_argument`): the query string's, then the body's — a form, or a JSON
//! object with or without a JSON content type (`curl -d '{...}'` sends a
//! form type, `requests.post(data=json.dumps(...))` none) — a later value
//! winning. A JSON body is also kept whole, as its text, for the endpoints
//! that take one (sending a task, whose arguments are sent byte for byte).
//! Read strictly: a malformed value is a 400 that names it, never a silent
//! default; the messages are Flower's. Bodies are limited to
//! `limits::MAX_BODY`.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde_json::value::RawValue;

use super::error::ApiError;

#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    /// The body, when it was a JSON object.
    json: Option<Box<RawValue>>,
}

impl Params {
    /// A query string's parameters; invalid percent-escapes become U+FFFD,
    /// which then fails the parameter's own check.
    pub fn parse(raw: Option<&str>) -> Params {
        let mut params = Params::default();
        params.add_form(raw.unwrap_or("").as_bytes());
        params
    }

    fn add_form(&mut self, form: &[u8]) {
        for (k, v) in url::form_urlencoded::parse(form) {
            self.values.insert(k.into_owned(), v.into_owned());
        }
    }

    /// A JSON object's members as parameters: strings as they are, other
    /// values as their JSON text (`true`, `2`, `[1, 2]`); `null` as absent.
    fn add_json(&mut self, body: Box<RawValue>) -> Result<(), ApiError> {
        let members: HashMap<String, &RawValue> = serde_json::from_str(body.get())
            .map_err(|_| ApiError::Invalid("the JSON body must be an object".into()))?;
        for (k, v) in members {
            let text = v.get();
            if text == "null" {
                continue;
            }
            let value = match serde_json::from_str::<String>(text) {
                Ok(s) => s,
                Err(_) => text.to_string(),
            };
            self.values.insert(k, value);
        }
        self.json = Some(body);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The body, if it was a JSON object, as its text.
    pub fn json_body(&self) -> Option<&RawValue> {
        self.json.as_deref()
    }

    /// A value that must be given and not empty (Flower's `required=True`).
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::Invalid(format!("Missing argument {name}")))
    }

    /// A number, if given (Flower's `type=int`).
    pub fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| invalid(v, "int")),
        }
    }

    /// A finite number, if given (Flower's `type=float`).
    pub fn float(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| invalid(v, "float")),
        }
    }

    /// A non-negative integer, if given.
    pub fn number(&self, name: &'static str) -> Result<Option<usize>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => {
                v.trim().parse::<usize>().map(Some).map_err(|_| {
                    ApiError::bad(name, format!("{v:?} is not a non-negative integer"))
                })
            }
        }
    }

    /// A boolean in `strtobool`'s spellings (`true/false`, `1/0`, `yes/no`,
    /// `t/f`, `y/n`, `on/off`, any case); absent or empty is false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(|v| v.trim().to_lowercase()).as_deref() {
            None | Some("") => Ok(false),
            Some("1" | "true" | "yes" | "t" | "y" | "on") => Ok(true),
            Some("0" | "false" | "no" | "f" | "n" | "off") => Ok(false),
            Some(_) => Err(invalid(self.get(name).unwrap_or_default(), "bool")),
        }
    }
}

/// Flower's message for a value of the wrong type.
fn invalid(value: &str, kind: &str) -> ApiError {
    ApiError::Invalid(format!("Invalid argument '{value}' of type '{kind}'"))
}

/// Whether the body is JSON by its looks: an object.
fn looks_like_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut params = Params::parse(req.uri().query());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body =
            Bytes::from_request(req, state)
                .await
                .map_err(|rejection| ApiError::Rejected {
                    status: rejection.status(),
                    why: format!("body: {}", rejection.body_text()),
                })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        if content_type.starts_with("multipart/") {
            return Err(ApiError::Rejected {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                why: "send the parameters as a form (application/x-www-form-urlencoded) or as \
                      JSON, not as multipart"
                    .into(),
            });
        }
        let json_type =
            content_type.starts_with("application/json") || content_type.contains("+json");
        if json_type || looks_like_json(&body) {
            let raw: Box<RawValue> = serde_json::from_slice(&body)
                .map_err(|e| ApiError::Invalid(format!("the body is not valid JSON: {e}")))?;
            params.add_json(raw)?;
        } else {
            params.add_form(&body);
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};

    use super::*;

    async fn read(query: &str, content_type: Option<&str>, body: &str) -> Result<Params, ApiError> {
        let mut request = Request::post(format!("/x?{query}"));
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        Params::from_request(request.body(Body::from(body.to_string())).unwrap(), &()).await
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    /// Flower's README: `curl -X POST -d 'terminate=True' …/revoke/<id>`.
    #[tokio::test]
    async fn a_form_body_counts_as_parameters_and_wins_over_the_query() {
        let p = read("terminate=false&signal=SIGKILL", FORM, "terminate=True")
            .await
            .unwrap();
        assert!(p.flag("terminate").unwrap());
        assert_eq!(p.get("signal"), Some("SIGKILL"));
        assert!(p.json_body().is_none());
    }

    #[tokio::test]
    async fn a_json_body_counts_with_or_without_a_json_type() {
        let body = r#"{"terminate": true, "n": 2, "queue": "q", "args": [1, 2], "x": null}"#;
        for content_type in [Some("application/json"), FORM, None, Some("text/plain")] {
            let p = read("", content_type, body).await.unwrap();
            assert!(p.flag("terminate").unwrap(), "{content_type:?}");
            assert_eq!(p.int::<u32>("n").unwrap(), Some(2));
            assert_eq!(p.get("queue"), Some("q"));
            assert_eq!(p.get("args"), Some("[1, 2]"));
            assert_eq!(p.get("x"), None);
            assert_eq!(p.json_body().map(RawValue::get), Some(body));
        }
    }

    #[tokio::test]
    async fn bad_bodies_and_values_are_refused_as_flower_words_it() {
        let e = read("", Some("application/json"), "[1]").await.unwrap_err();
        assert_eq!(e.to_string(), "the JSON body must be an object");
        let e = read("", None, "{oops").await.unwrap_err();
        assert!(
            e.to_string().starts_with("the body is not valid JSON"),
            "{e}"
        );
        let e = read("", Some("multipart/form-data; boundary=x"), "--x")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ApiError::Rejected { status, .. } if status == StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        let p = read("n=two&t=maybe&s=NaN", None, "").await.unwrap();
        assert_eq!(
            p.int::<u32>("n").unwrap_err().to_string(),
            "Invalid argument 'two' of type 'int'"
        );
        assert_eq!(
            p.flag("t").unwrap_err().to_string(),
            "Invalid argument 'maybe' of type 'bool'"
        );
        assert_eq!(
            p.float("s").unwrap_err().to_string(),
            "Invalid argument 'NaN' of type 'float'"
        );
        assert_eq!(
            p.required("queue").unwrap_err().to_string(),
            "Missing argument queue"
        );
        let seconds = |q: &str| Params::parse(Some(q)).float("timeout");
        assert_eq!(seconds("timeout=2.5").unwrap(), Some(2.5));
        assert_eq!(seconds("timeout=").unwrap(), None);
        for bad in ["timeout=inf", "timeout=-infinity", "timeout=soon"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
