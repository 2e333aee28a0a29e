//! [`TaskTable`]: the tasks a controller keeps, with the views a scheduler and a dashboard need,
//! and [`StateCounts`] / [`JobState`] for what dashboards show.
//!
//! This file holds the table's layout (its slots, index and lists) and the lookups every part
//! shares. Each other file is one part of the table:
//! - `insert`: tasks, jobs and policies coming in; attempt uids; an ended job going out.
//! - `events`: assignments, events, lost workers, deadlines and cancels; the gang and job-end
//!   rules, which act on tasks; and the lists a change refiles a task in.
//! - `jobs`: a job's entry and its state, judged in Iris's order after every change.
//! - `views`: what a scheduler and a dashboard read.
//! - `schedule`, `reconcile`, `stops`: placing tasks, a worker's Reconcile answer, stop orders.
//! - `restore`, `error`, `changes`, `counts`, `list`: rebuilding a table, its errors, what a call
//!   changed, the counts, and the intrusive lists the slots are threaded on.

mod changes;
mod counts;
mod error;
mod events;
mod insert;
mod jobs;
mod list;
mod reconcile;
mod restore;
mod schedule;
mod stops;
mod views;

use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

pub use changes::Changes;
pub use counts::StateCounts;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
// What a snapshot (serde) or a store (sqlite, postgres) restores a table from.
pub use error::TableError;
use jobs::JobEntry;
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use jobs::JobRecord;
pub use jobs::{Job, JobState, JobTransition, PARENT_JOB_TERMINATED_REASON, ParseJobStateError};
use list::{Link, List, NIL, SlotId};
pub use reconcile::{ReconcileError, Reconciled};
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use restore::Layout;
// What only a store names: the positions it restores by, and why a restore failed.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use restore::{Nth, RestoreError};
pub use schedule::{IntoWorkers, Offer};

use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::uid::{AttemptUid, UidMinter};

/// The error a task gets when [`TaskTable::expire_assigned`] requeues it.
pub const DISPATCH_DEADLINE_ERROR: &str =
    "dispatch deadline passed: the worker never confirmed the task";

