//! Queries against full sorts: pages, counts, cursors and filters.

use serde_json::json;

use super::*;
use crate::state::search;

fn model_with(tasks: &[(&str, &str, &str, f64, &str)]) -> Model {
    fill(Model::default(), tasks)
}

fn fill(mut model: Model, tasks: &[(&str, &str, &str, f64, &str)]) -> Model {
    for (i, (name, state, worker, received, kwargs)) in tasks.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let mut events = vec![
            json!({"type": "task-received", "uuid": id, "hostname": worker,
            "timestamp": received, "name": name, "args": format!("({i},)"), "kwargs": kwargs}),
        ];
        let kind = match *state {
            "SUCCESS" => Some(json!({"type": "task-succeeded", "result": "'ok'", "runtime": 0.1})),
            "FAILURE" => Some(json!({"type": "task-failed", "exception": "ValueError('boom')"})),
            "STARTED" => Some(json!({"type": "task-started"})),
            _ => None,
        };
        if let Some(mut e) = kind {
            e["uuid"] = json!(id);
            e["hostname"] = json!(worker);
            e["timestamp"] = json!(received + 1.0);
            events.push(e);
        }
        let body = serde_json::to_string(&events).unwrap();
        let envelope = json!({"body": body, "properties": {}}).to_string();
        assert!(model.ingest(envelope.as_bytes(), *received).is_empty());
    }
    model
}

fn ids(model: &Model, page: &Page) -> Vec<usize> {
    page.slots
        .iter()
        .map(|s| {
            let id = model.id_text(model.tasks.at(*s).unwrap().key).unwrap();
            id[24..].parse().unwrap()
        })
        .collect()
}

fn sample() -> Model {
    model_with(&[
        ("tasks.add", "SUCCESS", "w1@h", 10.0, "{}"),
        ("tasks.add", "FAILURE", "w2@h", 20.0, "{'user': 'ann'}"),
        ("tasks.mul", "FAILURE", "w1@h", 30.0, "{'user': 'bob'}"),
        ("tasks.add", "STARTED", "w1@h", 40.0, "{}"),
        ("tasks.add", "FAILURE", "w1@h", 50.0, "{'user': 'Ann'}"),
    ])
}

#[test]
fn filters_on_state_name_and_worker_combine() {
    let model = sample();
    let q = TaskQuery {
        state: Some("failure".into()),
        name: Some("TASKS.ADD".into()),
        ..TaskQuery::default()
    };
    let page = run(&model, &q);
    assert_eq!(ids(&model, &page), [4, 1], "newest change first");
    assert_eq!((page.filtered, page.total), (2, 5));
    let q = TaskQuery {
        worker: Some("w1@h".into()),
        sort: Sort {
            key: SortKey::Received,
            descending: false,
        },
        ..TaskQuery::default()
    };
    assert_eq!(ids(&model, &run(&model, &q)), [0, 2, 3, 4]);
    let q = TaskQuery {
        state: Some("NOPE".into()),
        ..TaskQuery::default()
    };
    assert_eq!(run(&model, &q).filtered, 0);
}

#[test]
fn newest_first_pages_that_skip_blocks_agree_with_a_full_sort() {
    let rows = spread_rows(700, 1.0);
    let model = model_with(&rows);
    for (state, name, worker) in [
        (None, None, None),
        (Some("FAILURE"), None, None),
        (None, Some("tasks.mul"), Some("w2@h")),
        (Some("SUCCESS"), Some("tasks.add"), None),
        (None, None, Some("w1@h")),
    ] {
        for (offset, limit) in [(0, 15), (30, 15), (0, 0), (690, 50)] {
            let q = TaskQuery {
                state: state.map(Into::into),
                name: name.map(Into::into),
                worker: worker.map(Into::into),
                sort: Sort {
                    key: SortKey::Received,
                    descending: true,
                },
                offset,
                limit: Some(limit),
                ..TaskQuery::default()
            };
            let mut expected: Vec<(Value, TaskKey, usize)> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    state.is_none_or(|s| s == r.1)
                        && name.is_none_or(|n| n == r.0)
                        && worker.is_none_or(|w| w == r.2)
                })
                .map(|(i, r)| {
                    let id = format!("00000000-0000-4000-8000-{i:012}");
                    (num(r.3), TaskKey::of(&id), i)
                })
                .collect();
            expected.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
            let page = run(&model, &q);
            assert_eq!(page.filtered, expected.len(), "{q:?}");
            let want: Vec<usize> = expected
                .iter()
                .skip(offset)
                .take(limit)
                .map(|e| e.2)
                .collect();
            assert_eq!(ids(&model, &page), want, "{q:?}");
        }
    }
}

