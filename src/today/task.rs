//! Tasks and jobs on today's wire: `iris.job.TaskStatus` / `TaskAttempt` / `JobStatus`.
//!
//! Today's messages say what the seed-era ones say, with paths for ids and `iris.time`
//! messages for times. So the conversions go through the seed-era ones, field by field, and
//! share their checks: a task is decoded by the one decoder the crate has, and the only code
//! here moves fields between the two shapes and names today's fields in the errors.

use super::{job, time};
use crate::any::AnyTask;
use crate::id::{TaskId, Timestamp};
use crate::policy::RetryPolicy;
use crate::proto::{self as seed, ProtoError};
use crate::state::{State, StateKind};
use crate::table::{Job, TaskTable};
use crate::task::Task;

/// `ms` as an `iris.time.Timestamp`.
pub(crate) fn timestamp(ms: i64) -> time::Timestamp {
    time::Timestamp { epoch_ms: Some(ms) }
}

/// An `iris.time.Timestamp`'s milliseconds: a message present without its field is the epoch,
/// as Iris's Python reads it.
pub(crate) fn millis(at: Option<&time::Timestamp>) -> Option<i64> {
    at.map(|at| at.epoch_ms.unwrap_or(0))
}

/// Today's names of the fields the seed-era checks name: times are messages, not `_ms`
/// numbers, and the assignment time is the crate's `assigned_at` (field 100).
fn today_field(field: &str) -> String {
    field
        .replace("started_at_ms", "started_at")
        .replace("finished_at_ms", "finished_at")
        .replace("assigned_at_ms", "assigned_at")
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

// ---------------------------------------------------------------------------------------------
// Typed → today's wire
// ---------------------------------------------------------------------------------------------

impl From<&AnyTask> for job::TaskStatus {
    /// The task as today's Iris writes it: its id as a path (`/alice/train/0`), times as
    /// `iris.time.Timestamp`s, every attempt with its uid, and the crate's own assignment time
    /// in field 100 (Iris ignores it; a crate peer reads it back). `worker_address` is left
    /// unset: the table does not know addresses, and a controller that does sets it.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId, today::job};
    ///
    /// let task = Task::new(TaskId::from_path("/alice/train/0")?, RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(5))
    ///     .into_any();
    /// let status = job::TaskStatus::from(&task);
    /// assert_eq!(status.task_id.as_deref(), Some("/alice/train/0"));
    /// assert_eq!(status.state, Some(job::TaskState::Assigned as i32));
    /// let uid = task.attempts()[0].uid().to_string();
    /// assert_eq!(status.attempts[0].attempt_uid.as_deref(), Some(uid.as_str()));
    /// assert_eq!(AnyTask::from_today(status, RetryPolicy::default())?, task);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from(task: &AnyTask) -> job::TaskStatus {
        status_to_today(seed::TaskStatus::from(task), task.id())
    }
}

impl<S: State> From<&Task<S>> for job::TaskStatus {
    /// As `From<&AnyTask>`.
    fn from(task: &Task<S>) -> job::TaskStatus {
        status_to_today(seed::TaskStatus::from(task), task.id())
    }
}

fn status_to_today(status: seed::TaskStatus, id: &TaskId) -> job::TaskStatus {
    let ended = status.finished_at_ms.is_some();
    let pending = status.state == seed::TaskState::Pending as i32;
    let attempts: Vec<job::TaskAttempt> =
        status.attempts.into_iter().map(attempt_to_today).collect();
    // As Iris's controller writes a task (`tasks.py`, `task_to_proto`): the worker of its current
    // attempt unless it is pending, the times of its current attempt. The crate's own end time
    // of a task that has ended travels in `ended_at`.
    let current = attempts.last();
    job::TaskStatus {
        task_id: Some(id.path()),
        state: Some(status.state),
        worker_id: non_empty(status.worker_id)
            .filter(|worker| !pending && (!ended || worker != REMOVED_WORKER)),
        exit_code: Some(status.exit_code).filter(|_| ended),
        error: non_empty(status.error),
        started_at: current.and_then(|attempt| attempt.started_at),
        finished_at: current.and_then(|attempt| attempt.finished_at),
        ended_at: status.finished_at_ms.map(timestamp),
        current_attempt_id: Some(status.current_attempt_id),
        attempts,
        can_be_scheduled: Some(status.can_be_scheduled),
        ..job::TaskStatus::default()
    }
}

