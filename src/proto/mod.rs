//! The Iris wire format: the protobuf types of `iris.cluster`, and the conversions between them
//! and the typed lifecycle.
//!
//! The types are generated at build time from `proto/iris/cluster.proto` by prost-build, fed by
//! protox (a protobuf compiler written in Rust, so no `protoc` is needed), and keep prost's naming:
//! enum prefixes are stripped (`TaskState::Assigned`), fields keep their proto names. The
//! generated code is never edited; the conversions sit beside it.
//!
//! Two names here are also names at the crate root, for the same ideas on the wire:
//! [`proto::JobState`](JobState) is the wire enum a [`JobStatus`] carries, converted from the
//! crate's [`crate::JobState`]; [`TaskState`] is the wire enum of [`crate::StateKind`].
//!
//! `TaskState` keeps the historical numbers of Iris; ASSIGNED took the next free value, 9, so no
//! existing value changes meaning, and today's Iris continues with PREEMPTED = 10,
//! COSCHED_FAILED = 11 and MISSING = 12. MISSING is only ever a worker's report (the worker has no
//! record of the attempt), never a task's or an attempt's state. Decoding never guesses:
//! UNSPECIFIED (0), MISSING where a state is read, and numbers no state has are errors, not a
//! default.
//!
//! ```
//! use iris_task::{proto, ProtoError, StateKind};
//!
//! assert_eq!(proto::TaskState::from(StateKind::Assigned) as i32, 9);
//! assert_eq!(StateKind::try_from(9)?, StateKind::Assigned);
//! assert_eq!(StateKind::try_from(10)?, StateKind::Preempted);
//! assert_eq!(StateKind::try_from(11)?, StateKind::CoschedFailed);
//! assert!(matches!(StateKind::try_from(12), Err(ProtoError::ReportOnlyState { .. })));
//! assert!(StateKind::try_from(proto::TaskState::Unspecified).is_err());
//! assert!(StateKind::try_from(13).is_err(), "a newer peer's state");
//! # Ok::<(), iris_task::ProtoError>(())
//! ```

mod job;
pub(crate) use job::job_times;
mod report;
pub(crate) use report::worker_report;
mod task;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use task::status_with_attempts_from;

// The code prost-build generates from `proto/iris/cluster.proto`, kept apart so that the crate's
// hand-written lint rules do not judge it (prost-build's own layout). Every item is re-exported
// from here.
generated_code!(mod generated = "/iris.cluster.rs");

pub use generated::*;

use crate::id::{IdError, JobId, TaskId, WorkerId, split_task_id};
use crate::state::StateKind;

impl From<StateKind> for TaskState {
    fn from(kind: StateKind) -> TaskState {
        match kind {
            StateKind::Pending => TaskState::Pending,
            StateKind::Assigned => TaskState::Assigned,
            StateKind::Building => TaskState::Building,
            StateKind::Running => TaskState::Running,
            StateKind::Succeeded => TaskState::Succeeded,
            StateKind::Failed => TaskState::Failed,
            StateKind::Killed => TaskState::Killed,
            StateKind::WorkerFailed => TaskState::WorkerFailed,
            StateKind::Unschedulable => TaskState::Unschedulable,
            StateKind::Preempted => TaskState::Preempted,
            StateKind::CoschedFailed => TaskState::CoschedFailed,
        }
    }
}

/// Reads a state field: UNSPECIFIED, MISSING (a report, never a state) and unknown numbers are
/// errors naming `field`.
pub(crate) fn state_field(
    value: i32,
    field: impl FnOnce() -> String,
) -> Result<StateKind, ProtoError> {
    Ok(match TaskState::try_from(value) {
        Ok(TaskState::Pending) => StateKind::Pending,
        Ok(TaskState::Assigned) => StateKind::Assigned,
        Ok(TaskState::Building) => StateKind::Building,
        Ok(TaskState::Running) => StateKind::Running,
        Ok(TaskState::Succeeded) => StateKind::Succeeded,
        Ok(TaskState::Failed) => StateKind::Failed,
        Ok(TaskState::Killed) => StateKind::Killed,
        Ok(TaskState::WorkerFailed) => StateKind::WorkerFailed,
        Ok(TaskState::Unschedulable) => StateKind::Unschedulable,
        Ok(TaskState::Preempted) => StateKind::Preempted,
        Ok(TaskState::CoschedFailed) => StateKind::CoschedFailed,
        Ok(TaskState::Unspecified) => return Err(ProtoError::UnspecifiedState { field: field() }),
        Ok(TaskState::Missing) => return Err(ProtoError::ReportOnlyState { field: field() }),
        Err(_) => {
            return Err(ProtoError::UnknownState {
                field: field(),
                value,
            });
        }
    })
}

impl TryFrom<TaskState> for StateKind {
    type Error = ProtoError;

    /// The state a wire value names; [`TaskState::Unspecified`] is an error.
    fn try_from(state: TaskState) -> Result<StateKind, ProtoError> {
        StateKind::try_from(state as i32)
    }
}

impl TryFrom<i32> for StateKind {
    type Error = ProtoError;

