//! [`Changes`]: what one table call did to each task and job it touched.

use std::fmt;

use hashbrown::HashMap;

use super::jobs::{JobState, JobTransition};
use crate::any::Transition;
use crate::id::{AttemptId, JobId, TaskId};

/// Every task one [`TaskTable`](crate::TaskTable) call changed, in the order it first changed
/// them, each with its state before and after the whole call, and every job whose state the call
/// changed ([`jobs`](Changes::jobs)): what a store, a dashboard or an audit log needs, so that
/// none of them has to diff the table.
///
/// For [`TaskTable::apply`](crate::TaskTable::apply) the task the event named comes first (with
/// `from == to` when the event was an accepted duplicate), then the gang siblings the event
/// moved, then the tasks stopped because their job ended. An entry spans the whole call: a
/// FAILED report that requeues its task and, by the same failed attempt, ends the task's job
/// (which then stops it) shows RUNNING → KILLED; the task's attempts say what happened in
/// between.
///
/// ```
/// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp};
///
/// let job = JobId::new("job")?;
/// let mut table = TaskTable::new();
/// for index in 0..2 {
///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
/// }
/// let changes = table.kill_job(&job, "cancelled", Timestamp::from_millis(5));
/// assert_eq!(changes.len(), 2);
/// let first = changes.get(&TaskId::new(job.clone(), 0)).unwrap();
/// assert_eq!((first.from, first.to), (StateKind::Pending, StateKind::Killed));
/// let order: Vec<u32> = changes.iter().map(|(id, _)| id.index()).collect();
/// assert_eq!(order, [0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Changes {
    /// The first change, held inline: most calls change one task, and then allocate nothing.
    first: Option<(TaskId, Transition)>,
    /// The changes after the first, in order.
    more: Vec<(TaskId, Transition)>,
    /// Where each task is (0 for `first`, n + 1 for `more[n]`), once there are more than a few,
    /// so that a call that changes many tasks (a job's kill, a lost worker) records each in
    /// O(1), not O(n).
    positions: Option<Box<HashMap<TaskId, usize>>>,
    /// The jobs whose state changed, in the order they first changed.
    jobs: Vec<(JobId, JobTransition)>,
    stops: Vec<(TaskId, AttemptId)>,
}

/// Up to this many changes, a task is looked up by scanning: no map for the common single change.
const SCAN: usize = 8;