/// The controller's tasks, with a FIFO of the pending ones, the active tasks of each worker, and
/// state counts kept up to date on every change.
///
/// With the `serde` feature a table serializes as a snapshot: its jobs and their policies, its
/// tasks, and the orders of its views (the pending queue, the dispatch-deadline order, each
/// worker's list), which its tasks alone do not say. Deserializing checks every task as
/// [`AnyTask::from_proto`] does and every order against the tasks, and rebuilds the table
/// exactly.
///
/// Every change goes through [`AnyTask::apply`], so the table follows the same rules as a single
/// task, and a rejected event changes nothing, neither the task nor the table's views.
///
/// # Cost model
///
/// | operation | cost |
/// |---|---|
/// | [`insert`](TaskTable::insert), [`get`](TaskTable::get), [`assign`](TaskTable::assign), [`apply`](TaskTable::apply) | O(1) amortised; an ASSIGNED task assigned earlier than others already in the table costs a walk back over those newer assignments (load many such tasks with [`from_tasks`](TaskTable::from_tasks)); an `apply` whose job's rules fire (a gang cascade, a job that ends) also costs the job's tasks, in index order |
/// | [`from_tasks`](TaskTable::from_tasks) | O(n log n) for n ASSIGNED tasks, O(1) for each other |
/// | [`pending`](TaskTable::pending) | what it yields: O(1) per pending task, nothing for the others |
/// | [`worker_lost`](TaskTable::worker_lost) | the tasks on that worker, sorted: O(k log k) |
/// | [`expire_assigned`](TaskTable::expire_assigned) | the assigned tasks it expires, sorted: O(e log e) |
/// | [`tasks_on`](TaskTable::tasks_on) | what it yields |
/// | [`schedule`](TaskTable::schedule) | the pending tasks it offers |
/// | [`tasks_of`](TaskTable::tasks_of) | the job's tasks, in index order (sorted unless inserted in order) |
/// | [`kill_job`](TaskTable::kill_job) | the job's tasks and its descendants', and a look at every job the table knows, for the descendants |
/// | [`insert_job`](TaskTable::insert_job) | O(1) amortised per task, as `insert` |
/// | [`job`](TaskTable::job), [`job_state`](TaskTable::job_state), [`set_job_policy`](TaskTable::set_job_policy) | O(1) |
/// | [`worker_load`](TaskTable::worker_load) | O(1) |
/// | [`counts`](TaskTable::counts), [`job_counts`](TaskTable::job_counts) | O(1) |
///
/// The table keeps its tasks in one vector and threads intrusive lists through them: the pending
/// queue (FIFO); per worker, the tasks active on it (a task is in at most one of these, since a
/// pending task holds no worker); and the ASSIGNED tasks in assignment order, for the dispatch
/// deadline.
///
/// ```
/// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
///
/// let job = JobId::new("train")?;
/// let mut table = TaskTable::new();
/// for index in 0..3 {
///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
/// }
///
/// // The scheduler sees pending tasks only, oldest first.
/// let first = table.pending().next().map(|task| task.id().clone()).unwrap();
/// let assigned = table.assign(&first, WorkerId::new("w1")?, Timestamp::from_millis(10))?;
/// assert_eq!(assigned.worker().as_str(), "w1");
/// assert_eq!(table.pending().count(), 2);
/// assert_eq!(table.counts().get(StateKind::Assigned), 1);
///
/// // The worker dies before confirming: the task is requeued at the back, free of charge.
/// let changed = table.worker_lost(&WorkerId::new("w1")?, "heartbeat lost", Timestamp::from_millis(20));
/// assert_eq!(changed.len(), 1);
/// assert_eq!(table.pending().last().unwrap().id(), &first);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct TaskTable {
    slots: Vec<Slot>,
    /// The slot of each task, hashed by the task's id, which the slot itself holds: the index
    /// keeps 4 bytes per task, not a second copy of the id.
    index: HashTable<SlotId>,
    /// Hashes ids for `index`: foldhash, seeded per table, which is fast on short strings and
    /// keeps a network peer from choosing ids that collide.
    hasher: DefaultHashBuilder,
    pending: List,
    /// The tasks active on each worker; a list knows its length, so a worker's load is O(1).
    workers: HashMap<WorkerId, List>,
    /// ASSIGNED tasks, oldest assignment first: the dispatch deadline's queue.
    assigned: List,
    /// Each job the table knows, by entry; an entry freed by `remove_job` is reused.
    jobs: Vec<JobEntry>,
    job_index: HashMap<JobId, u32>,
    /// The live job entries, in the order the table learned of their jobs.
    job_order: Vec<u32>,
    /// Slots and job entries freed by `remove_job`, for the next insert to reuse.
    free_slots: Vec<SlotId>,
    free_jobs: Vec<u32>,
    counts: StateCounts,
    /// The tasks [`TaskTable::with_capacity`] was asked to make room for: `remove_job` never
    /// shrinks the index below it. A table loaded with `from_tasks` or rebuilt by a store asked
    /// for nothing.
    reserved: usize,
    /// Names the attempt each assignment opens.
    uids: UidMinter,
    /// Every attempt of every task, hashed by its uid: the slot and the attempt's number, 8
    /// bytes an attempt. It finds the attempt an observation names and keeps uids unique.
    by_uid: HashTable<(SlotId, u32)>,
    /// The attempts each worker has been told to stop and has not confirmed stopping.
    stops: HashMap<WorkerId, Vec<(SlotId, u32)>>,
}

/// `Slot::job` of a slot that holds no task (freed by `remove_job`, waiting for reuse).
const VACANT: u32 = u32::MAX;

struct Slot {
    task: AnyTask,
    /// The slot's place in the pending queue or in its worker's list.
    queue: Link,
    /// The slot's place in the assigned list, while ASSIGNED.
    deadline: Link,
    /// Index into `TaskTable::jobs`; [`VACANT`] for a freed slot.
    job: u32,
}

