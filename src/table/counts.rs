//! [`StateCounts`] and [`JobState`]: what dashboards show, and how a job's state derives from its
//! tasks' states.

use std::fmt;
use std::str::FromStr;

use crate::policy::JobPolicy;
use crate::state::StateKind;

/// How many tasks are in each state: what a dashboard shows, and what a job's state derives from.
///
/// ASSIGNED is its own bucket, apart from pending and running.
///
/// ```
/// use iris_task::{JobPolicy, JobState, StateCounts, StateKind};
///
/// let counts: StateCounts =
///     [StateKind::Pending, StateKind::Assigned, StateKind::Assigned].into_iter().collect();
/// assert_eq!(counts.get(StateKind::Assigned), 2);
/// assert_eq!(counts.total(), 3);
/// assert_eq!(counts.job_state(&JobPolicy::default()), JobState::Running);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// One count per state, in `StateKind::ALL` order.
    by_state: [usize; StateKind::ALL.len()],
}

impl StateCounts {
    fn bucket(&mut self, state: StateKind) -> Option<&mut usize> {
        // The discriminant is the position in `StateKind::ALL`, which declares them in order.
        self.by_state.get_mut(state as usize)
    }

    pub(super) fn add(&mut self, state: StateKind) {
        self.add_many(state, 1);
    }

    /// Counts `count` more tasks in `state`, saturating at `usize::MAX`.
    fn add_many(&mut self, state: StateKind, count: usize) {
        if let Some(bucket) = self.bucket(state) {
            *bucket = bucket.saturating_add(count);
        }
    }

    pub(super) fn remove(&mut self, state: StateKind) {
        if let Some(count) = self.bucket(state) {
            *count = count.saturating_sub(1);
        }
    }

    /// How many tasks are in `state`.
    pub fn get(&self, state: StateKind) -> usize {
        self.by_state.get(state as usize).copied().unwrap_or(0)
    }

    /// How many tasks there are, in all states (saturating at `usize::MAX`, for counts read from
    /// untrusted input).
    pub fn total(&self) -> usize {
        self.sum(|_| true)
    }

    /// How many tasks have not ended: pending or active (saturating at `usize::MAX`).
    ///
    /// ```
    /// use iris_task::{StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Pending, StateKind::Running, StateKind::Succeeded]
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(counts.unfinished(), 2);
    /// ```
    pub fn unfinished(&self) -> usize {
        self.sum(|state| !state.is_terminal())
    }

    /// Sums the counts of the states `which` picks, saturating at `usize::MAX`.
    fn sum(&self, which: impl Fn(StateKind) -> bool) -> usize {
        self.iter()
            .filter(|&(state, _)| which(state))
            .fold(0, |sum, (_, count)| sum.saturating_add(count))
    }

