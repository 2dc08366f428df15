//! The retained tasks. Each lives in a slot of `slots`; the fields queries
//! filter and sort on are mirrored into one column per field (`cols`), so a
//! query over a million tasks scans a few megabytes instead of the records.
//! Bounded by a task count and a byte budget, whichever binds first:
//! finished tasks are evicted oldest-finished first, unfinished ones only
//! when no finished task is left. Pure.

use std::collections::VecDeque;

use super::{
    index::{self, Index},
    key::TaskKey,
    symbols::Sym,
    task::{StateCode, Task},
};

/// How many tasks, and how many bytes of the model, may be retained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_tasks: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tasks: 100_000,
            max_bytes: usize::MAX,
        }
    }
}

/// Columns mirroring the fields queries filter and sort on, by slot.
#[derive(Debug, Default)]
pub struct Columns {
    pub state: Vec<StateCode>,
    pub name: Vec<Sym>,
    pub worker: Vec<Sym>,
    pub received: Vec<f64>,
    pub started: Vec<f64>,
    pub timestamp: Vec<f64>,
    /// For each [`BLOCK`] of slots, a value no time in it exceeds, for
    /// received, started and timestamp: a newest-first page skips blocks
    /// that cannot beat what it holds. Only raised, never lowered (a freed
    /// slot leaves its time counted), so it stays an upper bound.
    pub block_max: [Vec<f64>; 3],
}

/// Slots per entry of [`Columns::block_max`] (one mask word of a query).
pub const BLOCK: usize = 64;

impl Columns {
    fn push(&mut self) {
        self.state.push(StateCode::FREE);
        self.name.push(Sym::NONE);
        self.worker.push(Sym::NONE);
        self.received.push(f64::NAN);
        self.started.push(f64::NAN);
        self.timestamp.push(f64::NAN);
        if self.state.len() % BLOCK == 1 {
            for max in &mut self.block_max {
                max.push(f64::NEG_INFINITY);
            }
        }
    }

    fn sync(&mut self, slot: usize, task: &Task) {
        self.state[slot] = task.state;
        self.name[slot] = task.name;
        self.worker[slot] = task.worker;
        self.received[slot] = task.times.received;
        self.started[slot] = task.times.started;
        self.timestamp[slot] = task.times.timestamp;
        let times = [
            task.times.received,
            task.times.started,
            task.times.timestamp,
        ];
        for (max, t) in self.block_max.iter_mut().zip(times) {
            // NaN (no time) leaves the bound as it is.
            let m = &mut max[slot / BLOCK];
            *m = m.max(t);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.state.capacity()
            + 4 * (self.name.capacity() + self.worker.capacity())
            + 8 * (self.received.capacity() + self.started.capacity() + self.timestamp.capacity())
            + 8 * self.block_max.iter().map(Vec::capacity).sum::<usize>()
    }
}

#[derive(Debug)]
pub struct TaskStore {
    slots: Vec<Task>,
    /// Bumped when a slot is freed, so queue entries can tell it was reused.
    generation: Vec<u32>,
    pub cols: Columns,
    index: Index,
    free: Vec<u32>,
    /// Slots in creation order (for evicting unfinished tasks, last resort).
    created: VecDeque<(u32, u32)>,
    /// Slots in the order their tasks finished (evicted first).
    finished: VecDeque<(u32, u32)>,
    finished_count: usize,
    /// Heap bytes owned by the tasks themselves (text, children).
    owned_bytes: usize,
    limits: Limits,
    evicted_total: u64,
    /// What changed since the history store last took it.
    unsaved: Unsaved,
}

/// Tasks changed since the history store last took them, when a store
/// is kept (`TaskStore::keep_unsaved`): the slots, and the tasks evicted
/// before they were taken. Each slot is listed once until taken, so a
/// task that changes many times is written once, in its latest state.
#[derive(Debug, Default)]
struct Unsaved {
    on: bool,
    /// By slot: changed since taken.
    flag: Vec<bool>,
    /// Changed slots, with their generation (a slot freed and reused
    /// since is skipped; its new task is listed on its own).
    slots: Vec<(u32, u32)>,
    /// Tasks evicted before they were taken, oldest first; at most
    /// [`MAX_EVICTED_UNSAVED`].
    evicted: VecDeque<Task>,
    /// Heap bytes `evicted` holds.
    evicted_bytes: usize,
    /// Evicted tasks let go unwritten because the store was too far behind.
    dropped: u64,
}

/// What one [`TaskStore::take_unsaved`] took.
#[derive(Debug, Default)]
pub struct Taken {
    /// Tasks evicted since, in the order they were.
    pub evicted: Vec<Task>,
    /// Retained tasks' slots (see [`TaskStore::at`]).
    pub slots: Vec<u32>,
    /// More changed tasks are left.
    pub more: bool,
}

/// Evicted tasks held for the history store while it is behind (a slow
/// or full disk). Past this the oldest are let go and counted: memory
/// stays bounded whatever the disk does.
pub const MAX_EVICTED_UNSAVED: usize = 100_000;

/// Entries in the eviction queues beyond twice the tasks they can refer to
/// are swept out; this floor keeps small stores from sweeping constantly.
const QUEUE_SLACK: usize = 4096;

impl TaskStore {
    pub fn new(limits: Limits) -> TaskStore {
        TaskStore {
            slots: Vec::new(),
            generation: Vec::new(),
            cols: Columns::default(),
            index: Index::default(),
            free: Vec::new(),
            created: VecDeque::new(),
            finished: VecDeque::new(),
            finished_count: 0,
            owned_bytes: 0,
            limits,
            evicted_total: 0,
            unsaved: Unsaved::default(),
        }
    }

