//! Task rows in PostgreSQL's terms: a batch as one array per column (one
//! `INSERT … SELECT FROM unnest(…) ON CONFLICT (id) DO UPDATE` writes it
//! whole), a result row back as a [`TaskRow`], a page's SQL, and the words
//! the text search finds. Pure.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use super::schema::TASKS_TABLE;
use crate::store::{
    PagedQuery, TaskOrder,
    row::{TaskRow, row_columns},
};

/// The columns written, in the order of [`Columns::params`]: `at`, the
/// row's columns, then `words`.
fn written_columns() -> Vec<&'static str> {
    let mut cols = vec!["at"];
    cols.extend(row_columns());
    cols.push("words");
    cols
}

/// The SQL types of [`written_columns`], as unnest's arrays.
fn written_types() -> Vec<&'static str> {
    let mut types = vec!["float8", "text", "text"]; // at, id, state
    types.extend(["text"; 5]); // name … routing_key
    types.extend(["float8"; 9]); // times
    types.extend(["float8", "int8", "int8", "int2", "int4", "int8", "int2"]);
    types.extend(["text"; 3]); // root_id, parent_id, children
    types.extend(["text"; 8]); // text columns
    types.push("text"); // words, space-separated
    types
}

/// The upsert of a whole batch.
pub fn upsert_sql() -> String {
    let cols = written_columns();
    let types = written_types();
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    let selected: Vec<String> = cols
        .iter()
        .map(|c| {
            if *c == "words" {
                "string_to_array(u.words, ' ')".to_string()
            } else {
                format!("u.{c}")
            }
        })
        .collect();
    let updates: Vec<String> = cols
        .iter()
        .filter(|c| **c != "id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {TASKS_TABLE} ({cols}) SELECT {selected} FROM unnest({arrays}) AS u({cols}) \
         ON CONFLICT (id) DO UPDATE SET {updates}",
        cols = cols.join(", "),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        updates = updates.join(", "),
    )
}

/// The columns selected for a [`TaskRow`] ([`read_row`] reads them).
pub fn select_columns() -> String {
    row_columns().join(", ")
}

/// A batch as arrays, one per written column.
#[derive(Default)]
pub struct Columns {
    at: Vec<f64>,
    id: Vec<String>,
    state: Vec<String>,
    symbols: [Vec<Option<String>>; 5],
    times: [Vec<Option<f64>>; 9],
    runtime: Vec<Option<f64>>,
    retries: Vec<Option<i64>>,
    clock: Vec<i64>,
    flags: Vec<i16>,
    seen: Vec<i32>,
    seen_attempt: Vec<i64>,
    signum: Vec<Option<i16>>,
    links: [Vec<Option<String>>; 3],
    text: [Vec<Option<String>>; 8],
    words: Vec<String>,
}

