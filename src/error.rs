//! The error types. Each variant carries the ids and states involved, and its message reads as a
//! sentence an operator understands.

use std::fmt;

use crate::any::AnyTask;
use crate::id::{AttemptId, TaskId, WorkerId};
use crate::state::StateKind;

/// Which kind of id an [`IdError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// A [`JobId`](crate::JobId).
    Job,
    /// A [`TaskId`](crate::TaskId).
    Task,
    /// A [`WorkerId`](crate::WorkerId).
    Worker,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Job => "job",
            IdKind::Task => "task",
            IdKind::Worker => "worker",
        })
    }
}

/// A malformed job, task or worker id.
///
/// ```
/// use iris_task::{IdError, IdKind, WorkerId};
///
/// let err = WorkerId::new("").unwrap_err();
/// assert_eq!(err, IdError::Empty { kind: IdKind::Worker });
/// assert_eq!(err.to_string(), "worker id is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is the empty string.
    #[error("{kind} id is empty")]
    Empty {
        /// The kind of id.
        kind: IdKind,
    },
    /// The id contains a space, tab, newline or other whitespace.
    #[error("{kind} id {id:?} contains whitespace")]
    Whitespace {
        /// The kind of id.
        kind: IdKind,
        /// The rejected id.
        id: String,
    },
    /// A task id without `"/task-"` after a non-empty job id.
    #[error("task id {id:?} is not of the form \"{{job_id}}/task-{{index}}\"")]
    NoTaskIndex {
        /// The rejected id.
        id: String,
    },
    /// A task id whose index is not a decimal number from 0 to 4294967295 without sign or leading
    /// zeros.
    #[error("task id {id:?} has index {index:?}, which is not a number from 0 to 4294967295")]
    BadTaskIndex {
        /// The rejected id.
        id: String,
        /// The text after the last `"/task-"`.
        index: String,
    },
}

/// Text that is not the [label](StateKind::label) of a state.
///
/// ```
/// use iris_task::StateKind;
///
/// let err = "ASSIGNED".parse::<StateKind>().unwrap_err();
/// assert_eq!(err.to_string(), "\"ASSIGNED\" is not a task state; expected one of pending, assigned, building, running, succeeded, failed, killed, worker_failed, unschedulable");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a task state; expected one of pending, assigned, building, running, succeeded, failed, killed, worker_failed, unschedulable"
)]
pub struct ParseStateKindError {
    pub(crate) input: String,
}

impl ParseStateKindError {
    /// The rejected text.
    pub fn input(&self) -> &str {
        &self.input
    }
}

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

/// Bytes or fields that do not describe a valid task, report or state.
///
/// Each variant names the protobuf field that was wrong, as a path such as
/// `"TaskStatus.attempts[2].finished_at_ms"`. Decoding never guesses: what is not clearly a valid
/// value is one of these errors, never a default.
///
/// ```
/// use iris_task::{ProtoError, StateKind};
///
/// let err = StateKind::try_from(10).unwrap_err();
/// assert_eq!(err.to_string(), "TaskState: 10 is not a known task state");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The bytes are not a protobuf encoding of the message.
    #[error("the bytes are not a valid {message}: {source}")]
    Decode {
        /// The message the bytes should have held, e.g. `"TaskStatus"`.
        message: &'static str,
        /// What prost found wrong.
        source: prost::DecodeError,
    },
    /// A state field holds UNSPECIFIED (0), which is never a valid state.
    #[error("{field}: TASK_STATE_UNSPECIFIED is not a valid task state")]
    UnspecifiedState {
        /// The field, e.g. `"TaskStatus.state"`.
        field: String,
    },
    /// A state field holds a number no known state has, e.g. from a newer peer.
    #[error("{field}: {value} is not a known task state")]
    UnknownState {
        /// The field, e.g. `"TaskStatus.attempts[2].state"`.
        field: String,
        /// The number on the wire.
        value: i32,
    },
    /// A job, task or worker id field is malformed or empty.
    #[error("{field}: {source}")]
    InvalidId {
        /// The field, e.g. `"TaskStatus.attempts[0].worker_id"`.
        field: String,
        /// What is wrong with the id.
        source: IdError,
    },
    /// A field the message needs is absent.
    #[error("{field} is missing: {why}")]
    Missing {
        /// The field.
        field: String,
        /// Why it is needed.
        why: &'static str,
    },
    /// A field contradicts the rest of the message: a task id that disagrees with the job id, an
    /// attempt id out of sequence, an open attempt that is not the last, a task state its last
    /// attempt contradicts, …
    #[error("{field}: {problem}")]
    Inconsistent {
        /// The field.
        field: String,
        /// What it contradicts.
        problem: String,
    },
    /// A typed decode ([`Task::<S>::from_proto`](crate::Task::from_proto)) of a task in another
    /// state. Decoding never converts one state into another.
    #[error("{field}: expected a {expected} task, found a {found} one")]
    WrongState {
        /// The field: `"TaskStatus.state"`.
        field: String,
        /// The state asked for.
        expected: StateKind,
        /// The state on the wire.
        found: StateKind,
    },
    /// A worker report of a state only the controller decides (PENDING, ASSIGNED, KILLED,
    /// UNSCHEDULABLE).
    #[error(
        "{field}: workers report BUILDING, RUNNING, SUCCEEDED, FAILED or WORKER_FAILED, not {state}"
    )]
    NotReportable {
        /// The field: `"ReportTaskStateRequest.state"`.
        field: String,
        /// The state reported.
        state: StateKind,
    },
    /// A negative attempt id in a worker report.
    #[error("{field}: attempt ids are never negative, but this one is {value}")]
    NegativeAttemptId {
        /// The field: `"ReportTaskStateRequest.attempt_id"`.
        field: String,
        /// The number on the wire.
        value: i32,
    },
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
    /// A report about an attempt other than the current one: late, reordered or retried by the
    /// network. It must not touch the current attempt.
    #[error("task {task}: the report for attempt {reported} is stale; {}", current_attempt(.current))]
    StaleAttempt {
        /// The task.
        task: TaskId,
        /// Its current attempt; `None` before the first assignment.
        current: Option<AttemptId>,
        /// The attempt the report named.
        reported: AttemptId,
    },
    /// A worker was reported lost, but the task is active on another worker.
    #[error("task {task}: worker {reported} was reported lost, but the task is on {}", current_worker(.current))]
    WrongWorker {
        /// The task.
        task: TaskId,
        /// The worker that holds the task.
        current: Option<WorkerId>,
        /// The worker reported lost.
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
}

fn current_attempt(current: &Option<AttemptId>) -> String {
    match current {
        Some(attempt) => format!("the current attempt is {attempt}"),
        None => "the task has not been assigned yet".to_owned(),
    }
}

fn current_worker(current: &Option<WorkerId>) -> String {
    match current {
        Some(worker) => worker.to_string(),
        None => "no worker".to_owned(),
    }
}

/// Why the [`TaskTable`](crate::TaskTable) refused a call. A refused call changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// [`insert`](crate::TaskTable::insert) of a task whose id the table already holds.
    #[error("task {0} is already in the table")]
    DuplicateTask(TaskId),
    /// A call that names a task the table does not hold.
    #[error("task {0} is not in the table")]
    UnknownTask(TaskId),
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
