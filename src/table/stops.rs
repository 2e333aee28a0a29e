//! The stops a table's workers owe it: attempts the controller ended while their workers may
//! still run them ([`Attempt::awaits_stop`]), by worker, until each worker confirms.

use super::list::{self, SlotId};
use super::{Changes, TableError, TaskTable};
use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{AttemptId, WorkerId};
use crate::uid::AttemptUid;

impl TaskTable {
    /// Files every attempt of the task in `slot` that awaits its stop under its worker.
    pub(super) fn track_stops(&mut self, slot: SlotId) {
        let Some(entry) = list::get(&self.slots, slot) else {
            return;
        };
        for (number, attempt) in (0u32..).zip(entry.task.attempts()) {
            if attempt.awaits_stop() {
                self.stops
                    .entry(attempt.worker().clone())
                    .or_default()
                    .push((slot, number));
            }
        }
    }

    /// Files the last attempt of the task in `slot`, if a change just made it await its stop.
    pub(super) fn track_last_stop(&mut self, slot: SlotId) {
        let Some(entry) = list::get(&self.slots, slot) else {
            return;
        };
        let attempts = entry.task.attempts();
        let Some(last) = attempts.last().filter(|attempt| attempt.awaits_stop()) else {
            return;
        };
        let number = u32::try_from(attempts.len() - 1).unwrap_or(u32::MAX);
        let filed = self.stops.entry(last.worker().clone()).or_default();
        if !filed.contains(&(slot, number)) {
            filed.push((slot, number));
        }
    }

    /// Forgets the stops of the task in `slot`, which is leaving the table.
    pub(super) fn untrack_stops(&mut self, slot: SlotId) {
        let Some(entry) = list::get(&self.slots, slot) else {
            return;
        };
        for attempt in entry.task.attempts().iter().filter(|a| a.awaits_stop()) {
            if let Some(filed) = self.stops.get_mut(attempt.worker()) {
                filed.retain(|&(held, _)| held != slot);
                if filed.is_empty() {
                    self.stops.remove(attempt.worker());
                }
            }
        }
    }

    /// The worker confirmed that attempt `number` of the task in `slot` stopped (or no longer
    /// has it): it awaits nothing more, and `changes` says so. Whether it was awaiting its stop.
    pub(super) fn settle_stop(&mut self, slot: SlotId, number: u32, changes: &mut Changes) -> bool {
        let Some(entry) = list::get_mut(&mut self.slots, slot) else {
            return false;
        };
        if !entry.task.core_mut().stop_confirmed(number as usize) {
            return false;
        }
        let id = entry.task.id().clone();
        let worker = entry
            .task
            .attempts()
            .get(number as usize)
            .map(|attempt| attempt.worker().clone());
        if let Some(worker) = worker {
            if let Some(filed) = self.stops.get_mut(&worker) {
                filed.retain(|&held| held != (slot, number));
                if filed.is_empty() {
                    self.stops.remove(&worker);
                }
            }
        }
        changes.record_stop(id, AttemptId::new(number));
        true
    }

    /// `worker` no longer runs the attempt `uid`, which it was told to stop: the stop is
    /// confirmed ([`Changes::stops`] lists it). [`reconcile`](TaskTable::reconcile) does this
    /// for today's workers from their answers; a controller of seed-era workers calls it when a
    /// worker's poll no longer lists the attempt among those it holds. A uid whose attempt does
    /// not await its stop changes nothing.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("job")?;
    /// let w1 = WorkerId::new("w1")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// let uid = table.assign(&TaskId::new(job.clone(), 0), w1.clone(), Timestamp::from_millis(1))?.attempts()[0].uid();
    /// table.kill_job(&job, "cancelled", Timestamp::from_millis(2));
    /// assert_eq!(table.confirm_stop(&w1, uid)?.stops().len(), 1);
    /// assert_eq!(table.stops_on(&w1).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownAttempt`] for a uid no attempt in the table has, and
    /// [`TableError::NotTheOwner`] if the attempt is another worker's; nothing changes.
    pub fn confirm_stop(
        &mut self,
        worker: &WorkerId,
        uid: AttemptUid,
    ) -> Result<Changes, TableError> {
        let (slot, number) = self.find_uid(uid).ok_or(TableError::UnknownAttempt(uid))?;
        let owner = list::get(&self.slots, slot)
            .and_then(|entry| entry.task.attempts().get(number as usize))
            .map(|attempt| attempt.worker().clone());
        if owner.as_ref() != Some(worker) {
            return Err(TableError::NotTheOwner {
                uid,
                owner,
                worker: worker.clone(),
            });
        }
        let mut changes = Changes::default();
        self.settle_stop(slot, number, &mut changes);
        Ok(changes)
    }

