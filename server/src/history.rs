//! Task listings across memory and the history store, as one result in one
//! order: the model answers for every task it holds (its copy is the
//! newest), the store for the rest. Stored rows are checked against the
//! whole query by a scratch [`Model`] built from them, so a stored task
//! matches exactly when it would in memory (Flower's filters, search and
//! sort are the model's code, not a second implementation in SQL). The
//! store narrows what it reads by state, name, worker, time and, for a
//! text search, the words it indexes; rows it returns beyond that are
//! dropped by the check.
//!
//! A listing is read lazily, a page from each side at a time, so a long
//! one (an export) holds two pages whatever its length. Above `state` and
//! `store`; used by `api`.

use std::{cmp::Ordering, collections::VecDeque};

use app::wire::rest;

use crate::{
    state::{
        Model, ModelConfig,
        key::TaskKey,
        owner::{StateHandle, Stopped},
        query::{Cursor, SortKey, TaskQuery},
        read::MAX_READ_ROWS,
        search::{Expr, SearchField},
        tasks::Limits,
    },
    store::{PagedQuery, Reader, StoreError, TaskOrder},
};

/// Rows read from each side per step.
const PAGE: usize = 500;

/// Stored rows a listing may examine beyond those the store's filters
/// select, for queries the store cannot narrow (a search on a field it
/// does not index): past this, the listing ends, and says it is partial.
pub const MAX_SCANNED: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error("history could not be read: {0}")]
    Store(#[from] StoreError),
}

/// One side's buffered rows, and where it continues.
struct Side<C> {
    rows: VecDeque<rest::Task>,
    next: Option<C>,
    done: bool,
}

impl<C> Side<C> {
    fn new(done: bool) -> Side<C> {
        Side {
            rows: VecDeque::new(),
            next: None,
            done,
        }
    }
}

/// A listing read from both sides, merged.
pub struct Listing {
    state: StateHandle,
    reader: Option<Reader>,
    query: TaskQuery,
    memory: Side<Cursor>,
    stored: Side<(f64, i64)>,
    /// Stored rows examined so far.
    scanned: usize,
    /// The store's narrowing of the query.
    paged: PagedQuery,
    /// Whether the store narrows a search by indexed words (else stored
    /// rows are scanned under [`MAX_SCANNED`]).
    narrowed: bool,
    completeness: Completeness,
}

/// How much of history a listing's search looked at. Memory is always
/// searched whole; this is about the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Every stored task was considered.
    Exact,
    /// Past memory, a search on args or kwargs found the tasks holding the
    /// search's words whole (`order-12` finds `order-12`, not `order-123`
    /// or `rder-12`, which memory's substring search would find).
    Words,
    /// The search could not be narrowed by the store's index, and this
    /// many of the newest stored tasks were searched, not more.
    Scanned(usize),
}

impl Completeness {
    /// As the `X-Celadon-History` header says it.
    pub fn header(self) -> String {
        match self {
            Completeness::Exact => "exact".into(),
            Completeness::Words => "words".into(),
            Completeness::Scanned(n) => format!("scanned={n}"),
        }
    }
}

/// Whether `query` can be answered across history: by the last change
/// (the store's order), which is Flower's default.
pub fn spans_history(query: &TaskQuery) -> bool {
    query.sort.key == SortKey::Timestamp
}

impl Listing {
    /// Every task `query` matches (its offset, limit and cursor are
    /// ignored), from memory and, when `reader` is given and the order
    /// allows it, from the store.
    pub fn new(state: StateHandle, reader: Option<Reader>, query: TaskQuery) -> Listing {
        let query = TaskQuery {
            offset: 0,
            limit: None,
            after: None,
            ..query
        };
        let reader = reader.filter(|_| spans_history(&query));
        let has_reader = reader.is_some();
        let (words, narrowed) = store_words(query.search.as_ref());
        let paged = PagedQuery {
            states: query.state.iter().map(|s| s.to_uppercase()).collect(),
            name: query.name.clone(),
            worker: query.worker.clone(),
            from: query.timestamp.0,
            to: query.timestamp.1,
            words,
            order: if query.sort.descending {
                TaskOrder::AtDesc
            } else {
                TaskOrder::AtAsc
            },
            after: None,
            limit: PAGE,
        };
        Listing {
            state,
            stored: Side::new(reader.is_none()),
            reader,
            completeness: if !has_reader || paged.words.is_none() {
                Completeness::Exact
            } else {
                Completeness::Words
            },
            narrowed,
            query,
            memory: Side::new(false),
            scanned: 0,
            paged,
        }
    }

