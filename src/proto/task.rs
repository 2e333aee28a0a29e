//! Tasks to and from `TaskStatus`.

use std::borrow::BorrowMut;
use std::collections::HashMap;

use prost::Message;

use super::{
    Interner, ProtoError, TaskAttempt, TaskState, TaskStatus, decode_task_id_with, inconsistent,
    state_field, wire_u32,
};
use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{AttemptId, TaskId, Timestamp, WorkerId};
use crate::policy::RetryPolicy;
use crate::state::{State, StateKind};
use crate::task::{Core, Decoded, Ending, Task, reason};
use crate::uid::AttemptUid;

// ---------------------------------------------------------------------------------------------
// Typed → wire
// ---------------------------------------------------------------------------------------------

impl<S: State> From<&Task<S>> for TaskStatus {
    /// The task as an Iris dashboard shows it: every attempt, the current worker, and the
    /// task-level exit code, error and times.
    fn from(task: &Task<S>) -> TaskStatus {
        status_of(task.core(), S::KIND)
    }
}

impl From<&AnyTask> for TaskStatus {
    fn from(task: &AnyTask) -> TaskStatus {
        status_of(task.core(), task.state())
    }
}

fn status_of(core: &Core, state: StateKind) -> TaskStatus {
    status_from(core, state, 0)
}

/// The task's status with its attempts from `first` on only: what a store writes of a task whose
/// earlier attempts it already holds (they never change once closed).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn status_with_attempts_from(task: &AnyTask, first: usize) -> TaskStatus {
    status_from(task.core(), task.state(), first)
}

fn status_from(core: &Core, state: StateKind, first: usize) -> TaskStatus {
    let current = core.attempts().last();
    // A requeued task shows why its last attempt ended.
    let (exit_code, error) = core.outcome();
    TaskStatus {
        task_id: core.id().to_string(),
        job_id: core.id().job().as_str().to_owned(),
        task_index: wire_u32(core.id().index()),
        state: TaskState::from(state) as i32,
        worker_id: current
            .map(|a| a.worker.as_str().to_owned())
            .unwrap_or_default(),
        worker_address: String::new(),
        exit_code: exit_code.unwrap_or(0),
        error: error.unwrap_or_default().to_owned(),
        started_at_ms: current
            .and_then(Attempt::started_at)
            .map(Timestamp::as_millis),
        finished_at_ms: core.ended_at(state.is_terminal()).map(Timestamp::as_millis),
        ports: HashMap::new(),
        resource_usage: None,
        build_metrics: None,
        current_attempt_id: current.map_or(-1, |attempt| wire_u32(attempt.id.get())),
        attempts: core.attempts().iter().skip(first).map(attempt_of).collect(),
        pending_reason: String::new(),
        can_be_scheduled: state.is_schedulable(),
    }
}

fn attempt_of(attempt: &Attempt) -> TaskAttempt {
    TaskAttempt {
        attempt_id: wire_u32(attempt.id.get()),
        worker_id: attempt.worker.as_str().to_owned(),
        state: TaskState::from(attempt.state) as i32,
        exit_code: attempt.exit_code.unwrap_or(0),
        error: attempt.error.clone().unwrap_or_default(),
        started_at_ms: attempt.started_at.map(Timestamp::as_millis),
        finished_at_ms: attempt.finished_at.map(Timestamp::as_millis),
        is_worker_failure: attempt.is_worker_failure(),
        assigned_at_ms: Some(attempt.assigned_at.as_millis()),
        attempt_uid: Some(attempt.uid.to_string()),
        awaiting_stop: attempt.awaiting_stop,
    }
}

// ---------------------------------------------------------------------------------------------
// Wire → typed
// ---------------------------------------------------------------------------------------------

