//! Where alerts are kept: each firing from start to end
//! (`alert_history`), and the rules and webhooks added on the Alerts page
//! (`alert_rules`, `alert_webhooks`), in the history store's database
//! (SQLite schema version 3, PostgreSQL migration 3, beside the audit
//! trail's tables) or, without a store, in memory: the newest
//! [`MEMORY_ALERTS`] firings, and the page's rules and webhooks until the
//! process ends.
//!
//! A rule is stored as its JSON (`wire::alerts::RuleSpec`, the shape the
//! page sends and the file is read into) and checked again when read
//! back. A webhook's secret is stored so deliveries can sign with it; it
//! is never read back out to anyone but the notifier.

use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::wire::alerts::{Alert, RuleSpec, Severity, SubjectKind, WebhookFormat, WebhookSpec};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::store::{
    ALERT_HISTORY_TABLE, ALERT_RULES_TABLE, ALERT_WEBHOOKS_TABLE, Location, PgLink, PgUrl,
    StoreError, open_beside,
};

/// Firings the memory ring keeps; past it the oldest go.
pub const MEMORY_ALERTS: usize = 1_000;

/// Open firings read back at start (a restart's alerts that may still
/// fire): at most this many.
pub const MAX_OPEN: usize = 10_000;

/// The longest page of history one read returns.
pub const MAX_HISTORY_PAGE: usize = 500;

/// How long an SQLite statement waits for the store's writer, and a
/// PostgreSQL round trip may take.
const TIMEOUT: Duration = Duration::from_secs(10);

const COLUMNS: &str = "id, rule, severity, subject_kind, subject, summary, link, started, ended";

/// What is kept in memory without a store.
#[derive(Default)]
pub struct Memory {
    history: VecDeque<Alert>,
    rules: BTreeMap<String, RuleSpec>,
    webhooks: BTreeMap<String, WebhookSpec>,
}

/// The alerts' store. Cheap to clone.
#[derive(Clone)]
pub enum AlertStore {
    Sqlite(PathBuf),
    Postgres {
        url: PgUrl,
        link: Arc<tokio::sync::Mutex<Option<PgLink>>>,
    },
    Memory(Arc<Mutex<Memory>>),
}

fn severity(s: &str) -> Severity {
    match s {
        "info" => Severity::Info,
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    }
}

fn format_of(s: &str) -> WebhookFormat {
    match s {
        "slack" => WebhookFormat::Slack,
        _ => WebhookFormat::Generic,
    }
}

fn format_name(f: WebhookFormat) -> &'static str {
    match f {
        WebhookFormat::Generic => "generic",
        WebhookFormat::Slack => "slack",
    }
}

fn sqlite_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        rule: r.get(1)?,
        severity: severity(&r.get::<_, String>(2)?),
        subject_kind: SubjectKind::parse(&r.get::<_, String>(3)?).unwrap_or(SubjectKind::Cluster),
        subject: r.get(4)?,
        summary: r.get(5)?,
        link: r.get(6)?,
        started: r.get(7)?,
        ended: r.get(8)?,
    })
}

fn pg_alert(r: &tokio_postgres::Row) -> Alert {
    Alert {
        id: r.get(0),
        rule: r.get(1),
        severity: severity(r.get(2)),
        subject_kind: SubjectKind::parse(r.get(3)).unwrap_or(SubjectKind::Cluster),
        subject: r.get(4),
        summary: r.get(5),
        link: r.get(6),
        started: r.get(7),
        ended: r.get(8),
    }
}

/// A rule read back: one that no longer parses is skipped and logged.
fn rule_of(name: &str, json: &str) -> Option<RuleSpec> {
    match serde_json::from_str(json) {
        Ok(spec) => Some(spec),
        Err(error) => {
            tracing::warn!(rule = name, %error, "a stored alert rule cannot be read; it is skipped");
            None
        }
    }
}

