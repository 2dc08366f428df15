//! The Tasks page's URL, which is the page's whole state: the query (search,
//! state, worker, name, sort, page), the columns, and the time range: Live
//! (the tasks in memory, kept current) or a span of history. Also the API
//! URLs the page builds from it: a page of history, and the downloads.
//! Pure: no clock is read here, `now` is a parameter.

use leptos_router::params::ParamsMap;

use crate::wire::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, TasksQuery};

/// A time range that ends now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recent {
    Hour,
    Day,
    Week,
}

impl Recent {
    pub const ALL: [Recent; 3] = [Recent::Hour, Recent::Day, Recent::Week];

    /// Its spelling in the URL (`range=1h`).
    pub fn key(self) -> &'static str {
        match self {
            Recent::Hour => "1h",
            Recent::Day => "24h",
            Recent::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Recent::Hour => "Last hour",
            Recent::Day => "Last 24 h",
            Recent::Week => "Last 7 days",
        }
    }

    pub fn seconds(self) -> f64 {
        match self {
            Recent::Hour => 3_600.0,
            Recent::Day => 86_400.0,
            Recent::Week => 604_800.0,
        }
    }
}

/// Which tasks the page lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Range {
    /// The tasks in memory, in any order, kept current by the websocket.
    #[default]
    Live,
    /// From history: the tasks whose last change is within the last while.
    Recent(Recent),
    /// From history: the tasks whose last change is in `[since, until]`
    /// (unix seconds; either end open).
    Custom {
        since: Option<i64>,
        until: Option<i64>,
    },
}

/// The bounds a listing asks the API for, unix seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Window {
    pub since: Option<f64>,
    pub until: Option<f64>,
}

impl Range {
    /// `range=1h|24h|7d`, `range=custom`, or `since=…&until=…` (then
    /// custom, whatever `range` says); anything else is Live.
    pub fn from_params(p: &ParamsMap) -> Range {
        let seconds = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
        let (since, until) = (seconds("since"), seconds("until"));
        if since.is_some() || until.is_some() {
            return Range::Custom { since, until };
        }
        match p.get("range").as_deref() {
            Some("custom") => Range::Custom { since, until },
            Some(key) => Recent::ALL
                .into_iter()
                .find(|r| r.key() == key)
                .map_or(Range::Live, Range::Recent),
            None => Range::Live,
        }
    }

    pub fn is_live(self) -> bool {
        self == Range::Live
    }

    /// What the range is at `now`; Live has no bounds.
    pub fn window(self, now: f64) -> Window {
        match self {
            Range::Live => Window::default(),
            Range::Recent(r) => Window {
                since: Some(now - r.seconds()),
                until: None,
            },
            Range::Custom { since, until } => Window {
                since: since.map(|s| s as f64),
                until: until.map(|u| u as f64),
            },
        }
    }

    fn params(self) -> Vec<String> {
        match self {
            Range::Live => Vec::new(),
            Range::Recent(r) => vec![format!("range={}", r.key())],
            Range::Custom {
                since: None,
                until: None,
            } => vec!["range=custom".into()],
            Range::Custom { since, until } => [("since", since), ("until", until)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect(),
        }
    }
}

impl Window {
    fn params(self) -> Vec<String> {
        [("since", self.since), ("until", self.until)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v:.0}")))
            .collect()
    }
}

/// The query a URL's parameters describe. Unknown or malformed numbers fall
/// back to defaults (a page is 1 to [`MAX_PAGE_SIZE`] rows, as the server
/// reads it); a bad
/// search or sort comes back from the server as an error shown next to the
/// search box.
pub fn query_from(p: &ParamsMap) -> TasksQuery {
    let text = |k: &str| p.get(k).filter(|v| !v.is_empty() && v != "All");
    let number = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
    TasksQuery {
        search: p.get("search").unwrap_or_default(),
        state: text("state"),
        worker: text("worker"),
        name: text("name"),
        sort: text("sort").unwrap_or_else(|| TasksQuery::default().sort),
        offset: number("offset").unwrap_or(0),
        limit: number("limit")
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE),
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query's search and filters as URL parameters, the worker and task
/// name filters under the names given: the page's `worker` and `name`, or
/// the API's `workername` and `taskname`.
pub fn filter_params(q: &TasksQuery, worker: &str, name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    if !q.search.is_empty() {
        parts.push(format!("search={}", encode(&q.search)));
    }
    for (k, v) in [("state", &q.state), (worker, &q.worker), (name, &q.name)] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", encode(v)));
        }
    }
    parts
}

/// Everything the Tasks page's URL says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TasksUrl {
    pub query: TasksQuery,
    pub range: Range,
    /// The columns picked, comma-separated; `None` for the server's default.
    pub columns: Option<String>,
}

impl TasksUrl {
    pub fn from_params(p: &ParamsMap) -> TasksUrl {
        TasksUrl {
            query: query_from(p),
            range: Range::from_params(p),
            columns: p.get("columns"),
        }
    }

    /// This URL from the app's root (`/tasks?…`); defaults are left out.
    pub fn href(&self) -> String {
        let q = &self.query;
        let d = TasksQuery::default();
        let mut parts = filter_params(q, "worker", "name");
        if q.sort != d.sort {
            parts.push(format!("sort={}", encode(&q.sort)));
        }
        if q.offset != 0 {
            parts.push(format!("offset={}", q.offset));
        }
        if q.limit != d.limit {
            parts.push(format!("limit={}", q.limit));
        }
        parts.extend(self.range.params());
        if let Some(c) = &self.columns {
            parts.push(format!("columns={}", encode(c)));
        }
        if parts.is_empty() {
            "/tasks".into()
        } else {
            format!("/tasks?{}", parts.join("&"))
        }
    }