    /// Every state with its count, in [`StateKind::ALL`] order, zeros included.
    ///
    /// ```
    /// use iris_task::{StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Running, StateKind::Running].into_iter().collect();
    /// let nonzero: Vec<(StateKind, usize)> = counts.iter().filter(|(_, n)| *n > 0).collect();
    /// assert_eq!(nonzero, [(StateKind::Running, 2)]);
    /// assert_eq!(counts.iter().count(), 11);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (StateKind, usize)> + '_ {
        StateKind::ALL
            .into_iter()
            .zip(self.by_state.iter().copied())
    }

    /// The state of a job whose tasks these are. A job with no tasks is PENDING; otherwise the
    /// first rule that matches decides:
    ///
    /// 1. every task ended SUCCEEDED or FAILED, and at most `max_task_failures` FAILED → SUCCEEDED;
    /// 2. more than `max_task_failures` tasks FAILED → FAILED (preemptions, worker failures and
    ///    gang stops never count here);
    /// 3. any UNSCHEDULABLE → UNSCHEDULABLE;
    /// 4. any KILLED → KILLED;
    /// 5. every task ended, and any WORKER_FAILED, PREEMPTED or COSCHED_FAILED → WORKER_FAILED;
    /// 6. any ASSIGNED, BUILDING or RUNNING → RUNNING;
    /// 7. otherwise PENDING.
    ///
    /// For a coscheduled job, rules 1 and 2 use 0 whatever `max_task_failures` says: a gang is
    /// all or nothing, so one FAILED task fails it. Counts alone cannot tell a job that never
    /// started from one whose tasks all wait for a retry (both read PENDING):
    /// [`TaskTable::job_state`](crate::TaskTable::job_state) can, and reads the latter RUNNING.
    ///
    /// ```
    /// use iris_task::{JobPolicy, JobState, StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Succeeded, StateKind::Failed].into_iter().collect();
    /// let tolerant = JobPolicy { max_task_failures: 1, ..JobPolicy::default() };
    /// assert_eq!(counts.job_state(&tolerant), JobState::Succeeded);
    /// assert_eq!(counts.job_state(&JobPolicy::default()), JobState::Failed);
    /// // A gang is all or nothing.
    /// let gang = JobPolicy { coscheduled: true, ..tolerant };
    /// assert_eq!(counts.job_state(&gang), JobState::Failed);
    /// ```
    pub fn job_state(&self, policy: &JobPolicy) -> JobState {
        use StateKind as S;
        let failed = self.get(S::Failed);
        let allowed = if policy.coscheduled {
            0
        } else {
            usize::try_from(policy.max_task_failures).unwrap_or(usize::MAX)
        };
        // Each rule asks which buckets are empty, never compares sums: counts read from untrusted
        // input saturate, and a saturated total would equal a saturated part.
        let none_but = |kept: &[StateKind]| {
            self.iter()
                .all(|(state, count)| count == 0 || kept.contains(&state))
        };
        let any = |which: fn(StateKind) -> bool| {
            self.iter().any(|(state, count)| count > 0 && which(state))
        };
        let worker_side =
            |state: StateKind| matches!(state, S::WorkerFailed | S::Preempted | S::CoschedFailed);
        if none_but(&[]) {
            JobState::Pending
        } else if none_but(&[S::Succeeded, S::Failed]) && failed <= allowed {
            JobState::Succeeded
        } else if failed > allowed {
            JobState::Failed
        } else if self.get(S::Unschedulable) > 0 {
            JobState::Unschedulable
        } else if self.get(S::Killed) > 0 {
            JobState::Killed
        } else if !any(|state| !state.is_terminal()) && any(worker_side) {
            JobState::WorkerFailed
        } else if any(StateKind::is_active) {
            JobState::Running
        } else {
            JobState::Pending
        }
    }
}

impl FromIterator<StateKind> for StateCounts {
    fn from_iter<I: IntoIterator<Item = StateKind>>(states: I) -> StateCounts {
        let mut counts = StateCounts::default();
        counts.extend(states);
        counts
    }
}

impl FromIterator<(StateKind, usize)> for StateCounts {
    /// Counts given as numbers, per state; a state given twice adds up.
    ///
    /// ```
    /// use iris_task::{StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [(StateKind::Pending, 5), (StateKind::Assigned, 2)].into_iter().collect();
    /// assert_eq!((counts.get(StateKind::Pending), counts.total()), (5, 7));
    /// ```
    fn from_iter<I: IntoIterator<Item = (StateKind, usize)>>(counts: I) -> StateCounts {
        let mut all = StateCounts::default();
        for (state, count) in counts {
            all.add_many(state, count);
        }
        all
    }
}

impl Extend<StateKind> for StateCounts {
    fn extend<I: IntoIterator<Item = StateKind>>(&mut self, states: I) {
        for state in states {
            self.add(state);
        }
    }
}

/// The state of a job, derived from its tasks' states by [`StateCounts::job_state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// No task is active and the job has not ended: every task waits to be (re)scheduled.
    Pending,
    /// At least one task is assigned, building or running.
    Running,
    /// Every task ended, and no more of them failed than the job allows.
    Succeeded,
    /// More tasks failed than the job allows.
    Failed,
    /// A task was killed.
    Killed,
    /// Every task ended, and at least one of them on the worker side: its workers kept dying,
    /// it was preempted once too often, or it was stopped with its gang.
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
