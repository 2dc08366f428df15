//! Where the audit trail is kept: the history store's `audit` table
//! (SQLite) or `celadon_audit` (PostgreSQL), or, without a store, a
//! bounded ring in memory. [`Trail`] appends (the recorder's task alone
//! holds it); [`TrailReader`] reads pages and verifies the chain beside it.
//!
//! An append takes the store's write lock before it reads the last entry
//! (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock`), so
//! several processes appending to one database still build one chain.
//! The trail is never pruned: `--history-retention` and
//! `--history-max-size` delete tasks only.

mod postgres;
mod sqlite;

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use super::{
    Entry, NewEntry, Query,
    chain::{self, Broken, GENESIS, Verifier},
};
use crate::store::{Location, StoreError};

pub use postgres::{PgReader, PgTrail};
pub use sqlite::{SqliteReader, SqliteTrail};

/// Entries the ring keeps without a store; past it the oldest go (they
/// were logged when recorded).
pub const MEMORY_ENTRIES: usize = 10_000;

/// The newest entries, in memory (`--persistent=false`, or a store that
/// would not open). A mutex: held for one push or one page, never across
/// an await.
#[derive(Clone, Default)]
pub struct Ring(Arc<Mutex<VecDeque<Entry>>>);

impl Ring {
    fn last(&self) -> Option<(u64, String)> {
        let ring = self.0.lock().ok()?;
        ring.back().map(|e| (e.seq, e.hash.clone()))
    }

    fn push(&self, entry: Entry) {
        if let Ok(mut ring) = self.0.lock() {
            if ring.len() == MEMORY_ENTRIES {
                ring.pop_front();
            }
            ring.push_back(entry);
        }
    }

    fn page(&self, q: &Query) -> Vec<Entry> {
        let Ok(ring) = self.0.lock() else {
            return Vec::new();
        };
        ring.iter()
            .rev()
            .filter(|e| q.before.is_none_or(|b| e.seq < b))
            .filter(|e| q.matches(e))
            .skip(q.offset)
            .take(q.limit)
            .cloned()
            .collect()
    }

    /// The ring's chain, from its oldest entry (older ones were let go).
    fn verify(&self) -> (u64, Option<Broken>) {
        let Ok(ring) = self.0.lock() else {
            return (0, None);
        };
        let mut v = match ring.front() {
            Some(first) => Verifier::from(first.seq, &first.prev_hash),
            None => Verifier::default(),
        };
        ring.iter().for_each(|e| v.feed(e));
        v.finish()
    }
}

/// Where entries are appended. Held by the recorder's task alone.
pub enum Trail {
    Sqlite(SqliteTrail),
    Postgres(PgTrail),
    Memory(Ring),
}

impl Trail {
    /// The trail kept beside the history at `location`; `None` keeps it
    /// in memory.
    pub async fn open(location: Option<&Location>) -> Trail {
        match location {
            None => Trail::Memory(Ring::default()),
            Some(Location::Sqlite(path)) => {
                let path = path.clone();
                let opened = tokio::task::spawn_blocking(move || SqliteTrail::open(&path)).await;
                match opened {
                    Ok(Ok(trail)) => Trail::Sqlite(trail),
                    Ok(Err(error)) => memory_instead(&error),
                    Err(_) => memory_instead(&StoreError::Stopped),
                }
            }
            Some(Location::Postgres(url)) => Trail::Postgres(PgTrail::new(url.clone())),
        }
    }

    /// Appends `entries` (each with the time it was recorded) in order,
    /// all or none, and returns them sealed.
    pub async fn append(
        &mut self,
        entries: Vec<(NewEntry, i64)>,
    ) -> Result<Vec<Entry>, StoreError> {
        match self {
            Trail::Sqlite(t) => t.append(entries).await,
            Trail::Postgres(t) => t.append(entries).await,
            Trail::Memory(ring) => {
                let (mut seq, mut prev) = ring.last().unwrap_or((0, GENESIS.to_string()));
                let mut sealed = Vec::with_capacity(entries.len());
                for (entry, at) in entries {
                    seq += 1;
                    let e = chain::seal(entry, seq, at, &prev);
                    prev = e.hash.clone();
                    ring.push(e.clone());
                    sealed.push(e);
                }
                Ok(sealed)
            }
        }
    }