    /// The state a wire number names; 0 (UNSPECIFIED), 12 (MISSING, a report that names no
    /// state) and numbers no state has are errors.
    fn try_from(value: i32) -> Result<StateKind, ProtoError> {
        state_field(value, || "TaskState".to_owned())
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
/// let err = StateKind::try_from(13).unwrap_err();
/// assert_eq!(err.to_string(), "TaskState: 13 is not a known task state");
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
    /// A state field holds MISSING (12): what a worker reports about an attempt it has no record
    /// of, never the state of a task or an attempt.
    #[error(
        "{field}: TASK_STATE_MISSING (12) is only a worker's report about an attempt it has no record of, never a task's or an attempt's state"
    )]
    ReportOnlyState {
        /// The field, e.g. `"TaskStatus.attempts[1].state"`.
        field: String,
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
    /// A worker report of a state only the controller decides (PENDING, ASSIGNED,
    /// UNSCHEDULABLE, COSCHED_FAILED).
    #[error(
        "{field}: workers report BUILDING, RUNNING, SUCCEEDED, FAILED, WORKER_FAILED, PREEMPTED, KILLED or MISSING, not {state}"
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

impl ProtoError {
    /// The same error with its field renamed by `rename`: today's wire reuses the seed-era
    /// checks, and names its own fields (`started_at`, not `started_at_ms`).
    pub(crate) fn renamed(self, rename: impl Fn(&str) -> String) -> ProtoError {
        use ProtoError as E;
        match self {
            E::Decode { .. } => self,
            E::UnspecifiedState { field } => E::UnspecifiedState {
                field: rename(&field),
            },
            E::UnknownState { field, value } => E::UnknownState {
                field: rename(&field),
                value,
            },
            E::ReportOnlyState { field } => E::ReportOnlyState {
                field: rename(&field),
            },
            E::InvalidId { field, source } => E::InvalidId {
                field: rename(&field),
                source,
            },
            E::Missing { field, why } => E::Missing {
                field: rename(&field),
                why,
            },
            E::Inconsistent { field, problem } => E::Inconsistent {
                field: rename(&field),
                problem,
            },
            E::WrongState {
                field,
                expected,
                found,
            } => E::WrongState {
                field: rename(&field),
                expected,
                found,
            },
            E::NotReportable { field, state } => E::NotReportable {
                field: rename(&field),
                state,
            },
            E::NegativeAttemptId { field, value } => E::NegativeAttemptId {
                field: rename(&field),
                value,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers of the conversions
// ---------------------------------------------------------------------------------------------

/// The wire's int32 for a u32 id or index: the same 32 bits, so that every value round-trips
/// (values above `i32::MAX`, which Iris never uses, read as negative numbers).
pub(crate) fn wire_u32(value: u32) -> i32 {
    i32::from_ne_bytes(value.to_ne_bytes())
}

pub(crate) fn from_wire_u32(value: i32) -> u32 {
    u32::from_ne_bytes(value.to_ne_bytes())
}

pub(crate) fn inconsistent(field: impl Into<String>, problem: impl Into<String>) -> ProtoError {
    ProtoError::Inconsistent {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Ids decoded before, shared by those decoded after: a store decodes a million tasks of a few
/// jobs run by a few thousand workers, and each task would otherwise hold its own copy of its
/// job's and its workers' names (an allocation each while loading, and memory for good).
#[derive(Debug, Default)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct Interner {
    /// The job of the task decoded last: a store reads tasks in id order, so a job's tasks come
    /// together.
    job: Option<JobId>,
    workers: hashbrown::HashSet<WorkerId>,
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl Interner {
    fn job(&mut self, text: String) -> Result<JobId, IdError> {
        if let Some(job) = self.job.as_ref().filter(|job| job.as_str() == text) {
            return Ok(job.clone());
        }
        let job = JobId::new(text)?;
        self.job = Some(job.clone());
        Ok(job)
    }

    pub(crate) fn worker(&mut self, text: String) -> Result<WorkerId, IdError> {
        if let Some(worker) = self.workers.get(text.as_str()) {
            return Ok(worker.clone());
        }
        let worker = WorkerId::new(text)?;
        self.workers.insert(worker.clone());
        Ok(worker)
    }
}

/// Checks a task id field against the job id and index fields beside it.
pub(crate) fn decode_task_id(
    message: &str,
    task_id: &str,
    job_id: String,
    task_index: i32,
) -> Result<TaskId, ProtoError> {
    decode_task_id_with(message, task_id, job_id, task_index, None)
}

/// [`decode_task_id`], sharing the job's id through `ids` when given.
pub(crate) fn decode_task_id_with(
    message: &str,
    task_id: &str,
    job_id: String,
    task_index: i32,
    ids: Option<&mut Interner>,
) -> Result<TaskId, ProtoError> {
    let (job, index) = split_task_id(task_id).map_err(|source| ProtoError::InvalidId {
        field: format!("{message}.task_id"),
        source,
    })?;
    if job != job_id {
        return Err(inconsistent(
            format!("{message}.job_id"),
            format!("is {job_id:?}, but task_id {task_id:?} belongs to job {job:?}"),
        ));
    }
    if index != from_wire_u32(task_index) {
        return Err(inconsistent(
            format!("{message}.task_index"),
            format!("is {task_index}, but task_id {task_id:?} has index {index}"),
        ));
    }
    // The job id field equals the task id's job part, which `split_task_id` checked.
    let job = match ids {
        Some(ids) => ids.job(job_id).map_err(|source| ProtoError::InvalidId {
            field: format!("{message}.job_id"),
            source,
        })?,
        None => JobId::checked(job_id),
    };
    Ok(TaskId::new(job, index))
}
