//! The Audit page's URL (its filters and page) and the API URLs built from
//! it: a page of `/api/audit` and the downloads (pure).

use leptos_router::params::ParamsMap;

use super::tasks_url::encode;

/// Entries per page.
pub const AUDIT_PAGE: usize = 50;

/// The filters as the page's URL holds them, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilters {
    pub who: String,
    pub action: String,
    pub task: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` input), read as UTC.
    pub since: String,
    pub until: String,
    pub offset: usize,
}

impl AuditFilters {
    pub fn from_params(p: &ParamsMap) -> AuditFilters {
        let text = |k: &str| p.get(k).unwrap_or_default().trim().to_string();
        AuditFilters {
            who: text("who"),
            action: text("action"),
            task: text("task"),
            since: text("since"),
            until: text("until"),
            offset: p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0),
        }
    }

    /// The filters as `/api/audit`'s parameters (times as unix seconds).
    fn api_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (k, v) in [
            ("who", &self.who),
            ("action", &self.action),
            ("task", &self.task),
        ] {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        for (k, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(secs) = utc_seconds(v) {
                out.push((k, secs.to_string()));
            }
        }
        out
    }

    /// This page of `/api/audit` (relative to the base).
    pub fn api_href(&self) -> String {
        let mut params = self.api_params();
        params.push(("limit", AUDIT_PAGE.to_string()));
        params.push(("offset", self.offset.to_string()));
        href("/api/audit", &params)
    }

    /// Every matching entry as `format` (`csv` or `ndjson`).
    pub fn download_href(&self, format: &str) -> String {
        let mut params = self.api_params();
        params.push(("format", format.to_string()));
        href("/api/audit", &params)
    }

    /// The page's own URL at `offset` (relative to the base).
    pub fn page_href(&self, offset: usize) -> String {
        let mut params: Vec<(&str, String)> = [
            ("who", &self.who),
            ("action", &self.action),
            ("task", &self.task),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect();
        if offset > 0 {
            params.push(("offset", offset.to_string()));
        }
        href("/audit", &params)
    }
}

fn href(path: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// `YYYY-MM-DDTHH:MM[:SS]` as UTC unix seconds; `None` if it is not that.
pub fn utc_seconds(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next()??);
    let s = t.next().flatten().unwrap_or(0);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_times_are_read_as_utc_seconds() {
        assert_eq!(utc_seconds("1970-01-01T00:00"), Some(0));
        assert_eq!(utc_seconds("2024-02-29T12:30"), Some(1_709_209_800));
        assert_eq!(utc_seconds("2024-02-29T12:30:15"), Some(1_709_209_815));
        assert_eq!(utc_seconds("yesterday"), None);
        assert_eq!(utc_seconds("2024-13-01T00:00"), None);
    }

    #[test]
    fn the_filters_become_the_apis_parameters() {
        let f = AuditFilters {
            who: "ann@example.com".into(),
            action: "task".into(),
            since: "1970-01-01T00:01".into(),
            offset: 50,
            ..AuditFilters::default()
        };
        assert_eq!(
            f.api_href(),
            "/api/audit?who=ann%40example.com&action=task&since=60&limit=50&offset=50"
        );
        assert_eq!(
            f.download_href("csv"),
            "/api/audit?who=ann%40example.com&action=task&since=60&format=csv"
        );
        assert_eq!(
            f.page_href(0),
            "/audit?who=ann%40example.com&action=task&since=1970-01-01T00%3A01"
        );
        assert_eq!(AuditFilters::default().page_href(0), "/audit");
    }
}