impl Slot {
    fn is_vacant(&self) -> bool {
        self.job == VACANT
    }
}

impl TaskTable {
    /// An empty table.
    pub fn new() -> TaskTable {
        TaskTable::default()
    }

    /// An empty table with room for `tasks` tasks before it reallocates its slots or rehashes
    /// its index. The room is a hint: asking for more than the table can hold, or than memory
    /// allows, reserves what it can (possibly nothing) and never panics.
    ///
    /// ```
    /// use iris_task::TaskTable;
    ///
    /// let table = TaskTable::with_capacity(1_000_000);
    /// assert!(table.is_empty());
    /// assert!(TaskTable::with_capacity(usize::MAX).is_empty());
    /// ```
    pub fn with_capacity(tasks: usize) -> TaskTable {
        let tasks = tasks.min(NIL as usize);
        let mut table = TaskTable {
            reserved: tasks,
            ..TaskTable::default()
        };
        if table.slots.try_reserve_exact(tasks).is_ok() {
            let (hasher, slots) = (&table.hasher, &table.slots);
            // Best effort, as for the slots: a failed reservation leaves the index to grow.
            let _ = table
                .index
                .try_reserve(tasks, |&slot| hash_of(hasher, slots, slot));
        }
        table
    }

    /// Mints the uids of the attempts this table's assignments open with `minter` from now on.
    /// A new table has a [`UidMinter::random`]; a test seeds one ([`UidMinter::seeded`]) to get
    /// the same uids on every run, as the [`UidMinter`] example shows.
    pub fn set_uid_minter(&mut self, minter: UidMinter) {
        self.uids = minter;
    }

    /// The task with this id.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// assert_eq!(table.get(&id).map(|task| task.state()), Some(StateKind::Pending));
    /// assert!(table.get(&TaskId::new(JobId::new("job")?, 1)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, id: &TaskId) -> Option<&AnyTask> {
        self.slot(id).and_then(|slot| self.task(slot))
    }

    /// How many tasks the table holds, in any state.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// The table holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every task, in the order they were inserted, except that a task inserted after a
    /// [`remove_job`](TaskTable::remove_job) may take the place of a removed one: the table
    /// reuses their memory.
    pub fn iter(&self) -> impl Iterator<Item = &AnyTask> + '_ {
        self.slots
            .iter()
            .filter(|slot| !slot.is_vacant())
            .map(|slot| &slot.task)
    }

    fn slot(&self, id: &TaskId) -> Option<SlotId> {
        self.slot_hashed(id, self.hasher.hash_one(id))
    }

    /// The slot of the task `id`, for a store that keeps data of its own by slot. A slot freed by
    /// [`remove_job`](TaskTable::remove_job) is reused by the next task inserted.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn slot_index(&self, id: &TaskId) -> Option<usize> {
        self.slot(id).map(|slot| slot as usize)
    }

    /// The slot of the task `id`, whose hash is `hash`. A candidate's job is compared through
    /// the table's own list of jobs, which a few hundred bytes hold for every task, rather than
    /// through the task's copy of its job id, which would be one more cache miss per lookup.
    fn slot_hashed(&self, id: &TaskId, hash: u64) -> Option<SlotId> {
        let (slots, jobs) = (&self.slots, &self.jobs);
        self.index
            .find(hash, |&slot| {
                list::get(slots, slot).is_some_and(|entry| {
                    entry.task.id().index() == id.index()
                        && jobs
                            .get(entry.job as usize)
                            .is_some_and(|entry| entry.id == *id.job())
                })
            })
            .copied()
    }

    fn known(&self, id: &TaskId) -> Result<SlotId, TableError> {
        self.slot(id)
            .ok_or_else(|| TableError::UnknownTask(id.clone()))
    }

    fn task(&self, slot: SlotId) -> Option<&AnyTask> {
        list::get(&self.slots, slot)
            .filter(|slot| !slot.is_vacant())
            .map(|slot| &slot.task)
    }

    fn assigned_at(&self, slot: SlotId) -> Option<Timestamp> {
        Some(self.task(slot)?.current_attempt()?.assigned_at())
    }
}

