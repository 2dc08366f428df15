//! Task queries: Flower's filters (state, name, worker, received and
//! started ranges, search syntax), sorting on any column, paging. Exact
//! filters run on the store's columns; the search expression only on the
//! tasks they let through; the page is chosen with a bounded heap, so a page
//! of 15 out of a million tasks never sorts a million. A page that need not
//! count its matches (Flower's `/api/tasks`) and runs newest first visits
//! blocks of slots by the newest time in them and stops at the first that
//! cannot make the page. Pure.
//!
//! One extension to Flower: a bare term also searches the exception, so
//! `boom` finds the tasks that failed with `ValueError('boom')`.

use std::{cmp::Ordering, collections::BinaryHeap};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};

use super::{
    Model,
    key::TaskKey,
    search::{Expr, SearchField},
    symbols::Sym,
    task::{StateCode, Task},
    tasks::{BLOCK, Columns},
    text::Field,
};
use crate::pyrepr;

/// What a column of the task list sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    State,
    Received,
    Started,
    Timestamp,
    Sent,
    Succeeded,
    Failed,
    Retried,
    Revoked,
    Runtime,
    Worker,
    Retries,
    Uuid,
    Args,
    Kwargs,
    Result,
    Exception,
    Exchange,
    RoutingKey,
    Eta,
    Expires,
}

impl SortKey {
    pub const ALL: [(&'static str, SortKey); 22] = [
        ("name", SortKey::Name),
        ("state", SortKey::State),
        ("received", SortKey::Received),
        ("started", SortKey::Started),
        ("timestamp", SortKey::Timestamp),
        ("sent", SortKey::Sent),
        ("succeeded", SortKey::Succeeded),
        ("failed", SortKey::Failed),
        ("retried", SortKey::Retried),
        ("revoked", SortKey::Revoked),
        ("runtime", SortKey::Runtime),
        ("worker", SortKey::Worker),
        ("retries", SortKey::Retries),
        ("uuid", SortKey::Uuid),
        ("args", SortKey::Args),
        ("kwargs", SortKey::Kwargs),
        ("result", SortKey::Result),
        ("exception", SortKey::Exception),
        ("exchange", SortKey::Exchange),
        ("routing_key", SortKey::RoutingKey),
        ("eta", SortKey::Eta),
        ("expires", SortKey::Expires),
    ];

    pub fn parse(name: &str) -> Option<SortKey> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("timestamp", |(n, _)| n)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    /// Flower's default: the most recently changed first.
    fn default() -> Self {
        Sort {
            key: SortKey::Timestamp,
            descending: true,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TaskQuery {
    pub state: Option<String>,
    pub name: Option<String>,
    pub worker: Option<String>,
    pub received: (Option<f64>, Option<f64>),
    pub started: (Option<f64>, Option<f64>),
    /// When the task last changed: the Tasks page's time range.
    pub timestamp: (Option<f64>, Option<f64>),
    pub search: Option<Expr>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: Option<usize>,
    /// Only the tasks after this one in the query's order: where a listing
    /// read in several pages continues (see [`listing`]).
    pub after: Option<Cursor>,
}

/// A place in a query's order: the sort value and id of the last task of a
/// page. Opaque; it comes from [`listing`].
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    value: Value,
    key: TaskKey,
}

/// One page of a listing read in several pages.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// Store slots, in page order.
    pub slots: Vec<u32>,
    /// Where the next page starts; `None` when this page was the last
    /// (it found fewer than `offset + limit` tasks).
    pub next: Option<Cursor>,
    /// Tasks this page read from the store; the others were decided from
    /// the columns alone.
    pub touched: usize,
}

/// One page of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Store slots, in page order.
    pub slots: Vec<u32>,
    /// Tasks matching the filters.
    pub filtered: usize,
    /// Tasks retained.
    pub total: usize,
}

/// Symbols whose text equals `value` ignoring case, among `candidates`.
fn matching_syms<'a>(
    model: &Model,
    value: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<Sym> {
    if let Some(sym) = model.symbols.lookup(value) {
        return vec![sym];
    }
    let folded = value.to_lowercase();
    candidates
        .filter(|c| c.to_lowercase() == folded)
        .filter_map(|c| model.symbols.lookup(c))
        .collect()
}

/// A compiled search term.
enum Matcher {
    /// Case-insensitive substring.
    Sub {
        field: Option<SearchField>,
        ascii: Option<AhoCorasick>,
        folded: String,
    },
    State(Option<StateCode>),
    /// `kwargs:key=value`, as `key=value` after `str()` and lower-casing;
    /// with the key, when it is plain (letters, digits, `_`), to skip
    /// parsing the kwargs of a task whose (ASCII) text does not hold it.
    KwargsPair {
        pair: String,
        key: Option<AhoCorasick>,
    },
    All(Vec<Matcher>),
    Any(Vec<Matcher>),
    Everything,
}

fn compile(model: &Model, expr: &Expr) -> Matcher {
    match expr {
        Expr::MatchAll => Matcher::Everything,
        Expr::And(children) => Matcher::All(children.iter().map(|c| compile(model, c)).collect()),
        Expr::Or(children) => Matcher::Any(children.iter().map(|c| compile(model, c)).collect()),
        Expr::Term {
            field: Some(SearchField::State),
            value,
        } => Matcher::State(model.state_code(&value.to_uppercase())),
        Expr::Term {
            field: Some(SearchField::Kwargs),
            value,
        } if value.contains('=') => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            let k = k.trim();
            let plain = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            Matcher::KwargsPair {
                pair: format!("{k}={}", v.trim()),
                key: plain
                    .then(|| {
                        AhoCorasickBuilder::new()
                            .ascii_case_insensitive(true)
                            .build([k])
                            .ok()
                    })
                    .flatten(),
            }
        }
        Expr::Term { field, value } => Matcher::Sub {
            field: *field,
            ascii: value
                .is_ascii()
                .then(|| {
                    AhoCorasickBuilder::new()
                        .ascii_case_insensitive(true)
                        .build([value.as_str()])
                        .ok()
                })
                .flatten(),
            folded: value.clone(),
        },
    }
}