impl AnyTask {
    /// Rebuilds a task from its wire form, checking that it is one the lifecycle can produce.
    ///
    /// Accepts every status that `From<&AnyTask>` produces, and statuses from Iris peers whose
    /// attempts are all closed. Iris peers do not send the attempts' `assigned_at_ms` (field
    /// 100, this crate's own): a closed attempt
    /// without it is dated by its start, or else its finish. An *open* attempt without it is
    /// rejected ([`ProtoError::Missing`] naming the field), since the dispatch deadline counts
    /// from it and no time the status holds is a safe stand-in: accept such a status with
    /// [`AnyTask::from_proto_received`]. Rejects what is structurally impossible:
    /// unknown or unspecified states, a task id that disagrees with `job_id` or `task_index`,
    /// attempt ids that are not 0, 1, 2, …, an open attempt that is not the last, an attempt
    /// followed by another although it ended its task (SUCCEEDED, a controller's KILLED), an
    /// `is_worker_failure` its attempt's state contradicts, MISSING (12) as any state, an attempt
    /// state that contradicts the task state (a PREEMPTED task whose last attempt was not a
    /// started preemption, …), an active task without an open attempt, a pending
    /// task with one, an attempt without a worker, a wrong `current_attempt_id`, times that go
    /// backwards (an attempt started before it was assigned or finished before it started, an
    /// attempt assigned before the previous one finished, a task that ended before its last
    /// attempt), and so on.
    /// Retry budgets are not re-checked: a policy may change while a task lives. Fields the typed
    /// task does not model (ports, resource usage, worker address, build metrics) are dropped.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId, proto};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///     .into_any();
    /// let status = proto::TaskStatus::from(&task);
    /// assert_eq!(status.state, proto::TaskState::Assigned as i32);
    /// assert_eq!(AnyTask::from_proto(status.clone(), RetryPolicy::default())?, task);
    ///
    /// // An ASSIGNED task needs an open attempt.
    /// let mut broken = status;
    /// broken.attempts.clear();
    /// broken.current_attempt_id = -1;
    /// assert!(AnyTask::from_proto(broken, RetryPolicy::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`ProtoError`] naming the first field found wrong.
    pub fn from_proto(status: TaskStatus, policy: RetryPolicy) -> Result<AnyTask, ProtoError> {
        let mut status = status;
        let state = state_field(status.state, || "TaskStatus.state".to_owned())?;
        let core = decode_core(&mut status, state, policy, None, None)?;
        Ok(AnyTask::decoded(core, state))
    }

