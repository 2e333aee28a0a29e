//! Why the table refused a call: [`TableError`].

use super::JobState;
use crate::any::TransitionError;
use crate::id::{JobId, TaskId, WorkerId};
use crate::state::StateKind;
use crate::uid::AttemptUid;

/// Why the [`TaskTable`](crate::TaskTable) refused a call. A refused call changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// [`insert`](crate::TaskTable::insert) of a task whose id the table already holds.
    #[error("task {0} is already in the table")]
    DuplicateTask(TaskId),
    /// [`confirm_stop`](crate::TaskTable::confirm_stop) of a uid no attempt in the table has.
    #[error("no attempt in the table has uid {0}")]
    UnknownAttempt(AttemptUid),
    /// [`confirm_stop`](crate::TaskTable::confirm_stop) by a worker that does not own the
    /// attempt.
    #[error("attempt {uid} is not worker {worker}'s (it is {owner:?}'s)")]
    NotTheOwner {
        /// The attempt's uid.
        uid: AttemptUid,
        /// Its worker.
        owner: Option<WorkerId>,
        /// The worker that said it stopped it.
        worker: WorkerId,
    },
    /// An insert of a task with an attempt whose uid another attempt in the table (or before it
    /// in the same task or job) already has: uids name one attempt each.
    #[error("task {task}: attempt uid {uid} is already the uid of an attempt of task {holder}")]
    DuplicateAttemptUid {
        /// The task refused.
        task: TaskId,
        /// The uid it repeats.
        uid: AttemptUid,
        /// The task whose attempt has that uid.
        holder: TaskId,
    },
    /// [`insert`](crate::TaskTable::insert) into a table that holds 4,294,967,295 tasks, the
    /// most its 32-bit slot numbers can tell apart.
    #[error("task {0} does not fit: the table holds 4,294,967,295 tasks already")]
    Full(TaskId),
    /// A call that names a task the table does not hold.
    #[error("task {0} is not in the table")]
    UnknownTask(TaskId),
    /// A call that names a job the table does not know (a record put for it, say).
    #[error("job {0} is not in the table")]
    UnknownJob(JobId),
    /// [`remove_job`](crate::TaskTable::remove_job) of a job with a task that has not ended.
    #[error("job {job} has not finished: task {task} is {state}")]
    JobNotFinished {
        /// The job.
        job: JobId,
        /// Its first task, by index, that has not ended.
        task: TaskId,
        /// That task's state.
        state: StateKind,
    },
    /// [`insert`](crate::TaskTable::insert) of a task into a job that has ended: a terminal job
    /// state is final, and an ended job takes no new task.
    #[error("task {task} cannot join job {job}, which has ended {state}")]
    JobEnded {
        /// The job.
        job: JobId,
        /// Its state.
        state: JobState,
        /// The task refused.
        task: TaskId,
    },
    /// [`insert_job`](crate::TaskTable::insert_job) of a task of another job.
    #[error("task {task} is not a task of job {job}")]
    WrongJob {
        /// The job being inserted.
        job: JobId,
        /// The task that belongs elsewhere.
        task: TaskId,
    },
    /// [`assign`](crate::TaskTable::assign) of a task that is not waiting to be scheduled.
    #[error("task {task} is {state}, not pending: only a pending task can be assigned")]
    NotPending {
        /// The task.
        task: TaskId,
        /// Its state, unchanged.
        state: StateKind,
    },
    /// The task rejected the event.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

impl TableError {
    /// The task's own reason, when the task (not the table) refused the event.
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, RetryPolicy, Task, TaskEvent, TaskId, TaskTable, Timestamp,
    ///     TransitionError, WorkerId, WorkerReport};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let late = TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(0),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(1),
    /// };
    /// let err = table.apply(&id, late).unwrap_err();
    /// assert!(matches!(err.transition(), Some(TransitionError::StaleAttempt { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transition(&self) -> Option<&TransitionError> {
        match self {
            TableError::Transition(err) => Some(err),
            _ => None,
        }
    }
}
