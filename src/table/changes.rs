//! [`Changes`]: what one table call did to each task it touched.

use crate::any::Transition;
use crate::id::TaskId;

/// Every task one [`TaskTable`](crate::TaskTable) call changed, in the order it first changed
/// them, each with its state before and after the whole call: what a store, a dashboard or an
/// audit log needs, so that none of them has to diff the table.
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    changes: Vec<(TaskId, Transition)>,
}

impl Changes {
    /// How many tasks changed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// No task changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Each task that changed with its state before and after the call, in the order the call
    /// first changed them.
    pub fn iter(&self) -> impl Iterator<Item = (&TaskId, Transition)> + '_ {
        self.changes.iter().map(|(id, step)| (id, *step))
    }

    /// What the call did to task `id`, if it changed it. Costs the changes before it.
    pub fn get(&self, id: &TaskId) -> Option<Transition> {
        self.changes
            .iter()
            .find(|(changed, _)| changed == id)
            .map(|(_, step)| *step)
    }

    /// Records that `id` went through `step`; a task already recorded keeps its place and its
    /// first `from`.
    pub(crate) fn record(&mut self, id: TaskId, step: Transition) {
        match self.changes.iter_mut().find(|(changed, _)| *changed == id) {
            Some((_, known)) => known.to = step.to,
            None => self.changes.push((id, step)),
        }
    }
}

impl IntoIterator for Changes {
    type Item = (TaskId, Transition);
    type IntoIter = std::vec::IntoIter<(TaskId, Transition)>;

    fn into_iter(self) -> Self::IntoIter {
        self.changes.into_iter()
    }
}
