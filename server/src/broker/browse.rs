//! Reading a queue's waiting messages without taking them (PROTOCOL.md
//! §6.1, §6.7): a queue is one list per priority step; kombu `LPUSH`es
//! (a restored message is `RPUSH`ed) and workers `BRPOP` the lists in step
//! order, so the next message taken is the last element of the first
//! non-empty list. Positions are counted from that end ("head": 0 is the
//! next to be taken). Everything reads in chunks of at most
//! [`CHUNK`] elements (`LRANGE`), and a search or a lookup stops after a
//! bound per request, saying how far it looked and where to go on. The
//! messages workers hold are read by `broker::held`. IO only; decoding is
//! `broker::messages`.

use redis::aio::MultiplexedConnection;

use super::{
    conn::LazyConnection,
    dial::Endpoint,
    messages::{Message, may_be_task},
    naming::Naming,
    queue_query::Query,
};

/// Elements one `LRANGE` reads.
pub const CHUNK: usize = 500;

/// The most messages one page shows.
pub const MAX_PAGE: usize = 500;

/// Messages one search request looks at, at most; the answer says where
/// it stopped, and the next request goes on from there.
pub const SEARCH_SCAN_LIMIT: usize = 20_000;

/// Messages one lookup of a task's place looks at, at most, over the
/// queues it is asked about.
pub const LOCATE_SCAN_LIMIT: usize = 100_000;

/// Which end a page is counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The next to be taken first.
    Head,
    /// The last to be taken first.
    Tail,
}

/// A message where it waits.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiting {
    /// From the taking end (0: next), as the lists stood when read.
    pub position: u64,
    /// Index of its priority list in the priority steps.
    pub step: usize,
    pub message: Message,
    /// Its exact bytes (what an action compares).
    pub raw: Vec<u8>,
}

/// A page of waiting messages, with the depth of each priority list when
/// it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub depths: Vec<u64>,
    pub messages: Vec<Waiting>,
}

/// Where a scan goes on: a priority list (by step index) and an index into
/// it from the list's head (the newest end, where `LPUSH` adds). Scans go
/// through the lists from their heads because workers take from the other
/// end: their `BRPOP`s do not move the index of what remains, so a scan
/// running beside them skips nothing (a message pushed meanwhile moves
/// what follows by one, and is at worst read twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cursor {
    pub step: usize,
    pub index: u64,
}

impl Cursor {
    /// `step.index`, as an API's cursor parameter.
    pub fn text(&self) -> String {
        format!("{}.{}", self.step, self.index)
    }

    pub fn parse(s: &str) -> Option<Cursor> {
        let (step, index) = s.split_once('.')?;
        Some(Cursor {
            step: step.parse().ok()?,
            index: index.parse().ok()?,
        })
    }
}

/// A search's matches, and how far it looked.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub depths: Vec<u64>,
    pub messages: Vec<Waiting>,
    /// Messages looked at.
    pub scanned: usize,
    /// Where to go on; `None`: the whole queue was looked at.
    pub next: Option<Cursor>,
}

/// Where a task's message waits.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub queue: String,
    pub position: u64,
    pub step: usize,
}

/// Reads and changes queues (the actions are in `broker::actions`).
pub struct QueueBrowser {
    pub(super) naming: Naming,
    pub(super) broker: LazyConnection,
}

/// One chunk of one list, read with the depths of every list in the same
/// transaction.
pub(super) struct Chunk {
    pub depths: Vec<u64>,
    pub items: Vec<Vec<u8>>,
}

impl QueueBrowser {
    pub fn new(naming: Naming, broker: std::sync::Arc<Endpoint>) -> QueueBrowser {
        QueueBrowser {
            naming,
            broker: LazyConnection::new(broker),
        }
    }

    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    /// The priority steps, in the order workers take from them.
    pub fn steps(&self) -> &[u8] {
        &self.naming.options.priority_steps
    }

    pub(super) async fn conn(&self) -> redis::RedisResult<crate::broker::conn::Connection> {
        self.broker.get().await
    }

    /// Resets the connection after a failure on it, and passes it on.
    pub(super) async fn failed<T>(
        &self,
        conn: &crate::broker::conn::Connection,
        result: redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        if result.is_err() {
            self.broker.reset(conn).await;
        }
        result
    }

    /// The depth of each priority list of `queue`.
    pub async fn depths(&self, queue: &str) -> redis::RedisResult<Vec<u64>> {
        let mut conn = self.conn().await?;
        let result = depths(&mut conn, &self.naming.queue_keys(queue)).await;
        self.failed(&conn, result).await
    }

    /// `limit` messages (at most [`MAX_PAGE`]) from `offset`, counted
    /// from `end`, in that order.
    pub async fn page(
        &self,
        queue: &str,
        end: End,
        offset: u64,
        limit: usize,
    ) -> redis::RedisResult<Page> {
        let keys = self.naming.queue_keys(queue);
        let mut conn = self.conn().await?;
        let result = page(&mut conn, &keys, end, offset, limit.min(MAX_PAGE)).await;
        self.failed(&conn, result).await
    }

