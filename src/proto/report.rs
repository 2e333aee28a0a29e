//! Worker reports: `ReportTaskStateRequest` to a [`TaskEvent`].

use super::{ProtoError, ReportTaskStateRequest, decode_task_id, inconsistent, state_field};
use crate::any::{TaskEvent, WorkerReport};
use crate::id::{AttemptId, TaskId, Timestamp, WorkerId};
use crate::state::StateKind;

impl TaskEvent {
    /// A worker's report as the id of the task it is about and the event it means.
    ///
    /// `received_at` stamps BUILDING and RUNNING reports, and terminal ones that carry no
    /// `finished_at_ms`; a terminal report's own `finished_at_ms` (the worker's clock) wins.
    ///
    /// ```
    /// use iris_task::{AttemptId, TaskEvent, Timestamp, WorkerReport, proto};
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
    ///     attempt: AttemptId::new(1),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(50),
    /// });
    /// # Ok::<(), iris_task::ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ProtoError`] for a malformed or inconsistent task id, a negative attempt id, a worker
    /// id that is not one, a SUCCEEDED report with a non-zero exit code, or a state workers do not
    /// report (anything but BUILDING, RUNNING, SUCCEEDED, FAILED and WORKER_FAILED).
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
        WorkerId::new(report.worker_id).map_err(|source| ProtoError::InvalidId {
            field: "ReportTaskStateRequest.worker_id".to_owned(),
            source,
        })?;
        let attempt =
            u32::try_from(report.attempt_id).map_err(|_| ProtoError::NegativeAttemptId {
                field: "ReportTaskStateRequest.attempt_id".to_owned(),
                value: report.attempt_id,
            })?;
        let state = state_field(report.state, || "ReportTaskStateRequest.state".to_owned())?;
        let finished_at = Some(report.finished_at_ms)
            .filter(|&ms| ms != 0)
            .map_or(received_at, Timestamp::from_millis);
        let (report, at) = match state {
            StateKind::Building => (WorkerReport::Building, received_at),
            StateKind::Running => (WorkerReport::Running, received_at),
            StateKind::Succeeded if report.exit_code != 0 => {
                return Err(inconsistent(
                    "ReportTaskStateRequest.exit_code",
                    format!("is {}, but a SUCCEEDED task exits 0", report.exit_code),
                ));
            }
            StateKind::Succeeded => (WorkerReport::Succeeded, finished_at),
            StateKind::Failed => (
                WorkerReport::Failed {
                    exit_code: report.exit_code,
                    error: report.error,
                },
                finished_at,
            ),
            StateKind::WorkerFailed => (
                WorkerReport::WorkerFailed {
                    error: report.error,
                },
                finished_at,
            ),
            StateKind::Pending
            | StateKind::Assigned
            | StateKind::Killed
            | StateKind::Unschedulable => {
                return Err(ProtoError::NotReportable {
                    field: "ReportTaskStateRequest.state".to_owned(),
                    state,
                });
            }
        };
        let event = TaskEvent::Report {
            attempt: AttemptId::new(attempt),
            report,
            at,
        };
        Ok((id, event))
    }
}
