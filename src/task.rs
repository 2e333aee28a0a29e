// One idea: the typed lifecycle, the rules themselves. It is long because each state's
// transitions carry their doc examples; splitting the states apart would scatter the rules.
//! [`Task<S>`] and its transitions: the lifecycle rules of the crate live here, and only here.
//!
//! A `Task<S>` is a task known, at compile time, to be in state `S`. Each transition consumes the
//! task and returns it in its next state, so code that holds a `Task<Assigned>` cannot hand it to
//! a scheduler, and code that holds a terminal task has nothing left to call. The impl blocks
//! below follow the lifecycle:
//!
//! ```text
//! Task<Pending>   ─ assign ─▶ Task<Assigned> ─ build ─▶ Task<Building> ─ start ─▶ Task<Running>
//!                 ─ mark_unschedulable, kill ─▶ terminal     └──────── start ───────────▲
//! Task<Assigned>  ─ worker_failed ─▶ Task<Pending>        (dispatch failure: no budget charged)
//! Task<Building>, Task<Running> ─ fail, worker_failed ─▶ Retry::{Requeued, Exhausted}
//! Task<Running>   ─ succeed ─▶ Task<Succeeded>
//! every active task ─ kill ─▶ Task<Killed>
//!
//! 0.2, today's Iris:
//! Task<Assigned>  ─ preempt, killed_on_worker, missing_on_worker ─▶ Task<Pending>  (free)
//! Task<Building>, Task<Running> ─ preempt ─▶ Retry<Preempted>
//!                               ─ killed_on_worker, missing_on_worker ─▶ Retry<WorkerFailed>
//! every active task ─ sibling_failed ─▶ Task<CoschedFailed>     (gangs, no budget)
//!                   ─ sibling_requeued ─▶ Task<Pending>          (gangs, no budget)
//!
//! 0.3, today's Iris:
//! Task<Building>, Task<Running> ─ timed_out ─▶ Task<Failed>      (execution timeout, no retry)
//! ```
//!
//! Each transition exists twice in its state's impl block: the public one, which consumes the
//! task, and a crate-private in-place twin (`succeed_in_place`, …) for a task held inside an
//! [`AnyTask`](crate::AnyTask), which takes the data out and returns it re-tagged. The public one
//! runs its twin, so both are one rule. [`AnyTask::apply`](crate::AnyTask::apply) reaches the
//! rules only through these methods (see [`crate::AnyTask`]'s module), and the edits they make to
//! the attempts are private to this module: only this file changes a task.

use std::fmt;
use std::marker::PhantomData;

use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{AttemptId, JobId, TaskId, Timestamp, WorkerId};
use crate::policy::RetryPolicy;
use crate::state::{
    Active, Assigned, Building, CoschedFailed, Executing, Failed, Killed, Pending, Preempted,
    Running, State, StateKind, Succeeded, Terminal, Unschedulable, WorkerFailed,
};
use crate::uid::{AttemptUid, UidMinter};

/// The error of an attempt its worker reported MISSING (it has no record of it: it restarted, or
/// never got the RunTask call). The attempt is recorded WORKER_FAILED with this error, Iris's own
/// words for it (`worker_lost_spec`), so both controllers' dashboards say the same.
pub const MISSING_ERROR: &str = "worker_lost_spec";

/// The error of an attempt the controller ended because it ran longer than its job allows
/// ([`Task::timed_out`]): Iris's words for its execution timeout.
pub const EXECUTION_TIMEOUT_ERROR: &str = "Execution timeout exceeded";

/// How Iris's words for a gang sibling's end begin: what marks an error as an echo of another
/// task's (`is_derived_task_error`).
pub(crate) const SIBLING_ERROR_PREFIX: &str = "Coscheduled sibling ";

/// The error a gang sibling gets when a coscheduled task ended for good (`sibling_failed`), in
/// Iris's words, the task named as Iris names it (`<job>/<index>`).
fn sibling_failed_reason(sibling: &TaskId) -> String {
    format!(
        "{SIBLING_ERROR_PREFIX}{}/{} failed",
        sibling.job(),
        sibling.index()
    )
}

/// The error a gang sibling's attempt gets when a coscheduled task was requeued
/// (`sibling_requeued`), in Iris's words: distinct from [`sibling_failed_reason`], so that a
/// decoder can tell a task that ended with such an attempt from one that ended later, while
/// pending.
fn sibling_requeued_reason(sibling: &TaskId) -> String {
    format!(
        "{SIBLING_ERROR_PREFIX}{}/{} bounced for atomic re-scheduling",
        sibling.job(),
        sibling.index()
    )
}

/// A task of a job, in lifecycle state `S`.
///
/// There is no way to build one but [`Task::new`] (a pending task) and the transitions, so a
/// `Task<Running>` is always a task whose worker confirmed its attempt. The state is a zero-sized
/// marker: a `Task<S>` is exactly as large as the task's data, whatever `S` is.
///
/// ```
/// use iris_task::{JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
///
/// let id = TaskId::new(JobId::new("train")?, 0);
/// let policy = RetryPolicy { max_retries_failure: 1, ..RetryPolicy::default() };
/// let worker = WorkerId::new("w1")?;
/// let at = Timestamp::from_millis;
///
/// let pending = Task::new(id, policy);
/// let running = pending.assign(worker.clone(), at(1)).start(at(2));
/// // A failure with budget left requeues the task; the compiler makes us handle both outcomes.
/// let pending = match running.fail(1, "segfault", at(3)) {
///     Retry::Requeued(task) => task,
///     Retry::Exhausted(_) => unreachable!("one retry is allowed"),
/// };
/// let done = pending.assign(worker, at(4)).start(at(5)).succeed(at(6));
/// assert_eq!(done.state(), StateKind::Succeeded);
/// assert_eq!(done.failure_count(), 1);
/// assert_eq!(done.attempts().len(), 2);
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[must_use = "a transition consumes the task and returns it in its new state"]
pub struct Task<S: State> {
    core: Core,
    state: PhantomData<S>,
}