impl Columns {
    /// The rows of a batch. A task listed twice (evicted, then seen again
    /// before the take) is written once, as listed last: one statement
    /// cannot update a row twice.
    pub fn of(rows: &[TaskRow]) -> Columns {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            last.insert(&row.id, i);
        }
        let mut c = Columns::default();
        for (i, row) in rows.iter().enumerate() {
            if last.get(row.id.as_str()) == Some(&i) {
                c.push(row);
            }
        }
        c
    }

    fn push(&mut self, row: &TaskRow) {
        let opt = |s: &Option<String>| s.as_deref().map(clean);
        self.at.push(row.at());
        self.id.push(clean(&row.id));
        self.state.push(clean(&row.state));
        for (col, v) in self.symbols.iter_mut().zip([
            &row.name,
            &row.worker,
            &row.queue,
            &row.exchange,
            &row.routing_key,
        ]) {
            col.push(opt(v));
        }
        for (col, t) in self.times.iter_mut().zip(row.times) {
            col.push(t);
        }
        self.runtime.push(row.runtime);
        self.retries.push(row.retries.map(i64::from));
        self.clock
            .push(i64::try_from(row.clock).unwrap_or(i64::MAX));
        self.flags.push(row.flags.into());
        self.seen.push(row.seen.into());
        self.seen_attempt.push(row.seen_attempt.into());
        self.signum.push(row.signum);
        let children = (!row.children.is_empty())
            .then(|| serde_json::to_string(&row.children).ok())
            .flatten();
        for (col, v) in self.links.iter_mut().zip([
            opt(&row.root_id),
            opt(&row.parent_id),
            children.as_deref().map(clean),
        ]) {
            col.push(v);
        }
        for (col, v) in self.text.iter_mut().zip(&row.text) {
            col.push(opt(v));
        }
        self.words.push(
            words([row.text[0].as_deref(), row.text[1].as_deref()])
                .into_iter()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }

    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// The statement's parameters, in [`written_columns`]' order.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![&self.at, &self.id, &self.state];
        p.extend(self.symbols.iter().map(|c| c as &(dyn ToSql + Sync)));
        p.extend(self.times.iter().map(|c| c as &(dyn ToSql + Sync)));
        p.extend([
            &self.runtime as &(dyn ToSql + Sync),
            &self.retries,
            &self.clock,
            &self.flags,
            &self.seen,
            &self.seen_attempt,
            &self.signum,
        ]);
        p.extend(self.links.iter().map(|c| c as &(dyn ToSql + Sync)));
        p.extend(self.text.iter().map(|c| c as &(dyn ToSql + Sync)));
        p.push(&self.words);
        p
    }
}

/// PostgreSQL's text cannot hold NUL; SQLite's can. A NUL is written as
/// U+FFFD rather than failing the batch (and every retry of it).
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

/// The words the text search matches: runs of letters and digits, as the
/// SQLite store's FTS5 (`unicode61`) splits text, lowercased, diacritics
/// removed; each once. Applied alike to what is stored and to what is
/// searched, so a word SQLite would find is found here too.
pub fn words<'a>(texts: impl IntoIterator<Item = Option<&'a str>>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for text in texts.into_iter().flatten() {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            let folded: String = word
                .nfd()
                .filter(|c| !is_combining_mark(*c))
                .flat_map(char::to_lowercase)
                .collect();
            if !folded.is_empty() && !found.contains(&folded) {
                found.push(folded);
            }
        }
    }
    found
}

/// A parameter of a page's statement.
pub enum Param {
    Text(String),
    Texts(Vec<String>),
    Real(f64),
    Int(i64),
}

impl Param {
    pub fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::Texts(v) => v,
            Param::Real(v) => v,
            Param::Int(v) => v,
        }
    }
}

/// The SQL and its parameters for a page: the SQLite store's filters,
/// cursor and order, with `at, seq` after the row's columns.
pub fn page_sql(q: &PagedQuery) -> (String, Vec<Param>) {
    let mut wheres: Vec<String> = Vec::new();
    let mut args: Vec<Param> = Vec::new();
    let arg = |v: Param, args: &mut Vec<Param>| {
        args.push(v);
        format!("${}", args.len())
    };
    if !q.states.is_empty() {
        let m = arg(Param::Texts(q.states.clone()), &mut args);
        wheres.push(format!("state = ANY({m})"));
    }
    if let Some(name) = &q.name {
        let m = arg(Param::Text(name.clone()), &mut args);
        wheres.push(format!("name = {m}"));
    }
    if let Some(worker) = &q.worker {
        let m = arg(Param::Text(worker.clone()), &mut args);
        wheres.push(format!("worker = {m}"));
    }
    if let Some(from) = q.from {
        let m = arg(Param::Real(from), &mut args);
        wheres.push(format!("at >= {m}"));
    }
    if let Some(to) = q.to {
        let m = arg(Param::Real(to), &mut args);
        wheres.push(format!("at < {m}"));
    }
    if let Some(text) = &q.words {
        let wanted = words([Some(text.as_str())]);
        if !wanted.is_empty() {
            let m = arg(Param::Texts(wanted), &mut args);
            wheres.push(format!("words @> {m}::text[]"));
        }
    }
    let desc = q.order == TaskOrder::AtDesc;
    if let Some((at, seq)) = q.after {
        let a = arg(Param::Real(at), &mut args);
        let s = arg(Param::Int(seq), &mut args);
        let cmp = if desc { "<" } else { ">" };
        wheres.push(format!("(at, seq) {cmp} ({a}, {s})"));
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let limit = arg(
        Param::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)),
        &mut args,
    );
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wheres.join(" AND "))
    };
    let sql = format!(
        "SELECT {}, at, seq FROM {TASKS_TABLE} {filter} ORDER BY at {dir}, seq {dir} LIMIT {limit}",
        select_columns()
    );
    (sql, args)
}

