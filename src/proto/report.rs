//! Worker reports: `ReportTaskStateRequest` to a [`TaskEvent`].

use prost::Message;

use super::{
    ProtoError, ReportTaskStateRequest, TaskState, decode_task_id, inconsistent, state_field,
    wire_u32,
};
use crate::any::{TaskEvent, WorkerReport};
use crate::id::{AttemptId, TaskId, Timestamp, WorkerId};
use crate::state::StateKind;

impl ReportTaskStateRequest {
    /// The report a worker sends about `attempt` of `task`: what [`TaskEvent::from_report`]
    /// reads back, for workers (and tests) written in Rust. The task id, job id and index fields
    /// are filled from `task`, so they cannot disagree. `finished_at_ms` stays 0 (unset): the
    /// controller stamps reports with its own clock. An attempt id above `i32::MAX` travels as its
    /// bit pattern, a negative number that `from_report` refuses; Iris never numbers attempts so
    /// high.
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, TaskEvent, TaskId, Timestamp, WorkerId, WorkerReport, proto};
    ///
    /// let task = TaskId::new(JobId::new("job")?, 3);
    /// let worker = WorkerId::new("w1")?;
    /// let failed = WorkerReport::Failed { exit_code: 2, error: "exit 2".into() };
    /// let report = proto::ReportTaskStateRequest::new(&worker, &task, AttemptId::new(1), &failed);
    /// let (id, event) = TaskEvent::from_report(report, Timestamp::from_millis(9))?;
    /// assert_eq!(id, task);
    /// assert_eq!(event, TaskEvent::Report {
    ///     worker,
    ///     attempt: AttemptId::new(1),
    ///     report: failed,
    ///     at: Timestamp::from_millis(9),
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        worker: &WorkerId,
        task: &TaskId,
        attempt: AttemptId,
        report: &WorkerReport,
    ) -> ReportTaskStateRequest {
        let (exit_code, error) = match report {
            WorkerReport::Failed { exit_code, error } => (*exit_code, error.clone()),
            WorkerReport::WorkerFailed { error }
            | WorkerReport::Preempted { error }
            | WorkerReport::Killed { error } => (0, error.clone()),
            WorkerReport::Building
            | WorkerReport::Running
            | WorkerReport::Succeeded
            | WorkerReport::Missing => (0, String::new()),
        };
        let state = match report {
            // MISSING names no state of an attempt: it has its own wire value.
            WorkerReport::Missing => TaskState::Missing,
            _ => TaskState::from(report.state()),
        };
        ReportTaskStateRequest {
            worker_id: worker.as_str().to_owned(),
            task_id: task.to_string(),
            job_id: task.job().as_str().to_owned(),
            task_index: wire_u32(task.index()),
            state: state as i32,
            exit_code,
            error,
            finished_at_ms: 0,
            attempt_id: wire_u32(attempt.get()),
        }
    }
}