/// What a task holds, whatever its state. The state itself lives in the type.
///
/// The fields are private to this module: other modules read them, and only the transitions
/// below change them. The decoder builds new task data through [`Decoded`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Core {
    id: TaskId,
    policy: RetryPolicy,
    /// Every attempt, oldest first; only the last may be open. An attempt's id is its index.
    attempts: Vec<Attempt>,
    /// Set exactly when the task ended while pending (killed or unschedulable). A task that ended
    /// with an attempt records nothing more: its end is the attempt's finish (derived, not stored
    /// twice, which also keeps the data a transition moves small).
    ended_while_pending: Option<Box<PendingEnd>>,
}

/// How a task that ended while pending ended: no attempt was open, so the task itself keeps the
/// time and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingEnd {
    at: Timestamp,
    /// The kill reason or the scheduling failure.
    reason: Option<String>,
}

/// Task data rebuilt by a decoder (`proto`, `serde`) whose checks established the invariants of
/// the state it is wrapped in: the only way into a `Task<S>` besides [`Task::new`] and the
/// transitions.
pub(crate) struct Decoded(Core);

impl Decoded {
    /// The parts of a task, as a decoder read and checked them.
    pub(crate) fn new(
        id: TaskId,
        policy: RetryPolicy,
        attempts: Vec<Attempt>,
        ending: Option<Ending>,
    ) -> Decoded {
        let ended_while_pending = match ending {
            Some(Ending::WhilePending { at, reason }) => Some(Box::new(PendingEnd { at, reason })),
            // The attempt's finish, which the decoder checked the task's own time against.
            Some(Ending::Closed { .. }) | None => None,
        };
        Decoded(Core {
            id,
            policy,
            attempts,
            ended_while_pending,
        })
    }

    /// The task, in the state the decoder checked it for.
    pub(crate) fn into_task<S: State>(self) -> Task<S> {
        self.0.into_task()
    }
}

/// How and when a terminal task ended, as a decoder reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It ended by closing its open attempt, which holds the exit code and the error.
    Closed {
        /// The attempt's finish time, which is the task's.
        at: Timestamp,
    },
    /// It ended while pending (killed or unschedulable): no attempt was open, so the task itself
    /// keeps the reason.
    WhilePending {
        /// When the task ended.
        at: Timestamp,
        /// Why: the kill reason or the scheduling failure.
        reason: Option<String>,
    },
}

impl Ending {
    pub(crate) fn at(&self) -> Timestamp {
        match self {
            Ending::Closed { at } | Ending::WhilePending { at, .. } => *at,
        }
    }
}

/// An empty reason is no reason: it reads back as `None`, as an empty string field does on the wire.
pub(crate) fn reason(text: impl Into<String>) -> Option<String> {
    Some(text.into()).filter(|text| !text.is_empty())
}

impl Core {
    /// Data that allocates nothing, to hold a task's place while it is re-tagged.
    pub(crate) fn vacant() -> Core {
        Core {
            id: TaskId::vacant(),
            policy: RetryPolicy::default(),
            attempts: Vec::new(),
            ended_while_pending: None,
        }
    }

    /// Wraps the data as a task in state `S`, whose invariants the caller has established: a
    /// decode checked them, or a transition of this module just made them true.
    ///
    /// (A method of `Core`, not a constructor of `Task`, so that the compiler never suggests it
    /// to code outside the crate that tries to build a task with a struct literal.)
    #[inline]
    fn into_task<S: State>(self) -> Task<S> {
        Task {
            core: self,
            state: PhantomData,
        }
    }

    pub(crate) fn id(&self) -> &TaskId {
        &self.id
    }

    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub(crate) fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// When the task ended, if `terminal` (its state, which the data does not hold, is): its
    /// own time if it ended while pending, otherwise its last attempt's finish.
    pub(crate) fn ended_at(&self, terminal: bool) -> Option<Timestamp> {
        match &self.ended_while_pending {
            Some(end) => Some(end.at),
            None if terminal => self.attempts.last().and_then(Attempt::finished_at),
            None => None,
        }
    }

    /// The exit code and error the task reports: those of the task itself when it ended while
    /// pending (killed or unschedulable), otherwise those of its last attempt (the one that ended
    /// it, or, for a requeued task, the one that failed).
    pub(crate) fn outcome(&self) -> (Option<i32>, Option<&str>) {
        match &self.ended_while_pending {
            Some(end) => (None, end.reason.as_deref()),
            None => {
                let last = self.attempts.last();
                (
                    last.and_then(Attempt::exit_code),
                    last.and_then(Attempt::error),
                )
            }
        }
    }

    /// The latest time the task records: its ending, or its last attempt's finish, start or
    /// assignment. Attempts never overlap, so the last attempt holds the latest of their times.
    #[inline]
    pub(crate) fn latest_time(&self) -> Option<Timestamp> {
        match &self.ended_while_pending {
            // A task ends no earlier than its last attempt (the transitions and the decoder see
            // to it); one that ended with an attempt ended at its finish.
            Some(end) => Some(end.at),
            None => self.attempts.last().map(Attempt::latest_time),
        }
    }

    fn failure_count(&self) -> u32 {
        count(self.attempts.iter().filter(|attempt| attempt.is_failure()))
    }

    fn preemption_count(&self) -> u32 {
        count(
            self.attempts
                .iter()
                .filter(|attempt| attempt.is_preemption()),
        )
    }

    // The edits below change the attempts only. Which of them a state allows, and in which
    // order, is decided by the transitions of `Task<S>` further down, which are the only code
    // that calls them: they are private to this module.

    /// Opens a new attempt on `worker`, with the next id.
    #[inline]
    fn open_attempt(&mut self, worker: WorkerId, uid: AttemptUid, at: Timestamp) {
        // Ids are indices into `attempts`; a task can't hold 2^32 of them.
        let id = AttemptId::new(u32::try_from(self.attempts.len()).unwrap_or(u32::MAX));
        if self.attempts.len() == self.attempts.capacity() {
            // Most tasks run once: start at one attempt, not `Vec`'s usual four, and double from
            // there. A table of a million tasks saves 300 MB.
            self.attempts.reserve_exact(self.attempts.len().max(1));
        }
        self.attempts.push(Attempt {
            id,
            uid,
            worker,
            state: StateKind::Assigned,
            assigned_at: at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            killed_on_worker: false,
            awaiting_stop: false,
        });
    }

