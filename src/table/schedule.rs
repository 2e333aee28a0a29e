//! [`TaskTable::schedule`]: the pending queue offered to a placement, one unit at a time, and a
//! coscheduled job as one unit, placed whole or not at all.

use std::cell::Cell;
use std::fmt;

use super::list::{self, Chain, NIL, SlotId};
use super::{Changes, TaskTable, not_before};
use crate::any::{AnyTask, TaskEvent};
use crate::id::{JobId, Timestamp, WorkerId};
use crate::state::Pending;
use crate::task::Task;

/// What [`TaskTable::schedule`] offers a placement at a time: one pending task, or every pending
/// task of a coscheduled job (a gang), in index order, to be placed together or not at all.
///
/// ```
/// use iris_task::{JobId, JobPolicy, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
///
/// let slice = JobId::new("tpu/slice")?;
/// let mut table = TaskTable::new();
/// table.set_job_policy(slice.clone(), JobPolicy { coscheduled: true, ..JobPolicy::default() });
/// for index in 0..4 {
///     table.insert(Task::new(TaskId::new(slice.clone(), index), RetryPolicy::default()))?;
/// }
/// let mut offers = Vec::new();
/// table.schedule(Timestamp::from_millis(1), |offer| {
///     offers.push((offer.job().as_str().to_owned(), offer.len(), offer.is_gang()));
///     None::<Vec<WorkerId>> // three free workers: not enough for the gang, which waits whole
/// });
/// assert_eq!(offers, [("tpu/slice".to_owned(), 4, true)], "offered once, as one unit");
/// assert_eq!(table.pending().count(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Offer<'a> {
    tasks: &'a [&'a Task<Pending>],
    /// `tasks[0]`, held apart so that reading it needs no check.
    first: &'a Task<Pending>,
    job: &'a JobId,
    gang: bool,
    /// Set by [`stop`](Offer::stop): no unit is offered after this one.
    stop: &'a Cell<bool>,
}

impl<'a> Offer<'a> {
    /// The first task: the only one of a single task's offer, the member with the lowest index
    /// of a gang's.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(JobId::new("job")?, index), RetryPolicy::default()))?;
    /// }
    /// // Only the even tasks.
    /// let placed = table.schedule(Timestamp::from_millis(1), |offer| {
    ///     (offer.first().id().index() % 2 == 0).then(|| WorkerId::new("w1").unwrap())
    /// });
    /// assert_eq!(placed.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first(&self) -> &'a Task<Pending> {
        self.first
    }

    /// The tasks to place: one, or a gang's pending members in index order. Answer with one
    /// worker per task, in this order.
    pub fn tasks(&self) -> &'a [&'a Task<Pending>] {
        self.tasks
    }

    /// How many tasks, and so how many workers an answer names.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// An offer is never empty: always false. (For clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Ends the scan after this offer: no later unit is offered in this call, so that a
    /// placement with no free capacity left does not walk the rest of the queue (the answer to
    /// this offer still counts). Without it, every pending unit is offered.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// for index in 0..1_000 {
    ///     table.insert(Task::new(TaskId::new(JobId::new("job")?, index), RetryPolicy::default()))?;
    /// }
    /// let mut free = 2;
    /// let mut offered = 0;
    /// table.schedule(Timestamp::from_millis(1), |offer| {
    ///     offered += 1;
    ///     free -= 1;
    ///     if free == 0 {
    ///         offer.stop();
    ///     }
    ///     Some(WorkerId::new("w1").unwrap())
    /// });
    /// assert_eq!((offered, table.pending().count()), (2, 998));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self) {
        self.stop.set(true);
    }

    /// The job the tasks belong to.
    pub fn job(&self) -> &'a JobId {
        self.job
    }

    /// The tasks are a coscheduled job's pending members, placed together or not at all (Iris
    /// places them one per worker). A gang with one member pending is a gang of one.
    pub fn is_gang(&self) -> bool {
        self.gang
    }
}

impl fmt::Debug for Offer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offer")
            .field("job", &format_args!("{}", self.job))
            .field("tasks", &self.tasks.len())
            .field("gang", &self.gang)
            .field("stopped", &self.stop.get())
            .finish()
    }
}

