//! [`TaskTable`]: the tasks a controller keeps, with the views a scheduler and a dashboard need,
//! and [`StateCounts`] / [`JobState`] for what dashboards show.

mod changes;
mod counts;
mod error;
mod jobs;
mod list;
mod reconcile;
mod restore;
mod schedule;
mod stops;

use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

pub use changes::Changes;
pub use counts::StateCounts;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
// What a snapshot (serde) or a store (sqlite, postgres) restores a table from.
pub use error::TableError;
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use jobs::JobRecord;
use jobs::{Cause, JobEntry, first_task_error};
pub use jobs::{Job, JobState, JobTransition, PARENT_JOB_TERMINATED_REASON, ParseJobStateError};
use list::{Chain, Link, List, NIL, SlotId};
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

use crate::any::{AnyTask, TaskEvent, Transition};
use crate::attempt::Attempt;
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::policy::JobPolicy;
use crate::state::{Assigned, Pending, StateKind};
use crate::task::Task;
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

    /// Adds a task, in whatever state it is. A pending task joins the back of the queue.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, TableError, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// assert_eq!(
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default())),
    ///     Err(TableError::DuplicateTask(id)),
    /// );
    /// assert_eq!(table.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The task's job is judged again with it (a job's state follows its tasks, see
    /// [`job`](TaskTable::job)), but no other task changes: a task inserted already ended (or any
    /// task, in a job over a limit lowered since its last change) may end its job, and the
    /// job-end rule then stops nothing ([`stop_ended_job`](TaskTable::stop_ended_job) does). A job's tasks are usually inserted
    /// pending, as a controller creates them; to add tasks that already ran (from another
    /// controller, say), use [`insert_job`](TaskTable::insert_job) or
    /// [`from_jobs`](TaskTable::from_jobs), which judge the job once all its tasks are in.
    ///
    /// Returns the job's state change, if the task made one ([`Changes::jobs`]: a task inserted
    /// already started or ended, say); no task is listed, the new one having had no state before.
    ///
    /// # Errors
    /// [`TableError::DuplicateTask`] if the table already holds a task with this id,
    /// [`TableError::DuplicateAttemptUid`] if it holds an attempt with the uid of one of the
    /// task's (or the task repeats one), [`TableError::JobEnded`] if the task's job has ended (a terminal job state is final: an
    /// ended job takes no new task), and [`TableError::Full`] if the table holds 4,294,967,295
    /// tasks already; the table is unchanged.
    pub fn insert(&mut self, task: impl Into<AnyTask>) -> Result<Changes, TableError> {
        let task = task.into();
        if let Some(job) = self
            .job_entry_of(task.id().job())
            .filter(|job| job.state.is_terminal())
        {
            return Err(TableError::JobEnded {
                job: job.id.clone(),
                state: job.state,
                task: task.id().clone(),
            });
        }
        let slot = self.insert_filed(task, Deadline::WalkBack)?;
        let mut changes = Changes::default();
        if let Some(job) = list::get(&self.slots, slot).map(|entry| entry.job) {
            self.judge_job(job, &mut changes);
        }
        Ok(changes)
    }

    /// Adds a job with its policy and all its tasks at once, as Iris creates a job's tasks when
    /// it is launched: the policy is told ([`set_job_policy`](TaskTable::set_job_policy)), the
    /// tasks are inserted in order ([`insert`](TaskTable::insert)), and the job is judged once
    /// they are all in. The tasks may be in any state: loading a job that ran elsewhere one task
    /// at a time would end it at its first ended task; here it is judged from all of them. The
    /// job may be known already (its policy told, some tasks in), as long as it has not ended.
    /// All or nothing: a refused call changes nothing. Returns the job's state change, if its
    /// tasks made one ([`Changes::jobs`]). No task changes: the job-end rule does not fire, so
    /// in a job the tasks end, those that have not ended stay as they are
    /// ([`stop_ended_job`](TaskTable::stop_ended_job) stops them).
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, JobState, Retry, RetryPolicy, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("/alice/sweep")?;
    /// let at = Timestamp::from_millis;
    /// let done = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).succeed(at(3));
    /// let waiting = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    /// let mut table = TaskTable::new();
    /// table.insert_job(job.clone(), JobPolicy::default(), [done.into_any(), waiting.into_any()])?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Running), "started, not ended");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::WrongJob`] for a task of another job, [`TableError::DuplicateTask`] for an
    /// id given twice or already in the table, [`TableError::DuplicateAttemptUid`] for an attempt
    /// uid given twice or already in the table, [`TableError::JobEnded`] if the job has ended,
    /// [`TableError::Full`] if the tasks do not fit; the table is unchanged.
    pub fn insert_job<T: Into<AnyTask>>(
        &mut self,
        job: JobId,
        policy: JobPolicy,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<Changes, TableError> {
        let tasks: Vec<AnyTask> = tasks.into_iter().map(Into::into).collect();
        if let Some(known) = self
            .job_entry_of(&job)
            .filter(|known| known.state.is_terminal())
        {
            let task = tasks.first().map(|task| task.id().clone());
            return Err(TableError::JobEnded {
                job: job.clone(),
                state: known.state,
                task: task.unwrap_or_else(|| TaskId::new(job.clone(), 0)),
            });
        }
        let mut ids = hashbrown::HashSet::with_capacity(tasks.len());
        // The uids of the tasks checked so far, with their task: one look-up an attempt.
        let mut uids: HashMap<AttemptUid, &TaskId> = HashMap::new();
        for task in &tasks {
            let id = task.id();
            if id.job() != &job {
                return Err(TableError::WrongJob {
                    job: job.clone(),
                    task: id.clone(),
                });
            }
            if self.slot(id).is_some() || !ids.insert(id) {
                return Err(TableError::DuplicateTask(id.clone()));
            }
            self.check_uids(task)?;
            for attempt in task.attempts() {
                if let Some(holder) = uids.insert(attempt.uid(), id) {
                    return Err(TableError::DuplicateAttemptUid {
                        task: id.clone(),
                        uid: attempt.uid(),
                        holder: holder.clone(),
                    });
                }
            }
        }
        drop(uids);
        drop(ids);
        let room = (NIL as usize).saturating_sub(self.len());
        if tasks.len() > room {
            let task = tasks.last().map(|task| task.id().clone());
            return Err(TableError::Full(
                task.unwrap_or_else(|| TaskId::new(job.clone(), 0)),
            ));
        }
        self.set_job_policy(job.clone(), policy);
        for task in tasks {
            self.insert_filed(task, Deadline::WalkBack)?;
        }
        let mut changes = Changes::default();
        if let Some(&entry) = self.job_index.get(&job) {
            self.judge_job(entry, &mut changes);
        }
        Ok(changes)
    }

    /// A table of `tasks`, inserted in order as [`insert`](TaskTable::insert) does, except that
    /// the ASSIGNED ones join the dispatch-deadline order in one sort (O(n log n) in all) rather
    /// than each walking back over newer assignments. The way to load many tasks whose
    /// assignment times are not in order: a snapshot, a store.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("job")?;
    /// let tasks = (0..4u32).map(|index| {
    ///     // Assigned in the reverse of their order here.
    ///     Task::new(TaskId::new(job.clone(), index), RetryPolicy::default())
    ///         .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(10 - i64::from(index)))
    /// });
    /// let mut table = TaskTable::from_tasks(tasks)?;
    /// let expired = table.expire_assigned(Timestamp::from_millis(100), std::time::Duration::ZERO);
    /// let order: Vec<u32> = expired.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [3, 2, 1, 0], "oldest assignment first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Each job is judged once all the tasks are in, from its tasks as they are (its state
    /// follows them, see [`job`](TaskTable::job)), under the default policy: a job whose tasks
    /// failed an attempt has ended FAILED. To load jobs with their policies, use
    /// [`from_jobs`](TaskTable::from_jobs).
    ///
    /// # Errors
    /// The first error [`insert`](TaskTable::insert) would give but [`TableError::JobEnded`] (no
    /// job has ended while loading); no table is built.
    pub fn from_tasks<T: Into<AnyTask>>(
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<TaskTable, TableError> {
        TaskTable::from_jobs([], tasks)
    }

    /// [`from_tasks`](TaskTable::from_tasks) with the jobs' policies, told before the tasks are
    /// loaded, so that each job is judged under its own: the way to load jobs that ran elsewhere
    /// (another controller, a snapshot of your own). The table knows the jobs in the order given,
    /// then those of tasks whose job was not given.
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, JobState, Retry, RetryPolicy, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("sweep")?;
    /// let at = Timestamp::from_millis;
    /// let Retry::Exhausted(failed) = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).fail(1, "exit 1", at(3))
    /// else {
    ///     unreachable!("no retry")
    /// };
    /// let running = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default())
    ///     .assign(WorkerId::new("w2")?, at(1)).start(at(2));
    /// let tasks = [failed.into_any(), running.into_any()];
    /// // Under the default policy one failed attempt fails the job; this one tolerates two.
    /// assert_eq!(TaskTable::from_tasks(tasks.clone())?.job_state(&job), Some(JobState::Failed));
    /// let tolerant = JobPolicy { max_task_failures: 2, ..JobPolicy::default() };
    /// let table = TaskTable::from_jobs([(job.clone(), tolerant)], tasks)?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Running));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_tasks`](TaskTable::from_tasks); no table is built.
    pub fn from_jobs<T: Into<AnyTask>>(
        jobs: impl IntoIterator<Item = (JobId, JobPolicy)>,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<TaskTable, TableError> {
        let tasks = tasks.into_iter();
        let mut table = TaskTable::with_capacity(tasks.size_hint().0);
        for (job, policy) in jobs {
            table.set_job_policy(job, policy);
        }
        // Room made for loading, not asked for by the caller: a later `remove_job` may shrink it.
        table.reserved = 0;
        let mut assigned = Vec::new();
        for task in tasks {
            let slot = table.insert_filed(task.into(), Deadline::Later)?;
            if table.task(slot).map(AnyTask::state) == Some(StateKind::Assigned) {
                assigned.push(slot);
            }
        }
        for (slot, _) in table.in_assignment_order(assigned) {
            table
                .assigned
                .push_back(&mut table.slots, Chain::Deadline, slot);
        }
        table.judge_every_job();
        Ok(table)
    }

    /// Judges every job once, from its tasks as loaded.
    fn judge_every_job(&mut self) {
        for job in self.job_order.clone() {
            self.judge_job(job, &mut Changes::default());
        }
    }

    /// Inserts a task and files it in the views of its state; an ASSIGNED one joins the
    /// dispatch-deadline order as `deadline` says.
    fn insert_filed(
        &mut self,
        mut task: AnyTask,
        deadline: Deadline,
    ) -> Result<SlotId, TableError> {
        let reused = self.free_slots.last().copied();
        let Some(slot) = reused.or_else(|| {
            SlotId::try_from(self.slots.len())
                .ok()
                .filter(|&slot| slot != NIL)
        }) else {
            return Err(TableError::Full(task.id().clone()));
        };
        let hash = self.hasher.hash_one(task.id());
        if self.slot_hashed(task.id(), hash).is_some() {
            return Err(TableError::DuplicateTask(task.id().clone()));
        }
        self.check_uids(&task)?;
        let job = self.job_entry(task.id().job());
        // Every task of a job shares the table's copy of the job's name, however the task was
        // built (decoded, parsed, deserialized): a loaded table holds each name once.
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            task.share_job(&entry.id);
            entry.slots.push(slot);
        }
        let filled = Slot {
            task,
            queue: Link::DETACHED,
            deadline: Link::DETACHED,
            job,
        };
        match list::get_mut(&mut self.slots, slot) {
            Some(vacant) if reused.is_some() => {
                *vacant = filled;
                self.free_slots.pop();
            }
            _ => self.slots.push(filled),
        }
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index
            .insert_unique(hash, slot, |&other| hash_of(hasher, slots, other));
        let attempts = self.task(slot).map_or(0, |task| task.attempts().len());
        for number in 0..attempts {
            self.index_uid(slot, u32::try_from(number).unwrap_or(u32::MAX));
        }
        self.track_stops(slot);
        self.refile(slot, None, deadline);
        Ok(slot)
    }

    /// Refuses `task` if one of its attempts repeats a uid of the table or of an earlier
    /// attempt of its own (a task has few attempts: they are compared pairwise).
    fn check_uids(&self, task: &AnyTask) -> Result<(), TableError> {
        let attempts = task.attempts();
        for (n, attempt) in attempts.iter().enumerate() {
            let uid = attempt.uid();
            let holder = self
                .attempt_by_uid(uid)
                .map(|(held, _)| held.id())
                .or_else(|| {
                    let earlier = attempts.get(..n).unwrap_or_default();
                    earlier.iter().any(|a| a.uid() == uid).then(|| task.id())
                });
            if let Some(holder) = holder {
                return Err(TableError::DuplicateAttemptUid {
                    task: task.id().clone(),
                    uid,
                    holder: holder.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds attempt `number` of the task in `slot` to the uid index.
    fn index_uid(&mut self, slot: SlotId, number: u32) {
        let Some(uid) = uid_at(&self.slots, (slot, number)) else {
            return;
        };
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.by_uid
            .insert_unique(uid_hash(hasher, uid), (slot, number), |&entry| {
                uid_at(slots, entry).map_or(0, |uid| uid_hash(hasher, uid))
            });
    }

    /// A uid no attempt in the table has: the minter's next, minted again on the (2^-64 a
    /// pair) chance of a clash with a uid the table holds, as Iris mints again on one.
    fn fresh_uid(&mut self) -> AttemptUid {
        loop {
            let uid = self.uids.mint();
            if self.attempt_by_uid(uid).is_none() {
                return uid;
            }
        }
    }

    /// The task and attempt whose uid is `uid`, among every attempt of every task the table
    /// holds.
    ///
    /// ```
    /// use iris_task::{AttemptUid, JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let uid = table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?.attempts()[0].uid();
    /// let (task, attempt) = table.attempt_by_uid(uid).unwrap();
    /// assert_eq!((task.id(), attempt.id().get()), (&id, 0));
    /// assert!(table.attempt_by_uid(AttemptUid::new(uid.get() ^ 1)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attempt_by_uid(&self, uid: AttemptUid) -> Option<(&AnyTask, &Attempt)> {
        let (slot, number) = self.find_uid(uid)?;
        let task = self.task(slot)?;
        Some((task, task.attempts().get(number as usize)?))
    }

    /// The index of `job`'s entry, made (or a freed one reused) if the table did not know the job.
    fn job_entry(&mut self, job: &JobId) -> u32 {
        if let Some(&entry) = self.job_index.get(job) {
            return entry;
        }
        let entry = match self.free_jobs.pop() {
            Some(entry) => {
                if let Some(freed) = self.jobs.get_mut(entry as usize) {
                    *freed = JobEntry::new(job.clone());
                }
                entry
            }
            None => {
                self.jobs.push(JobEntry::new(job.clone()));
                u32::try_from(self.jobs.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.job_index.insert(job.clone(), entry);
        self.job_order.push(entry);
        entry
    }

    /// Forgets a job whose tasks have all ended, and its policy, and returns its tasks in index
    /// order: the way a long-running controller keeps its table from growing. The slots the
    /// tasks held are reused by the next tasks inserted, and an index left under a quarter full
    /// shrinks to twice the tasks left (never below what [`with_capacity`](TaskTable::with_capacity)
    /// reserved), so a table that drained gives that memory back. An unknown job, or one known by its policy
    /// alone, gives `Ok` with no tasks (and forgets the policy). Stops its workers still owe
    /// ([`Attempt::awaits_stop`]) are forgotten with the job: its attempts drop out of their
    /// workers' desired sets, which a worker takes as a kill, but the controller no longer learns
    /// when they stopped. A controller that holds resources until then removes a job once
    /// [`stops_on`](TaskTable::stops_on) lists none of its attempts.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, TableError, Task, TaskId, TaskTable, Timestamp};
    ///
    /// let job = JobId::new("nightly")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// // Not finished: refused, nothing changes.
    /// assert!(matches!(table.remove_job(&job), Err(TableError::JobNotFinished { .. })));
    /// table.kill_job(&job, "done with it", Timestamp::from_millis(1));
    /// let removed = table.remove_job(&job)?;
    /// assert_eq!(removed.len(), 1);
    /// assert!(table.is_empty() && table.job_counts(&job).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::JobNotFinished`] naming the job's first task (by index) that has not ended;
    /// the table is unchanged.
    pub fn remove_job(&mut self, job: &JobId) -> Result<Vec<AnyTask>, TableError> {
        let Some(&entry) = self.job_index.get(job) else {
            return Ok(Vec::new());
        };
        let slots = self.slots_of_entry(entry);
        let unfinished = slots
            .iter()
            .filter_map(|&slot| self.task(slot))
            .find(|task| !task.state().is_terminal());
        if let Some(task) = unfinished {
            return Err(TableError::JobNotFinished {
                job: job.clone(),
                task: task.id().clone(),
                state: task.state(),
            });
        }
        let mut removed = Vec::with_capacity(slots.len());
        for slot in slots {
            let Some(task) = self.vacate(slot) else {
                continue;
            };
            self.counts.remove(task.state());
            removed.push(task);
        }
        self.job_index.remove(job);
        self.job_order.retain(|&live| live != entry);
        if let Some(freed) = self.jobs.get_mut(entry as usize) {
            // Keeps its vectors' memory for the next job that takes the entry.
            freed.clear();
        }
        self.free_jobs.push(entry);
        self.shrink_index();
        Ok(removed)
    }

    /// Shrinks an index left under a quarter full to twice its tasks (never below what
    /// [`with_capacity`](TaskTable::with_capacity) reserved). A table that drained gives the memory
    /// back, and the rebuilt index sheds the marks the removed ids left in it: kept, those marks
    /// make the next inserts double the index at a moment set by the hash seed.
    fn shrink_index(&mut self) {
        let live = self.index.len();
        if live < self.index.capacity() / 4 {
            let (hasher, slots) = (&self.hasher, &self.slots);
            let keep = live.saturating_mul(2).max(self.reserved);
            self.index
                .shrink_to(keep, |&slot| hash_of(hasher, slots, slot));
        }
    }

    /// Takes an ended task out of its slot, out of the index, and frees the slot for reuse. An
    /// ended task is in no list, so no link needs undoing.
    fn vacate(&mut self, slot: SlotId) -> Option<AnyTask> {
        self.untrack_stops(slot);
        let uids: Vec<AttemptUid> = self
            .task(slot)?
            .attempts()
            .iter()
            .map(Attempt::uid)
            .collect();
        for (number, uid) in (0u32..).zip(uids) {
            if let Ok(found) = self
                .by_uid
                .find_entry(uid_hash(&self.hasher, uid), |&entry| {
                    entry == (slot, number)
                })
            {
                found.remove();
            }
        }
        let id = self.task(slot)?.id().clone();
        let hash = self.hasher.hash_one(&id);
        if let Ok(found) = self.index.find_entry(hash, |&other| other == slot) {
            found.remove();
        }
        let entry = list::get_mut(&mut self.slots, slot)?;
        entry.job = VACANT;
        entry.queue = Link::DETACHED;
        entry.deadline = Link::DETACHED;
        let task = std::mem::replace(&mut entry.task, Task::vacant().into_any());
        self.free_slots.push(slot);
        Some(task)
    }

    /// Tells the table a job's policy: from then on its gang and job-end rules apply to its
    /// tasks, and its state is judged by this policy's `max_task_failures`. The job may have no
    /// task in the table yet; a later policy replaces an earlier one.
    ///
    /// Setting a policy changes no task and does not judge the job: the job is judged under the
    /// new policy at the next change to one of its tasks, as Iris judges a job when one of its
    /// tasks changes. So a job already over a lowered limit (more FAILED attempts than the new
    /// `max_task_failures`) ends FAILED at its next task change, and the job-end rule stops its
    /// other tasks then, in that call. A job that has ended stays ended whatever the new policy
    /// says (a terminal job state is final).
    ///
    /// With a policy, a call to [`apply`](TaskTable::apply), [`worker_lost`](TaskTable::worker_lost)
    /// or [`expire_assigned`](TaskTable::expire_assigned) that ends the job (FAILED, KILLED,
    /// UNSCHEDULABLE, WORKER_FAILED) kills its remaining tasks in the same call, with the job's error as
    /// the reason (Iris's words; a job without one gives its state's, such as `Job failed`). Tasks of jobs the table was never told about keep the rules of a
    /// single task: nothing cascades (their job's state is still judged, by the default policy).
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, RetryPolicy, StateKind, Task, TaskEvent, TaskId, TaskTable, Timestamp};
    ///
    /// let job = JobId::new("batch")?;
    /// let mut table = TaskTable::new();
    /// table.set_job_policy(job.clone(), JobPolicy::default());
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    /// }
    /// // Killing one task ends the job (KILLED), which stops the rest.
    /// let kill = TaskEvent::Kill { reason: "bad input".into(), at: Timestamp::from_millis(5) };
    /// let changes = table.apply(&TaskId::new(job.clone(), 1), kill)?;
    /// let order: Vec<u32> = changes.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [1, 0, 2], "the named task first, then the rest in index order");
    /// let task = table.get(&TaskId::new(job.clone(), 0)).unwrap();
    /// assert_eq!(task.state(), StateKind::Killed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    pub fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        let entry = self.job_entry(&job);
        if let Some(entry) = self.jobs.get_mut(entry as usize) {
            entry.policy = Some(policy);
        }
    }

    /// The policy the table was told for `job`, if any.
    pub fn job_policy(&self, job: &JobId) -> Option<&JobPolicy> {
        self.job_entry_of(job)?.policy.as_ref()
    }

    /// The state of `job`, as the table keeps it (see [`job`](TaskTable::job) for the rules);
    /// `None` for a job the table knows nothing of (no task, no policy). O(1).
    ///
    /// A job any of whose tasks was ever assigned reads RUNNING while its tasks wait for a retry:
    /// it has started (Iris keeps a job's `started_at` for the same reason).
    ///
    /// ```
    /// use iris_task::{JobId, JobState, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("train")?;
    /// let id = TaskId::new(job.clone(), 0);
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Pending));
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// table.worker_lost(&WorkerId::new("w1")?, "gone", Timestamp::from_millis(2));
    /// // Pending again, waiting for its retry, but the job has started.
    /// assert_eq!(table.job_state(&job), Some(JobState::Running));
    /// assert_eq!(table.job_state(&JobId::new("other")?), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job_state(&self, job: &JobId) -> Option<JobState> {
        Some(self.job_entry_of(job)?.state)
    }

    /// The job `job` as the table keeps it: its state, its error, its policy, its tasks' counts and
    /// its FAILED attempts; `None` for a job the table knows nothing of (no task, no policy). O(1).
    ///
    /// The table judges a job's state after every change to its tasks, in Iris's order (its
    /// controller's `recompute_state`); the first rule that matches decides:
    ///
    /// 1. every task SUCCEEDED → SUCCEEDED;
    /// 2. the job's FAILED attempts, counted over every attempt of every task (retried ones
    ///    included) since it began, exceed `max_task_failures` → FAILED (gangs included: a gang
    ///    that crashes round after round on a different member fails all the same);
    /// 3. any task UNSCHEDULABLE → UNSCHEDULABLE;
    /// 4. any task KILLED → KILLED;
    /// 5. every task ended, any WORKER_FAILED, PREEMPTED or COSCHED_FAILED → WORKER_FAILED;
    /// 6. every task ended → FAILED (some task FAILED within the tolerance: a task that can never
    ///    succeed fails its job);
    /// 7. a task is ASSIGNED, BUILDING or RUNNING, or the job has started → RUNNING;
    /// 8. otherwise PENDING.
    ///
    /// A job that has ended stays ended: later changes to its tasks (a job without a policy keeps
    /// running its other tasks) do not judge it again. The one exception is a cancel
    /// ([`kill_job`](TaskTable::kill_job)) of a WORKER_FAILED job, which makes it KILLED, as in
    /// Iris. A job with no task keeps its state. The job's policy is the one
    /// [`set_job_policy`](TaskTable::set_job_policy) told, or the default (no failure allowed).
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, JobPolicy, JobState, RetryPolicy, Task, TaskEvent, TaskId,
    ///     TaskTable, Timestamp, WorkerId, WorkerReport};
    ///
    /// let id = JobId::new("train")?;
    /// let mut table = TaskTable::new();
    /// table.set_job_policy(id.clone(), JobPolicy { max_task_failures: 1, ..JobPolicy::default() });
    /// let task = TaskId::new(id.clone(), 0);
    /// table.insert(Task::new(task.clone(), RetryPolicy { max_retries_failure: 5, ..RetryPolicy::default() }))?;
    /// let fail = |attempt, ms| TaskEvent::Report {
    ///     worker: WorkerId::new("w1").unwrap(),
    ///     attempt: AttemptId::new(attempt),
    ///     report: WorkerReport::Failed { exit_code: 1, error: format!("crash {attempt}") },
    ///     at: Timestamp::from_millis(ms),
    /// };
    /// for attempt in 0..2 {
    ///     table.assign(&task, WorkerId::new("w1")?, Timestamp::from_millis(10 * i64::from(attempt)))?;
    ///     table.apply(&task, fail(attempt, 10 * i64::from(attempt) + 5))?;
    /// }
    /// // The task still has retries, but the job allows one failed attempt: two fail it.
    /// let job = table.job(&id).unwrap();
    /// assert_eq!((job.state(), job.failures()), (JobState::Failed, 2));
    /// assert_eq!(
    ///     job.error(),
    ///     Some("Cumulative failed task attempts exceeded max_task_failures: failures=2, limit=1"),
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job(&self, job: &JobId) -> Option<Job<'_>> {
        self.job_entry_of(job).map(|entry| Job { entry })
    }

    fn job_entry_of(&self, job: &JobId) -> Option<&JobEntry> {
        self.job_index
            .get(job)
            .and_then(|&entry| self.jobs.get(entry as usize))
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

    /// Pending tasks only, in the order they became pending (FIFO; a requeued task goes to the
    /// back). ASSIGNED tasks never appear here, so a scheduler cannot pick a task twice.
    ///
    /// The tasks are borrowed from the table: to assign one, use
    /// [`schedule`](TaskTable::schedule) or [`assign`](TaskTable::assign). Cloning a task out of
    /// here and calling `assign` on the clone compiles (the compiler even suggests it), but it
    /// assigns a copy the table never sees, and the table keeps showing the task pending.
    ///
    /// Costs what it yields, however many tasks the table holds in other states.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let ids: Vec<TaskId> = (0..3).map(|i| TaskId::new(JobId::new("job").unwrap(), i)).collect();
    /// for id in &ids {
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// }
    /// table.assign(&ids[0], WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let waiting: Vec<u32> = table.pending().map(|task| task.id().index()).collect();
    /// assert_eq!(waiting, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> impl Iterator<Item = &Task<Pending>> + '_ {
        self.pending
            .iter(&self.slots, Chain::Queue)
            .filter_map(|slot| match self.task(slot) {
                Some(AnyTask::Pending(task)) => Some(task),
                _ => None,
            })
    }

    /// Assigns the pending task `id` to `worker`: the low-level call, which can place one member
    /// of a gang alone. [`schedule`](TaskTable::schedule) is the one that places a gang whole.
    ///
    /// It returns the assigned task, not [`Changes`]: the only other change an assignment makes
    /// is its job's first, which turns the job PENDING → RUNNING. Read that with
    /// [`job`](TaskTable::job), or place tasks with `schedule`, whose `Changes` list it.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, TableError, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let task = table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// assert_eq!(task.attempt_id().get(), 0);
    /// // Only a pending task can be assigned.
    /// let again = table.assign(&id, WorkerId::new("w2")?, Timestamp::from_millis(2));
    /// assert!(matches!(again, Err(TableError::NotPending { state: StateKind::Assigned, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownTask`] for an id the table does not hold, [`TableError::NotPending`]
    /// for a task in any other state than PENDING; the table is unchanged.
    pub fn assign(
        &mut self,
        id: &TaskId,
        worker: WorkerId,
        at: Timestamp,
    ) -> Result<&Task<Assigned>, TableError> {
        let slot = self.known(id)?;
        let state = self.task(slot).map_or(StateKind::Pending, AnyTask::state);
        if state != StateKind::Pending {
            return Err(TableError::NotPending {
                task: id.clone(),
                state,
            });
        }
        self.change(slot, id, TaskEvent::Assign { worker, at })?;
        // The job has started: RUNNING from its first assignment.
        if let Some(job) = list::get(&self.slots, slot).map(|entry| entry.job) {
            self.mark_running(job, &mut Changes::default());
        }
        match self.task(slot) {
            Some(AnyTask::Assigned(task)) => Ok(task),
            _ => Err(TableError::UnknownTask(id.clone())),
        }
    }

    /// Applies one event to the task `id`, as [`AnyTask::apply`] does, keeps the table's views
    /// and counts up to date, and applies the rules of the task's job, if the table was told its
    /// policy ([`set_job_policy`](TaskTable::set_job_policy)):
    ///
    /// - **Gangs.** In a coscheduled job, when the event ends an attempt of the task (the
    ///   trigger) other than SUCCEEDED and other than by a controller's kill (an execution
    ///   timeout is a trigger), its *active* siblings follow in the same call, in index order,
    ///   charged nothing: if the trigger ended for good, they end COSCHED_FAILED; if it was
    ///   requeued, they are requeued too (their attempts closed COSCHED_FAILED) and join the
    ///   pending queue right after it, so the gang is rescheduled together. Pending siblings stay
    ///   as they are, as in Iris: if the job ended, the job-end rule stops them.
    /// - **The job's state** is judged again (see [`job`](TaskTable::job)). This happens for
    ///   every job, told its policy or not.
    /// - **Jobs that end stop their tasks.** If the job's state turns FAILED, KILLED,
    ///   UNSCHEDULABLE or WORKER_FAILED in this call, its tasks that have not ended are killed,
    ///   in index order, with the job's error as the reason (or, without one, its
    ///   state's, such as `Job failed`).
    ///
    /// Changes made by these rules are never triggers themselves: cascades do not recurse. Each
    /// is stamped with the event's time, or the task's latest time if that is later. (A
    /// [`SiblingFailed`](TaskEvent::SiblingFailed) or [`SiblingRequeued`](TaskEvent::SiblingRequeued)
    /// the caller passes to an active member ends its attempt, and so is a trigger like any
    /// other: the gang stays whole. To stop a whole job, use [`kill_job`](TaskTable::kill_job).)
    ///
    /// Returns every task the call changed (see [`Changes`]): the named task first, with
    /// `from == to` for an accepted duplicate, then siblings, then tasks of the ended job; and
    /// the job's transition if its state changed.
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, RetryPolicy, StateKind, Task, TaskEvent, TaskId, TaskTable,
    ///     Timestamp, WorkerId, WorkerReport};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let running = TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(0),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(2),
    /// };
    /// let changes = table.apply(&id, running)?;
    /// let step = changes.get(&id).unwrap();
    /// assert_eq!((step.from, step.to), (StateKind::Assigned, StateKind::Running));
    /// assert_eq!(table.counts().get(StateKind::Running), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownTask`] for an id the table does not hold, and
    /// [`TableError::Transition`] for an event the task rejects; the table is unchanged, no
    /// sibling or other task of the job included.
    pub fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        let slot = self.known(id)?;
        let at = event.at();
        let mut changes = Changes::default();
        self.change_with_rules(slot, id, event, at, &mut changes)?;
        Ok(changes)
    }

    /// The worker is gone: every task active on it loses its worker (its `worker_failed`
    /// transition, through [`TaskEvent::WorkerLost`]). ASSIGNED tasks are requeued free of
    /// charge (a dispatch failure); BUILDING and RUNNING ones spend their preemption budget.
    /// `error` is each attempt's error, as given (Iris writes `Worker <id> failed: <reason>`).
    /// The table keeps no list of live workers: it forgets a worker with no active task, and
    /// nothing stops a later assignment to this one. Which workers are up is the controller's
    /// to know.
    ///
    /// Tasks are handled one at a time, oldest assignment first (ties: job id, then task index),
    /// each as if [`apply`](TaskTable::apply) had been called with its own `WorkerLost`, with its
    /// job's rules (gangs, jobs that end); a task that is no longer active on the worker when
    /// its turn comes (a gang sibling requeued or stopped by an earlier one) is skipped. Requeued
    /// tasks join the pending queue in that order. Each is stamped `at`, or its own latest time if
    /// that is later. Returns every task the call changed. Costs the tasks on the worker, sorted,
    /// and the cascades they set off.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let w1 = WorkerId::new("w1")?;
    /// for index in 0..2 {
    ///     let id = TaskId::new(JobId::new("job")?, index);
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    ///     table.assign(&id, w1.clone(), Timestamp::from_millis(i64::from(index)))?;
    /// }
    /// let changed = table.worker_lost(&w1, "heartbeat lost", Timestamp::from_millis(9));
    /// let order: Vec<u32> = changed.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [0, 1], "oldest assignment first");
    /// assert!(changed.iter().all(|(_, step)| step.to == StateKind::Pending));
    /// assert_eq!(table.tasks_on(&w1).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let slots: Vec<SlotId> = self
            .workers
            .get(worker)
            .map(|list| list.iter(&self.slots, Chain::Queue).collect())
            .unwrap_or_default();
        for (slot, id) in self.in_assignment_order(slots) {
            let Some(task) = self.task(slot).filter(|task| {
                task.state().is_active() && worker_of(&self.slots, slot) == Some(worker)
            }) else {
                continue;
            };
            let event = TaskEvent::WorkerLost {
                worker: worker.clone(),
                error: error.to_owned(),
                at: not_before(task, at),
            };
            // Cannot fail: the task is active on `worker`, and stamped no earlier than it records.
            let _ = self.change_with_rules(slot, &id, event, at, &mut changes);
        }
        // A lost worker runs nothing any more: the stops it owed are settled.
        self.release_stops(worker, &mut changes);
        changes
    }

    /// The dispatch deadline: every ASSIGNED task that has waited longer than `max_wait` for
    /// its worker's confirmation (`now - assigned_at > max_wait`, compared exactly) is requeued as
    /// a dispatch failure (its `worker_failed` transition, through [`TaskEvent::WorkerLost`]: no
    /// budget charged), with [`DISPATCH_DEADLINE_ERROR`] on its attempt. The worker may have the
    /// attempt after all, so the attempt [awaits its stop](crate::Attempt::awaits_stop) (today's
    /// Iris has no dispatch deadline: it keeps sending an undelivered attempt, and a controller
    /// for it need not call this).
    /// Apache Aurora treats tasks stuck in its ASSIGNED state the same way.
    ///
    /// Tasks are handled one at a time, oldest assignment first (ties: job id, then task index),
    /// each as if [`apply`](TaskTable::apply) had been called with it, with its job's rules
    /// (gangs, jobs that end); a task that is no longer ASSIGNED when its turn comes is skipped.
    /// Requeued tasks join the pending queue in that order. Each is stamped `now`, or its own
    /// latest time if that is later, so time never goes backwards in a task. Returns every task
    /// the call changed. Costs the tasks it expires and their cascades, not the table.
    ///
    /// ```
    /// use std::time::Duration;
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1_000))?;
    ///
    /// let deadline = Duration::from_secs(30);
    /// // At 31 s the task has waited exactly 30 s: not longer than allowed.
    /// assert!(table.expire_assigned(Timestamp::from_millis(31_000), deadline).is_empty());
    /// let expired = table.expire_assigned(Timestamp::from_millis(31_001), deadline);
    /// assert_eq!(expired.len(), 1);
    /// assert_eq!(expired.get(&id).map(|step| step.to), Some(StateKind::Pending));
    /// assert_eq!(table.get(&id).unwrap().state(), StateKind::Pending);
    /// assert_eq!(table.get(&id).unwrap().preemption_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        let slots: Vec<SlotId> = self
            .assigned
            .iter(&self.slots, Chain::Deadline)
            .take_while(|&slot| {
                self.assigned_at(slot)
                    .is_some_and(|assigned_at| waited_longer(assigned_at, now, max_wait))
            })
            .collect();
        let mut changes = Changes::default();
        for (slot, id) in self.in_assignment_order(slots) {
            let Some(task) = self
                .task(slot)
                .filter(|task| task.state() == StateKind::Assigned)
            else {
                continue;
            };
            let Some(worker) = task
                .current_attempt()
                .map(|attempt| attempt.worker().clone())
            else {
                continue;
            };
            let event = TaskEvent::WorkerLost {
                worker,
                error: DISPATCH_DEADLINE_ERROR.to_owned(),
                at: not_before(task, now),
            };
            // Cannot fail: the task is ASSIGNED to that worker, and stamped no earlier than it
            // records.
            let _ = self.change_with_rules(slot, &id, event, now, &mut changes);
            // The worker may have the attempt after all (a slow delivery): it is told to stop
            // it, and holds it until it confirms.
            if let Some(entry) = list::get_mut(&mut self.slots, slot) {
                entry.task.core_mut().await_stop();
            }
            self.track_last_stop(slot);
        }
        changes
    }

    /// A job's tasks, in index order; none for a job the table holds no task of. Costs the job's
    /// tasks, sorted.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// for (job, index) in [("a", 2), ("b", 0), ("a", 0)] {
    ///     table.insert(Task::new(TaskId::new(JobId::new(job)?, index), RetryPolicy::default()))?;
    /// }
    /// let a: Vec<u32> = table.tasks_of(&JobId::new("a")?).map(|task| task.id().index()).collect();
    /// assert_eq!(a, [0, 2]);
    /// assert_eq!(table.tasks_of(&JobId::new("c")?).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tasks_of(&self, job: &JobId) -> impl Iterator<Item = &AnyTask> + '_ {
        self.slots_of(job)
            .into_iter()
            .filter_map(|slot| self.task(slot))
    }

    /// Applies the job-end rule to `job` now: if it has ended (FAILED, KILLED, UNSCHEDULABLE,
    /// WORKER_FAILED), its tasks that have not ended are killed, in index order, each stamped
    /// `at` or its latest time if that is later, with the job's error as the reason (or its
    /// state's, such as `Job failed`). The job keeps its state and error, and no other job
    /// changes. Nothing happens to a job that has not ended, or has no such task.
    ///
    /// The table applies the rule itself when a call ends a job whose policy it knows. This is
    /// for the jobs that ended another way: a store [upgraded](crate::DurableTable::upgrade) from
    /// 0.2, whose jobs were judged again without touching a task; a job
    /// [`insert_job`](TaskTable::insert_job) loaded already ended; a job that ended before the
    /// table was told its policy.
    ///
    /// ```
    /// use iris_task::{JobId, JobState, Retry, RetryPolicy, StateKind, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("sweep")?;
    /// let at = Timestamp::from_millis;
    /// let Retry::Exhausted(failed) = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).fail(1, "exit 1", at(3))
    /// else {
    ///     unreachable!("no retry")
    /// };
    /// let waiting = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    /// // Loaded already FAILED, its other task still pending.
    /// let mut table = TaskTable::from_tasks([failed.into_any(), waiting.into_any()])?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Failed));
    /// let stopped = table.stop_ended_job(&job, at(4));
    /// assert_eq!(stopped.len(), 1);
    /// let task = table.get(&TaskId::new(job.clone(), 1)).unwrap();
    /// assert_eq!(task.state(), StateKind::Killed);
    /// let status = iris_task::proto::TaskStatus::from(task);
    /// assert_eq!(Some(status.error.as_str()), table.job(&job).unwrap().error());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_ended_job(&mut self, job: &JobId, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        if let Some(&entry) = self.job_index.get(job) {
            self.stop_unfinished(entry, at, &mut changes);
        }
        changes
    }

    /// Cancels `job`, as Iris cancels a job: kills every task of it that has not ended, in index
    /// order, each stamped `at` or its latest time if that is later, and records the job KILLED
    /// with `reason` as its error, with no gang cascade (the whole job is going) and no other
    /// rule. A job that has already ended keeps its state, with one exception: a WORKER_FAILED job
    /// becomes KILLED, recording that someone chose to stop it (Iris: the cancel "overwrites the
    /// transient WORKER_FAILED terminal so operator intent is recorded"). Its tasks that have
    /// not ended are killed all the same (a job without a policy may have some).
    ///
    /// Job ids are paths, as in Iris (`/user/train`, and a job it launched `/user/train/eval`):
    /// every *descendant* job the table knows, any job whose id begins with this one's and a
    /// `/`, is cancelled with it, in the order the table learned of them, its tasks killed and
    /// its state KILLED with the error [`PARENT_JOB_TERMINATED_REASON`]. An unknown job cancels
    /// nothing (its descendants included). Returns what it changed: tasks, then the jobs'
    /// transitions.
    ///
    /// ```
    /// use iris_task::{JobId, JobState, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("/alice/train")?;
    /// let child = JobId::new("/alice/train/eval")?;
    /// let mut table = TaskTable::new();
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    /// }
    /// table.insert(Task::new(TaskId::new(child.clone(), 0), RetryPolicy::default()))?;
    /// table.assign(&TaskId::new(job.clone(), 1), WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let changes = table.kill_job(&job, "cancelled by user", Timestamp::from_millis(2));
    /// assert_eq!(changes.len(), 4, "three tasks of the job, one of its child");
    /// assert_eq!(table.job_counts(&job).unwrap().get(StateKind::Killed), 3);
    /// let cancelled = table.job(&job).unwrap();
    /// assert_eq!((cancelled.state(), cancelled.error()), (JobState::Killed, Some("cancelled by user")));
    /// assert_eq!(table.job_state(&child), Some(JobState::Killed));
    /// assert!(table.kill_job(&job, "again", Timestamp::from_millis(3)).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let Some(&entry) = self.job_index.get(job) else {
            return changes;
        };
        self.cancel_entry(entry, reason, at, &mut changes);
        let prefix = format!("{job}/");
        let descendants: Vec<u32> = self
            .job_order
            .iter()
            .copied()
            .filter(|&other| {
                self.jobs
                    .get(other as usize)
                    .is_some_and(|entry| entry.id.as_str().starts_with(&prefix))
            })
            .collect();
        for descendant in descendants {
            self.cancel_entry(descendant, PARENT_JOB_TERMINATED_REASON, at, &mut changes);
        }
        changes
    }

    /// Cancels the job at `entry`: kills its tasks that have not ended, and records it KILLED
    /// unless it ended otherwise than WORKER_FAILED.
    fn cancel_entry(&mut self, entry: u32, reason: &str, at: Timestamp, changes: &mut Changes) {
        for slot in self.slots_of_entry(entry) {
            let Some(task) = self.task(slot).filter(|task| !task.state().is_terminal()) else {
                continue;
            };
            let id = task.id().clone();
            let event = TaskEvent::Kill {
                reason: reason.to_owned(),
                at: not_before(task, at),
            };
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
        let Some(job) = self.jobs.get_mut(entry as usize) else {
            return;
        };
        let from = job.state;
        if from.is_terminal() && from != JobState::WorkerFailed {
            return;
        }
        job.state = JobState::Killed;
        job.error = crate::task::reason(reason);
        changes.record_job(job.id.clone(), from, JobState::Killed);
    }

    /// The ids of the tasks active (ASSIGNED, BUILDING or RUNNING) on `worker`, in the order
    /// they became active on it. Look a task up with [`get`](TaskTable::get).
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// assert_eq!(table.tasks_on(&WorkerId::new("w1")?).collect::<Vec<_>>(), [&id]);
    /// assert_eq!(table.tasks_on(&WorkerId::new("w2")?).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tasks_on(&self, worker: &WorkerId) -> impl Iterator<Item = &TaskId> + '_ {
        self.workers
            .get(worker)
            .into_iter()
            .flat_map(|list| list.iter(&self.slots, Chain::Queue))
            .filter_map(|slot| self.task(slot).map(AnyTask::id))
    }

    /// How many tasks are active (ASSIGNED, BUILDING or RUNNING) on `worker`: its load, O(1),
    /// for a scheduler that tracks free slots without walking [`tasks_on`](TaskTable::tasks_on).
    /// It does not count the attempts the controller ended that the worker has not confirmed
    /// stopping yet ([`stops_on`](TaskTable::stops_on)): they may still hold the worker's
    /// resources, as Iris holds them. A scheduler that keeps them held counts
    /// [`worker_occupancy`](TaskTable::worker_occupancy) instead, or adds up what the attempts of
    /// both lists ask for.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let w1 = WorkerId::new("w1")?;
    /// for index in 0..3 {
    ///     let id = TaskId::new(JobId::new("job")?, index);
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    ///     table.assign(&id, w1.clone(), Timestamp::from_millis(1))?;
    /// }
    /// assert_eq!(table.worker_load(&w1), 3);
    /// assert_eq!(table.worker_load(&WorkerId::new("w2")?), 0);
    /// table.worker_lost(&w1, "gone", Timestamp::from_millis(2));
    /// assert_eq!(table.worker_load(&w1), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_load(&self, worker: &WorkerId) -> usize {
        self.workers.get(worker).map_or(0, List::len)
    }

    /// How many tasks are in each state. Kept up to date on every change; O(1) to read.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(JobId::new("job")?, index), RetryPolicy::default()))?;
    /// }
    /// assert_eq!(table.counts().get(StateKind::Pending), 3);
    /// assert_eq!(table.counts().total(), table.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn counts(&self) -> &StateCounts {
        &self.counts
    }

    /// How many tasks of `job` are in each state; `None` for a job the table knows nothing of
    /// (no task, no [policy](TaskTable::set_job_policy)). A job known by its policy alone has
    /// all-zero counts. Kept up to date on every change; O(1) to read.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// let job = JobId::new("job")?;
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// let counts = table.job_counts(&job).unwrap();
    /// assert_eq!((counts.get(StateKind::Pending), counts.total()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job_counts(&self, job: &JobId) -> Option<&StateCounts> {
        self.job_index
            .get(job)
            .and_then(|&index| self.jobs.get(index as usize))
            .map(|entry| &entry.counts)
    }

    /// The jobs the table knows, in the order the table first heard of them: its first task
    /// inserted, or its [policy](TaskTable::set_job_policy) set, whichever came first. A job known
    /// by its policy alone has no tasks and all-zero counts.
    ///
    /// ```
    /// use iris_task::{JobId, JobState, RetryPolicy, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// for (job, index) in [("b", 0), ("a", 0), ("b", 1)] {
    ///     table.insert(Task::new(TaskId::new(JobId::new(job)?, index), RetryPolicy::default()))?;
    /// }
    /// let jobs: Vec<(&str, usize, JobState)> = table
    ///     .jobs()
    ///     .map(|job| (job.id().as_str(), job.counts().total(), job.state()))
    ///     .collect();
    /// assert_eq!(jobs, [("b", 2, JobState::Pending), ("a", 1, JobState::Pending)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs(&self) -> impl Iterator<Item = Job<'_>> + '_ {
        self.job_order
            .iter()
            .filter_map(|&entry| self.jobs.get(entry as usize))
            .map(|entry| Job { entry })
    }

    // ----- internals -----

    /// The slots of a job's tasks, in task-index order.
    fn slots_of(&self, job: &JobId) -> Vec<SlotId> {
        self.job_index
            .get(job)
            .map(|&entry| self.slots_of_entry(entry))
            .unwrap_or_default()
    }

    /// The slots of the tasks of the job at `entry` in `jobs`, in task-index order.
    fn slots_of_entry(&self, entry: u32) -> Vec<SlotId> {
        let mut slots: Vec<(u32, SlotId)> = self
            .jobs
            .get(entry as usize)
            .map(|entry| {
                entry
                    .slots
                    .iter()
                    .filter_map(|&slot| Some((self.task(slot)?.id().index(), slot)))
                    .collect()
            })
            .unwrap_or_default();
        // Tasks are usually inserted in index order: then there is nothing to sort.
        if !slots.is_sorted() {
            slots.sort_unstable();
        }
        slots.into_iter().map(|(_, slot)| slot).collect()
    }

    /// [`change`](Self::change) for an event the caller passed, recorded in `changes`, followed
    /// by the rules of the task's job: the gang cascade (if the table knows the job's policy),
    /// the job's state judged again, and the job-end kills (if it knows the policy), each
    /// stamped with the call's time `at` (or the task's latest time, if later; the event itself
    /// may carry a later time than the call's). On `Err` nothing changed.
    fn change_with_rules(
        &mut self,
        slot: SlotId,
        id: &TaskId,
        event: TaskEvent,
        at: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), TableError> {
        let job = list::get(&self.slots, slot).map_or(u32::MAX, |entry| entry.job);
        let policy = self.jobs.get(job as usize).and_then(|entry| entry.policy);
        let step = self.change(slot, id, event)?;
        changes.record(id.clone(), step);
        if !step.changed() {
            return Ok(());
        }
        if policy.is_some_and(|policy| policy.coscheduled) {
            if let Some(requeued) = self.gang_trigger(slot, step) {
                self.gang_follows(job, slot, id, requeued, at, changes);
            }
        }
        self.settle_job(job, policy.is_some(), at, changes);
        Ok(())
    }

    /// Whether the change `step` of the task in `slot` is a gang trigger: it ended the task's
    /// attempt other than SUCCEEDED and other than by a controller's kill. `Some(true)` if the
    /// task was requeued, `Some(false)` if it ended for good.
    fn gang_trigger(&self, slot: SlotId, step: Transition) -> Option<bool> {
        if !step.from.is_active() || step.to.is_active() {
            return None;
        }
        let attempt = self.task(slot)?.current_attempt()?;
        let by_controller = attempt.state() == StateKind::Succeeded
            || (attempt.state() == StateKind::Killed && !attempt.is_killed_on_worker());
        (!by_controller).then_some(step.to == StateKind::Pending)
    }

    /// The gang rule: the *active* siblings of `trigger` (in `slot`) follow it, in index order:
    /// requeued with it, joining the pending queue right after it (it was requeued just before),
    /// or COSCHED_FAILED if it ended for good. Pending siblings stay as they are (as in Iris).
    fn gang_follows(
        &mut self,
        job: u32,
        trigger_slot: SlotId,
        trigger: &TaskId,
        requeued: bool,
        at: Timestamp,
        changes: &mut Changes,
    ) {
        for slot in self.slots_of_entry(job) {
            let Some(task) = self
                .task(slot)
                .filter(|task| slot != trigger_slot && task.state().is_active())
            else {
                continue;
            };
            let sibling = trigger.clone();
            let at = not_before(task, at);
            let event = if requeued {
                TaskEvent::SiblingRequeued { sibling, at }
            } else {
                TaskEvent::SiblingFailed { sibling, at }
            };
            let id = task.id().clone();
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
    }

    /// Judges the job at `job` again, and if the call ended it and `stop_rest` (the table knows
    /// the job's policy), applies the job-end rule: kills its tasks that have not ended, in index
    /// order.
    fn settle_job(&mut self, job: u32, stop_rest: bool, at: Timestamp, changes: &mut Changes) {
        let Some(before) = self.jobs.get(job as usize).map(|entry| entry.state) else {
            return;
        };
        let after = self.judge_job(job, changes);
        if !stop_rest || before.is_terminal() || !after.is_terminal() {
            return;
        }
        self.stop_unfinished(job, at, changes);
    }

    /// The job-end rule's kills: every task of the ended job at `job` that has not ended is
    /// killed, in index order, with Iris's reason (the job's error, or its state's fallback).
    fn stop_unfinished(&mut self, job: u32, at: Timestamp, changes: &mut Changes) {
        let Some(entry) = self
            .jobs
            .get(job as usize)
            .filter(|entry| entry.state.is_terminal())
        else {
            return;
        };
        if entry.counts.unfinished() == 0 {
            return;
        }
        let reason = entry
            .error
            .clone()
            .unwrap_or_else(|| entry.state.fallback_end_reason().to_owned());
        for slot in self.slots_of_entry(job) {
            let Some(task) = self.task(slot).filter(|task| !task.state().is_terminal()) else {
                continue;
            };
            let id = task.id().clone();
            let event = TaskEvent::Kill {
                reason: reason.clone(),
                at: not_before(task, at),
            };
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
    }

    /// An assignment's one effect on its job, as Iris's `assign` has it (`mark_jobs_running`): a
    /// PENDING job turns RUNNING. Nothing else is judged: an assignment ends no job, so it stops
    /// no task either (a limit lowered since the last task change is judged at the next one).
    fn mark_running(&mut self, job: u32, changes: &mut Changes) {
        if let Some(entry) = self
            .jobs
            .get_mut(job as usize)
            .filter(|entry| entry.state == JobState::Pending && entry.started)
        {
            entry.state = JobState::Running;
            changes.record_job(entry.id.clone(), JobState::Pending, JobState::Running);
        }
    }

    /// Judges the job at `job` again ([`JobEntry::judge`]), records its new state (and, if it
    /// ended, its error) and the transition in `changes`, and returns its state.
    fn judge_job(&mut self, job: u32, changes: &mut Changes) -> JobState {
        let Some(entry) = self.jobs.get(job as usize) else {
            return JobState::Pending;
        };
        let verdict = entry.judge();
        let from = entry.state;
        if verdict.state == from {
            return from;
        }
        let error = match verdict.cause {
            Cause::TooManyFailures { .. } | Cause::TaskEnded => {
                let slots = self.slots_of_entry(job);
                verdict.cause.error(first_task_error(
                    slots.into_iter().filter_map(|slot| self.task(slot)),
                ))
            }
            Cause::Unchanged | Cause::Succeeded => None,
        };
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            entry.state = verdict.state;
            entry.error = error;
            changes.record_job(entry.id.clone(), from, verdict.state);
        }
        verdict.state
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

    /// Sorts active slots oldest assignment first, ties by task id (job id, then index).
    fn in_assignment_order(&self, slots: Vec<SlotId>) -> Vec<(SlotId, TaskId)> {
        let mut keyed: Vec<(Timestamp, TaskId, SlotId)> = slots
            .into_iter()
            .filter_map(|slot| Some((self.assigned_at(slot)?, self.task(slot)?.id().clone(), slot)))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, id, slot)| (slot, id)).collect()
    }

    /// Applies `event` to the task `id` in `slot`, and refiles the slot if its state changed.
    /// This is the one place that changes a task in the table, and so the one place counts
    /// change.
    fn change(
        &mut self,
        slot: SlotId,
        id: &TaskId,
        event: TaskEvent,
    ) -> Result<Transition, TableError> {
        let assigns = matches!(event, TaskEvent::Assign { .. });
        let uid = if assigns {
            Some(self.fresh_uid())
        } else {
            None
        };
        let Some(entry) = list::get_mut(&mut self.slots, slot) else {
            return Err(TableError::UnknownTask(id.clone()));
        };
        let step = entry
            .task
            .apply_minting(event, || uid.unwrap_or_else(UidMinter::mint_shared))?;
        if assigns && step.changed() {
            let opened = entry.task.attempts().len().saturating_sub(1);
            self.index_uid(slot, u32::try_from(opened).unwrap_or(u32::MAX));
        }
        if step.changed() && step.from.is_active() {
            self.track_last_stop(slot);
        }
        if step.changed() {
            self.refile(slot, Some(step.from), Deadline::WalkBack);
        }
        Ok(step)
    }

    /// Moves the slot from the views of state `from` (`None`: a new slot) to those of its task's
    /// current state.
    ///
    /// A task leaves an active state by closing its attempt, never by opening another, so the
    /// current attempt still names the worker and assignment time the slot was filed under.
    fn refile(&mut self, slot: SlotId, from: Option<StateKind>, deadline: Deadline) {
        let Some(entry) = list::get(&self.slots, slot) else {
            return;
        };
        let to = entry.task.state();
        let job = entry.job;
        let ever_assigned = entry.task.current_attempt().is_some();
        let assigned_at = self.assigned_at(slot);
        // The FAILED attempts this change adds to the job's: a new task's, or the one it closed.
        let failed = match from {
            None => entry.task.failure_count(),
            Some(from) if from.is_active() && !to.is_active() => u32::from(
                entry
                    .task
                    .current_attempt()
                    .is_some_and(|attempt| attempt.state() == StateKind::Failed),
            ),
            Some(_) => 0,
        };

        if let Some(from) = from {
            self.counts.remove(from);
            if let Some(entry) = self.jobs.get_mut(job as usize) {
                entry.counts.remove(from);
            }
        }
        self.counts.add(to);
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            entry.counts.add(to);
            entry.started |= ever_assigned;
            entry.failures = entry.failures.saturating_add(failed);
        }
        if deadline == Deadline::Unfiled {
            return;
        }

        if from == Some(StateKind::Assigned) {
            self.assigned.unlink(&mut self.slots, Chain::Deadline, slot);
        }
        if let (StateKind::Assigned, Some(assigned_at), Deadline::WalkBack) =
            (to, assigned_at, deadline)
        {
            // Walk back from the newest assignment to keep the list in time order: one step when
            // the controller's clock moves forward, as it does.
            let mut after = self.assigned.tail;
            while self
                .assigned_at(after)
                .is_some_and(|time| time > assigned_at)
            {
                after = list::get(&self.slots, after).map_or(NIL, |entry| entry.deadline.prev);
            }
            self.assigned
                .insert_after(&mut self.slots, Chain::Deadline, after, slot);
        }

        let was_active = from.is_some_and(StateKind::is_active);
        if from == Some(StateKind::Pending) {
            self.pending.unlink(&mut self.slots, Chain::Queue, slot);
        } else if was_active && !to.is_active() {
            self.unfile_from_worker(slot);
        }
        if to == StateKind::Pending {
            self.pending.push_back(&mut self.slots, Chain::Queue, slot);
        } else if to.is_active() && !was_active {
            self.file_under_worker(slot);
        }
    }

    /// Adds the slot to the list of its current attempt's worker.
    fn file_under_worker(&mut self, slot: SlotId) {
        let Some(worker) = worker_of(&self.slots, slot) else {
            return;
        };
        match self.workers.get_mut(worker) {
            Some(list) => list.push_back(&mut self.slots, Chain::Queue, slot),
            None => {
                let worker = worker.clone();
                let mut list = List::default();
                list.push_back(&mut self.slots, Chain::Queue, slot);
                self.workers.insert(worker, list);
            }
        }
    }

    /// Removes the slot from the list of its current attempt's worker, and forgets the worker
    /// when it holds nothing any more.
    fn unfile_from_worker(&mut self, slot: SlotId) {
        let Some(list) =
            worker_of(&self.slots, slot).and_then(|worker| self.workers.get_mut(worker))
        else {
            return;
        };
        list.unlink(&mut self.slots, Chain::Queue, slot);
        if list.is_empty() {
            if let Some(worker) = worker_of(&self.slots, slot).cloned() {
                self.workers.remove(&worker);
            }
        }
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
