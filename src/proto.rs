//! The Iris wire format: the protobuf types of `iris.cluster`, and the conversions between them
//! and the typed lifecycle.
//!
//! The types are generated at build time from `proto/iris/cluster.proto` by prost-build, fed by
//! protox (a protobuf compiler written in Rust, so no `protoc` is needed), and keep prost's naming:
//! enum prefixes are stripped (`TaskState::Assigned`), fields keep their proto names. The
//! generated code is never edited; the conversions sit beside it.
//!
//! `TaskState` keeps the historical numbers of Iris; ASSIGNED took the next free value, 9, so no
//! existing value changes meaning. Decoding never guesses: UNSPECIFIED (0) and numbers no state has
//! are errors, not a default.
//!
//! ```
//! use iris_task::{proto, StateKind};
//!
//! assert_eq!(proto::TaskState::from(StateKind::Assigned) as i32, 9);
//! assert_eq!(StateKind::try_from(9)?, StateKind::Assigned);
//! assert!(StateKind::try_from(proto::TaskState::Unspecified).is_err());
//! assert!(StateKind::try_from(10).is_err());
//! # Ok::<(), iris_task::ProtoError>(())
//! ```

include!(concat!(env!("OUT_DIR"), "/iris.cluster.rs"));

use crate::error::ProtoError;
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
        }
    }
}

/// Reads a state field: UNSPECIFIED and unknown numbers are errors naming `field`.
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
        Ok(TaskState::Unspecified) => return Err(ProtoError::UnspecifiedState { field: field() }),
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

    /// The state a wire number names; 0 (UNSPECIFIED) and numbers no state has are errors.
    fn try_from(value: i32) -> Result<StateKind, ProtoError> {
        state_field(value, || "TaskState".to_owned())
    }
}