    /// Every stop `worker` owes: settled, as the worker is gone and runs nothing any more.
    pub(super) fn release_stops(&mut self, worker: &WorkerId, changes: &mut Changes) {
        let Some(filed) = self.stops.remove(worker) else {
            return;
        };
        for (slot, number) in filed {
            if let Some(entry) = list::get_mut(&mut self.slots, slot) {
                if entry.task.core_mut().stop_confirmed(number as usize) {
                    changes.record_stop(entry.task.id().clone(), AttemptId::new(number));
                }
            }
        }
    }

    /// What holds `worker`'s resources as today's Iris counts it: its active tasks
    /// ([`worker_load`](TaskTable::worker_load)) and the attempts it has been told to stop and
    /// has not yet confirmed stopping ([`stops_on`](TaskTable::stops_on)). O(1). A scheduler
    /// that offers a worker's free capacity should subtract this, not the load alone, or it
    /// places new work beside attempts that still run.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("job")?;
    /// let w1 = WorkerId::new("w1")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// table.assign(&TaskId::new(job.clone(), 0), w1.clone(), Timestamp::from_millis(1))?;
    /// table.kill_job(&job, "cancelled", Timestamp::from_millis(2));
    /// assert_eq!((table.worker_load(&w1), table.worker_occupancy(&w1)), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_occupancy(&self, worker: &WorkerId) -> usize {
        self.worker_load(worker) + self.stops.get(worker).map_or(0, Vec::len)
    }

    /// The attempts `worker` has been told to stop and has not yet confirmed stopping (by a
    /// Reconcile answer, [`TaskTable::reconcile`], or [`TaskTable::confirm_stop`]), with their
    /// tasks, oldest filed first: the stop orders of its next Reconcile, and what it still
    /// holds beyond its [active tasks](TaskTable::tasks_on). Today's Iris keeps such an
    /// attempt's resources reserved on the worker until it confirms; a scheduler that does the
    /// same counts these with [`worker_load`](TaskTable::worker_load):
    /// [`worker_occupancy`](TaskTable::worker_occupancy) is the sum.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("job")?;
    /// let w1 = WorkerId::new("w1")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// table.assign(&TaskId::new(job.clone(), 0), w1.clone(), Timestamp::from_millis(1))?;
    /// table.kill_job(&job, "cancelled", Timestamp::from_millis(2));
    /// // The task has ended, but w1 may still be running it until it confirms.
    /// assert_eq!(table.worker_load(&w1), 0);
    /// let held: Vec<_> = table.stops_on(&w1).map(|(task, attempt)| (task.id().index(), attempt.id().get())).collect();
    /// assert_eq!(held, [(0, 0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stops_on(&self, worker: &WorkerId) -> impl Iterator<Item = (&AnyTask, &Attempt)> + '_ {
        self.stops
            .get(worker)
            .into_iter()
            .flatten()
            .filter_map(|&(slot, number)| {
                let task = &list::get(&self.slots, slot)?.task;
                Some((task, task.attempts().get(number as usize)?))
            })
    }
}
