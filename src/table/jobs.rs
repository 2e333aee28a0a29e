//! What the table keeps of each job, and the job's rules: its state, judged in Iris's order after
//! every change to its tasks, its error, and the [`Job`] view a controller reads them through.
//!
//! The two other rules of a job, the gang rule and the job-end rule, act on tasks and so live
//! with the table's changes (`events.rs`). Which state a job is in, and why, is judged here
//! only; `events.rs` applies the verdicts, and the one change no verdict makes, an assignment
//! turning a PENDING job RUNNING, as Iris's `assign` does.

use std::fmt;
use std::str::FromStr;

use super::counts::StateCounts;
use super::list::SlotId;
use crate::id::JobId;
use crate::policy::JobPolicy;
use crate::state::StateKind;

/// The error of a job cancelled because a job above it was
/// ([`TaskTable::kill_job`](crate::TaskTable::kill_job)), and of its tasks: Iris's words.
pub const PARENT_JOB_TERMINATED_REASON: &str = "Parent job terminated";

/// A job as a snapshot or a store records it: its id, its policy, and its state and error when
/// recorded (a 0.2 store did not record them: they are then judged from the tasks).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) struct JobRecord {
    pub(crate) id: JobId,
    pub(crate) policy: Option<JobPolicy>,
    pub(crate) state: Option<(JobState, Option<String>)>,
}

/// What the table keeps of a job.
pub(super) struct JobEntry {
    /// The job's id: the one copy of its name all its tasks share.
    pub(super) id: JobId,
    /// Its tasks' states, counted.
    pub(super) counts: StateCounts,
    /// Its tasks' slots, in insertion order.
    pub(super) slots: Vec<SlotId>,
    /// The job's policy, once [`TaskTable::set_job_policy`](crate::TaskTable::set_job_policy) told
    /// it: only then do the gang and job-end rules apply to its tasks.
    pub(super) policy: Option<JobPolicy>,
    /// Some task of the job was assigned at least once.
    pub(super) started: bool,
    /// The FAILED attempts of its tasks, retried ones included: what `max_task_failures` is
    /// checked against. Derived from the attempts when tasks are loaded, then counted as attempts
    /// close FAILED, in the one function that files a task's change.
    pub(super) failures: u32,
    /// Its state, as last judged.
    pub(super) state: JobState,
    /// Why it ended, once it ended (other than SUCCEEDED).
    pub(super) error: Option<String>,
}

impl JobEntry {
    pub(super) fn new(id: JobId) -> JobEntry {
        JobEntry {
            id,
            counts: StateCounts::default(),
            slots: Vec::new(),
            policy: None,
            started: false,
            failures: 0,
            state: JobState::Pending,
            error: None,
        }
    }

