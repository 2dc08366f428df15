//! The order a webhook's bodies are attempted in: which are due, which
//! wait behind an earlier body of their key, when the task next wakes.
//! Pure: time is a parameter.

use std::collections::{BTreeMap, HashSet};

use tokio::time::Instant;

use super::{Notice, NoticeStatus};

/// One body for one webhook, from its first attempt to its last.
pub struct Job {
    /// `X-Celadon-Delivery`: the same on every attempt.
    pub id: String,
    pub key: String,
    pub status: NoticeStatus,
    pub body: Vec<u8>,
    pub attempts: u32,
    pub first: Instant,
    pub due: Instant,
}

impl Job {
    /// A body for `notice`, due at `now`, with a fresh delivery id.
    pub fn new(notice: &Notice, body: Vec<u8>, now: Instant) -> Job {
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            key: notice.key.clone(),
            status: notice.status,
            body,
            attempts: 0,
            first: now,
            due: now,
        }
    }
}

/// Which of a webhook's bodies to attempt when (pure: time is a
/// parameter). Bodies wait in arrival order and a retried one keeps its
/// place, so a key's later body (its Resolved) never overtakes an earlier
/// one, which may be in flight or backing off.
#[derive(Default)]
pub struct Schedule {
    waiting: BTreeMap<u64, Job>,
    arrivals: u64,
    /// Keys with an attempt in flight.
    busy: HashSet<String>,
}

impl Schedule {
    pub fn push(&mut self, job: Job) {
        self.waiting.insert(self.arrivals, job);
        self.arrivals += 1;
    }

    /// Takes up to `slots` bodies due at `now`, oldest first, skipping a
    /// key in flight or with an older body waiting; their keys are busy
    /// until [`finished`](Self::finished).
    pub fn start_due(&mut self, now: Instant, slots: usize) -> Vec<(u64, Job)> {
        let mut held: HashSet<&str> = HashSet::new();
        let mut start = Vec::new();
        for (seq, job) in &self.waiting {
            if start.len() >= slots {
                break;
            }
            let key = job.key.as_str();
            if job.due <= now && !self.busy.contains(key) && !held.contains(key) {
                start.push(*seq);
            }
            held.insert(key);
        }
        let mut jobs = Vec::with_capacity(start.len());
        for seq in start {
            if let Some(job) = self.waiting.remove(&seq) {
                self.busy.insert(job.key.clone());
                jobs.push((seq, job));
            }
        }
        jobs
    }

    /// When the next waiting body comes due. A body already due but held
    /// back (its key, or every slot, in flight) is left out: an attempt's
    /// end wakes the task for it, and waking for it now would spin.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.waiting
            .values()
            .map(|j| j.due)
            .filter(|due| *due > now)
            .min()
    }

    /// Bodies waiting (not in flight).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The waiting bodies, oldest first.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.waiting.values()
    }

    /// An attempt of the body `seq` (key `key`) ended; `retry` is the body
    /// again when it is to be retried, back in its place.
    pub fn finished(&mut self, seq: u64, key: &str, retry: Option<Job>) {
        self.busy.remove(key);
        if let Some(job) = retry {
            self.waiting.insert(seq, job);
        }
    }
}

/// A body for a notice with `key` and `status`, due at `now` (its body
/// is the key's bytes), for the tests here and in `deliver`.
#[cfg(test)]
pub fn test_job(key: &str, status: NoticeStatus, now: Instant) -> Job {
    let notice = Notice {
        key: key.into(),
        status,
        rule: "r".into(),
        summary: "s".into(),
        details: Vec::new(),
        link: String::new(),
        started_at: 0.0,
        ended_at: None,
    };
    Job::new(&notice, key.as_bytes().to_vec(), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{FIRST_BACKOFF, MAX_IN_FLIGHT};

    fn job(key: &str, status: NoticeStatus, now: Instant) -> Job {
        test_job(key, status, now)
    }

    fn started(jobs: &[(u64, Job)]) -> Vec<(u64, &str, NoticeStatus)> {
        jobs.iter()
            .map(|(seq, j)| (*seq, j.key.as_str(), j.status))
            .collect()
    }

    #[test]
    fn a_keys_resolved_waits_behind_its_firing_while_it_is_retried() {
        use NoticeStatus::{Firing, Resolved};
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.push(job("a", Firing, t0));
        s.push(job("b", Firing, t0));
        s.push(job("a", Resolved, t0));
        let first = s.start_due(t0, MAX_IN_FLIGHT);
        assert_eq!(started(&first), [(0, "a", Firing), (1, "b", Firing)]);
        // a's Firing fails and backs off 1 s; b's is delivered.
        let mut again = None;
        for (seq, mut j) in first {
            let key = j.key.clone();
            if key == "a" {
                j.due = t0 + FIRST_BACKOFF;
                again = Some(j.id.clone());
                s.finished(seq, &key, Some(j));
            } else {
                s.finished(seq, &key, None);
            }
        }
        assert!(s.start_due(t0, MAX_IN_FLIGHT).is_empty());
        assert_eq!(s.next_wake(t0), Some(t0 + FIRST_BACKOFF));
        let t1 = t0 + FIRST_BACKOFF;
        let retry = s.start_due(t1, MAX_IN_FLIGHT);
        assert_eq!(started(&retry), [(0, "a", Firing)]);
        assert_eq!(Some(&retry[0].1.id), again.as_ref(), "the same delivery id");
        // Due, but held behind its Firing in flight: no wake to spin on.
        assert_eq!(s.next_wake(t1), None);
        s.finished(0, "a", None);
        assert_eq!(
            started(&s.start_due(t1, MAX_IN_FLIGHT)),
            [(2, "a", Resolved)]
        );
    }

    #[test]
    fn at_most_the_free_slots_start() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        for i in 0..6 {
            s.push(job(&format!("k{i}"), NoticeStatus::Firing, t0));
        }
        assert_eq!(s.start_due(t0, MAX_IN_FLIGHT).len(), MAX_IN_FLIGHT);
        assert!(s.start_due(t0, 0).is_empty());
        assert_eq!(s.next_wake(t0), None, "held by the slots, not by time");
        assert_eq!(s.start_due(t0, MAX_IN_FLIGHT).len(), 2);
    }
}
