//! Celery's own vocabulary: the eight task events a worker or client sends,
//! the eight task states they lead to, and the three worker events. One
//! definition for every layer: the server decodes events into these, its
//! model counts by them, and the wire names them the way Celery and Flower
//! do. Each enum is its own index (`kind as usize`), so a table by kind
//! is an array of `COUNT` entries, never a list of hand-numbered slots.

use serde::{Deserialize, Serialize};

/// A task event Celery sends (`task-sent` … `task-rejected`). Counted per
/// kind, these are also the charts' outcomes (`succeeded`, `failed`, …).
/// Any other `task-*` type is a custom event, which is not one of these.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskEventKind {
    Sent,
    Received,
    Started,
    Succeeded,
    Failed,
    Retried,
    Revoked,
    Rejected,
}

impl TaskEventKind {
    pub const COUNT: usize = 8;

    /// Every kind, in the order of a task's life (and of its index).
    pub const ALL: [TaskEventKind; TaskEventKind::COUNT] = [
        TaskEventKind::Sent,
        TaskEventKind::Received,
        TaskEventKind::Started,
        TaskEventKind::Succeeded,
        TaskEventKind::Failed,
        TaskEventKind::Retried,
        TaskEventKind::Revoked,
        TaskEventKind::Rejected,
    ];

    /// Its place in [`ALL`](Self::ALL) and in any table by kind.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The event's `type` field (`task-succeeded`).
    pub fn type_name(self) -> &'static str {
        match self {
            TaskEventKind::Sent => "task-sent",
            TaskEventKind::Received => "task-received",
            TaskEventKind::Started => "task-started",
            TaskEventKind::Succeeded => "task-succeeded",
            TaskEventKind::Failed => "task-failed",
            TaskEventKind::Retried => "task-retried",
            TaskEventKind::Revoked => "task-revoked",
            TaskEventKind::Rejected => "task-rejected",
        }
    }

    /// The kind of a `type` field, if Celery sends it. (A `match`, not a
    /// search of `ALL`: every event is read through this.)
    pub fn of_type_name(name: &str) -> Option<TaskEventKind> {
        Some(match name {
            "task-sent" => TaskEventKind::Sent,
            "task-received" => TaskEventKind::Received,
            "task-started" => TaskEventKind::Started,
            "task-succeeded" => TaskEventKind::Succeeded,
            "task-failed" => TaskEventKind::Failed,
            "task-retried" => TaskEventKind::Retried,
            "task-revoked" => TaskEventKind::Revoked,
            "task-rejected" => TaskEventKind::Rejected,
            _ => return None,
        })
    }

    /// The outcome's name in the API and on the charts (`succeeded`).
    pub fn name(self) -> &'static str {
        match self {
            TaskEventKind::Sent => "sent",
            TaskEventKind::Received => "received",
            TaskEventKind::Started => "started",
            TaskEventKind::Succeeded => "succeeded",
            TaskEventKind::Failed => "failed",
            TaskEventKind::Retried => "retried",
            TaskEventKind::Revoked => "revoked",
            TaskEventKind::Rejected => "rejected",
        }
    }

    /// The state an event of this kind means (Celery's
    /// `TASK_EVENT_TO_STATE`).
    pub fn state(self) -> TaskState {
        match self {
            TaskEventKind::Sent => TaskState::Pending,
            TaskEventKind::Received => TaskState::Received,
            TaskEventKind::Started => TaskState::Started,
            TaskEventKind::Succeeded => TaskState::Success,
            TaskEventKind::Failed => TaskState::Failure,
            TaskEventKind::Retried => TaskState::Retry,
            TaskEventKind::Revoked => TaskState::Revoked,
            TaskEventKind::Rejected => TaskState::Rejected,
        }
    }
}

/// Celery's built-in task states. A custom `task-*` event puts a task in a
/// state of its own name, which is not one of these.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Pending,
    Received,
    Started,
    Success,
    Failure,
    Retry,
    Revoked,
    Rejected,
}

impl TaskState {
    pub const COUNT: usize = 8;

    /// Every state, in the order of [`TaskEventKind::ALL`]'s states.
    pub const ALL: [TaskState; TaskState::COUNT] = [
        TaskState::Pending,
        TaskState::Received,
        TaskState::Started,
        TaskState::Success,
        TaskState::Failure,
        TaskState::Retry,
        TaskState::Revoked,
        TaskState::Rejected,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Celery's name (`SUCCESS`).
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Received => "RECEIVED",
            TaskState::Started => "STARTED",
            TaskState::Success => "SUCCESS",
            TaskState::Failure => "FAILURE",
            TaskState::Retry => "RETRY",
            TaskState::Revoked => "REVOKED",
            TaskState::Rejected => "REJECTED",
        }
    }

    pub fn of_name(name: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The event that puts a task in this state.
    pub fn event(self) -> TaskEventKind {
        TaskEventKind::ALL[self.index()]
    }

    /// Nothing more is expected for a task in this state.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failure | TaskState::Revoked | TaskState::Rejected
        )
    }
}

/// The worker events Celery sends.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum WorkerEventKind {
    Online,
    Heartbeat,
    Offline,
}

impl WorkerEventKind {
    pub const COUNT: usize = 3;

    pub const ALL: [WorkerEventKind; WorkerEventKind::COUNT] = [
        WorkerEventKind::Online,
        WorkerEventKind::Heartbeat,
        WorkerEventKind::Offline,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The event's `type` field (`worker-heartbeat`).
    pub fn type_name(self) -> &'static str {
        match self {
            WorkerEventKind::Online => "worker-online",
            WorkerEventKind::Heartbeat => "worker-heartbeat",
            WorkerEventKind::Offline => "worker-offline",
        }
    }

    pub fn of_type_name(name: &str) -> Option<WorkerEventKind> {
        Some(match name {
            "worker-online" => WorkerEventKind::Online,
            "worker-heartbeat" => WorkerEventKind::Heartbeat,
            "worker-offline" => WorkerEventKind::Offline,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each enum is its own index: a table by kind depends on it.
    #[test]
    fn every_kind_and_state_sits_at_its_own_index() {
        for (i, k) in TaskEventKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(k.state().index(), i, "{k:?}'s state shares its index");
            assert_eq!(TaskEventKind::of_type_name(k.type_name()), Some(k));
        }
        for (i, s) in TaskState::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(TaskState::of_name(s.name()), Some(s));
            assert_eq!(s.event().state(), s);
        }
        for (i, k) in WorkerEventKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(WorkerEventKind::of_type_name(k.type_name()), Some(k));
        }
    }

    /// On the wire they are Celery's and Flower's own names.
    #[test]
    fn the_wire_spells_them_as_celery_does() {
        let json = serde_json::to_string(&(
            TaskEventKind::Succeeded,
            TaskState::Success,
            WorkerEventKind::Heartbeat,
        ))
        .unwrap();
        assert_eq!(json, r#"["succeeded","SUCCESS","heartbeat"]"#);
    }
}
