//! Reading: the views a scheduler and a dashboard need (jobs and their states, the pending
//! queue, a job's tasks, a worker's tasks and load, the counts).

use super::TaskTable;
use super::counts::StateCounts;
use super::jobs::{Job, JobEntry, JobState};
use super::list::{Chain, List};
use crate::any::AnyTask;
use crate::id::{JobId, TaskId, WorkerId};
use crate::policy::JobPolicy;
use crate::state::Pending;
use crate::task::Task;

impl TaskTable {
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

    pub(super) fn job_entry_of(&self, job: &JobId) -> Option<&JobEntry> {
        self.job_index
            .get(job)
            .and_then(|&entry| self.jobs.get(entry as usize))
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
}