    /// A reader beside this trail.
    pub fn reader(&self) -> TrailReader {
        match self {
            Trail::Sqlite(t) => TrailReader::Sqlite(t.reader()),
            Trail::Postgres(t) => TrailReader::Postgres(t.reader()),
            Trail::Memory(ring) => TrailReader::Memory(ring.clone()),
        }
    }
}

fn memory_instead(error: &StoreError) -> Trail {
    tracing::error!(
        %error,
        "the audit trail cannot be kept in the history store: it is kept in memory and in the log"
    );
    Trail::Memory(Ring::default())
}

/// Reads the trail: pages, newest first, and the chain's state. Cheap to
/// clone.
#[derive(Clone)]
pub enum TrailReader {
    Sqlite(SqliteReader),
    Postgres(PgReader),
    Memory(Ring),
}

impl TrailReader {
    /// Opens the trail at `location` to read only (`celadon audit
    /// verify`): nothing is created or written.
    pub fn at(location: &Location) -> TrailReader {
        match location {
            Location::Sqlite(path) => TrailReader::Sqlite(SqliteReader::new(path.clone())),
            Location::Postgres(url) => TrailReader::Postgres(PgReader::new(url.clone())),
        }
    }

    /// Whether entries outlive the process.
    pub fn persisted(&self) -> bool {
        !matches!(self, TrailReader::Memory(_))
    }

    /// A page of entries matching `q`, newest first.
    pub async fn page(&self, q: Query) -> Result<Vec<Entry>, StoreError> {
        match self {
            TrailReader::Sqlite(r) => r.page(q).await,
            TrailReader::Postgres(r) => r.page(&q).await,
            TrailReader::Memory(ring) => Ok(ring.page(&q)),
        }
    }

    /// Walks the whole chain: entries read and the first broken link.
    pub async fn verify(&self) -> Result<(u64, Option<Broken>), StoreError> {
        match self {
            TrailReader::Sqlite(r) => r.verify().await,
            TrailReader::Postgres(r) => r.verify().await,
            TrailReader::Memory(ring) => Ok(ring.verify()),
        }
    }
}

/// A kept entry's columns as read back, before they are checked: a value
/// celadon never writes (an unknown role or result, a negative number)
/// makes the entry read as altered rather than fail the read.
pub(crate) struct RawEntry {
    pub seq: i64,
    pub at: i64,
    pub who: String,
    pub role: Option<String>,
    pub via: String,
    pub client: String,
    pub action: String,
    pub target: Option<String>,
    pub params: String,
    pub status: i64,
    pub result: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl RawEntry {
    pub fn into_entry(self) -> Entry {
        let role = self.role.as_deref().map(crate::auth::Role::parse);
        let result = super::Verdict::parse(&self.result);
        let status = u16::try_from(self.status).ok();
        let seq = u64::try_from(self.seq).unwrap_or(0);
        let readable = !matches!(role, Some(None)) && result.is_some() && status.is_some();
        Entry {
            seq,
            at: self.at,
            who: self.who,
            role: role.flatten(),
            via: self.via,
            client: self.client,
            action: self.action,
            target: self.target,
            params: self.params,
            outcome: super::Outcome {
                status: status.unwrap_or(0),
                result: result.unwrap_or(super::Verdict::Failed),
                detail: self.detail,
            },
            prev_hash: self.prev_hash,
            // No hash matches this, so the verifier reports it altered.
            hash: match readable {
                true => self.hash,
                false => format!("unreadable {}", self.hash),
            },
        }
    }
}
