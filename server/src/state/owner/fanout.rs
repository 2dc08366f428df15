//! What each subscribed websocket is sent at a flush: the owner remembers
//! what it last sent every subscriber and sends only what changed for its
//! view. Worker rows go by hostname when their `rev` moved; a tasks page
//! goes as its order of ids plus only the rows the browser lacks or that
//! changed; small views (a task, a worker, the queues, the graphs) go whole,
//! and only if different. One flush computes each distinct view once,
//! however many tabs show it. Pure: the model and `now` are given.

use std::collections::{BTreeSet, HashMap};

use app::wire::{
    BrokerState, BrokerStatus, Cluster, ServerMsg, Snapshot, TaskRow, View, ViewData, ViewPatch,
};
use tokio::sync::mpsc;

use crate::state::{
    Model,
    views::{self, ViewConfig},
};

/// One websocket's subscription.
pub(super) struct Subscriber {
    pub(super) view: View,
    pub(super) updates: mpsc::Sender<ServerMsg>,
    pub(super) seq: u64,
    /// What the browser has, to send it only what changed.
    pub(super) sent: Sent,
}

/// What a subscriber was last sent, with the model version it came from.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Sent {
    /// Worker rows are sent by change; only the totals are remembered.
    Workers { cluster: Cluster },
    Tasks {
        version: u64,
        rows: Vec<TaskRow>,
        counts: (u64, u64, Vec<(String, u64)>),
    },
    /// Small views, sent whole when anything in them changed.
    Whole { version: u64, data: Box<ViewData> },
}

impl Sent {
    /// What a subscriber has after it was sent `snapshot` of `model`.
    pub(super) fn of(snapshot: &Snapshot, model: &Model) -> Sent {
        match &snapshot.data {
            ViewData::Workers { cluster, .. } => Sent::Workers {
                cluster: cluster.clone(),
            },
            ViewData::Tasks(t) => Sent::Tasks {
                version: model.task_version,
                rows: t.rows.clone(),
                counts: (t.filtered, t.total, t.states.clone()),
            },
            other => Sent::Whole {
                version: whole_version(&other.view(), model),
                data: Box::new(other.clone()),
            },
        }
    }

    /// What changed for a subscriber to `view` since it was sent `self`,
    /// which becomes what it has once the patch is sent.
    pub(super) fn patch(&mut self, view: &View, cx: &mut FlushCtx<'_>) -> Option<ViewPatch> {
        match self {
            Sent::Workers { cluster } => {
                let cluster = (cx.cluster != *cluster).then(|| {
                    *cluster = cx.cluster.clone();
                    cx.cluster.clone()
                });
                if cx.changed_workers.is_empty() && cluster.is_none() {
                    return None;
                }
                let (upsert, remove) =
                    views::workers_changes(cx.model, cx.changed_workers.iter(), cx.now);
                Some(ViewPatch::Workers {
                    upsert,
                    remove,
                    cluster,
                })
            }
            Sent::Tasks {
                version,
                rows,
                counts,
            } => {
                if *version == cx.model.task_version {
                    return None;
                }
                *version = cx.model.task_version;
                let ViewData::Tasks(fresh) = cx.data(view) else {
                    return None;
                };
                let fresh_counts = (fresh.filtered, fresh.total, fresh.states.clone());
                if fresh.rows == *rows && fresh_counts == *counts {
                    return None;
                }
                let had: HashMap<&str, &TaskRow> =
                    rows.iter().map(|r| (r.id.as_str(), r)).collect();
                let upsert: Vec<TaskRow> = fresh
                    .rows
                    .iter()
                    .filter(|r| had.get(r.id.as_str()) != Some(r))
                    .cloned()
                    .collect();
                let order = fresh.rows.iter().map(|r| r.id.clone()).collect();
                *rows = fresh.rows.clone();
                *counts = fresh_counts;
                Some(ViewPatch::Tasks {
                    order,
                    upsert,
                    filtered: counts.0,
                    total: counts.1,
                    states: counts.2.clone(),
                })
            }
            Sent::Whole { version, data } => {
                let current = whole_version(view, cx.model);
                let worker_changed =
                    matches!(view, View::Worker { name } if cx.changed_workers.contains(name));
                if current == *version && !worker_changed {
                    return None;
                }
                *version = current;
                let fresh = cx.data(view);
                if fresh == &**data {
                    return None;
                }
                **data = fresh.clone();
                Some(ViewPatch::Replace(Box::new(fresh.clone())))
            }
        }
    }
}

/// The model counter that moves when what a small view shows may have.
fn whole_version(view: &View, model: &Model) -> u64 {
    match view {
        View::Worker { .. } => model.inspect_version,
        View::Broker => model.queues.version,
        View::Task { .. } | View::Tasks { .. } | View::Workers => model.task_version,
        // Each counter only grows, so the sum moves whenever one does.
        View::Graphs { .. } => model
            .task_version
            .wrapping_add(model.series_version)
            .wrapping_add(model.queues.version),
    }
}

/// What one flush has computed, shared by subscribers to the same view.
pub(super) struct FlushCtx<'a> {
    model: &'a Model,
    config: &'a ViewConfig,
    now: f64,
    changed_workers: BTreeSet<String>,
    cluster: Cluster,
    computed: HashMap<View, ViewData>,
}

impl<'a> FlushCtx<'a> {
    /// A flush of `model` at `now`, in which `changed_workers` changed.
    pub(super) fn new(
        model: &'a Model,
        config: &'a ViewConfig,
        now: f64,
        changed_workers: BTreeSet<String>,
    ) -> FlushCtx<'a> {
        FlushCtx {
            model,
            config,
            now,
            changed_workers,
            cluster: views::cluster(model, now),
            computed: HashMap::new(),
        }
    }

    fn data(&mut self, view: &View) -> &ViewData {
        let (model, config, now) = (self.model, self.config, self.now);
        self.computed.entry(view.clone()).or_insert_with(|| {
            // The broker part of a snapshot is not used here.
            views::snapshot(model, config, placeholder_broker(), view, now).data
        })
    }
}

fn placeholder_broker() -> BrokerStatus {
    BrokerStatus {
        state: BrokerState::Connecting,
        url: String::new(),
        detail: None,
        since: 0.0,
    }
}

#[cfg(test)]
mod tests;