    /// The worker confirmed the open attempt: it is now in `state`, and started at its first
    /// confirmation.
    #[inline]
    fn confirm_attempt(&mut self, state: StateKind, at: Timestamp) {
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.state = state;
            attempt.started_at.get_or_insert(at);
        }
    }

    /// Closes the open attempt as `state`: the step that moves a task out of an active state.
    #[inline]
    fn close_attempt(
        &mut self,
        state: StateKind,
        at: Timestamp,
        exit_code: Option<i32>,
        error: Option<String>,
    ) {
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.state = state;
            attempt.finished_at = Some(at);
            attempt.exit_code = exit_code;
            attempt.error = error;
            attempt.killed_on_worker = false;
        }
    }

    /// Marks the last attempt, which the controller just closed, as awaiting its worker's stop.
    #[inline]
    pub(crate) fn await_stop(&mut self) {
        if let Some(attempt) = self
            .attempts
            .last_mut()
            .filter(|attempt| !attempt.is_open())
        {
            attempt.awaiting_stop = true;
        }
    }

    /// The worker confirmed that attempt `number` stopped (or lost it): it no longer holds it.
    /// Whether it was awaiting the stop.
    pub(crate) fn stop_confirmed(&mut self, number: usize) -> bool {
        match self.attempts.get_mut(number) {
            Some(attempt) if attempt.awaiting_stop => {
                attempt.awaiting_stop = false;
                true
            }
            _ => false,
        }
    }

    /// Closes the open attempt as KILLED by its worker, unasked: a worker-side ending.
    #[inline]
    fn close_attempt_killed_on_worker(&mut self, at: Timestamp, error: Option<String>) {
        self.close_attempt(StateKind::Killed, at, None, error);
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.killed_on_worker = true;
        }
    }

    /// The task ended while pending (killed or unschedulable): no attempt was open, so the task
    /// itself keeps the reason.
    #[inline]
    fn end_while_pending(&mut self, why: String, at: Timestamp) {
        self.ended_while_pending = Some(Box::new(PendingEnd {
            at,
            reason: reason(why),
        }));
    }
}

/// The time of a transition, no earlier than anything its task records: what the in-place
/// transitions take, so that the check is made once, by [`Task::stamp`] or `by_value`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(Timestamp);

impl Stamp {
    #[inline]
    fn get(self) -> Timestamp {
        self.0
    }
}

fn count<'a>(attempts: impl Iterator<Item = &'a Attempt>) -> u32 {
    u32::try_from(attempts.count()).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Every state
// ---------------------------------------------------------------------------------------------

impl<S: State> Task<S> {
    /// Makes the task's job id share `job`'s text, if they are equal: the table keeps one copy
    /// of each job's name for all its tasks. Changes nothing a reader can see.
    pub(crate) fn share_job(&mut self, job: &JobId) {
        if self.core.id.job() == job {
            self.core.id = TaskId::new(job.clone(), self.core.id.index());
        }
    }

    /// `at` as the time of a transition, if it is no earlier than the task's latest time;
    /// otherwise that latest time, as the error. [`AnyTask::apply`] rejects such an event.
    #[inline]
    pub(crate) fn stamp(&self, at: Timestamp) -> Result<Stamp, Timestamp> {
        match self.core.latest_time() {
            Some(latest) if at < latest => Err(latest),
            _ => Ok(Stamp(at)),
        }
    }

    /// Runs an in-place transition on a task held by value: the by-value transitions are these.
    /// A typed transition has no error to return, so an `at` earlier than the task's latest time
    /// is recorded as that latest time: time never goes backwards in a task.
    #[inline]
    fn by_value<R>(mut self, at: Timestamp, transition: impl FnOnce(&mut Self, Stamp) -> R) -> R {
        let at = self.stamp(at).unwrap_or_else(Stamp);
        let next = transition(&mut self, at);
        // What the transition left behind owns no allocation: skip its drop code.
        std::mem::forget(self);
        next
    }

    /// Takes the task's data out, for a transition to rebuild it with the next state's marker.
    /// What stays behind owns no allocation and is never read again: the caller replaces or
    /// drops it.
    #[inline]
    fn take(&mut self) -> Core {
        std::mem::replace(&mut self.core, Core::vacant())
    }

    /// The task as it is, for an arm of `AnyTask::apply` that changes nothing.
    #[inline]
    pub(crate) fn take_unchanged(&mut self) -> Task<S> {
        self.take().into_task()
    }

    #[inline]
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The task's data, for the bookkeeping of stops that no transition makes.
    #[inline]
    pub(crate) fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// The task's id.
    #[inline]
    pub fn id(&self) -> &TaskId {
        &self.core.id
    }

    /// The task's retry budgets.
    #[inline]
    pub fn policy(&self) -> &RetryPolicy {
        &self.core.policy
    }

    /// The task's state: always `S::KIND`.
    #[inline]
    pub fn state(&self) -> StateKind {
        S::KIND
    }

    /// The latest time the task records: when it ended, or when its last attempt finished,
    /// started or was assigned; `None` for a task never assigned nor ended.
    ///
    /// Time never goes backwards in a task: [`AnyTask::apply`] rejects an event earlier than
    /// this ([`TransitionError::TimeWentBackwards`](crate::TransitionError::TimeWentBackwards)),
    /// and the typed transitions, which have no error to return, record `at` or this time,
    /// whichever is later.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let at = Timestamp::from_millis;
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// assert_eq!(task.latest_time(), None);
    /// let task = task.assign(WorkerId::new("w1")?, at(2_100));
    /// // A worker whose clock runs behind: the start is recorded no earlier than the assignment.
    /// let task = task.start(at(1_500));
    /// assert_eq!(task.current_attempt().and_then(|a| a.started_at()), Some(at(2_100)));
    /// assert_eq!(task.latest_time(), Some(at(2_100)));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn latest_time(&self) -> Option<Timestamp> {
        self.core.latest_time()
    }

    /// Every attempt, oldest first. Attempt `n` is at index `n`; only the last may be open.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .worker_failed("refused", Timestamp::from_millis(2))
    ///     .assign(WorkerId::new("w2")?, Timestamp::from_millis(3));
    /// let states: Vec<StateKind> = task.attempts().iter().map(|a| a.state()).collect();
    /// assert_eq!(states, [StateKind::WorkerFailed, StateKind::Assigned]);
    /// assert_eq!(task.current_attempt().map(|a| a.id().get()), Some(1));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn attempts(&self) -> &[Attempt] {
        &self.core.attempts
    }

    /// The last attempt, open or closed; `None` before the first assignment.
    ///
    /// Worker reports are judged against this attempt: a report for any other is stale.
    #[inline]
    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.core.attempts.last()
    }

    /// Attempts that ended FAILED, derived from the attempts.
    pub fn failure_count(&self) -> u32 {
        self.core.failure_count()
    }

    /// Attempts with a [worker-side ending](Attempt::is_worker_failure) (WORKER_FAILED,
    /// PREEMPTED, killed on the worker, MISSING) after they had started, derived from the
    /// attempts: what the preemption budget is checked against. Worker-side endings before the
    /// start (a dispatch failure, a preemption while ASSIGNED) do not count, nor do a
    /// controller's kills or a gang sibling's COSCHED_FAILED attempts.
    ///
    /// ```
    /// use iris_task::{JobId, Retry, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let at = Timestamp::from_millis;
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// // A dispatch failure is free; a worker lost while running is a preemption.
    /// let task = task.assign(WorkerId::new("w1")?, at(1)).worker_failed("refused", at(2));
    /// let Retry::Requeued(task) = task.assign(WorkerId::new("w2")?, at(3)).start(at(4)).worker_failed("lost", at(5)) else {
    ///     unreachable!("the default policy allows 100 preemptions");
    /// };
    /// assert_eq!((task.failure_count(), task.preemption_count()), (0, 1));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn preemption_count(&self) -> u32 {
        self.core.preemption_count()
    }

    /// Erases the state into the run-time [`AnyTask`], for tables and events from the network.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, StateKind, Task, TaskId};
    ///
    /// let any: AnyTask = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default()).into_any();
    /// assert_eq!(any.state(), StateKind::Pending);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn into_any(self) -> AnyTask {
        S::into_any(self)
    }
}

