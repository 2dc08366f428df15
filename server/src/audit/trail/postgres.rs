//! The trail in the history's PostgreSQL (`celadon_audit`, the schema's
//! version 2). Every replica appends its own users' actions, on a
//! connection of its own (not the writer's session: a standby records
//! too). Each append is one transaction that first takes
//! [`AUDIT_LOCK`] (`pg_advisory_xact_lock`, released at commit or
//! rollback), then reads the last entry, so appends from several replicas
//! queue up and build one chain.

use std::{sync::Arc, time::Duration};

use tokio::sync::Mutex;
use tokio_postgres::{Row, types::ToSql};

use super::RawEntry;
use crate::{
    audit::{
        Entry, NewEntry, Query,
        chain::{self, Broken, GENESIS, Verifier},
    },
    store::{AUDIT_TABLE, PG_SCHEMA_VERSION, PgLink, PgUrl, StoreError},
};

/// The appenders' lock ("celadon" and 3; the writer's is 1, migrations'
/// 2).
const AUDIT_LOCK: i64 = 0x6365_6c61_646f_6e03;

/// The longest an append or a read may take before it fails (and an
/// append is tried again).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows read per round trip while verifying.
const VERIFY_PAGE: i64 = 1_000;

const COLUMNS: &str = "seq, at, who, role, via, client, action, target, params, status, \
                       result, detail, prev_hash, hash";

async fn within<T>(
    url: &PgUrl,
    f: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, f)
        .await
        .map_err(|_| StoreError::Timeout {
            location: url.masked().to_string(),
            after: STATEMENT_TIMEOUT,
        })?
}

/// The appending connection, opened (and the schema migrated) at the
/// first append and again after a failure.
pub struct PgTrail {
    url: PgUrl,
    link: Option<PgLink>,
}

impl PgTrail {
    pub fn new(url: PgUrl) -> PgTrail {
        PgTrail { url, link: None }
    }

    pub fn reader(&self) -> PgReader {
        PgReader::new(self.url.clone())
    }

    pub async fn append(
        &mut self,
        entries: Vec<(NewEntry, i64)>,
    ) -> Result<Vec<Entry>, StoreError> {
        let url = self.url.clone();
        let link = match self.link.take().filter(|l| !l.is_closed()) {
            Some(link) => link,
            None => {
                let mut link = within(&url, PgLink::connect(&url)).await?;
                within(&url, link.migrate()).await?;
                link
            }
        };
        let mut link = link;
        let appended = within(&url, append(&mut link, entries)).await;
        if appended.is_ok() {
            self.link = Some(link);
        }
        appended
    }
}

async fn append(
    link: &mut PgLink,
    entries: Vec<(NewEntry, i64)>,
) -> Result<Vec<Entry>, StoreError> {
    let location = link.location().to_string();
    let fail = |source| StoreError::Postgres {
        location: location.clone(),
        source,
    };
    let tx = link.client().transaction().await.map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await
        .map_err(fail)?;
    let last = tx
        .query_opt(
            &format!("SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1"),
            &[],
        )
        .await
        .map_err(fail)?;
    let (mut seq, mut prev) = last
        .map(|r| (u64::try_from(r.get::<_, i64>(0)).unwrap_or(0), r.get(1)))
        .unwrap_or((0, GENESIS.to_string()));
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {AUDIT_TABLE} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14)"
        ))
        .await
        .map_err(fail)?;
    let mut sealed = Vec::with_capacity(entries.len());
    for (entry, at) in entries {
        seq += 1;
        let e = chain::seal(entry, seq, at, &prev);
        let seq_col = i64::try_from(e.seq).unwrap_or(i64::MAX);
        let status = i32::from(e.outcome.status);
        tx.execute(
            &insert,
            &[
                &seq_col,
                &e.at,
                &e.who,
                &e.role.map(|r| r.as_str()),
                &e.via,
                &e.client,
                &e.action,
                &e.target,
                &e.params,
                &status,
                &e.outcome.result.as_str(),
                &e.outcome.detail,
                &e.prev_hash,
                &e.hash,
            ],
        )
        .await
        .map_err(fail)?;
        prev = e.hash.clone();
        sealed.push(e);
    }
    tx.commit().await.map_err(fail)?;
    Ok(sealed)
}

/// Reads the trail on one connection, kept between reads (the Audit page
/// and the verifier are rare readers; they take turns on it).
#[derive(Clone)]
pub struct PgReader {
    url: PgUrl,
    link: Arc<Mutex<Option<PgLink>>>,
}

