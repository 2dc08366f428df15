//! History in a real PostgreSQL 15 (the kit's, one server per test binary,
//! a fresh database per test): rows come back field by field and pages
//! match the SQLite store's; a newer or foreign schema is refused and left
//! as it was; two celadon binaries on one database and one Redis with
//! real workers, the writer killed mid-stream and the standby taking over
//! with every task written once in its final state; and PostgreSQL down at
//! start and stopped under a running celadon, which keeps serving and
//! writes everything once it is back.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use kit::{
    CeladonBinary, Postgres, Redis, Scratch, Worker, WorkerOptions, celadon::Celadon,
    celery::WORKER_START,
};
use serde_json::Value;
use server::store::{
    self, Batch, HistoryConfig, Location, PagedQuery, PgUrl, Reader, Role, Status, StoreError,
    TaskOrder, TaskRow,
};

use crate::support::http::Http;

mod sample {
    use server::store::TaskRow;
    include!("../../src/store/sample.rs");
}
use sample::row;

/// How long a standby may take to write after the writer is killed.
const TAKEOVER: Duration = Duration::from_secs(10);

/// How long sent tasks may take to be run and written, on a busy machine.
const WRITTEN: Duration = Duration::from_secs(120);

impl Http for CeladonBinary {
    fn url(&self, path: &str) -> String {
        CeladonBinary::url(self, path)
    }
}

fn config(location: Location) -> HistoryConfig {
    HistoryConfig {
        location,
        save_interval: Duration::from_millis(200),
        retention: None,
        max_size: None,
    }
}

fn pg_location(url: &str) -> Location {
    Location::Postgres(PgUrl::parse(url).expect("the kit's URL parses"))
}

struct Opened {
    writer: store::Writer,
    thread: store::WriterThread,
    reader: Reader,
    loaded: store::Loaded,
    status: Arc<Status>,
}

async fn open(location: Location, limit: usize) -> Result<Opened, StoreError> {
    open_with(config(location), limit).await
}

async fn open_with(config: HistoryConfig, limit: usize) -> Result<Opened, StoreError> {
    let status = Arc::new(Status::new(config.location.describe()));
    let (writer, thread, reader, loaded) = store::open(&config, limit, status.clone()).await?;
    Ok(Opened {
        writer,
        thread,
        reader,
        loaded,
        status,
    })
}