    /// [`AnyTask::from_proto`], sharing job and worker ids with the tasks decoded before through
    /// `ids`: for a store loading many tasks.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_proto_interned(
        status: TaskStatus,
        policy: RetryPolicy,
        ids: &mut Interner,
    ) -> Result<AnyTask, ProtoError> {
        let mut status = status;
        let state = state_field(status.state, || "TaskStatus.state".to_owned())?;
        let core = decode_core(&mut status, state, policy, None, Some(ids))?;
        Ok(AnyTask::decoded(core, state))
    }

    /// [`AnyTask::from_proto`] for a status received from an Iris peer at `received_at`: an open
    /// attempt without `assigned_at_ms` is dated `received_at` (never earlier than the previous
    /// attempt's finish, nor later than its own start), so the dispatch deadline counts from when
    /// this controller learnt of it, not from the epoch.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, ProtoError, RetryPolicy, Task, TaskId, Timestamp, WorkerId, proto};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1_000))
    ///     .into_any();
    /// let mut status = proto::TaskStatus::from(&task);
    /// status.attempts[0].assigned_at_ms = None; // as an Iris peer sends it
    ///
    /// assert!(matches!(
    ///     AnyTask::from_proto(status.clone(), RetryPolicy::default()),
    ///     Err(ProtoError::Missing { field, .. }) if field == "TaskStatus.attempts[0].assigned_at_ms"
    /// ));
    /// let received = AnyTask::from_proto_received(status, RetryPolicy::default(), Timestamp::from_millis(5_000))?;
    /// assert_eq!(received.current_attempt().map(|a| a.assigned_at()), Some(Timestamp::from_millis(5_000)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Every error of [`AnyTask::from_proto`] but the missing `assigned_at_ms` of an open attempt.
    pub fn from_proto_received(
        status: TaskStatus,
        policy: RetryPolicy,
        received_at: Timestamp,
    ) -> Result<AnyTask, ProtoError> {
        let mut status = status;
        let state = state_field(status.state, || "TaskStatus.state".to_owned())?;
        let core = decode_core(&mut status, state, policy, Some(received_at), None)?;
        Ok(AnyTask::decoded(core, state))
    }

    /// [`AnyTask::from_proto`] or [`from_proto_received`](AnyTask::from_proto_received) of a
    /// status whose task id the caller read already, and whose attempts come one by one from
    /// `attempts`: today's wire, whose path the caller parsed and whose attempts it converts.
    pub(crate) fn from_proto_with_id<A: BorrowMut<TaskAttempt>>(
        status: &mut TaskStatus,
        attempts: impl ExactSizeIterator<Item = Result<A, ProtoError>>,
        id: TaskId,
        policy: RetryPolicy,
        received_at: Option<Timestamp>,
    ) -> Result<AnyTask, ProtoError> {
        let state = state_field(status.state, || "TaskStatus.state".to_owned())?;
        let core = decode_core_from(status, attempts, state, policy, received_at, None, Some(id))?;
        Ok(AnyTask::decoded(core, state))
    }

    /// [`AnyTask::decode`] for bytes received from an Iris peer at `received_at`, as
    /// [`AnyTask::from_proto_received`] reads them.
    ///
    /// # Errors
    /// [`ProtoError::Decode`] for bytes that are not a `TaskStatus`, and every error of
    /// [`AnyTask::from_proto_received`].
    pub fn decode_received(
        bytes: &[u8],
        policy: RetryPolicy,
        received_at: Timestamp,
    ) -> Result<AnyTask, ProtoError> {
        AnyTask::from_proto_received(decode_status(bytes)?, policy, received_at)
    }

    /// Decodes a `TaskStatus` from bytes and rebuilds the task, as [`AnyTask::from_proto`] does.
    /// Never panics, whatever the bytes.
    ///
    /// ```
    /// use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 3), RetryPolicy::default()).into_any();
    /// let bytes = task.encode_to_vec();
    /// assert_eq!(AnyTask::decode(&bytes, RetryPolicy::default())?, task);
    /// assert!(AnyTask::decode(b"\xff\xff", RetryPolicy::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::Decode`] for bytes that are not a `TaskStatus`, and every error of
    /// [`AnyTask::from_proto`].
    pub fn decode(bytes: &[u8], policy: RetryPolicy) -> Result<AnyTask, ProtoError> {
        AnyTask::from_proto(decode_status(bytes)?, policy)
    }

    /// The task's `TaskStatus`, encoded.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        TaskStatus::from(self).encode_to_vec()
    }
}

impl<S: State> Task<S> {
    /// Rebuilds a task in state `S` from its wire form, with the checks of
    /// [`AnyTask::from_proto`]. A status in any other state is an error, not a conversion.
    ///
    /// ```
    /// use iris_task::{Assigned, JobId, Pending, ProtoError, RetryPolicy, Task, TaskId, proto};
    ///
    /// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
    /// let status = proto::TaskStatus::from(&task);
    /// assert_eq!(Task::<Pending>::from_proto(status.clone(), RetryPolicy::default())?, task);
    /// assert!(matches!(
    ///     Task::<Assigned>::from_proto(status, RetryPolicy::default()),
    ///     Err(ProtoError::WrongState { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::WrongState`] for a task in another state, and every error of
    /// [`AnyTask::from_proto`].
    pub fn from_proto(status: TaskStatus, policy: RetryPolicy) -> Result<Task<S>, ProtoError> {
        let mut status = status;
        let found = state_field(status.state, || "TaskStatus.state".to_owned())?;
        if found != S::KIND {
            return Err(ProtoError::WrongState {
                field: "TaskStatus.state".to_owned(),
                expected: S::KIND,
                found,
            });
        }
        Ok(decode_core(&mut status, found, policy, None, None)?.into_task())
    }
}

fn decode_status(bytes: &[u8]) -> Result<TaskStatus, ProtoError> {
    TaskStatus::decode(bytes).map_err(|source| ProtoError::Decode {
        message: "TaskStatus",
        source,
    })
}

/// Checks a status against the lifecycle and builds the task data for `state`. `received_at`
/// dates an open attempt without `assigned_at_ms`; without it, such an attempt is an error.
/// `ids`, when given, shares job and worker ids with the tasks decoded before.
fn decode_core(
    status: &mut TaskStatus,
    state: StateKind,
    policy: RetryPolicy,
    received_at: Option<Timestamp>,
    ids: Option<&mut Interner>,
) -> Result<Decoded, ProtoError> {
    let mut attempts = std::mem::take(&mut status.attempts);
    let attempts = attempts.iter_mut().map(Ok);
    decode_core_from(status, attempts, state, policy, received_at, ids, None)
}

