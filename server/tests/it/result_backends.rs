//! Result backends beyond Redis, with real workers writing them: Celery's
//! database backend in PostgreSQL and in SQLite, and django-celery-results
//! (`django-db`) in the Django project's PostgreSQL, its database handed
//! over as `celery celadon` hands it. In each, the workers send no task
//! events, so celadon learns how a task ended only from the backend: after
//! the event stream is cut, it reconciles the task from there; and a
//! retry of the failed task carries exactly the arguments Celery sent.
//!
//! One PostgreSQL serves the tests that overlap ([`Postgres::shared`]),
//! each test in a database of its own.

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use serde_json::Value;

use kit::{Celadon, Postgres, Proc, Redis, Scratch, WorkerOptions, celery::WORKER_START};
use server::{Config, broker::backend::BackendUrl};

use crate::support::{cluster::Cluster, http::Http, watch::Watch};

const RUN: Duration = Duration::from_secs(30);

/// Arguments as Python's json writes them, which any re-serialisation
/// would change (key order, big integers, float spellings, escapes); the
/// kwargs ask `record` to fail.
const ARGS: &str = r#"[9007199254740993, 1e-07, 2.5e+300, "a\"b\\c\n\u0001", "h\u00e9llo \u2603"]"#;
const KWARGS: &str =
    r#"{"zkw": {"b": 1, "a": [{"d": 2, "c": 3}]}, "fail": true, "akw": {"y": [], "x": {}}}"#;
const NO_EMBED: &str = r#"{"callbacks": null, "errbacks": null, "chain": null, "chord": null}"#;

/// The messages waiting in list `key` of db `db`, oldest first, each as
/// `(task id, decoded body)`.
fn waiting(redis: &Redis, db: u32, key: &str) -> Vec<(String, Vec<u8>)> {
    let raw: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(&mut redis.connection_to(db).unwrap())
        .unwrap();
    raw.iter()
        .rev()
        .map(|m| {
            let envelope: Value = serde_json::from_slice(m).unwrap();
            let body = server::broker::envelope::decode_body(m).unwrap();
            let id = envelope["headers"]["id"].as_str().unwrap().to_string();
            (id, body)
        })
        .collect()
}

/// Cuts celadon's event subscription: the gap after which it reconciles.
fn cut_events(redis: &Redis, db: u32) {
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut redis.connection_to(db).unwrap())
        .unwrap();
}

/// Polls `/api/task/info/<id>` until `done` holds.
async fn task_until(
    celadon: &Celadon,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    celadon
        .json_until(what, &format!("/api/task/info/{id}"), RUN, done)
        .await
}

/// What the result backend holds for `id`, through celadon's API, once
/// the task has finished there.
async fn stored(celadon: &Celadon, id: &str, state: &str) -> Value {
    celadon
        .json_until(
            "the result backend to hold the task's end",
            &format!("/api/task/result/{id}"),
            RUN,
            |r| r["state"] == state,
        )
        .await
}

