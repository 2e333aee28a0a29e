// One idea: judging an event at run time. The events (`TaskEvent`, `WorkerReport`), the judge
// (`AnyTask::apply`, one arm per state and event) and its errors stay together, as one reads them.
//! [`AnyTask`]: a task whose state is known only at run time, the door for events that arrive
//! over the network.
//!
//! Controllers keep their tasks as `AnyTask` (in a [`TaskTable`](crate::TaskTable), say) and move
//! between it and the typed [`Task<S>`] with `From` and `TryFrom`, as an embedded HAL moves a pin
//! between its typed and its erased form.
//!
//! # Why this layer cannot disagree with the typed one
//!
//! [`AnyTask::apply`] judges what no single state decides (a stale attempt, a wrong worker, a
//! duplicate) and then matches on the `AnyTask` *variant*, never on a [`StateKind`]. Each arm
//! holds a `Task<S>` of that variant's state and calls a transition of `Task<S>`: the crate-private
//! in-place twin of a public one, defined in the same impl block of `task.rs`. The rules
//! themselves are private to `task.rs` and reached only from those impl blocks, so:
//!
//! - an arm that applied a rule its state does not have (`succeed` on a pending task) would not
//!   compile, exactly as it does not compile for a user of `Task<Pending>`;
//! - the state after an event is the type the transition returns (`Task<Running>`, or the
//!   `Retry<Failed>` of a failure), put back into the `AnyTask` by the same sealed hook as
//!   `From<Task<S>>`, and reported as `S::KIND`: there is no second table from states to rules or
//!   to next states to keep in step.
//!
//! A compile-fail test cannot reach crate internals, so this holds by construction, not by test:
//! the task's data is private to `task.rs`, the only code that changes it is there, behind
//! `Task<S>`'s methods, and the only code that builds it outside a transition is the decoders',
//! through one door (`Decoded`) after their checks.

use crate::attempt::Attempt;
use crate::id::{AttemptId, JobId, TaskId, Timestamp, WorkerId};
use crate::policy::RetryPolicy;
use crate::state::{
    Assigned, Building, CoschedFailed, Failed, Killed, Pending, Preempted, Running, State,
    StateKind, Succeeded, Terminal, Unschedulable, WorkerFailed,
};
use crate::task::{Core, Decoded, Retry, Stamp, Task};
use crate::uid::{AttemptUid, UidMinter};

/// A task in any state: one variant per state, each holding the typed task.
///
/// ```
/// use iris_task::{AnyTask, Assigned, JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
///
/// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1));
/// let any = AnyTask::from(task);
/// assert_eq!(any.state(), StateKind::Assigned);
///
/// // Back to the typed task, when it is in the state asked for.
/// let assigned = Task::<Assigned>::try_from(any)?;
/// assert_eq!(assigned.worker().as_str(), "w1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyTask {
    /// Waiting to be scheduled.
    Pending(Task<Pending>),
    /// Matched to a worker, not yet confirmed by it.
    Assigned(Task<Assigned>),
    /// Its worker is building its environment.
    Building(Task<Building>),
    /// Its worker confirmed execution started.
    Running(Task<Running>),
    /// Finished with exit code 0.
    Succeeded(Task<Succeeded>),
    /// Failed with its failure budget spent.
    Failed(Task<Failed>),
    /// Cancelled.
    Killed(Task<Killed>),
    /// Its attempts kept ending on the worker side (worker lost, killed on the worker, forgotten
    /// by it) with its preemption budget spent.
    WorkerFailed(Task<WorkerFailed>),
    /// Could not be scheduled before its deadline.
    Unschedulable(Task<Unschedulable>),
    /// Preempted with its preemption budget spent.
    Preempted(Task<Preempted>),
    /// Stopped because a task of its coscheduled job ended for good.
    CoschedFailed(Task<CoschedFailed>),
}

/// Runs `$body` with `$task` bound to the typed task inside any variant.
macro_rules! with_task {
    ($any:expr, $task:ident => $body:expr) => {
        match $any {
            AnyTask::Pending($task) => $body,
            AnyTask::Assigned($task) => $body,
            AnyTask::Building($task) => $body,
            AnyTask::Running($task) => $body,
            AnyTask::Succeeded($task) => $body,
            AnyTask::Failed($task) => $body,
            AnyTask::Killed($task) => $body,
            AnyTask::WorkerFailed($task) => $body,
            AnyTask::Unschedulable($task) => $body,
            AnyTask::Preempted($task) => $body,
            AnyTask::CoschedFailed($task) => $body,
        }
    };
}

impl AnyTask {
    #[inline]
    pub(crate) fn core(&self) -> &Core {
        with_task!(self, task => task.core())
    }

    #[inline]
    pub(crate) fn core_mut(&mut self) -> &mut Core {
        with_task!(self, task => task.core_mut())
    }

    /// Makes the task's job id share `job`'s text, if they are equal.
    pub(crate) fn share_job(&mut self, job: &JobId) {
        with_task!(self, task => task.share_job(job))
    }