    /// Messages of `queue` matching `query`, from `from`, until `limit`
    /// are found or [`SEARCH_SCAN_LIMIT`] were looked at.
    pub async fn search(
        &self,
        queue: &str,
        query: &Query,
        from: Cursor,
        limit: usize,
    ) -> redis::RedisResult<Found> {
        let keys = self.naming.queue_keys(queue);
        let mut conn = self.conn().await?;
        let limit = limit.min(MAX_PAGE);
        let mut scan = Scan::new(from, SEARCH_SCAN_LIMIT);
        let mut messages = Vec::new();
        let mut depths = Vec::new();
        while messages.len() < limit {
            let read = scan.next(&mut conn, &keys).await;
            let Some(chunk) = self.failed(&conn, read).await? else {
                break;
            };
            let start = scan.at;
            let mut taken = 0;
            for (i, raw) in chunk.items.into_iter().enumerate() {
                let message = Message::decode(&raw);
                if message.task().is_some_and(|t| query.matches(t)) {
                    messages.push(Waiting {
                        position: position(&chunk.depths, start.step, start.index + i as u64),
                        step: start.step,
                        message,
                        raw,
                    });
                }
                taken = i + 1;
                if messages.len() == limit {
                    break;
                }
            }
            scan.advance(taken, 0);
            depths = chunk.depths;
        }
        if depths.is_empty() {
            depths = self.depths(queue).await?;
        }
        Ok(Found {
            depths,
            messages,
            scanned: scan.scanned,
            next: scan.next_cursor(&keys),
        })
    }

    /// Where task `id` waits in any of `queues` (looked at in order, at
    /// most [`LOCATE_SCAN_LIMIT`] messages in all); `Ok((None, scanned,
    /// complete))` when not found.
    pub async fn locate(
        &self,
        queues: &[String],
        id: &str,
    ) -> redis::RedisResult<(Option<Place>, usize, bool)> {
        let mut conn = self.conn().await?;
        let mut budget = LOCATE_SCAN_LIMIT;
        let mut scanned = 0;
        for queue in queues {
            let keys = self.naming.queue_keys(queue);
            let mut scan = Scan::new(Cursor::default(), budget);
            loop {
                let read = scan.next(&mut conn, &keys).await;
                let Some(chunk) = self.failed(&conn, read).await? else {
                    break;
                };
                let start = scan.at;
                let found = chunk.items.iter().position(|raw| {
                    may_be_task(raw, id) && Message::decode(raw).task().is_some_and(|t| t.id == id)
                });
                if let Some(i) = found {
                    scanned += scan.scanned + i + 1;
                    let place = Place {
                        queue: queue.clone(),
                        position: position(&chunk.depths, start.step, start.index + i as u64),
                        step: start.step,
                    };
                    return Ok((Some(place), scanned, true));
                }
                scan.advance(chunk.items.len(), 0);
            }
            scanned += scan.scanned;
            if scan.next_cursor(&keys).is_some() {
                return Ok((None, scanned, false));
            }
            budget = budget.saturating_sub(scan.scanned);
        }
        Ok((None, scanned, true))
    }
}

/// `LLEN` of each key, in one round trip.
pub(super) async fn depths(
    conn: &mut MultiplexedConnection,
    keys: &[String],
) -> redis::RedisResult<Vec<u64>> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.llen(key);
    }
    pipe.query_async(conn).await
}

/// The position from the taking end of element `index` (from the head)
/// of list `step`: every element of the lists before it, then its own
/// from the tail.
fn position(depths: &[u64], step: usize, index: u64) -> u64 {
    let before: u64 = depths.iter().take(step).sum();
    let len = depths.get(step).copied().unwrap_or(0);
    before + len.saturating_sub(index + 1)
}

/// Which elements of which lists hold positions `[offset, offset + limit)`
/// counted from `end`: `(step, first index, last index)` from each list's
/// head, in the order to show them (reversed for `Head`).
fn ranges(depths: &[u64], end: End, offset: u64, limit: usize) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    let (mut skip, mut want) = (offset, limit as u64);
    let order: Vec<usize> = match end {
        End::Head => (0..depths.len()).collect(),
        End::Tail => (0..depths.len()).rev().collect(),
    };
    for step in order {
        let len = depths[step];
        if want == 0 {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = (len - skip).min(want);
        let (first, last) = match end {
            // From the tail: skip..skip+n from the end.
            End::Head => (len - skip - n, len - skip - 1),
            End::Tail => (skip, skip + n - 1),
        };
        out.push((step, first, last));
        want -= n;
        skip = 0;
    }
    out
}