/// How a newly ASSIGNED slot joins the dispatch-deadline order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// Now, walking back from the newest assignment: one step for a clock that moves forward.
    WalkBack,
    /// Later, by the caller, in one sort.
    Later,
    /// In no list at all: the caller threads every list itself (`restore`).
    Unfiled,
}

/// `now - assigned_at > max_wait`, exactly: in whole milliseconds against a `Duration` that may
/// hold a fraction of one, and without overflow for any pair of timestamps.
fn waited_longer(assigned_at: Timestamp, now: Timestamp, max_wait: Duration) -> bool {
    let waited_ms = i128::from(now.as_millis()) - i128::from(assigned_at.as_millis());
    let max_wait_ns = i128::try_from(max_wait.as_nanos()).unwrap_or(i128::MAX);
    waited_ms.saturating_mul(1_000_000) > max_wait_ns
}

/// `at`, or the task's latest time if that is later: the time a change the caller did not name
/// (one task of a lost worker, of an expired deadline) is stamped with.
fn not_before(task: &AnyTask, at: Timestamp) -> Timestamp {
    task.latest_time().map_or(at, |latest| at.max(latest))
}

/// The worker of the slot's current attempt: the worker an active task is filed under.
fn worker_of(slots: &[Slot], slot: SlotId) -> Option<&WorkerId> {
    Some(list::get(slots, slot)?.task.current_attempt()?.worker())
}

/// The hash of the id of the task in `slot`, for the index to rehash itself as it grows.
fn hash_of(hasher: &DefaultHashBuilder, slots: &[Slot], slot: SlotId) -> u64 {
    list::get(slots, slot).map_or(0, |entry| hasher.hash_one(entry.task.id()))
}

/// The uid of attempt `number` of the task in `slot`.
fn uid_at(slots: &[Slot], (slot, number): (SlotId, u32)) -> Option<AttemptUid> {
    let entry = list::get(slots, slot)?;
    entry.task.attempts().get(number as usize).map(Attempt::uid)
}

/// What `TaskTable::by_uid` hashes an entry by: its attempt's uid.
fn uid_hash(hasher: &DefaultHashBuilder, uid: AttemptUid) -> u64 {
    hasher.hash_one(uid.get())
}

impl fmt::Debug for TaskTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskTable")
            .field("len", &self.len())
            .field("counts", &self.counts)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RetryPolicy;
    use crate::task::Task;

    fn ended(job: &JobId, count: u32) -> Vec<AnyTask> {
        (0..count)
            .map(|index| {
                Task::new(TaskId::new(job.clone(), index), RetryPolicy::default())
                    .kill("done", Timestamp::from_millis(1))
                    .into_any()
            })
            .collect()
    }

    #[test]
    fn a_drained_index_shrinks_unless_the_caller_asked_for_the_room() {
        let job = JobId::new("job").unwrap();
        // Loaded in one go (as a store rebuilds a table): the room was the loader's, not asked for.
        let mut loaded = TaskTable::from_tasks(ended(&job, 10_000)).unwrap();
        assert!(loaded.index.capacity() >= 10_000);
        loaded.remove_job(&job).unwrap();
        assert!(loaded.index.capacity() < 100, "{}", loaded.index.capacity());
        // Asked for: kept.
        let mut reserved = TaskTable::with_capacity(10_000);
        for index in 0..10 {
            let task = Task::new(TaskId::new(job.clone(), index), RetryPolicy::default());
            reserved.insert(task).unwrap();
        }
        reserved.kill_job(&job, "done", Timestamp::from_millis(1));
        reserved.remove_job(&job).unwrap();
        assert!(reserved.index.capacity() >= 10_000);
    }
}
