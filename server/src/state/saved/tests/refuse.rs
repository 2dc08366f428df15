//! Blobs that are not ours, of another version, damaged, truncated or
//! malformed are refused, and the model is left as it was.

use app::wire;

use super::{
    NOW, busy, fixtures,
    shown::{parts, shown},
};
use crate::state::{
    Model,
    saved::{FORMAT_VERSION, HEADER, MAGIC, SavedError, codec},
};

#[test]
fn every_truncation_of_a_small_blob_is_refused_and_changes_nothing() {
    let mut model = Model::default();
    for (i, raw) in fixtures().iter().enumerate() {
        model.ingest(raw, 100.0 + i as f64);
    }
    model.link_retry("a".into(), "b".into());
    model.on_link(true, 90.0);
    model.expire(200.0, None);
    let bytes = model.save_besides_tasks(200.0);
    let target = busy(0.02);
    let before = (shown(&target, NOW), parts(&target));
    let mut target = target;
    for len in 0..bytes.len() {
        let err = target
            .restore_besides_tasks(&bytes[..len], NOW)
            .unwrap_err();
        let expected = if len < 8 {
            matches!(err, SavedError::NotSaved)
        } else {
            matches!(
                err,
                SavedError::Truncated { .. } | SavedError::Damaged { .. }
            )
        };
        assert!(expected, "{len}: {err}");
    }
    assert_eq!((shown(&target, NOW), parts(&target)), before);
}

#[test]
fn other_versions_damage_and_garbage_are_refused_and_change_nothing() {
    let bytes = busy(0.02).save_besides_tasks(NOW);
    let mut target = busy(0.01);
    let before = (shown(&target, NOW), parts(&target));
    let mut refuse = |blob: &[u8]| target.restore_besides_tasks(blob, NOW).unwrap_err();

    for found in [0, FORMAT_VERSION + 1, 0x0102] {
        let mut other = bytes.clone();
        other[8..10].copy_from_slice(&found.to_le_bytes());
        assert_eq!(refuse(&other), SavedError::UnknownVersion { found });
    }
    let mut newer = bytes.clone();
    newer[8] = 3;
    assert_eq!(
        refuse(&newer).to_string(),
        "saved in format version 3; this celadon reads versions 1 and 2"
    );

    for at in [HEADER, HEADER + 9, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        assert!(
            matches!(refuse(&flipped), SavedError::Damaged { .. }),
            "byte {at}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(refuse(&longer), SavedError::Damaged { .. }));

    assert_eq!(refuse(b""), SavedError::NotSaved);
    assert_eq!(refuse(b"{\"tasks\": []}"), SavedError::NotSaved);
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(refuse(&garbage), SavedError::NotSaved);
    assert_eq!((shown(&target, NOW), parts(&target)), before);
}

/// A blob with a well-formed header and checksum around `body`.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut blob = MAGIC.to_vec();
    blob.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    blob.extend_from_slice(&codec::checksum(body).to_le_bytes());
    blob.extend_from_slice(body);
    blob
}

#[test]
fn garbage_behind_a_valid_checksum_is_refused_without_a_panic() {
    let bytes = busy(0.02).save_besides_tasks(NOW);
    let body = &bytes[HEADER..];
    let mut target = Model::default();
    for cut in (0..body.len()).step_by(97) {
        let err = target
            .restore_besides_tasks(&sealed(&body[..cut]), NOW)
            .unwrap_err();
        assert!(matches!(err, SavedError::Truncated { .. }), "{cut}: {err}");
    }
    let mut seed = 0x1234_5678_u64;
    for round in 0..2000 {
        let mut body = body.to_vec();
        for _ in 0..1 + round % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % body.len() as u64) as usize;
            body[at] = (seed >> 32) as u8;
        }
        // Either refused, or (a changed value in range) restored.
        let _ = target.restore_besides_tasks(&sealed(&body), NOW);
    }
    let mut trailing = body.to_vec();
    trailing.push(0);
    assert!(matches!(
        Model::default().restore_besides_tasks(&sealed(&trailing), NOW),
        Err(SavedError::Invalid { .. })
    ));
}

/// The body of an empty model's blob up to its first ring (throughput
/// per second).
fn body_before_the_first_ring() -> codec::Writer {
    use wire::celery::{TaskEventKind, WorkerEventKind};
    let mut w = codec::Writer::default();
    w.f64(NOW);
    w.uint(0);
    w.len(0);
    w.len(0);
    w.len(TaskEventKind::COUNT);
    (0..TaskEventKind::COUNT).for_each(|_| w.uint(0));
    w.len(WorkerEventKind::COUNT);
    (0..WorkerEventKind::COUNT).for_each(|_| w.uint(0));
    w.len(0);
    w.uint(0);
    w.uint(0);
    w.len(0);
    w
}

#[test]
fn a_ring_of_another_width_or_a_head_out_of_time_is_refused_by_name() {
    let mut w = body_before_the_first_ring();
    w.uint(2);
    w.len(3600);
    w.opt(None, codec::Writer::int);
    w.uint(0);
    let err = Model::default()
        .restore_besides_tasks(&sealed(&w.buf), NOW)
        .unwrap_err();
    assert_eq!(
        err,
        SavedError::Shape {
            what: "an outcome ring",
            saved: 2,
            expected: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "an outcome ring has buckets of 2 s; this celadon's have 1 s"
    );

    let mut w = body_before_the_first_ring();
    w.uint(1);
    w.len(3600);
    w.opt(Some(i64::MIN + 1), codec::Writer::int);
    w.uint(0);
    let err = Model::default()
        .restore_besides_tasks(&sealed(&w.buf), NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SavedError::Invalid {
                what: "an outcome ring",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_queue_with_one_or_too_many_priority_steps_of_history_is_refused() {
    use crate::state::queues::{MAX_PRIORITY_STEPS, Queue};
    for steps in [1, MAX_PRIORITY_STEPS + 1] {
        let mut model = Model::default();
        model.record_queue_depths(NOW - 10.0, &[], vec![("q".into(), vec![1, 2])], None);
        let q = model.queues.by_name.get_mut("q").unwrap();
        q.per_step_5s = (0..steps).map(|_| Queue::step_ring()).collect();
        let bytes = model.save_besides_tasks(NOW);
        let mut target = busy(0.01);
        let before = (shown(&target, NOW), parts(&target));
        let err = target.restore_besides_tasks(&bytes, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                SavedError::Invalid {
                    what: "a queue's priority steps",
                    ..
                }
            ),
            "{steps}: {err}"
        );
        assert_eq!((shown(&target, NOW), parts(&target)), before);
    }
    let mut model = Model::default();
    let ten = vec![1; MAX_PRIORITY_STEPS];
    model.record_queue_depths(NOW - 10.0, &[], vec![("q".into(), ten)], None);
    let back = super::restored(&model.save_besides_tasks(NOW), NOW);
    assert_eq!(parts(&back), parts(&model), "ten steps are kept");
}