type Row = (&'static str, &'static str, &'static str, f64, &'static str);

/// `n` tasks over three names, four states and two workers, received
/// out of slot order (so block bounds overlap), every 97th never
/// received (no time, to sort last). Times are rounded down to a
/// multiple of `round`: a coarse one makes ties that span blocks.
fn spread_rows(n: u64, round: f64) -> Vec<Row> {
    let names = ["tasks.add", "tasks.mul", "tasks.div"];
    let states = ["SUCCESS", "FAILURE", "STARTED", "RECEIVED"];
    let workers = ["w1@h", "w2@h"];
    (0..n)
        .map(|i| {
            let jitter = ((i * 7919) % 997) as f64;
            let received = if i % 97 == 5 {
                f64::NAN
            } else {
                ((i as f64 * 3.0 + jitter) / round).floor() * round
            };
            let (name, state) = (names[(i % 3) as usize], states[(i % 4) as usize]);
            (name, state, workers[(i % 2) as usize], received, "{}")
        })
        .collect()
}

/// `tasks` tasks through a store of `kept`: eviction hands the oldest
/// finished tasks' slots to the newest, so newest-first is not slot
/// order. Times are rounded so that ties span blocks, and the task id
/// decides them.
fn evicted_model(tasks: u64, kept: usize) -> Model {
    let rows = spread_rows(tasks, 400.0);
    let config = crate::state::ModelConfig {
        limits: crate::state::tasks::Limits {
            max_tasks: kept,
            max_bytes: usize::MAX,
        },
        ..crate::state::ModelConfig::default()
    };
    let model = fill(Model::new(config), &rows);
    assert_eq!(model.tasks.len(), kept);
    model
}

/// Checks that `run` and `page` give each page of the whole sorted
/// list (an unlimited query keeps every match and skips nothing).
fn check_pages(model: &Model, pages: &[(usize, Option<usize>)]) {
    let searches = [None, Some("name:tasks.mul"), Some("state:SUCCESS")];
    for (key, descending) in [
        (SortKey::Received, true),
        (SortKey::Timestamp, true),
        (SortKey::Started, true),
        (SortKey::Received, false),
        (SortKey::Name, true),
    ] {
        for (state, worker, search) in [
            (None, None, searches[0]),
            (Some("FAILURE"), None, searches[0]),
            (None, Some("w2@h"), searches[1]),
            (None, None, searches[2]),
        ] {
            for &(offset, limit) in pages {
                let q = TaskQuery {
                    state: state.map(Into::into),
                    worker: worker.map(Into::into),
                    search: search.map(|s| search::parse(s).unwrap()),
                    sort: Sort { key, descending },
                    offset,
                    limit,
                    ..TaskQuery::default()
                };
                let unlimited = TaskQuery {
                    offset: 0,
                    limit: None,
                    ..q.clone()
                };
                let whole = run(model, &unlimited);
                let want: Vec<u32> = whole
                    .slots
                    .iter()
                    .skip(offset)
                    .take(limit.unwrap_or(usize::MAX))
                    .copied()
                    .collect();
                assert!(offset > 0 || limit == Some(0) || !want.is_empty(), "{q:?}");
                let counted = run(model, &q);
                assert_eq!(counted.slots, want, "{q:?}");
                assert_eq!(counted.filtered, whole.filtered, "{q:?}");
                assert_eq!(listing(model, &q).slots, want, "{q:?}");
                assert_eq!(walk(model, &q, 7), want, "{q:?} in pages of 7");
            }
        }
    }
}

/// `q`'s tasks read as a listing in pages of `step` from successive
/// cursors: the first page skips `q.offset`.
fn walk(model: &Model, q: &TaskQuery, step: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut left = q.limit.unwrap_or(usize::MAX);
    let mut q = TaskQuery {
        limit: Some(step.min(left)),
        ..q.clone()
    };
    loop {
        let page = listing(model, &q);
        assert!(page.slots.len() <= step);
        left -= page.slots.len();
        out.extend(page.slots);
        match page.next {
            Some(next) if left > 0 => {
                q.after = Some(next);
                q.offset = 0;
                q.limit = Some(step.min(left));
            }
            _ => return out,
        }
    }
}

