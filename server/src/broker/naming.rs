//! Where things live in Redis (PROTOCOL.md §2): the event and pidbox
//! channels, queue keys per priority, kombu's binding tables. All of it
//! shifts with the broker URL's db and Celery's `broker_transport_options`
//! (`transport`). Pure.

use super::transport::TransportOptions;

/// Names for one broker db.
#[derive(Clone, Debug, PartialEq)]
pub struct Naming {
    pub db: u32,
    pub options: TransportOptions,
}

impl Naming {
    pub fn new(db: u32, options: TransportOptions) -> Naming {
        Naming { db, options }
    }

    fn fanout(&self, exchange: &str) -> String {
        let prefix = if self.options.fanout_prefix {
            format!("/{}.", self.db)
        } else {
            String::new()
        };
        format!("{}{prefix}{exchange}", self.options.global_keyprefix)
    }

    /// The pattern that receives every event: `/{db}.celeryev/*`.
    pub fn event_pattern(&self) -> String {
        let base = self.fanout("celeryev");
        if self.options.fanout_patterns {
            format!("{base}/*")
        } else {
            base
        }
    }

    /// The channel an event with `routing_key` (`task.sent`) is published
    /// on: `/{db}.celeryev/task.sent`, or `/{db}.celeryev` without
    /// `fanout_patterns`.
    pub fn event_channel(&self, routing_key: &str) -> String {
        let base = self.fanout("celeryev");
        if self.options.fanout_patterns {
            format!("{base}/{routing_key}")
        } else {
            base
        }
    }

    /// The remote-control broadcast channel: `/{db}.celery.pidbox`.
    pub fn pidbox_channel(&self) -> String {
        self.fanout("celery.pidbox")
    }