/// [`decode_core`], with the attempts from `attempts_read` rather than the status (which then
/// has none): today's wire converts its attempts one by one, with no second list. `known_id`,
/// when given, is the task's id, already read and checked by the caller (today's wire names a
/// task by its path): the status's id fields are then not read.
fn decode_core_from<A: BorrowMut<TaskAttempt>>(
    status: &mut TaskStatus,
    attempts_read: impl ExactSizeIterator<Item = Result<A, ProtoError>>,
    state: StateKind,
    policy: RetryPolicy,
    received_at: Option<Timestamp>,
    mut ids: Option<&mut Interner>,
    known_id: Option<TaskId>,
) -> Result<Decoded, ProtoError> {
    let id = match known_id {
        Some(id) => id,
        None => decode_task_id_with(
            "TaskStatus",
            &status.task_id,
            std::mem::take(&mut status.job_id),
            status.task_index,
            ids.as_deref_mut(),
        )?,
    };
    let mut attempts: Vec<Attempt> = Vec::with_capacity(attempts_read.len());
    for (index, attempt) in attempts_read.enumerate() {
        let mut attempt = attempt?;
        // An open attempt followed by another is rejected below, whatever the times say.
        let previous = attempts
            .last()
            .filter(|previous| !previous.is_open())
            .map(Attempt::latest_time);
        attempts.push(decode_attempt(
            &id,
            index,
            attempt.borrow_mut(),
            received_at,
            previous,
            ids.as_deref_mut(),
        )?);
    }

    // Each attempt has its own uid.
    for (index, attempt) in attempts.iter().enumerate() {
        let earlier = attempts.get(..index).unwrap_or_default();
        if earlier.iter().any(|other| other.uid == attempt.uid) {
            return Err(inconsistent(
                format!("TaskStatus.attempts[{index}].attempt_uid"),
                format!(
                    "is {}, the uid of an earlier attempt of the task",
                    attempt.uid
                ),
            ));
        }
    }

    // Only the last attempt may be open, and only a failed or lost one is followed by another.
    if let Some((_, earlier)) = attempts.split_last() {
        for attempt in earlier {
            let problem = if attempt.is_open() {
                format!(
                    "attempt {} is still open ({}), but attempt {} follows it: only the last attempt may be open",
                    attempt.id,
                    attempt.state,
                    attempt.id.get().saturating_add(1)
                )
            } else if !attempt.allows_retry() {
                format!(
                    "attempt {} ended {}{}, which ends its task, but attempt {} follows it",
                    attempt.id,
                    attempt.state,
                    if attempt.state == StateKind::Killed {
                        " by the controller"
                    } else {
                        ""
                    },
                    attempt.id.get().saturating_add(1)
                )
            } else {
                continue;
            };
            let field = format!("TaskStatus.attempts[{}].state", attempt.id);
            return Err(inconsistent(field, problem));
        }
    }

    let last = attempts.last();
    let expected_current = last.map_or(-1, |attempt| i64::from(attempt.id.get()));
    if i64::from(status.current_attempt_id) != expected_current {
        return Err(inconsistent(
            "TaskStatus.current_attempt_id",
            format!(
                "is {}, but the last attempt is {}",
                status.current_attempt_id,
                last.map_or("none (-1)".to_owned(), |attempt| attempt.id.to_string())
            ),
        ));
    }
    if !status.worker_id.is_empty() {
        match last {
            None => {
                return Err(inconsistent(
                    "TaskStatus.worker_id",
                    format!("is {:?}, but the task was never assigned", status.worker_id),
                ));
            }
            Some(attempt) if attempt.worker.as_str() != status.worker_id => {
                return Err(inconsistent(
                    "TaskStatus.worker_id",
                    format!(
                        "is {:?}, but the current attempt is on {:?}",
                        status.worker_id,
                        attempt.worker.as_str()
                    ),
                ));
            }
            Some(_) => {}
        }
    }

    let ending = decode_ending(
        state,
        last,
        status.finished_at_ms,
        std::mem::take(&mut status.error),
    )?;
    if let (Some(ending), Some(attempt)) = (&ending, last) {
        if ending.at() < attempt.latest_time() {
            return Err(inconsistent(
                "TaskStatus.finished_at_ms",
                format!(
                    "is {}, earlier than {}, the last time its last attempt records",
                    ending.at(),
                    attempt.latest_time()
                ),
            ));
        }
    }
    Ok(Decoded::new(id, policy, attempts, ending))
}