    /// The task's id.
    pub fn id(&self) -> &TaskId {
        self.core().id()
    }

    /// The task's retry budgets.
    pub fn policy(&self) -> &RetryPolicy {
        self.core().policy()
    }

    /// The task's state.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = AnyTask::from(
    ///     Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///         .assign(WorkerId::new("w1")?, Timestamp::from_millis(1)),
    /// );
    /// assert_eq!(task.state(), StateKind::Assigned);
    /// assert_eq!(task.id().to_string(), "job/task-0");
    /// assert_eq!(task.current_attempt().map(|a| a.worker().as_str()), Some("w1"));
    /// assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    #[inline]
    pub fn state(&self) -> StateKind {
        with_task!(self, task => task.state())
    }

    /// Every attempt, oldest first. Attempt `n` is at index `n`; only the last may be open.
    pub fn attempts(&self) -> &[Attempt] {
        self.core().attempts()
    }

    /// The last attempt, open or closed; `None` before the first assignment.
    #[inline]
    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.core().attempts().last()
    }

    /// The worker that holds the task: its open attempt's, while the task is active (ASSIGNED,
    /// BUILDING or RUNNING); `None` otherwise. The worker to send a stop order to.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// let assigned = AnyTask::from(task.clone().assign(WorkerId::new("w1")?, Timestamp::from_millis(1)));
    /// assert_eq!(assigned.worker().map(|w| w.as_str()), Some("w1"));
    /// assert_eq!(task.into_any().worker(), None);
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn worker(&self) -> Option<&WorkerId> {
        self.current_attempt()
            .filter(|attempt| attempt.is_open())
            .map(Attempt::worker)
    }

    /// The latest time the task records; an event earlier than this is rejected (see
    /// [`Task::latest_time`]).
    pub fn latest_time(&self) -> Option<Timestamp> {
        self.core().latest_time()
    }

    /// Attempts that ended FAILED.
    pub fn failure_count(&self) -> u32 {
        with_task!(self, task => task.failure_count())
    }

    /// Attempts with a worker-side ending after they had started (see
    /// [`Task::preemption_count`]).
    pub fn preemption_count(&self) -> u32 {
        with_task!(self, task => task.preemption_count())
    }
}

impl<S: State> From<Task<S>> for AnyTask {
    fn from(task: Task<S>) -> AnyTask {
        task.into_any()
    }
}

impl<S: State> Task<S> {
    /// Puts the task, just out of a transition, in `slot` (which held it before), and says its
    /// state: the type's, not a second look at the data.
    #[inline]
    fn put(self, slot: &mut AnyTask) -> StateKind {
        // What the transition left in `slot` owns no allocation: skip its drop code.
        std::mem::forget(std::mem::replace(slot, self.into_any()));
        S::KIND
    }
}

impl<T: Terminal> Retry<T> {
    /// [`Task::put`] for the task a retry left, requeued or ended.
    #[inline]
    fn put(self, slot: &mut AnyTask) -> StateKind {
        match self {
            Retry::Requeued(task) => task.put(slot),
            Retry::Exhausted(task) => task.put(slot),
        }
    }
}

impl<T: Terminal> From<Retry<T>> for AnyTask {
    /// The task as the retry left it: PENDING again, or ended in `T`.
    fn from(outcome: Retry<T>) -> AnyTask {
        outcome.into_any()
    }
}

impl<S: State> TryFrom<AnyTask> for Task<S> {
    type Error = WrongState;

    /// The typed task, if `task` is in state `S`; otherwise the task comes back in the error.
    fn try_from(task: AnyTask) -> Result<Task<S>, WrongState> {
        S::from_any(task).map_err(|task| WrongState {
            expected: S::KIND,
            task: Box::new(task),
        })
    }
}

