//! A real Prometheus (Debian's `prometheus`, scripts/setup installs it)
//! scraping one target: its config, data and log in the [`Scratch`]
//! directory, on a free port of 127.0.0.1, a [`Proc`] killed on drop. It
//! scrapes every second, so a test waits seconds, not minutes, for what
//! a dashboard would show; and it is asked through its HTTP API, as
//! Grafana asks it.
//!
//! Even at a 1 s interval the first scrape comes seconds after start (its
//! discovery passes targets on at most every 5 s), so callers wait for
//! [`Prometheus::until_up`] before they ask anything.

use std::{collections::BTreeMap, process::Command, time::Duration};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::{Proc, Scratch, free_port, poll};

/// How long Prometheus may take to answer `/-/ready`.
pub const PROMETHEUS_START: Duration = Duration::from_secs(30);

/// How long its first successful scrape of the target may take.
pub const FIRST_SCRAPE: Duration = Duration::from_secs(30);

/// The scrape and rule evaluation interval: Prometheus' shortest useful
/// one, so a series appears a second after its target shows it.
pub const INTERVAL: &str = "1s";

/// One series of an instant query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Its labels (`__name__` included, when the expression kept it).
    pub labels: BTreeMap<String, String>,
    /// Its value as Prometheus wrote it (`"1"`, `"NaN"`, `"+Inf"`).
    pub value: String,
}

/// A running Prometheus and its port.
pub struct Prometheus {
    proc: Proc,
    port: u16,
    job: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Whether `prometheus` is on the PATH.
    pub fn installed() -> bool {
        Command::new("prometheus")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts Prometheus, logging to `<job>.log`, scraping
    /// `http://<target>/metrics` as job `job` every [`INTERVAL`], and
    /// waits until it is ready (not until it has scraped: see
    /// [`Prometheus::until_up`]).
    pub async fn start(job: &str, target: &str, scratch: &Scratch) -> anyhow::Result<Prometheus> {
        Prometheus::start_with_rules(job, target, scratch, &[]).await
    }

    /// As [`Prometheus::start`], evaluating the alerting rules of
    /// `rule_files` every [`INTERVAL`] (`/api/v1/rules` says how each
    /// fares: [`Prometheus::rules`]).
    pub async fn start_with_rules(
        job: &str,
        target: &str,
        scratch: &Scratch,
        rule_files: &[std::path::PathBuf],
    ) -> anyhow::Result<Prometheus> {
        let dir = scratch.path().join(job);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // JSON is YAML: no YAML writer needed.
        let config = json!({
            "global": {
                "scrape_interval": INTERVAL,
                "scrape_timeout": INTERVAL,
                "evaluation_interval": INTERVAL,
            },
            "scrape_configs": [{
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
            }],
            "rule_files": rule_files,
        });
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config.to_string())?;
        let port = free_port()?;
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1d");
        let proc = Proc::spawn(job, &mut command, scratch)
            .map_err(|e| e.context("prometheus must be installed (scripts/setup installs it)"))?;
        let mut prometheus = Prometheus {
            proc,
            port,
            job: job.to_string(),
            http: reqwest::Client::new(),
        };
        let ready = prometheus.url("/-/ready");
        prometheus
            .until("Prometheus to be ready", PROMETHEUS_START, |http| {
                let ready = ready.clone();
                async move {
                    let answer = http.get(&ready).send().await;
                    Ok(answer.is_ok_and(|a| a.status().is_success()).then_some(()))
                }
            })
            .await?;
        Ok(prometheus)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Waits until the target's last scrape succeeded.
    pub async fn until_up(&mut self) -> anyhow::Result<()> {
        let what = format!("Prometheus to scrape {}", self.job);
        let targets = self.url("/api/v1/targets");
        self.until(&what, FIRST_SCRAPE, |http| {
            let targets = targets.clone();
            async move {
                let targets = api(&http, &targets, &[]).await?;
                let health = &targets["activeTargets"][0]["health"];
                Ok((health == "up").then_some(()))
            }
        })
        .await
    }

    /// `/api/v1/rules`' data: the rule groups loaded, each rule with its
    /// health and last error.
    pub async fn rules(&self) -> anyhow::Result<Value> {
        self.api("/api/v1/rules", &[]).await
    }

    /// The answer to the instant query `expr` now: its series. An
    /// expression whose answer is not a vector is an error.
    pub async fn query(&self, expr: &str) -> anyhow::Result<Vec<Sample>> {
        let data = self.api("/api/v1/query", &[("query", expr)]).await?;
        ensure!(
            data["resultType"] == "vector",
            "{expr} is not a vector: {data}"
        );
        let series = data["result"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        series
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .context("a series without labels")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = s["value"][1].as_str().context("a series without a value")?;
                Ok(Sample {
                    labels,
                    value: value.to_string(),
                })
            })
            .collect()
    }

