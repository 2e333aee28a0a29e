//! Restoring a table: the orders its views keep ([`Layout`]), which a snapshot or a store saves
//! beside the tasks, and the rebuild of a table from tasks and those orders, checked.

use std::fmt;

use super::jobs::{Cause, JobRecord};
use super::list::{self, Chain, List, NIL, SlotId};
use super::{Changes, Deadline, JobState, TableError, TaskTable};
use crate::any::AnyTask;
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::state::StateKind;

/// The orders a table's views keep, which its tasks alone do not say: what a snapshot or a store
/// saves beside the tasks so that a table is rebuilt exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) struct Layout<K = TaskId> {
    /// The pending queue, oldest first.
    pub(crate) pending: Vec<K>,
    /// The ASSIGNED tasks in dispatch-deadline order.
    pub(crate) assigned: Vec<K>,
    /// Each worker's active tasks in the order they became active on it; each worker once, in any
    /// order (a snapshot writes them sorted by id).
    pub(crate) workers: Vec<(WorkerId, Vec<K>)>,
}

/// How a [`Layout`] names a task: by its id (a snapshot), or as the n-th task given to
/// [`TaskTable::restore`] (a store, which knows that and so spares the table a hash lookup per
/// task: restore puts the n-th task in slot n).
pub(crate) trait Named: fmt::Display {
    /// The task's slot in `table`, if it holds the task.
    fn find(&self, table: &TaskTable) -> Option<SlotId>;
}

impl Named for TaskId {
    fn find(&self, table: &TaskTable) -> Option<SlotId> {
        table.slot(self)
    }
}

/// The n-th task given to [`TaskTable::restore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct Nth(pub(crate) u32);

impl fmt::Display for Nth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task #{}", self.0)
    }
}

impl Named for Nth {
    fn find(&self, table: &TaskTable) -> Option<SlotId> {
        table.task(self.0).map(|_| self.0)
    }
}

/// Why a table could not be rebuilt from its parts.
#[derive(Debug)]
#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) enum RestoreError {
    /// A task the table refused (a duplicate id).
    Table(TableError),
    /// A task of a job the jobs do not list.
    UnlistedJob(TaskId),
    /// The orders do not fit the tasks: what is wrong, in words.
    Layout(String),
    /// A job's recorded state contradicts its tasks: what is wrong, in words.
    JobState(JobId, String),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Table(err) => err.fmt(f),
            RestoreError::UnlistedJob(task) => write!(
                f,
                "task {task} belongs to job {}, which the jobs do not list",
                task.job()
            ),
            RestoreError::Layout(problem) => f.write_str(problem),
            RestoreError::JobState(job, problem) => write!(f, "job {job}: {problem}"),
        }
    }
}