impl Changes {
    /// How many tasks the call touched: each task it changed, and for an
    /// [`apply`](crate::TaskTable::apply) of an accepted duplicate its one named task, unchanged
    /// (`from == to`). To list only the tasks whose state moved, filter
    /// [`iter`](Self::iter) on [`Transition::changed`].
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    /// The call touched no task (see [`len`](Self::len): an accepted duplicate is one entry).
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn entries(&self) -> impl Iterator<Item = &(TaskId, Transition)> + '_ {
        self.first.iter().chain(&self.more)
    }

    fn entry_mut(&mut self, position: usize) -> Option<&mut (TaskId, Transition)> {
        match position.checked_sub(1) {
            None => self.first.as_mut(),
            Some(at) => self.more.get_mut(at),
        }
    }

    /// The call changed some task's state. False for a call that changed nothing, and for an
    /// [`apply`](crate::TaskTable::apply) of an accepted duplicate, whose one entry has
    /// `from == to`.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskEvent, TaskId, TaskTable, Timestamp};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let kill = TaskEvent::Kill { reason: "cancelled".into(), at: Timestamp::from_millis(1) };
    /// assert!(table.apply(&id, kill)?.changed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn changed(&self) -> bool {
        self.entries().any(|(_, step)| step.changed())
    }

    /// The first task the call changed: for [`apply`](crate::TaskTable::apply), the task the
    /// event named.
    pub fn first(&self) -> Option<(&TaskId, Transition)> {
        self.first.as_ref().map(|(id, step)| (id, *step))
    }

    /// Each task that changed with its state before and after the call, in the order the call
    /// first changed them.
    pub fn iter(&self) -> impl Iterator<Item = (&TaskId, Transition)> + '_ {
        self.entries().map(|(id, step)| (id, *step))
    }

    /// What the call did to task `id`, if it changed it. O(1) once more than a few tasks
    /// changed, a scan of at most a few before.
    pub fn get(&self, id: &TaskId) -> Option<Transition> {
        self.position(id)
            .and_then(|at| self.entries().nth(at))
            .map(|(_, step)| *step)
    }

    fn position(&self, id: &TaskId) -> Option<usize> {
        match &self.positions {
            Some(positions) => positions.get(id).copied(),
            None => self.entries().position(|(changed, _)| changed == id),
        }
    }

    /// Every job whose state the call changed, with its state before and after the whole call,
    /// in the order they first changed: a job's first assignment (PENDING → RUNNING), a job that
    /// ended, a cancel. Tasks' changes are in [`iter`](Self::iter); a job can change with no task
    /// changing (a cancel of a job whose tasks had all ended).
    ///
    /// ```
    /// use iris_task::{JobId, JobState, RetryPolicy, Task, TaskId, TaskTable, Timestamp};
    ///
    /// let job = JobId::new("job")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// let changes = table.kill_job(&job, "cancelled", Timestamp::from_millis(5));
    /// let jobs: Vec<(&JobId, JobState, JobState)> =
    ///     changes.jobs().map(|(id, step)| (id, step.from, step.to)).collect();
    /// assert_eq!(jobs, [(&job, JobState::Pending, JobState::Killed)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs(&self) -> impl Iterator<Item = (&JobId, JobTransition)> + '_ {
        self.jobs.iter().map(|(id, step)| (id, *step))
    }

    /// The attempts whose stop the call settled: their worker confirmed it (an observation of the
    /// attempt ended or gone) or was lost. Each is a closed attempt that no longer
    /// [awaits its stop](crate::Attempt::awaits_stop); its task's state did not change, so it is
    /// listed here rather than among the tasks. A store writes these attempts too.
    pub fn stops(&self) -> &[(TaskId, AttemptId)] {
        &self.stops
    }

    /// Records that the stop of `attempt` of `id` was settled.
    pub(crate) fn record_stop(&mut self, id: TaskId, attempt: AttemptId) {
        self.stops.push((id, attempt));
    }

    /// What the call did to job `job`'s state, if it changed it.
    pub fn job(&self, job: &JobId) -> Option<JobTransition> {
        self.jobs
            .iter()
            .find(|(id, _)| id == job)
            .map(|(_, step)| *step)
    }

    /// Records that job `id` went from `from` to `to`; a job already recorded keeps its place
    /// and its first `from`.
    pub(crate) fn record_job(&mut self, id: JobId, from: JobState, to: JobState) {
        match self.jobs.iter_mut().find(|(known, _)| *known == id) {
            Some((_, step)) => step.to = to,
            None => self.jobs.push((id, JobTransition { from, to })),
        }
    }

    /// Records that `id` went through `step`; a task already recorded keeps its place and its
    /// first `from`.
    pub(crate) fn record(&mut self, id: TaskId, step: Transition) {
        if self.first.is_none() {
            self.first = Some((id, step));
            return;
        }
        if let Some(at) = self.position(&id) {
            if let Some((_, known)) = self.entry_mut(at) {
                known.to = step.to;
            }
            return;
        }
        let len = self.len();
        if let Some(positions) = &mut self.positions {
            positions.insert(id.clone(), len);
        }
        self.more.push((id, step));
        if self.positions.is_none() && self.len() > SCAN {
            let positions = self
                .entries()
                .enumerate()
                .map(|(at, (id, _))| (id.clone(), at))
                .collect();
            self.positions = Some(Box::new(positions));
        }
    }
}

impl PartialEq for Changes {
    fn eq(&self, other: &Changes) -> bool {
        self.first == other.first && self.more == other.more && self.jobs == other.jobs
    }
}

impl Eq for Changes {}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries().map(|(id, step)| Entry(id, *step)))
            .entries(self.jobs.iter().map(|(id, step)| JobEntry(id, *step)))
            .entries(
                self.stops
                    .iter()
                    .map(|(id, attempt)| StopEntry(id, *attempt)),
            )
            .finish()
    }
}

/// A settled stop as `Changes`'s `Debug` shows it: `job/task-0 attempt 0: stop confirmed`.
struct StopEntry<'a>(&'a TaskId, AttemptId);

impl fmt::Debug for StopEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} attempt {}: stop confirmed", self.0, self.1)
    }
}

/// One change as `Changes`'s `Debug` shows it: `job/task-0: assigned → running`.
struct Entry<'a>(&'a TaskId, Transition);

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} → {}", self.0, self.1.from, self.1.to)
    }
}

/// One job's change as `Changes`'s `Debug` shows it: `job job: pending → running`.
struct JobEntry<'a>(&'a JobId, JobTransition);

impl fmt::Debug for JobEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}: {} → {}", self.0, self.1.from, self.1.to)
    }
}

impl IntoIterator for Changes {
    type Item = (TaskId, Transition);
    type IntoIter = std::vec::IntoIter<(TaskId, Transition)>;

    /// The tasks' changes by value, in order (the jobs' are in [`jobs`](Changes::jobs)).
    fn into_iter(self) -> Self::IntoIter {
        let mut all = self.more;
        if let Some(first) = self.first {
            all.insert(0, first);
        }
        all.into_iter()
    }
}