impl Opened {
    /// Waits until this store has `role` (the server ends a closed
    /// session, and frees its lock, a moment after the client goes).
    async fn until_role(&self, role: Role) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.status.get().role != role {
            assert!(
                std::time::Instant::now() < deadline,
                "still {:?}, not {role:?}",
                self.status.get().role
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn write(&self, tasks: Vec<TaskRow>, rest: Option<Vec<u8>>) {
        self.writer
            .write(Batch {
                at: 1.0,
                tasks,
                rest,
            })
            .await
            .expect("the batch is written");
    }

    async fn close(self) {
        drop(self.writer);
        self.thread.join().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_back_from_postgres_field_by_field_after_reopening() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("history_round_trip").unwrap();
    let db = open(pg_location(&url), 10).await.unwrap();
    assert_eq!(db.status.get().role, Role::Writer);
    assert!(db.status.get().available);
    assert_eq!(db.loaded, store::Loaded::default());
    db.write((0..50).map(row).collect(), None).await;
    let mut changed = row(7);
    changed.state = "SUCCESS".into();
    changed.text[2] = Some("{'total': 3}".into());
    // A task listed twice in one batch is written as listed last.
    let mut first = row(9);
    first.state = "STARTED".into();
    let mut nul = row(11);
    nul.text[0] = Some("('a\0b',)".into());
    db.write(
        vec![first, changed.clone(), row(9), nul],
        Some(vec![1, 2, 3]),
    )
    .await;
    db.close().await;

    let db = open(pg_location(&url), 10).await.unwrap();
    assert_eq!(db.loaded.stored, 50, "an update is not a second task");
    let expected: Vec<TaskRow> = (40..50).rev().map(row).collect();
    assert_eq!(db.loaded.tasks, expected);
    assert_eq!(db.loaded.rest, Some(vec![1, 2, 3]));
    assert_eq!(db.status.get().loaded_tasks, 10);
    assert_eq!(
        db.reader.task(changed.id.clone()).await.unwrap(),
        Some(changed)
    );
    assert_eq!(db.reader.task(row(9).id).await.unwrap(), Some(row(9)));
    let stored_nul = db.reader.task(row(11).id).await.unwrap().unwrap();
    assert_eq!(stored_nul.text[0].as_deref(), Some("('a\u{FFFD}b',)"));
    assert_eq!(db.reader.task("no-such-task".into()).await.unwrap(), None);
    // The same database over its unix socket, while the first holds the
    // writer's lock: a standby, reading the same rows.
    db.until_role(Role::Writer).await;
    let socket = format!(
        "postgresql://postgres@/history_round_trip?host={}&port={}",
        pg.socket_dir().unwrap().display(),
        pg.port()
    );
    let standby = open(pg_location(&socket), 10).await.unwrap();
    assert_eq!(standby.status.get().role, Role::Standby);
    assert!(standby.writer.stands_by());
    assert_eq!(standby.loaded, db.loaded);
    assert_eq!(
        standby
            .writer
            .write(Batch::default())
            .await
            .unwrap_err()
            .to_string(),
        StoreError::Standby.to_string()
    );
    standby.close().await;
    assert_eq!(
        pg.sql("history_round_trip", "SELECT version FROM celadon_schema")
            .unwrap(),
        store::PG_SCHEMA_VERSION.to_string()
    );
    db.close().await;
}

fn query(order: TaskOrder, limit: usize) -> PagedQuery {
    PagedQuery {
        states: vec![],
        name: None,
        worker: None,
        from: None,
        to: None,
        words: None,
        order,
        after: None,
        limit,
    }
}

/// Every page of `q` from `reader`, following the cursor to the end.
async fn all_pages(reader: &Reader, q: &PagedQuery) -> Vec<TaskRow> {
    let mut got = Vec::new();
    let mut q = q.clone();
    loop {
        let page = reader.page(q.clone()).await.expect("a page");
        assert!(page.len() <= q.limit);
        got.extend(page.iter().map(|p| p.row.clone()));
        match page.last() {
            Some(last) => q.after = Some(last.cursor),
            None => return got,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pages_filter_order_continue_and_find_words_as_sqlite_does() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("history_pages").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<TaskRow> = (0..100).map(row).collect();
    let postgres = open(pg_location(&url), 0).await.unwrap();
    let sqlite = open(Location::Sqlite(dir.path().join("h.db")), 0)
        .await
        .unwrap();
    postgres.write(rows.clone(), None).await;
    sqlite.write(rows, None).await;

    let mut queries = Vec::new();
    for order in [TaskOrder::AtDesc, TaskOrder::AtAsc] {
        queries.push(query(order, 7));
        queries.push(PagedQuery {
            states: vec!["SUCCESS".into(), "FAILURE".into()],
            name: Some("tasks.t1".into()),
            from: Some(1_010.0),
            to: Some(1_090.0),
            ..query(order, 4)
        });
        queries.push(PagedQuery {
            worker: Some("w1@h".into()),
            states: vec!["PROGRESS".into()],
            ..query(order, 3)
        });
        for words in [
            "order-17",
            "c3",
            "CUSTOMER c7",
            "ValueError",
            "order 1",
            "()",
            "nothing",
        ] {
            queries.push(PagedQuery {
                words: Some(words.into()),
                ..query(order, 5)
            });
        }
    }
    for q in &queries {
        let from_pg = all_pages(&postgres.reader, q).await;
        let from_sqlite = all_pages(&sqlite.reader, q).await;
        assert_eq!(
            from_pg.iter().map(|r| &r.id).collect::<Vec<_>>(),
            from_sqlite.iter().map(|r| &r.id).collect::<Vec<_>>(),
            "{q:?}"
        );
        assert_eq!(from_pg, from_sqlite, "{q:?}");
    }
    // The words are those SQLite's tokenizer finds, as it folds them.
    let words = PagedQuery {
        words: Some("order-17".into()),
        ..query(TaskOrder::AtAsc, 10)
    };
    assert_eq!(all_pages(&postgres.reader, &words).await, [row(17)]);
    postgres.close().await;
    sqlite.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_past_its_retention_is_pruned_after_a_write() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("history_retention").unwrap();
    let db = open_with(
        HistoryConfig {
            retention: Some(Duration::from_secs(3600)),
            ..config(pg_location(&url))
        },
        100,
    )
    .await
    .unwrap();
    // Tasks 0..20 were received in 1970; 20..25 a minute ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let recent: Vec<TaskRow> = (20..25)
        .map(|i| {
            let mut r = row(i);
            r.times[1] = Some(now - 60.0 + f64::from(i));
            r.times[8] = Some(now - 59.0 + f64::from(i));
            r
        })
        .collect();
    db.write((0..20).map(row).chain(recent.clone()).collect(), None)
        .await;
    assert_eq!(db.status.get().tasks_pruned, 20);
    assert!(db.status.get().size_bytes > 0);
    db.close().await;
    let db = open(pg_location(&url), 100).await.unwrap();
    assert_eq!(
        db.loaded.tasks,
        recent.into_iter().rev().collect::<Vec<_>>()
    );
    db.close().await;
}

/// What a refusal must leave as it was: the tables, the version, the rows.
fn fingerprint(pg: &Postgres, db: &str) -> String {
    let tables = pg
        .sql(
            db,
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
             WHERE schemaname = 'public'",
        )
        .unwrap();
    let rows = pg
        .sql(
            db,
            "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) \
             FROM celadon_tasks t",
        )
        .unwrap();
    format!("{tables} {rows}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_or_unversioned_postgres_history_is_refused_and_left_as_it_is() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("history_newer").unwrap();
    let db = open(pg_location(&url), 0).await.unwrap();
    db.write((0..5).map(row).collect(), None).await;
    db.close().await;
    let newer = store::PG_SCHEMA_VERSION + 1;
    pg.sql(
        "history_newer",
        &format!("UPDATE celadon_schema SET version = {newer}"),
    )
    .unwrap();
    let before = fingerprint(&pg, "history_newer");
    let Err(error) = open(pg_location(&url), 10).await else {
        panic!("a newer history was opened");
    };
    assert!(
        matches!(error, StoreError::Newer { found, .. } if found == newer),
        "{error}"
    );
    assert!(error.to_string().contains("newer celadon"), "{error}");
    assert_eq!(fingerprint(&pg, "history_newer"), before);
    assert_eq!(
        pg.sql("history_newer", "SELECT version FROM celadon_schema")
            .unwrap(),
        newer.to_string()
    );

    // Our table names without the version table: someone else's tables,
    // or ours damaged. Neither is written to.
    let url = pg.database("history_unversioned").unwrap();
    pg.sql(
        "history_unversioned",
        "CREATE TABLE celadon_tasks (id text, note text); \
         INSERT INTO celadon_tasks VALUES ('a', 'theirs')",
    )
    .unwrap();
    let before = fingerprint(&pg, "history_unversioned");
    let Err(error) = open(pg_location(&url), 10).await else {
        panic!("an unversioned database was opened");
    };
    assert!(matches!(error, StoreError::Unversioned { .. }), "{error}");
    assert!(error.to_string().contains("celadon_tasks"), "{error}");
    assert_eq!(fingerprint(&pg, "history_unversioned"), before);
}

/// Every task in the database: id → (state, result); none while the
/// database is down or has no history yet.
fn stored(pg: &Postgres, db: &str) -> HashMap<String, (String, String)> {
    pg.sql(
        db,
        "SELECT id || '|' || state || '|' || coalesce(result, '') FROM celadon_tasks",
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| !l.is_empty())
    .map(|l| {
        let mut parts = l.splitn(3, '|');
        let id = parts.next().unwrap_or_default().to_string();
        let state = parts.next().unwrap_or_default().to_string();
        let result = parts.next().unwrap_or_default().to_string();
        (id, (state, result))
    })
    .collect()
}

/// Waits until every one of `ids` is stored as a `SUCCESS` with result 5
/// (`add(2, 3)`), and checks nothing else is.
async fn all_written(pg: &Postgres, db: &str, ids: &[String]) {
    let started = Instant::now();
    loop {
        let rows = stored(pg, db);
        let done = ids.iter().all(|id| {
            rows.get(id)
                .is_some_and(|(s, r)| s == "SUCCESS" && r == "5")
        });
        if done {
            assert_eq!(rows.len(), ids.len(), "only the tasks sent are stored");
            return;
        }
        if started.elapsed() > WRITTEN {
            let missing: Vec<_> = ids
                .iter()
                .filter(|id| rows.get(*id).is_none_or(|(s, _)| s != "SUCCESS"))
                .take(5)
                .collect();
            panic!(
                "{} of {} tasks written as SUCCESS after {WRITTEN:?}; missing e.g. {missing:?}",
                ids.iter().filter(|id| rows.contains_key(*id)).count(),
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn send_adds(redis: &Redis, count: usize) -> Vec<String> {
    kit::celery::send(redis, "add", "[2, 3]", &["--count", &count.to_string()])
        .expect("drive.py sends")
        .lines()
        .map(str::to_string)
        .collect()
}

async fn role(server: &impl Http, want: &str, deadline: Duration) -> Value {
    server
        .json_until(
            &format!("history's role to be {want}"),
            "/api/stats",
            deadline,
            |s| s["history"]["role"] == want,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_postgres_and_the_standby_takes_over_from_a_killed_writer() {
    let pg = Postgres::shared().unwrap();
    let url = pg.database("history_replicas").unwrap();
    let dir = Scratch::new().unwrap();
    let redis = Arc::new(Redis::start(&dir).unwrap());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_celadon"));
    let flags = [format!("--db={url}"), "--state-save-interval=200".into()];
    let (dir_a, dir_b) = (Scratch::new().unwrap(), Scratch::new().unwrap());
    let a = CeladonBinary::start(bin, &redis, &dir_a, &flags).unwrap();
    role(&a, "writer", Duration::from_secs(10)).await;
    let b = CeladonBinary::start(bin, &redis, &dir_b, &flags).unwrap();
    let stats = role(&b, "standby", Duration::from_secs(10)).await;
    assert_eq!(stats["history"]["available"], true, "{stats}");
    assert_eq!(stats["history"]["writing"], false, "{stats}");
    let _worker = Worker::start_with(
        &*redis,
        "w",
        &dir,
        &WorkerOptions {
            concurrency: 2,
            ..WorkerOptions::default()
        },
    )
    .unwrap();
    let mut ids = send_adds(&redis, 60);
    // The writer has written the first tasks (the worker is up).
    let started = Instant::now();
    while !stored(&pg, "history_replicas")
        .values()
        .any(|(s, _)| s == "SUCCESS")
    {
        assert!(started.elapsed() < WORKER_START, "nothing was written");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ids.extend(send_adds(&redis, 60));
    // Tasks keep coming while the writer dies and the standby takes over.
    let sending = tokio::task::spawn_blocking({
        let redis = redis.clone();
        move || {
            (0..3)
                .flat_map(|_| send_adds(&redis, 40))
                .collect::<Vec<_>>()
        }
    });
    let killed = Instant::now();
    drop(a);
    role(&b, "writer", TAKEOVER).await;
    let takeover = killed.elapsed();
    ids.extend(sending.await.unwrap());
    all_written(&pg, "history_replicas", &ids).await;
    eprintln!(
        "takeover after kill -9: {:.2} s; {} tasks all written once, as SUCCESS",
        takeover.as_secs_f64(),
        ids.len()
    );
    // What a takeover writes: everything the standby's model changed
    // since it started, all of which it had left in the model.
    let stats = b.json("/api/stats").await;
    assert_eq!(stats["history"]["writing"], true, "{stats}");
    let written = stats["history"]["rows_written"].as_u64().unwrap_or(0);
    assert!(written >= ids.len() as u64, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celadon_serves_through_postgres_outages_and_writes_everything_once_it_is_back() {
    let pg_dir = Scratch::new().unwrap();
    let mut pg = Postgres::start(&pg_dir).unwrap();
    let url = pg.database("history_outage").unwrap();
    // Down at start: celadon starts without history, keeping what changes.
    pg.stop().await.unwrap();
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let mut config = Celadon::config(redis.broker_url());
    config.history = Some(config_for(&url));
    let celadon = Celadon::start_with(config).await.unwrap();
    let stats = celadon
        .json_until(
            "history to be unavailable",
            "/api/stats",
            Duration::from_secs(10),
            |s| s["history"]["last_error"].is_string(),
        )
        .await;
    assert_eq!(stats["history"]["available"], false, "{stats}");
    assert_eq!(stats["history"]["role"], "unknown", "{stats}");
    let _worker = Worker::start(&redis, "w", &dir).unwrap();
    let mut ids = send_adds(&redis, 30);
    celadon_finished(&celadon, &ids).await;
    pg.restart(&pg_dir).unwrap();
    all_written(&pg, "history_outage", &ids).await;
    role(&celadon, "writer", Duration::from_secs(10)).await;

    // Stopped under a running celadon: live data goes on; what changed
    // meanwhile is written when it is back.
    pg.stop().await.unwrap();
    let more = send_adds(&redis, 30);
    celadon_finished(&celadon, &more).await;
    let stats = celadon
        .json_until(
            "history to say it is not written",
            "/api/stats",
            Duration::from_secs(10),
            |s| s["history"]["writing"] == false,
        )
        .await;
    assert!(stats["history"]["last_error"].is_string(), "{stats}");
    pg.restart(&pg_dir).unwrap();
    ids.extend(more);
    all_written(&pg, "history_outage", &ids).await;
    celadon
        .json_until(
            "history to be written again",
            "/api/stats",
            Duration::from_secs(10),
            |s| s["history"]["writing"] == true && s["history"]["available"] == true,
        )
        .await;
    celadon.stop().await.unwrap();
}

fn config_for(url: &str) -> HistoryConfig {
    config(pg_location(url))
}

/// Waits until celadon's live model shows every one of `ids` finished.
async fn celadon_finished(celadon: &Celadon, ids: &[String]) {
    celadon
        .json_until("tasks to finish", "/api/tasks", WRITTEN, |tasks| {
            ids.iter()
                .all(|id| tasks[id]["state"].as_str() == Some("SUCCESS"))
        })
        .await;
}
