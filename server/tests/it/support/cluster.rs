//! The usual test setup: the kit's Redis in a scratch directory, celadon
//! in-process on it (with the result backend in db 1), and a websocket
//! watching the Workers view.

use std::time::Duration;

use app::wire::BrokerState;
use kit::{Celadon, Redis, Scratch, Worker, WorkerOptions, celery::WORKER_START};
use server::{Config, broker::backend::BackendUrl};

use super::{
    http::Http,
    watch::{Watch, broker_state, is_online},
};

pub struct Cluster {
    pub dir: Scratch,
    pub redis: Redis,
    pub celadon: Celadon,
    pub watch: Watch,
}

impl Cluster {
    /// Starts everything and waits for celadon to be subscribed.
    pub async fn start() -> Cluster {
        Cluster::start_with(|_| {}).await
    }

    /// As [`Cluster::start`], with `adjust` applied to celadon's config.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Cluster {
        let dir = Scratch::new().expect("a scratch directory");
        let redis = Redis::start(&dir).expect("redis-server starts");
        let mut config = Celadon::config(redis.broker_url());
        config.result_backend = Some(BackendUrl::Redis(redis.backend_url()));
        adjust(&mut config);
        let celadon = Celadon::start_with(config).await.expect("celadon starts");
        let mut watch = Watch::workers(&celadon).await;
        watch
            .until("the broker connection", Duration::from_secs(10), |m| {
                broker_state(m) == Some(BrokerState::Connected)
            })
            .await;
        Cluster {
            dir,
            redis,
            celadon,
            watch,
        }
    }

    /// Starts a worker and waits until the websocket shows it online.
    pub async fn online_worker(&mut self, name: &str) -> (Worker, String) {
        self.online_worker_with(name, &WorkerOptions::default())
            .await
    }

    pub async fn online_worker_with(
        &mut self,
        name: &str,
        options: &WorkerOptions,
    ) -> (Worker, String) {
        let worker = Worker::start_with(&self.redis, name, &self.dir, options)
            .expect("a celery worker starts");
        let hostname = worker.hostname.clone();
        self.watch
            .until("the worker to come online", WORKER_START, |m| {
                is_online(m, &hostname)
            })
            .await;
        (worker, hostname)
    }

    /// Sends a task through Celery's client (`pytasks/drive.py`); returns
    /// the ids it printed.
    pub fn send(&self, name: &str, args: &str, extra: &[&str]) -> String {
        kit::celery::send(&self.redis, name, args, extra).expect("drive.py sends")
    }

    /// Waits until every task in `ids` is in a finished state per
    /// `/api/tasks`, and returns that listing.
    pub async fn finished(&self, ids: &[String], deadline: Duration) -> serde_json::Value {
        self.celadon
            .json_until("tasks to finish", "/api/tasks", deadline, |tasks| {
                ids.iter().all(|id| {
                    matches!(
                        tasks[id]["state"].as_str(),
                        Some("SUCCESS" | "FAILURE" | "REVOKED" | "REJECTED")
                    )
                })
            })
            .await
    }
}