    /// Starts listing changed tasks for the history store.
    pub fn keep_unsaved(&mut self) {
        self.unsaved.on = true;
        self.unsaved.flag.resize(self.slots.len(), false);
    }

    fn mark_unsaved(&mut self, slot: usize) {
        let u = &mut self.unsaved;
        if u.on && !u.flag[slot] {
            u.flag[slot] = true;
            u.slots.push((slot as u32, self.generation[slot]));
            // Entries of slots evicted before they were taken pile up while
            // the store is not taking: keep only live ones.
            if u.slots.len() > 2 * self.slots.len() + QUEUE_SLACK {
                let generation = &self.generation;
                let flag = &u.flag;
                u.slots
                    .retain(|&(s, g)| generation[s as usize] == g && flag[s as usize]);
            }
        }
    }

    /// Whether anything changed since the last [`TaskStore::take_unsaved`].
    pub fn has_unsaved(&self) -> bool {
        !self.unsaved.slots.is_empty() || !self.unsaved.evicted.is_empty()
    }

    /// Evicted tasks the store never got.
    pub fn unsaved_dropped(&self) -> u64 {
        self.unsaved.dropped
    }

    /// Takes up to `max` changed tasks (evicted ones first, then retained
    /// ones in the order they first changed) and forgets that they
    /// changed.
    pub fn take_unsaved(&mut self, max: usize) -> Taken {
        let mut taken = Taken::default();
        while taken.evicted.len() < max
            && let Some(task) = self.unsaved.evicted.pop_front()
        {
            self.unsaved.evicted_bytes -= held_bytes(&task);
            taken.evicted.push(task);
        }
        let mut used = 0;
        for &(slot, generation) in &self.unsaved.slots {
            if taken.evicted.len() + taken.slots.len() >= max {
                break;
            }
            used += 1;
            let s = slot as usize;
            if self.generation[s] == generation && self.unsaved.flag[s] {
                self.unsaved.flag[s] = false;
                if self.cols.state[s] != StateCode::FREE {
                    taken.slots.push(slot);
                }
            }
        }
        self.unsaved.slots.drain(..used);
        taken.more = self.has_unsaved();
        taken
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn evicted_total(&self) -> u64 {
        self.evicted_total
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn get(&self, key: TaskKey) -> Option<&Task> {
        self.slot_of(key).map(|slot| &self.slots[slot as usize])
    }

    pub fn slot_of(&self, key: TaskKey) -> Option<u32> {
        let slots = &self.slots;
        self.index.get(key, |s| slots[s as usize].key)
    }

    /// The task in `slot`, if the slot is in use.
    pub fn at(&self, slot: u32) -> Option<&Task> {
        let s = slot as usize;
        (self
            .cols
            .state
            .get(s)
            .is_some_and(|st| *st != StateCode::FREE))
        .then(|| &self.slots[s])
    }

    /// Number of slots (used or free), the bound of column scans.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Task> {
        self.slots
            .iter()
            .zip(&self.cols.state)
            .filter(|(_, s)| **s != StateCode::FREE)
            .map(|(t, _)| t)
    }

    /// Changes the task `key` with `f`, creating it first if needed, and
    /// keeps the columns, queues and byte count in step. Returns `f`'s
    /// result and whether the task was created. Does not evict: call
    /// [`TaskStore::evict_over_limits`] after.
    pub fn upsert<R>(&mut self, key: TaskKey, f: impl FnOnce(&mut Task, bool) -> R) -> (R, bool) {
        let (slot, created) = match self.slot_of(key) {
            Some(slot) => (slot as usize, false),
            None => (self.allocate(key), true),
        };
        let task = &mut self.slots[slot];
        let was_finished = !created && task.state.is_finished();
        let bytes_before = owned_bytes(task);
        let result = f(task, created);
        let is_finished = task.state.is_finished();
        self.owned_bytes = self.owned_bytes + owned_bytes(task) - bytes_before;
        self.cols.sync(slot, task);
        self.mark_unsaved(slot);
        let entry = (slot as u32, self.generation[slot]);
        if created {
            self.created.push_back(entry);
        }
        match (was_finished, is_finished) {
            (false, true) => {
                self.finished_count += 1;
                self.finished.push_back(entry);
            }
            // Re-run (a resend with the same id): evictable as unfinished again.
            (true, false) => {
                self.finished_count -= 1;
                self.created.push_back(entry);
            }
            _ => {}
        }
        (result, created)
    }

    /// Puts back a task older than every retained one (read from history
    /// after the model started): first in line for eviction, and not
    /// listed as changed. A task already retained is left as it is (the
    /// model's copy is newer). Returns whether it was put.
    pub fn place_older(&mut self, task: Task) -> bool {
        if self.slot_of(task.key).is_some() {
            return false;
        }
        let slot = self.allocate(task.key);
        self.owned_bytes += owned_bytes(&task);
        let finished = task.state.is_finished();
        self.slots[slot] = task;
        self.cols.sync(slot, &self.slots[slot]);
        let entry = (slot as u32, self.generation[slot]);
        self.created.push_front(entry);
        if finished {
            self.finished_count += 1;
            self.finished.push_front(entry);
        }
        true
    }

    /// Changes an existing task without touching its state-dependent
    /// bookkeeping (links, text that does not affect queries).
    pub fn update_in_place(&mut self, key: TaskKey, f: impl FnOnce(&mut Task)) -> bool {
        let Some(slot) = self.slot_of(key).map(|s| s as usize) else {
            return false;
        };
        let task = &mut self.slots[slot];
        let before = owned_bytes(task);
        f(task);
        self.owned_bytes = self.owned_bytes + owned_bytes(task) - before;
        self.mark_unsaved(slot);
        true
    }

    fn allocate(&mut self, key: TaskKey) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => slot as usize,
            None => {
                self.slots.push(Task::new(TaskKey::NONE));
                self.generation.push(0);
                self.cols.push();
                if self.unsaved.on {
                    self.unsaved.flag.push(false);
                }
                self.slots.len() - 1
            }
        };
        self.slots[slot] = Task::new(key);
        let slots = &self.slots;
        self.index
            .insert(key, slot as u32, |s| slots[s as usize].key);
        slot
    }

