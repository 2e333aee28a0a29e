//! The crate's refusals as [Connect protocol](https://connectrpc.com/docs/protocol/) errors,
//! mapped once, for a controller that serves Iris's `ControllerService` (Iris speaks Connect:
//! unary calls over HTTP/1.1, an error a JSON body `{"code": …, "message": …}` with its HTTP
//! status).
//!
//! The crate has no HTTP code: a [`ConnectError`] is a code and a message, and the controller
//! writes it with whatever HTTP library it serves with
//! ([`http_status`](ConnectCode::http_status) and [`as_str`](ConnectCode::as_str) are what the
//! protocol puts on the wire).
//!
//! | the refusal | code |
//! |---|---|
//! | a request the crate cannot read ([`ProtoError`]: a bad id, a missing field, …), an id that is not one ([`IdError`]) | `invalid_argument` |
//! | [`TableError::UnknownTask`], [`UnknownAttempt`](TableError::UnknownAttempt), [`UnknownJob`](TableError::UnknownJob) | `not_found` |
//! | [`TableError::DuplicateTask`], [`DuplicateAttemptUid`](TableError::DuplicateAttemptUid) | `already_exists` |
//! | [`TableError::Full`] | `resource_exhausted` |
//! | a report about another worker's attempt, [`NotTheOwner`](TableError::NotTheOwner), a Reconcile answer from another worker | `permission_denied` |
//! | any other transition, [`NotPending`](TableError::NotPending), [`JobEnded`](TableError::JobEnded), [`JobNotFinished`](TableError::JobNotFinished), … | `failed_precondition` |
//! | a store that failed a commit (nothing changed; retry) | `unavailable` |
//! | a poisoned table, a locked, corrupt or newer store | `internal` |
//!
//! ```
//! use iris_task::connect::{ConnectCode, ConnectError};
//! use iris_task::{JobId, TableError, TaskId};
//!
//! let unknown = TableError::UnknownTask(TaskId::new(JobId::new("job")?, 9));
//! let err = ConnectError::from(unknown);
//! assert_eq!(err.code, ConnectCode::NotFound);
//! assert_eq!((err.code.as_str(), err.code.http_status()), ("not_found", 404));
//! assert_eq!(err.message, "task job/task-9 is not in the table");
//! # Ok::<(), iris_task::IdError>(())
//! ```

use std::fmt;

use crate::{IdError, ProtoError, ReconcileError, TableError, TransitionError};

/// A Connect error code: the protocol's sixteen, with their wire names and HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectCode {
    /// `canceled` (HTTP 499): the caller gave up.
    Canceled,
    /// `unknown` (500).
    Unknown,
    /// `invalid_argument` (400): the request is malformed, whatever the server's state.
    InvalidArgument,
    /// `deadline_exceeded` (504): no answer within the call's deadline.
    DeadlineExceeded,
    /// `not_found` (404).
    NotFound,
    /// `already_exists` (409).
    AlreadyExists,
    /// `permission_denied` (403): the caller may not do this.
    PermissionDenied,
    /// `resource_exhausted` (429): a limit or quota; retry later.
    ResourceExhausted,
    /// `failed_precondition` (400): the request is well formed, but the state refuses it.
    FailedPrecondition,
    /// `aborted` (409).
    Aborted,
    /// `out_of_range` (400).
    OutOfRange,
    /// `unimplemented` (501): a method the server does not serve.
    Unimplemented,
    /// `internal` (500).
    Internal,
    /// `unavailable` (503): try again.
    Unavailable,
    /// `data_loss` (500).
    DataLoss,
    /// `unauthenticated` (401): no valid credentials.
    Unauthenticated,
}