/// A terminal task that ended with its last attempt ends when the attempt finished. The task's own
/// `finished_at_ms`, when given, must say the same: the crate stores that time once, in the
/// attempt, and would otherwise silently re-encode another one.
fn ended_with(
    attempt: &Attempt,
    finished_at_ms: Option<i64>,
) -> Result<Option<Ending>, ProtoError> {
    let Some(at) = attempt.finished_at else {
        return Err(ProtoError::Missing {
            field: format!("TaskStatus.attempts[{}].finished_at_ms", attempt.id),
            why: "the attempt that ended the task has a finish time",
        });
    };
    match finished_at_ms {
        Some(ms) if ms != at.as_millis() => Err(inconsistent(
            "TaskStatus.finished_at_ms",
            format!(
                "is {}, but the task ended with attempt {}, which finished at {at}",
                Timestamp::from_millis(ms),
                attempt.id
            ),
        )),
        _ => Ok(Some(Ending::Closed { at })),
    }
}

/// Checks the task state against its last attempt, and reads how a terminal task ended.
fn decode_ending(
    state: StateKind,
    last: Option<&Attempt>,
    finished_at_ms: Option<i64>,
    error: String,
) -> Result<Option<Ending>, ProtoError> {
    let contradiction = |what: &str| {
        inconsistent(
            "TaskStatus.state",
            format!(
                "a {state} task {what}, but its last attempt is {}",
                last.map_or("absent".to_owned(), |attempt| attempt.state.to_string())
            ),
        )
    };
    // A task waiting for, or ended without, a worker: its last attempt (if any) let it go on.
    let between_attempts = last.is_none_or(Attempt::allows_retry);
    let ended_while_pending = |error: String| -> Result<Option<Ending>, ProtoError> {
        let at = finished_at_ms.ok_or(ProtoError::Missing {
            field: "TaskStatus.finished_at_ms".to_owned(),
            why: "a task that ended without an open attempt keeps its own finish time",
        })?;
        Ok(Some(Ending::WhilePending {
            at: Timestamp::from_millis(at),
            reason: reason(error),
        }))
    };
    // A worker-side ending ends a task only once it had started: before, it is free.
    let started = |attempt: &Attempt| attempt.started_at.is_some();
    match state {
        StateKind::Pending if between_attempts => Ok(None),
        StateKind::Pending => Err(contradiction(
            "holds no open attempt and follows only attempts that let it go on",
        )),
        StateKind::Assigned | StateKind::Building | StateKind::Running => match last {
            Some(attempt) if attempt.state == state => Ok(None),
            _ => Err(contradiction(&format!("needs an open {state} attempt"))),
        },
        StateKind::Succeeded | StateKind::Failed => match last {
            Some(attempt) if attempt.state == state => ended_with(attempt, finished_at_ms),
            _ => Err(contradiction(&format!(
                "ends with an attempt that ended {state}"
            ))),
        },
        StateKind::Preempted => match last {
            Some(attempt) if attempt.state == state && started(attempt) => {
                ended_with(attempt, finished_at_ms)
            }
            _ => Err(contradiction(
                "ends with a started attempt that was preempted",
            )),
        },
        // A worker lost, a worker that forgot the attempt (both WORKER_FAILED) or killed it
        // unasked: the worker-side endings other than a preemption.
        StateKind::WorkerFailed => match last {
            Some(attempt)
                if (attempt.state == state || attempt.is_killed_on_worker())
                    && started(attempt) =>
            {
                ended_with(attempt, finished_at_ms)
            }
            _ => Err(contradiction(
                "ends with a started attempt that ended WORKER_FAILED or was killed on its worker",
            )),
        },
        StateKind::Killed => match last {
            Some(attempt) if attempt.state == StateKind::Killed && !attempt.killed_on_worker => {
                ended_with(attempt, finished_at_ms)
            }
            _ if between_attempts => ended_while_pending(error),
            _ => Err(contradiction("was killed on its worker or while pending")),
        },
        // Ended with its attempt when the task's finish time and error are the attempt's;
        // otherwise it ended while pending, after that attempt (a gang requeued, then failed).
        StateKind::CoschedFailed => match last {
            Some(attempt)
                if attempt.state == state
                    && finished_at_ms.is_none_or(|ms| {
                        Some(ms) == attempt.finished_at.map(Timestamp::as_millis)
                    })
                    && attempt.error.as_deref() == reason(error.clone()).as_deref() =>
            {
                ended_with(attempt, finished_at_ms)
            }
            _ if between_attempts => ended_while_pending(error),
            _ => Err(contradiction(
                "was stopped with its gang on its worker or while pending",
            )),
        },
        StateKind::Unschedulable if between_attempts => ended_while_pending(error),
        StateKind::Unschedulable => Err(contradiction("never got a worker to keep")),
    }
}

