//! The explicit conversion from the model to what a view shows on the
//! wire. Model types are not serializable; these functions are the
//! boundary.

use app::wire::{self, BrokerState, BrokerStatus, Snapshot, View, ViewData, ViewPatch, WorkerRow};

use super::{workers::Worker, Model};
use crate::broker::{BrokerLink, LinkState};

pub fn broker_status(link: &BrokerLink, url: &str) -> BrokerStatus {
    BrokerStatus {
        state: match link.state {
            LinkState::Connecting => BrokerState::Connecting,
            LinkState::Connected => BrokerState::Connected,
            LinkState::Unreachable => BrokerState::Unreachable,
        },
        url: url.to_string(),
        detail: link.detail.clone(),
        since: link.since,
    }
}

pub fn worker_row(w: &Worker) -> WorkerRow {
    WorkerRow {
        hostname: w.hostname.clone(),
        status: if w.online {
            wire::WorkerStatus::Online
        } else {
            wire::WorkerStatus::Offline
        },
        active: w.active,
        processed: w.processed,
        loadavg: w.loadavg,
        sw_ident: w.sw_ident.clone(),
        sw_ver: w.sw_ver.clone(),
        sw_sys: w.sw_sys.clone(),
        pid: w.pid,
        freq: Some(w.freq),
        last_heartbeat: w.last_heartbeat,
        rev: w.rev,
    }
}

pub fn snapshot(model: &Model, broker: BrokerStatus, view: &View) -> Snapshot {
    let data = match view {
        View::Workers => ViewData::Workers {
            workers: model.workers.iter().map(worker_row).collect(),
        },
    };
    Snapshot { broker, data }
}

/// What changed for a workers view, given the hostnames that changed.
pub fn workers_patch<'a>(model: &Model, changed: impl Iterator<Item = &'a String>) -> ViewPatch {
    let mut upsert = Vec::new();
    let mut remove = Vec::new();
    for name in changed {
        match model.workers.get(name) {
            Some(w) => upsert.push(worker_row(w)),
            None => remove.push(name.clone()),
        }
    }
    ViewPatch::Workers { upsert, remove }
}
