//! Reconcile, as library calls: the desired set the controller pushes to a worker
//! (`WorkerService/Reconcile`), and what the worker's answer does to the table. The rules live
//! here; a controller only moves the bytes.

use super::list::{self, SlotId};
use super::{Changes, TableError, TaskTable};
use crate::any::{AnyTask, TaskEvent, WorkerReport};
use crate::attempt::Attempt;
use crate::id::{Timestamp, WorkerId};
use crate::proto::{ProtoError, wire_u32, worker_report};
use crate::state::StateKind;
use crate::today::cluster::worker::{
    self as wire, AttemptSpec, DesiredAttempt, ReconcileRequest, ReconcileResponse, StopReason,
    desired_attempt::Intent,
};
use crate::today::job::{RunTaskRequest, TaskState};
use crate::uid::AttemptUid;

/// What a worker's Reconcile answer did: the table's changes (the tasks the observations moved,
/// the jobs that changed with them, and the stops the worker confirmed, [`Changes::stops`]),
/// and every observation refused, with why. A refused observation changes nothing.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Reconciled {
    /// Everything the answer changed, as one call's [`Changes`].
    pub changes: Changes,
    /// The observations refused, in the answer's order.
    pub refused: Vec<ReconcileError>,
}

/// Why a Reconcile answer, or one observation in it, was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The answer names another worker than the one asked (a recycled address answered, as
    /// Iris's worker answers a request for another id with its own): refused whole, nothing
    /// changes.
    #[error("the Reconcile answer is from worker {answered:?}, not {asked}")]
    WrongWorker {
        /// The worker the controller asked.
        asked: WorkerId,
        /// The `worker_id` the answer carries.
        answered: String,
    },
    /// An observation whose `attempt_uid` is missing or is not 16 lowercase hex characters.
    #[error("observed[{index}]: attempt uid {uid:?} is not 16 lowercase hex characters")]
    BadUid {
        /// The observation's place in the answer.
        index: usize,
        /// What it carried.
        uid: String,
    },
    /// An observation of an attempt the table does not hold.
    #[error("observed[{index}]: no attempt in the table has uid {uid}")]
    UnknownUid {
        /// The observation's place in the answer.
        index: usize,
        /// The uid it names.
        uid: AttemptUid,
    },
    /// An observation of an attempt another worker owns: no worker reports on another's.
    #[error("observed[{index}]: attempt {uid} belongs to worker {owner}, not {worker}")]
    NotTheOwner {
        /// The observation's place in the answer.
        index: usize,
        /// The uid it names.
        uid: AttemptUid,
        /// The attempt's worker.
        owner: WorkerId,
        /// The worker that answered.
        worker: WorkerId,
    },
    /// An observation the crate cannot read: a state no worker observes, a SUCCEEDED with a
    /// non-zero exit code.
    #[error("observed[{index}]: {source}")]
    Unreadable {
        /// The observation's place in the answer.
        index: usize,
        /// What is wrong with it, naming the field.
        source: ProtoError,
    },
    /// An observation the task's rules refuse: a report on an attempt that has ended, one that
    /// would move it backwards, ...
    #[error("observed[{index}]: {source}")]
    Refused {
        /// The observation's place in the answer.
        index: usize,
        /// The table's refusal.
        source: TableError,
    },
}

/// How an attempt the controller ended is stopped, as Iris's controller says it
/// (`reconcile/worker.py`): by its task's state, and a task that went back to the queue (a
/// preemption with budget left, a gang requeued) as a preemption. Iris's controller never sends
/// SUPERSEDED or WORKER_DRAIN, and neither does the crate.
fn stop_reason(task: &AnyTask, attempt: &Attempt) -> StopReason {
    let requeued = task.current_attempt().map(Attempt::id) != Some(attempt.id())
        || task.state() == StateKind::Pending;
    match task.state() {
        _ if requeued => StopReason::Preempted,
        StateKind::Killed => StopReason::Cancelled,
        StateKind::Preempted => StopReason::Preempted,
        // A controller-ended FAILED attempt is an execution timeout.
        StateKind::Failed => StopReason::TaskTimeout,
        _ => StopReason::JobTerminated,
    }
}

