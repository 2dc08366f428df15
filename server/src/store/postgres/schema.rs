//! The history's tables in PostgreSQL and their versions. Every replica
//! runs [`migrate`] when it connects: in one transaction, under a
//! transaction-level advisory lock (two replicas starting together
//! migrate one after the other), it reads the version from
//! [`VERSION_TABLE`] and applies each migration past it. A database whose
//! version is newer than [`MIGRATIONS`] knows, or that holds our tables
//! without the version table, is refused: nothing is written to it.
//!
//! A new schema is a new entry at the end of [`MIGRATIONS`] (never an edit
//! of an old one): a database at version N gets entries N.. in order.

use tokio_postgres::Client;

/// The table holding the schema's version (one row).
pub const VERSION_TABLE: &str = "celadon_schema";
pub const TASKS_TABLE: &str = "celadon_tasks";
pub const MODEL_TABLE: &str = "celadon_model";
pub const AUDIT_TABLE: &str = "celadon_audit";
pub const ALERT_HISTORY_TABLE: &str = "celadon_alert_history";
pub const ALERT_RULES_TABLE: &str = "celadon_alert_rules";
pub const ALERT_WEBHOOKS_TABLE: &str = "celadon_alert_webhooks";

/// Our tables but the version's: finding one of these without
/// [`VERSION_TABLE`] means someone else's tables, or ours damaged.
const OUR_TABLES: [&str; 6] = [
    TASKS_TABLE,
    MODEL_TABLE,
    AUDIT_TABLE,
    ALERT_HISTORY_TABLE,
    ALERT_RULES_TABLE,
    ALERT_WEBHOOKS_TABLE,
];

/// Advisory lock key held while migrating ("celadon" and 2; the writer's
/// lock is 1, see `store::postgres`).
const MIGRATE_LOCK: i64 = 0x6365_6c61_646f_6e02;

/// Version N is reached by applying `MIGRATIONS[N - 1]`.
pub const MIGRATIONS: [&str; 3] = [V1, V2, V3];

/// The schema version this build writes and reads.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: the tasks, keyed by id, with the store's sequence for a
/// stable cursor; an index per filter a history page applies, each ending
/// in `(at, seq)` so a page is read in index order; `words`, the distinct
/// words of args and kwargs (see `rows::words`), in a GIN index; the
/// model's other state by name.
const V1: &str = "
CREATE TABLE celadon_tasks (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    at double precision NOT NULL,
    state text NOT NULL,
    name text, worker text, queue text, exchange text, routing_key text,
    sent double precision, received double precision, started double precision,
    succeeded double precision, failed double precision, retried double precision,
    revoked double precision, rejected double precision, timestamp double precision,
    runtime double precision, retries bigint, clock bigint NOT NULL, flags smallint NOT NULL,
    seen integer NOT NULL, seen_attempt bigint NOT NULL, signum smallint,
    root_id text, parent_id text, children text,
    args text, kwargs text, result text, exception text, traceback text,
    eta text, expires text, client text,
    words text[] NOT NULL
);
CREATE INDEX celadon_tasks_at ON celadon_tasks (at, seq);
CREATE INDEX celadon_tasks_state_at ON celadon_tasks (state, at, seq);
CREATE INDEX celadon_tasks_name_at ON celadon_tasks (name, at, seq);
CREATE INDEX celadon_tasks_worker_at ON celadon_tasks (worker, at, seq);
CREATE INDEX celadon_tasks_words ON celadon_tasks USING gin (words);
CREATE TABLE celadon_model (
    name text PRIMARY KEY,
    saved_at double precision NOT NULL,
    data bytea NOT NULL
);
";

/// Version 2: the audit trail (`audit::trail`), one row per entry keyed
/// by its place in the chain; never updated, never pruned. Every replica
/// appends to it, one at a time (`AUDIT_LOCK`).
const V2: &str = "
CREATE TABLE celadon_audit (
    seq bigint PRIMARY KEY,
    at bigint NOT NULL,
    who text NOT NULL, role text, via text NOT NULL, client text NOT NULL,
    action text NOT NULL, target text, params text NOT NULL,
    status integer NOT NULL, result text NOT NULL, detail text NOT NULL,
    prev_hash text NOT NULL, hash text NOT NULL
);
CREATE INDEX celadon_audit_at ON celadon_audit (at);
";

/// Version 3: the alerts (`alerts::trail`): each firing from start to
/// end, and the rules (as their JSON) and webhooks added on the Alerts
/// page, shared by the replicas.
const V3: &str = "
CREATE TABLE celadon_alert_history (
    id text PRIMARY KEY,
    rule text NOT NULL, severity text NOT NULL,
    subject_kind text NOT NULL, subject text NOT NULL,
    summary text NOT NULL, link text NOT NULL,
    started double precision NOT NULL, ended double precision
);
CREATE INDEX celadon_alert_history_started ON celadon_alert_history (started);
CREATE TABLE celadon_alert_rules (
    name text PRIMARY KEY, spec text NOT NULL, updated double precision NOT NULL
);
CREATE TABLE celadon_alert_webhooks (
    name text PRIMARY KEY, url text NOT NULL, format text NOT NULL, secret text,
    updated double precision NOT NULL
);
";

/// What [`migrate`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// At [`PG_SCHEMA_VERSION`] now, after migrating from this version (0:
    /// a database without our tables).
    Ready { from: i64 },
    /// Written by a newer celadon.
    Newer(i64),
    /// Our table names without the version table.
    Unversioned(Vec<String>),
}

/// Brings the database to [`PG_SCHEMA_VERSION`], or says why it will not.
/// All or nothing: a refusal or an error rolls everything back.
pub async fn migrate(client: &mut Client) -> Result<Found, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    let versioned: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&VERSION_TABLE])
        .await?
        .get(0);
    let from = if versioned {
        let version: Option<i64> = tx
            .query_one(
                &format!("SELECT max(version)::bigint FROM {VERSION_TABLE}"),
                &[],
            )
            .await?
            .get(0);
        // A version table with no row is not one we left.
        let Some(version) = version else {
            return Ok(Found::Unversioned(vec![VERSION_TABLE.to_string()]));
        };
        version
    } else {
        let present: Vec<String> = tx
            .query(
                "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
                &[&OUR_TABLES.to_vec()],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !present.is_empty() {
            return Ok(Found::Unversioned(present));
        }
        tx.batch_execute(&format!(
            "CREATE TABLE {VERSION_TABLE} (version bigint NOT NULL); \
             INSERT INTO {VERSION_TABLE} VALUES (0);"
        ))
        .await?;
        0
    };
    if from > PG_SCHEMA_VERSION {
        return Ok(Found::Newer(from));
    }
    let start = usize::try_from(from).unwrap_or(0);
    for migration in &MIGRATIONS[start..] {
        tx.batch_execute(migration).await?;
    }
    if from < PG_SCHEMA_VERSION {
        tx.execute(
            &format!("UPDATE {VERSION_TABLE} SET version = $1"),
            &[&PG_SCHEMA_VERSION],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Found::Ready { from })
}
