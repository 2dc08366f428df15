//! The model of the cluster and its single owner. `Model` is pure: it
//! decodes what it is given and folds it in with an explicit `now`; the
//! `owner` task is the only code that holds one.

pub mod owner;
mod views;
pub mod workers;

use std::collections::BTreeMap;

use crate::broker::events::{decode_events, Event, EventError};
use workers::Workers;

/// Counts of what arrived on the event channels.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Events folded in or recognised, by type.
    pub events_by_type: BTreeMap<String, u64>,
    /// Payloads or events that could not be decoded at all.
    pub undecodable: u64,
}

#[derive(Debug, Default)]
pub struct Model {
    pub workers: Workers,
    pub counters: Counters,
}

impl Model {
    /// Decodes one PUBLISH payload from an event channel and applies every
    /// event in it. Junk is counted, not fatal; the errors are returned so
    /// the caller can log them.
    pub fn ingest(&mut self, payload: &[u8], received_at: f64) -> Vec<EventError> {
        let events = match decode_events(payload) {
            Ok(events) => events,
            Err(error) => {
                self.counters.undecodable += 1;
                return vec![error];
            }
        };
        let mut errors = Vec::new();
        for event in events {
            match event {
                Ok(event) => self.apply(event, received_at),
                Err(error) => {
                    self.counters.undecodable += 1;
                    errors.push(error);
                }
            }
        }
        errors
    }

    /// Folds in one decoded event, received at `received_at`.
    pub fn apply(&mut self, event: Event, received_at: f64) {
        let kind = match &event {
            Event::Worker(w) => match w.kind {
                crate::broker::events::WorkerEventKind::Online => "worker-online",
                crate::broker::events::WorkerEventKind::Heartbeat => "worker-heartbeat",
                crate::broker::events::WorkerEventKind::Offline => "worker-offline",
            },
            Event::Other { kind } => kind.as_str(),
        };
        match self.counters.events_by_type.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.counters.events_by_type.insert(kind.to_string(), 1);
            }
        }
        if let Event::Worker(w) = event {
            self.workers.apply(w, received_at);
        }
    }

    /// Applies the passage of time: heartbeat expiry.
    pub fn expire(&mut self, now: f64) {
        self.workers.expire(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_payloads_are_counted_and_change_nothing_else() {
        let mut model = Model::default();
        for junk in [&b"garbage"[..], b"", b"{\"body\": 1}", b"\x00\xff"] {
            assert_eq!(model.ingest(junk, 1.0).len(), 1);
        }
        assert_eq!(model.counters.undecodable, 4);
        assert!(model.counters.events_by_type.is_empty());
        assert_eq!(model.workers.iter().count(), 0);
    }
}
