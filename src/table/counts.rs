//! [`StateCounts`] and [`JobState`]: what dashboards show, and how a job's state derives from its
//! tasks' states.

use std::fmt;

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
    by_state: [usize; 9],
}

impl StateCounts {
    fn bucket(&mut self, state: StateKind) -> Option<&mut usize> {
        // The discriminant is the position in `StateKind::ALL`, which declares them in order.
        self.by_state.get_mut(state as usize)
    }

    pub(super) fn add(&mut self, state: StateKind) {
        if let Some(count) = self.bucket(state) {
            *count += 1;
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

    /// How many tasks there are, in all states.
    pub fn total(&self) -> usize {
        self.by_state.iter().sum()
    }

    /// Every state with its count, in [`StateKind::ALL`] order, zeros included.
    ///
    /// ```
    /// use iris_task::{StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Running, StateKind::Running].into_iter().collect();
    /// let nonzero: Vec<(StateKind, usize)> = counts.iter().filter(|(_, n)| *n > 0).collect();
    /// assert_eq!(nonzero, [(StateKind::Running, 2)]);
    /// assert_eq!(counts.iter().count(), 9);
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
    /// 2. more than `max_task_failures` tasks FAILED → FAILED (preemptions never count here);
    /// 3. any UNSCHEDULABLE → UNSCHEDULABLE;
    /// 4. any KILLED → KILLED;
    /// 5. every task terminal and any WORKER_FAILED → WORKER_FAILED;
    /// 6. any ASSIGNED, BUILDING or RUNNING → RUNNING;
    /// 7. otherwise PENDING.
    ///
    /// ```
    /// use iris_task::{JobPolicy, JobState, StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Succeeded, StateKind::Failed].into_iter().collect();
    /// assert_eq!(counts.job_state(&JobPolicy { max_task_failures: 1 }), JobState::Succeeded);
    /// assert_eq!(counts.job_state(&JobPolicy { max_task_failures: 0 }), JobState::Failed);
    /// ```
    pub fn job_state(&self, policy: &JobPolicy) -> JobState {
        use StateKind as S;
        let total = self.total();
        let failed = self.get(S::Failed);
        let allowed = usize::try_from(policy.max_task_failures).unwrap_or(usize::MAX);
        let terminal: usize = self
            .iter()
            .filter(|(state, _)| state.is_terminal())
            .map(|(_, count)| count)
            .sum();
        let active: usize = self
            .iter()
            .filter(|(state, _)| state.is_active())
            .map(|(_, count)| count)
            .sum();
        if total == 0 {
            JobState::Pending
        } else if self.get(S::Succeeded) + failed == total && failed <= allowed {
            JobState::Succeeded
        } else if failed > allowed {
            JobState::Failed
        } else if self.get(S::Unschedulable) > 0 {
            JobState::Unschedulable
        } else if self.get(S::Killed) > 0 {
            JobState::Killed
        } else if terminal == total && self.get(S::WorkerFailed) > 0 {
            JobState::WorkerFailed
        } else if active > 0 {
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
    /// Every task ended, and at least one of them because its workers kept dying.
    WorkerFailed,
    /// A task could not be scheduled before its deadline.
    Unschedulable,
}

impl JobState {
    /// The lower-case name: `"pending"`, `"running"`, `"worker_failed"`, …
    ///
    /// ```
    /// use iris_task::JobState;
    ///
    /// assert_eq!(JobState::WorkerFailed.label(), "worker_failed");
    /// assert_eq!(JobState::Running.to_string(), "running");
    /// ```
    pub const fn label(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Killed => "killed",
            JobState::WorkerFailed => "worker_failed",
            JobState::Unschedulable => "unschedulable",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