async fn page(
    conn: &mut MultiplexedConnection,
    keys: &[String],
    end: End,
    offset: u64,
    limit: usize,
) -> redis::RedisResult<Page> {
    let depths = depths(conn, keys).await?;
    let ranges = ranges(&depths, end, offset, limit);
    let mut pipe = redis::pipe();
    for (step, first, last) in &ranges {
        pipe.lrange(&keys[*step], *first as isize, *last as isize);
    }
    let lists: Vec<Vec<Vec<u8>>> = if ranges.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let mut messages = Vec::new();
    for ((step, first, _), mut items) in ranges.into_iter().zip(lists) {
        let indices: Vec<u64> = (first..first + items.len() as u64).collect();
        let mut pairs: Vec<(u64, Vec<u8>)> = indices.into_iter().zip(items.drain(..)).collect();
        if end == End::Head {
            pairs.reverse();
        }
        for (index, raw) in pairs {
            messages.push(Waiting {
                position: position(&depths, step, index),
                step,
                message: Message::decode(&raw),
                raw,
            });
        }
    }
    Ok(Page { depths, messages })
}

/// A scan through a queue's lists from their heads, a chunk at a time,
/// within a bound of messages looked at.
pub(super) struct Scan {
    /// Where the chunk last read starts.
    pub at: Cursor,
    /// Where the next chunk starts.
    next: Cursor,
    pub scanned: usize,
    bound: usize,
}

impl Scan {
    pub fn new(from: Cursor, bound: usize) -> Scan {
        Scan {
            at: from,
            next: from,
            scanned: 0,
            bound,
        }
    }

    /// The next non-empty chunk, or `None` at the end of the lists or of
    /// the bound. The depths come from the same `MULTI`, so positions
    /// computed from them are exact for that moment.
    pub async fn next(
        &mut self,
        conn: &mut MultiplexedConnection,
        keys: &[String],
    ) -> redis::RedisResult<Option<Chunk>> {
        while self.scanned < self.bound && self.next.step < keys.len() {
            let want = CHUNK.min(self.bound - self.scanned) as u64;
            let from = self.next;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for key in keys {
                pipe.llen(key);
            }
            pipe.lrange(
                &keys[from.step],
                from.index as isize,
                (from.index + want - 1) as isize,
            );
            let mut answer: Vec<redis::Value> = pipe.query_async(conn).await?;
            let items: Vec<Vec<u8>> =
                redis::from_redis_value(answer.pop().unwrap_or(redis::Value::Nil))?;
            let depths: Vec<u64> = answer
                .into_iter()
                .map(redis::from_redis_value)
                .collect::<Result<_, _>>()?;
            self.at = from;
            if items.is_empty() {
                self.next = Cursor {
                    step: from.step + 1,
                    index: 0,
                };
                continue;
            }
            return Ok(Some(Chunk { depths, items }));
        }
        Ok(None)
    }

    /// After the chunk: `looked` of its elements were looked at, and
    /// `removed` of those are gone from the list (what follows them moved
    /// up by as many).
    pub fn advance(&mut self, looked: usize, removed: usize) {
        self.scanned += looked;
        self.next = Cursor {
            step: self.at.step,
            index: self.at.index + (looked - removed.min(looked)) as u64,
        };
    }

    /// Where to go on, or `None` when the lists were read to their end.
    pub fn next_cursor(&self, keys: &[String]) -> Option<Cursor> {
        (self.next.step < keys.len()).then_some(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_from_the_taking_end_across_priority_lists() {
        let depths = [3, 0, 2, 1];
        // List 0's last element is taken first.
        assert_eq!(position(&depths, 0, 2), 0);
        assert_eq!(position(&depths, 0, 0), 2);
        assert_eq!(position(&depths, 2, 1), 3);
        assert_eq!(position(&depths, 2, 0), 4);
        assert_eq!(position(&depths, 3, 0), 5);
    }

    #[test]
    fn pages_cover_the_lists_in_taking_order_from_either_end() {
        let depths = [3, 0, 2, 1];
        assert_eq!(ranges(&depths, End::Head, 0, 2), [(0, 1, 2)]);
        assert_eq!(ranges(&depths, End::Head, 2, 3), [(0, 0, 0), (2, 0, 1)]);
        assert_eq!(ranges(&depths, End::Head, 5, 10), [(3, 0, 0)]);
        assert_eq!(ranges(&depths, End::Head, 6, 10), []);
        assert_eq!(ranges(&depths, End::Tail, 0, 2), [(3, 0, 0), (2, 0, 0)]);
        assert_eq!(ranges(&depths, End::Tail, 2, 10), [(2, 1, 1), (0, 0, 2)]);
    }

    #[test]
    fn cursors_read_back() {
        let c = Cursor {
            step: 2,
            index: 1500,
        };
        assert_eq!(Cursor::parse(&c.text()), Some(c));
        for bad in ["", "1", "a.b", "1.-2"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
