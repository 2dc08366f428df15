//! The SQLite store on real files: rows come back exactly as written, pages
//! follow their filters and order, retention prunes, and a file that is not
//! celadon's history is refused and left byte for byte as it was.

use std::path::Path;

use super::{
    Batch, PagedQuery, StoreError, TaskOrder, TaskRow, sqlite::SCHEMA_VERSION, sqlite::Sqlite,
};

mod sample {
    use super::TaskRow;
    include!("sample.rs");
}
use sample::row;

fn write(db: &mut Sqlite, rows: impl IntoIterator<Item = TaskRow>) {
    db.write(&Batch {
        at: 0.0,
        tasks: rows.into_iter().collect(),
        rest: None,
    })
    .unwrap();
}

#[test]
fn rows_come_back_exactly_as_written_newest_first_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut db = Sqlite::open(&path).unwrap();
    write(&mut db, (0..50).map(row));
    let mut changed = row(7);
    changed.state = "SUCCESS".into();
    changed.text[2] = Some("{'total': 3}".into());
    db.write(&Batch {
        at: 5.0,
        tasks: vec![changed.clone()],
        rest: Some(vec![1, 2, 3]),
    })
    .unwrap();
    drop(db);

    let mut db = Sqlite::open(&path).unwrap();
    let loaded = db.load(10).unwrap();
    assert_eq!(loaded.stored, 50, "an update is not a second task");
    let expected: Vec<TaskRow> = (40..50).rev().map(row).collect();
    assert_eq!(loaded.tasks, expected);
    assert_eq!(loaded.rest, Some(vec![1, 2, 3]));
    assert_eq!(db.task(&changed.id).unwrap(), Some(changed));
    assert_eq!(db.task("no-such-task").unwrap(), None);
}

#[test]
fn pages_filter_and_continue_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Sqlite::open(&dir.path().join("h.db")).unwrap();
    write(&mut db, (0..100).map(row));
    let query = |after| PagedQuery {
        states: vec!["SUCCESS".into(), "FAILURE".into()],
        name: Some("tasks.t1".into()),
        worker: None,
        from: Some(1_010.0),
        to: Some(1_090.0),
        words: None,
        order: TaskOrder::AtDesc,
        after,
        limit: 4,
    };
    let expected: Vec<u32> = (10..90).rev().filter(|i| i % 4 < 2 && i % 3 == 1).collect();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = db.page(&query(after)).unwrap();
        assert!(page.len() <= 4);
        got.extend(page.iter().map(|p| p.row.clone()));
        match page.last() {
            Some(last) => after = Some(last.cursor),
            None => break,
        }
    }
    assert_eq!(got, expected.into_iter().map(row).collect::<Vec<_>>());
}

#[test]
fn words_are_found_in_args_and_kwargs() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Sqlite::open(&dir.path().join("h.db")).unwrap();
    write(&mut db, (0..30).map(row));
    let search = |words: &str| {
        let page = db
            .page(&PagedQuery {
                states: vec![],
                name: None,
                worker: None,
                from: None,
                to: None,
                words: Some(words.into()),
                order: TaskOrder::AtAsc,
                after: None,
                limit: 100,
            })
            .unwrap();
        page.into_iter().map(|p| p.row.id).collect::<Vec<_>>()
    };
    assert_eq!(search("order-17"), [row(17).id]);
    assert_eq!(search("c3"), [row(3).id, row(13).id, row(23).id]);
    assert!(search("ValueError").is_empty(), "results are not searched");
}

#[test]
fn retention_prunes_the_oldest_a_step_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Sqlite::open(&dir.path().join("h.db")).unwrap();
    write(&mut db, (0..20).map(row));
    assert_eq!(db.prune(Some(1_011.0), false, 4).unwrap(), 4);
    assert_eq!(db.prune(Some(1_011.0), false, 100).unwrap(), 6);
    assert_eq!(db.prune(Some(1_011.0), false, 100).unwrap(), 0);
    assert_eq!(db.prune(None, true, 3).unwrap(), 3);
    let left = db.load(100).unwrap().tasks;
    assert_eq!(left, (13..20).rev().map(row).collect::<Vec<_>>());
    assert_eq!(db.task(&row(12).id).unwrap(), None);
}

fn refused(path: &Path) -> StoreError {
    let before = std::fs::read(path).unwrap();
    let Err(error) = Sqlite::open(path) else {
        panic!("{} was opened", path.display());
    };
    assert_eq!(std::fs::read(path).unwrap(), before, "the file was changed");
    error
}