impl ConnectCode {
    /// The code's name on the wire (`"not_found"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectCode::Canceled => "canceled",
            ConnectCode::Unknown => "unknown",
            ConnectCode::InvalidArgument => "invalid_argument",
            ConnectCode::DeadlineExceeded => "deadline_exceeded",
            ConnectCode::NotFound => "not_found",
            ConnectCode::AlreadyExists => "already_exists",
            ConnectCode::PermissionDenied => "permission_denied",
            ConnectCode::ResourceExhausted => "resource_exhausted",
            ConnectCode::FailedPrecondition => "failed_precondition",
            ConnectCode::Aborted => "aborted",
            ConnectCode::OutOfRange => "out_of_range",
            ConnectCode::Unimplemented => "unimplemented",
            ConnectCode::Internal => "internal",
            ConnectCode::Unavailable => "unavailable",
            ConnectCode::DataLoss => "data_loss",
            ConnectCode::Unauthenticated => "unauthenticated",
        }
    }

    /// The HTTP status a unary Connect error carries, as the protocol maps it.
    pub fn http_status(self) -> u16 {
        match self {
            ConnectCode::Canceled => 499,
            ConnectCode::InvalidArgument
            | ConnectCode::FailedPrecondition
            | ConnectCode::OutOfRange => 400,
            ConnectCode::Unauthenticated => 401,
            ConnectCode::PermissionDenied => 403,
            ConnectCode::NotFound => 404,
            ConnectCode::AlreadyExists | ConnectCode::Aborted => 409,
            ConnectCode::ResourceExhausted => 429,
            ConnectCode::Unknown | ConnectCode::Internal | ConnectCode::DataLoss => 500,
            ConnectCode::Unimplemented => 501,
            ConnectCode::Unavailable => 503,
            ConnectCode::DeadlineExceeded => 504,
        }
    }
}

impl fmt::Display for ConnectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Connect error: its code and a message for people. Every refusal of the crate converts into
/// one (`?` in a handler that returns `Result<_, ConnectError>`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ConnectError {
    /// The code.
    pub code: ConnectCode,
    /// What went wrong.
    pub message: String,
}

impl ConnectError {
    /// An error of `code` saying `message`.
    ///
    /// ```
    /// use iris_task::connect::{ConnectCode, ConnectError};
    ///
    /// let err = ConnectError::new(ConnectCode::Unimplemented, "ListUsers is not served");
    /// assert_eq!(err.to_string(), "unimplemented: ListUsers is not served");
    /// assert_eq!(err.code.http_status(), 501);
    /// ```
    pub fn new(code: ConnectCode, message: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            message: message.into(),
        }
    }
}

impl From<TableError> for ConnectError {
    fn from(err: TableError) -> ConnectError {
        let code = match &err {
            TableError::UnknownTask(_)
            | TableError::UnknownAttempt(_)
            | TableError::UnknownJob(_) => ConnectCode::NotFound,
            TableError::DuplicateTask(_) | TableError::DuplicateAttemptUid { .. } => {
                ConnectCode::AlreadyExists
            }
            TableError::Full(_) => ConnectCode::ResourceExhausted,
            TableError::Transition(TransitionError::WrongWorker { .. })
            | TableError::NotTheOwner { .. } => ConnectCode::PermissionDenied,
            _ => ConnectCode::FailedPrecondition,
        };
        ConnectError::new(code, err.to_string())
    }
}

/// A request the crate cannot read is `invalid_argument`, with the error's message, which names
/// the field.
impl From<ProtoError> for ConnectError {
    fn from(err: ProtoError) -> ConnectError {
        ConnectError::new(ConnectCode::InvalidArgument, err.to_string())
    }
}

/// An id that is not one is `invalid_argument`.
impl From<IdError> for ConnectError {
    fn from(err: IdError) -> ConnectError {
        ConnectError::new(ConnectCode::InvalidArgument, err.to_string())
    }
}