/// What happened to a task, as a controller learns it over the network.
///
/// Feed events to [`AnyTask::apply`] or [`TaskTable::apply`](crate::TaskTable::apply); each
/// means one of the typed transitions of [`Task<S>`], or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskEvent {
    /// The scheduler matched the pending task to `worker`.
    Assign {
        /// The worker the task goes to.
        worker: WorkerId,
        /// When.
        at: Timestamp,
    },
    /// A worker reported on an attempt of the task.
    Report {
        /// The worker that sent the report. Only the named attempt's own worker may report on it,
        /// so no worker can end another worker's attempt, even by guessing its id.
        worker: WorkerId,
        /// The attempt the report is about. Only the current attempt's reports apply.
        attempt: AttemptId,
        /// What the worker says.
        report: WorkerReport,
        /// When the controller received the report: worker clocks are not trusted.
        at: Timestamp,
    },
    /// The worker holding the task died, stopped heartbeating, or refused the RunTask RPC: the
    /// task's `worker_failed` transition (a free requeue while ASSIGNED, the preemption budget
    /// once executing), as for a WORKER_FAILED report.
    WorkerLost {
        /// The worker; it must be the task's current worker.
        worker: WorkerId,
        /// What went wrong.
        error: String,
        /// When.
        at: Timestamp,
    },
    /// The user or the controller cancelled the task.
    Kill {
        /// Why.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// The pending task's scheduling deadline passed without a worker able to take it.
    SchedulingTimeout {
        /// When.
        at: Timestamp,
    },
    /// The scheduler takes the active task's resources back (for a higher-priority task): its
    /// `preempt` transition, free while ASSIGNED, on the preemption budget once executing.
    /// Record it before telling the worker to stop: the worker's KILLED answer is then a
    /// duplicate.
    Preempt {
        /// Why; the attempt's error.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// A task of the same coscheduled job ended for good: the active task ends COSCHED_FAILED,
    /// charged nothing. [`TaskTable`](crate::TaskTable) sends it to a gang's active members
    /// itself; a pending member is not stopped by it (as in Iris: it stays pending, and its job's
    /// end stops it if the job ended), so for a pending task it is illegal.
    SiblingFailed {
        /// The task that ended.
        sibling: TaskId,
        /// When.
        at: Timestamp,
    },
    /// A task of the same coscheduled job was requeued: the active task is requeued with it,
    /// charged nothing. [`TaskTable`](crate::TaskTable) sends it to a gang's members itself.
    SiblingRequeued {
        /// The task that was requeued.
        sibling: TaskId,
        /// When.
        at: Timestamp,
    },
    /// The executing task ran longer than its job allows: its `timed_out` transition, FAILED with
    /// no retry (the failure counts). The controller decides it, as Iris does from the attempt's
    /// start and the job's timeout; only a BUILDING or RUNNING task can time out.
    ExecutionTimeout {
        /// When.
        at: Timestamp,
    },
}

impl TaskEvent {
    /// The controller ends the task's open attempt by this event, while the attempt's worker may
    /// still run it: a kill, a preemption, an execution timeout, a gang sibling's end. Its
    /// worker is then told to stop the attempt (see [`Attempt::awaits_stop`]).
    pub(crate) fn stops_attempt(&self) -> bool {
        matches!(
            self,
            TaskEvent::Kill { .. }
                | TaskEvent::Preempt { .. }
                | TaskEvent::ExecutionTimeout { .. }
                | TaskEvent::SiblingFailed { .. }
                | TaskEvent::SiblingRequeued { .. }
        )
    }

    /// A short name of the event for messages: `"assign"`, `"report RUNNING"`, `"worker lost"`, …
    ///
    /// ```
    /// use iris_task::{AttemptId, TaskEvent, Timestamp, WorkerId, WorkerReport};
    ///
    /// let event = TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(0),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(1),
    /// };
    /// assert_eq!(event.name(), "report RUNNING");
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            TaskEvent::Assign { .. } => "assign",
            TaskEvent::Report { report, .. } => report.name(),
            TaskEvent::WorkerLost { .. } => "worker lost",
            TaskEvent::Kill { .. } => "kill",
            TaskEvent::SchedulingTimeout { .. } => "scheduling timeout",
            TaskEvent::Preempt { .. } => "preempt",
            TaskEvent::SiblingFailed { .. } => "sibling failed",
            TaskEvent::SiblingRequeued { .. } => "sibling requeued",
            TaskEvent::ExecutionTimeout { .. } => "execution timeout",
        }
    }

    /// When the event happened.
    ///
    /// ```
    /// use iris_task::{TaskEvent, Timestamp};
    ///
    /// let event = TaskEvent::SchedulingTimeout { at: Timestamp::from_millis(60_000) };
    /// assert_eq!(event.at(), Timestamp::from_millis(60_000));
    /// assert_eq!(event.name(), "scheduling timeout");
    /// ```
    pub fn at(&self) -> Timestamp {
        match self {
            TaskEvent::Assign { at, .. }
            | TaskEvent::Report { at, .. }
            | TaskEvent::WorkerLost { at, .. }
            | TaskEvent::Kill { at, .. }
            | TaskEvent::SchedulingTimeout { at }
            | TaskEvent::Preempt { at, .. }
            | TaskEvent::SiblingFailed { at, .. }
            | TaskEvent::SiblingRequeued { at, .. }
            | TaskEvent::ExecutionTimeout { at } => *at,
        }
    }
}