    /// The same page with `change` made to its query and the page reset to
    /// the first.
    pub fn with(&self, change: impl FnOnce(&mut TasksQuery)) -> TasksUrl {
        let mut to = self.clone();
        change(&mut to.query);
        to.query.offset = 0;
        to
    }

    /// The same query over `range`, from its first page.
    pub fn in_range(&self, range: Range) -> TasksUrl {
        TasksUrl {
            query: TasksQuery {
                offset: 0,
                ..self.query.clone()
            },
            range,
            columns: self.columns.clone(),
        }
    }
}

/// The API's order for a listing across history: by last change, newest
/// first (the store's order).
pub const HISTORY_SORT: &str = "-timestamp";

/// `/api/tasks?…`: one page of the query's tasks across history, in
/// `window`, newest change first.
pub fn history_page_href(q: &TasksQuery, window: Window) -> String {
    let mut parts = vec![
        format!("limit={}", q.limit),
        format!("offset={}", q.offset),
        format!("sort_by={HISTORY_SORT}"),
    ];
    parts.extend(window.params());
    parts.extend(filter_params(q, "workername", "taskname"));
    format!("/api/tasks?{}", parts.join("&"))
}

/// A download's formats: (`format=`, the link's words).
pub const DOWNLOADS: [(&str, &str); 2] = [("csv", "Download CSV"), ("ndjson", "NDJSON")];

/// `/api/tasks?format=…`: every task the page's query matches, no limit.
/// Over a history `window`, by last change; Live, in the page's order
/// (the API spans history only by last change, so a Live download in
/// another order is what memory holds, as the page shows).
pub fn download_href(q: &TasksQuery, window: Option<Window>, format: &str) -> String {
    let mut parts = vec![format!("format={}", encode(format))];
    match window {
        Some(window) => {
            parts.push(format!("sort_by={HISTORY_SORT}"));
            parts.extend(window.params());
        }
        None => parts.push(format!("sort_by={}", encode(&q.sort))),
    }
    parts.extend(filter_params(q, "workername", "taskname"));
    format!("/api/tasks?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> ParamsMap {
        let mut p = ParamsMap::new();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            p.insert(k.to_string(), v.to_string());
        }
        p
    }

    fn url(query: &str) -> TasksUrl {
        TasksUrl::from_params(&params(query))
    }

    #[test]
    fn the_range_is_read_from_the_url_and_written_back_the_same() {
        assert_eq!(url("").range, Range::Live);
        assert_eq!(url("range=nonsense").range, Range::Live);
        assert_eq!(url("range=24h").range, Range::Recent(Recent::Day));
        assert_eq!(
            url("range=custom").range,
            Range::Custom {
                since: None,
                until: None
            }
        );
        assert_eq!(
            url("range=1h&since=100").range,
            Range::Custom {
                since: Some(100),
                until: None
            },
            "explicit bounds are a custom range"
        );
        for href in [
            "/tasks",
            "/tasks?state=FAILURE&range=1h",
            "/tasks?search=args%3Aorder-1&range=7d",
            "/tasks?offset=25&range=custom",
            "/tasks?since=100&until=200&columns=name%2Cuuid",
            "/tasks?until=200",
        ] {
            let query = href.strip_prefix("/tasks?").unwrap_or("");
            let decoded = query.replace("%3A", ":").replace("%2C", ",");
            assert_eq!(url(&decoded).href(), href, "{href}");
        }
    }

    #[test]
    fn a_recent_range_ends_now_and_a_custom_one_where_it_says() {
        let now = 1_000_000.0;
        assert_eq!(Range::Live.window(now), Window::default());
        assert_eq!(
            Range::Recent(Recent::Hour).window(now),
            Window {
                since: Some(now - 3_600.0),
                until: None
            }
        );
        assert_eq!(
            Range::Custom {
                since: None,
                until: Some(5)
            }
            .window(now),
            Window {
                since: None,
                until: Some(5.0)
            }
        );
    }

    #[test]
    fn a_history_page_asks_the_api_by_last_change_with_the_page_filters() {
        let mut u = url("search=args:order-7&state=SUCCESS&worker=w@h&name=t.echo&offset=30");
        u.query.limit = 15;
        let window = Window {
            since: Some(1_700_000_000.4),
            until: None,
        };
        assert_eq!(
            history_page_href(&u.query, window),
            "/api/tasks?limit=15&offset=30&sort_by=-timestamp&since=1700000000\
             &search=args%3Aorder-7&state=SUCCESS&workername=w%40h&taskname=t.echo"
        );
    }

    #[test]
    fn a_download_is_the_whole_result_of_the_page_query() {
        let u = url("search=x&offset=30&limit=50&sort=runtime");
        assert_eq!(
            download_href(&u.query, None, "csv"),
            "/api/tasks?format=csv&sort_by=runtime&search=x",
            "Live: the page's order, no page"
        );
        let window = Window {
            since: Some(10.0),
            until: Some(20.0),
        };
        assert_eq!(
            download_href(&u.query, Some(window), "ndjson"),
            "/api/tasks?format=ndjson&sort_by=-timestamp&since=10&until=20&search=x"
        );
    }

    #[test]
    fn a_page_is_never_larger_than_the_largest_page() {
        assert_eq!(url("limit=100000").query.limit, MAX_PAGE_SIZE);
        assert_eq!(url("limit=0").query.limit, 1);
        assert_eq!(url("limit=x").query.limit, DEFAULT_PAGE_SIZE);
    }
}
