//! A browser over plain HTTP, enough for a sign-on: a cookie jar (by name
//! and path, as a browser keeps cookies for 127.0.0.1 whatever the port)
//! and requests that do not follow redirects, so that a test takes each
//! hop of the code flow itself and checks where it is sent.

use std::collections::BTreeMap;

use reqwest::{Method, Response, StatusCode, Url, header};

/// One answer, read in full.
#[derive(Debug)]
pub struct Answer {
    pub url: Url,
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// Where a redirect sends the browser, resolved against the request.
    pub fn location(&self) -> Url {
        let to = self
            .headers
            .get(header::LOCATION)
            .unwrap_or_else(|| panic!("{} {} is no redirect: {}", self.status, self.url, self.body))
            .to_str()
            .expect("an ASCII Location");
        self.url.join(to).expect("a Location URL")
    }

    /// The `Set-Cookie` header that sets (or removes) `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.split('=').next() == Some(name))
            .map(str::to_string)
    }

    /// The `content` of `<meta name="{name}">`, unescaped.
    pub fn meta(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag = &self.body[tag_start..tag_start + self.body[tag_start..].find('>')?];
        let content = tag.split("content=\"").nth(1)?.split('"').next()?;
        Some(unescape(content))
    }

    /// The first `<form>`'s action and its inputs' names and values (with
    /// `fill` for the inputs it names).
    pub fn form(&self, fill: &[(&str, &str)]) -> (Url, Vec<(String, String)>) {
        let form = self
            .body
            .split("<form")
            .nth(1)
            .unwrap_or_else(|| panic!("no form at {}: {}", self.url, self.body));
        let form = form.split("</form>").next().unwrap_or(form);
        let attr = |tag: &str, name: &str| {
            tag.split(&format!(" {name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(unescape)
        };
        let action = attr(form, "action").expect("a form action");
        let fields = form
            .split("<input")
            .skip(1)
            .filter_map(|input| {
                let name = attr(input, "name")?;
                let given = fill
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string());
                Some((
                    name,
                    given.or_else(|| attr(input, "value")).unwrap_or_default(),
                ))
            })
            .collect();
        (self.url.join(&action).expect("a form action URL"), fields)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub struct Browser {
    http: reqwest::Client,
    /// `(path, name)` → value.
    jar: BTreeMap<(String, String), String>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            jar: BTreeMap::new(),
        }
    }

    /// The value of cookie `name` (at any path).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|((_, n), _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        self.send(Method::GET, url, &[], None).await
    }

    /// POSTs `form`, urlencoded.
    pub async fn post_form(&mut self, url: &Url, form: &[(String, String)]) -> Answer {
        let mut body = Url::parse("http://form/").expect("a URL");
        body.query_pairs_mut().extend_pairs(form);
        let body = body.query().unwrap_or("").to_string();
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(Method::POST, url.as_str(), &headers, Some(body))
            .await
    }

    /// A request with this browser's cookies and `headers`; what it sets
    /// goes into the jar.
    pub async fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let mut request = self.http.request(method.clone(), url.clone());
        let cookies = self.cookies_for(url.path());
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        self.keep(&url, &response);
        Answer {
            url,
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a body"),
        }
    }

    fn cookies_for(&self, path: &str) -> String {
        self.jar
            .iter()
            .filter(|((at, _), _)| path_matches(path, at))
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what `response` sets: a cookie with `Max-Age=0` or an expiry
    /// in the past is removed.
    fn keep(&mut self, url: &Url, response: &Response) {
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("an ASCII Set-Cookie");
            let mut parts = set.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = default_path(url.path());
            let mut removed = false;
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" if val.starts_with('/') => path = val.to_string(),
                    "max-age" => removed |= val.parse::<i64>().is_ok_and(|s| s <= 0),
                    "expires" => removed |= val.contains("1970"),
                    _ => {}
                }
            }
            let key = (path, name.to_string());
            if removed {
                self.jar.remove(&key);
            } else {
                self.jar.insert(key, value.to_string());
            }
        }
    }
}

/// RFC 6265's default path: the request's path up to its last `/`.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265's path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}