/// What a worker reports about an attempt: BUILDING, RUNNING, SUCCEEDED, FAILED, WORKER_FAILED,
/// and from release 0.2 PREEMPTED, KILLED and MISSING. PENDING, ASSIGNED, UNSCHEDULABLE and
/// COSCHED_FAILED are the controller's to decide, and are errors in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerReport {
    /// The worker is building the task's environment.
    Building,
    /// Execution started.
    Running,
    /// The task exited with code 0.
    Succeeded,
    /// The task exited non-zero.
    Failed {
        /// The exit code.
        exit_code: i32,
        /// What the worker knows of why.
        error: String,
    },
    /// The worker could not run the task (its own failure, not the task's).
    WorkerFailed {
        /// What went wrong.
        error: String,
    },
    /// The worker saw the task evicted (its resources taken by the cluster): a worker-side
    /// ending, the same rule as [`TaskEvent::Preempt`].
    Preempted {
        /// What the worker knows of why.
        error: String,
    },
    /// The worker killed the task without the controller asking (an OOM killer, a node drain): a
    /// worker-side ending that spends the preemption budget and ends the task WORKER_FAILED when
    /// it is spent. After the controller's own [`Kill`](TaskEvent::Kill) or
    /// [`Preempt`](TaskEvent::Preempt), the worker's KILLED is a duplicate.
    Killed {
        /// What the worker knows of why.
        error: String,
    },
    /// The worker has no record of the attempt (wire state 12): it restarted, or never got the
    /// RunTask call. A worker-side ending for an open attempt, recorded WORKER_FAILED with the
    /// error [`MISSING_ERROR`](crate::MISSING_ERROR); a duplicate for a closed one.
    Missing,
}

impl WorkerReport {
    /// The state the report announces for the attempt. MISSING, which is no state, announces
    /// WORKER_FAILED: the state its attempt is recorded with. (On the wire it stays 12.)
    ///
    /// ```
    /// use iris_task::{StateKind, WorkerReport};
    ///
    /// assert_eq!(WorkerReport::Succeeded.state(), StateKind::Succeeded);
    /// assert_eq!(WorkerReport::Killed { error: "OOM".into() }.state(), StateKind::Killed);
    /// assert_eq!(WorkerReport::Missing.state(), StateKind::WorkerFailed);
    /// ```
    #[inline]
    pub fn state(&self) -> StateKind {
        match self {
            WorkerReport::Building => StateKind::Building,
            WorkerReport::Running => StateKind::Running,
            WorkerReport::Succeeded => StateKind::Succeeded,
            WorkerReport::Failed { .. } => StateKind::Failed,
            WorkerReport::WorkerFailed { .. } | WorkerReport::Missing => StateKind::WorkerFailed,
            WorkerReport::Preempted { .. } => StateKind::Preempted,
            WorkerReport::Killed { .. } => StateKind::Killed,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            WorkerReport::Building => "report BUILDING",
            WorkerReport::Running => "report RUNNING",
            WorkerReport::Succeeded => "report SUCCEEDED",
            WorkerReport::Failed { .. } => "report FAILED",
            WorkerReport::WorkerFailed { .. } => "report WORKER_FAILED",
            WorkerReport::Preempted { .. } => "report PREEMPTED",
            WorkerReport::Killed { .. } => "report KILLED",
            WorkerReport::Missing => "report MISSING",
        }
    }

    /// Rule 3 of judging a report: it repeats what `attempt` (the current one) records, and is
    /// accepted as a no-op. For an open attempt, BUILDING or RUNNING again; for a closed one, the
    /// state it closed with, MISSING (the worker forgot an attempt that is over), or KILLED after
    /// a kill, a preemption or a gang's requeue or stop (the worker confirming it stopped what it
    /// was told to).
    fn repeats(&self, attempt: &Attempt) -> bool {
        let recorded = attempt.state();
        if attempt.is_open() {
            return matches!(self, WorkerReport::Building | WorkerReport::Running)
                && self.state() == recorded;
        }
        match self {
            WorkerReport::Building | WorkerReport::Running => false,
            WorkerReport::Missing => true,
            WorkerReport::Killed { .. } => matches!(
                recorded,
                StateKind::Killed | StateKind::Preempted | StateKind::CoschedFailed
            ),
            WorkerReport::Succeeded
            | WorkerReport::Failed { .. }
            | WorkerReport::WorkerFailed { .. }
            | WorkerReport::Preempted { .. } => self.state() == recorded,
        }
    }
}

/// The change an accepted event made: the task's state before and after.
///
/// `from == to` for an accepted duplicate, which changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state before the event.
    pub from: StateKind,
    /// The state after the event.
    pub to: StateKind,
}