impl TaskEvent {
    /// A worker's report as the id of the task it is about and the event it means.
    ///
    /// The event names the report's sender (`worker_id`), so that [`AnyTask::apply`] can refuse
    /// a report about another worker's attempt. It is stamped `received_at`, the controller's
    /// time: worker clocks are not trusted, and a report's own `finished_at_ms` is ignored
    /// (a worker whose clock runs behind would otherwise record an attempt that finished before
    /// it started).
    ///
    /// [`AnyTask::apply`]: crate::AnyTask::apply
    ///
    /// ```
    /// use iris_task::{AttemptId, TaskEvent, Timestamp, WorkerId, WorkerReport, proto};
    ///
    /// let report = proto::ReportTaskStateRequest {
    ///     worker_id: "w1".into(),
    ///     task_id: "job/task-3".into(),
    ///     job_id: "job".into(),
    ///     task_index: 3,
    ///     state: proto::TaskState::Running as i32,
    ///     attempt_id: 1,
    ///     ..Default::default()
    /// };
    /// let (id, event) = TaskEvent::from_report(report, Timestamp::from_millis(50))?;
    /// assert_eq!(id.to_string(), "job/task-3");
    /// assert_eq!(event, TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(1),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(50),
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`ProtoError`] for a malformed or inconsistent task id, a negative attempt id, a worker
    /// id that is not one, a SUCCEEDED report with a non-zero exit code, or a state workers do not
    /// report (anything but BUILDING, RUNNING, SUCCEEDED, FAILED, WORKER_FAILED, PREEMPTED,
    /// KILLED and MISSING, which read as the [`WorkerReport`] of the same name; a number no state
    /// has, from a newer peer, is [`ProtoError::UnknownState`]).
    pub fn from_report(
        report: ReportTaskStateRequest,
        received_at: Timestamp,
    ) -> Result<(TaskId, TaskEvent), ProtoError> {
        let id = decode_task_id(
            "ReportTaskStateRequest",
            &report.task_id,
            report.job_id,
            report.task_index,
        )?;
        let worker = WorkerId::new(report.worker_id).map_err(|source| ProtoError::InvalidId {
            field: "ReportTaskStateRequest.worker_id".to_owned(),
            source,
        })?;
        let attempt =
            u32::try_from(report.attempt_id).map_err(|_| ProtoError::NegativeAttemptId {
                field: "ReportTaskStateRequest.attempt_id".to_owned(),
                value: report.attempt_id,
            })?;
        let report = worker_report(
            "ReportTaskStateRequest",
            report.state,
            report.exit_code,
            report.error,
        )?;
        let event = TaskEvent::Report {
            worker,
            attempt: AttemptId::new(attempt),
            report,
            at: received_at,
        };
        Ok((id, event))
    }

    /// A worker's report decoded from bytes, as [`TaskEvent::from_report`] reads it: one call,
    /// one error type.
    ///
    /// ```
    /// use iris_task::{ProtoError, TaskEvent, Timestamp, proto};
    /// use iris_task::prost::Message;
    ///
    /// let bytes = proto::ReportTaskStateRequest {
    ///     worker_id: "w1".into(),
    ///     task_id: "job/task-0".into(),
    ///     job_id: "job".into(),
    ///     state: proto::TaskState::Succeeded as i32,
    ///     ..Default::default()
    /// }
    /// .encode_to_vec();
    /// let (id, event) = TaskEvent::decode_report(&bytes, Timestamp::from_millis(7))?;
    /// assert_eq!((id.to_string(), event.name()), ("job/task-0".to_owned(), "report SUCCEEDED"));
    /// assert!(matches!(
    ///     TaskEvent::decode_report(b"\xff", Timestamp::from_millis(7)),
    ///     Err(ProtoError::Decode { message: "ReportTaskStateRequest", .. })
    /// ));
    /// # Ok::<(), ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::Decode`] for bytes that are not a `ReportTaskStateRequest`, and every error
    /// of [`TaskEvent::from_report`].
    pub fn decode_report(
        bytes: &[u8],
        received_at: Timestamp,
    ) -> Result<(TaskId, TaskEvent), ProtoError> {
        let report =
            ReportTaskStateRequest::decode(bytes).map_err(|source| ProtoError::Decode {
                message: "ReportTaskStateRequest",
                source,
            })?;
        TaskEvent::from_report(report, received_at)
    }
}

/// What a worker says of an attempt in `message` (a seed-era report, or today's
/// `AttemptObservation`): `state` (MISSING included), with the exit code and error it came with.
/// The states only the controller decides are refused, naming `{message}.state`.
pub(crate) fn worker_report(
    message: &str,
    state: i32,
    exit_code: i32,
    error: String,
) -> Result<WorkerReport, ProtoError> {
    if state == TaskState::Missing as i32 {
        return Ok(WorkerReport::Missing);
    }
    let state = state_field(state, || format!("{message}.state"))?;
    Ok(match state {
        StateKind::Building => WorkerReport::Building,
        StateKind::Running => WorkerReport::Running,
        StateKind::Succeeded if exit_code != 0 => {
            return Err(inconsistent(
                format!("{message}.exit_code"),
                format!("is {exit_code}, but a SUCCEEDED task exits 0"),
            ));
        }
        StateKind::Succeeded => WorkerReport::Succeeded,
        StateKind::Failed => WorkerReport::Failed { exit_code, error },
        StateKind::WorkerFailed => WorkerReport::WorkerFailed { error },
        StateKind::Preempted => WorkerReport::Preempted { error },
        StateKind::Killed => WorkerReport::Killed { error },
        StateKind::Pending
        | StateKind::Assigned
        | StateKind::Unschedulable
        | StateKind::CoschedFailed => {
            return Err(ProtoError::NotReportable {
                field: format!("{message}.state"),
                state,
            });
        }
    })
}