    /// Forgets everything but the memory of its vectors, for the next job to take the entry.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.counts = StateCounts::default();
        self.policy = None;
        self.started = false;
        self.failures = 0;
        self.state = JobState::Pending;
        self.error = None;
    }

    /// The job's state after a change to its tasks, and which rule says so: Iris's order
    /// (`reconcile/job.py`, `recompute_state`). An ended job stays ended. A job with no task keeps
    /// its state.
    pub(super) fn judge(&self) -> Verdict {
        if self.state.is_terminal() {
            return Verdict {
                state: self.state,
                cause: Cause::Unchanged,
            };
        }
        self.judge_tasks()
    }

    /// What the job's tasks, failures and policy make it, whatever its kept state: [`judge`]
    /// without a terminal state's finality.
    ///
    /// [`judge`]: JobEntry::judge
    pub(super) fn judge_tasks(&self) -> Verdict {
        self.judge_tasks_under(self.policy.unwrap_or_default().max_task_failures)
    }

    /// [`judge_tasks`](JobEntry::judge_tasks) with `limit` for `max_task_failures`.
    pub(super) fn judge_tasks_under(&self, limit: u32) -> Verdict {
        use StateKind as S;
        let counts = &self.counts;
        let unchanged = Verdict {
            state: self.state,
            cause: Cause::Unchanged,
        };
        let active = [S::Assigned, S::Building, S::Running]
            .into_iter()
            .any(|state| counts.get(state) > 0);
        let unfinished = active || counts.get(S::Pending) > 0;
        let ended = |state, cause| Verdict { state, cause };
        // Read bucket by bucket, in the rules' order (rules 1, 5 and 6 need every task ended).
        if !unfinished && counts.total() > 0 && counts.get(S::Succeeded) == counts.total() {
            return ended(JobState::Succeeded, Cause::Succeeded);
        }
        if self.failures > limit {
            let failures = self.failures;
            return ended(JobState::Failed, Cause::TooManyFailures { failures, limit });
        }
        if counts.get(S::Unschedulable) > 0 {
            return ended(JobState::Unschedulable, Cause::TaskEnded);
        }
        if counts.get(S::Killed) > 0 {
            return ended(JobState::Killed, Cause::TaskEnded);
        }
        if !unfinished && counts.total() > 0 {
            let worker_side = [S::WorkerFailed, S::Preempted, S::CoschedFailed]
                .into_iter()
                .any(|state| counts.get(state) > 0);
            // Every task ended, some FAILED within the tolerance: a task that can never succeed
            // fails the job (Iris: "a lone tolerated FAILED still fails the job").
            let state = if worker_side {
                JobState::WorkerFailed
            } else {
                JobState::Failed
            };
            return ended(state, Cause::TaskEnded);
        }
        if self.started || active {
            ended(JobState::Running, Cause::Unchanged)
        } else if unfinished {
            ended(JobState::Pending, Cause::Unchanged)
        } else {
            // No task at all: the job keeps its state.
            unchanged
        }
    }
}

/// A job's state as judged, and which rule decided it: what the job's error says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) state: JobState,
    pub(super) cause: Cause,
}

/// Why a job ended, as its error will say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// It did not end (or had ended before).
    Unchanged,
    /// Every task succeeded: no error.
    Succeeded,
    /// More FAILED attempts than `max_task_failures`.
    TooManyFailures {
        /// The job's FAILED attempts.
        failures: u32,
        /// Its `max_task_failures`.
        limit: u32,
    },
    /// A task's ending ended it: the error is the first task error.
    TaskEnded,
}

impl Cause {
    /// The job's error, given its first task error (see [`first_task_error`]).
    pub(super) fn error(self, first_task_error: Option<&str>) -> Option<String> {
        match self {
            Cause::Unchanged | Cause::Succeeded => None,
            Cause::TooManyFailures { failures, limit } => {
                let mut error = format!(
                    "Cumulative failed task attempts exceeded max_task_failures: failures={failures}, limit={limit}"
                );
                if let Some(first) = first_task_error {
                    error.push_str("; ");
                    error.push_str(first);
                }
                Some(error)
            }
            Cause::TaskEnded => first_task_error.map(str::to_owned),
        }
    }
}

/// The error of the job's task that ended first other than SUCCEEDED (ties by index),
/// preferring a task's own ending over one that only echoes a gang sibling's: the root cause, as
/// Iris picks it (`pick_earliest_task_error`). `tasks` are the job's tasks in index order.
pub(super) fn first_task_error<'a>(
    tasks: impl IntoIterator<Item = &'a crate::any::AnyTask>,
) -> Option<&'a str> {
    let mut best: Option<(bool, crate::id::Timestamp, &str)> = None;
    for task in tasks {
        let state = task.state();
        if !state.is_terminal() || state == StateKind::Succeeded {
            continue;
        }
        let core = task.core();
        let (Some(ended), Some(error)) = (core.ended_at(true), task_error(task)) else {
            continue;
        };
        // Derived: a gang's echo of its trigger, by state or by Iris's words for it.
        let derived = state == StateKind::CoschedFailed
            || error.starts_with(crate::task::SIBLING_ERROR_PREFIX);
        let key = (derived, ended);
        // Strictly earlier only: ties go to the lower index, which came first.
        if best.is_none_or(|(derived, at, _)| key < (derived, at)) {
            best = Some((key.0, key.1, error));
        }
    }
    best.map(|(_, _, error)| error)
}