impl Transition {
    /// The event changed the task (it was not a duplicate).
    ///
    /// ```
    /// use iris_task::{StateKind, Transition};
    ///
    /// assert!(Transition { from: StateKind::Assigned, to: StateKind::Running }.changed());
    /// assert!(!Transition { from: StateKind::Running, to: StateKind::Running }.changed());
    /// ```
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

/// The reason a task gets when its scheduling deadline passes (`TaskEvent::SchedulingTimeout`):
/// Iris's words.
pub const SCHEDULING_TIMEOUT_REASON: &str = "Scheduling timeout exceeded";

impl AnyTask {
    /// Applies one event that arrived at run time. On `Err` the task is exactly as it was before
    /// the call.
    ///
    /// The event is judged in this order (the crate guide's [rules](crate#the-rules) say why):
    /// 1. a report for any attempt but the current one (the last, open or closed) →
    ///    [`TransitionError::StaleAttempt`];
    /// 2. a report from a worker that does not hold the named attempt, or the loss of a worker
    ///    that does not hold the active task → [`TransitionError::WrongWorker`];
    /// 3. a report that repeats what the current attempt records → accepted, nothing changes
    ///    (`from == to`), so at-least-once delivery is safe, whatever the task's state now;
    /// 4. any other report about a closed attempt → [`TransitionError::StaleAttempt`], before and
    ///    after the task is reassigned alike;
    /// 5. an event the state does not allow → [`TransitionError::Illegal`], a report that would
    ///    move the open attempt backwards → [`TransitionError::Regression`];
    /// 6. an event earlier than the task's [latest time](AnyTask::latest_time) →
    ///    [`TransitionError::TimeWentBackwards`]. Otherwise the typed transitions the event means
    ///    are applied.
    ///
    /// Reports may skip forward: RUNNING for a task never reported BUILDING starts it at the
    /// report's time; a SUCCEEDED or FAILED report for an ASSIGNED task ends it with its attempt
    /// recorded as never started (no start was reported, and Iris dates none). A worker loss (or a WORKER_FAILED report) while ASSIGNED is a dispatch
    /// failure and requeues the task free of charge.
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, RetryPolicy, StateKind, Task, TaskEvent, TaskId, Timestamp,
    ///     TransitionError, WorkerId, WorkerReport};
    ///
    /// let w1 = WorkerId::new("w1")?;
    /// let mut task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(w1.clone(), Timestamp::from_millis(1))
    ///     .into_any();
    /// let running = |worker: &WorkerId, attempt| TaskEvent::Report {
    ///     worker: worker.clone(),
    ///     attempt: AttemptId::new(attempt),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(2),
    /// };
    ///
    /// let step = task.apply(running(&w1, 0))?;
    /// assert_eq!((step.from, step.to), (StateKind::Assigned, StateKind::Running));
    /// // Delivered twice: accepted, nothing changes.
    /// assert!(!task.apply(running(&w1, 0))?.changed());
    /// // A report about an attempt that never was, or from another worker: rejected, nothing changes.
    /// let before = task.clone();
    /// assert!(matches!(task.apply(running(&w1, 5)), Err(TransitionError::StaleAttempt { .. })));
    /// let w2 = WorkerId::new("w2")?;
    /// assert!(matches!(task.apply(running(&w2, 0)), Err(TransitionError::WrongWorker { .. })));
    /// assert_eq!(task, before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`TransitionError`] naming the task, its state and what was wrong with the event.
    #[inline]
    pub fn apply(&mut self, event: TaskEvent) -> Result<Transition, TransitionError> {
        self.apply_minting(event, UidMinter::mint_shared)
    }

    /// [`apply`](Self::apply), with `mint` naming the attempt an assignment opens: a table mints
    /// with its own minter.
    #[inline]
    pub(crate) fn apply_minting(
        &mut self,
        event: TaskEvent,
        mint: impl FnOnce() -> AttemptUid,
    ) -> Result<Transition, TransitionError> {
        let from = self.state();
        if self.judge(&event)? == Verdict::Duplicate {
            return Ok(Transition { from, to: from });
        }
        // The controller ends an open attempt its worker may still run: a stop to confirm.
        let stops = from.is_active() && event.stops_attempt();
        let to = self.transition(event, mint)?;
        if stops {
            self.core_mut().await_stop();
        }
        Ok(Transition { from, to })
    }

    /// Steps 1 to 4 of judging an event: the checks that do not depend on the state's rules.
    #[inline]
    fn judge(&self, event: &TaskEvent) -> Result<Verdict, TransitionError> {
        match event {
            TaskEvent::Report {
                worker,
                attempt,
                report,
                ..
            } => {
                let stale = || TransitionError::StaleAttempt {
                    task: self.id().clone(),
                    current: self.current_attempt().map(Attempt::id),
                    reported: *attempt,
                };
                let current = self
                    .current_attempt()
                    .filter(|current| current.id() == *attempt)
                    .ok_or_else(stale)?;
                if current.worker() != worker {
                    return Err(TransitionError::WrongWorker {
                        task: self.id().clone(),
                        current: Some(current.worker().clone()),
                        reported: worker.clone(),
                    });
                }
                // The first report's exit code and error stay.
                if report.repeats(current) {
                    return Ok(Verdict::Duplicate);
                }
                // A late report about an attempt that is over is stale, whether or not the task
                // was reassigned since, so a controller that counts stale reports counts them all.
                if !current.is_open() {
                    return Err(stale());
                }
            }
            TaskEvent::WorkerLost { worker, .. } => {
                let open = self.current_attempt().filter(|attempt| attempt.is_open());
                if let Some(current) = open.filter(|attempt| attempt.worker() != worker) {
                    return Err(TransitionError::WrongWorker {
                        task: self.id().clone(),
                        current: Some(current.worker().clone()),
                        reported: worker.clone(),
                    });
                }
            }
            TaskEvent::Assign { .. }
            | TaskEvent::Kill { .. }
            | TaskEvent::SchedulingTimeout { .. }
            | TaskEvent::Preempt { .. }
            | TaskEvent::SiblingFailed { .. }
            | TaskEvent::SiblingRequeued { .. }
            | TaskEvent::ExecutionTimeout { .. } => {}
        }
        Ok(Verdict::Apply)
    }