// ---------------------------------------------------------------------------------------------
// PENDING
// ---------------------------------------------------------------------------------------------

impl Task<Pending> {
    /// A placeholder that allocates nothing: what a table leaves in a slot it freed.
    pub(crate) fn vacant() -> Task<Pending> {
        Core::vacant().into_task()
    }

    /// A new task, waiting to be scheduled, with no attempt yet.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// assert_eq!(task.state(), StateKind::Pending);
    /// assert!(task.current_attempt().is_none());
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn new(id: TaskId, policy: RetryPolicy) -> Task<Pending> {
        Core {
            id,
            policy,
            attempts: Vec::new(),
            ended_while_pending: None,
        }
        .into_task()
    }

    /// The scheduler matched the task to `worker`: a new attempt opens, with the next id and a
    /// fresh [`AttemptUid`] from the minter the process shares
    /// ([`UidMinter::mint_shared`](crate::UidMinter::mint_shared)). A
    /// [`TaskTable`](crate::TaskTable) mints with its own minter instead, which a test can seed;
    /// [`assign_with_uid`](Self::assign_with_uid) takes one.
    ///
    /// The task is ASSIGNED, not PENDING, until the worker confirms it started, so no scheduler
    /// can pick it a second time.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// let task = task.assign(WorkerId::new("w1")?, Timestamp::from_millis(5));
    /// assert_eq!(task.state(), StateKind::Assigned);
    /// assert_eq!(task.attempt_id().get(), 0);
    /// assert_eq!(task.worker().as_str(), "w1");
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn assign(self, worker: WorkerId, at: Timestamp) -> Task<Assigned> {
        self.assign_with_uid(worker, UidMinter::mint_shared(), at)
    }

    /// [`assign`](Self::assign), naming the new attempt `uid`: for a caller that mints its own
    /// uids, or a test that wants fixed ones. A uid must be unique among all attempts; a
    /// [`TaskTable`](crate::TaskTable) mints them itself.
    ///
    /// ```
    /// use iris_task::{AttemptUid, JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let uid = AttemptUid::new(0xfeed);
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign_with_uid(WorkerId::new("w1")?, uid, Timestamp::from_millis(5));
    /// assert_eq!(task.attempts()[0].uid().to_string(), "000000000000feed");
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn assign_with_uid(
        self,
        worker: WorkerId,
        uid: AttemptUid,
        at: Timestamp,
    ) -> Task<Assigned> {
        self.by_value(at, |task, at| task.assign_in_place(worker, uid, at))
    }

    /// [`assign`](Self::assign) for a task held in place (in an [`AnyTask`]).
    #[inline]
    pub(crate) fn assign_in_place(
        &mut self,
        worker: WorkerId,
        uid: AttemptUid,
        at: Stamp,
    ) -> Task<Assigned> {
        let at = at.get();
        self.core.open_attempt(worker, uid, at);
        self.take().into_task()
    }

    /// No worker could take the task before its scheduling deadline. The reason is kept as the
    /// task's error.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// let task = task.mark_unschedulable("needs 8 GPUs", Timestamp::from_millis(60_000));
    /// assert_eq!(task.error(), Some("needs 8 GPUs"));
    /// assert_eq!(task.finished_at(), Timestamp::from_millis(60_000));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn mark_unschedulable(
        self,
        reason: impl Into<String>,
        at: Timestamp,
    ) -> Task<Unschedulable> {
        self.by_value(at, |task, at| {
            task.mark_unschedulable_in_place(reason.into(), at)
        })
    }

    /// [`mark_unschedulable`](Self::mark_unschedulable) for a task held in place.
    #[inline]
    pub(crate) fn mark_unschedulable_in_place(
        &mut self,
        reason: String,
        at: Stamp,
    ) -> Task<Unschedulable> {
        let at = at.get();
        self.core.end_while_pending(reason, at);
        self.take().into_task()
    }

    /// Cancels the task before it was matched to a worker. No attempt is open, so the task
    /// itself keeps the reason.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// let task = task.kill("cancelled by user", Timestamp::from_millis(9));
    /// assert_eq!(task.error(), Some("cancelled by user"));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn kill(self, reason: impl Into<String>, at: Timestamp) -> Task<Killed> {
        self.by_value(at, |task, at| task.kill_in_place(reason.into(), at))
    }

    /// [`kill`](Self::kill) for a task held in place.
    #[inline]
    pub(crate) fn kill_in_place(&mut self, reason: String, at: Stamp) -> Task<Killed> {
        let at = at.get();
        self.core.end_while_pending(reason, at);
        self.take().into_task()
    }
}

// ---------------------------------------------------------------------------------------------
// ASSIGNED, BUILDING, RUNNING
// ---------------------------------------------------------------------------------------------

