//! Deleting, purging and moving waiting messages, each atomic per message
//! and per exact bytes: messages are selected by reading and decoding
//! the queue's lists a chunk at a time (`broker::browse`'s scan, the same
//! code for a dry run and the real thing), and each one selected is
//! removed with `LREM key 1 <its bytes>`, or moved by [`MOVE_SCRIPT`],
//! which removes it from the source and, only if it was still there,
//! pushes it to the destination within one script. A worker's `BRPOP` of
//! the same message at the same moment either comes first (then `LREM`
//! finds nothing, and the message is counted as taken) or finds it gone:
//! never both, never neither. A whole queue is purged by one script too.
//! Nothing here writes a key that is not a queue's list: the callers
//! refuse kombu's own keys (`Naming::reserved`), and the scripts refuse to
//! touch a key that holds anything but a list. IO only.

use super::{
    browse::{Cursor, End, QueueBrowser, Scan, Waiting, depths},
    messages::{Message, rewrite_route},
    queue_query::Query,
};

/// Messages one action looks at, at most; the answer says whether it
/// looked at the whole queue.
pub const ACTION_SCAN_LIMIT: usize = 200_000;

/// Selected messages an answer shows.
pub const FIRST_SHOWN: usize = 10;

/// Moves one message: `KEYS[1]` source list, `KEYS[2]` destination list,
/// `ARGV[1]` its bytes in the source, `ARGV[2]` its bytes for the
/// destination. Returns 1 (moved), 0 (no longer there: a worker took it)
/// or -1 (the destination holds something else than a list: nothing was
/// touched, and the check comes first so that a push that would fail
/// never follows a removal). `RPUSH`: the destination's taking end, as
/// kombu restores a message; the scan goes newest first, so the moved
/// messages keep their order there, ahead of what waited in it.
pub const MOVE_SCRIPT: &str = r"
local t = redis.call('TYPE', KEYS[2])['ok']
if t ~= 'list' and t ~= 'none' then return -1 end
local n = redis.call('LREM', KEYS[1], 1, ARGV[1])
if n == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) end
return n
";

/// Purges every list of a queue (`KEYS`), counting what each held, as
/// kombu's own purge does (`LLEN` then `DEL`), but in one step; a key
/// that is not a list is left alone.
pub const PURGE_SCRIPT: &str = r"
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('TYPE', k)['ok'] == 'list' then
    n = n + redis.call('LLEN', k)
    redis.call('DEL', k)
  end
end
return n
";

/// Which messages an action takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// The first message (from the scan's start) of task `id`, and with
    /// this delivery tag when given.
    One {
        id: String,
        delivery_tag: Option<String>,
    },
    /// Every message the query matches (not empty).
    Matching(Query),
    /// The whole queue.
    All,
}

impl Selection {
    fn takes(&self, m: &Message) -> bool {
        let Some(t) = m.task() else {
            return matches!(self, Selection::All);
        };
        match self {
            Selection::One { id, delivery_tag } => {
                t.id == *id
                    && delivery_tag
                        .as_ref()
                        .is_none_or(|d| t.delivery_tag.as_ref() == Some(d))
            }
            Selection::Matching(q) => q.matches(t),
            Selection::All => true,
        }
    }
}

/// What an action does to each message selected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act<'a> {
    Delete,
    /// To this queue, into the list of the same priority step.
    Move(&'a str),
}

/// What an action did, or (dry run) would do.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Done {
    /// Messages selected (a dry run: that it would touch).
    pub selected: usize,
    /// Deleted or moved.
    pub acted: usize,
    /// Selected, then taken by a worker before the action reached them.
    pub gone: usize,
    /// Selected but left alone: a move needs `properties.delivery_info`
    /// to rewrite, and these lack it (or are not JSON text).
    pub unmovable: usize,
    /// Messages looked at.
    pub scanned: usize,
    /// The whole queue was looked at (else [`ACTION_SCAN_LIMIT`] stopped it).
    pub complete: bool,
    /// The first [`FIRST_SHOWN`] selected.
    pub first: Vec<Waiting>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("{0:?} holds something other than a queue's list; nothing was moved")]
    NotAList(String),
}

impl QueueBrowser {
    /// Runs `act` on the messages of `queue` that `selection` takes (the
    /// caller has checked both queue names); with `dry_run`, only says
    /// what it would touch.
    pub async fn act(
        &self,
        queue: &str,
        selection: &Selection,
        act: Act<'_>,
        dry_run: bool,
    ) -> Result<Done, ActionError> {
        if *selection == Selection::All && act == Act::Delete {
            return self.purge_all(queue, dry_run).await;
        }
        let mut conn = self.conn().await?;
        let result = self
            .act_by_scan(&mut conn, queue, selection, act, dry_run)
            .await;
        if let Err(ActionError::Redis(_)) = &result {
            self.broker.reset(&conn).await;
        }
        result
    }