fn contains(haystack: &[u8], ascii: &Option<AhoCorasick>, folded: &str) -> bool {
    match ascii {
        Some(ac) if haystack.is_ascii() || folded.is_ascii() => ac.is_match(haystack),
        _ => String::from_utf8_lossy(haystack)
            .to_lowercase()
            .contains(folded),
    }
}

/// The `key=value` pairs of a kwargs repr, as Flower indexes them.
fn kwargs_pairs(kwargs: &str) -> Vec<String> {
    match pyrepr::parse(kwargs) {
        Ok(pyrepr::PyValue::Dict(pairs)) => pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k.py_str().to_lowercase(),
                    v.py_str().to_lowercase()
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Matcher {
    fn matches(&self, model: &Model, t: &Task) -> bool {
        self.matches_with(model, t, &mut None)
    }

    /// As [`Matcher::matches`], with the task's kwargs pairs parsed at
    /// most once however many `kwargs:key=value` terms ask for them.
    fn matches_with(&self, model: &Model, t: &Task, pairs: &mut Option<Vec<String>>) -> bool {
        match self {
            Matcher::Everything => true,
            Matcher::All(ms) => ms.iter().all(|m| m.matches_with(model, t, pairs)),
            Matcher::Any(ms) => ms.iter().any(|m| m.matches_with(model, t, pairs)),
            Matcher::State(code) => Some(t.state) == *code,
            Matcher::KwargsPair { pair, key } => t.text.get(Field::Kwargs).is_some_and(|k| {
                // A plain key is in an ASCII repr as it is written.
                let may_hold = match key {
                    Some(key) if k.is_ascii() => key.is_match(k),
                    _ => true,
                };
                may_hold && pairs.get_or_insert_with(|| kwargs_pairs(k)).contains(pair)
            }),
            Matcher::Sub {
                field,
                ascii,
                folded,
            } => {
                let has = |bytes: &[u8]| contains(bytes, ascii, folded);
                let text = |f: Field| t.text.bytes(f).is_some_and(has);
                let sym = |s: Sym| has(model.symbols.text(s).as_bytes());
                match field {
                    Some(SearchField::Name) => sym(t.name),
                    Some(SearchField::Worker) => sym(t.worker),
                    Some(SearchField::Args) => text(Field::Args),
                    Some(SearchField::Kwargs) => text(Field::Kwargs),
                    Some(SearchField::Result) => text(Field::Result),
                    Some(SearchField::State) => has(model.state_name(t.state).as_bytes()),
                    None => {
                        sym(t.name)
                            || sym(t.worker)
                            || has(model.state_name(t.state).as_bytes())
                            || text(Field::Args)
                            || text(Field::Kwargs)
                            || text(Field::Result)
                            || text(Field::Exception)
                            || model.id_text(t.key).is_some_and(|id| has(id.as_bytes()))
                    }
                }
            }
        }
    }
}

/// A sort value: no value sorts before any value, as in Flower.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Missing,
    Num(f64),
    Text(String),
}

impl Eq for Value {}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Missing, Value::Missing) => Ordering::Equal,
            (Value::Missing, _) => Ordering::Less,
            (_, Value::Missing) => Ordering::Greater,
            (Value::Num(a), Value::Num(b)) => a.total_cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Num(_), Value::Text(_)) => Ordering::Less,
            (Value::Text(_), Value::Num(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        Value::Num(v)
    } else {
        Value::Missing
    }
}