/// What a placement answers an [`Offer`] with: the workers of its tasks, one per task, in the
/// offer's order. A [`WorkerId`] for an offer of one task; a `Vec<WorkerId>` or an array of them
/// for a gang (or for one task).
///
/// ```
/// use iris_task::{IntoWorkers, WorkerId};
///
/// let mut workers = Vec::new();
/// WorkerId::new("w1")?.into_workers(&mut workers);
/// vec![WorkerId::new("w2")?, WorkerId::new("w3")?].into_workers(&mut workers);
/// assert_eq!(workers.len(), 3);
/// # Ok::<(), iris_task::IdError>(())
/// ```
pub trait IntoWorkers {
    /// Appends the workers to `workers`, in order.
    fn into_workers(self, workers: &mut Vec<WorkerId>);
}

impl IntoWorkers for WorkerId {
    fn into_workers(self, workers: &mut Vec<WorkerId>) {
        workers.push(self);
    }
}

impl IntoWorkers for Vec<WorkerId> {
    fn into_workers(mut self, workers: &mut Vec<WorkerId>) {
        workers.append(&mut self);
    }
}

impl<const N: usize> IntoWorkers for [WorkerId; N] {
    fn into_workers(self, workers: &mut Vec<WorkerId>) {
        workers.extend(self);
    }
}