/// A task's error as Iris keeps it on the task: the latest one recorded, an attempt without an
/// error leaving the one before in place (the reason it ended with while pending, or else its
/// attempts' errors, the last that has one).
fn task_error(task: &crate::any::AnyTask) -> Option<&str> {
    match task.core().outcome() {
        (_, Some(error)) => Some(error),
        _ => task
            .attempts()
            .iter()
            .rev()
            .find_map(|attempt| attempt.error()),
    }
}

/// A job's state before and after a table call, for a job whose state the call changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobTransition {
    /// The state before the call.
    pub from: JobState,
    /// The state after it.
    pub to: JobState,
}

/// A job as the table keeps it: its state, why it ended, its policy and its tasks' counts. Get
/// one from [`TaskTable::job`](crate::TaskTable::job) or [`TaskTable::jobs`](crate::TaskTable::jobs).
///
/// ```
/// use iris_task::{JobId, JobPolicy, JobState, RetryPolicy, StateKind, Task, TaskId, TaskTable};
///
/// let id = JobId::new("train")?;
/// let mut table = TaskTable::new();
/// table.set_job_policy(id.clone(), JobPolicy::default());
/// table.insert(Task::new(TaskId::new(id.clone(), 0), RetryPolicy::default()))?;
/// let job = table.job(&id).unwrap();
/// assert_eq!((job.state(), job.error(), job.failures()), (JobState::Pending, None, 0));
/// assert_eq!(job.counts().get(StateKind::Pending), 1);
/// assert!(!job.has_started());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub(super) entry: &'a JobEntry,
}

impl<'a> Job<'a> {
    /// The job's id.
    pub fn id(&self) -> &'a JobId {
        &self.entry.id
    }

    /// The job's state, as the table last judged it.
    pub fn state(&self) -> JobState {
        self.entry.state
    }

    /// Why the job ended, once it ended other than SUCCEEDED: the cancel reason; for too many
    /// failures `Cumulative failed task attempts exceeded max_task_failures: failures=N, limit=M`
    /// and the first task error; otherwise the first task error (the task that ended first, a
    /// task's own ending before a gang sibling's echo of it). Iris's words, so that both
    /// controllers' clients read the same. `None` while the job runs, and for a job that ended
    /// without any task error.
    pub fn error(&self) -> Option<&'a str> {
        self.entry.error.as_deref()
    }

    /// The policy the table was told, if any.
    pub fn policy(&self) -> Option<&'a JobPolicy> {
        self.entry.policy.as_ref()
    }

    /// How many of its tasks are in each state.
    pub fn counts(&self) -> &'a StateCounts {
        &self.entry.counts
    }

    /// Its FAILED attempts so far, retried ones included: what `max_task_failures` is checked
    /// against.
    pub fn failures(&self) -> u32 {
        self.entry.failures
    }

    /// Some task of the job was assigned at least once.
    pub fn has_started(&self) -> bool {
        self.entry.started
    }
}

impl fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &format_args!("{}", self.entry.id))
            .field("state", &self.entry.state)
            .field("error", &self.entry.error)
            .field("policy", &self.entry.policy)
            .field("failures", &self.entry.failures)
            .field("started", &self.entry.started)
            .field("counts", &self.entry.counts)
            .finish()
    }
}

/// The state of a job, which [`TaskTable`](crate::TaskTable) keeps and judges after every change
/// to the job's tasks (the rules are on [`TaskTable::job`](crate::TaskTable::job)). Once it has
/// ended it stays ended, but for one case: cancelling a WORKER_FAILED job makes it KILLED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Not started: no task of it was ever assigned, and it has not ended.
    Pending,
    /// Started (some task was assigned at least once) and not ended.
    Running,
    /// Every task succeeded.
    Succeeded,
    /// More of its attempts failed than the job allows (`max_task_failures`, counted over every
    /// attempt, retried ones included), or every task ended and one of them FAILED.
    Failed,
    /// A task was killed, or the job was cancelled.
    Killed,
    /// Every task ended, and one of them on the worker side: its workers kept dying, it was
    /// preempted once too often, or it was stopped with its gang.
    WorkerFailed,
    /// A task could not be scheduled before its deadline.
    Unschedulable,
}