/// Checks one attempt. `received_at` dates an open attempt without `assigned_at_ms`, no earlier
/// than `previous` (the finish of the attempt before it).
fn decode_attempt(
    task: &TaskId,
    index: usize,
    attempt: &mut TaskAttempt,
    received_at: Option<Timestamp>,
    previous: Option<Timestamp>,
    ids: Option<&mut Interner>,
) -> Result<Attempt, ProtoError> {
    let field = |name: &str| format!("TaskStatus.attempts[{index}].{name}");
    let id = AttemptId::new(u32::try_from(index).unwrap_or(u32::MAX));
    if i64::from(attempt.attempt_id) != i64::from(id.get()) {
        return Err(inconsistent(
            field("attempt_id"),
            format!(
                "is {}, but attempt ids are 0, 1, 2, … so this one must be {id}",
                attempt.attempt_id
            ),
        ));
    }
    let worker = match ids {
        Some(ids) => ids.worker(std::mem::take(&mut attempt.worker_id)),
        None => WorkerId::new(std::mem::take(&mut attempt.worker_id)),
    }
    .map_err(|source| ProtoError::InvalidId {
        field: field("worker_id"),
        source,
    })?;
    let uid = match attempt.attempt_uid.as_deref() {
        Some(uid) => uid.parse().map_err(|source| ProtoError::InvalidId {
            field: field("attempt_uid"),
            source,
        })?,
        None => AttemptUid::legacy(task, id),
    };
    let state = state_field(attempt.state, || field("state"))?;
    if matches!(state, StateKind::Pending | StateKind::Unschedulable) {
        return Err(inconsistent(
            field("state"),
            format!("an attempt is never {state}: it is created by an assignment"),
        ));
    }
    let started_at = attempt.started_at_ms.map(Timestamp::from_millis);
    let finished_at = attempt.finished_at_ms.map(Timestamp::from_millis);
    match state {
        StateKind::Assigned if started_at.is_some() => {
            return Err(inconsistent(
                field("started_at_ms"),
                "is set, but an ASSIGNED attempt has not started",
            ));
        }
        // A SUCCEEDED or FAILED attempt may not have: its worker reported the end without a
        // BUILDING or RUNNING report before it (a short task), and Iris dates no start then.
        StateKind::Building | StateKind::Running if started_at.is_none() => {
            return Err(ProtoError::Missing {
                field: field("started_at_ms"),
                why: "a BUILDING or RUNNING attempt has started",
            });
        }
        _ => {}
    }
    if state.is_active() && finished_at.is_some() {
        return Err(inconsistent(
            field("finished_at_ms"),
            format!("is set, but the attempt is still open ({state})"),
        ));
    }
    if !state.is_active() && finished_at.is_none() {
        return Err(ProtoError::Missing {
            field: field("finished_at_ms"),
            why: "a closed attempt has a finish time",
        });
    }
    // Only a KILLED attempt may be either: killed by the controller, or by its worker unasked.
    let killed_on_worker = state == StateKind::Killed && attempt.is_worker_failure;
    let worker_side = match state {
        StateKind::WorkerFailed | StateKind::Preempted => true,
        StateKind::Killed => attempt.is_worker_failure,
        _ => false,
    };
    if attempt.is_worker_failure != worker_side {
        return Err(inconsistent(
            field("is_worker_failure"),
            format!(
                "is {}, but the attempt is {state}: WORKER_FAILED and PREEMPTED attempts are worker failures, and of the others only a KILLED one may be",
                attempt.is_worker_failure
            ),
        ));
    }
    let exit_code = match state {
        StateKind::Succeeded if attempt.exit_code != 0 => {
            return Err(inconsistent(
                field("exit_code"),
                format!("is {}, but a SUCCEEDED attempt exits 0", attempt.exit_code),
            ));
        }
        StateKind::Succeeded => Some(0),
        // 0 is no exit code: a failure the controller decided (an execution timeout) has none,
        // and `Task::fail` records a reported 0 as none too.
        StateKind::Failed => Some(attempt.exit_code).filter(|&code| code != 0),
        // Iris peers may record a killed process's signal; the typed attempt does not model it.
        _ => None,
    };
    let assigned_at = match (attempt.assigned_at_ms, state.is_active(), received_at) {
        (Some(ms), _, _) => Timestamp::from_millis(ms),
        // An Iris peer's closed attempt: its start, or else its finish, is the nearest time it
        // recorded. The dispatch deadline no longer looks at it.
        (None, false, _) => match started_at.or(finished_at) {
            Some(at) => at,
            None => {
                return Err(ProtoError::Missing {
                    field: field("assigned_at_ms"),
                    why: "a closed attempt is dated by its assignment, start or finish",
                });
            }
        },
        // An Iris peer's open attempt, received now: dated now, but never before the attempt
        // before it finished, and never after its own start.
        (None, true, Some(received_at)) => {
            let at = previous.map_or(received_at, |previous| received_at.max(previous));
            started_at.map_or(at, |started_at| at.min(started_at))
        }
        (None, true, None) => {
            return Err(ProtoError::Missing {
                field: field("assigned_at_ms"),
                why: "the dispatch deadline of an open attempt counts from it; \
                      AnyTask::from_proto_received dates a peer's open attempt when it was received",
            });
        }
    };
    if let Some(previous) = previous.filter(|&previous| assigned_at < previous) {
        // Name the field the time came from: a peer that sends no assigned_at_ms is dated by
        // its start or finish.
        let name = if attempt.assigned_at_ms.is_some() {
            "assigned_at_ms"
        } else if started_at.is_some() {
            "started_at_ms"
        } else {
            "finished_at_ms"
        };
        return Err(inconsistent(
            field(name),
            format!(
                "is {assigned_at}, earlier than {previous}, when the attempt before it finished"
            ),
        ));
    }
    if let Some(started_at) = started_at.filter(|&started_at| started_at < assigned_at) {
        return Err(inconsistent(
            field("started_at_ms"),
            format!("is {started_at}, earlier than the attempt's assignment at {assigned_at}"),
        ));
    }
    if let Some(finished_at) = finished_at {
        let since = started_at.unwrap_or(assigned_at);
        if finished_at < since {
            return Err(inconsistent(
                field("finished_at_ms"),
                format!(
                    "is {finished_at}, earlier than {since}, when the attempt was assigned or started"
                ),
            ));
        }
    }
    // Only an attempt the controller ended awaits its worker's stop: killed by the controller,
    // preempted, timed out (FAILED with no exit code), a gang sibling's, or requeued by the
    // dispatch deadline (WORKER_FAILED).
    let controller_ended = match state {
        StateKind::Killed => !killed_on_worker,
        StateKind::Preempted | StateKind::CoschedFailed | StateKind::WorkerFailed => true,
        StateKind::Failed => exit_code.is_none(),
        _ => false,
    };
    if attempt.awaiting_stop && !controller_ended {
        return Err(inconsistent(
            field("awaiting_stop"),
            format!(
                "is set, but the controller did not end this {state} attempt: only a kill, a \
                 preemption, a timeout, a gang's end or the dispatch deadline awaits the \
                 worker's stop"
            ),
        ));
    }
    Ok(Attempt {
        awaiting_stop: attempt.awaiting_stop,
        id,
        uid,
        worker,
        state,
        assigned_at,
        started_at,
        finished_at,
        exit_code,
        error: reason(std::mem::take(&mut attempt.error)),
        killed_on_worker,
    })
}