#[cfg_attr(
    not(any(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(dead_code)
)]
impl TaskTable {
    /// The orders of the table's views, for a snapshot or a store.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn layout(&self) -> Layout {
        let ids = |list: &List, chain| -> Vec<TaskId> {
            list.iter(&self.slots, chain)
                .filter_map(|slot| self.task(slot).map(|task| task.id().clone()))
                .collect()
        };
        let mut workers: Vec<(WorkerId, Vec<TaskId>)> = self
            .workers
            .iter()
            .map(|(worker, list)| (worker.clone(), ids(list, Chain::Queue)))
            .collect();
        workers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Layout {
            pending: ids(&self.pending, Chain::Queue),
            assigned: ids(&self.assigned, Chain::Deadline),
            workers,
        }
    }

    /// The last `count` tasks of the pending queue, in queue order: the ones a call just queued.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn pending_tail(&self, count: usize) -> Vec<TaskId> {
        let mut tail = Vec::with_capacity(count);
        let mut slot = self.pending.tail;
        while tail.len() < count {
            let Some(entry) = list::get(&self.slots, slot) else {
                break;
            };
            tail.push(entry.task.id().clone());
            slot = entry.queue.prev;
        }
        tail.reverse();
        tail
    }

    /// The jobs the table knows with their policies, in [`jobs`](TaskTable::jobs) order.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn job_records(&self) -> impl Iterator<Item = JobRecord> + '_ {
        self.jobs().map(|job| JobRecord {
            id: job.id().clone(),
            policy: job.policy().copied(),
            state: Some((job.state(), job.error().map(str::to_owned))),
        })
    }

    /// A table of `jobs` (in that order, with their policies and, when recorded, their states)
    /// and `tasks` (in iteration order), whose views follow `layout` exactly. Every task's job
    /// must be among `jobs`, and `layout` must list each pending task once in the queue, each
    /// active task once under its own worker, and each ASSIGNED task once in the deadline
    /// order, by assignment time. A job without a recorded state is judged from its tasks (as
    /// [`from_tasks`](TaskTable::from_tasks) does); a recorded state that has not ended must be
    /// the one its tasks give (the table judges a job after every change).
    ///
    /// The n-th task takes slot n, which is what lets a layout name it [`Nth`].
    pub(crate) fn restore<K: Named>(
        jobs: impl IntoIterator<Item = JobRecord>,
        tasks: impl IntoIterator<Item = AnyTask>,
        layout: Layout<K>,
    ) -> Result<TaskTable, RestoreError> {
        let tasks = tasks.into_iter();
        // Room for every task up front: no slot vector copied, no index rehashed while loading.
        let mut table = TaskTable::with_capacity(tasks.size_hint().0);
        // Room made for loading, not asked for by the caller: a later `remove_job` may shrink it.
        table.reserved = 0;
        let mut recorded = Vec::new();
        for JobRecord { id, policy, state } in jobs {
            if table.job_index.contains_key(&id) {
                return Err(RestoreError::Layout(format!("job {id} is listed twice")));
            }
            let entry = table.job_entry(&id);
            if let Some(job) = table.jobs.get_mut(entry as usize) {
                job.policy = policy;
            }
            recorded.push((entry, state));
        }
        let listed = table.job_index.len();
        for task in tasks {
            let slot = table
                .insert_filed(task, Deadline::Unfiled)
                .map_err(RestoreError::Table)?;
            if table.job_index.len() > listed {
                let id = table.task(slot).map(|task| task.id().clone());
                return Err(id.map_or_else(
                    || RestoreError::Layout("a task of a job the jobs do not list".to_owned()),
                    RestoreError::UnlistedJob,
                ));
            }
        }
        // The tasks are in no list yet: thread the lists in the saved orders.
        let mut queued = vec![false; table.slots.len()];
        let mut slot_of = |table: &TaskTable, id: &K, what: &str| -> Result<SlotId, RestoreError> {
            let slot = id.find(table).ok_or_else(|| {
                RestoreError::Layout(format!(
                    "the {what} lists {id}, which is not among the tasks"
                ))
            })?;
            match queued.get_mut(slot as usize) {
                Some(seen) if !*seen => {
                    *seen = true;
                    Ok(slot)
                }
                _ => Err(RestoreError::Layout(format!("the {what} lists {id} twice"))),
            }
        };
        for id in &layout.pending {
            let slot = slot_of(&table, id, "pending queue")?;
            if table.task(slot).map(AnyTask::state) != Some(StateKind::Pending) {
                return Err(RestoreError::Layout(format!(
                    "the pending queue lists {id}, which is not pending"
                )));
            }
            table
                .pending
                .push_back(&mut table.slots, Chain::Queue, slot);
        }
        let mut active = 0;
        for (worker, ids) in &layout.workers {
            if table.workers.contains_key(worker) {
                return Err(RestoreError::Layout(format!(
                    "worker {worker} is listed twice"
                )));
            }
            let mut list = List::default();
            for id in ids {
                let slot = slot_of(&table, id, "worker lists")?;
                if table.task(slot).and_then(AnyTask::worker) != Some(worker) {
                    return Err(RestoreError::Layout(format!(
                        "worker {worker}'s list holds {id}, which is not active on it"
                    )));
                }
                list.push_back(&mut table.slots, Chain::Queue, slot);
            }
            active += list.len();
            if !list.is_empty() {
                table.workers.insert(worker.clone(), list);
            }
        }
        let counts = &table.counts;
        let expected_active: usize = [StateKind::Assigned, StateKind::Building, StateKind::Running]
            .into_iter()
            .map(|state| counts.get(state))
            .sum();
        if table.pending.len() != counts.get(StateKind::Pending) || active != expected_active {
            return Err(RestoreError::Layout(format!(
                "the orders list {} pending and {active} active tasks, but the tasks hold {} and {expected_active}",
                table.pending.len(),
                counts.get(StateKind::Pending)
            )));
        }
        let mut previous: Option<Timestamp> = None;
        for id in &layout.assigned {
            let slot = id.find(&table).filter(|&slot| {
                table.task(slot).map(AnyTask::state) == Some(StateKind::Assigned)
                    && list::get(&table.slots, slot).is_some_and(|entry| {
                        entry.deadline.prev == NIL
                            && table.assigned.tail != slot
                            && table.assigned.head != slot
                    })
            });
            let Some(slot) = slot else {
                return Err(RestoreError::Layout(format!(
                    "the deadline order lists {id}, which is not an ASSIGNED task, or twice"
                )));
            };
            let at = table.assigned_at(slot);
            if previous.zip(at).is_some_and(|(previous, at)| at < previous) {
                return Err(RestoreError::Layout(format!(
                    "the deadline order lists {id} after a task assigned later"
                )));
            }
            previous = at;
            table
                .assigned
                .push_back(&mut table.slots, Chain::Deadline, slot);
        }
        if table.assigned.len() != table.counts.get(StateKind::Assigned) {
            return Err(RestoreError::Layout(format!(
                "the deadline order lists {} of {} ASSIGNED tasks",
                table.assigned.len(),
                table.counts.get(StateKind::Assigned)
            )));
        }
        for (entry, state) in recorded {
            let Some((state, error)) = state else {
                table.judge_job(entry, &mut Changes::default());
                continue;
            };
            let Some(job) = table.jobs.get_mut(entry as usize) else {
                continue;
            };
            job.state = state;
            job.error = error;
            let judged = job.judge_tasks();
            // A job that has not ended is what its tasks make it, with one exception: a lowered
            // `max_task_failures` is judged at the job's next task change, not when it is told.
            let limit_lowered = state == JobState::Running
                && matches!(judged.cause, Cause::TooManyFailures { .. })
                && job.judge_tasks_under(u32::MAX).state == JobState::Running;
            let problem = if state == JobState::Succeeded {
                // Nothing changes a SUCCEEDED job's tasks: they all succeeded, and it takes no
                // new one; and a success has no error.
                if judged.state != state {
                    Some(format!(
                        "is recorded {state}, but its tasks make it {}",
                        judged.state
                    ))
                } else {
                    job.error
                        .is_some()
                        .then(|| format!("is recorded {state}, with an error"))
                }
            } else if state.is_terminal() {
                None
            } else if job.error.is_some() {
                Some(format!(
                    "is recorded {state}, with an error, which only an ended job has"
                ))
            } else if judged.state != state && !limit_lowered {
                Some(format!(
                    "is recorded {state}, but its tasks make it {}",
                    judged.state
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(RestoreError::JobState(job.id.clone(), problem));
            }
        }
        Ok(table)
    }
}