    /// The values `label` takes in the series `selector` selects (what
    /// Grafana's `label_values(selector, label)` asks).
    pub async fn label_values(&self, label: &str, selector: &str) -> anyhow::Result<Vec<String>> {
        let path = format!("/api/v1/label/{label}/values");
        let data = self.api(&path, &[("match[]", selector)]).await?;
        let values = data.as_array().context("label values are not a list")?;
        Ok(values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let data = api(&self.http, &self.url(path), query).await;
        data.with_context(|| self.proc.tail())
    }

    /// Polls `probe` with this server's client until it gives `Some`,
    /// failing early if Prometheus exits; either error ends with its log.
    async fn until<T, F>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut probe: impl FnMut(reqwest::Client) -> F,
    ) -> anyhow::Result<T>
    where
        F: Future<Output = anyhow::Result<Option<T>>>,
    {
        let http = self.http.clone();
        let base = self.url("");
        let proc = &mut self.proc;
        let waited = poll::until_async(what, deadline, || {
            let exited = proc.exit_status();
            let probe = probe(http.clone());
            let name = proc.name().to_string();
            async move {
                if let Some(status) = exited? {
                    bail!("{name} exited ({status})");
                }
                probe.await
            }
        })
        .await;
        waited.with_context(|| format!("Prometheus at {base}\n{}", self.proc.tail()))
    }
}

/// `data` of a Prometheus API answer, or an error saying what it said.
async fn api(http: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
    let answer = http.get(url).query(query).send().await?;
    let status = answer.status();
    let body: Value = answer
        .json()
        .await
        .with_context(|| format!("{url}: {status}"))?;
    ensure!(
        body["status"] == "success",
        "{url} {query:?}: {status} {body}"
    );
    Ok(body["data"].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One Prometheus scraping another: both real, and the second sees the
    /// first's own series.
    #[tokio::test]
    async fn scrapes_its_target_and_answers_queries_and_label_values() {
        let scratch = Scratch::new().unwrap();
        let first = Prometheus::start("first", "127.0.0.1:1", &scratch)
            .await
            .unwrap();
        let target = first.url("").trim_start_matches("http://").to_string();
        let mut second = Prometheus::start("second", &target, &scratch)
            .await
            .unwrap();
        second.until_up().await.unwrap();
        let up = second.query("up").await.unwrap();
        assert_eq!(up.len(), 1, "{up:?}");
        assert_eq!(up[0].labels["job"], "second");
        assert_eq!(up[0].labels["instance"], target);
        assert_eq!(up[0].value, "1");
        let jobs = second
            .label_values("job", "prometheus_build_info")
            .await
            .unwrap();
        assert_eq!(jobs, ["second"]);
        let error = second.query("sum(").await.unwrap_err();
        assert!(format!("{error:#}").contains("parse error"), "{error:#}");
    }

    #[tokio::test]
    async fn a_prometheus_that_exits_fails_its_start_with_its_log() {
        let scratch = Scratch::new().unwrap();
        let error = Prometheus::start("bad", "http://a:1", &scratch)
            .await
            .err()
            .unwrap();
        let report = format!("{error:#}");
        assert!(report.contains("bad exited"), "{report}");
        assert!(report.contains("--- bad log ---"), "{report}");
    }
}