impl TaskTable {
    /// The desired set to push to `worker` (`WorkerService/Reconcile`): every attempt it should
    /// run, and every attempt it should stop. `spec` gives the `RunTaskRequest` of a task's job
    /// (what the job's `LaunchJobRequest` asked: entrypoint, environment, resources, ...;
    /// [`LaunchJobRequest::run_task_request`](crate::today::cluster::controller::LaunchJobRequest::run_task_request)
    /// builds it from the request as Iris does); the crate fills in the task's `task_id`,
    /// `attempt_id` and `attempt_uid`.
    ///
    /// - An ASSIGNED attempt runs with its full request, so the worker can start it; a BUILDING
    ///   or RUNNING one with an empty `run`, which the worker has cached. A task whose `spec` is
    ///   `None` (its job is gone) is left out this time, as Iris leaves it.
    /// - Every attempt [awaiting its stop](Attempt::awaits_stop) on the worker gets a stop
    ///   order, its `StopReason` from how it ended: CANCELLED for a kill, PREEMPTED for a
    ///   preemption or a requeue, TASK_TIMEOUT for an execution timeout, JOB_TERMINATED for a
    ///   gang or job end. The orders are derived from the table (and so from a durable store),
    ///   never remembered elsewhere: a lost answer or a restart loses none, and each stays until
    ///   the worker's answer shows the attempt ended or gone.
    /// - While a preempted attempt awaits its stop on the worker, ASSIGNED attempts are held
    ///   back, as Iris holds them: the worker must not start a task beside a victim that still
    ///   holds the devices.
    ///
    /// The worker kills every attempt missing from the set.
    ///
    /// ```
    /// use iris_task::today::cluster::worker::{desired_attempt::Intent, StopReason};
    /// use iris_task::today::job::RunTaskRequest;
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::from_path("/alice/train")?;
    /// let w1 = WorkerId::new("w1")?;
    /// let mut table = TaskTable::new();
    /// for index in 0..2 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    ///     table.assign(&TaskId::new(job.clone(), index), w1.clone(), Timestamp::from_millis(1))?;
    /// }
    /// table.apply(&TaskId::new(job.clone(), 1), iris_task::TaskEvent::Kill {
    ///     reason: "cancelled".into(),
    ///     at: Timestamp::from_millis(2),
    /// })?;
    /// let request = table.reconcile_request(&w1, |_task| Some(RunTaskRequest::default()));
    /// assert_eq!(request.worker_id.as_deref(), Some("w1"));
    /// let Some(Intent::Run(run)) = &request.desired[0].intent else { panic!() };
    /// assert_eq!(run.request.as_ref().and_then(|r| r.task_id.as_deref()), Some("/alice/train/0"));
    /// assert_eq!(request.desired[1].intent, Some(Intent::Stop(StopReason::Cancelled as i32)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconcile_request(
        &self,
        worker: &WorkerId,
        mut spec: impl FnMut(&AnyTask) -> Option<RunTaskRequest>,
    ) -> ReconcileRequest {
        let mut desired = Vec::new();
        let hold = self
            .stops_on(worker)
            .any(|(_, attempt)| attempt.state() == StateKind::Preempted);
        for id in self.tasks_on(worker) {
            let Some(task) = self.get(id) else { continue };
            let Some(attempt) = task.current_attempt().filter(|a| a.is_open()) else {
                continue;
            };
            let uid = attempt.uid().to_string();
            let request = if task.state() == StateKind::Assigned {
                if hold {
                    continue;
                }
                let Some(mut request) = spec(task) else {
                    continue;
                };
                request.task_id = Some(id.path());
                request.attempt_id = Some(wire_u32(attempt.id().get()));
                request.attempt_uid = Some(uid.clone());
                Some(request)
            } else {
                None
            };
            desired.push(DesiredAttempt {
                attempt_uid: Some(uid),
                intent: Some(Intent::Run(AttemptSpec { request })),
            });
        }
        for (task, attempt) in self.stops_on(worker) {
            desired.push(DesiredAttempt {
                attempt_uid: Some(attempt.uid().to_string()),
                intent: Some(Intent::Stop(stop_reason(task, attempt) as i32)),
            });
        }
        ReconcileRequest {
            worker_id: Some(worker.as_str().to_owned()),
            desired,
        }
    }

    /// Applies `worker`'s Reconcile answer, received at `at`: each observation becomes an event
    /// for the table, under the same rules as [`apply`](TaskTable::apply), stamped with the
    /// controller's receive time (workers' clocks are not trusted).
    ///
    /// Each observation names its attempt by uid ([`attempt_by_uid`](TaskTable::attempt_by_uid)):
    ///
    /// - of an attempt [awaiting its stop](Attempt::awaits_stop): an ended state or MISSING
    ///   confirms the stop ([`Changes::stops`]); a running one leaves the order standing;
    /// - of an open attempt: BUILDING, RUNNING, SUCCEEDED, FAILED, KILLED, WORKER_FAILED,
    ///   PREEMPTED and MISSING are the worker's reports ([`WorkerReport`](crate::WorkerReport)); MISSING for a live
    ///   attempt means the worker never got or lost its spec, and ends it as Iris ends it;
    ///   ASSIGNED and PENDING (the worker has the spec, not yet started) change nothing;
    /// - of an attempt that ended otherwise: what [`apply`](TaskTable::apply) says of a report
    ///   on it (a duplicate is accepted, anything else refused as stale).
    ///
    /// An observation with a bad or unknown uid, of another worker's attempt, or that the rules
    /// refuse is listed in [`Reconciled::refused`] and changes nothing; the others still apply.
    ///
    /// # Errors
    /// [`ReconcileError::WrongWorker`] if the answer carries another `worker_id` than `worker`
    /// (an empty one is no id, as Iris reads it): the whole answer is refused and nothing
    /// changes.
    pub fn reconcile(
        &mut self,
        worker: &WorkerId,
        response: ReconcileResponse,
        at: Timestamp,
    ) -> Result<Reconciled, ReconcileError> {
        // Iris reads an empty id as "not reported" and takes the answer; so does the crate.
        let answered = response.worker_id.unwrap_or_default();
        if !answered.is_empty() && answered != worker.as_str() {
            return Err(ReconcileError::WrongWorker {
                asked: worker.clone(),
                answered,
            });
        }
        let mut reconciled = Reconciled::default();
        for (index, observation) in response.observed.into_iter().enumerate() {
            if let Err(err) = self.observe(worker, index, observation, at, &mut reconciled.changes)
            {
                reconciled.refused.push(err);
            }
        }
        Ok(reconciled)
    }

    /// One observation of [`reconcile`](TaskTable::reconcile).
    fn observe(
        &mut self,
        worker: &WorkerId,
        index: usize,
        observation: wire::AttemptObservation,
        at: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), ReconcileError> {
        let text = observation.attempt_uid.unwrap_or_default();
        let uid: AttemptUid = text
            .parse()
            .map_err(|_| ReconcileError::BadUid { index, uid: text })?;
        let (slot, number) = self
            .find_uid(uid)
            .ok_or(ReconcileError::UnknownUid { index, uid })?;
        let Some((id, attempt)) = list::get(&self.slots, slot).and_then(|entry| {
            let attempt = entry.task.attempts().get(number as usize)?;
            Some((entry.task.id().clone(), attempt))
        }) else {
            return Err(ReconcileError::UnknownUid { index, uid });
        };
        if attempt.worker() != worker {
            return Err(ReconcileError::NotTheOwner {
                index,
                uid,
                owner: attempt.worker().clone(),
                worker: worker.clone(),
            });
        }
        let state = observation.state.unwrap_or(0);
        let starting = [TaskState::Assigned as i32, TaskState::Pending as i32].contains(&state);
        let awaits_stop = attempt.awaits_stop();
        let (attempt_id, open) = (attempt.id(), attempt.is_open());
        let report = if starting {
            None
        } else {
            Some(
                worker_report(
                    "AttemptObservation",
                    state,
                    observation.exit_code.unwrap_or(0),
                    observation.error.unwrap_or_default(),
                )
                .map_err(|source| ReconcileError::Unreadable { index, source })?,
            )
        };
        if awaits_stop {
            // Ended or gone (any state but starting, BUILDING or RUNNING): the worker, its
            // owner, no longer runs it.
            let stopped = report.as_ref().is_some_and(|report| {
                !matches!(report, WorkerReport::Building | WorkerReport::Running)
            });
            if stopped {
                self.settle_stop(slot, number, changes);
            }
            return Ok(());
        }
        let Some(report) = report else {
            // Still starting: nothing to change. A closed attempt is no worker's to start.
            return if open {
                Ok(())
            } else {
                Err(ReconcileError::Unreadable {
                    index,
                    source: ProtoError::Inconsistent {
                        field: "AttemptObservation.state".to_owned(),
                        problem: format!("says the attempt is starting, but {uid} has ended"),
                    },
                })
            };
        };
        let event = TaskEvent::Report {
            worker: worker.clone(),
            attempt: attempt_id,
            report,
            at,
        };
        self.change_with_rules(slot, &id, event, at, changes)
            .map_err(|source| ReconcileError::Refused { index, source })
    }

    /// The slot and attempt number of the attempt whose uid is `uid`.
    pub(super) fn find_uid(&self, uid: AttemptUid) -> Option<(SlotId, u32)> {
        self.by_uid
            .find(super::uid_hash(&self.hasher, uid), |&entry| {
                super::uid_at(&self.slots, entry) == Some(uid)
            })
            .copied()
    }
}