impl<S: Active> Task<S> {
    /// After the open attempt closed on a budget: requeued while within it, ended `T` after.
    #[inline]
    fn requeue_or_end<T: Terminal>(&mut self, within_budget: bool) -> Retry<T> {
        if within_budget {
            Retry::Requeued(self.take().into_task())
        } else {
            Retry::Exhausted(self.take().into_task())
        }
    }

    /// Closes the open attempt FAILED (exit code 0 recorded as none: the wire cannot tell them
    /// apart, and Iris reads it so too), then requeues the task while its failure budget lasts.
    #[inline]
    fn close_failed(&mut self, exit_code: i32, error: String, at: Timestamp) -> Retry<Failed> {
        let exit_code = Some(exit_code).filter(|&code| code != 0);
        self.core
            .close_attempt(StateKind::Failed, at, exit_code, reason(error));
        let within_budget = self.core.failure_count() <= self.core.policy.max_retries_failure;
        self.requeue_or_end(within_budget)
    }

    /// The open attempt, which every way into an active state creates (`assign`) or checks
    /// (decoding), and which only a transition out of the state closes.
    #[inline]
    fn open(&self) -> &Attempt {
        match self.core.attempts.last() {
            Some(attempt) => attempt,
            None => unreachable!("a Task<{}> always holds an open attempt", S::KIND),
        }
    }

    /// The worker that holds the task.
    #[inline]
    pub fn worker(&self) -> &WorkerId {
        &self.open().worker
    }

    /// The id of the open attempt.
    #[inline]
    pub fn attempt_id(&self) -> AttemptId {
        self.open().id
    }

    /// Cancels the task on its worker. The attempt closes as KILLED with the reason as its error.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2));
    /// let task = task.kill("preempted by a higher-priority job", Timestamp::from_millis(3));
    /// assert_eq!(task.attempts()[0].state(), StateKind::Killed);
    /// assert_eq!(task.error(), Some("preempted by a higher-priority job"));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn kill(self, reason: impl Into<String>, at: Timestamp) -> Task<Killed> {
        self.by_value(at, |task, at| task.kill_in_place(reason.into(), at))
    }

    /// [`kill`](Self::kill) for a task held in place.
    #[inline]
    pub(crate) fn kill_in_place(&mut self, reason: String, at: Stamp) -> Task<Killed> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::Killed, at, None, self::reason(reason));
        self.take().into_task()
    }

    /// A task of the same coscheduled job ended for good (the gang rule of
    /// [`TaskTable`](crate::TaskTable)): this one ends with it. The attempt closes COSCHED_FAILED
    /// with the error `Coscheduled sibling <job>/<index> failed`, naming the sibling as Iris does;
    /// neither budget is charged.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("slice")?;
    /// let task = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2))
    ///     .sibling_failed(&TaskId::new(job, 0), Timestamp::from_millis(3));
    /// assert_eq!(task.attempts()[0].state(), StateKind::CoschedFailed);
    /// assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn sibling_failed(self, sibling: &TaskId, at: Timestamp) -> Task<CoschedFailed> {
        self.by_value(at, |task, at| task.sibling_failed_in_place(sibling, at))
    }

    /// [`sibling_failed`](Self::sibling_failed) for a task held in place.
    #[inline]
    pub(crate) fn sibling_failed_in_place(
        &mut self,
        sibling: &TaskId,
        at: Stamp,
    ) -> Task<CoschedFailed> {
        let at = at.get();
        let error = Some(sibling_failed_reason(sibling));
        self.core
            .close_attempt(StateKind::CoschedFailed, at, None, error);
        self.take().into_task()
    }

    /// A task of the same coscheduled job was requeued (the gang rule of
    /// [`TaskTable`](crate::TaskTable)): this one is requeued with it, so the gang is
    /// rescheduled together. The attempt closes COSCHED_FAILED with the error
    /// `Coscheduled sibling <job>/<index> bounced for atomic re-scheduling`; neither budget is charged.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("slice")?;
    /// let task = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2))
    ///     .sibling_requeued(&TaskId::new(job, 0), Timestamp::from_millis(3));
    /// assert_eq!(task.state(), StateKind::Pending);
    /// assert_eq!(task.attempts()[0].error(), Some("Coscheduled sibling slice/0 bounced for atomic re-scheduling"));
    /// assert_eq!(task.preemption_count(), 0);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn sibling_requeued(self, sibling: &TaskId, at: Timestamp) -> Task<Pending> {
        self.by_value(at, |task, at| task.sibling_requeued_in_place(sibling, at))
    }

    /// [`sibling_requeued`](Self::sibling_requeued) for a task held in place.
    #[inline]
    pub(crate) fn sibling_requeued_in_place(
        &mut self,
        sibling: &TaskId,
        at: Stamp,
    ) -> Task<Pending> {
        let at = at.get();
        let error = Some(sibling_requeued_reason(sibling));
        self.core
            .close_attempt(StateKind::CoschedFailed, at, None, error);
        self.take().into_task()
    }
}