/// A Reconcile answer from another worker, or an observation of another worker's attempt, is
/// `permission_denied`; an observation of no attempt the table holds `not_found`; an unreadable
/// one `invalid_argument`.
impl From<ReconcileError> for ConnectError {
    fn from(err: ReconcileError) -> ConnectError {
        let code = match &err {
            ReconcileError::WrongWorker { .. } | ReconcileError::NotTheOwner { .. } => {
                ConnectCode::PermissionDenied
            }
            ReconcileError::UnknownUid { .. } => ConnectCode::NotFound,
            ReconcileError::BadUid { .. } | ReconcileError::Unreadable { .. } => {
                ConnectCode::InvalidArgument
            }
            _ => ConnectCode::FailedPrecondition,
        };
        ConnectError::new(code, err.to_string())
    }
}

/// A store's refusal: the table's own as [`From<TableError>`](#impl-From<TableError>-for-ConnectError)
/// maps it; a database that failed a commit (the table is back to what the store holds; the
/// call may be retried) `unavailable`; a poisoned table, a locked, corrupt or newer store
/// `internal`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<crate::StoreError> for ConnectError {
    fn from(err: crate::StoreError) -> ConnectError {
        use crate::StoreError;
        match err {
            StoreError::Table(err) => ConnectError::from(err),
            StoreError::Database(_) => ConnectError::new(ConnectCode::Unavailable, err.to_string()),
            _ => ConnectError::new(ConnectCode::Internal, err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobId, TaskId, WorkerId};

    #[test]
    fn every_code_has_the_protocols_name_and_status() {
        let all = [
            (ConnectCode::Canceled, "canceled", 499),
            (ConnectCode::Unknown, "unknown", 500),
            (ConnectCode::InvalidArgument, "invalid_argument", 400),
            (ConnectCode::DeadlineExceeded, "deadline_exceeded", 504),
            (ConnectCode::NotFound, "not_found", 404),
            (ConnectCode::AlreadyExists, "already_exists", 409),
            (ConnectCode::PermissionDenied, "permission_denied", 403),
            (ConnectCode::ResourceExhausted, "resource_exhausted", 429),
            (ConnectCode::FailedPrecondition, "failed_precondition", 400),
            (ConnectCode::Aborted, "aborted", 409),
            (ConnectCode::OutOfRange, "out_of_range", 400),
            (ConnectCode::Unimplemented, "unimplemented", 501),
            (ConnectCode::Internal, "internal", 500),
            (ConnectCode::Unavailable, "unavailable", 503),
            (ConnectCode::DataLoss, "data_loss", 500),
            (ConnectCode::Unauthenticated, "unauthenticated", 401),
        ];
        for (code, name, status) in all {
            assert_eq!((code.as_str(), code.http_status()), (name, status));
            assert_eq!(code.to_string(), name);
        }
    }

    #[test]
    fn table_refusals_map_by_kind() -> Result<(), IdError> {
        let task = TaskId::new(JobId::new("job")?, 0);
        let worker = WorkerId::new("w1")?;
        let cases = [
            (
                TableError::UnknownJob(JobId::new("x")?),
                ConnectCode::NotFound,
            ),
            (
                TableError::DuplicateTask(task.clone()),
                ConnectCode::AlreadyExists,
            ),
            (
                TableError::Full(task.clone()),
                ConnectCode::ResourceExhausted,
            ),
            (
                TableError::Transition(TransitionError::WrongWorker {
                    task: task.clone(),
                    current: Some(worker.clone()),
                    reported: WorkerId::new("w2")?,
                }),
                ConnectCode::PermissionDenied,
            ),
            (
                TableError::NotPending {
                    task: task.clone(),
                    state: crate::StateKind::Running,
                },
                ConnectCode::FailedPrecondition,
            ),
        ];
        for (err, code) in cases {
            let message = err.to_string();
            let mapped = ConnectError::from(err);
            assert_eq!((mapped.code, mapped.message), (code, message));
        }
        let wrong = ReconcileError::WrongWorker {
            asked: worker,
            answered: "w2".to_owned(),
        };
        assert_eq!(
            ConnectError::from(wrong).code,
            ConnectCode::PermissionDenied
        );
        Ok(())
    }
}
