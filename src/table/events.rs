//! Changing: assignments, events, lost workers, expired deadlines and cancels, with the gang and
//! job-end rules that follow from a change, and the lists each change refiles a task in.

use std::time::Duration;

use super::changes::Changes;
use super::error::TableError;
use super::jobs::{Cause, JobState, PARENT_JOB_TERMINATED_REASON, first_task_error};
use super::list::{Chain, List, NIL, SlotId};
use super::{
    DISPATCH_DEADLINE_ERROR, Deadline, TaskTable, list, not_before, waited_longer, worker_of,
};
use crate::any::{AnyTask, TaskEvent, Transition};
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::state::{Assigned, StateKind};
use crate::task::Task;
use crate::uid::UidMinter;

impl TaskTable {
    /// Assigns the pending task `id` to `worker`: the low-level call, which can place one member
    /// of a gang alone. [`schedule`](TaskTable::schedule) is the one that places a gang whole.
    ///
    /// It returns the assigned task, not [`Changes`]: the only other change an assignment makes
    /// is its job's first, which turns the job PENDING → RUNNING. Read that with
    /// [`job`](TaskTable::job), or place tasks with `schedule`, whose `Changes` list it.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, TableError, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let task = table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// assert_eq!(task.attempt_id().get(), 0);
    /// // Only a pending task can be assigned.
    /// let again = table.assign(&id, WorkerId::new("w2")?, Timestamp::from_millis(2));
    /// assert!(matches!(again, Err(TableError::NotPending { state: StateKind::Assigned, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownTask`] for an id the table does not hold, [`TableError::NotPending`]
    /// for a task in any other state than PENDING; the table is unchanged.
    pub fn assign(
        &mut self,
        id: &TaskId,
        worker: WorkerId,
        at: Timestamp,
    ) -> Result<&Task<Assigned>, TableError> {
        let slot = self.known(id)?;
        let state = self.task(slot).map_or(StateKind::Pending, AnyTask::state);
        if state != StateKind::Pending {
            return Err(TableError::NotPending {
                task: id.clone(),
                state,
            });
        }
        self.change(slot, id, TaskEvent::Assign { worker, at })?;
        // The job has started: RUNNING from its first assignment.
        if let Some(job) = list::get(&self.slots, slot).map(|entry| entry.job) {
            self.mark_running(job, &mut Changes::default());
        }
        match self.task(slot) {
            Some(AnyTask::Assigned(task)) => Ok(task),
            _ => Err(TableError::UnknownTask(id.clone())),
        }
    }

