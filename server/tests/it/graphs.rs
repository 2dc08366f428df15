//! The series behind the charts, from real workers: what
//! `/api/stats/throughput` counts agrees with the tasks themselves.

use std::time::Duration;

use crate::support::{cluster::Cluster, http::Http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_totals_match_the_tasks_for_the_cluster_a_name_and_a_worker() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("graphs").await;
    let mut ids: Vec<String> = (0..6)
        .map(|i| c.send("add", &format!("[{i}, 1]"), &[]))
        .collect();
    ids.extend((0..3).map(|_| c.send("fail", "[\"chart\"]", &[])));
    c.finished(&ids, Duration::from_secs(30)).await;

    let all = c.celadon.json("/api/stats/throughput?window=5m").await;
    assert_eq!(all["bucket_seconds"], 1);
    assert_eq!(all["times"].as_array().unwrap().len(), 300);
    assert_eq!(all["counts"]["succeeded"].as_array().unwrap().len(), 300);
    assert_eq!(all["totals"]["succeeded"], 6, "{all}");
    assert_eq!(all["totals"]["failed"], 3);
    assert_eq!(all["totals"]["sent"], 9);
    let online = all["workers_online"].as_array().unwrap();
    assert_eq!(online.len(), 300);
    assert_eq!(online.iter().filter_map(|v| v.as_u64()).max(), Some(1));
    let waits: Vec<f64> = all["wait_p95"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert!(
        !waits.is_empty() && waits.iter().all(|w| *w >= 0.0 && *w < 30.0),
        "{waits:?}"
    );

    let fails = c
        .celadon
        .json("/api/stats/throughput?window=1h&task=celadon_tasks.fail")
        .await;
    assert_eq!(fails["totals"]["failed"], 3, "{fails}");
    assert_eq!(fails["totals"]["succeeded"], 0);

    let worker = c
        .celadon
        .json(&format!("/api/stats/throughput?window=24h&worker={name}"))
        .await;
    assert_eq!(worker["totals"]["succeeded"], 6, "{worker}");
    assert_eq!(worker["totals"]["sent"], 0, "a task-sent has no worker");

    let (status, body) = c.celadon.get("/api/stats/throughput?window=2h").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("5m, 1h, 24h, 7d, 30d"));
    let (status, _) = c.celadon.get("/api/stats/throughput?task=nope.never").await;
    assert_eq!(status, 404);
    c.celadon.stop().await.unwrap();
}
