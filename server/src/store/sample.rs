// Rows for the stores' tests, shared by the unit tests (store::tests) and
// the integration tests (server/tests/it/history_pg.rs), each of which
// `include!`s this file with `TaskRow` in scope: every field set, text
// with words to search, non-ASCII, and ids that sort as they are numbered.

/// Task `i`: received at `1_000 + i`, its state, name, worker and words
/// cycling so filters select known subsets.
pub fn row(i: u32) -> TaskRow {
    let at = 1_000.0 + f64::from(i);
    TaskRow {
        id: format!("{i:08x}-0000-4000-8000-000000000000"),
        state: ["SUCCESS", "FAILURE", "STARTED", "PROGRESS"][i as usize % 4].into(),
        name: Some(format!("tasks.t{}", i % 3)),
        worker: i.is_multiple_of(2).then(|| "w1@h".into()),
        queue: Some("celery".into()),
        exchange: None,
        routing_key: Some("celery".into()),
        times: [
            Some(at - 0.5),
            Some(at),
            Some(at + 0.25),
            i.is_multiple_of(4).then_some(at + 1.0),
            (i % 4 == 1).then_some(at + 1.0),
            None,
            None,
            None,
            Some(at + 1.0),
        ],
        runtime: Some(0.1 + f64::from(i) / 3.0),
        retries: Some(i % 2),
        clock: u64::from(i) * 7,
        flags: 8,
        seen: 0b1011,
        seen_attempt: 0,
        signum: i.is_multiple_of(5).then_some(15),
        root_id: Some("root-id".into()),
        parent_id: None,
        children: vec!["c1".into(), format!("order-{i} é")],
        text: [
            Some(format!("({i}, 'order-{i}')")),
            Some(format!("{{'customer': 'c{}'}}", i % 10)),
            i.is_multiple_of(4).then(|| "'ok'".into()),
            (i % 4 == 1).then(|| "ValueError('bad')".into()),
            (i % 4 == 1).then(|| "Traceback (most recent call last):\n  …".into()),
            None,
            None,
            Some("gen1@host".into()),
        ],
    }
}