impl Task<Assigned> {
    /// The worker confirmed the attempt and is building the task's environment. The attempt
    /// starts now.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .build(Timestamp::from_millis(2));
    /// assert_eq!(task.current_attempt().and_then(|a| a.started_at()), Some(Timestamp::from_millis(2)));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn build(self, at: Timestamp) -> Task<Building> {
        self.by_value(at, Self::build_in_place)
    }

    /// [`build`](Self::build) for a task held in place.
    #[inline]
    pub(crate) fn build_in_place(&mut self, at: Stamp) -> Task<Building> {
        let at = at.get();
        self.core.confirm_attempt(StateKind::Building, at);
        self.take().into_task()
    }

    /// A SUCCEEDED report for an attempt whose start was never reported (a short task's RUNNING
    /// report was lost): the task succeeds, its attempt recorded as never started, as Iris records
    /// it (a start is dated only by a BUILDING or RUNNING report). Reached through
    /// [`AnyTask::apply`](crate::AnyTask::apply) only: in typed code a task starts first.
    #[inline]
    pub(crate) fn succeed_unstarted_in_place(&mut self, at: Stamp) -> Task<Succeeded> {
        self.core
            .close_attempt(StateKind::Succeeded, at.get(), Some(0), None);
        self.take().into_task()
    }

    /// A FAILED report for an attempt whose start was never reported: as
    /// [`fail`](Task::fail) on a started task (the failure budget pays, as in Iris), with the
    /// attempt recorded as never started.
    #[inline]
    pub(crate) fn fail_unstarted_in_place(
        &mut self,
        exit_code: i32,
        error: String,
        at: Stamp,
    ) -> Retry<Failed> {
        self.close_failed(exit_code, error, at.get())
    }

    /// The worker confirmed that execution started. The attempt starts now.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2));
    /// assert_eq!(task.state(), StateKind::Running);
    /// assert_eq!(task.current_attempt().and_then(|a| a.started_at()), Some(Timestamp::from_millis(2)));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn start(self, at: Timestamp) -> Task<Running> {
        self.by_value(at, Self::start_in_place)
    }

    /// [`start`](Self::start) for a task held in place.
    #[inline]
    pub(crate) fn start_in_place(&mut self, at: Stamp) -> Task<Running> {
        let at = at.get();
        self.core.confirm_attempt(StateKind::Running, at);
        self.take().into_task()
    }

    /// Dispatch failed, or the worker died before starting the task: always back to PENDING, no
    /// budget charged, whatever the policy.
    ///
    /// The attempt closes as a worker failure that never started. Charging the preemption budget
    /// here once inflated a task's count to 250 for 3 real preemptions: every "task not found"
    /// reply from a restarted worker burned budget.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let no_budget = RetryPolicy { max_retries_failure: 0, max_retries_preemption: 0 };
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), no_budget)
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1));
    /// let task = task.worker_failed("RunTask: connection refused", Timestamp::from_millis(2));
    /// assert_eq!(task.preemption_count(), 0);
    /// assert!(task.attempts()[0].is_worker_failure());
    /// assert_eq!(task.attempts()[0].started_at(), None);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn worker_failed(self, error: impl Into<String>, at: Timestamp) -> Task<Pending> {
        self.by_value(at, |task, at| task.worker_failed_in_place(error.into(), at))
    }

    /// [`worker_failed`](Self::worker_failed) for a task held in place.
    #[inline]
    pub(crate) fn worker_failed_in_place(&mut self, error: String, at: Stamp) -> Task<Pending> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::WorkerFailed, at, None, reason(error));
        self.take().into_task()
    }

    /// The scheduler took the worker's resources back before the task started (a
    /// higher-priority task needed them), or the worker reported an eviction: back to PENDING,
    /// free of charge, as every worker-side ending of an attempt that never started. The attempt
    /// closes PREEMPTED with the reason as its error.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("batch")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .preempt("priority: job prod-serving needs w1", Timestamp::from_millis(2));
    /// assert_eq!(task.state(), StateKind::Pending);
    /// assert_eq!(task.attempts()[0].state(), StateKind::Preempted);
    /// assert_eq!(task.preemption_count(), 0, "it never started");
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn preempt(self, reason: impl Into<String>, at: Timestamp) -> Task<Pending> {
        self.by_value(at, |task, at| task.preempt_in_place(reason.into(), at))
    }

    /// [`preempt`](Self::preempt) for a task held in place.
    #[inline]
    pub(crate) fn preempt_in_place(&mut self, reason: String, at: Stamp) -> Task<Pending> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::Preempted, at, None, self::reason(reason));
        self.take().into_task()
    }

    /// The worker reported KILLED for the attempt without the controller asking (an OOM killer,
    /// a node drain) before it started: back to PENDING, free of charge. The attempt closes
    /// KILLED, [killed on the worker](Attempt::is_killed_on_worker), a worker-side ending.
    ///
    /// (To stop a task yourself, record [`kill`](Self::kill) or [`preempt`](Self::preempt)
    /// first, then tell the worker: its KILLED answer is then a duplicate.)
    #[inline]
    pub fn killed_on_worker(self, error: impl Into<String>, at: Timestamp) -> Task<Pending> {
        self.by_value(at, |task, at| {
            task.killed_on_worker_in_place(error.into(), at)
        })
    }

    /// [`killed_on_worker`](Self::killed_on_worker) for a task held in place.
    #[inline]
    pub(crate) fn killed_on_worker_in_place(&mut self, error: String, at: Stamp) -> Task<Pending> {
        let at = at.get();
        self.core.close_attempt_killed_on_worker(at, reason(error));
        self.take().into_task()
    }

    /// The worker reported MISSING: it has no record of the attempt (it restarted, or never got
    /// the RunTask call). Back to PENDING, free of charge; the attempt closes WORKER_FAILED with
    /// the error [`MISSING_ERROR`].
    ///
    /// ```
    /// use iris_task::{JobId, MISSING_ERROR, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .missing_on_worker(Timestamp::from_millis(2));
    /// assert_eq!(task.state(), StateKind::Pending);
    /// assert_eq!(task.attempts()[0].state(), StateKind::WorkerFailed);
    /// assert_eq!(task.attempts()[0].error(), Some(MISSING_ERROR));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn missing_on_worker(self, at: Timestamp) -> Task<Pending> {
        self.by_value(at, Self::missing_on_worker_in_place)
    }

    /// [`missing_on_worker`](Self::missing_on_worker) for a task held in place.
    #[inline]
    pub(crate) fn missing_on_worker_in_place(&mut self, at: Stamp) -> Task<Pending> {
        let at = at.get();
        self.core.close_attempt(
            StateKind::WorkerFailed,
            at,
            None,
            Some(MISSING_ERROR.to_owned()),
        );
        self.take().into_task()
    }
}

impl Task<Building> {
    /// The environment is built and execution started. The attempt keeps the start time of its
    /// BUILDING report; `at` is not recorded.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .build(Timestamp::from_millis(2))
    ///     .start(Timestamp::from_millis(9));
    /// // The attempt started when the build did.
    /// assert_eq!(task.current_attempt().and_then(|a| a.started_at()), Some(Timestamp::from_millis(2)));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn start(self, at: Timestamp) -> Task<Running> {
        self.by_value(at, Self::start_in_place)
    }

    /// [`start`](Self::start) for a task held in place.
    #[inline]
    pub(crate) fn start_in_place(&mut self, at: Stamp) -> Task<Running> {
        let at = at.get();
        self.core.confirm_attempt(StateKind::Running, at);
        self.take().into_task()
    }
}