impl AlertStore {
    /// The store beside the history at `location`, or memory.
    pub fn open(location: Option<&Location>) -> AlertStore {
        match location {
            None => AlertStore::Memory(Arc::default()),
            Some(Location::Sqlite(path)) => AlertStore::Sqlite(path.clone()),
            Some(Location::Postgres(url)) => AlertStore::Postgres {
                url: url.clone(),
                link: Arc::default(),
            },
        }
    }

    /// Whether alerts outlive the process.
    pub fn persisted(&self) -> bool {
        !matches!(self, AlertStore::Memory(_))
    }

    async fn sqlite<T: Send + 'static>(
        path: &std::path::Path,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let fail = |e| StoreError::at(&path, e);
            let mut conn = open_beside(&path, TIMEOUT)?;
            f(&mut conn).map_err(fail)
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }

    async fn pg<T>(
        url: &PgUrl,
        link: &tokio::sync::Mutex<Option<PgLink>>,
        f: impl AsyncFnOnce(&mut tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let location = url.masked().to_string();
        let run = async {
            let mut held = link.lock().await;
            if held.as_ref().is_none_or(|l| l.is_closed()) {
                let mut l = PgLink::connect(url).await?;
                l.migrate().await?;
                *held = Some(l);
            }
            let Some(l) = held.as_mut() else {
                return Err(StoreError::Stopped);
            };
            let location = l.location().to_string();
            f(l.client())
                .await
                .map_err(|source| StoreError::Postgres { location, source })
        };
        tokio::time::timeout(TIMEOUT, run)
            .await
            .map_err(|_| StoreError::Timeout {
                location,
                after: TIMEOUT,
            })?
    }

    /// Writes each alert as it now is (a firing, or its end).
    pub async fn record(&self, alerts: Vec<Alert>) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    let tx = conn.transaction()?;
                    {
                        let mut put = tx.prepare_cached(
                            "INSERT INTO alert_history (id, rule, severity, subject_kind, \
                             subject, summary, link, started, ended) VALUES (?1, ?2, ?3, ?4, ?5, \
                             ?6, ?7, ?8, ?9) ON CONFLICT(id) DO UPDATE SET ended = excluded.ended",
                        )?;
                        for a in &alerts {
                            put.execute(rusqlite::params![
                                a.id,
                                a.rule,
                                a.severity.as_str(),
                                a.subject_kind.as_str(),
                                a.subject,
                                a.summary,
                                a.link,
                                a.started,
                                a.ended
                            ])?;
                        }
                    }
                    tx.commit()
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                Self::pg(url, link, async |c| {
                    let tx = c.transaction().await?;
                    let put = tx
                        .prepare(&format!(
                            "INSERT INTO {ALERT_HISTORY_TABLE} ({COLUMNS}) VALUES ($1, $2, $3, \
                             $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET ended = \
                             excluded.ended"
                        ))
                        .await?;
                    for a in &alerts {
                        tx.execute(
                            &put,
                            &[
                                &a.id,
                                &a.rule,
                                &a.severity.as_str(),
                                &a.subject_kind.as_str(),
                                &a.subject,
                                &a.summary,
                                &a.link,
                                &a.started,
                                &a.ended,
                            ],
                        )
                        .await?;
                    }
                    tx.commit().await
                })
                .await
            }
            AlertStore::Memory(m) => {
                let Ok(mut m) = m.lock() else {
                    return Err(StoreError::Stopped);
                };
                for a in alerts {
                    if let Some(old) = m.history.iter_mut().find(|o| o.id == a.id) {
                        old.ended = a.ended;
                    } else {
                        if m.history.len() == MEMORY_ALERTS {
                            m.history.pop_front();
                        }
                        m.history.push_back(a);
                    }
                }
                Ok(())
            }
        }
    }

    /// Firings not ended (a previous run's, at start).
    pub async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let limit = MAX_OPEN as i64;
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    let mut q = conn.prepare(&format!(
                        "SELECT {COLUMNS} FROM alert_history WHERE ended IS NULL ORDER BY \
                         started LIMIT ?1"
                    ))?;
                    let rows = q.query_map([limit], sqlite_alert)?;
                    rows.collect()
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                Self::pg(url, link, async |c| {
                    let rows = c
                        .query(
                            &format!(
                                "SELECT {COLUMNS} FROM {ALERT_HISTORY_TABLE} WHERE ended IS NULL \
                                 ORDER BY started LIMIT $1"
                            ),
                            &[&limit],
                        )
                        .await?;
                    Ok(rows.iter().map(pg_alert).collect())
                })
                .await
            }
            AlertStore::Memory(m) => Ok(m
                .lock()
                .map(|m| {
                    m.history
                        .iter()
                        .filter(|a| a.ended.is_none())
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()),
        }
    }

    /// The newest firings that started before `before` (all, without
    /// it), newest first, at most `limit` (cut to [`MAX_HISTORY_PAGE`]).
    pub async fn history(
        &self,
        limit: usize,
        before: Option<f64>,
    ) -> Result<Vec<Alert>, StoreError> {
        let limit = limit.min(MAX_HISTORY_PAGE);
        let before = before.unwrap_or(f64::INFINITY);
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    let mut q = conn.prepare(&format!(
                        "SELECT {COLUMNS} FROM alert_history WHERE started < ?1 ORDER BY started \
                         DESC, id DESC LIMIT ?2"
                    ))?;
                    let rows =
                        q.query_map(rusqlite::params![before, limit as i64], sqlite_alert)?;
                    rows.collect()
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                let limit = limit as i64;
                Self::pg(url, link, async |c| {
                    let rows = c
                        .query(
                            &format!(
                                "SELECT {COLUMNS} FROM {ALERT_HISTORY_TABLE} WHERE started < $1 \
                                 ORDER BY started DESC, id DESC LIMIT $2"
                            ),
                            &[&before, &limit],
                        )
                        .await?;
                    Ok(rows.iter().map(pg_alert).collect())
                })
                .await
            }
            AlertStore::Memory(m) => Ok(m
                .lock()
                .map(|m| {
                    let mut v: Vec<Alert> = m
                        .history
                        .iter()
                        .filter(|a| a.started < before)
                        .cloned()
                        .collect();
                    v.sort_by(|a, b| b.started.total_cmp(&a.started).then(b.id.cmp(&a.id)));
                    v.truncate(limit);
                    v
                })
                .unwrap_or_default()),
        }
    }

    /// The rules added on the Alerts page, by name.
    pub async fn rules(&self) -> Result<Vec<RuleSpec>, StoreError> {
        match self {
            AlertStore::Sqlite(path) => {
                let rows: Vec<(String, String)> = Self::sqlite(path, |conn| {
                    let mut q = conn.prepare("SELECT name, spec FROM alert_rules ORDER BY name")?;
                    let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect()
                })
                .await?;
                Ok(rows.iter().filter_map(|(n, j)| rule_of(n, j)).collect())
            }
            AlertStore::Postgres { url, link } => {
                let rows = Self::pg(url, link, async |c| {
                    c.query(
                        &format!("SELECT name, spec FROM {ALERT_RULES_TABLE} ORDER BY name"),
                        &[],
                    )
                    .await
                })
                .await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| rule_of(r.get(0), r.get(1)))
                    .collect())
            }
            AlertStore::Memory(m) => Ok(m
                .lock()
                .map(|m| m.rules.values().cloned().collect())
                .unwrap_or_default()),
        }
    }

    /// Adds or replaces a page rule.
    pub async fn put_rule(&self, spec: &RuleSpec, now: f64) -> Result<(), StoreError> {
        let json = serde_json::to_string(spec).unwrap_or_default();
        let name = spec.name.clone();
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    conn.execute(
                        "INSERT INTO alert_rules (name, spec, updated) VALUES (?1, ?2, ?3) ON \
                         CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated = \
                         excluded.updated",
                        rusqlite::params![name, json, now],
                    )
                    .map(drop)
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                Self::pg(url, link, async |c| {
                    c.execute(
                        &format!(
                            "INSERT INTO {ALERT_RULES_TABLE} (name, spec, updated) VALUES ($1, \
                             $2, $3) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, \
                             updated = excluded.updated"
                        ),
                        &[&name, &json, &now],
                    )
                    .await
                    .map(drop)
                })
                .await
            }
            AlertStore::Memory(m) => {
                if let Ok(mut m) = m.lock() {
                    m.rules.insert(name, spec.clone());
                }
                Ok(())
            }
        }
    }

    /// Deletes a page rule; whether there was one.
    pub async fn delete_rule(&self, name: &str) -> Result<bool, StoreError> {
        self.delete("alert_rules", ALERT_RULES_TABLE, name, |m, n| {
            m.rules.remove(n).is_some()
        })
        .await
    }

    /// Deletes a page webhook; whether there was one.
    pub async fn delete_webhook(&self, name: &str) -> Result<bool, StoreError> {
        self.delete("alert_webhooks", ALERT_WEBHOOKS_TABLE, name, |m, n| {
            m.webhooks.remove(n).is_some()
        })
        .await
    }

    async fn delete(
        &self,
        sqlite_table: &'static str,
        pg_table: &'static str,
        name: &str,
        memory: impl FnOnce(&mut Memory, &str) -> bool,
    ) -> Result<bool, StoreError> {
        let name = name.to_string();
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    conn.execute(
                        &format!("DELETE FROM {sqlite_table} WHERE name = ?1"),
                        [&name],
                    )
                    .map(|n| n > 0)
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                Self::pg(url, link, async |c| {
                    c.execute(&format!("DELETE FROM {pg_table} WHERE name = $1"), &[&name])
                        .await
                        .map(|n| n > 0)
                })
                .await
            }
            AlertStore::Memory(m) => {
                Ok(m.lock().map(|mut m| memory(&mut m, &name)).unwrap_or(false))
            }
        }
    }

    /// The webhooks added on the Alerts page, secrets inline.
    pub async fn webhooks(&self) -> Result<Vec<WebhookSpec>, StoreError> {
        let make =
            |name: String, url: String, format: String, secret: Option<String>| WebhookSpec {
                name,
                url,
                format: format_of(&format),
                secret,
                secret_env: None,
            };
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    let mut q = conn.prepare(
                        "SELECT name, url, format, secret FROM alert_webhooks ORDER BY name",
                    )?;
                    let rows =
                        q.query_map([], |r| Ok(make(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                    rows.collect()
                })
                .await
            }
            AlertStore::Postgres { url, link } => {
                let rows = Self::pg(url, link, async |c| {
                    c.query(
                        &format!(
                            "SELECT name, url, format, secret FROM {ALERT_WEBHOOKS_TABLE} ORDER \
                             BY name"
                        ),
                        &[],
                    )
                    .await
                })
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| make(r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect())
            }
            AlertStore::Memory(m) => Ok(m
                .lock()
                .map(|m| m.webhooks.values().cloned().collect())
                .unwrap_or_default()),
        }
    }

    /// The secret a page webhook has now (kept when an edit gives none).
    pub async fn webhook_secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .webhooks()
            .await?
            .into_iter()
            .find(|w| w.name == name)
            .and_then(|w| w.secret))
    }

    /// Adds or replaces a page webhook (`secret` as it is to be kept).
    pub async fn put_webhook(
        &self,
        name: &str,
        url: &str,
        format: WebhookFormat,
        secret: Option<String>,
        now: f64,
    ) -> Result<(), StoreError> {
        let (name, url, format) = (name.to_string(), url.to_string(), format_name(format));
        match self {
            AlertStore::Sqlite(path) => {
                Self::sqlite(path, move |conn| {
                    conn.execute(
                        "INSERT INTO alert_webhooks (name, url, format, secret, updated) VALUES \
                         (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET url = excluded.url, \
                         format = excluded.format, secret = excluded.secret, updated = \
                         excluded.updated",
                        rusqlite::params![name, url, format, secret, now],
                    )
                    .map(drop)
                })
                .await
            }
            AlertStore::Postgres { url: pg, link } => {
                Self::pg(pg, link, async |c| {
                    c.execute(
                        &format!(
                            "INSERT INTO {ALERT_WEBHOOKS_TABLE} (name, url, format, secret, \
                             updated) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE \
                             SET url = excluded.url, format = excluded.format, secret = \
                             excluded.secret, updated = excluded.updated"
                        ),
                        &[&name, &url, &format, &secret, &now],
                    )
                    .await
                    .map(drop)
                })
                .await
            }
            AlertStore::Memory(m) => {
                if let Ok(mut m) = m.lock() {
                    m.webhooks.insert(
                        name.clone(),
                        WebhookSpec {
                            name,
                            url,
                            format: format_of(format),
                            secret,
                            secret_env: None,
                        },
                    );
                }
                Ok(())
            }
        }
    }
}