/// Under a time sort, a page of a listing reads as many tasks from the
/// store however far the listing has got: the tasks before the cursor are
/// skipped from the column, so reading every page is not quadratic.
#[test]
fn a_listings_late_pages_read_no_more_than_its_first() {
    let model = evicted_model(2_000, 1_500);
    let mut q = TaskQuery {
        sort: Sort {
            key: SortKey::Timestamp,
            descending: true,
        },
        limit: Some(10),
        ..TaskQuery::default()
    };
    let mut touched = Vec::new();
    let mut listed = 0;
    loop {
        let page = listing(&model, &q);
        listed += page.slots.len();
        touched.push(page.touched);
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, model.tasks.len());
    let first = touched[0];
    let late = touched[touched.len() * 3 / 4..].iter().max().copied();
    assert!(
        late.is_some_and(|late| late <= 2 * first),
        "first page read {first} tasks, the last quarter up to {late:?}"
    );
}

#[test]
fn pages_without_a_count_are_the_counted_pages() {
    let pages = [
        (0, Some(15)),
        (30, Some(15)),
        (0, Some(0)),
        (480, Some(50)),
        (5, None),
    ];
    check_pages(&evicted_model(700, 500), &pages);
}

#[test]
fn pages_without_a_count_are_the_counted_pages_across_groups_of_blocks() {
    // Over 64 blocks of 64 slots: more than one group.
    let model = evicted_model(9_000, 8_200);
    assert!(model.tasks.slot_count() > GROUP * BLOCK);
    check_pages(&model, &[(0, Some(15)), (30, Some(15)), (700, Some(20))]);
}

#[test]
fn search_syntax_finds_by_field_pair_and_bare_term() {
    let model = sample();
    let find = |query: &str| {
        let q = TaskQuery {
            search: Some(search::parse(query).unwrap()),
            sort: Sort {
                key: SortKey::Received,
                descending: false,
            },
            ..TaskQuery::default()
        };
        ids(&model, &run(&model, &q))
    };
    assert_eq!(find("state:FAILURE name:tasks.add"), [1, 4]);
    assert_eq!(find("kwargs:user=ann"), [1, 4], "pairs compare lower-cased");
    assert_eq!(
        find("kwargs:USER=ann"),
        [1, 4],
        "the key skip is case-blind"
    );
    assert_eq!(find("kwargs:user=ann OR kwargs:user=bob"), [1, 2, 4]);
    assert!(find("kwargs:user=ann kwargs:user=bob").is_empty());
    assert!(find("kwargs:owner=ann").is_empty(), "no such key");
    assert_eq!(find("boom"), [1, 2, 4]);
    assert_eq!(find("name:mul OR worker:w2@"), [1, 2]);
    assert_eq!(find("(state:SUCCESS OR state:STARTED) w1@h"), [0, 3]);
    assert_eq!(
        find("00000000-0000-4000-8000-000000000003"),
        [3],
        "a uuid finds its task"
    );
}

#[test]
fn pages_come_from_the_sorted_whole_with_missing_values_first() {
    let model = sample();
    let page = |offset, limit, key, descending| {
        let q = TaskQuery {
            sort: Sort { key, descending },
            offset,
            limit: Some(limit),
            ..TaskQuery::default()
        };
        ids(&model, &run(&model, &q))
    };
    assert_eq!(page(0, 2, SortKey::Received, true), [4, 3]);
    assert_eq!(page(2, 2, SortKey::Received, true), [2, 1]);
    assert_eq!(page(4, 2, SortKey::Received, true), [0]);
    assert_eq!(
        page(0, 5, SortKey::Runtime, false),
        [1, 2, 3, 4, 0],
        "no runtime first"
    );
    assert_eq!(
        page(0, 5, SortKey::Name, true),
        [2, 4, 3, 1, 0],
        "ties by id, also reversed"
    );
    assert_eq!(page(0, 0, SortKey::Name, true), Vec::<usize>::new());
}

#[test]
fn time_ranges_let_tasks_without_the_time_through() {
    let model = sample();
    let q = TaskQuery {
        received: (Some(15.0), Some(35.0)),
        ..TaskQuery::default()
    };
    assert_eq!(run(&model, &q).filtered, 2);
    let q = TaskQuery {
        started: (Some(0.0), Some(1.0)),
        ..TaskQuery::default()
    };
    assert_eq!(
        run(&model, &q).filtered,
        4,
        "only the STARTED task has a start time"
    );
}