impl JobState {
    /// Every job state, in the order of [`StateKind::ALL`] for the states they share.
    pub const ALL: [JobState; 7] = [
        JobState::Pending,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Killed,
        JobState::WorkerFailed,
        JobState::Unschedulable,
    ];

    /// The task state of the same name, whose label, CSS class and colour the job state shares:
    /// a dashboard styles a RUNNING job as it styles a RUNNING task.
    const fn task_state(self) -> StateKind {
        match self {
            JobState::Pending => StateKind::Pending,
            JobState::Running => StateKind::Running,
            JobState::Succeeded => StateKind::Succeeded,
            JobState::Failed => StateKind::Failed,
            JobState::Killed => StateKind::Killed,
            JobState::WorkerFailed => StateKind::WorkerFailed,
            JobState::Unschedulable => StateKind::Unschedulable,
        }
    }

    /// The job has ended: every state but PENDING and RUNNING.
    ///
    /// ```
    /// use iris_task::JobState;
    ///
    /// assert!(JobState::Killed.is_terminal());
    /// assert!(!JobState::Running.is_terminal());
    /// ```
    pub const fn is_terminal(self) -> bool {
        !matches!(self, JobState::Pending | JobState::Running)
    }

    /// The lower-case name: `"pending"`, `"running"`, `"worker_failed"`, …, the
    /// [label](StateKind::label) of the task state of the same name.
    ///
    /// ```
    /// use iris_task::JobState;
    ///
    /// assert_eq!(JobState::WorkerFailed.label(), "worker_failed");
    /// assert_eq!(JobState::Running.to_string(), "running");
    /// assert_eq!("running".parse::<JobState>()?, JobState::Running);
    /// # Ok::<(), iris_task::ParseJobStateError>(())
    /// ```
    pub const fn label(self) -> &'static str {
        self.task_state().label()
    }

    /// The CSS class dashboards style the job with: `"status-"` and the [label](Self::label).
    ///
    /// ```
    /// use iris_task::JobState;
    ///
    /// assert_eq!(JobState::Succeeded.css_class(), "status-succeeded");
    /// ```
    pub const fn css_class(self) -> &'static str {
        self.task_state().css_class()
    }

    /// The dashboard colour of the job state, as a CSS hex colour: that of the task state of the
    /// same name.
    ///
    /// ```
    /// use iris_task::{JobState, StateKind};
    ///
    /// assert_eq!(JobState::Running.color(), StateKind::Running.color());
    /// ```
    pub const fn color(self) -> &'static str {
        self.task_state().color()
    }

    /// What Iris tells the tasks it stops when a job ends in this state without an error of its
    /// own (`TERMINAL_STATE_FALLBACK_REASONS`); a job with an error stops them with its error.
    pub(crate) const fn fallback_end_reason(self) -> &'static str {
        match self {
            JobState::Succeeded => "Job completed successfully",
            JobState::Failed => "Job failed",
            JobState::Killed => "Job was terminated.",
            JobState::Unschedulable => "Job could not be scheduled.",
            JobState::WorkerFailed => "Preemption budget exhausted",
            JobState::Pending | JobState::Running => "Job finalized",
        }
    }
}

impl fmt::Display for JobState {
    /// The [label](JobState::label), padded to the formatter's width and fill.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

impl FromStr for JobState {
    type Err = ParseJobStateError;

    /// Parses a [label](JobState::label); anything else, upper case included, is an error.
    fn from_str(label: &str) -> Result<JobState, ParseJobStateError> {
        JobState::ALL
            .into_iter()
            .find(|state| state.label() == label)
            .ok_or_else(|| ParseJobStateError {
                input: label.to_owned(),
            })
    }
}

/// Text that is not the [label](JobState::label) of a job state.
///
/// ```
/// use iris_task::JobState;
///
/// let err = "assigned".parse::<JobState>().unwrap_err();
/// assert_eq!(err.to_string(), "\"assigned\" is not a job state; expected one of pending, running, succeeded, failed, killed, worker_failed, unschedulable");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a job state; expected one of pending, running, succeeded, failed, killed, worker_failed, unschedulable"
)]
pub struct ParseJobStateError {
    input: String,
}

impl ParseJobStateError {
    /// The rejected text.
    pub fn input(&self) -> &str {
        &self.input
    }
}