fn sort_value(model: &Model, t: &Task, key: SortKey) -> Value {
    let text = |s: Option<&str>| s.map_or(Value::Missing, |s| Value::Text(s.to_lowercase()));
    let sym = |s: Sym| {
        if s.is_none() {
            Value::Missing
        } else {
            Value::Text(model.symbols.text(s).to_lowercase())
        }
    };
    match key {
        SortKey::Received => num(t.times.received),
        SortKey::Started => num(t.times.started),
        SortKey::Timestamp => num(t.times.timestamp),
        SortKey::Sent => num(t.times.sent),
        SortKey::Succeeded => num(t.times.succeeded),
        SortKey::Failed => num(t.times.failed),
        SortKey::Retried => num(t.times.retried),
        SortKey::Revoked => num(t.times.revoked),
        SortKey::Runtime => num(t.runtime),
        SortKey::Retries if t.retries == super::task::NO_RETRIES => Value::Missing,
        SortKey::Retries => Value::Num(f64::from(t.retries)),
        SortKey::Name => sym(t.name),
        SortKey::Worker => sym(t.worker),
        SortKey::Exchange => sym(t.exchange),
        SortKey::RoutingKey => sym(t.routing_key),
        SortKey::State => Value::Text(model.state_name(t.state).to_lowercase()),
        SortKey::Uuid => model.id_text(t.key).map_or(Value::Missing, Value::Text),
        SortKey::Args => text(t.text.get(Field::Args)),
        SortKey::Kwargs => text(t.text.get(Field::Kwargs)),
        SortKey::Result => text(t.text.get(Field::Result)),
        SortKey::Exception => text(t.text.get(Field::Exception)),
        SortKey::Eta => text(t.text.get(Field::Eta)),
        SortKey::Expires => text(t.text.get(Field::Expires)),
    }
}

/// An entry competing for the page: ordered by value, then task id.
#[derive(PartialEq, Eq)]
struct Ranked {
    value: Value,
    key: TaskKey,
    slot: u32,
    descending: bool,
}