/// Whether the SQLite file at `path` has the alerts' tables (a test
/// helper's question, and the migration's proof).
pub fn sqlite_has_tables(path: &std::path::Path) -> rusqlite::Result<bool> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row(
        "SELECT name FROM sqlite_master WHERE name = 'alert_history'",
        [],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map(|n| n.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SCHEMA_VERSION;
    use app::wire::alerts::RuleKind;

    fn alert(id: &str, started: f64, ended: Option<f64>) -> Alert {
        Alert {
            id: id.into(),
            rule: "r".into(),
            severity: Severity::Critical,
            subject_kind: SubjectKind::Worker,
            subject: "celery@a".into(),
            summary: "worker celery@a offline for 61 s".into(),
            link: "/worker/celery%40a".into(),
            started,
            ended,
        }
    }

    async fn round_trip(store: AlertStore) {
        store
            .record(vec![alert("a-1", 10.0, None), alert("a-2", 20.0, None)])
            .await
            .unwrap();
        store
            .record(vec![alert("a-1", 10.0, Some(30.0))])
            .await
            .unwrap();
        assert_eq!(
            store.open_alerts().await.unwrap(),
            vec![alert("a-2", 20.0, None)]
        );
        assert_eq!(
            store.history(10, None).await.unwrap(),
            vec![alert("a-2", 20.0, None), alert("a-1", 10.0, Some(30.0))]
        );
        assert_eq!(
            store.history(10, Some(20.0)).await.unwrap(),
            vec![alert("a-1", 10.0, Some(30.0))]
        );
        let spec = RuleSpec {
            after: Some("60s".into()),
            ..RuleSpec::new("down", RuleKind::WorkerOffline)
        };
        store.put_rule(&spec, 1.0).await.unwrap();
        assert_eq!(store.rules().await.unwrap(), vec![spec]);
        assert!(store.delete_rule("down").await.unwrap());
        assert!(!store.delete_rule("down").await.unwrap());
        store
            .put_webhook(
                "ops",
                "http://h/x",
                WebhookFormat::Slack,
                Some("s".into()),
                1.0,
            )
            .await
            .unwrap();
        assert_eq!(
            store.webhook_secret("ops").await.unwrap().as_deref(),
            Some("s")
        );
        assert_eq!(
            store.webhooks().await.unwrap()[0].format,
            WebhookFormat::Slack
        );
        assert!(store.delete_webhook("ops").await.unwrap());
        assert!(store.webhooks().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sqlite_and_memory_keep_the_same() {
        round_trip(AlertStore::Memory(Arc::default())).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(crate::store::sqlite_for_tests(&path));
        round_trip(AlertStore::Sqlite(path)).await;
    }

    #[test]
    fn a_version_2_history_gains_the_alerts_tables_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        drop(crate::store::sqlite_for_tests(&path));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE alert_history; DROP TABLE alert_rules; DROP TABLE alert_webhooks; \
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(conn);
        assert!(!sqlite_has_tables(&path).unwrap());
        drop(crate::store::sqlite_for_tests(&path));
        assert!(sqlite_has_tables(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}