impl<S: Executing> Task<S> {
    /// The task exited non-zero. The attempt closes as FAILED; the task is requeued while
    /// `failure_count() <= max_retries_failure`, counting this failure, and ends FAILED after.
    /// An `exit_code` of 0, which a failure should not carry, is recorded as none (as Iris reads
    /// it: on the wire an absent exit code and 0 are the same).
    ///
    /// ```
    /// use iris_task::{JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2));
    /// // The default policy allows no retry after a failure.
    /// let Retry::Exhausted(failed) = task.fail(137, "out of memory", Timestamp::from_millis(3)) else {
    ///     panic!("the failure budget is 0");
    /// };
    /// assert_eq!(failed.exit_code(), Some(137));
    /// assert_eq!(failed.error(), Some("out of memory"));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn fail(self, exit_code: i32, error: impl Into<String>, at: Timestamp) -> Retry<Failed> {
        self.by_value(at, |task, at| {
            task.fail_in_place(exit_code, error.into(), at)
        })
    }

    /// [`fail`](Self::fail) for a task held in place.
    #[inline]
    pub(crate) fn fail_in_place(
        &mut self,
        exit_code: i32,
        error: String,
        at: Stamp,
    ) -> Retry<Failed> {
        self.close_failed(exit_code, error, at.get())
    }

    /// The task ran longer than its job allows (an execution timeout the controller decided, as
    /// Iris does): the attempt closes FAILED with the error [`EXECUTION_TIMEOUT_ERROR`] and the
    /// task ends FAILED, with no retry whatever its failure budget says. The failure counts, in the
    /// task's [`failure_count`](Task::failure_count) and toward its job's `max_task_failures`. Only
    /// an executing task can time out: an ASSIGNED one has not started, so its clock has not either.
    ///
    /// ```
    /// use iris_task::{EXECUTION_TIMEOUT_ERROR, JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp,
    ///     WorkerId};
    ///
    /// let patient = RetryPolicy { max_retries_failure: 5, ..RetryPolicy::default() };
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), patient)
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2))
    ///     .timed_out(Timestamp::from_millis(3_600_002));
    /// assert_eq!(task.state(), StateKind::Failed);
    /// assert_eq!((task.failure_count(), task.exit_code()), (1, None));
    /// assert_eq!(task.error(), Some(EXECUTION_TIMEOUT_ERROR));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn timed_out(self, at: Timestamp) -> Task<Failed> {
        self.by_value(at, Self::timed_out_in_place)
    }

    /// [`timed_out`](Self::timed_out) for a task held in place.
    #[inline]
    pub(crate) fn timed_out_in_place(&mut self, at: Stamp) -> Task<Failed> {
        let at = at.get();
        self.core.close_attempt(
            StateKind::Failed,
            at,
            None,
            Some(EXECUTION_TIMEOUT_ERROR.to_owned()),
        );
        self.take().into_task()
    }

    /// The worker died while the task ran (a preemption). The attempt closes as WORKER_FAILED; the
    /// task is requeued while `preemption_count() <= max_retries_preemption`, counting this one,
    /// and ends WORKER_FAILED after.
    ///
    /// ```
    /// use iris_task::{JobId, Retry, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .build(Timestamp::from_millis(2));
    /// let Retry::Requeued(pending) = task.worker_failed("heartbeat lost", Timestamp::from_millis(3)) else {
    ///     panic!("the default preemption budget is 100");
    /// };
    /// assert_eq!(pending.preemption_count(), 1);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn worker_failed(self, error: impl Into<String>, at: Timestamp) -> Retry<WorkerFailed> {
        self.by_value(at, |task, at| task.worker_failed_in_place(error.into(), at))
    }

    /// [`worker_failed`](Self::worker_failed) for a task held in place.
    #[inline]
    pub(crate) fn worker_failed_in_place(
        &mut self,
        error: String,
        at: Stamp,
    ) -> Retry<WorkerFailed> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::WorkerFailed, at, None, reason(error));
        self.requeue_or_end(self.within_preemption_budget())
    }

    /// The scheduler or the cluster took the task's resources while it ran (a higher-priority
    /// task, an eviction the worker reported). The attempt closes PREEMPTED with the reason as
    /// its error; the task is requeued while `preemption_count() <= max_retries_preemption`,
    /// counting this one, and ends PREEMPTED after.
    ///
    /// ```
    /// use iris_task::{JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let once = RetryPolicy { max_retries_preemption: 1, ..RetryPolicy::default() };
    /// let at = Timestamp::from_millis;
    /// let task = Task::new(TaskId::new(JobId::new("batch")?, 0), once);
    /// let Retry::Requeued(task) = task.assign(WorkerId::new("w1")?, at(1)).start(at(2)).preempt("priority", at(3)) else {
    ///     panic!("one preemption is allowed");
    /// };
    /// let Retry::Exhausted(task) = task.assign(WorkerId::new("w2")?, at(4)).start(at(5)).preempt("priority", at(6)) else {
    ///     panic!("the second one spends the budget");
    /// };
    /// assert_eq!(task.state(), StateKind::Preempted);
    /// assert_eq!(task.preemption_count(), 2);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn preempt(self, reason: impl Into<String>, at: Timestamp) -> Retry<Preempted> {
        self.by_value(at, |task, at| task.preempt_in_place(reason.into(), at))
    }

    /// [`preempt`](Self::preempt) for a task held in place.
    #[inline]
    pub(crate) fn preempt_in_place(&mut self, reason: String, at: Stamp) -> Retry<Preempted> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::Preempted, at, None, self::reason(reason));
        self.requeue_or_end(self.within_preemption_budget())
    }

    /// The worker reported KILLED without the controller asking (an OOM killer, a node drain).
    /// The attempt closes KILLED, [killed on the worker](Attempt::is_killed_on_worker): a
    /// worker-side ending, so the task is requeued while `preemption_count() <=
    /// max_retries_preemption`, counting this one, and ends WORKER_FAILED after, as in Iris (not
    /// KILLED: the task did not fail, and no one cancelled it).
    ///
    /// ```
    /// use iris_task::{JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2));
    /// let Retry::Requeued(task) = task.killed_on_worker("OOM killer", Timestamp::from_millis(3)) else {
    ///     panic!("the default preemption budget is 100");
    /// };
    /// assert!(task.attempts()[0].is_killed_on_worker());
    /// assert_eq!(task.preemption_count(), 1);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn killed_on_worker(self, error: impl Into<String>, at: Timestamp) -> Retry<WorkerFailed> {
        self.by_value(at, |task, at| {
            task.killed_on_worker_in_place(error.into(), at)
        })
    }

    /// [`killed_on_worker`](Self::killed_on_worker) for a task held in place.
    #[inline]
    pub(crate) fn killed_on_worker_in_place(
        &mut self,
        error: String,
        at: Stamp,
    ) -> Retry<WorkerFailed> {
        let at = at.get();
        self.core.close_attempt_killed_on_worker(at, reason(error));
        self.requeue_or_end(self.within_preemption_budget())
    }

    /// The worker reported MISSING: it has no record of the attempt it was running (it
    /// restarted). The attempt closes WORKER_FAILED with the error [`MISSING_ERROR`], a
    /// worker-side ending: requeued while the preemption budget lasts, WORKER_FAILED after.
    #[inline]
    pub fn missing_on_worker(self, at: Timestamp) -> Retry<WorkerFailed> {
        self.by_value(at, Self::missing_on_worker_in_place)
    }

    /// [`missing_on_worker`](Self::missing_on_worker) for a task held in place.
    #[inline]
    pub(crate) fn missing_on_worker_in_place(&mut self, at: Stamp) -> Retry<WorkerFailed> {
        let at = at.get();
        self.core.close_attempt(
            StateKind::WorkerFailed,
            at,
            None,
            Some(MISSING_ERROR.to_owned()),
        );
        self.requeue_or_end(self.within_preemption_budget())
    }

    /// After a worker-side ending closed the open attempt: `preemption_count() <=
    /// max_retries_preemption`, counting it.
    #[inline]
    fn within_preemption_budget(&self) -> bool {
        self.core.preemption_count() <= self.core.policy.max_retries_preemption
    }
}

