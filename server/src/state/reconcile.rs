//! Folding in what the result backend says of a task (PROTOCOL.md §7), as
//! if its event had arrived: for states reached while events were lost.

use app::wire::celery::{TaskEventKind, TaskState};

use super::{
    After, Model, TypeStats,
    key::TaskKey,
    symbols::Sym,
    task::{Step, Update},
};
use crate::broker::backend::Meta;

impl Model {
    /// Folds in what the result backend says of a retained task, as if its
    /// event had arrived: for states reached while events were lost. Does
    /// nothing for a task no longer retained, or one already further along.
    pub fn reconcile(&mut self, key: TaskKey, meta: &Meta, now: f64) {
        let kind = match TaskState::of_name(&meta.status) {
            None | Some(TaskState::Pending) => return,
            Some(state) => state.event(),
        };
        if self.tasks.get(key).is_none() {
            return;
        }
        let exc_message = |r: &serde_json::Value| -> Option<String> {
            let kind = r["exc_type"].as_str()?;
            let args = match &r["exc_message"] {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|v| crate::pyrepr::from_json(v).py_repr())
                    .collect::<Vec<_>>(),
                other => vec![crate::pyrepr::from_json(other).py_repr()],
            };
            Some(format!("{kind}({})", args.join(", ")))
        };
        // A result the backend keeps in a form celadon does not read
        // (a pickle) is left unknown, not shown as None.
        let result = meta.result.as_ref().unwrap_or(&serde_json::Value::Null);
        let result_text = (kind == TaskEventKind::Succeeded)
            .then(|| {
                meta.result
                    .as_ref()
                    .map(|r| crate::pyrepr::from_json(r).py_repr())
            })
            .flatten();
        let exception = matches!(kind, TaskEventKind::Failed | TaskEventKind::Retried)
            .then(|| exc_message(result))
            .flatten();
        let reason = result["exc_message"][0].as_str();
        let worker_name = meta
            .worker
            .clone()
            .or_else(|| result["hostname"].as_str().map(str::to_string));
        let worker = worker_name
            .as_deref()
            .map_or(Sym::NONE, |w| self.symbols.intern(w));
        let name = meta
            .name
            .as_deref()
            .map_or(Sym::NONE, |n| self.symbols.intern(n));
        let queue = meta
            .queue
            .as_deref()
            .map_or(Sym::NONE, |q| self.symbols.intern(q));
        let update = Update {
            step: Step::Event(kind),
            timestamp: meta.done_at.unwrap_or(now),
            clock: self.clock,
            worker,
            client: None,
            name,
            queue,
            exchange: Sym::NONE,
            routing_key: Sym::NONE,
            retries: meta.retries,
            root: None,
            parent: None,
            args: None,
            kwargs: None,
            eta: None,
            expires: None,
            result: result_text.as_deref(),
            runtime: None,
            exception: exception.as_deref(),
            traceback: meta.traceback.as_deref(),
            terminated: (kind == TaskEventKind::Revoked).then_some(reason == Some("terminated")),
            signum: None,
            expired: (kind == TaskEventKind::Revoked).then_some(reason == Some("expired")),
            requeue: None,
        };
        let ((folded, name_before, after), _) = self.tasks.upsert(key, |task, _| {
            let name_before = task.name;
            let folded = task.fold(&update);
            (folded, name_before, After::of(task))
        });
        self.task_version += 1;
        if (name_before, folded.before) != (after.name, after.state) {
            let old = self.type_stats(name_before);
            let slot = TypeStats::retained_slot(folded.before);
            old.retained[slot] = old.retained[slot].saturating_sub(1);
            self.type_stats(after.name).retained[TypeStats::retained_slot(after.state)] += 1;
        }
        if !folded.duplicate && folded.before != folded.after {
            self.count_outcome(kind, key, &after, update.timestamp.min(now));
        }
    }
}