impl Ord for Ranked {
    /// "Better" (belongs earlier on the page) is *less*, so a max-heap's top
    /// is the worst entry kept.
    fn cmp(&self, other: &Self) -> Ordering {
        let natural = self.value.cmp(&other.value).then(self.key.cmp(&other.key));
        if self.descending {
            natural.reverse()
        } else {
            natural
        }
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn in_range(v: f64, (from, to): (Option<f64>, Option<f64>)) -> bool {
    // Flower lets tasks without the time through.
    !v.is_finite() || (from.is_none_or(|f| v >= f) && to.is_none_or(|t| v <= t))
}

/// Keeps `ranked` if it belongs among the best `want`.
fn offer(heap: &mut BinaryHeap<Ranked>, want: Option<usize>, ranked: Ranked) {
    match want {
        Some(0) => {}
        Some(k) if heap.len() >= k => {
            if heap.peek().is_some_and(|worst| ranked < *worst) {
                heap.pop();
                heap.push(ranked);
            }
        }
        _ => heap.push(ranked),
    }
}

/// The only symbol of `syms`, if there is exactly one.
fn single(syms: &[Sym]) -> Option<Sym> {
    match syms {
        [one] => Some(*one),
        _ => None,
    }
}

/// The filters that compare one column with one value: the first pass of a
/// query, over every slot.
struct Exact {
    state: Option<StateCode>,
    name: Option<Sym>,
    worker: Option<Sym>,
}

impl Exact {
    /// Which slots of `start..end` (at most 64) hold a task that passes
    /// these filters: bit `i` for slot `start + i`. Branch-free, so a
    /// filter that keeps an unpredictable few costs no mispredictions, and
    /// the rest of a query looks only at the slots it keeps.
    fn mask(&self, cols: &Columns, start: usize, end: usize) -> u64 {
        // A column no filter asks about is not read at all: the name and
        // worker columns are most of the bytes a pass would otherwise
        // stream through.
        match (self.name.is_some(), self.worker.is_some()) {
            (false, false) => self.mask_with::<false, false>(cols, start, end),
            (true, false) => self.mask_with::<true, false>(cols, start, end),
            (false, true) => self.mask_with::<false, true>(cols, start, end),
            (true, true) => self.mask_with::<true, true>(cols, start, end),
        }
    }

    #[inline(always)]
    fn mask_with<const NAME: bool, const WORKER: bool>(
        &self,
        cols: &Columns,
        start: usize,
        end: usize,
    ) -> u64 {
        // Equality as masked XOR: a zero mask lets every value through.
        let (want_state, state_mask) = self.state.map_or((0, 0), |s| (s.0, u8::MAX));
        let want_name = self.name.map_or(0, |s| s.0);
        let want_worker = self.worker.map_or(0, |s| s.0);
        let state = &cols.state[start..end];
        let name = &cols.name[start..end];
        let worker = &cols.worker[start..end];
        // One byte per slot first, then eight bytes of 0/1 to eight bits at
        // a time by one multiplication. The columns are zipped, not
        // indexed: with no bounds checks the loop vectorizes.
        let mut ok = [0u8; BLOCK];
        let slots = ok.iter_mut().zip(state).zip(name).zip(worker);
        for (((ok, st), nm), wk) in slots {
            *ok = u8::from(
                (st.0 != StateCode::FREE.0)
                    & ((st.0 ^ want_state) & state_mask == 0)
                    & (!NAME || nm.0 == want_name)
                    & (!WORKER || wk.0 == want_worker),
            );
        }
        let mut mask = 0u64;
        for (j, bytes) in ok.chunks_exact(8).enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            let bits = u64::from_le_bytes(word).wrapping_mul(0x0102_0408_1020_4080) >> 56;
            mask |= bits << (8 * j);
        }
        mask
    }
}

/// The bound of `key`'s column per block, if it has one.
fn block_bounds(cols: &Columns, key: SortKey) -> Option<&[f64]> {
    match key {
        SortKey::Received => Some(&cols.block_max[0]),
        SortKey::Started => Some(&cols.block_max[1]),
        SortKey::Timestamp => Some(&cols.block_max[2]),
        _ => None,
    }
}

/// Whether no task in a block whose times are at most `bound` can beat
/// `worst`. An infinite time sorts as missing, so a block that held one
/// has lost its bound and is never passed over.
fn beaten(bound: f64, worst: &Value) -> bool {
    bound != f64::INFINITY && num(bound) < *worst
}

/// Blocks per group in [`Pass::newest_blocks`]'s order: a million tasks
/// make 15,625 blocks but only 245 groups.
const GROUP: usize = 64;

/// A group of blocks or one block, under the bound of its times.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum At {
    Group(usize),
    Block(usize),
}