    /// Bytes the limits are checked against: every retained task's fixed
    /// cost plus what it owns on the heap.
    pub fn accounted_bytes(&self) -> usize {
        self.len() * per_task_fixed_bytes() + self.owned_bytes
    }

    fn over_limits(&self) -> bool {
        self.len() > self.limits.max_tasks || self.accounted_bytes() > self.limits.max_bytes
    }

    /// Evicts until within limits; `on_evict` sees each evicted task.
    pub fn evict_over_limits(&mut self, mut on_evict: impl FnMut(&Task)) {
        while self.over_limits() {
            let Some(slot) = self.pick_victim() else {
                break;
            };
            on_evict(&self.slots[slot]);
            self.remove_slot(slot);
        }
        self.sweep_queues();
    }

    /// Removes one task (if retained) and returns it.
    pub fn remove(&mut self, key: TaskKey) -> Option<Task> {
        let slot = self.slot_of(key)? as usize;
        let task = self.slots[slot].clone();
        self.remove_slot(slot);
        Some(task)
    }

    fn valid(&self, (slot, generation): (u32, u32)) -> bool {
        let s = slot as usize;
        self.generation.get(s) == Some(&generation) && self.cols.state[s] != StateCode::FREE
    }

    fn pick_victim(&mut self) -> Option<usize> {
        while let Some(entry) = self.finished.pop_front() {
            if self.valid(entry) && self.cols.state[entry.0 as usize].is_finished() {
                return Some(entry.0 as usize);
            }
        }
        while let Some(entry) = self.created.pop_front() {
            if self.valid(entry) {
                return Some(entry.0 as usize);
            }
        }
        None
    }