    /// A key, with the global prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.options.global_keyprefix)
    }

    /// The hash of delivered, unacknowledged messages (`unacked_key`).
    pub fn unacked_key(&self) -> String {
        self.key(&self.options.unacked_key)
    }

    /// The sorted set of unacknowledged messages' delivery times
    /// (`unacked_index_key`).
    pub fn unacked_index_key(&self) -> String {
        self.key(&self.options.unacked_index_key)
    }

    /// The list keys of a queue, one per priority step (§6.7).
    pub fn queue_keys(&self, queue: &str) -> Vec<String> {
        self.options
            .priority_steps
            .iter()
            .map(|step| match step {
                0 => self.key(queue),
                s => self.key(&format!("{queue}{}{s}", self.options.sep)),
            })
            .collect()
    }

    /// The reply queue name for a control request from `oid`.
    pub fn reply_queue(&self, oid: &str) -> String {
        format!("{oid}.reply.celery.pidbox")
    }

    /// The binding member that routes replies for `oid` to its queue.
    pub fn reply_binding_member(&self, oid: &str) -> String {
        let sep = &self.options.sep;
        format!("{oid}{sep}{sep}{}", self.reply_queue(oid))
    }

    /// Why `queue` (a name before the global prefix) is not a task queue
    /// but a key kombu or Celery keeps for itself (PROTOCOL.md §6): the
    /// unacked bookkeeping, binding tables, priority sub-queues, results,
    /// pidbox and event queues. `None` for a name free for a queue.
    pub fn reserved(&self, queue: &str) -> Option<&'static str> {
        let unacked = &self.options.unacked_key;
        let sep = self.options.sep.as_str();
        if [
            unacked.clone(),
            self.options.unacked_index_key.clone(),
            format!("{unacked}_index"),
            format!("{unacked}_mutex"),
            "unacked".into(),
            "unacked_index".into(),
            "unacked_mutex".into(),
        ]
        .iter()
        .any(|k| k == queue)
        {
            return Some("kombu's record of unacknowledged messages");
        }
        if queue.starts_with("_kombu.") {
            return Some("kombu's binding tables");
        }
        if !sep.is_empty() && queue.contains(sep) {
            return Some("a priority sub-queue's key (it holds kombu's separator)");
        }
        if ["celery-task-meta-", "celery-taskset-meta-", "chord-unlock-"]
            .iter()
            .any(|p| queue.starts_with(p))
        {
            return Some("a result backend key");
        }
        if queue.ends_with("celery.pidbox") || queue.starts_with("celeryev") {
            return Some("a remote-control or event queue");
        }
        None
    }

    /// Pattern for kombu's binding tables (exchange → queues).
    pub fn binding_pattern(&self) -> String {
        self.key("_kombu.binding.*")
    }

    /// The exchange of a binding table key, if it routes to task queues
    /// (not pidbox, replies or events).
    pub fn task_exchange_of_binding(&self, key: &str) -> Option<String> {
        let exchange = key.strip_prefix(&self.key("_kombu.binding."))?;
        match exchange {
            "celery.pidbox" | "reply.celery.pidbox" | "celeryev" => None,
            e => Some(e.to_string()),
        }
    }

    /// The queue a binding member routes to: `routing_key sep pattern sep queue`.
    pub fn queue_of_binding_member(&self, member: &str) -> Option<String> {
        let queue = member.rsplit(self.options.sep.as_str()).next()?;
        (!queue.is_empty() && member.contains(self.options.sep.as_str())).then(|| queue.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kombus_own_keys_are_not_queues() {
        let n = Naming::new(0, TransportOptions::default());
        for key in [
            "unacked",
            "unacked_index",
            "unacked_mutex",
            "_kombu.binding.celery",
            "_kombu.binding_deadlines",
            "celery\x06\x163",
            "celery-task-meta-1234",
            "w1@host.celery.pidbox",
            "abc.reply.celery.pidbox",
            "celeryev.1234",
        ] {
            assert!(n.reserved(key).is_some(), "{key:?}");
        }
        for queue in ["celery", "default", "emails.high", "q:1", "celery_beat"] {
            assert_eq!(n.reserved(queue), None, "{queue}");
        }
    }

    #[test]
    fn default_names_match_what_celery_uses() {
        let n = Naming::new(0, TransportOptions::default());
        assert_eq!(n.event_pattern(), "/0.celeryev/*");
        assert_eq!(n.pidbox_channel(), "/0.celery.pidbox");
        assert_eq!(
            n.queue_keys("celery"),
            [
                "celery",
                "celery\x06\x163",
                "celery\x06\x166",
                "celery\x06\x169"
            ]
        );
        assert_eq!(
            n.reply_binding_member("ab"),
            "ab\x06\x16\x06\x16ab.reply.celery.pidbox"
        );
        assert_eq!(
            n.queue_of_binding_member("celery\x06\x16\x06\x16celery")
                .as_deref(),
            Some("celery")
        );
        assert_eq!(
            n.task_exchange_of_binding("_kombu.binding.celery")
                .as_deref(),
            Some("celery")
        );
        assert_eq!(n.task_exchange_of_binding("_kombu.binding.celeryev"), None);
    }

    #[test]
    fn transport_options_move_every_name() {
        let opts = TransportOptions::parse(
            r#"{"global_keyprefix": "app:", "fanout_prefix": false, "fanout_patterns": false,
                "priority_steps": [0, 5], "visibility_timeout": 3600, "unacked_key": "held"}"#,
            crate::broker::transport::Role::Broker,
        )
        .unwrap();
        let n = Naming::new(3, opts);
        assert_eq!(n.event_pattern(), "app:celeryev");
        assert_eq!(n.pidbox_channel(), "app:celery.pidbox");
        assert_eq!(n.queue_keys("q"), ["app:q", "app:q\x06\x165"]);
        assert_eq!(n.binding_pattern(), "app:_kombu.binding.*");
        assert_eq!(n.unacked_key(), "app:held");
        let with_db = Naming::new(3, TransportOptions::default());
        assert_eq!(with_db.event_pattern(), "/3.celeryev/*");
    }
}