impl Task<Running> {
    /// The task exited with code 0. The attempt closes as SUCCEEDED.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .start(Timestamp::from_millis(2))
    ///     .succeed(Timestamp::from_millis(3));
    /// assert_eq!(task.exit_code(), Some(0));
    /// assert_eq!(task.finished_at(), Timestamp::from_millis(3));
    /// assert_eq!(task.attempts()[0].state(), StateKind::Succeeded);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn succeed(self, at: Timestamp) -> Task<Succeeded> {
        self.by_value(at, Self::succeed_in_place)
    }

    /// [`succeed`](Self::succeed) for a task held in place.
    #[inline]
    pub(crate) fn succeed_in_place(&mut self, at: Stamp) -> Task<Succeeded> {
        let at = at.get();
        self.core
            .close_attempt(StateKind::Succeeded, at, Some(0), None);
        self.take().into_task()
    }
}

// ---------------------------------------------------------------------------------------------
// SUCCEEDED, FAILED, KILLED, WORKER_FAILED, UNSCHEDULABLE, PREEMPTED, COSCHED_FAILED
// ---------------------------------------------------------------------------------------------

impl<S: Terminal> Task<S> {
    /// When the task ended.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .kill("cancelled", Timestamp::from_millis(7));
    /// assert_eq!(task.finished_at(), Timestamp::from_millis(7));
    /// assert_eq!((task.exit_code(), task.error()), (None, Some("cancelled")));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn finished_at(&self) -> Timestamp {
        match self.core.ended_at(true) {
            Some(at) => at,
            None => unreachable!(
                "a Task<{}> ended while pending or with a closed attempt",
                S::KIND
            ),
        }
    }

    /// The exit code of the attempt that ended the task: 0 when it succeeded, the reported code
    /// when it failed (`None` for a reported 0, and for an execution timeout, which has none),
    /// `None` when it was killed, lost its worker or never ran.
    pub fn exit_code(&self) -> Option<i32> {
        self.core.outcome().0
    }

    /// Why the task ended: the failure, the kill reason, the lost worker's error (or
    /// [`MISSING_ERROR`]), the preemption reason, the gang sibling that ended
    /// (`Coscheduled sibling <job>/<index> failed`), or the scheduling failure; `None` for a task that
    /// succeeded.
    pub fn error(&self) -> Option<&str> {
        self.core.outcome().1
    }
}

/// The outcome of a failure or a preemption: requeued while the budget lasts, ended after.
///
/// `fail`, `worker_failed`, `preempt`, `killed_on_worker` and `missing_on_worker` on an executing
/// task return this, so a controller cannot forget that a failed task may come back.
///
/// ```
/// use iris_task::{AnyTask, JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
///
/// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
///     .start(Timestamp::from_millis(2));
/// let outcome = task.worker_failed("node drained", Timestamp::from_millis(3));
/// assert!(outcome.is_requeued());
/// let task: AnyTask = outcome.into_any();
/// assert_eq!(task.state(), StateKind::Pending);
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a failed task is either requeued or ended, and both must be handled"]
pub enum Retry<T: Terminal> {
    /// Budget left: the task is PENDING again, waiting for its next attempt.
    Requeued(Task<Pending>),
    /// Budget spent: the task ended in state `T`.
    Exhausted(Task<T>),
}

impl<T: Terminal> Retry<T> {
    /// The task was requeued.
    pub fn is_requeued(&self) -> bool {
        matches!(self, Retry::Requeued(_))
    }

    /// Erases the outcome into the run-time [`AnyTask`]: PENDING or `T`.
    pub fn into_any(self) -> AnyTask {
        match self {
            Retry::Requeued(task) => task.into_any(),
            Retry::Exhausted(task) => task.into_any(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trait impls that must not depend on the marker's own impls
// ---------------------------------------------------------------------------------------------

impl<S: State> Clone for Task<S> {
    fn clone(&self) -> Task<S> {
        self.core.clone().into_task()
    }
}

impl<S: State> PartialEq for Task<S> {
    fn eq(&self, other: &Task<S>) -> bool {
        self.core == other.core
    }
}

impl<S: State> Eq for Task<S> {}

impl<S: State> fmt::Debug for Task<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Task");
        out.field("id", &format_args!("{}", self.core.id))
            .field("state", &S::KIND)
            .field("policy", &self.core.policy)
            .field("attempts", &self.core.attempts);
        if let Some(end) = &self.core.ended_while_pending {
            out.field("ended_while_pending", end);
        }
        out.finish()
    }
}
