//! Query-string parameters, read strictly: a malformed one is a 400 that
//! names it, never a silent default.

use std::collections::HashMap;

use super::error::ApiError;

pub struct Params(HashMap<String, String>);

impl Params {
    /// Reads a raw query string; invalid percent-escapes become U+FFFD,
    /// which then fails the parameter's own check.
    pub fn parse(raw: Option<&str>) -> Params {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            map.insert(k.into_owned(), v.into_owned());
        }
        Params(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
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

    /// A flag: `1`, `true`, `yes` or `on` (any case) is true; `0`, `false`,
    /// `no`, `off` or empty is false.
    pub fn flag(&self, name: &'static str) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_lowercase).as_deref() {
            None | Some("" | "0" | "false" | "no" | "off") => Ok(false),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some(v) => Err(ApiError::bad(name, format!("{v:?} is not true or false"))),
        }
    }
}
