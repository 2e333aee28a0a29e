//! [`Attempt`]: one execution attempt of a task, from its assignment to its close.

use crate::id::{AttemptId, Timestamp, WorkerId};
use crate::state::StateKind;
use crate::uid::AttemptUid;

/// One execution attempt of a task.
///
/// Every assignment creates an attempt. Ids start at 0 and grow by one per assignment; a task has
/// at most one open attempt, and it is always the last. When the task leaves an active state, its
/// attempt is closed in the same step: it gets a terminal state and a finish time.
///
/// Attempts are read-only: they change only through the transitions of [`Task`](crate::Task).
///
/// ```
/// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
///
/// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
/// let task = task.assign(WorkerId::new("w1")?, Timestamp::from_millis(10));
/// let task = task.start(Timestamp::from_millis(20)).succeed(Timestamp::from_millis(30));
///
/// let attempt = &task.attempts()[0];
/// assert_eq!(attempt.id().get(), 0);
/// assert_eq!(attempt.worker().as_str(), "w1");
/// assert_eq!(attempt.state(), StateKind::Succeeded);
/// assert_eq!(attempt.assigned_at(), Timestamp::from_millis(10));
/// assert_eq!(attempt.started_at(), Some(Timestamp::from_millis(20)));
/// assert_eq!(attempt.finished_at(), Some(Timestamp::from_millis(30)));
/// assert_eq!(attempt.exit_code(), Some(0));
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub(crate) id: AttemptId,
    pub(crate) uid: AttemptUid,
    pub(crate) worker: WorkerId,
    pub(crate) state: StateKind,
    pub(crate) assigned_at: Timestamp,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) finished_at: Option<Timestamp>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) error: Option<String>,
    /// A KILLED attempt that the worker killed without the controller asking (an OOM killer, a
    /// node drain): a worker-side ending. Always false for other states.
    pub(crate) killed_on_worker: bool,
    /// The controller ended the attempt while its worker may still run it, and the worker has
    /// not confirmed the stop yet. Always false for an open attempt.
    pub(crate) awaiting_stop: bool,
}

impl Attempt {
    /// The attempt's id: 0 for the first attempt of a task, one more for each after it.
    pub fn id(&self) -> AttemptId {
        self.id
    }

    /// The attempt's uid: the name the controller minted for it when it was assigned, unique
    /// among all attempts, by which today's Iris routes its desired sets and observations.
    pub fn uid(&self) -> AttemptUid {
        self.uid
    }

    /// The worker the attempt was assigned to.
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// ASSIGNED, BUILDING or RUNNING while open; SUCCEEDED, FAILED, KILLED, WORKER_FAILED,
    /// PREEMPTED or COSCHED_FAILED once closed.
    pub fn state(&self) -> StateKind {
        self.state
    }

    /// When the task was assigned to the worker, creating this attempt.
    pub fn assigned_at(&self) -> Timestamp {
        self.assigned_at
    }

    /// When the worker first reported BUILDING or RUNNING; `None` if it never did.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }

    /// When the attempt was closed; `None` while it is open.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }

    /// The process exit code: 0 for SUCCEEDED, the reported (non-zero) code for FAILED, `None`
    /// otherwise, and for a FAILED attempt the controller ended (an execution timeout) or whose
    /// worker reported no code.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Why the attempt failed, was killed or lost its worker.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The attempt had a *worker-side ending*: it ended for a reason outside the task itself and
    /// other than a controller's kill. That is WORKER_FAILED (the worker lost, the RunTask RPC
    /// failed, the dispatch deadline passed, or the worker had no record of the attempt),
    /// PREEMPTED, and a KILLED that the worker reported without being asked. Whether or not it
    /// had started; only a started one [counts against the preemption budget](Self::is_preemption).
    /// This is the wire's `is_worker_failure`.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .worker_failed("RunTask: connection refused", Timestamp::from_millis(2));
    /// let attempt = &task.attempts()[0];
    /// assert!(attempt.is_worker_failure());
    /// assert!(!attempt.is_preemption(), "it never started: a dispatch failure");
    /// assert!(!attempt.is_open());
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn is_worker_failure(&self) -> bool {
        match self.state {
            StateKind::WorkerFailed | StateKind::Preempted => true,
            StateKind::Killed => self.killed_on_worker,
            _ => false,
        }
    }

    /// The attempt is KILLED because its worker killed it without being asked (an OOM killer, a
    /// node drain), not because the controller did: a worker-side ending.
    pub fn is_killed_on_worker(&self) -> bool {
        self.state == StateKind::Killed && self.killed_on_worker
    }

    /// The task may go on to another attempt after this one: it ended FAILED, COSCHED_FAILED, or
    /// by a worker-side ending. SUCCEEDED and a controller's KILLED end the task with them.
    pub(crate) fn allows_retry(&self) -> bool {
        matches!(self.state, StateKind::Failed | StateKind::CoschedFailed)
            || self.is_worker_failure()
    }

    /// The controller ended this attempt while its worker may still be running it (a kill, a
    /// preemption, an execution timeout, a gang or job end, the dispatch deadline), and the
    /// worker has not yet confirmed the stop. Until it does, the worker is told to stop it at every Reconcile, and
    /// the attempt's resources are still in use there: today's Iris holds them until the worker
    /// confirms, and a controller should too. [`AnyTask::apply`](crate::AnyTask::apply) and the
    /// table set it; the worker's word that the attempt ended or is gone clears it (its
    /// Reconcile answer, through [`TaskTable::reconcile`](crate::TaskTable::reconcile), or
    /// [`TaskTable::confirm_stop`](crate::TaskTable::confirm_stop)), and so does the loss of the
    /// worker. A report applied with [`TaskTable::apply`](crate::TaskTable::apply) does not: a
    /// controller whose workers report rather than reconcile calls `confirm_stop` when a worker
    /// says it stopped the attempt or does not have it.
    /// The typed transitions leave it unset: they do not know who ended the attempt.
    pub fn awaits_stop(&self) -> bool {
        self.awaiting_stop
    }

    /// The attempt is still open: ASSIGNED, BUILDING or RUNNING.
    pub fn is_open(&self) -> bool {
        self.state.is_active()
    }

    /// The latest time the attempt records: its finish, start or assignment.
    #[inline]
    pub(crate) fn latest_time(&self) -> Timestamp {
        self.finished_at
            .or(self.started_at)
            .unwrap_or(self.assigned_at)
    }

    /// The attempt ended FAILED: it counts against the failure budget.
    pub(crate) fn is_failure(&self) -> bool {
        self.state == StateKind::Failed
    }

    /// The attempt had a [worker-side ending](Self::is_worker_failure) after it had started
    /// (BUILDING or RUNNING): it counts against the preemption budget. A worker-side ending
    /// before the start (a dispatch failure, a preemption while ASSIGNED) charges nothing.
    pub fn is_preemption(&self) -> bool {
        self.is_worker_failure() && self.started_at.is_some()
    }
}
