//! The JSON shapes of the REST API. They are Flower's (`Task.as_dict()`,
//! `{"task-types": [...]}`, …) so existing API clients keep working, plus a
//! few fields Flower does not have, always added, never renamed.

use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::state::{
    task::{flags, Task, NO_RETRIES},
    text::Field,
    Model,
};

/// One task, as Flower's `/api/task/info` and `/api/tasks` show it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct TaskJson {
    pub uuid: String,
    pub name: Option<String>,
    pub state: String,
    pub received: Option<f64>,
    pub sent: Option<f64>,
    pub started: Option<f64>,
    pub rejected: Option<f64>,
    pub succeeded: Option<f64>,
    pub failed: Option<f64>,
    pub retried: Option<f64>,
    pub revoked: Option<f64>,
    pub args: Option<String>,
    pub kwargs: Option<String>,
    pub eta: Option<String>,
    pub expires: Option<String>,
    pub retries: Option<u32>,
    pub worker: Option<String>,
    pub result: Option<String>,
    pub exception: Option<String>,
    pub timestamp: Option<f64>,
    pub runtime: Option<f64>,
    pub traceback: Option<String>,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    pub clock: u64,
    pub client: Option<String>,
    pub root: Option<String>,
    pub root_id: Option<String>,
    pub parent: Option<String>,
    pub parent_id: Option<String>,
    pub children: Vec<String>,
    /// celadon: the queue named by `task-sent`.
    pub queue: Option<String>,
    /// celadon: for revoked tasks, whether the revoke terminated it, and by
    /// which signal; or whether it had expired.
    pub terminated: Option<bool>,
    pub signum: Option<i32>,
    pub expired: Option<bool>,
    /// celadon: the task this one re-sent (a retry from celadon), and the
    /// tasks that re-sent this one.
    pub retry_of: Option<String>,
    pub retried_as: Vec<String>,
}

fn time(t: f64) -> Option<f64> {
    t.is_finite().then_some(t)
}

impl TaskJson {
    pub fn of(model: &Model, t: &Task) -> TaskJson {
        let sym = |s: crate::state::symbols::Sym| {
            (!s.is_none()).then(|| model.symbols.text(s).to_string())
        };
        let text = |f: Field| t.text.get(f).map(str::to_string);
        let root = model.link_text(t.root, t.text.get(Field::RootIdText));
        let parent = model.link_text(t.parent, t.text.get(Field::ParentIdText));
        let revoked = t.times.revoked.is_finite();
        TaskJson {
            uuid: model.id_text(t.key).unwrap_or_default(),
            name: sym(t.name),
            state: model.state_name(t.state).to_string(),
            received: time(t.times.received),
            sent: time(t.times.sent),
            started: time(t.times.started),
            rejected: time(t.times.rejected),
            succeeded: time(t.times.succeeded),
            failed: time(t.times.failed),
            retried: time(t.times.retried),
            revoked: time(t.times.revoked),
            args: text(Field::Args),
            kwargs: text(Field::Kwargs),
            eta: text(Field::Eta),
            expires: text(Field::Expires),
            retries: (t.retries != NO_RETRIES).then_some(t.retries),
            worker: sym(t.worker),
            result: text(Field::Result),
            exception: text(Field::Exception),
            timestamp: time(t.times.timestamp),
            runtime: time(t.runtime),
            traceback: text(Field::Traceback),
            exchange: sym(t.exchange),
            routing_key: sym(t.routing_key),
            clock: t.clock,
            client: text(Field::Client),
            root_id: root.clone(),
            root,
            parent_id: parent.clone(),
            parent,
            children: model.children_text(t),
            queue: sym(t.queue),
            terminated: revoked.then_some(t.flags & flags::TERMINATED != 0),
            signum: (t.signum != i16::MIN).then_some(i32::from(t.signum)),
            expired: revoked.then_some(t.flags & flags::EXPIRED != 0),
            retry_of: model.retry_links.retry_of(t.key).map(str::to_string),
            retried_as: model.retry_links.retried_as(t.key).to_vec(),
        }
    }
}

/// A JSON object whose keys keep the given order (Flower's `/api/tasks`
/// is an ordered mapping from task id to task).
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