/// A row of [`select_columns`] (and more after it) as a task.
pub fn read_row(r: &tokio_postgres::Row) -> Result<TaskRow, tokio_postgres::Error> {
    let mut i = 0;
    let mut next = || {
        i += 1;
        i - 1
    };
    let id = r.try_get(next())?;
    let state = r.try_get(next())?;
    let name = r.try_get(next())?;
    let worker = r.try_get(next())?;
    let queue = r.try_get(next())?;
    let exchange = r.try_get(next())?;
    let routing_key = r.try_get(next())?;
    let mut times = [None; 9];
    for t in &mut times {
        *t = r.try_get(next())?;
    }
    let runtime = r.try_get(next())?;
    let retries: Option<i64> = r.try_get(next())?;
    let clock: i64 = r.try_get(next())?;
    let flags: i16 = r.try_get(next())?;
    let seen: i32 = r.try_get(next())?;
    let seen_attempt: i64 = r.try_get(next())?;
    let signum = r.try_get(next())?;
    let root_id = r.try_get(next())?;
    let parent_id = r.try_get(next())?;
    let children: Option<String> = r.try_get(next())?;
    let mut text: [Option<String>; 8] = Default::default();
    for t in &mut text {
        *t = r.try_get(next())?;
    }
    Ok(TaskRow {
        id,
        state,
        name,
        worker,
        queue,
        exchange,
        routing_key,
        times,
        runtime,
        retries: retries.and_then(|r| u32::try_from(r).ok()),
        clock: u64::try_from(clock).unwrap_or(0),
        flags: u8::try_from(flags).unwrap_or(0),
        seen: u16::try_from(seen).unwrap_or(0),
        seen_attempt: u32::try_from(seen_attempt).unwrap_or(0),
        signum,
        root_id,
        parent_id,
        // A list this code wrote; anything else reads as no children.
        children: children
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_sqlite_does_folded_and_once() {
        assert_eq!(
            words([
                Some("(17, 'order-17', 3.14)"),
                Some("{'who': 'Café', 'n': -5}")
            ]),
            ["17", "order", "3", "14", "who", "cafe", "n", "5"]
        );
        assert_eq!(words([None, Some("a_b a@b.COM")]), ["a", "b", "com"]);
        assert!(words([Some("()"), None]).is_empty());
    }

    #[test]
    fn a_batch_writes_each_task_once_as_listed_last() {
        let row = |id: &str, state: &str| TaskRow {
            id: id.into(),
            state: state.into(),
            name: None,
            worker: None,
            queue: None,
            exchange: None,
            routing_key: None,
            times: [None; 9],
            runtime: None,
            retries: None,
            clock: 0,
            flags: 0,
            seen: 0,
            seen_attempt: 0,
            signum: None,
            root_id: None,
            parent_id: None,
            children: vec![],
            text: Default::default(),
        };
        let c = Columns::of(&[
            row("a", "STARTED"),
            row("b", "PENDING"),
            row("a", "SUCCESS"),
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.id, ["b", "a"]);
        assert_eq!(c.state, ["PENDING", "SUCCESS"]);
        assert_eq!(c.params().len(), written_columns().len());
        assert_eq!(written_types().len(), written_columns().len());
    }
}