/// An entry of the newest-first order: a max-heap yields the highest bound.
#[derive(PartialEq)]
struct Newest(f64, At);

impl Eq for Newest {}

impl Ord for Newest {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The page and how many tasks match: what the Tasks page shows ("16-30
/// of 1,204"). Every block's mask is computed, to count.
pub fn run(model: &Model, q: &TaskQuery) -> Page {
    let total = model.tasks.len();
    let Some(mut pass) = Pass::new(model, q) else {
        return Page {
            slots: Vec::new(),
            filtered: 0,
            total,
        };
    };
    pass.every_block();
    let filtered = pass.filtered;
    Page {
        slots: pass.into_slots(),
        filtered,
        total,
    }
}

/// A page without the count (Flower's `/api/tasks` returns none), and the
/// place where the next page starts. A limited newest-first page by a time
/// column visits blocks newest bound first and stops at the first that
/// cannot beat the page, so it reads a few blocks, not all of them (and not
/// every column a count streams through). The slots are [`run`]'s.
///
/// Read as pages of `limit` from successive cursors, a listing holds at
/// most `offset + limit` entries at a time, however long it is, and skips
/// the tasks before the cursor from the sort column alone, so each task is
/// read once. The model moves between pages: a task whose place in the
/// order moves ahead of the cursor (an update, under a time sort) is not
/// listed again, and one that moves behind it may be listed twice.
pub fn listing(model: &Model, q: &TaskQuery) -> Listing {
    let Some(mut pass) = Pass::new(model, q) else {
        return Listing {
            slots: Vec::new(),
            next: None,
            touched: 0,
        };
    };
    pass.pick_blocks();
    let (full, touched) = (pass.full(), pass.touched);
    let mut sorted = pass.heap.into_sorted_vec();
    let next = sorted.last().filter(|_| full).map(|last| Cursor {
        value: last.value.clone(),
        key: last.key,
    });
    let slots = sorted.drain(..).skip(q.offset).map(|r| r.slot).collect();
    Listing {
        slots,
        next,
        touched,
    }
}

/// One query's pass over the slots: its compiled filters, and the best
/// entries and the count of matches so far.
struct Pass<'a> {
    model: &'a Model,
    q: &'a TaskQuery,
    exact: Exact,
    names: Option<Vec<Sym>>,
    workers: Option<Vec<Sym>>,
    matcher: Option<Matcher>,
    /// Whether the exact filters are the whole query: then a block's mask
    /// counts its matches, and a newest-first page can skip blocks whose
    /// newest time cannot beat the worst entry it holds.
    complete: bool,
    /// Whether a received, started or timestamp range is asked for.
    ranges: bool,
    /// How many entries the page needs (offset + limit), if limited.
    want: Option<usize>,
    heap: BinaryHeap<Ranked>,
    filtered: usize,
    /// The query's cursor as an entry: only entries after it are kept.
    after: Option<Ranked>,
    /// Tasks read from the store.
    touched: usize,
}

impl<'a> Pass<'a> {
    /// `None` when nothing can match (an unknown state, name or worker).
    fn new(model: &'a Model, q: &'a TaskQuery) -> Option<Pass<'a>> {
        let state = match &q.state {
            Some(s) => Some(model.state_code(&s.to_uppercase())?),
            None => None,
        };
        let names = q
            .name
            .as_ref()
            .map(|n| matching_syms(model, n, model.types.keys().map(|s| model.symbols.text(*s))));
        let workers = q
            .worker
            .as_ref()
            .map(|w| matching_syms(model, w, model.workers.iter().map(|x| x.hostname.as_str())));
        if names.as_ref().is_some_and(Vec::is_empty) || workers.as_ref().is_some_and(Vec::is_empty)
        {
            return None;
        }
        let matcher = q.search.as_ref().map(|e| compile(model, e));
        let complete = matcher.is_none()
            && names.as_ref().is_none_or(|n| n.len() == 1)
            && workers.as_ref().is_none_or(|w| w.len() == 1)
            && q.received == (None, None)
            && q.started == (None, None)
            && q.timestamp == (None, None);
        Some(Pass {
            model,
            q,
            exact: Exact {
                state,
                name: names.as_deref().and_then(single),
                worker: workers.as_deref().and_then(single),
            },
            names,
            workers,
            matcher,
            complete,
            ranges: (q.received, q.started, q.timestamp)
                != ((None, None), (None, None), (None, None)),
            want: q.limit.map(|l| q.offset.saturating_add(l)),
            heap: BinaryHeap::new(),
            filtered: 0,
            after: q.after.as_ref().map(|c| Ranked {
                value: c.value.clone(),
                key: c.key,
                slot: 0,
                descending: q.sort.descending,
            }),
            touched: 0,
        })
    }