impl TaskTable {
    /// Offers the pending tasks to `place`, oldest first, and assigns those it places, through
    /// the table, so the pending queue, the worker lists, the counts and the job states follow:
    /// the way to schedule. Returns the tasks assigned, in the order they were, and the jobs
    /// whose state that changed (a job's first assignment makes it RUNNING).
    ///
    /// What a worker has free is the placement's to know: what it registered, less what its
    /// active tasks ([`tasks_on`](TaskTable::tasks_on)) and the stopped attempts it has not
    /// confirmed yet ([`stops_on`](TaskTable::stops_on)) ask for.
    ///
    /// Each call of `place` gets one [`Offer`]: a pending task, or, for a job whose
    /// [policy](TaskTable::set_job_policy) is coscheduled, every pending task of the job at once,
    /// in index order, when the first of them comes up in the queue. `place` answers with one
    /// worker per task, in the offer's order (a `WorkerId`, a `Vec` or an array of them: see
    /// [`IntoWorkers`]), or `None` to leave the unit pending. A unit is placed whole or not at
    /// all: an answer that names a different number of workers than the offer has tasks places
    /// nothing, and so does one that names a worker twice for a gang, whose members Iris places
    /// one per worker (neither is an error: the returned `Changes` show what was placed). A gang is offered once per call, so the table never places a gang
    /// piecemeal, as Iris's scheduler never does; [`assign`](TaskTable::assign) is the low-level
    /// call that can place one member alone.
    ///
    /// (Cloning a task out of [`pending`](TaskTable::pending) and assigning the clone compiles,
    /// but assigns a copy the table never sees: the table still shows the task pending.) Each
    /// assignment is stamped `at`, or the task's latest time if that is later.
    ///
    /// Placement is the closure's: the table knows nothing of resources, priorities or which
    /// workers belong together. Iris's scheduler places coscheduled jobs before the rest, one
    /// member per worker of one group; a controller that wants that calls `schedule` twice,
    /// first answering `None` to every offer that [is not a gang](Offer::is_gang). The closure
    /// cannot read the table while it runs: copy what it needs (free slots from
    /// [`worker_load`](TaskTable::worker_load)) before the call. Costs the units it offers, and
    /// a gang's tasks once more to gather them: a placement whose capacity runs out calls
    /// [`Offer::stop`], and the rest of the queue is not walked.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// for index in 0..5 {
    ///     table.insert(Task::new(TaskId::new(JobId::new("job")?, index), RetryPolicy::default()))?;
    /// }
    /// // Two workers with two free slots each; task 1 fits nowhere.
    /// let workers = [WorkerId::new("w1")?, WorkerId::new("w2")?];
    /// let mut free = [2, 2];
    /// let assigned = table.schedule(Timestamp::from_millis(10), |offer| {
    ///     if offer.tasks()[0].id().index() == 1 {
    ///         return None;
    ///     }
    ///     let w = free.iter().position(|&slots| slots > 0)?;
    ///     free[w] -= 1;
    ///     Some(workers[w].clone())
    /// });
    /// let order: Vec<u32> = assigned.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [0, 2, 3, 4]);
    /// assert_eq!(table.worker_load(&workers[0]), 2);
    /// assert_eq!(table.pending().map(|task| task.id().index()).collect::<Vec<_>>(), [1]);
    /// assert_eq!(table.counts().get(StateKind::Assigned), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A gang, one member per worker:
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, JobState, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let slice = JobId::new("tpu/slice")?;
    /// let mut table = TaskTable::new();
    /// table.set_job_policy(slice.clone(), JobPolicy { coscheduled: true, ..JobPolicy::default() });
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(slice.clone(), index), RetryPolicy::default()))?;
    /// }
    /// let mut idle = vec![WorkerId::new("w0")?, WorkerId::new("w1")?, WorkerId::new("w2")?];
    /// let changes = table.schedule(Timestamp::from_millis(1), |offer| {
    ///     (idle.len() >= offer.len()).then(|| idle.drain(..offer.len()).collect::<Vec<_>>())
    /// });
    /// assert_eq!(changes.len(), 3);
    /// assert_eq!(changes.job(&slice).map(|step| step.to), Some(JobState::Running));
    /// assert_eq!(table.pending().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn schedule<P: IntoWorkers>(
        &mut self,
        at: Timestamp,
        mut place: impl FnMut(&Offer<'_>) -> Option<P>,
    ) -> Changes {
        let mut changes = Changes::default();
        // The gangs offered in this call: each is offered once.
        let mut offered: Vec<u32> = Vec::new();
        let mut members: Vec<SlotId> = Vec::new();
        let mut workers: Vec<WorkerId> = Vec::new();
        let stop = Cell::new(false);
        let mut cursor = Some(self.pending.head).filter(|&head| head != NIL);
        while let Some(slot) = cursor.filter(|_| !stop.get()) {
            cursor = list::next(&self.slots, Chain::Queue, slot);
            let Some(AnyTask::Pending(first)) = self.task(slot) else {
                continue;
            };
            let Some(job) = list::get(&self.slots, slot).map(|entry| entry.job) else {
                continue;
            };
            let Some(entry) = self.jobs.get(job as usize) else {
                continue;
            };
            let gang = entry.policy.is_some_and(|policy| policy.coscheduled);
            members.clear();
            let answer = if gang {
                if offered.contains(&job) {
                    continue;
                }
                offered.push(job);
                members.extend(
                    self.slots_of_entry(job)
                        .into_iter()
                        .filter(|&member| matches!(self.task(member), Some(AnyTask::Pending(_)))),
                );
                let tasks: Vec<&Task<Pending>> = members
                    .iter()
                    .filter_map(|&member| match self.task(member) {
                        Some(AnyTask::Pending(task)) => Some(task),
                        _ => None,
                    })
                    .collect();
                place(&Offer {
                    tasks: &tasks,
                    first: tasks.first().copied().unwrap_or(first),
                    job: &entry.id,
                    gang,
                    stop: &stop,
                })
            } else {
                members.push(slot);
                place(&Offer {
                    tasks: std::slice::from_ref(&first),
                    first,
                    job: &entry.id,
                    gang,
                    stop: &stop,
                })
            };
            let Some(answer) = answer else {
                continue;
            };
            workers.clear();
            answer.into_workers(&mut workers);
            if workers.len() != members.len() || (gang && !all_different(&workers)) {
                continue;
            }
            // The unit leaves the queue: step the cursor past its members first, since a slot
            // that left the queue no longer leads to the rest of it.
            while let Some(next) = cursor.filter(|next| members.contains(next)) {
                cursor = list::next(&self.slots, Chain::Queue, next);
            }
            for (&member, worker) in members.iter().zip(workers.drain(..)) {
                let Some(task) = self.task(member) else {
                    continue;
                };
                let id = task.id().clone();
                let at = not_before(task, at);
                if let Ok(step) = self.change(member, &id, TaskEvent::Assign { worker, at }) {
                    changes.record(id, step);
                }
            }
            self.mark_running(job, &mut changes);
        }
        changes
    }
}

/// No worker named twice.
fn all_different(workers: &[WorkerId]) -> bool {
    let mut seen = hashbrown::HashSet::with_capacity(workers.len());
    workers.iter().all(|worker| seen.insert(worker))
}