    async fn act_by_scan(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        queue: &str,
        selection: &Selection,
        act: Act<'_>,
        dry_run: bool,
    ) -> Result<Done, ActionError> {
        let keys = self.naming.queue_keys(queue);
        let to_keys = match act {
            Act::Move(to) => self.naming.queue_keys(to),
            Act::Delete => Vec::new(),
        };
        let script: Option<String> = match (act, dry_run) {
            (Act::Move(_), false) => Some(
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(MOVE_SCRIPT)
                    .query_async(conn)
                    .await?,
            ),
            _ => None,
        };
        let one = matches!(selection, Selection::One { .. });
        let mut done = Done::default();
        let mut scan = Scan::new(Cursor::default(), ACTION_SCAN_LIMIT);
        while let Some(chunk) = scan.next(conn, &keys).await? {
            let start = scan.at;
            let mut chosen = Vec::new();
            let mut looked = 0;
            for (i, raw) in chunk.items.into_iter().enumerate() {
                looked = i + 1;
                let message = Message::decode(&raw);
                if !selection.takes(&message) {
                    continue;
                }
                let outgoing = match act {
                    Act::Move(to) => match rewrite_route(&raw, to) {
                        Ok(bytes) => Some(bytes),
                        // Without a route kombu can read, it stays where it is.
                        Err(_) => {
                            done.unmovable += 1;
                            continue;
                        }
                    },
                    Act::Delete => None,
                };
                if done.first.len() < FIRST_SHOWN {
                    done.first.push(Waiting {
                        position: chunk.depths.iter().take(start.step).sum::<u64>()
                            + chunk.depths[start.step].saturating_sub(start.index + i as u64 + 1),
                        step: start.step,
                        message,
                        raw: raw.clone(),
                    });
                }
                chosen.push((raw, outgoing));
                if one {
                    break;
                }
            }
            done.selected += chosen.len();
            let removed = if dry_run || chosen.is_empty() {
                0
            } else {
                let target = match (&script, to_keys.get(start.step)) {
                    (Some(sha), Some(key)) => Target::Move { key, sha },
                    (None, _) => Target::Delete,
                    // The destination has the same priority steps.
                    (Some(_), None) => return Err(ActionError::NotAList(String::new())),
                };
                let answers = apply(conn, &keys[start.step], target, &chosen).await?;
                if answers.contains(&-1) {
                    let to = to_keys.get(start.step).cloned().unwrap_or_default();
                    return Err(ActionError::NotAList(to));
                }
                let acted = answers.iter().filter(|a| **a == 1).count();
                done.acted += acted;
                done.gone += answers.len() - acted;
                acted
            };
            scan.advance(looked, removed);
            if one && done.selected > 0 {
                break;
            }
        }
        done.scanned = scan.scanned;
        done.complete = scan.next_cursor(&keys).is_none() || (one && done.selected > 0);
        Ok(done)
    }

    /// The whole queue: counted and shown (dry run), or purged by
    /// [`PURGE_SCRIPT`].
    async fn purge_all(&self, queue: &str, dry_run: bool) -> Result<Done, ActionError> {
        let keys = self.naming.queue_keys(queue);
        let first = self.page(queue, End::Head, 0, FIRST_SHOWN).await?;
        let mut conn = self.conn().await?;
        let counted = match dry_run {
            true => depths(&mut conn, &keys)
                .await
                .map(|d| d.iter().sum::<u64>()),
            false => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(PURGE_SCRIPT).arg(keys.len()).arg(&keys);
                eval.query_async::<u64>(&mut *conn).await
            }
        };
        let count = self.failed(&conn, counted).await? as usize;
        Ok(Done {
            selected: count,
            acted: if dry_run { 0 } else { count },
            gone: 0,
            unmovable: 0,
            scanned: count,
            complete: true,
            first: first.messages,
        })
    }
}

/// Where [`apply`] puts what it takes.
enum Target<'a> {
    Delete,
    /// The destination list, and [`MOVE_SCRIPT`]'s SHA.
    Move {
        key: &'a str,
        sha: &'a str,
    },
}

/// Deletes or moves `chosen` (`(bytes, bytes for the destination)`) in
/// one round trip; each command is atomic on its own. The answers: 1
/// done, 0 no longer there, -1 the destination is not a list.
async fn apply(
    conn: &mut redis::aio::MultiplexedConnection,
    from: &str,
    target: Target<'_>,
    chosen: &[(Vec<u8>, Option<Vec<u8>>)],
) -> redis::RedisResult<Vec<i64>> {
    let mut pipe = redis::pipe();
    for (raw, outgoing) in chosen {
        match &target {
            Target::Move { key, sha } => {
                pipe.cmd("EVALSHA")
                    .arg(*sha)
                    .arg(2)
                    .arg(from)
                    .arg(*key)
                    .arg(raw)
                    .arg(outgoing.as_deref().unwrap_or(raw));
            }
            Target::Delete => {
                pipe.lrem(from, 1, raw);
            }
        }
    }
    pipe.query_async(conn).await
}