/// Celery's database backend at `worker_url` (as the workers spell it),
/// read by celadon at `celadon_url`: a failed task whose events were never
/// sent is reconciled after a gap, then retried with its exact arguments.
async fn database_backend_reconciles_and_retries(celadon_url: &str, worker_url: &str) {
    let mut c = Cluster::start_with(|config| {
        config.result_backend = Some(BackendUrl::parse(celadon_url).unwrap());
        // Nothing turns the workers' task events on.
        config.enable_events = false;
    })
    .await;
    let id = c.send("record", ARGS, &["--kwargs", KWARGS, "--queue", "raw"]);
    let sent = waiting(&c.redis, 0, "raw");
    assert_eq!(sent.len(), 1);
    let celery_body = sent[0].1.clone();
    assert_eq!(
        std::str::from_utf8(&celery_body),
        Ok(format!("[{ARGS}, {KWARGS}, {NO_EMBED}]").as_str()),
        "Celery wrote the arguments as given"
    );
    task_until(&c.celadon, &id, "the task-sent event", |t| {
        t["state"] == "PENDING"
    })
    .await;

    let quiet = WorkerOptions {
        events: false,
        queues: Some("raw".into()),
        backend: Some(worker_url.to_string()),
        ..WorkerOptions::default()
    };
    let (worker, host) = c.online_worker_with("db1", &quiet).await;
    let held = stored(&c.celadon, &id, "FAILURE").await;
    assert_eq!(held["result"]["exc_type"], "ValueError", "{held}");
    assert!(
        held["traceback"]
            .as_str()
            .is_some_and(|t| t.contains("failing as asked")),
        "{held}"
    );
    let before = c.celadon.json(&format!("/api/task/info/{id}")).await;
    assert_eq!(before["state"], "PENDING", "no task event came: {before}");

    cut_events(&c.redis, 0);
    let task = task_until(&c.celadon, &id, "reconciliation", |t| {
        t["state"] == "FAILURE"
    })
    .await;
    assert_eq!(task["worker"], host.as_str(), "{task}");
    assert_eq!(
        task["exception"], "ValueError('recorded; failing as asked')",
        "{task}"
    );
    worker.stop_warm().await.unwrap();

    // The retry waits in the list, where no worker takes it.
    let (status, answer) = c.celadon.post(&format!("/api/task/retry/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "result-backend", "{answer}");
    let new = answer["task-id"].as_str().unwrap().to_string();
    let now = waiting(&c.redis, 0, "raw");
    assert_eq!(now.len(), 1, "only the retry waits");
    assert_eq!(now[0].0, new);
    assert_eq!(
        std::str::from_utf8(&now[0].1),
        std::str::from_utf8(&celery_body),
        "the retry's body is the one Celery sent"
    );
    assert_eq!(now[0].1, celery_body);

    // A worker runs it with the same arguments.
    let (_again, _) = c.online_worker_with("db2", &quiet).await;
    stored(&c.celadon, &new, "FAILURE").await;
    let recorded = |task: &str| std::fs::read(c.dir.path().join(format!("{task}.json"))).unwrap();
    assert_eq!(
        recorded(&new),
        recorded(&id),
        "the retry's arguments differ"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celerys_database_backend_in_postgresql_reconciles_and_retries_exactly() {
    let pg = Postgres::shared().expect("PostgreSQL starts");
    let url = pg.database("celery_results").expect("a database");
    // celadon reads it as the workers name it (SQLAlchemy's driver too).
    database_backend_reconciles_and_retries(
        &format!(
            "db+{}",
            url.replacen("postgresql://", "postgresql+psycopg2://", 1)
        ),
        &format!("db+{url}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celerys_database_backend_in_sqlite_reconciles_and_retries_exactly() {
    let dir = Scratch::new().unwrap();
    let url = format!("db+sqlite:///{}", dir.path().join("results.db").display());
    database_backend_reconciles_and_retries(&url, &url).await;
}

/// Copies the Django project into `to` (Python writes its caches there).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The django-shop project with django-celery-results on database `url`,
/// in `dir`: how to run its Python.
struct Shop {
    home: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Shop {
    fn new(dir: &Scratch, redis: &Redis, url: &str) -> Shop {
        let home = dir.path().join("django-shop");
        copy_tree(&kit::repo_root().join("server/fixtures/django-shop"), &home);
        let pythonpath = format!(
            "{}:{}",
            home.display(),
            kit::repo_root().join("python").display()
        );
        let env = vec![
            ("PYTHONPATH", pythonpath),
            ("DJANGO_SETTINGS_MODULE", "shop.settings_results".into()),
            ("SHOP_REDIS", redis.socket().display().to_string()),
            ("SHOP_DATABASE", url.to_string()),
            ("SHOP_WORKER_EVENTS", "0".into()),
            ("PYTHONUNBUFFERED", "1".into()),
        ];
        Shop { home, env }
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(kit::venv().join("bin").join(tool));
        command
            .current_dir(&self.home)
            .envs(self.env.iter().cloned());
        command
    }

    /// Runs `tool args`, and gives what it printed.
    fn run(&self, tool: &str, args: &[&str]) -> String {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_celery_results_is_found_through_the_django_project_and_read() {
    let pg = Postgres::shared().expect("PostgreSQL starts");
    let url = pg.database("shop").expect("a database");
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let shop = Shop::new(&dir, &redis, &url);
    shop.run("django-admin", &["migrate", "-v", "0"]);

    // The settings `celery -A shop celadon` hands over, the Django
    // database among them, make celadon's configuration.
    let handed_over = shop.run(
        "python",
        &[
            "-c",
            "import json; from shop.celery import app; \
             from celadon.celery_command import read_settings; \
             print(json.dumps(read_settings(app.conf)))",
        ],
    );
    let conf: Value = serde_json::from_str(&handed_over).unwrap();
    assert_eq!(conf["result_backend"], "django-db");
    assert_eq!(conf["django_database_url"], url.as_str());
    let env = BTreeMap::from([("CELADON_CELERY_CONF".to_string(), handed_over)]);
    let server::config::Startup::Run(settings) =
        server::config::load(&[], &env, dir.path()).unwrap()
    else {
        panic!("celadon would not run")
    };
    assert_eq!(
        settings.config.result_backend,
        Some(BackendUrl::parse(&format!("django-db+{url}")).unwrap())
    );
    let config = Config {
        enable_events: false,
        // As FLOWER_UNAUTHENTICATED_API would: the test calls the API.
        unauthenticated_api: true,
        ..settings.config.clone()
    };
    let celadon = Celadon::start_with(config).await.unwrap();
    let mut watch = Watch::workers(&celadon).await;

    let id = shop.run(
        "python",
        &[
            "-m",
            "shop.send",
            "orders.tasks.refund",
            "[7, -5]",
            r#"{"reason": "late"}"#,
        ],
    );
    let sent = waiting(&redis, 3, "shop:celery");
    assert_eq!(sent.len(), 1);
    let celery_body = sent[0].1.clone();
    task_until(&celadon, &id, "the task-sent event", |t| {
        t["state"] == "PENDING"
    })
    .await;

    let worker = |name: &str| {
        let mut command = shop.command("celery");
        command.args(["-A", "shop", "worker", "-l", "info", "-c", "1"]);
        command.args([
            "--without-mingle",
            "--without-gossip",
            "-n",
            &format!("{name}@it"),
        ]);
        Proc::spawn(name, &mut command, &dir).unwrap()
    };
    let first = worker("shop1");
    watch
        .until("the shop's worker online", WORKER_START, |m| {
            crate::support::watch::is_online(m, "shop1@it")
        })
        .await;
    let held = stored(&celadon, &id, "FAILURE").await;
    assert_eq!(
        held["result"]["exc_message"][0], "cannot refund -5 on order 7",
        "{held}"
    );
    let before = celadon.json(&format!("/api/task/info/{id}")).await;
    assert_eq!(before["state"], "PENDING", "no task event came: {before}");

    cut_events(&redis, 3);
    let task = task_until(&celadon, &id, "reconciliation", |t| t["state"] == "FAILURE").await;
    assert_eq!(task["worker"], "shop1@it", "{task}");
    assert_eq!(
        task["exception"], "ValueError('cannot refund -5 on order 7')",
        "{task}"
    );
    let mut first = first;
    first
        .stop(nix::sys::signal::Signal::SIGTERM, kit::celery::WORKER_STOP)
        .await
        .unwrap();

    // django-celery-results keeps Celery's repr of the arguments: complete
    // here, so the retry writes them as Celery's json would.
    let (status, answer) = celadon.post(&format!("/api/task/retry/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "result-backend-repr", "{answer}");
    let new = answer["task-id"].as_str().unwrap().to_string();
    let now = waiting(&redis, 3, "shop:celery");
    assert_eq!(now.len(), 1, "only the retry waits");
    assert_eq!(now[0].0, new);
    assert_eq!(
        std::str::from_utf8(&now[0].1),
        std::str::from_utf8(&celery_body),
        "the retry's body is the one Celery sent"
    );
    let _second = worker("shop2");
    let again = stored(&celadon, &new, "FAILURE").await;
    assert_eq!(again["result"], held["result"]);
    celadon.stop().await.unwrap();
}