    fn remove_slot(&mut self, slot: usize) {
        let task = std::mem::replace(&mut self.slots[slot], Task::new(TaskKey::NONE));
        self.index.remove(task.key, slot as u32);
        if task.state.is_finished() {
            self.finished_count -= 1;
        }
        self.owned_bytes -= owned_bytes(&task);
        self.cols.state[slot] = StateCode::FREE;
        self.generation[slot] = self.generation[slot].wrapping_add(1);
        if self.unsaved.on && std::mem::take(&mut self.unsaved.flag[slot]) {
            let u = &mut self.unsaved;
            if u.evicted.len() >= MAX_EVICTED_UNSAVED
                && let Some(old) = u.evicted.pop_front()
            {
                u.evicted_bytes -= held_bytes(&old);
                u.dropped += 1;
            }
            u.evicted_bytes += held_bytes(&task);
            u.evicted.push_back(task);
        }
        self.free.push(slot as u32);
        self.evicted_total += 1;
    }

    /// Drops queue entries that can no longer be used, when they pile up.
    fn sweep_queues(&mut self) {
        if self.created.len() > 2 * self.len() + QUEUE_SLACK {
            let keep: VecDeque<_> = self
                .created
                .iter()
                .copied()
                .filter(|e| self.valid(*e) && !self.cols.state[e.0 as usize].is_finished())
                .collect();
            self.created = keep;
        }
        if self.finished.len() > 2 * self.finished_count + QUEUE_SLACK {
            let keep: VecDeque<_> = self
                .finished
                .iter()
                .copied()
                .filter(|e| self.valid(*e) && self.cols.state[e.0 as usize].is_finished())
                .collect();
            self.finished = keep;
        }
    }

    /// Heap bytes held by the store, from the containers' capacities.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Task>()
            + self.generation.capacity() * 4
            + self.cols.heap_bytes()
            + self.index.capacity() * index::BUCKET_BYTES
            + self.free.capacity() * 4
            + (self.created.capacity() + self.finished.capacity()) * 8
            + self.owned_bytes
            + self.unsaved.flag.capacity()
            + self.unsaved.slots.capacity() * 8
            + self.unsaved.evicted_bytes
    }
}

/// Heap bytes a task held outside the slots takes: itself and what it owns.
fn held_bytes(task: &Task) -> usize {
    std::mem::size_of::<Task>() + owned_bytes(task)
}

/// Heap bytes a task owns: its text block and children.
fn owned_bytes(task: &Task) -> usize {
    // Every allocation also costs the allocator's header and rounding.
    const ALLOCATION_OVERHEAD: usize = 16;
    let text = task.text.heap_bytes();
    let children = task.children.as_ref().map_or(0, |c| c.len() * 16);
    (if text > 0 {
        text + ALLOCATION_OVERHEAD
    } else {
        0
    }) + (if children > 0 {
        children + ALLOCATION_OVERHEAD
    } else {
        0
    })
}