#[test]
fn a_file_that_is_not_celadons_history_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("flower");
    std::fs::write(
        &garbage,
        b"\x00\x06\x15\x61 not a database, a shelve file".repeat(200),
    )
    .unwrap();
    let e = refused(&garbage).to_string();
    assert!(e.contains("flower") && e.contains("not a database"), "{e}");

    let other = dir.path().join("app.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE orders (id INTEGER);")
        .unwrap();
    let e = refused(&other);
    assert!(matches!(e, StoreError::Foreign(_)), "{e}");

    let newer = dir.path().join("newer.db");
    drop(Sqlite::open(&newer).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let e = refused(&newer).to_string();
    assert!(e.contains("newer celadon"), "{e}");

    // A history cut short (a copy that stopped half way) is refused when
    // read, and not repaired by writing over it.
    let cut = dir.path().join("cut.db");
    let mut db = Sqlite::open(&cut).unwrap();
    write(&mut db, (0..200).map(row));
    db.checkpoint().unwrap();
    drop(db);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let opened = Sqlite::open(&cut).and_then(|mut db| db.load(1_000).map(|_| ()));
    assert!(opened.is_err(), "a cut file reads back whole");
}

/// Task ids whose args or kwargs hold all of `words`, oldest first.
fn found(db: &Sqlite, words: &str) -> Vec<String> {
    db.page(&PagedQuery {
        states: vec![],
        name: None,
        worker: None,
        from: None,
        to: None,
        words: Some(words.into()),
        order: TaskOrder::AtAsc,
        after: None,
        limit: 100,
    })
    .unwrap()
    .into_iter()
    .map(|p| p.row.id)
    .collect()
}

/// SQLite's own check of the full-text index against the rows it indexes
/// (an entry missing, or one too many, fails it).
fn words_match_rows(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("INSERT INTO tasks_text(tasks_text, rank) VALUES ('integrity-check', 1);")
        .unwrap();
}

#[test]
fn the_row_width_is_its_columns() {
    assert_eq!(super::row::row_columns().len(), super::sqlite::ROW_WIDTH);
}

#[test]
fn words_follow_changed_args_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut db = Sqlite::open(&path).unwrap();
    write(&mut db, (0..20).map(row));
    let mut changed = row(17);
    changed.text[0] = Some("(17, 'invoice-99')".into());
    let mut same_words = row(18);
    same_words.state = "SUCCESS".into();
    write(&mut db, [changed, same_words]);
    assert!(found(&db, "order-17").is_empty(), "the old args are found");
    assert_eq!(found(&db, "invoice-99"), [row(17).id]);
    assert_eq!(found(&db, "order-18"), [row(18).id]);
    assert_eq!(found(&db, "c7"), [row(7).id, row(17).id]);
    assert_eq!(db.prune(None, true, 10).unwrap(), 10);
    assert_eq!(found(&db, "c7"), [row(17).id]);
    assert!(found(&db, "order-3").is_empty(), "a pruned task is found");
    drop(db);
    words_match_rows(&path);
}

#[test]
fn a_version_3_history_loses_its_text_triggers_and_keeps_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let mut db = Sqlite::open(&path).unwrap();
    write(&mut db, (0..10).map(row));
    drop(db);
    // Version 3 kept the words by triggers on insert and update.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER tasks_text_insert AFTER INSERT ON tasks BEGIN
                INSERT INTO tasks_text(rowid, args, kwargs) VALUES (new.seq, new.args, new.kwargs);
            END;
            CREATE TRIGGER tasks_text_update AFTER UPDATE OF args, kwargs ON tasks
            WHEN old.args IS NOT new.args OR old.kwargs IS NOT new.kwargs BEGIN
                INSERT INTO tasks_text(tasks_text, rowid, args, kwargs)
                    VALUES ('delete', old.seq, old.args, old.kwargs);
                INSERT INTO tasks_text(rowid, args, kwargs) VALUES (new.seq, new.args, new.kwargs);
            END;
            PRAGMA user_version = 3;",
        )
        .unwrap();

    let mut db = Sqlite::open(&path).unwrap();
    let mut changed = row(3);
    changed.text[0] = Some("(3, 'invoice-3')".into());
    write(&mut db, (10..20).map(row).chain([changed]));
    assert_eq!(found(&db, "c3"), [row(3).id, row(13).id]);
    assert_eq!(found(&db, "invoice-3"), [row(3).id]);
    assert!(found(&db, "order-3").is_empty());
    drop(db);
    words_match_rows(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        (version, triggers),
        (SCHEMA_VERSION, vec!["tasks_text_delete".to_string()])
    );
}