    /// Steps 5 and 6: the typed transition the event means in the task's state, or why none
    /// applies (and then nothing was touched).
    ///
    /// Each arm holds the typed task of its variant and can call only the transitions its state
    /// has: an arm that called `succeed` on a pending task would not compile. The task's next
    /// state is the type the transition returns, wrapped by `From<Task<S>>`. There is no other
    /// table from states to rules, so this layer cannot disagree with the typed one.
    // Always inlined into `apply`, its one caller: out of line, the event is copied into the
    // call (measured: 13% more instructions per event).
    #[inline(always)]
    fn transition(
        &mut self,
        event: TaskEvent,
        mint: impl FnOnce() -> AttemptUid,
    ) -> Result<StateKind, TransitionError> {
        use AnyTask as A;
        use TaskEvent as E;
        use WorkerReport as R;

        // Matched variant first, then event, so the event is read where it lies rather than
        // copied into a tuple.
        Ok(match self {
            A::Pending(task) => match event {
                E::Assign { worker, at } => {
                    let at = stamp(task, at)?;
                    task.assign_in_place(worker, mint(), at).put(self)
                }
                E::Kill { reason, at } => {
                    let at = stamp(task, at)?;
                    task.kill_in_place(reason, at).put(self)
                }
                E::SchedulingTimeout { at } => {
                    let at = stamp(task, at)?;
                    task.mark_unschedulable_in_place(SCHEDULING_TIMEOUT_REASON.to_owned(), at)
                        .put(self)
                }
                // Listed, not matched by a wildcard, so that an event added to `TaskEvent` does
                // not compile until each state decides it.
                event @ (E::Report { .. }
                | E::WorkerLost { .. }
                | E::Preempt { .. }
                | E::SiblingFailed { .. }
                | E::SiblingRequeued { .. }
                | E::ExecutionTimeout { .. }) => {
                    return Err(illegal(task, &event));
                }
            },

            A::Assigned(task) => match event {
                E::Report { report, at, .. } => {
                    let at = stamp(task, at)?;
                    match report {
                        R::Building => task.build_in_place(at).put(self),
                        R::Running => task.start_in_place(at).put(self),
                        // Skips forward: the RUNNING report of a short task was lost. The
                        // attempt is recorded as never started, as Iris records it.
                        R::Succeeded => task.succeed_unstarted_in_place(at).put(self),
                        R::Failed { exit_code, error } => {
                            task.fail_unstarted_in_place(exit_code, error, at).put(self)
                        }
                        // Never started: worker-side endings are free of charge.
                        R::WorkerFailed { error } => {
                            task.worker_failed_in_place(error, at).put(self)
                        }
                        R::Preempted { error } => task.preempt_in_place(error, at).put(self),
                        R::Killed { error } => task.killed_on_worker_in_place(error, at).put(self),
                        R::Missing => task.missing_on_worker_in_place(at).put(self),
                    }
                }
                E::WorkerLost { error, at, .. } => {
                    let at = stamp(task, at)?;
                    task.worker_failed_in_place(error, at).put(self)
                }
                E::Kill { reason, at } => {
                    let at = stamp(task, at)?;
                    task.kill_in_place(reason, at).put(self)
                }
                E::Preempt { reason, at } => {
                    let at = stamp(task, at)?;
                    task.preempt_in_place(reason, at).put(self)
                }
                E::SiblingFailed { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_failed_in_place(&sibling, at).put(self)
                }
                E::SiblingRequeued { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_requeued_in_place(&sibling, at).put(self)
                }
                // An ASSIGNED task has not started: no execution clock runs yet.
                event @ (E::Assign { .. }
                | E::SchedulingTimeout { .. }
                | E::ExecutionTimeout { .. }) => {
                    return Err(illegal(task, &event));
                }
            },

            A::Building(task) => match event {
                E::Report { report, at, .. } => {
                    let at = stamp(task, at)?;
                    match report {
                        // BUILDING twice is a duplicate: unchanged (`judge` absorbs it first).
                        R::Building => task.take_unchanged().put(self),
                        R::Running => task.start_in_place(at).put(self),
                        // Skips forward through RUNNING.
                        R::Succeeded => task.start_in_place(at).succeed_in_place(at).put(self),
                        R::Failed { exit_code, error } => {
                            task.fail_in_place(exit_code, error, at).put(self)
                        }
                        R::WorkerFailed { error } => {
                            task.worker_failed_in_place(error, at).put(self)
                        }
                        R::Preempted { error } => task.preempt_in_place(error, at).put(self),
                        R::Killed { error } => task.killed_on_worker_in_place(error, at).put(self),
                        R::Missing => task.missing_on_worker_in_place(at).put(self),
                    }
                }
                E::WorkerLost { error, at, .. } => {
                    let at = stamp(task, at)?;
                    task.worker_failed_in_place(error, at).put(self)
                }
                E::Kill { reason, at } => {
                    let at = stamp(task, at)?;
                    task.kill_in_place(reason, at).put(self)
                }
                E::Preempt { reason, at } => {
                    let at = stamp(task, at)?;
                    task.preempt_in_place(reason, at).put(self)
                }
                E::SiblingFailed { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_failed_in_place(&sibling, at).put(self)
                }
                E::SiblingRequeued { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_requeued_in_place(&sibling, at).put(self)
                }
                E::ExecutionTimeout { at } => {
                    let at = stamp(task, at)?;
                    task.timed_out_in_place(at).put(self)
                }
                event @ (E::Assign { .. } | E::SchedulingTimeout { .. }) => {
                    return Err(illegal(task, &event));
                }
            },

            A::Running(task) => match event {
                E::Report {
                    report: R::Building,
                    ..
                } => {
                    return Err(TransitionError::Regression {
                        task: task.id().clone(),
                        from: StateKind::Running,
                        reported: StateKind::Building,
                    });
                }
                E::Report { report, at, .. } => {
                    let at = stamp(task, at)?;
                    match report {
                        // RUNNING twice is a duplicate: unchanged (`judge` absorbs it first).
                        // BUILDING was rejected as a regression above.
                        R::Building | R::Running => task.take_unchanged().put(self),
                        R::Succeeded => task.succeed_in_place(at).put(self),
                        R::Failed { exit_code, error } => {
                            task.fail_in_place(exit_code, error, at).put(self)
                        }
                        R::WorkerFailed { error } => {
                            task.worker_failed_in_place(error, at).put(self)
                        }
                        R::Preempted { error } => task.preempt_in_place(error, at).put(self),
                        R::Killed { error } => task.killed_on_worker_in_place(error, at).put(self),
                        R::Missing => task.missing_on_worker_in_place(at).put(self),
                    }
                }
                E::WorkerLost { error, at, .. } => {
                    let at = stamp(task, at)?;
                    task.worker_failed_in_place(error, at).put(self)
                }
                E::Kill { reason, at } => {
                    let at = stamp(task, at)?;
                    task.kill_in_place(reason, at).put(self)
                }
                E::Preempt { reason, at } => {
                    let at = stamp(task, at)?;
                    task.preempt_in_place(reason, at).put(self)
                }
                E::SiblingFailed { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_failed_in_place(&sibling, at).put(self)
                }
                E::SiblingRequeued { sibling, at } => {
                    let at = stamp(task, at)?;
                    task.sibling_requeued_in_place(&sibling, at).put(self)
                }
                E::ExecutionTimeout { at } => {
                    let at = stamp(task, at)?;
                    task.timed_out_in_place(at).put(self)
                }
                event @ (E::Assign { .. } | E::SchedulingTimeout { .. }) => {
                    return Err(illegal(task, &event));
                }
            },

            // A terminal task absorbs every event (a duplicate of its final report was accepted,
            // and any other report about its closed attempt judged stale, before this point).
            A::Succeeded(task) => return Err(illegal(task, &event)),
            A::Failed(task) => return Err(illegal(task, &event)),
            A::Killed(task) => return Err(illegal(task, &event)),
            A::WorkerFailed(task) => return Err(illegal(task, &event)),
            A::Unschedulable(task) => return Err(illegal(task, &event)),
            A::Preempted(task) => return Err(illegal(task, &event)),
            A::CoschedFailed(task) => return Err(illegal(task, &event)),
        })
    }