    /// The blocks a page without a count needs: for a limited newest-first
    /// page by a time column, those that can reach it; else every one.
    fn pick_blocks(&mut self) {
        let (model, q) = (self.model, self.q);
        let bounds = block_bounds(&model.tasks.cols, q.sort.key).filter(|_| q.sort.descending);
        match (bounds, self.want) {
            (Some(bounds), Some(_)) => self.newest_blocks(bounds),
            _ => self.every_block(),
        }
    }

    /// Keeps `ranked` if it comes after the cursor and belongs among the
    /// best `want`.
    fn offer(&mut self, ranked: Ranked) {
        if self.after.as_ref().is_some_and(|after| ranked <= *after) {
            return;
        }
        offer(&mut self.heap, self.want, ranked);
    }

    /// Whether the page holds all the entries it needs.
    fn full(&self) -> bool {
        self.want.is_some_and(|k| self.heap.len() >= k)
    }

    /// Whether the worst entry kept beats every task of a block whose
    /// times are at most `bound`.
    fn beats(&self, bound: f64) -> bool {
        self.full()
            && self
                .heap
                .peek()
                .is_some_and(|worst| beaten(bound, &worst.value))
    }

    /// Offers every task of `block` that passes the exact filters.
    fn visit(&mut self, block: usize, mut mask: u64) {
        while mask != 0 {
            let top = 63 - mask.leading_zeros() as usize;
            mask &= !(1u64 << top);
            self.consider(block * BLOCK + top);
        }
    }

    fn mask(&self, block: usize) -> u64 {
        let slot_count = self.model.tasks.slot_count();
        let start = block * BLOCK;
        self.exact
            .mask(&self.model.tasks.cols, start, slot_count.min(start + BLOCK))
    }

    /// Every block, newest slots first (for the usual newest-first page,
    /// later entries then rarely beat the ones kept), counting matches.
    fn every_block(&mut self) {
        let (model, q) = (self.model, self.q);
        let bounds = block_bounds(&model.tasks.cols, q.sort.key)
            .filter(|_| self.complete && q.sort.descending);
        for block in (0..model.tasks.slot_count().div_ceil(BLOCK)).rev() {
            let mask = self.mask(block);
            if mask == 0 {
                continue;
            }
            // The mask is the whole filter here, so it counts the block's
            // matches without looking at them.
            if bounds.is_some_and(|b| self.want == Some(0) || self.beats(b[block])) {
                self.filtered += mask.count_ones() as usize;
                continue;
            }
            self.visit(block, mask);
        }
    }

