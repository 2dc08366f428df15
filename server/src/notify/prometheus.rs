//! The notifier's counters as Prometheus text, written as `api::metrics`
//! writes celadon's other series (HELP and TYPE, labels in name order,
//! numbers as Python's client spells them), for `/metrics` to append.

use std::fmt::Write;

use app::wire::notify::NotifyStats;

/// Appends `celadon_webhook_deliveries_total{outcome,webhook}` (outcome:
/// `delivered`, `failed` (attempts), `given_up`, `dropped`),
/// `celadon_webhook_pending{webhook}` and
/// `celadon_webhook_duplicates_total` to `out`.
pub fn prometheus(stats: &NotifyStats, out: &mut String) {
    let name = "celadon_webhook_deliveries_total";
    header(
        out,
        name,
        "counter",
        "Webhook bodies by outcome: delivered, failed attempts, given up, dropped (queue full)",
    );
    for hook in &stats.webhooks {
        for (outcome, n) in [
            ("delivered", hook.delivered),
            ("dropped", hook.dropped),
            ("failed", hook.failed_attempts),
            ("given_up", hook.given_up),
        ] {
            let _ = writeln!(
                out,
                "{name}{{outcome=\"{outcome}\",webhook=\"{}\"}} {}",
                escape(&hook.name),
                number(n)
            );
        }
    }
    let name = "celadon_webhook_pending";
    header(
        out,
        name,
        "gauge",
        "Webhook bodies waiting for an attempt or in flight",
    );
    for hook in &stats.webhooks {
        let _ = writeln!(
            out,
            "{name}{{webhook=\"{}\"}} {}",
            escape(&hook.name),
            number(hook.pending)
        );
    }
    let name = "celadon_webhook_duplicates_total";
    header(
        out,
        name,
        "counter",
        "Notices repeating a firing's status already sent, not sent again",
    );
    let _ = writeln!(out, "{name} {}", number(stats.duplicates));
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A count as `api::metrics::go_float` writes the same value as a float:
/// `3.0`, and from a million on `1.234567e+06`.
fn number(n: u64) -> String {
    let digits = n.to_string();
    if digits.len() <= 6 {
        return format!("{n}.0");
    }
    let mantissa = format!("{}.{}", &digits[..1], &digits[1..]);
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    format!("{mantissa}e+{:02}", digits.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::wire::notify::WebhookStats;

    #[test]
    fn counts_are_written_as_the_other_series_write_floats() {
        for n in [
            0,
            1,
            999_999,
            1_000_000,
            9_999_999,
            10_000_000,
            12_345_678,
            120_000_000,
            1 << 40,
        ] {
            assert_eq!(number(n), crate::api::metrics::go_float(n as f64), "{n}");
        }
    }

    #[test]
    fn writes_each_webhooks_outcomes() {
        let stats = NotifyStats {
            webhooks: vec![WebhookStats {
                name: "ops \"pager\"".into(),
                delivered: 3,
                failed_attempts: 2,
                given_up: 1,
                dropped: 0,
                pending: 4,
                ..WebhookStats::default()
            }],
            duplicates: 5,
        };
        let mut out = String::new();
        prometheus(&stats, &mut out);
        assert_eq!(
            out,
            "# HELP celadon_webhook_deliveries_total Webhook bodies by outcome: delivered, failed attempts, given up, dropped (queue full)\n\
             # TYPE celadon_webhook_deliveries_total counter\n\
             celadon_webhook_deliveries_total{outcome=\"delivered\",webhook=\"ops \\\"pager\\\"\"} 3.0\n\
             celadon_webhook_deliveries_total{outcome=\"dropped\",webhook=\"ops \\\"pager\\\"\"} 0.0\n\
             celadon_webhook_deliveries_total{outcome=\"failed\",webhook=\"ops \\\"pager\\\"\"} 2.0\n\
             celadon_webhook_deliveries_total{outcome=\"given_up\",webhook=\"ops \\\"pager\\\"\"} 1.0\n\
             # HELP celadon_webhook_pending Webhook bodies waiting for an attempt or in flight\n\
             # TYPE celadon_webhook_pending gauge\n\
             celadon_webhook_pending{webhook=\"ops \\\"pager\\\"\"} 4.0\n\
             # HELP celadon_webhook_duplicates_total Notices repeating a firing's status already sent, not sent again\n\
             # TYPE celadon_webhook_duplicates_total counter\n\
             celadon_webhook_duplicates_total 5.0\n"
        );
    }
}
