//! The browser's copy of what the server streams for the current view, and
//! the pure `apply` that folds one server message into it. No IO, no clock,
//! no reactivity: `live::state` wraps this in a signal.

use crate::wire::{
    BrokerStatus, HistoryHealth, ServerMsg, Snapshot, TaskRow, View, ViewData, ViewPatch, WorkerRow,
};

/// What the browser knows of the view it is subscribed to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveModel {
    /// Sequence number of the last message applied; `None` until a snapshot.
    pub seq: Option<u64>,
    pub broker: Option<BrokerStatus>,
    /// Whether history is written (`None` when none is kept).
    pub history: Option<HistoryHealth>,
    /// The alerts firing now (the banner on every page).
    pub alerts: Option<crate::wire::alerts::FiringNow>,
    pub data: Option<ViewData>,
    /// Whether the server offers control actions.
    pub controls: bool,
}

/// What the caller must do after [`LiveModel::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The message was folded in.
    Ok,
    /// A delta arrived out of sequence or for another view: the model is
    /// left as it was and the caller must resubscribe to get a snapshot.
    Resync,
}

impl LiveModel {
    /// A model seeded from a snapshot rendered by the server, before the
    /// websocket has said anything. It has no sequence number, so the first
    /// websocket message must be a snapshot.
    pub fn seeded(snapshot: Snapshot) -> Self {
        LiveModel {
            seq: None,
            broker: Some(snapshot.broker),
            history: snapshot.history,
            alerts: snapshot.alerts,
            data: Some(snapshot.data),
            controls: snapshot.controls,
        }
    }

    /// Whether the model holds data for `view`.
    pub fn shows(&self, view: &View) -> bool {
        self.data.as_ref().is_some_and(|d| &d.view() == view)
    }

    pub fn apply(&mut self, msg: ServerMsg) -> Applied {
        match msg {
            ServerMsg::Snapshot { seq, snapshot } => {
                self.seq = Some(seq);
                self.broker = Some(snapshot.broker);
                self.history = snapshot.history;
                self.alerts = snapshot.alerts;
                self.data = Some(snapshot.data);
                self.controls = snapshot.controls;
                Applied::Ok
            }
            ServerMsg::Delta { seq, delta } => {
                if self.seq.map(|s| s + 1) != Some(seq) {
                    return Applied::Resync;
                }
                if let Some(patch) = delta.patch
                    && !apply_patch(&mut self.data, patch)
                {
                    return Applied::Resync;
                }
                if let Some(broker) = delta.broker {
                    self.broker = Some(broker);
                }
                if let Some(alerts) = delta.alerts {
                    self.alerts = Some(*alerts);
                }
                if let Some(history) = delta.history {
                    self.history = Some(*history);
                }
                self.seq = Some(seq);
                Applied::Ok
            }
        }
    }
}

/// Folds `patch` into `data`; `false` when it does not fit (another view).
fn apply_patch(data: &mut Option<ViewData>, patch: ViewPatch) -> bool {
    match (data, patch) {
        (
            Some(ViewData::Workers { workers, cluster }),
            ViewPatch::Workers {
                upsert,
                remove,
                cluster: new_cluster,
            },
        ) => {
            patch_workers(workers, upsert, &remove);
            if let Some(c) = new_cluster {
                *cluster = c;
            }
            true
        }
        (
            Some(ViewData::Tasks(t)),
            ViewPatch::Tasks {
                order,
                upsert,
                filtered,
                total,
                states,
            },
        ) => {
            match patch_rows(&t.rows, order, upsert) {
                Some(rows) => t.rows = rows,
                None => return false,
            }
            t.filtered = filtered;
            t.total = total;
            t.states = states;
            true
        }
        (Some(old), ViewPatch::Replace(new)) if old.view() == new.view() => {
            *old = *new;
            true
        }
        _ => false,
    }
}

/// The page's rows in `order`, each from `upsert` or else kept from `rows`;
/// `None` if a row is in neither (the browser missed something).
fn patch_rows(rows: &[TaskRow], order: Vec<String>, upsert: Vec<TaskRow>) -> Option<Vec<TaskRow>> {
    let mut fresh: std::collections::HashMap<String, TaskRow> =
        upsert.into_iter().map(|r| (r.id.clone(), r)).collect();
    order
        .into_iter()
        .map(|id| {
            fresh
                .remove(&id)
                .or_else(|| rows.iter().find(|r| r.id == id).cloned())
        })
        .collect()
}