    /// The task in state `state`, whose invariants for that state a decoder checked.
    #[inline]
    pub(crate) fn decoded(task: Decoded, state: StateKind) -> AnyTask {
        match state {
            StateKind::Pending => AnyTask::Pending(task.into_task()),
            StateKind::Assigned => AnyTask::Assigned(task.into_task()),
            StateKind::Building => AnyTask::Building(task.into_task()),
            StateKind::Running => AnyTask::Running(task.into_task()),
            StateKind::Succeeded => AnyTask::Succeeded(task.into_task()),
            StateKind::Failed => AnyTask::Failed(task.into_task()),
            StateKind::Killed => AnyTask::Killed(task.into_task()),
            StateKind::WorkerFailed => AnyTask::WorkerFailed(task.into_task()),
            StateKind::Unschedulable => AnyTask::Unschedulable(task.into_task()),
            StateKind::Preempted => AnyTask::Preempted(task.into_task()),
            StateKind::CoschedFailed => AnyTask::CoschedFailed(task.into_task()),
        }
    }
}

/// Step 5 of judging an event: it does not apply to the task's state.
#[cold]
fn illegal<S: State>(task: &Task<S>, event: &TaskEvent) -> TransitionError {
    TransitionError::Illegal {
        task: task.id().clone(),
        from: S::KIND,
        event: event.name(),
    }
}

/// Step 6 of judging an event: `at` is no earlier than what the task records.
#[inline]
fn stamp<S: State>(task: &Task<S>, at: Timestamp) -> Result<Stamp, TransitionError> {
    task.stamp(at)
        .map_err(|latest| TransitionError::TimeWentBackwards {
            task: task.id().clone(),
            latest,
            at,
        })
}

/// Whether an event that passed the first checks changes the task.
#[derive(PartialEq, Eq)]
enum Verdict {
    Duplicate,
    Apply,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An [`AnyTask`] that is not in the state a typed [`Task<S>`](crate::Task) asked for. It gives
/// the task back untouched.
///
/// ```
/// use iris_task::{AnyTask, Assigned, JobId, RetryPolicy, Task, TaskId};
///
/// let any = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default()).into_any();
/// let err = Task::<Assigned>::try_from(any.clone()).unwrap_err();
/// assert_eq!(err.to_string(), "task job/task-0 is pending, not assigned");
/// assert_eq!(err.into_task(), any);
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("task {} is {}, not {expected}", task.id(), task.state())]
pub struct WrongState {
    pub(crate) expected: StateKind,
    pub(crate) task: Box<AnyTask>,
}

impl WrongState {
    /// The state that was asked for.
    pub fn expected(&self) -> StateKind {
        self.expected
    }