    /// Applies one event to the task `id`, as [`AnyTask::apply`] does, keeps the table's views
    /// and counts up to date, and applies the rules of the task's job, if the table was told its
    /// policy ([`set_job_policy`](TaskTable::set_job_policy)):
    ///
    /// - **Gangs.** In a coscheduled job, when the event ends an attempt of the task (the
    ///   trigger) other than SUCCEEDED and other than by a controller's kill (an execution
    ///   timeout is a trigger), its *active* siblings follow in the same call, in index order,
    ///   charged nothing: if the trigger ended for good, they end COSCHED_FAILED; if it was
    ///   requeued, they are requeued too (their attempts closed COSCHED_FAILED) and join the
    ///   pending queue right after it, so the gang is rescheduled together. Pending siblings stay
    ///   as they are, as in Iris: if the job ended, the job-end rule stops them.
    /// - **The job's state** is judged again (see [`job`](TaskTable::job)). This happens for
    ///   every job, told its policy or not.
    /// - **Jobs that end stop their tasks.** If the job's state turns FAILED, KILLED,
    ///   UNSCHEDULABLE or WORKER_FAILED in this call, its tasks that have not ended are killed,
    ///   in index order, with the job's error as the reason (or, without one, its
    ///   state's, such as `Job failed`).
    ///
    /// Changes made by these rules are never triggers themselves: cascades do not recurse. Each
    /// is stamped with the event's time, or the task's latest time if that is later. (A
    /// [`SiblingFailed`](TaskEvent::SiblingFailed) or [`SiblingRequeued`](TaskEvent::SiblingRequeued)
    /// the caller passes to an active member ends its attempt, and so is a trigger like any
    /// other: the gang stays whole. To stop a whole job, use [`kill_job`](TaskTable::kill_job).)
    ///
    /// Returns every task the call changed (see [`Changes`]): the named task first, with
    /// `from == to` for an accepted duplicate, then siblings, then tasks of the ended job; and
    /// the job's transition if its state changed.
    ///
    /// ```
    /// use iris_task::{AttemptId, JobId, RetryPolicy, StateKind, Task, TaskEvent, TaskId, TaskTable,
    ///     Timestamp, WorkerId, WorkerReport};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let running = TaskEvent::Report {
    ///     worker: WorkerId::new("w1")?,
    ///     attempt: AttemptId::new(0),
    ///     report: WorkerReport::Running,
    ///     at: Timestamp::from_millis(2),
    /// };
    /// let changes = table.apply(&id, running)?;
    /// let step = changes.get(&id).unwrap();
    /// assert_eq!((step.from, step.to), (StateKind::Assigned, StateKind::Running));
    /// assert_eq!(table.counts().get(StateKind::Running), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownTask`] for an id the table does not hold, and
    /// [`TableError::Transition`] for an event the task rejects; the table is unchanged, no
    /// sibling or other task of the job included.
    pub fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        let slot = self.known(id)?;
        let at = event.at();
        let mut changes = Changes::default();
        self.change_with_rules(slot, id, event, at, &mut changes)?;
        Ok(changes)
    }

    /// The worker is gone: every task active on it loses its worker (its `worker_failed`
    /// transition, through [`TaskEvent::WorkerLost`]). ASSIGNED tasks are requeued free of
    /// charge (a dispatch failure); BUILDING and RUNNING ones spend their preemption budget.
    /// `error` is each attempt's error, as given (Iris writes `Worker <id> failed: <reason>`).
    /// The table keeps no list of live workers: it forgets a worker with no active task, and
    /// nothing stops a later assignment to this one. Which workers are up is the controller's
    /// to know.
    ///
    /// Tasks are handled one at a time, oldest assignment first (ties: job id, then task index),
    /// each as if [`apply`](TaskTable::apply) had been called with its own `WorkerLost`, with its
    /// job's rules (gangs, jobs that end); a task that is no longer active on the worker when
    /// its turn comes (a gang sibling requeued or stopped by an earlier one) is skipped. Requeued
    /// tasks join the pending queue in that order. Each is stamped `at`, or its own latest time if
    /// that is later. Returns every task the call changed. Costs the tasks on the worker, sorted,
    /// and the cascades they set off.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let w1 = WorkerId::new("w1")?;
    /// for index in 0..2 {
    ///     let id = TaskId::new(JobId::new("job")?, index);
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    ///     table.assign(&id, w1.clone(), Timestamp::from_millis(i64::from(index)))?;
    /// }
    /// let changed = table.worker_lost(&w1, "heartbeat lost", Timestamp::from_millis(9));
    /// let order: Vec<u32> = changed.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [0, 1], "oldest assignment first");
    /// assert!(changed.iter().all(|(_, step)| step.to == StateKind::Pending));
    /// assert_eq!(table.tasks_on(&w1).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let slots: Vec<SlotId> = self
            .workers
            .get(worker)
            .map(|list| list.iter(&self.slots, Chain::Queue).collect())
            .unwrap_or_default();
        for (slot, id) in self.in_assignment_order(slots) {
            let Some(task) = self.task(slot).filter(|task| {
                task.state().is_active() && worker_of(&self.slots, slot) == Some(worker)
            }) else {
                continue;
            };
            let event = TaskEvent::WorkerLost {
                worker: worker.clone(),
                error: error.to_owned(),
                at: not_before(task, at),
            };
            // Cannot fail: the task is active on `worker`, and stamped no earlier than it records.
            let _ = self.change_with_rules(slot, &id, event, at, &mut changes);
        }
        // A lost worker runs nothing any more: the stops it owed are settled.
        self.release_stops(worker, &mut changes);
        changes
    }

    /// The dispatch deadline: every ASSIGNED task that has waited longer than `max_wait` for
    /// its worker's confirmation (`now - assigned_at > max_wait`, compared exactly) is requeued as
    /// a dispatch failure (its `worker_failed` transition, through [`TaskEvent::WorkerLost`]: no
    /// budget charged), with [`DISPATCH_DEADLINE_ERROR`] on its attempt. The worker may have the
    /// attempt after all, so the attempt [awaits its stop](crate::Attempt::awaits_stop) (today's
    /// Iris has no dispatch deadline: it keeps sending an undelivered attempt, and a controller
    /// for it need not call this).
    /// Apache Aurora treats tasks stuck in its ASSIGNED state the same way.
    ///
    /// Tasks are handled one at a time, oldest assignment first (ties: job id, then task index),
    /// each as if [`apply`](TaskTable::apply) had been called with it, with its job's rules
    /// (gangs, jobs that end); a task that is no longer ASSIGNED when its turn comes is skipped.
    /// Requeued tasks join the pending queue in that order. Each is stamped `now`, or its own
    /// latest time if that is later, so time never goes backwards in a task. Returns every task
    /// the call changed. Costs the tasks it expires and their cascades, not the table.
    ///
    /// ```
    /// use std::time::Duration;
    /// use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1_000))?;
    ///
    /// let deadline = Duration::from_secs(30);
    /// // At 31 s the task has waited exactly 30 s: not longer than allowed.
    /// assert!(table.expire_assigned(Timestamp::from_millis(31_000), deadline).is_empty());
    /// let expired = table.expire_assigned(Timestamp::from_millis(31_001), deadline);
    /// assert_eq!(expired.len(), 1);
    /// assert_eq!(expired.get(&id).map(|step| step.to), Some(StateKind::Pending));
    /// assert_eq!(table.get(&id).unwrap().state(), StateKind::Pending);
    /// assert_eq!(table.get(&id).unwrap().preemption_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        let slots: Vec<SlotId> = self
            .assigned
            .iter(&self.slots, Chain::Deadline)
            .take_while(|&slot| {
                self.assigned_at(slot)
                    .is_some_and(|assigned_at| waited_longer(assigned_at, now, max_wait))
            })
            .collect();
        let mut changes = Changes::default();
        for (slot, id) in self.in_assignment_order(slots) {
            let Some(task) = self
                .task(slot)
                .filter(|task| task.state() == StateKind::Assigned)
            else {
                continue;
            };
            let Some(worker) = task
                .current_attempt()
                .map(|attempt| attempt.worker().clone())
            else {
                continue;
            };
            let event = TaskEvent::WorkerLost {
                worker,
                error: DISPATCH_DEADLINE_ERROR.to_owned(),
                at: not_before(task, now),
            };
            // Cannot fail: the task is ASSIGNED to that worker, and stamped no earlier than it
            // records.
            let _ = self.change_with_rules(slot, &id, event, now, &mut changes);
            // The worker may have the attempt after all (a slow delivery): it is told to stop
            // it, and holds it until it confirms.
            if let Some(entry) = list::get_mut(&mut self.slots, slot) {
                entry.task.core_mut().await_stop();
            }
            self.track_last_stop(slot);
        }
        changes
    }

    /// Applies the job-end rule to `job` now: if it has ended (FAILED, KILLED, UNSCHEDULABLE,
    /// WORKER_FAILED), its tasks that have not ended are killed, in index order, each stamped
    /// `at` or its latest time if that is later, with the job's error as the reason (or its
    /// state's, such as `Job failed`). The job keeps its state and error, and no other job
    /// changes. Nothing happens to a job that has not ended, or has no such task.
    ///
    /// The table applies the rule itself when a call ends a job whose policy it knows. This is
    /// for the jobs that ended another way: a store [upgraded](crate::DurableTable::upgrade) from
    /// 0.2, whose jobs were judged again without touching a task; a job
    /// [`insert_job`](TaskTable::insert_job) loaded already ended; a job that ended before the
    /// table was told its policy.
    ///
    /// ```
    /// use iris_task::{JobId, JobState, Retry, RetryPolicy, StateKind, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("sweep")?;
    /// let at = Timestamp::from_millis;
    /// let Retry::Exhausted(failed) = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).fail(1, "exit 1", at(3))
    /// else {
    ///     unreachable!("no retry")
    /// };
    /// let waiting = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    /// // Loaded already FAILED, its other task still pending.
    /// let mut table = TaskTable::from_tasks([failed.into_any(), waiting.into_any()])?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Failed));
    /// let stopped = table.stop_ended_job(&job, at(4));
    /// assert_eq!(stopped.len(), 1);
    /// let task = table.get(&TaskId::new(job.clone(), 1)).unwrap();
    /// assert_eq!(task.state(), StateKind::Killed);
    /// let status = iris_task::proto::TaskStatus::from(task);
    /// assert_eq!(Some(status.error.as_str()), table.job(&job).unwrap().error());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_ended_job(&mut self, job: &JobId, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        if let Some(&entry) = self.job_index.get(job) {
            self.stop_unfinished(entry, at, &mut changes);
        }
        changes
    }

    /// Cancels `job`, as Iris cancels a job: kills every task of it that has not ended, in index
    /// order, each stamped `at` or its latest time if that is later, and records the job KILLED
    /// with `reason` as its error, with no gang cascade (the whole job is going) and no other
    /// rule. A job that has already ended keeps its state, with one exception: a WORKER_FAILED job
    /// becomes KILLED, recording that someone chose to stop it (Iris: the cancel "overwrites the
    /// transient WORKER_FAILED terminal so operator intent is recorded"). Its tasks that have
    /// not ended are killed all the same (a job without a policy may have some).
    ///
    /// Job ids are paths, as in Iris (`/user/train`, and a job it launched `/user/train/eval`):
    /// every *descendant* job the table knows, any job whose id begins with this one's and a
    /// `/`, is cancelled with it, in the order the table learned of them, its tasks killed and
    /// its state KILLED with the error [`PARENT_JOB_TERMINATED_REASON`]. An unknown job cancels
    /// nothing (its descendants included). Returns what it changed: tasks, then the jobs'
    /// transitions.
    ///
    /// ```
    /// use iris_task::{JobId, JobState, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("/alice/train")?;
    /// let child = JobId::new("/alice/train/eval")?;
    /// let mut table = TaskTable::new();
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    /// }
    /// table.insert(Task::new(TaskId::new(child.clone(), 0), RetryPolicy::default()))?;
    /// table.assign(&TaskId::new(job.clone(), 1), WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let changes = table.kill_job(&job, "cancelled by user", Timestamp::from_millis(2));
    /// assert_eq!(changes.len(), 4, "three tasks of the job, one of its child");
    /// assert_eq!(table.job_counts(&job).unwrap().get(StateKind::Killed), 3);
    /// let cancelled = table.job(&job).unwrap();
    /// assert_eq!((cancelled.state(), cancelled.error()), (JobState::Killed, Some("cancelled by user")));
    /// assert_eq!(table.job_state(&child), Some(JobState::Killed));
    /// assert!(table.kill_job(&job, "again", Timestamp::from_millis(3)).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let Some(&entry) = self.job_index.get(job) else {
            return changes;
        };
        self.cancel_entry(entry, reason, at, &mut changes);
        let prefix = format!("{job}/");
        let descendants: Vec<u32> = self
            .job_order
            .iter()
            .copied()
            .filter(|&other| {
                self.jobs
                    .get(other as usize)
                    .is_some_and(|entry| entry.id.as_str().starts_with(&prefix))
            })
            .collect();
        for descendant in descendants {
            self.cancel_entry(descendant, PARENT_JOB_TERMINATED_REASON, at, &mut changes);
        }
        changes
    }

    /// Cancels the job at `entry`: kills its tasks that have not ended, and records it KILLED
    /// unless it ended otherwise than WORKER_FAILED.
    fn cancel_entry(&mut self, entry: u32, reason: &str, at: Timestamp, changes: &mut Changes) {
        for slot in self.slots_of_entry(entry) {
            let Some(task) = self.task(slot).filter(|task| !task.state().is_terminal()) else {
                continue;
            };
            let id = task.id().clone();
            let event = TaskEvent::Kill {
                reason: reason.to_owned(),
                at: not_before(task, at),
            };
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
        let Some(job) = self.jobs.get_mut(entry as usize) else {
            return;
        };
        let from = job.state;
        if from.is_terminal() && from != JobState::WorkerFailed {
            return;
        }
        job.state = JobState::Killed;
        job.error = crate::task::reason(reason);
        changes.record_job(job.id.clone(), from, JobState::Killed);
    }

    /// The slots of a job's tasks, in task-index order.
    pub(super) fn slots_of(&self, job: &JobId) -> Vec<SlotId> {
        self.job_index
            .get(job)
            .map(|&entry| self.slots_of_entry(entry))
            .unwrap_or_default()
    }

    /// The slots of the tasks of the job at `entry` in `jobs`, in task-index order.
    pub(super) fn slots_of_entry(&self, entry: u32) -> Vec<SlotId> {
        let mut slots: Vec<(u32, SlotId)> = self
            .jobs
            .get(entry as usize)
            .map(|entry| {
                entry
                    .slots
                    .iter()
                    .filter_map(|&slot| Some((self.task(slot)?.id().index(), slot)))
                    .collect()
            })
            .unwrap_or_default();
        // Tasks are usually inserted in index order: then there is nothing to sort.
        if !slots.is_sorted() {
            slots.sort_unstable();
        }
        slots.into_iter().map(|(_, slot)| slot).collect()
    }

    /// [`change`](Self::change) for an event the caller passed, recorded in `changes`, followed
    /// by the rules of the task's job: the gang cascade (if the table knows the job's policy),
    /// the job's state judged again, and the job-end kills (if it knows the policy), each
    /// stamped with the call's time `at` (or the task's latest time, if later; the event itself
    /// may carry a later time than the call's). On `Err` nothing changed.
    pub(super) fn change_with_rules(
        &mut self,
        slot: SlotId,
        id: &TaskId,
        event: TaskEvent,
        at: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), TableError> {
        let job = list::get(&self.slots, slot).map_or(u32::MAX, |entry| entry.job);
        let policy = self.jobs.get(job as usize).and_then(|entry| entry.policy);
        let step = self.change(slot, id, event)?;
        changes.record(id.clone(), step);
        if !step.changed() {
            return Ok(());
        }
        if policy.is_some_and(|policy| policy.coscheduled) {
            if let Some(requeued) = self.gang_trigger(slot, step) {
                self.gang_follows(job, slot, id, requeued, at, changes);
            }
        }
        self.settle_job(job, policy.is_some(), at, changes);
        Ok(())
    }

    /// Whether the change `step` of the task in `slot` is a gang trigger: it ended the task's
    /// attempt other than SUCCEEDED and other than by a controller's kill. `Some(true)` if the
    /// task was requeued, `Some(false)` if it ended for good.
    fn gang_trigger(&self, slot: SlotId, step: Transition) -> Option<bool> {
        if !step.from.is_active() || step.to.is_active() {
            return None;
        }
        let attempt = self.task(slot)?.current_attempt()?;
        let by_controller = attempt.state() == StateKind::Succeeded
            || (attempt.state() == StateKind::Killed && !attempt.is_killed_on_worker());
        (!by_controller).then_some(step.to == StateKind::Pending)
    }

    /// The gang rule: the *active* siblings of `trigger` (in `slot`) follow it, in index order:
    /// requeued with it, joining the pending queue right after it (it was requeued just before),
    /// or COSCHED_FAILED if it ended for good. Pending siblings stay as they are (as in Iris).
    fn gang_follows(
        &mut self,
        job: u32,
        trigger_slot: SlotId,
        trigger: &TaskId,
        requeued: bool,
        at: Timestamp,
        changes: &mut Changes,
    ) {
        for slot in self.slots_of_entry(job) {
            let Some(task) = self
                .task(slot)
                .filter(|task| slot != trigger_slot && task.state().is_active())
            else {
                continue;
            };
            let sibling = trigger.clone();
            let at = not_before(task, at);
            let event = if requeued {
                TaskEvent::SiblingRequeued { sibling, at }
            } else {
                TaskEvent::SiblingFailed { sibling, at }
            };
            let id = task.id().clone();
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
    }

    /// Judges the job at `job` again, and if the call ended it and `stop_rest` (the table knows
    /// the job's policy), applies the job-end rule: kills its tasks that have not ended, in index
    /// order.
    fn settle_job(&mut self, job: u32, stop_rest: bool, at: Timestamp, changes: &mut Changes) {
        let Some(before) = self.jobs.get(job as usize).map(|entry| entry.state) else {
            return;
        };
        let after = self.judge_job(job, changes);
        if !stop_rest || before.is_terminal() || !after.is_terminal() {
            return;
        }
        self.stop_unfinished(job, at, changes);
    }

    /// The job-end rule's kills: every task of the ended job at `job` that has not ended is
    /// killed, in index order, with Iris's reason (the job's error, or its state's fallback).
    fn stop_unfinished(&mut self, job: u32, at: Timestamp, changes: &mut Changes) {
        let Some(entry) = self
            .jobs
            .get(job as usize)
            .filter(|entry| entry.state.is_terminal())
        else {
            return;
        };
        if entry.counts.unfinished() == 0 {
            return;
        }
        let reason = entry
            .error
            .clone()
            .unwrap_or_else(|| entry.state.fallback_end_reason().to_owned());
        for slot in self.slots_of_entry(job) {
            let Some(task) = self.task(slot).filter(|task| !task.state().is_terminal()) else {
                continue;
            };
            let id = task.id().clone();
            let event = TaskEvent::Kill {
                reason: reason.clone(),
                at: not_before(task, at),
            };
            if let Ok(step) = self.change(slot, &id, event) {
                changes.record(id, step);
            }
        }
    }

    /// An assignment's one effect on its job, as Iris's `assign` has it (`mark_jobs_running`): a
    /// PENDING job turns RUNNING. Nothing else is judged: an assignment ends no job, so it stops
    /// no task either (a limit lowered since the last task change is judged at the next one).
    pub(super) fn mark_running(&mut self, job: u32, changes: &mut Changes) {
        if let Some(entry) = self
            .jobs
            .get_mut(job as usize)
            .filter(|entry| entry.state == JobState::Pending && entry.started)
        {
            entry.state = JobState::Running;
            changes.record_job(entry.id.clone(), JobState::Pending, JobState::Running);
        }
    }

    /// Judges the job at `job` again ([`JobEntry::judge`]), records its new state (and, if it
    /// ended, its error) and the transition in `changes`, and returns its state.
    pub(super) fn judge_job(&mut self, job: u32, changes: &mut Changes) -> JobState {
        let Some(entry) = self.jobs.get(job as usize) else {
            return JobState::Pending;
        };
        let verdict = entry.judge();
        let from = entry.state;
        if verdict.state == from {
            return from;
        }
        let error = match verdict.cause {
            Cause::TooManyFailures { .. } | Cause::TaskEnded => {
                let slots = self.slots_of_entry(job);
                verdict.cause.error(first_task_error(
                    slots.into_iter().filter_map(|slot| self.task(slot)),
                ))
            }
            Cause::Unchanged | Cause::Succeeded => None,
        };
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            entry.state = verdict.state;
            entry.error = error;
            changes.record_job(entry.id.clone(), from, verdict.state);
        }
        verdict.state
    }

    /// Sorts active slots oldest assignment first, ties by task id (job id, then index).
    pub(super) fn in_assignment_order(&self, slots: Vec<SlotId>) -> Vec<(SlotId, TaskId)> {
        let mut keyed: Vec<(Timestamp, TaskId, SlotId)> = slots
            .into_iter()
            .filter_map(|slot| Some((self.assigned_at(slot)?, self.task(slot)?.id().clone(), slot)))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, id, slot)| (slot, id)).collect()
    }

    /// Applies `event` to the task `id` in `slot`, and refiles the slot if its state changed.
    /// This is the one place that changes a task in the table, and so the one place counts
    /// change.
    pub(super) fn change(
        &mut self,
        slot: SlotId,
        id: &TaskId,
        event: TaskEvent,
    ) -> Result<Transition, TableError> {
        let assigns = matches!(event, TaskEvent::Assign { .. });
        let uid = if assigns {
            Some(self.fresh_uid())
        } else {
            None
        };
        let Some(entry) = list::get_mut(&mut self.slots, slot) else {
            return Err(TableError::UnknownTask(id.clone()));
        };
        let step = entry
            .task
            .apply_minting(event, || uid.unwrap_or_else(UidMinter::mint_shared))?;
        if assigns && step.changed() {
            let opened = entry.task.attempts().len().saturating_sub(1);
            self.index_uid(slot, u32::try_from(opened).unwrap_or(u32::MAX));
        }
        if step.changed() && step.from.is_active() {
            self.track_last_stop(slot);
        }
        if step.changed() {
            self.refile(slot, Some(step.from), Deadline::WalkBack);
        }
        Ok(step)
    }

    /// Moves the slot from the views of state `from` (`None`: a new slot) to those of its task's
    /// current state.
    ///
    /// A task leaves an active state by closing its attempt, never by opening another, so the
    /// current attempt still names the worker and assignment time the slot was filed under.
    pub(super) fn refile(&mut self, slot: SlotId, from: Option<StateKind>, deadline: Deadline) {
        let Some(entry) = list::get(&self.slots, slot) else {
            return;
        };
        let to = entry.task.state();
        let job = entry.job;
        let ever_assigned = entry.task.current_attempt().is_some();
        let assigned_at = self.assigned_at(slot);
        // The FAILED attempts this change adds to the job's: a new task's, or the one it closed.
        let failed = match from {
            None => entry.task.failure_count(),
            Some(from) if from.is_active() && !to.is_active() => u32::from(
                entry
                    .task
                    .current_attempt()
                    .is_some_and(|attempt| attempt.state() == StateKind::Failed),
            ),
            Some(_) => 0,
        };

        if let Some(from) = from {
            self.counts.remove(from);
            if let Some(entry) = self.jobs.get_mut(job as usize) {
                entry.counts.remove(from);
            }
        }
        self.counts.add(to);
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            entry.counts.add(to);
            entry.started |= ever_assigned;
            entry.failures = entry.failures.saturating_add(failed);
        }
        if deadline == Deadline::Unfiled {
            return;
        }

        if from == Some(StateKind::Assigned) {
            self.assigned.unlink(&mut self.slots, Chain::Deadline, slot);
        }
        if let (StateKind::Assigned, Some(assigned_at), Deadline::WalkBack) =
            (to, assigned_at, deadline)
        {
            // Walk back from the newest assignment to keep the list in time order: one step when
            // the controller's clock moves forward, as it does.
            let mut after = self.assigned.tail;
            while self
                .assigned_at(after)
                .is_some_and(|time| time > assigned_at)
            {
                after = list::get(&self.slots, after).map_or(NIL, |entry| entry.deadline.prev);
            }
            self.assigned
                .insert_after(&mut self.slots, Chain::Deadline, after, slot);
        }

        let was_active = from.is_some_and(StateKind::is_active);
        if from == Some(StateKind::Pending) {
            self.pending.unlink(&mut self.slots, Chain::Queue, slot);
        } else if was_active && !to.is_active() {
            self.unfile_from_worker(slot);
        }
        if to == StateKind::Pending {
            self.pending.push_back(&mut self.slots, Chain::Queue, slot);
        } else if to.is_active() && !was_active {
            self.file_under_worker(slot);
        }
    }

    /// Adds the slot to the list of its current attempt's worker.
    fn file_under_worker(&mut self, slot: SlotId) {
        let Some(worker) = worker_of(&self.slots, slot) else {
            return;
        };
        match self.workers.get_mut(worker) {
            Some(list) => list.push_back(&mut self.slots, Chain::Queue, slot),
            None => {
                let worker = worker.clone();
                let mut list = List::default();
                list.push_back(&mut self.slots, Chain::Queue, slot);
                self.workers.insert(worker, list);
            }
        }
    }

    /// Removes the slot from the list of its current attempt's worker, and forgets the worker
    /// when it holds nothing any more.
    fn unfile_from_worker(&mut self, slot: SlotId) {
        let Some(list) =
            worker_of(&self.slots, slot).and_then(|worker| self.workers.get_mut(worker))
        else {
            return;
        };
        list.unlink(&mut self.slots, Chain::Queue, slot);
        if list.is_empty() {
            if let Some(worker) = worker_of(&self.slots, slot).cloned() {
                self.workers.remove(&worker);
            }
        }
    }
}