impl PgReader {
    pub fn new(url: PgUrl) -> PgReader {
        PgReader {
            url,
            link: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` on the connection, opening it if need be; reads only (the
    /// schema is checked, never migrated). `Ok(None)`: no trail yet.
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut PgLink) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut held = self.link.lock().await;
        if held.as_ref().is_none_or(|l| l.is_closed()) {
            *held = Some(within(&self.url, PgLink::connect(&self.url)).await?);
        }
        let Some(link) = held.as_mut() else {
            return Err(StoreError::Stopped);
        };
        let location = link.location().to_string();
        let fail = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let present: bool = within(&self.url, async {
            link.client()
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&AUDIT_TABLE])
                .await
                .map_err(fail)
        })
        .await?
        .get(0);
        if !present {
            return Ok(None);
        }
        let version: Option<i64> = within(&self.url, async {
            link.client()
                .query_one("SELECT max(version)::bigint FROM celadon_schema", &[])
                .await
                .map_err(fail)
        })
        .await?
        .get(0);
        if let Some(found) = version.filter(|v| *v > PG_SCHEMA_VERSION) {
            return Err(StoreError::Newer {
                location,
                found,
                known: PG_SCHEMA_VERSION,
            });
        }
        within(&self.url, f(link)).await.map(Some)
    }

    pub async fn page(&self, q: &Query) -> Result<Vec<Entry>, StoreError> {
        let rows = self
            .with(async |link: &mut PgLink| {
                let location = link.location().to_string();
                let (sql, args) = page_sql(q);
                let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_sql()).collect();
                link.client()
                    .query(&sql, &params)
                    .await
                    .map_err(|source| StoreError::Postgres { location, source })
            })
            .await?;
        Ok(rows
            .unwrap_or_default()
            .iter()
            .map(|r| read(r).into_entry())
            .collect())
    }

    pub async fn verify(&self) -> Result<(u64, Option<Broken>), StoreError> {
        let verified = self
            .with(async |link: &mut PgLink| {
                let location = link.location().to_string();
                let mut v = Verifier::default();
                let mut after = 0i64;
                loop {
                    let rows = link
                        .client()
                        .query(
                            &format!(
                                "SELECT {COLUMNS} FROM {AUDIT_TABLE} WHERE seq > $1 ORDER BY seq \
                                 LIMIT $2"
                            ),
                            &[&after, &VERIFY_PAGE],
                        )
                        .await
                        .map_err(|source| StoreError::Postgres {
                            location: location.clone(),
                            source,
                        })?;
                    for row in &rows {
                        after = row.get(0);
                        v.feed(&read(row).into_entry());
                    }
                    if (rows.len() as i64) < VERIFY_PAGE {
                        return Ok(v.finish());
                    }
                }
            })
            .await?;
        Ok(verified.unwrap_or((0, None)))
    }
}

/// A page's parameter: text or a number.
enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Arg::Text(s) => s,
            Arg::Int(n) => n,
        }
    }
}

fn page_sql(q: &Query) -> (String, Vec<Arg>) {
    let mut wheres = Vec::new();
    let mut args = Vec::new();
    let mut arg = |v: Arg| {
        args.push(v);
        format!("${}", args.len())
    };
    if let Some(who) = &q.who {
        wheres.push(format!("who = {}", arg(Arg::Text(who.clone()))));
    }
    if let Some(action) = &q.action {
        let a = arg(Arg::Text(action.clone()));
        let under = arg(Arg::Text(format!("{action}.")));
        wheres.push(format!("(action = {a} OR starts_with(action, {under}))"));
    }
    if let Some(target) = &q.target {
        wheres.push(format!("target = {}", arg(Arg::Text(target.clone()))));
    }
    if let Some(since) = q.since {
        wheres.push(format!("at >= {}", arg(Arg::Int(since))));
    }
    if let Some(until) = q.until {
        wheres.push(format!("at <= {}", arg(Arg::Int(until))));
    }
    if let Some(before) = q.before {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        wheres.push(format!("seq < {}", arg(Arg::Int(before))));
    }
    let limit = arg(Arg::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
    let offset = arg(Arg::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    let filter = match wheres.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", wheres.join(" AND ")),
    };
    (
        format!(
            "SELECT {COLUMNS} FROM {AUDIT_TABLE} {filter} ORDER BY seq DESC LIMIT {limit} \
             OFFSET {offset}"
        ),
        args,
    )
}

fn read(r: &Row) -> RawEntry {
    RawEntry {
        seq: r.try_get(0).unwrap_or(-1),
        at: r.try_get(1).unwrap_or(-1),
        who: r.try_get(2).unwrap_or_default(),
        role: r.try_get(3).unwrap_or_default(),
        via: r.try_get(4).unwrap_or_default(),
        client: r.try_get(5).unwrap_or_default(),
        action: r.try_get(6).unwrap_or_default(),
        target: r.try_get(7).unwrap_or_default(),
        params: r.try_get(8).unwrap_or_default(),
        status: r.try_get::<_, i32>(9).map_or(-1, i64::from),
        result: r.try_get(10).unwrap_or_default(),
        detail: r.try_get(11).unwrap_or_default(),
        prev_hash: r.try_get(12).unwrap_or_default(),
        hash: r.try_get(13).unwrap_or_default(),
    }
}