/// The fixed cost of one retained task: its record, its columns, its index
/// entry (at the map's load factor), its generation and queue entries.
pub fn per_task_fixed_bytes() -> usize {
    let map_entry = index::BUCKET_BYTES * 8 / 7;
    std::mem::size_of::<Task>() + 1 + 4 + 4 + 8 + 8 + 8 + map_entry + 4 + 2 * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> TaskKey {
        TaskKey(n)
    }

    fn set_state(store: &mut TaskStore, n: u128, state: StateCode) {
        store.upsert(key(n), |t, _| t.state = state);
    }

    fn keys(store: &TaskStore) -> Vec<u128> {
        let mut k: Vec<_> = store.iter().map(|t| t.key.0).collect();
        k.sort();
        k
    }

    #[test]
    fn finished_tasks_are_evicted_oldest_finished_first_and_running_last() {
        let mut store = TaskStore::new(Limits {
            max_tasks: 3,
            max_bytes: usize::MAX,
        });
        set_state(&mut store, 1, StateCode::STARTED);
        set_state(&mut store, 2, StateCode::RECEIVED);
        set_state(&mut store, 3, StateCode::STARTED);
        set_state(&mut store, 3, StateCode::SUCCESS);
        set_state(&mut store, 2, StateCode::FAILURE);
        set_state(&mut store, 4, StateCode::STARTED);
        let mut evicted = vec![];
        store.evict_over_limits(|t| evicted.push(t.key.0));
        assert_eq!(evicted, [3], "finished first, by when they finished");
        set_state(&mut store, 5, StateCode::STARTED);
        store.evict_over_limits(|t| evicted.push(t.key.0));
        assert_eq!(evicted, [3, 2]);
        set_state(&mut store, 6, StateCode::STARTED);
        store.evict_over_limits(|t| evicted.push(t.key.0));
        assert_eq!(evicted, [3, 2, 1], "then the oldest unfinished");
        assert_eq!(keys(&store), [4, 5, 6]);
        assert_eq!(store.evicted_total(), 3);
    }

    #[test]
    fn a_byte_budget_evicts_as_well_and_freed_slots_are_reused() {
        let fixed = per_task_fixed_bytes();
        let mut store = TaskStore::new(Limits {
            max_tasks: 1_000,
            max_bytes: 10 * fixed,
        });
        for n in 1..=50u128 {
            set_state(&mut store, n, StateCode::SUCCESS);
            store.evict_over_limits(|_| {});
        }
        assert_eq!(store.len(), 10);
        assert!(store.accounted_bytes() <= 10 * fixed);
        assert_eq!(keys(&store), (41..=50).collect::<Vec<_>>());
        assert!(
            store.slot_count() <= 11,
            "slots are reused: {}",
            store.slot_count()
        );
    }

    #[test]
    fn columns_follow_the_records() {
        let mut store = TaskStore::new(Limits::default());
        store.upsert(key(9), |t, created| {
            assert!(created);
            t.state = StateCode::STARTED;
            t.name = Sym(7);
            t.times.received = 12.5;
        });
        let slot = store.slot_of(key(9)).unwrap() as usize;
        assert_eq!(store.cols.state[slot], StateCode::STARTED);
        assert_eq!(store.cols.name[slot], Sym(7));
        assert_eq!(store.cols.received[slot], 12.5);
        store.remove(key(9));
        assert_eq!(store.cols.state[slot], StateCode::FREE);
        assert!(store.get(key(9)).is_none());
    }

    #[test]
    fn eviction_queues_do_not_grow_without_bound() {
        let mut store = TaskStore::new(Limits {
            max_tasks: 100,
            max_bytes: usize::MAX,
        });
        for n in 1..=100_000u128 {
            set_state(&mut store, n, StateCode::STARTED);
            set_state(&mut store, n, StateCode::SUCCESS);
            store.evict_over_limits(|_| {});
        }
        assert_eq!(store.len(), 100);
        assert!(store.created.len() <= 2 * 100 + QUEUE_SLACK + 1);
        assert!(store.finished.len() <= 2 * 100 + QUEUE_SLACK + 1);
    }
}
