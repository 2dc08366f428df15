//! Over the large history: filtered pages and text searches through
//! `/api/tasks`, and a CSV export's rate and the server's memory during it.

use std::time::{Duration, Instant};

use anyhow::Context;
use kit::{CeladonBinary, Redis, Scratch};
use server::store::Location;

use super::{
    RESTART_DEADLINE, percentile,
    report::{Export, Figures, Page},
    store::{CUSTOMERS, flags},
};
use crate::{Bench, group};

/// Rows of the CSV export.
const EXPORT_ROWS: u64 = 1_000_000;

/// `--max-tasks` over the large history: small, so pages come from the
/// store.
const LARGE_MAX_TASKS: u64 = 100;

impl Bench {
    /// Pages, searches and an export over the large history.
    pub(super) async fn history_large(
        &self,
        location: &Location,
        tasks: u64,
        figures: &mut Figures,
    ) -> anyhow::Result<()> {
        let scratch = Scratch::new()?;
        let redis = Redis::start(&scratch)?;
        let mut extra = flags(location)?;
        extra.extend(crate::celadon_flags(LARGE_MAX_TASKS));
        let ours = CeladonBinary::start_within(
            &self.args.celadon,
            &redis,
            &scratch,
            &extra,
            RESTART_DEADLINE,
        )?;
        let api = ours.url("/api/tasks");
        let fixed = |q: &str, n: usize| vec![format!("{api}{q}"); n];
        // A different order each time, spread over the whole history.
        let orders: Vec<String> = (0..100u64)
            .map(|i| {
                let n = (i * 7_919 * 1_009 + 12_345) % tasks;
                format!("{api}?limit=15&search=args:order-{n:08}")
            })
            .collect();
        let queries = [
            (
                "?limit=15&state=FAILURE".to_string(),
                fixed("?limit=15&state=FAILURE", 200),
                20.0,
            ),
            (
                "?limit=15&taskname=tasks.add&workername=bench3@loadgen&offset=30".into(),
                fixed(
                    "?limit=15&taskname=tasks.add&workername=bench3@loadgen&offset=30",
                    200,
                ),
                20.0,
            ),
            (
                "?limit=15&search=args:order-NNNNNNNN (1 task each, 100 different)".into(),
                orders,
                500.0,
            ),
            (
                format!("?limit=15&search=args:cust07 (1 task in {CUSTOMERS})"),
                fixed("?limit=15&search=args:cust07", 100),
                500.0,
            ),
        ];
        for (query, urls, target_ms) in queries {
            let (p50, p99) = self.latencies(&urls).await?;
            println!(
                "  /api/tasks{query} @{}: p50 {p50:.2} ms p99 {p99:.2} ms",
                group(tasks as f64)
            );
            figures.pages.push(Page {
                query,
                p50,
                p99,
                target_ms,
            });
        }
        figures.export = Some(self.export(&ours).await?);
        Ok(())
    }

    /// p50 and p99 of GETs of `urls` in turn, in ms; each must answer 200.
    async fn latencies(&self, urls: &[String]) -> anyhow::Result<(f64, f64)> {
        let mut times = Vec::with_capacity(urls.len());
        for url in urls {
            let start = Instant::now();
            let r = self.http.get(url).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(status.is_success(), "{url}: {status}");
            anyhow::ensure!(!body.is_empty(), "empty answer from {url}");
        }
        times.sort_by(f64::total_cmp);
        Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
    }

    /// A CSV export of the newest [`EXPORT_ROWS`], read as it streams,
    /// with the server's RSS read every 100 ms.
    async fn export(&self, ours: &CeladonBinary) -> anyhow::Result<Export> {
        let url = ours.url(&format!("/api/tasks?format=csv&limit={EXPORT_ROWS}"));
        let rss_before = ours.proc().rss_bytes();
        let mut rss_peak = rss_before;
        let started = Instant::now();
        let mut r = self.http.get(&url).send().await?;
        anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
        let (mut lines, mut bytes, mut quoted) = (0u64, 0u64, false);
        let mut sampled = Instant::now();
        while let Some(chunk) = r.chunk().await.context("reading the export")? {
            bytes += chunk.len() as u64;
            for b in chunk.iter() {
                match b {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => lines += 1,
                    _ => {}
                }
            }
            if sampled.elapsed() >= Duration::from_millis(100) {
                rss_peak = rss_peak.max(ours.proc().rss_bytes());
                sampled = Instant::now();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        rss_peak = rss_peak.max(ours.proc().rss_bytes());
        let export = Export {
            rows: lines.saturating_sub(1),
            bytes,
            secs,
            rss_before,
            rss_peak,
        };
        println!(
            "  CSV export: {} rows, {} MB in {secs:.1} s; RSS {} MB before, {} MB at most",
            group(export.rows as f64),
            bytes >> 20,
            rss_before >> 20,
            rss_peak >> 20
        );
        Ok(export)
    }
}