    /// Lets a search the store cannot narrow scan all of history (an
    /// export, which streams and may take its time).
    pub fn scan_everything(mut self) -> Listing {
        self.narrowed = true;
        self
    }

    /// How much of history the listing searched (so far).
    pub fn completeness(&self) -> Completeness {
        self.completeness
    }

    /// The next task in the listing's order, or `None` at its end.
    pub async fn next(&mut self) -> Result<Option<rest::Task>, HistoryError> {
        if self.memory.rows.is_empty() && !self.memory.done {
            self.fill_memory().await?;
        }
        while self.stored.rows.is_empty() && !self.stored.done {
            self.fill_stored().await?;
        }
        let take_memory = match (self.memory.rows.front(), self.stored.rows.front()) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(m), Some(s)) => {
                let order = cmp_time(m.timestamp, s.timestamp);
                if self.query.sort.descending {
                    order != Ordering::Less
                } else {
                    order != Ordering::Greater
                }
            }
        };
        let side = if take_memory {
            &mut self.memory.rows
        } else {
            &mut self.stored.rows
        };
        Ok(side.pop_front())
    }

    async fn fill_memory(&mut self) -> Result<(), HistoryError> {
        let query = TaskQuery {
            after: self.memory.next.take(),
            ..self.query.clone()
        };
        let page = self.state.task_list(query, 0, MAX_READ_ROWS).await?;
        self.memory.rows.extend(page.rows);
        match page.next {
            Some(next) => self.memory.next = Some(next),
            None => self.memory.done = true,
        }
        Ok(())
    }

    async fn fill_stored(&mut self) -> Result<(), HistoryError> {
        let Some(reader) = &self.reader else {
            self.stored.done = true;
            return Ok(());
        };
        if !self.narrowed && self.scanned >= MAX_SCANNED {
            self.completeness = Completeness::Scanned(self.scanned);
            self.stored.done = true;
            return Ok(());
        }
        let paged = PagedQuery {
            after: self.stored.next,
            ..self.paged.clone()
        };
        let page = reader.page(paged).await?;
        self.scanned += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => self.stored.next = Some(last.cursor),
            _ => self.stored.done = true,
        }
        // What memory holds, memory answers.
        let keys: Vec<TaskKey> = page.iter().map(|p| TaskKey::of(&p.row.id)).collect();
        let retained = self.state.retained(keys).await?;
        let rows = page
            .into_iter()
            .zip(retained)
            .filter(|(_, held)| !held)
            .map(|(p, _)| p.row);
        // The rest are checked against the whole query by the model's code.
        let mut scratch = Model::new(ModelConfig {
            limits: Limits {
                max_tasks: PAGE,
                max_bytes: usize::MAX,
            },
            ..ModelConfig::default()
        });
        scratch.restore_tasks(rows);
        let list = scratch.task_list(&self.query, 0, PAGE);
        self.stored.rows.extend(list.rows);
        Ok(())
    }
}

/// No time sorts before any time, as in the model's order.
fn cmp_time(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.total_cmp(&b),
    }
}

/// The words of a search the store's text index can narrow by, and
/// whether it can: a search that is one term, or terms all required, each
/// on args or kwargs (see [`Completeness::Words`]). A bare term also
/// searches the name, worker, state, result, exception and id, which the
/// index does not hold, so it cannot narrow; such searches scan.
fn store_words(search: Option<&Expr>) -> (Option<String>, bool) {
    let terms: Vec<&Expr> = match search {
        None | Some(Expr::MatchAll) => return (None, true),
        Some(Expr::And(terms)) => terms.iter().collect(),
        Some(term) => vec![term],
    };
    let mut words = Vec::new();
    for term in terms {
        match term {
            Expr::Term {
                field: Some(SearchField::Args | SearchField::Kwargs),
                value,
            } if !value.contains('=') => words.push(value.clone()),
            _ => return (None, false),
        }
    }
    (Some(words.join(" ")), true)
}