fn attempt_to_today(attempt: seed::TaskAttempt) -> job::TaskAttempt {
    let closed = attempt.finished_at_ms.is_some();
    // As Iris writes an attempt whose stop its worker has not confirmed: no finish yet. The
    // crate's close time travels in its own field.
    let (finished_at, stopped_at) = if attempt.awaiting_stop {
        (None, attempt.finished_at_ms)
    } else {
        (attempt.finished_at_ms, None)
    };
    let error = non_empty(attempt.error);
    job::TaskAttempt {
        attempt_id: Some(attempt.attempt_id),
        // Written back as Iris wrote it: a closed attempt of a removed worker has none.
        worker_id: Some(attempt.worker_id).filter(|worker| !closed || worker != REMOVED_WORKER),
        state: Some(attempt.state),
        exit_code: Some(attempt.exit_code).filter(|_| closed),
        error,
        started_at: attempt.started_at_ms.map(timestamp),
        finished_at: finished_at.map(timestamp),
        stopped_at: stopped_at.map(timestamp),
        is_worker_failure: Some(attempt.is_worker_failure),
        attempt_uid: attempt.attempt_uid,
        assigned_at: attempt.assigned_at_ms.map(timestamp),
        ..job::TaskAttempt::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Today's wire → typed
// ---------------------------------------------------------------------------------------------

impl AnyTask {
    /// Rebuilds a task from today's `iris.job.TaskStatus`, with the checks of
    /// [`from_proto`](AnyTask::from_proto): a status the lifecycle cannot produce is refused
    /// with a [`ProtoError`] naming today's field (`TaskStatus.attempts[1].finished_at`).
    ///
    /// The task id must be a path ([`TaskId::from_path`]) and every attempt must carry its
    /// `attempt_uid` (Iris always sends one). Today's `TaskAttempt` has no assignment time: an
    /// attempt without the crate's `assigned_at` (field 100) is dated as
    /// [`from_proto`](AnyTask::from_proto) dates one without `assigned_at_ms` — a closed one by
    /// its start or finish, an open one refused: use
    /// [`from_today_received`](AnyTask::from_today_received) for a status from Iris that may
    /// hold an open attempt. A failed attempt with no `error` takes its `terminal_reason`.
    ///
    /// # Errors
    /// A [`ProtoError`] naming the field; nothing is built.
    pub fn from_today(status: job::TaskStatus, policy: RetryPolicy) -> Result<AnyTask, ProtoError> {
        let mut status = status;
        today_to_task(&mut status, policy, None)
    }

    /// [`from_today`](AnyTask::from_today) for a status received at `received_at`: an open
    /// attempt without an assignment time is dated then (never before the attempt before it
    /// ended, never after its own start), as [`from_proto_received`](AnyTask::from_proto_received)
    /// dates one.
    ///
    /// ```
    /// use iris_task::{AnyTask, RetryPolicy, StateKind, Timestamp, today::{job, time}};
    ///
    /// // A running task as Iris's controller writes it: no assignment time.
    /// let status = job::TaskStatus {
    ///     task_id: Some("/alice/train/0".into()),
    ///     state: Some(job::TaskState::Running as i32),
    ///     worker_id: Some("w1".into()),
    ///     current_attempt_id: Some(0),
    ///     started_at: Some(time::Timestamp { epoch_ms: Some(2_000) }),
    ///     attempts: vec![job::TaskAttempt {
    ///         attempt_id: Some(0),
    ///         worker_id: Some("w1".into()),
    ///         state: Some(job::TaskState::Running as i32),
    ///         started_at: Some(time::Timestamp { epoch_ms: Some(2_000) }),
    ///         attempt_uid: Some("3f2a9c0d11e4b7a8".into()),
    ///         ..Default::default()
    ///     }],
    ///     ..Default::default()
    /// };
    /// assert!(AnyTask::from_today(status.clone(), RetryPolicy::default()).is_err());
    /// let task = AnyTask::from_today_received(status, RetryPolicy::default(), Timestamp::from_millis(9_000))?;
    /// assert_eq!(task.state(), StateKind::Running);
    /// // Dated on receipt, but never after its own start.
    /// assert_eq!(task.attempts()[0].assigned_at(), Timestamp::from_millis(2_000));
    /// assert_eq!(task.attempts()[0].uid().to_string(), "3f2a9c0d11e4b7a8");
    /// # Ok::<(), iris_task::ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_today`](AnyTask::from_today).
    pub fn from_today_received(
        status: job::TaskStatus,
        policy: RetryPolicy,
        received_at: Timestamp,
    ) -> Result<AnyTask, ProtoError> {
        let mut status = status;
        today_to_task(&mut status, policy, Some(received_at))
    }

    /// Decodes an `iris.job.TaskStatus` from bytes, then [`from_today`](AnyTask::from_today):
    /// for a status the crate wrote (it carries every attempt's times).
    ///
    /// # Errors
    /// [`ProtoError::Decode`] for bytes that are not a `TaskStatus`, or as `from_today`.
    pub fn decode_today(bytes: &[u8], policy: RetryPolicy) -> Result<AnyTask, ProtoError> {
        today_to_task(&mut decode_today_status(bytes)?, policy, None)
    }

    /// The task as today's `iris.job.TaskStatus`, encoded: `job::TaskStatus::from(&task)`'s
    /// bytes. ([`encode_to_vec`](AnyTask::encode_to_vec) writes the seed-era wire's.)
    pub fn encode_today_to_vec(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&job::TaskStatus::from(self))
    }

    /// Decodes an `iris.job.TaskStatus` from bytes, then [`from_today_received`](AnyTask::from_today_received).
    ///
    /// # Errors
    /// [`ProtoError::Decode`] for bytes that are not a `TaskStatus`, or as `from_today_received`.
    pub fn decode_today_received(
        bytes: &[u8],
        policy: RetryPolicy,
        received_at: Timestamp,
    ) -> Result<AnyTask, ProtoError> {
        today_to_task(&mut decode_today_status(bytes)?, policy, Some(received_at))
    }
}

fn decode_today_status(bytes: &[u8]) -> Result<job::TaskStatus, ProtoError> {
    <job::TaskStatus as prost::Message>::decode(bytes).map_err(|source| ProtoError::Decode {
        message: "iris.job.TaskStatus",
        source,
    })
}

/// The task today's `TaskStatus` describes: the status in the seed-era shape the decoder checks,
/// read as Iris's controller writes it (`tasks.py`, `task_to_proto`), then decoded:
///
/// - the task's `finished_at`, `error` and `exit_code` echo its current attempt's, even while the
///   task is pending again: only a task that has ended keeps them;
/// - an attempt the controller ended is terminal with no `finished_at` until its worker confirms
///   the stop (kind J), and a task that ended while pending has no `finished_at` at all: with
///   `received_at`, both are dated then (never before the attempt's start), as an open attempt
///   is; without it, the decoder refuses them, naming the field;
/// - an attempt whose worker Iris has since removed has no `worker_id`: a closed one gets
///   [`REMOVED_WORKER`].
fn today_to_task(
    status: &mut job::TaskStatus,
    policy: RetryPolicy,
    received_at: Option<Timestamp>,
) -> Result<AnyTask, ProtoError> {
    let Some(path) = status.task_id.as_deref() else {
        return Err(ProtoError::Missing {
            field: "TaskStatus.task_id".to_owned(),
            why: "a task is named by its id",
        });
    };
    let id = TaskId::from_path(path).map_err(|source| ProtoError::InvalidId {
        field: "TaskStatus.task_id".to_owned(),
        source,
    })?;
    // Iris writes -1 for a task that never had an attempt; a peer that leaves it out means the
    // last attempt, or none.
    let current = status.current_attempt_id.unwrap_or_else(|| {
        status
            .attempts
            .last()
            .map_or(-1, |attempt| attempt.attempt_id.unwrap_or(0))
    });
    let state = status.state.unwrap_or(0);
    let ended = StateKind::try_from(state).is_ok_and(StateKind::is_terminal);
    // When the task ended: the crate's `ended_at`, else Iris's `finished_at` (its current
    // attempt's), else (ended while pending, or a stop not yet confirmed) on receipt.
    let finished_at_ms = if ended {
        millis(status.ended_at.as_ref())
            .or_else(|| millis(status.finished_at.as_ref()))
            .or_else(|| {
                let last = status.attempts.last()?;
                attempt_finish(last, closed(last), received_at)
            })
            .or(received_at.map(Timestamp::as_millis))
    } else {
        None
    };
    // The id travels beside the status, already checked: the seed-era id fields stay empty.
    let mut seed = seed::TaskStatus {
        state,
        worker_id: status.worker_id.take().unwrap_or_default(),
        worker_address: status.worker_address.take().unwrap_or_default(),
        exit_code: status.exit_code.filter(|_| ended).unwrap_or(0),
        error: status.error.take().filter(|_| ended).unwrap_or_default(),
        started_at_ms: millis(status.started_at.as_ref()),
        finished_at_ms,
        current_attempt_id: current,
        pending_reason: status.pending_reason.take().unwrap_or_default(),
        can_be_scheduled: status.can_be_scheduled.unwrap_or(false),
        ..seed::TaskStatus::default()
    };
    // The attempts are converted as the decoder reads them, with no second list.
    let attempts = status
        .attempts
        .iter_mut()
        .enumerate()
        .map(|(index, attempt)| attempt_to_seed(index, attempt, received_at));
    AnyTask::from_proto_with_id(&mut seed, attempts, id, policy, received_at)
        .map_err(|err| err.renamed(today_field))
}

/// The worker of an attempt Iris reports without one: Iris clears an attempt's worker when it
/// removes the worker (a lost worker, say), and the crate names every attempt's worker. Only a
/// closed attempt may have it; today's wire writes it back as Iris does, empty.
pub const REMOVED_WORKER: &str = "(removed)";

/// Whether today's attempt is closed (its state is known and not active).
fn closed(attempt: &job::TaskAttempt) -> bool {
    StateKind::try_from(attempt.state.unwrap_or(0)).is_ok_and(|state| !state.is_active())
}

/// When today's attempt finished, in the seed-era field: its `finished_at`; for an attempt the
/// controller ended whose stop the worker has not confirmed, the crate's `stopped_at`, or else
/// on receipt (never before its start).
fn attempt_finish(
    attempt: &job::TaskAttempt,
    closed: bool,
    received_at: Option<Timestamp>,
) -> Option<i64> {
    millis(attempt.finished_at.as_ref())
        .or_else(|| millis(attempt.stopped_at.as_ref()).filter(|_| closed))
        .or_else(|| {
            let received = received_at.filter(|_| closed)?.as_millis();
            let since = millis(attempt.started_at.as_ref())
                .or_else(|| millis(attempt.assigned_at.as_ref()));
            Some(received.max(since.unwrap_or(received)))
        })
}

fn attempt_to_seed(
    index: usize,
    attempt: &mut job::TaskAttempt,
    received_at: Option<Timestamp>,
) -> Result<seed::TaskAttempt, ProtoError> {
    let Some(uid) = attempt.attempt_uid.take() else {
        return Err(ProtoError::Missing {
            field: format!("TaskStatus.attempts[{index}].attempt_uid"),
            why: "today's Iris names every attempt by its uid",
        });
    };
    let Some(attempt_id) = attempt.attempt_id else {
        return Err(ProtoError::Missing {
            field: format!("TaskStatus.attempts[{index}].attempt_id"),
            why: "attempts are numbered 0, 1, 2, ...",
        });
    };
    let state = attempt.state.unwrap_or(0);
    let closed = closed(attempt);
    // A worker Iris removed owes no stop: it runs nothing any more.
    let removed = attempt.worker_id.as_deref().unwrap_or_default().is_empty();
    let started_at_ms = millis(attempt.started_at.as_ref());
    let assigned_at_ms = millis(attempt.assigned_at.as_ref());
    let awaiting_stop = closed && millis(attempt.finished_at.as_ref()).is_none() && !removed;
    let finished_at_ms = attempt_finish(attempt, closed, received_at);
    let worker_id = match attempt.worker_id.take() {
        Some(worker) if worker == REMOVED_WORKER => {
            return Err(ProtoError::Inconsistent {
                field: format!("TaskStatus.attempts[{index}].worker_id"),
                problem: format!(
                    "is {REMOVED_WORKER:?}, the crate's name for a worker Iris removed, which \
                     today's wire writes as no worker"
                ),
            });
        }
        Some(worker) if !worker.is_empty() => worker,
        _ if closed => REMOVED_WORKER.to_owned(),
        _ => String::new(),
    };
    Ok(seed::TaskAttempt {
        attempt_id,
        worker_id,
        state,
        exit_code: attempt.exit_code.unwrap_or(0),
        error: attempt
            .error
            .take()
            .filter(|error| !error.is_empty())
            .or_else(|| attempt.terminal_reason.take())
            .unwrap_or_default(),
        started_at_ms,
        finished_at_ms,
        is_worker_failure: attempt.is_worker_failure.unwrap_or(false),
        assigned_at_ms,
        attempt_uid: Some(uid),
        awaiting_stop,
    })
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

impl job::JobStatus {
    /// The status of `job` on today's wire, with its `tasks` (as
    /// [`TaskTable::tasks_of`](crate::TaskTable::tasks_of) yields them): what
    /// [`proto::JobStatus::from_job`](seed::JobStatus::from_job) says, with the job's id as its
    /// path, times as `iris.time.Timestamp`s, today's task statuses, and the counts Iris adds:
    /// `task_count`, and `completed_count` (SUCCEEDED and KILLED tasks, as Iris counts them).
    /// [`TaskTable::today_job_status`] is the short way.
    ///
    /// # Errors
    /// [`ProtoError::Inconsistent`] if a task belongs to another job.
    pub fn from_job<'a>(
        job: &Job<'_>,
        tasks: impl IntoIterator<Item = &'a AnyTask>,
    ) -> Result<job::JobStatus, ProtoError> {
        let mut tasks: Vec<&AnyTask> = tasks.into_iter().collect();
        tasks.sort_by(|a, b| a.id().cmp(b.id()));
        let summary = seed::JobStatus::from_job(job, tasks.iter().copied())?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let completed = tasks
            .iter()
            .filter(|task| matches!(task.state(), StateKind::Succeeded | StateKind::Killed))
            .count();
        let times = seed::job_times(job, &tasks);
        Ok(job::JobStatus {
            job_id: Some(job.id().as_str().to_owned()),
            state: Some(summary.state),
            exit_code: Some(summary.exit_code).filter(|&code| code != 0),
            error: non_empty(summary.error),
            started_at: times.started_at.map(|at| timestamp(at.as_millis())),
            finished_at: times.finished_at.map(|at| timestamp(at.as_millis())),
            failure_count: Some(summary.failure_count),
            preemption_count: Some(summary.preemption_count),
            tasks: tasks
                .iter()
                .map(|task| job::TaskStatus::from(*task))
                .collect(),
            task_state_counts: summary.task_state_counts,
            task_count: Some(count(tasks.len())),
            completed_count: Some(count(completed)),
            ..job::JobStatus::default()
        })
    }
}

impl TaskTable {
    /// The job's status on today's wire ([`job::JobStatus::from_job`] with its tasks); `None`
    /// for a job the table knows nothing of.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId, today::job};
    ///
    /// let job = JobId::from_path("/alice/train")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// table.assign(&TaskId::new(job.clone(), 0), WorkerId::new("w1")?, Timestamp::from_millis(7))?;
    /// let status = table.today_job_status(&job).unwrap();
    /// assert_eq!(status.job_id.as_deref(), Some("/alice/train"));
    /// assert_eq!(status.state, Some(job::JobState::Running as i32));
    /// assert_eq!(status.started_at.and_then(|at| at.epoch_ms), Some(7));
    /// assert_eq!(status.tasks[0].task_id.as_deref(), Some("/alice/train/0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn today_job_status(&self, job: &crate::JobId) -> Option<job::JobStatus> {
        job::JobStatus::from_job(&self.job(job)?, self.tasks_of(job)).ok()
    }
}