/// Keeps `rows` sorted by hostname, as the server sends them.
fn patch_workers(rows: &mut Vec<WorkerRow>, upsert: Vec<WorkerRow>, remove: &[String]) {
    rows.retain(|r| !remove.contains(&r.hostname));
    for row in upsert {
        match rows.binary_search_by(|r| r.hostname.as_str().cmp(&row.hostname)) {
            Ok(i) => rows[i] = row,
            Err(i) => rows.insert(i, row),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BrokerState, Cluster, Delta, TasksData, TasksQuery, WorkerStatus};

    fn broker(state: BrokerState) -> BrokerStatus {
        BrokerStatus {
            state,
            url: "redis://localhost:6379/0".into(),
            detail: None,
            since: 0.0,
        }
    }

    fn worker(name: &str, status: WorkerStatus, rev: u64) -> WorkerRow {
        WorkerRow {
            hostname: name.into(),
            status,
            active: Some(0),
            processed: Some(rev),
            loadavg: None,
            sw_ident: None,
            sw_ver: None,
            sw_sys: None,
            pid: None,
            freq: Some(2.0),
            succeeded: 0,
            failed: 0,
            retried: 0,
            rate: 0.0,
            last_heartbeat: None,
            rev,
        }
    }

    fn snapshot(seq: u64, workers: Vec<WorkerRow>) -> ServerMsg {
        ServerMsg::Snapshot {
            seq,
            snapshot: Box::new(Snapshot {
                controls: true,
                natural_time: false,
                history: None,
                alerts: None,
                broker: broker(BrokerState::Connected),
                data: ViewData::Workers {
                    workers,
                    cluster: Cluster::default(),
                },
            }),
        }
    }

    fn delta(seq: u64, upsert: Vec<WorkerRow>, remove: Vec<String>) -> ServerMsg {
        ServerMsg::Delta {
            seq,
            delta: Delta {
                broker: None,
                history: None,
                alerts: None,
                patch: Some(ViewPatch::Workers {
                    upsert,
                    remove,
                    cluster: None,
                }),
            },
        }
    }

    fn names(m: &LiveModel) -> Vec<(String, WorkerStatus)> {
        match &m.data {
            Some(ViewData::Workers { workers, .. }) => workers
                .iter()
                .map(|w| (w.hostname.clone(), w.status))
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn deltas_in_sequence_insert_replace_and_remove_rows_in_order() {
        let mut m = LiveModel::default();
        let online = WorkerStatus::Online;
        assert_eq!(
            m.apply(snapshot(7, vec![worker("b@h", online, 1)])),
            Applied::Ok
        );
        assert_eq!(
            m.apply(delta(
                8,
                vec![worker("a@h", online, 1), worker("c@h", online, 1)],
                vec![]
            )),
            Applied::Ok
        );
        let offline = WorkerStatus::Offline;
        assert_eq!(
            m.apply(delta(
                9,
                vec![worker("b@h", offline, 2)],
                vec!["c@h".into()]
            )),
            Applied::Ok
        );
        assert_eq!(
            names(&m),
            vec![("a@h".to_string(), online), ("b@h".to_string(), offline)]
        );
        assert_eq!(m.seq, Some(9));
    }

    #[test]
    fn a_gap_in_sequence_asks_for_resync_and_changes_nothing() {
        let mut m = LiveModel::default();
        m.apply(snapshot(1, vec![]));
        let before = m.clone();
        let online = WorkerStatus::Online;
        assert_eq!(
            m.apply(delta(3, vec![worker("a@h", online, 1)], vec![])),
            Applied::Resync
        );
        assert_eq!(m, before);
    }

    #[test]
    fn a_delta_before_any_snapshot_asks_for_resync() {
        let seed = Snapshot {
            controls: true,
            natural_time: false,
            history: None,
            alerts: None,
            broker: broker(BrokerState::Connected),
            data: ViewData::Workers {
                workers: vec![],
                cluster: Cluster::default(),
            },
        };
        let mut m = LiveModel::seeded(seed);
        assert_eq!(m.apply(delta(0, vec![], vec![])), Applied::Resync);
        assert_eq!(m.apply(snapshot(0, vec![])), Applied::Ok);
        assert_eq!(m.apply(delta(1, vec![], vec![])), Applied::Ok);
    }

    #[test]
    fn broker_changes_arrive_in_deltas() {
        let mut m = LiveModel::default();
        m.apply(snapshot(1, vec![]));
        let msg = ServerMsg::Delta {
            seq: 2,
            delta: Delta {
                broker: Some(broker(BrokerState::Unreachable)),
                history: None,
                alerts: None,
                patch: None,
            },
        };
        assert_eq!(m.apply(msg), Applied::Ok);
        assert_eq!(m.broker.map(|b| b.state), Some(BrokerState::Unreachable));
    }

    fn task(id: &str, state: &str) -> TaskRow {
        TaskRow {
            id: id.into(),
            name: Some("add".into()),
            state: state.into(),
            args: None,
            kwargs: None,
            result: None,
            exception: None,
            sent: None,
            received: None,
            started: None,
            revoked: None,
            runtime: None,
            worker: None,
            exchange: None,
            routing_key: None,
            retries: None,
            expires: None,
            eta: None,
        }
    }

    fn tasks_snapshot(rows: Vec<TaskRow>) -> ServerMsg {
        ServerMsg::Snapshot {
            seq: 1,
            snapshot: Box::new(Snapshot {
                controls: true,
                natural_time: false,
                history: None,
                alerts: None,
                broker: broker(BrokerState::Connected),
                data: ViewData::Tasks(TasksData {
                    query: TasksQuery::default(),
                    error: None,
                    filtered: rows.len() as u64,
                    total: rows.len() as u64,
                    rows,
                    states: vec![],
                    default_columns: vec![],
                }),
            }),
        }
    }

    fn tasks_delta(seq: u64, order: &[&str], upsert: Vec<TaskRow>) -> ServerMsg {
        ServerMsg::Delta {
            seq,
            delta: Delta {
                broker: None,
                history: None,
                alerts: None,
                patch: Some(ViewPatch::Tasks {
                    order: order.iter().map(|s| s.to_string()).collect(),
                    upsert,
                    filtered: order.len() as u64,
                    total: 9,
                    states: vec![],
                }),
            },
        }
    }

    fn task_states(m: &LiveModel) -> Vec<(String, String)> {
        match &m.data {
            Some(ViewData::Tasks(t)) => t
                .rows
                .iter()
                .map(|r| (r.id.clone(), r.state.clone()))
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn a_tasks_delta_reorders_kept_rows_and_replaces_changed_ones() {
        let mut m = LiveModel::default();
        m.apply(tasks_snapshot(vec![
            task("a", "STARTED"),
            task("b", "SUCCESS"),
        ]));
        let outcome = m.apply(tasks_delta(
            2,
            &["c", "a"],
            vec![task("c", "RECEIVED"), task("a", "SUCCESS")],
        ));
        assert_eq!(outcome, Applied::Ok);
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            task_states(&m),
            vec![pair("c", "RECEIVED"), pair("a", "SUCCESS")]
        );
        assert_eq!(m.apply(tasks_delta(3, &["a"], vec![])), Applied::Ok);
        assert_eq!(task_states(&m), vec![pair("a", "SUCCESS")]);
    }

    #[test]
    fn a_tasks_delta_naming_a_row_the_browser_lacks_asks_for_resync() {
        let mut m = LiveModel::default();
        m.apply(tasks_snapshot(vec![task("a", "STARTED")]));
        let before = m.clone();
        assert_eq!(
            m.apply(tasks_delta(2, &["a", "x"], vec![])),
            Applied::Resync
        );
        assert_eq!(m, before);
    }

    #[test]
    fn a_patch_for_another_view_asks_for_resync() {
        let mut m = LiveModel::default();
        m.apply(tasks_snapshot(vec![]));
        assert_eq!(m.apply(delta(2, vec![], vec![])), Applied::Resync);
    }
}
