//! The hand-written baseline: the struct-plus-enum state machine a controller would write without
//! this crate, holding the same data (ids, attempts with the same fields) and doing the same work,
//! so that a ratio measures the cost of the abstraction and nothing else.

#![allow(dead_code)] // Each bench uses its own part.

use std::hint::black_box;

use iris_task::{RetryPolicy, TaskId, Timestamp, WorkerId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandState {
    Pending,
    Assigned,
    Building,
    Running,
    Succeeded,
    Failed,
    Killed,
    WorkerFailed,
    Unschedulable,
    Preempted,
    CoschedFailed,
}

#[derive(Clone, Debug)]
pub struct HandAttempt {
    pub id: u32,
    /// The attempt's uid, minted as the crate mints one (the same work on both sides).
    pub uid: u64,
    pub worker: WorkerId,
    pub state: HandState,
    pub assigned_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// A KILLED the worker reported unasked: a worker-side ending.
    pub killed_on_worker: bool,
}

impl HandAttempt {
    fn worker_side(&self) -> bool {
        match self.state {
            HandState::WorkerFailed | HandState::Preempted => true,
            HandState::Killed => self.killed_on_worker,
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct HandTask {
    pub id: TaskId,
    pub policy: RetryPolicy,
    pub state: HandState,
    pub attempts: Vec<HandAttempt>,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// The events the baseline's run-time door takes: the same vocabulary as `TaskEvent` (the same
/// eight controller events and eight reports, with the same fields), so that both sides move and
/// match events of the same size.
#[derive(Clone, Debug)]
pub enum HandEvent {
    Assign {
        worker: WorkerId,
        at: Timestamp,
    },
    Report {
        worker: WorkerId,
        attempt: u32,
        report: HandReport,
        at: Timestamp,
    },
    WorkerLost {
        worker: WorkerId,
        error: String,
        at: Timestamp,
    },
    Kill {
        reason: String,
        at: Timestamp,
    },
    SchedulingTimeout {
        at: Timestamp,
    },
    Preempt {
        reason: String,
        at: Timestamp,
    },
    SiblingFailed {
        sibling: TaskId,
        at: Timestamp,
    },
    SiblingRequeued {
        sibling: TaskId,
        at: Timestamp,
    },
    ExecutionTimeout {
        at: Timestamp,
    },
}

#[derive(Clone, Debug)]
pub enum HandReport {
    Building,
    Running,
    Succeeded,
    Failed { exit_code: i32, error: String },
    WorkerFailed { error: String },
    Preempted { error: String },
    Killed { error: String },
    Missing,
}

impl HandReport {
    fn state(&self) -> HandState {
        match self {
            HandReport::Building => HandState::Building,
            HandReport::Running => HandState::Running,
            HandReport::Succeeded => HandState::Succeeded,
            HandReport::Failed { .. } => HandState::Failed,
            HandReport::WorkerFailed { .. } | HandReport::Missing => HandState::WorkerFailed,
            HandReport::Preempted { .. } => HandState::Preempted,
            HandReport::Killed { .. } => HandState::Killed,
        }
    }

    /// Rule 3: the report repeats what the current attempt records.
    fn repeats(&self, attempt: &HandAttempt) -> bool {
        if attempt.finished_at.is_none() {
            return matches!(self, HandReport::Building | HandReport::Running)
                && self.state() == attempt.state;
        }
        match self {
            HandReport::Building | HandReport::Running => false,
            HandReport::Missing => true,
            HandReport::Killed { .. } => matches!(
                attempt.state,
                HandState::Killed | HandState::Preempted | HandState::CoschedFailed
            ),
            _ => self.state() == attempt.state,
        }
    }
}

#[derive(Debug)]
pub enum HandError {
    Illegal,
    Stale,
    WrongWorker,
    TimeWentBackwards,
}

impl HandTask {
    pub fn new(id: TaskId, policy: RetryPolicy) -> HandTask {
        HandTask {
            id,
            policy,
            state: HandState::Pending,
            attempts: Vec::new(),
            finished_at: None,
            error: None,
        }
    }

    /// The latest time the task records, as the crate checks events against.
    fn latest(&self) -> Option<Timestamp> {
        let attempt = self
            .attempts
            .last()
            .map(|a| a.finished_at.or(a.started_at).unwrap_or(a.assigned_at));
        attempt.max(self.finished_at)
    }

    fn check_time(&self, at: Timestamp) -> Result<(), HandError> {
        match self.latest() {
            Some(latest) if at < latest => Err(HandError::TimeWentBackwards),
            _ => Ok(()),
        }
    }

    pub fn assign(&mut self, worker: WorkerId, at: Timestamp) -> Result<(), HandError> {
        if self.state != HandState::Pending {
            return Err(HandError::Illegal);
        }
        self.check_time(at)?;
        if self.attempts.len() == self.attempts.capacity() {
            self.attempts.reserve_exact(self.attempts.len().max(1));
        }
        self.attempts.push(HandAttempt {
            id: self.attempts.len() as u32,
            uid: iris_task::UidMinter::mint_shared().get(),
            worker,
            state: HandState::Assigned,
            assigned_at: at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            killed_on_worker: false,
        });
        self.state = HandState::Assigned;
        Ok(())
    }

    pub fn start(&mut self, at: Timestamp) -> Result<(), HandError> {
        self.check_time(at)?;
        let attempt = self.attempts.last_mut().ok_or(HandError::Illegal)?;
        match self.state {
            HandState::Assigned => attempt.started_at = Some(at),
            HandState::Building => {}
            _ => return Err(HandError::Illegal),
        }
        attempt.state = HandState::Running;
        self.state = HandState::Running;
        Ok(())
    }

    pub fn succeed(&mut self, at: Timestamp) -> Result<(), HandError> {
        if self.state != HandState::Running {
            return Err(HandError::Illegal);
        }
        self.check_time(at)?;
        let attempt = self.attempts.last_mut().ok_or(HandError::Illegal)?;
        attempt.state = HandState::Succeeded;
        attempt.finished_at = Some(at);
        attempt.exit_code = Some(0);
        self.state = HandState::Succeeded;
        self.finished_at = Some(at);
        Ok(())
    }

    /// The report names the current attempt, and comes from its worker.
    pub fn is_current(&self, worker: &WorkerId, attempt: u32) -> bool {
        self.attempts
            .last()
            .is_some_and(|current| current.id == attempt && &current.worker == worker)
    }

    /// Closes the open attempt as `state`; the task is requeued while `within_budget`.
    fn close(
        &mut self,
        state: HandState,
        at: Timestamp,
        exit_code: Option<i32>,
        error: Option<String>,
        ends: HandState,
        within_budget: impl Fn(&HandTask) -> bool,
    ) -> Result<(), HandError> {
        self.close_as(state, false, at, exit_code, error, ends, within_budget)
    }

    /// `close`, marking a KILLED attempt as killed on its worker when `killed_on_worker`.
    #[allow(clippy::too_many_arguments)]
    fn close_as(
        &mut self,
        state: HandState,
        killed_on_worker: bool,
        at: Timestamp,
        exit_code: Option<i32>,
        error: Option<String>,
        ends: HandState,
        within_budget: impl Fn(&HandTask) -> bool,
    ) -> Result<(), HandError> {
        if !matches!(
            self.state,
            HandState::Assigned | HandState::Building | HandState::Running
        ) {
            return Err(HandError::Illegal);
        }
        self.check_time(at)?;
        let attempt = self.attempts.last_mut().ok_or(HandError::Illegal)?;
        attempt.state = state;
        attempt.finished_at = Some(at);
        attempt.exit_code = exit_code;
        attempt.error = error;
        attempt.killed_on_worker = killed_on_worker;
        if within_budget(self) {
            self.state = HandState::Pending;
        } else {
            self.state = ends;
            self.finished_at = Some(at);
        }
        Ok(())
    }

    /// The run-time door, with the same judging as `AnyTask::apply`: stale attempt, wrong
    /// worker, duplicate, closed attempt, then the state's rules and the time.
    pub fn apply(&mut self, event: HandEvent) -> Result<(HandState, HandState), HandError> {
        let from = self.state;
        if let HandEvent::Report {
            worker,
            attempt,
            report,
            ..
        } = &event
        {
            let current = self.attempts.last().ok_or(HandError::Stale)?;
            if current.id != *attempt {
                return Err(HandError::Stale);
            }
            if &current.worker != worker {
                return Err(HandError::WrongWorker);
            }
            if report.repeats(current) {
                return Ok((from, from));
            }
            if current.finished_at.is_some() {
                return Err(HandError::Stale);
            }
        }
        let started = |task: &HandTask| {
            task.attempts
                .last()
                .is_some_and(|attempt| attempt.started_at.is_some())
        };
        match event {
            HandEvent::Assign { worker, at } => self.assign(worker, at)?,
            HandEvent::Report { report, at, .. } => match report {
                HandReport::Building => {
                    if self.state != HandState::Assigned {
                        return Err(HandError::Illegal);
                    }
                    self.check_time(at)?;
                    if let Some(attempt) = self.attempts.last_mut() {
                        attempt.state = HandState::Building;
                        attempt.started_at = Some(at);
                    }
                    self.state = HandState::Building;
                }
                HandReport::Running => self.start(at)?,
                HandReport::Succeeded => match self.state {
                    // An end reported before any start: the attempt stays unstarted.
                    HandState::Assigned => self.close(
                        HandState::Succeeded,
                        at,
                        Some(0),
                        None,
                        HandState::Succeeded,
                        |_| false,
                    )?,
                    HandState::Building => {
                        self.start(at)?;
                        self.succeed(at)?;
                    }
                    _ => self.succeed(at)?,
                },
                // From ASSIGNED the attempt stays unstarted: an end reported before any start.
                HandReport::Failed { exit_code, error } => self.close(
                    HandState::Failed,
                    at,
                    Some(exit_code).filter(|&code| code != 0),
                    Some(error),
                    HandState::Failed,
                    |task| task.failures() <= task.policy.max_retries_failure,
                )?,
                HandReport::WorkerFailed { error } => {
                    self.worker_side_end(HandState::WorkerFailed, error, at)?
                }
                HandReport::Preempted { error } => {
                    self.worker_side_end(HandState::Preempted, error, at)?
                }
                HandReport::Killed { error } => {
                    self.worker_side_end(HandState::Killed, error, at)?
                }
                HandReport::Missing => self.worker_side_end(
                    HandState::WorkerFailed,
                    "worker_lost_spec".to_owned(),
                    at,
                )?,
            },
            HandEvent::Preempt { reason, at } => {
                self.worker_side_end(HandState::Preempted, reason, at)?
            }
            HandEvent::SiblingFailed { sibling, at } => self.close(
                HandState::CoschedFailed,
                at,
                None,
                Some(format!(
                    "Coscheduled sibling {}/{} failed",
                    sibling.job(),
                    sibling.index()
                )),
                HandState::CoschedFailed,
                |_| false,
            )?,
            HandEvent::ExecutionTimeout { at } => {
                if !started(self) {
                    return Err(HandError::Illegal);
                }
                self.close(
                    HandState::Failed,
                    at,
                    None,
                    Some("Execution timeout exceeded".to_owned()),
                    HandState::Failed,
                    |_| false,
                )?
            }
            HandEvent::SiblingRequeued { sibling, at } => self.close(
                HandState::CoschedFailed,
                at,
                None,
                Some(format!(
                    "Coscheduled sibling {}/{} bounced for atomic re-scheduling",
                    sibling.job(),
                    sibling.index()
                )),
                HandState::CoschedFailed,
                |_| true,
            )?,
            HandEvent::WorkerLost { worker, error, at } => {
                if self
                    .attempts
                    .last()
                    .is_some_and(|a| a.finished_at.is_none() && a.worker != worker)
                {
                    return Err(HandError::WrongWorker);
                }
                let executing = started(self);
                self.close(
                    HandState::WorkerFailed,
                    at,
                    None,
                    Some(error),
                    HandState::WorkerFailed,
                    |task| !executing || task.preemptions() <= task.policy.max_retries_preemption,
                )?
            }
            HandEvent::Kill { reason, at } => {
                if self.state == HandState::Pending {
                    self.check_time(at)?;
                    self.state = HandState::Killed;
                    self.finished_at = Some(at);
                    self.error = Some(reason);
                } else {
                    self.close(
                        HandState::Killed,
                        at,
                        None,
                        Some(reason),
                        HandState::Killed,
                        |_| false,
                    )?
                }
            }
            HandEvent::SchedulingTimeout { at } => {
                if self.state != HandState::Pending {
                    return Err(HandError::Illegal);
                }
                self.check_time(at)?;
                self.state = HandState::Unschedulable;
                self.finished_at = Some(at);
            }
        }
        Ok((from, self.state))
    }

    /// A worker-side ending of the open attempt: free before the start, on the preemption budget
    /// after, ending PREEMPTED for a preemption and WORKER_FAILED otherwise.
    fn worker_side_end(
        &mut self,
        state: HandState,
        error: String,
        at: Timestamp,
    ) -> Result<(), HandError> {
        let executing = self
            .attempts
            .last()
            .is_some_and(|attempt| attempt.started_at.is_some());
        let ends = if state == HandState::Preempted {
            HandState::Preempted
        } else {
            HandState::WorkerFailed
        };
        let killed_on_worker = state == HandState::Killed;
        self.close_as(
            state,
            killed_on_worker,
            at,
            None,
            Some(error),
            ends,
            |task| !executing || task.preemptions() <= task.policy.max_retries_preemption,
        )
    }

    fn failures(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.state == HandState::Failed)
            .count() as u32
    }

    fn preemptions(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.worker_side() && a.started_at.is_some())
            .count() as u32
    }
}

/// The same hand-written task kept as `AnyTask` keeps a task: an enum with a variant per state.
/// A state change moves the task out of its variant and into the next one (through a dataless
/// placeholder, which is cheaper than the crate's), where `HandTask` writes one byte. It isolates
/// what that representation costs from what the crate's code costs.
pub enum HandEnumTask {
    Pending(HandTask),
    Assigned(HandTask),
    Building(HandTask),
    Running(HandTask),
    Succeeded(HandTask),
    Failed(HandTask),
    Killed(HandTask),
    WorkerFailed(HandTask),
    Unschedulable(HandTask),
    Preempted(HandTask),
    CoschedFailed(HandTask),
    /// What a state change leaves for the moment the task is between two variants.
    Moving,
}

impl HandEnumTask {
    pub fn new(id: TaskId, policy: RetryPolicy) -> HandEnumTask {
        HandEnumTask::Pending(HandTask::new(id, policy))
    }

    /// `HandTask::apply` on the task inside, then the task moved into its new state's variant.
    pub fn apply(&mut self, event: HandEvent) -> Result<(HandState, HandState), HandError> {
        use HandEnumTask as E;
        let task = match self {
            E::Pending(task)
            | E::Assigned(task)
            | E::Building(task)
            | E::Running(task)
            | E::Succeeded(task)
            | E::Failed(task)
            | E::Killed(task)
            | E::WorkerFailed(task)
            | E::Unschedulable(task)
            | E::Preempted(task)
            | E::CoschedFailed(task) => task,
            E::Moving => return Err(HandError::Illegal),
        };
        let (from, to) = task.apply(event)?;
        if from != to {
            let (E::Pending(task)
            | E::Assigned(task)
            | E::Building(task)
            | E::Running(task)
            | E::Succeeded(task)
            | E::Failed(task)
            | E::Killed(task)
            | E::WorkerFailed(task)
            | E::Unschedulable(task)
            | E::Preempted(task)
            | E::CoschedFailed(task)) = std::mem::replace(self, E::Moving)
            else {
                return Err(HandError::Illegal);
            };
            *self = match to {
                HandState::Pending => E::Pending(task),
                HandState::Assigned => E::Assigned(task),
                HandState::Building => E::Building(task),
                HandState::Running => E::Running(task),
                HandState::Succeeded => E::Succeeded(task),
                HandState::Failed => E::Failed(task),
                HandState::Killed => E::Killed(task),
                HandState::WorkerFailed => E::WorkerFailed(task),
                HandState::Unschedulable => E::Unschedulable(task),
                HandState::Preempted => E::Preempted(task),
                HandState::CoschedFailed => E::CoschedFailed(task),
            };
        }
        Ok((from, to))
    }
}

// ----- fixtures shared by the benches -----

use iris_task::{AnyTask, AttemptId, JobId, Task, TaskEvent, WorkerReport};

pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A task id and a worker id of realistic length.
pub fn ids() -> (TaskId, WorkerId) {
    let job = JobId::new("bench/job").expect("valid job id");
    (
        TaskId::new(job, 7),
        WorkerId::new("worker-0042").expect("valid worker id"),
    )
}

/// The lifecycle as events from the network: assigned to `worker`, RUNNING, SUCCEEDED.
pub fn lifecycle_events(worker: WorkerId) -> [TaskEvent; 3] {
    [
        TaskEvent::Assign {
            worker: worker.clone(),
            at: at(1),
        },
        TaskEvent::Report {
            worker: worker.clone(),
            attempt: AttemptId::new(0),
            report: WorkerReport::Running,
            at: at(2),
        },
        TaskEvent::Report {
            worker,
            attempt: AttemptId::new(0),
            report: WorkerReport::Succeeded,
            at: at(3),
        },
    ]
}

/// The same lifecycle for the hand-written baseline.
pub fn hand_events(worker: WorkerId) -> [HandEvent; 3] {
    [
        HandEvent::Assign {
            worker: worker.clone(),
            at: at(1),
        },
        HandEvent::Report {
            worker: worker.clone(),
            attempt: 0,
            report: HandReport::Running,
            at: at(2),
        },
        HandEvent::Report {
            worker,
            attempt: 0,
            report: HandReport::Succeeded,
            at: at(3),
        },
    ]
}

/// The lifecycle's three events fed to the hand-written task's own methods: what a controller
/// that knows each event's meaning at compile time would call, with the checks the crate makes
/// (attempt, worker) but no matching on the event.
#[inline]
pub fn direct_calls(
    task: &mut HandTask,
    assign: HandEvent,
    running: HandEvent,
    succeeded: HandEvent,
) {
    if let HandEvent::Assign { worker, at } = assign {
        black_box(task.assign(worker, at).ok());
    }
    if let HandEvent::Report {
        worker,
        attempt,
        at,
        ..
    } = running
    {
        if task.is_current(&worker, attempt) {
            black_box(task.start(at).ok());
        }
    }
    if let HandEvent::Report {
        worker,
        attempt,
        at,
        ..
    } = succeeded
    {
        if task.is_current(&worker, attempt) {
            black_box(task.succeed(at).ok());
        }
    }
}

/// A running task after a dispatch failure: two attempts, the shape most live tasks have.
pub fn wire_task() -> AnyTask {
    let (id, _) = ids();
    wire_task_with(id)
}

/// [`wire_task`] with a task id in Iris's path form, as today's wire names tasks.
pub fn today_wire_task() -> AnyTask {
    wire_task_with(TaskId::from_path("/bench/job/7").expect("valid task path"))
}

fn wire_task_with(id: TaskId) -> AnyTask {
    let worker = |name: &str| WorkerId::new(name).expect("valid worker id");
    Task::new(id, RetryPolicy::default())
        .assign(worker("worker-0041"), at(1_700_000_000_000))
        .worker_failed("RunTask: connection refused", at(1_700_000_000_050))
        .assign(worker("worker-0042"), at(1_700_000_001_000))
        .build(at(1_700_000_001_100))
        .start(at(1_700_000_002_000))
        .into_any()
}
