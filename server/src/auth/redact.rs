//! Redaction of task data for viewers (`--redact`): Flower's `format_task`
//! need (hide passwords and personal data in arguments) without running
//! anyone's code. Each pattern is a regular expression; every match in a
//! task's args, kwargs, result, exception and traceback, and in the task
//! data of workers' inspection replies, is replaced by [`REDACTED`] in
//! whatever a viewer receives (pages, the websocket, the API, exports).
//! Operators and admins see task data whole: they retry and revoke by it.
//! A viewer's search may not look into task data either, or it would tell
//! a redacted value by whether a task is found.

use app::wire::{
    Inspection, ServerMsg, Snapshot, TaskDetail, TaskRow, ViewData, ViewPatch, rest, session::Role,
};
use regex::Regex;

use crate::state::search::{Expr, SearchField};

/// What a match becomes.
pub const REDACTED: &str = "‹redacted›";

/// The most patterns `--redact` takes (each is applied to each text).
pub const MAX_PATTERNS: usize = 32;

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl PartialEq for Redactor {
    fn eq(&self, other: &Redactor) -> bool {
        self.patterns
            .iter()
            .map(Regex::as_str)
            .eq(other.patterns.iter().map(Regex::as_str))
    }
}

impl Redactor {
    pub fn parse(patterns: &[String]) -> Result<Redactor, String> {
        if patterns.len() > MAX_PATTERNS {
            return Err(format!("at most {MAX_PATTERNS} patterns"));
        }
        let patterns = patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                regex::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("{p:?} is not a regular expression: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Redactor { patterns })
    }

    /// The redactor for someone with `role`: only viewers' (and those
    /// with no role's) task data is redacted, and only with patterns.
    pub fn for_role(&self, role: Option<Role>) -> Option<&Redactor> {
        (!self.patterns.is_empty() && role.is_none_or(|r| r < Role::Operator)).then_some(self)
    }

    /// Redacts one text of task data (the queue browser's args, kwargs
    /// and headers).
    pub fn redact(&self, s: &mut String) {
        self.text(s);
    }

    fn text(&self, s: &mut String) {
        for pattern in &self.patterns {
            if pattern.is_match(s) {
                *s = pattern.replace_all(s, REDACTED).into_owned();
            }
        }
    }

    fn opt(&self, s: &mut Option<String>) {
        if let Some(s) = s {
            self.text(s);
        }
    }

    pub fn row(&self, r: &mut TaskRow) {
        for field in [&mut r.args, &mut r.kwargs, &mut r.result, &mut r.exception] {
            self.opt(field);
        }
    }

    pub fn detail(&self, d: &mut TaskDetail) {
        self.row(&mut d.row);
        self.opt(&mut d.traceback);
    }

    pub fn rest_task(&self, t: &mut rest::Task) {
        for field in [
            &mut t.args,
            &mut t.kwargs,
            &mut t.result,
            &mut t.exception,
            &mut t.traceback,
        ] {
            self.opt(field);
        }
    }

    /// Every string in a JSON value (a worker's reply, a task's result).
    pub fn json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.text(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.json(v)),
            _ => {}
        }
    }

    fn inspection(&self, i: &mut Inspection) {
        match serde_json::from_str::<serde_json::Value>(&i.reply) {
            Ok(mut reply) => {
                self.json(&mut reply);
                i.reply = reply.to_string();
            }
            Err(_) => self.text(&mut i.reply),
        }
    }

    fn data(&self, data: &mut ViewData) {
        match data {
            ViewData::Tasks(t) => t.rows.iter_mut().for_each(|r| self.row(r)),
            ViewData::Task { task: Some(t), .. } => self.detail(t),
            ViewData::Worker(w) => w.inspections.iter_mut().for_each(|i| self.inspection(i)),
            _ => {}
        }
    }

    pub fn snapshot(&self, s: &mut Snapshot) {
        self.data(&mut s.data);
    }

    pub fn message(&self, m: &mut ServerMsg) {
        match m {
            ServerMsg::Snapshot { snapshot, .. } => self.snapshot(snapshot),
            ServerMsg::Delta { delta, .. } => match &mut delta.patch {
                Some(ViewPatch::Tasks { upsert, .. }) => {
                    upsert.iter_mut().for_each(|r| self.row(r))
                }
                Some(ViewPatch::Replace(data)) => self.data(data),
                _ => {}
            },
        }
    }
}

/// Whether a search looks into task data (a bare term, or `args:`,
/// `kwargs:`, `result:`), which a viewer may not when data is redacted.
pub fn searches_task_data(expr: &Expr) -> bool {
    match expr {
        Expr::MatchAll => false,
        Expr::Term { field, .. } => matches!(
            field,
            None | Some(SearchField::Args | SearchField::Kwargs | SearchField::Result)
        ),
        Expr::And(items) | Expr::Or(items) => items.iter().any(searches_task_data),
    }
}

/// Why a viewer's search is refused.
pub const SEARCH_REFUSED: &str = "task data is redacted for viewers (--redact): search by \
     name:, state: or worker: only";

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(patterns: &[&str]) -> Redactor {
        Redactor::parse(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn matches_are_replaced_for_viewers_only() {
        let r = redactor(&[r"'password': '[^']*'", r"\b\d{16}\b"]);
        let mut row: TaskRow = serde_json::from_value(serde_json::json!({
            "id": "t", "name": null, "state": "SUCCESS",
            "args": "('4111111111111111',)", "kwargs": "{'user': 'ann', 'password': 'hunter2'}",
            "result": "'ok'", "exception": null, "sent": null, "received": null,
            "started": null, "revoked": null, "runtime": null, "worker": null,
            "exchange": null, "routing_key": null, "retries": null, "expires": null, "eta": null
        }))
        .unwrap();
        r.for_role(Some(Role::Viewer)).unwrap().row(&mut row);
        assert_eq!(row.args.as_deref(), Some("('‹redacted›',)"));
        assert_eq!(row.kwargs.as_deref(), Some("{'user': 'ann', ‹redacted›}"));
        assert_eq!(row.result.as_deref(), Some("'ok'"));
        assert!(r.for_role(Some(Role::Operator)).is_none());
        assert!(r.for_role(None).is_some());
        assert!(Redactor::default().for_role(Some(Role::Viewer)).is_none());
    }

    #[test]
    fn replies_stay_json_and_lose_only_what_matches() {
        let r = redactor(&["hunter2"]);
        let mut i = Inspection {
            method: "active".into(),
            at: 0.0,
            reply: r#"{"w1": [{"kwargs": {"password": "hunter2"}, "name": "t"}]}"#.into(),
        };
        r.inspection(&mut i);
        let v: serde_json::Value = serde_json::from_str(&i.reply).unwrap();
        assert_eq!(v["w1"][0]["kwargs"]["password"], REDACTED);
        assert_eq!(v["w1"][0]["name"], "t");
    }

    #[test]
    fn searches_into_task_data_are_told_apart() {
        use crate::state::search::parse;
        assert!(!searches_task_data(
            &parse("name:add state:FAILURE").unwrap()
        ));
        assert!(searches_task_data(&parse("name:add hunter2").unwrap()));
        assert!(searches_task_data(&parse("kwargs:password=xyz").unwrap()));
        assert!(searches_task_data(
            &parse("worker:celery@w1 OR result:abc").unwrap()
        ));
        assert!(Redactor::parse(&["(".to_string()]).is_err());
    }
}