    /// Blocks in order of their bound, newest first, until the page is full
    /// and the next block cannot beat it. The order is a heap of groups of
    /// blocks under their greatest bound; a group popped is replaced by its
    /// blocks. A newest-first page opens a few groups, so the cost is one
    /// read of the bounds (one value per block) and the blocks visited.
    fn newest_blocks(&mut self, bounds: &[f64]) {
        if self.want == Some(0) {
            return;
        }
        let mut order: BinaryHeap<Newest> = bounds
            .chunks(GROUP)
            .enumerate()
            .map(|(group, chunk)| {
                let bound = chunk.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Newest(bound, At::Group(group))
            })
            .collect();
        while let Some(Newest(bound, at)) = order.pop() {
            if self.beats(bound) {
                break;
            }
            match at {
                At::Group(group) => {
                    let first = group * GROUP;
                    let blocks = bounds[first..].iter().take(GROUP).enumerate();
                    order.extend(blocks.map(|(i, b)| Newest(*b, At::Block(first + i))));
                }
                At::Block(block) => {
                    let mask = self.mask(block);
                    self.visit(block, mask);
                }
            }
        }
    }

    /// The page's slots, in page order.
    fn into_slots(self) -> Vec<u32> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .skip(self.q.offset)
            .map(|r| r.slot)
            .collect()
    }

    /// Offers the task in `slot`, which passed the exact filters, to the
    /// page if it passes the rest.
    #[inline]
    fn consider(&mut self, slot: usize) {
        let (store, q) = (&self.model.tasks, self.q);
        let cols = &store.cols;
        if self
            .names
            .as_ref()
            .is_some_and(|n| !n.contains(&cols.name[slot]))
            || self
                .workers
                .as_ref()
                .is_some_and(|w| !w.contains(&cols.worker[slot]))
        {
            return;
        }
        if self.ranges
            && (!in_range(cols.received[slot], q.received)
                || !in_range(cols.started[slot], q.started)
                || !in_range(cols.timestamp[slot], q.timestamp))
        {
            return;
        }
        // The usual page sorts by a column and has no search: rank by the
        // column first and touch the task (a cache miss per row, at 1M
        // tasks most of the time) only if it can still make the page.
        let column = match q.sort.key {
            SortKey::Received => Some(cols.received[slot]),
            SortKey::Started => Some(cols.started[slot]),
            SortKey::Timestamp => Some(cols.timestamp[slot]),
            _ => None,
        };
        // Past a cursor, a task whose column value cannot come after it is
        // skipped before it is touched: a listing read in pages reads each
        // task once, not once per page.
        if let (Some(after), Some(column)) = (&self.after, column) {
            let latest = Ranked {
                value: num(column),
                key: if q.sort.descending {
                    TaskKey(0)
                } else {
                    TaskKey(u128::MAX)
                },
                slot: 0,
                descending: q.sort.descending,
            };
            if latest <= *after {
                return;
            }
        }
        if let (None, Some(k), Some(column)) = (&self.matcher, self.want, column) {
            self.filtered += 1;
            let best_case = Ranked {
                value: num(column),
                key: if q.sort.descending {
                    TaskKey(u128::MAX)
                } else {
                    TaskKey(0)
                },
                slot: slot as u32,
                descending: q.sort.descending,
            };
            if k == 0
                || (self.heap.len() >= k
                    && self.heap.peek().is_some_and(|worst| best_case >= *worst))
            {
                return;
            }
            if let Some(task) = store.at(slot as u32) {
                self.touched += 1;
                let ranked = Ranked {
                    key: task.key,
                    ..best_case
                };
                self.offer(ranked);
            }
            return;
        }
        let Some(task) = store.at(slot as u32) else {
            return;
        };
        self.touched += 1;
        let value = match column {
            Some(v) => num(v),
            None => sort_value(self.model, task, q.sort.key),
        };
        let ranked = Ranked {
            value,
            key: task.key,
            slot: slot as u32,
            descending: q.sort.descending,
        };
        // Before the search, which is the costly part.
        if self.after.as_ref().is_some_and(|after| ranked <= *after) {
            return;
        }
        if self
            .matcher
            .as_ref()
            .is_some_and(|m| !m.matches(self.model, task))
        {
            return;
        }
        self.filtered += 1;
        self.offer(ranked);
    }
}

#[cfg(test)]
mod tests;
