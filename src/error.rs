//! The error types. Each variant carries the ids and states involved, and its message reads as a
//! sentence an operator understands.

use std::fmt;

use crate::any::AnyTask;
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
/// Each variant names the protobuf field that was wrong.
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
}