    /// The task, in the state it really is in.
    pub fn task(&self) -> &AnyTask {
        &self.task
    }

    /// Gives the task back.
    pub fn into_task(self) -> AnyTask {
        *self.task
    }
}

/// Why an event was rejected. A rejected event changes nothing.
///
/// ```
/// use iris_task::{JobId, RetryPolicy, Task, TaskEvent, TaskId, Timestamp, TransitionError};
///
/// let mut task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
///     .kill("cancelled", Timestamp::from_millis(1))
///     .into_any();
/// let err = task
///     .apply(TaskEvent::Kill { reason: "again".into(), at: Timestamp::from_millis(2) })
///     .unwrap_err();
/// assert!(matches!(err, TransitionError::Illegal { event: "kill", .. }));
/// assert_eq!(err.to_string(), "task job/task-0 is killed: kill does not apply to a killed task");
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The event does not apply to the task's state: a kill of an ended task, an assignment of an
    /// active one, a report for a task that waits to be scheduled, …
    #[error("task {task} is {from}: {event} does not apply to a {from} task")]
    Illegal {
        /// The task.
        task: TaskId,
        /// Its state, unchanged.
        from: StateKind,
        /// The event, as [`TaskEvent::name`](crate::TaskEvent::name) gives it.
        event: &'static str,
    },
    /// A report about an attempt other than the current one, or about the current one after
    /// it ended: late, reordered or retried by the network. It must not touch the current
    /// attempt.
    #[error("task {task}: the report for attempt {reported} is stale; {}", stale_because(*.reported, .current))]
    StaleAttempt {
        /// The task.
        task: TaskId,
        /// Its current attempt; `None` before the first assignment.
        current: Option<AttemptId>,
        /// The attempt the report named.
        reported: AttemptId,
    },
    /// A report from a worker other than the named attempt's, or the loss of a worker that
    /// does not hold the active task.
    #[error("task {task}: worker {reported} does not hold it; {}", current_worker(.current))]
    WrongWorker {
        /// The task.
        task: TaskId,
        /// The worker of the attempt the event is about.
        current: Option<WorkerId>,
        /// The worker that reported, or that was reported lost.
        reported: WorkerId,
    },
    /// A report that would move the open attempt backwards (RUNNING → BUILDING).
    #[error("task {task} is {from}: a {reported} report would move its attempt backwards")]
    Regression {
        /// The task.
        task: TaskId,
        /// Its state, unchanged.
        from: StateKind,
        /// The state the report announced.
        reported: StateKind,
    },
    /// An event earlier than a time the task already records: two timestamps swapped, or a
    /// controller clock that went back. Accepting it would build a task that its own decoder
    /// refuses. (Worker clocks cannot cause it: [`TaskEvent::from_report`] stamps reports with
    /// the controller's receive time.)
    #[error(
        "task {task}: an event at {at} is earlier than {latest}, which the task already records"
    )]
    TimeWentBackwards {
        /// The task.
        task: TaskId,
        /// The latest time the task records (see [`AnyTask::latest_time`]).
        latest: Timestamp,
        /// The event's time.
        at: Timestamp,
    },
}

fn stale_because(reported: AttemptId, current: &Option<AttemptId>) -> String {
    match current {
        Some(attempt) if *attempt == reported => "that attempt has ended".to_owned(),
        Some(attempt) => format!("the current attempt is {attempt}"),
        None => "the task has not been assigned yet".to_owned(),
    }
}

fn current_worker(current: &Option<WorkerId>) -> String {
    match current {
        Some(worker) => format!("its worker is {worker}"),
        None => "it holds no worker".to_owned(),
    }
}
