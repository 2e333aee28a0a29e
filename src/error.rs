//! [`Error`]: every error of the crate in one type, for callers that decode, apply and insert in
//! one function and want one `?`.
//!
//! Each error type lives beside its concept ([`IdError`] with the ids, [`ProtoError`] with the
//! wire format, …); this one only wraps them, and imports nothing any of them needs.

use crate::any::{TransitionError, WrongState};
use crate::id::IdError;
use crate::proto::ProtoError;
use crate::state::ParseStateKindError;
use crate::table::{ParseJobStateError, TableError};

/// Any error of the crate. Each variant wraps the error of one concept, and converts from it, so
/// a controller's handler can use `?` on decoding and applying alike.
///
/// ```
/// use iris_task::{Error, JobId, RetryPolicy, Task, TaskEvent, TaskId, TaskTable, Timestamp};
///
/// /// A report's bytes, from the network, applied to the table.
/// fn handle(table: &mut TaskTable, bytes: &[u8], now: Timestamp) -> Result<(), Error> {
///     let (id, event) = TaskEvent::decode_report(bytes, now)?; // a ProtoError
///     table.apply(&id, event)?; // a TableError
///     Ok(())
/// }
///
/// let mut table = TaskTable::new();
/// table.insert(Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default()))?;
/// let err = handle(&mut table, b"\xff", Timestamp::from_millis(1)).unwrap_err();
/// assert!(matches!(err, Error::Proto(_)));
/// assert!(err.transition().is_none());
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed id.
    #[error(transparent)]
    Id(#[from] IdError),
    /// Bytes or fields that do not describe a valid task, report or state.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// A task rejected an event.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The table refused a call.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A task was not in the state asked for.
    #[error(transparent)]
    WrongState(#[from] WrongState),
    /// Text that is not a task state's label.
    #[error(transparent)]
    ParseStateKind(#[from] ParseStateKindError),
    /// Text that is not a job state's label.
    #[error(transparent)]
    ParseJobState(#[from] ParseJobStateError),
}

impl Error {
    /// Why a task rejected an event, whether [`AnyTask::apply`](crate::AnyTask::apply) said so
    /// ([`Error::Transition`]) or [`TaskTable::apply`](crate::TaskTable::apply) did
    /// ([`Error::Table`] holding a [`TableError::Transition`]): one place to ask whether a
    /// report was stale, from the wrong worker, or late.
    ///
    /// ```
    /// use iris_task::{AttemptId, Error, JobId, RetryPolicy, Task, TaskEvent, TaskId, TaskTable,
    ///     Timestamp, TransitionError, WorkerId, WorkerReport};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let stale = TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(0),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(1),
    /// };
    /// let err = Error::from(table.apply(&id, stale).unwrap_err());
    /// assert!(matches!(err.transition(), Some(TransitionError::StaleAttempt { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn transition(&self) -> Option<&TransitionError> {
        match self {
            Error::Transition(err) => Some(err),
            Error::Table(err) => err.transition(),
            _ => None,
        }
    }
}
