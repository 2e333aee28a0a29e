//! [`StateCounts`]: how many tasks are in each state, what dashboards show.

use crate::state::StateKind;

/// How many tasks are in each state: what a dashboard shows, and part of what a job's state is
/// judged from (the table keeps each job's state: [`TaskTable::job`](crate::TaskTable::job)).
///
/// ASSIGNED is its own bucket, apart from pending and running.
///
/// ```
/// use iris_task::{StateCounts, StateKind};
///
/// let counts: StateCounts =
///     [StateKind::Pending, StateKind::Assigned, StateKind::Assigned].into_iter().collect();
/// assert_eq!(counts.get(StateKind::Assigned), 2);
/// assert_eq!(counts.total(), 3);
/// assert_eq!(counts.unfinished(), 3);
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
