//! Filing: how tasks, jobs and job policies enter the table, how attempt uids are minted and
//! indexed, and how an ended job leaves it.

use std::hash::BuildHasher;

use hashbrown::HashMap;

use super::changes::Changes;
use super::error::TableError;
use super::jobs::JobEntry;
use super::list::{Chain, Link, NIL, SlotId};
use super::{Deadline, Slot, TaskTable, VACANT, hash_of, list, uid_at, uid_hash};
use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{JobId, TaskId};
use crate::policy::JobPolicy;
use crate::state::StateKind;
use crate::task::Task;
use crate::uid::AttemptUid;

impl TaskTable {
    /// Adds a task, in whatever state it is. A pending task joins the back of the queue.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, TableError, Task, TaskId, TaskTable};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// assert_eq!(
    ///     table.insert(Task::new(id.clone(), RetryPolicy::default())),
    ///     Err(TableError::DuplicateTask(id)),
    /// );
    /// assert_eq!(table.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The task's job is judged again with it (a job's state follows its tasks, see
    /// [`job`](TaskTable::job)), but no other task changes: a task inserted already ended (or any
    /// task, in a job over a limit lowered since its last change) may end its job, and the
    /// job-end rule then stops nothing ([`stop_ended_job`](TaskTable::stop_ended_job) does). A job's tasks are usually inserted
    /// pending, as a controller creates them; to add tasks that already ran (from another
    /// controller, say), use [`insert_job`](TaskTable::insert_job) or
    /// [`from_jobs`](TaskTable::from_jobs), which judge the job once all its tasks are in.
    ///
    /// Returns the job's state change, if the task made one ([`Changes::jobs`]: a task inserted
    /// already started or ended, say); no task is listed, the new one having had no state before.
    ///
    /// # Errors
    /// [`TableError::DuplicateTask`] if the table already holds a task with this id,
    /// [`TableError::DuplicateAttemptUid`] if it holds an attempt with the uid of one of the
    /// task's (or the task repeats one), [`TableError::JobEnded`] if the task's job has ended (a terminal job state is final: an
    /// ended job takes no new task), and [`TableError::Full`] if the table holds 4,294,967,295
    /// tasks already; the table is unchanged.
    pub fn insert(&mut self, task: impl Into<AnyTask>) -> Result<Changes, TableError> {
        let task = task.into();
        if let Some(job) = self
            .job_entry_of(task.id().job())
            .filter(|job| job.state.is_terminal())
        {
            return Err(TableError::JobEnded {
                job: job.id.clone(),
                state: job.state,
                task: task.id().clone(),
            });
        }
        let slot = self.insert_filed(task, Deadline::WalkBack)?;
        let mut changes = Changes::default();
        if let Some(job) = list::get(&self.slots, slot).map(|entry| entry.job) {
            self.judge_job(job, &mut changes);
        }
        Ok(changes)
    }

    /// Adds a job with its policy and all its tasks at once, as Iris creates a job's tasks when
    /// it is launched: the policy is told ([`set_job_policy`](TaskTable::set_job_policy)), the
    /// tasks are inserted in order ([`insert`](TaskTable::insert)), and the job is judged once
    /// they are all in. The tasks may be in any state: loading a job that ran elsewhere one task
    /// at a time would end it at its first ended task; here it is judged from all of them. The
    /// job may be known already (its policy told, some tasks in), as long as it has not ended.
    /// All or nothing: a refused call changes nothing. Returns the job's state change, if its
    /// tasks made one ([`Changes::jobs`]). No task changes: the job-end rule does not fire, so
    /// in a job the tasks end, those that have not ended stay as they are
    /// ([`stop_ended_job`](TaskTable::stop_ended_job) stops them).
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, JobState, Retry, RetryPolicy, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("/alice/sweep")?;
    /// let at = Timestamp::from_millis;
    /// let done = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).succeed(at(3));
    /// let waiting = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    /// let mut table = TaskTable::new();
    /// table.insert_job(job.clone(), JobPolicy::default(), [done.into_any(), waiting.into_any()])?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Running), "started, not ended");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::WrongJob`] for a task of another job, [`TableError::DuplicateTask`] for an
    /// id given twice or already in the table, [`TableError::DuplicateAttemptUid`] for an attempt
    /// uid given twice or already in the table, [`TableError::JobEnded`] if the job has ended,
    /// [`TableError::Full`] if the tasks do not fit; the table is unchanged.
    pub fn insert_job<T: Into<AnyTask>>(
        &mut self,
        job: JobId,
        policy: JobPolicy,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<Changes, TableError> {
        let tasks: Vec<AnyTask> = tasks.into_iter().map(Into::into).collect();
        if let Some(known) = self
            .job_entry_of(&job)
            .filter(|known| known.state.is_terminal())
        {
            let task = tasks.first().map(|task| task.id().clone());
            return Err(TableError::JobEnded {
                job: job.clone(),
                state: known.state,
                task: task.unwrap_or_else(|| TaskId::new(job.clone(), 0)),
            });
        }
        let mut ids = hashbrown::HashSet::with_capacity(tasks.len());
        // The uids of the tasks checked so far, with their task: one look-up an attempt.
        let mut uids: HashMap<AttemptUid, &TaskId> = HashMap::new();
        for task in &tasks {
            let id = task.id();
            if id.job() != &job {
                return Err(TableError::WrongJob {
                    job: job.clone(),
                    task: id.clone(),
                });
            }
            if self.slot(id).is_some() || !ids.insert(id) {
                return Err(TableError::DuplicateTask(id.clone()));
            }
            self.check_uids(task)?;
            for attempt in task.attempts() {
                if let Some(holder) = uids.insert(attempt.uid(), id) {
                    return Err(TableError::DuplicateAttemptUid {
                        task: id.clone(),
                        uid: attempt.uid(),
                        holder: holder.clone(),
                    });
                }
            }
        }
        drop(uids);
        drop(ids);
        let room = (NIL as usize).saturating_sub(self.len());
        if tasks.len() > room {
            let task = tasks.last().map(|task| task.id().clone());
            return Err(TableError::Full(
                task.unwrap_or_else(|| TaskId::new(job.clone(), 0)),
            ));
        }
        self.set_job_policy(job.clone(), policy);
        for task in tasks {
            self.insert_filed(task, Deadline::WalkBack)?;
        }
        let mut changes = Changes::default();
        if let Some(&entry) = self.job_index.get(&job) {
            self.judge_job(entry, &mut changes);
        }
        Ok(changes)
    }

    /// A table of `tasks`, inserted in order as [`insert`](TaskTable::insert) does, except that
    /// the ASSIGNED ones join the dispatch-deadline order in one sort (O(n log n) in all) rather
    /// than each walking back over newer assignments. The way to load many tasks whose
    /// assignment times are not in order: a snapshot, a store.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let job = JobId::new("job")?;
    /// let tasks = (0..4u32).map(|index| {
    ///     // Assigned in the reverse of their order here.
    ///     Task::new(TaskId::new(job.clone(), index), RetryPolicy::default())
    ///         .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(10 - i64::from(index)))
    /// });
    /// let mut table = TaskTable::from_tasks(tasks)?;
    /// let expired = table.expire_assigned(Timestamp::from_millis(100), std::time::Duration::ZERO);
    /// let order: Vec<u32> = expired.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [3, 2, 1, 0], "oldest assignment first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Each job is judged once all the tasks are in, from its tasks as they are (its state
    /// follows them, see [`job`](TaskTable::job)), under the default policy: a job whose tasks
    /// failed an attempt has ended FAILED. To load jobs with their policies, use
    /// [`from_jobs`](TaskTable::from_jobs).
    ///
    /// # Errors
    /// The first error [`insert`](TaskTable::insert) would give but [`TableError::JobEnded`] (no
    /// job has ended while loading); no table is built.
    pub fn from_tasks<T: Into<AnyTask>>(
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<TaskTable, TableError> {
        TaskTable::from_jobs([], tasks)
    }

    /// [`from_tasks`](TaskTable::from_tasks) with the jobs' policies, told before the tasks are
    /// loaded, so that each job is judged under its own: the way to load jobs that ran elsewhere
    /// (another controller, a snapshot of your own). The table knows the jobs in the order given,
    /// then those of tasks whose job was not given.
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, JobState, Retry, RetryPolicy, Task, TaskId, TaskTable,
    ///     Timestamp, WorkerId};
    ///
    /// let job = JobId::new("sweep")?;
    /// let at = Timestamp::from_millis;
    /// let Retry::Exhausted(failed) = Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default())
    ///     .assign(WorkerId::new("w1")?, at(1)).start(at(2)).fail(1, "exit 1", at(3))
    /// else {
    ///     unreachable!("no retry")
    /// };
    /// let running = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default())
    ///     .assign(WorkerId::new("w2")?, at(1)).start(at(2));
    /// let tasks = [failed.into_any(), running.into_any()];
    /// // Under the default policy one failed attempt fails the job; this one tolerates two.
    /// assert_eq!(TaskTable::from_tasks(tasks.clone())?.job_state(&job), Some(JobState::Failed));
    /// let tolerant = JobPolicy { max_task_failures: 2, ..JobPolicy::default() };
    /// let table = TaskTable::from_jobs([(job.clone(), tolerant)], tasks)?;
    /// assert_eq!(table.job_state(&job), Some(JobState::Running));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_tasks`](TaskTable::from_tasks); no table is built.
    pub fn from_jobs<T: Into<AnyTask>>(
        jobs: impl IntoIterator<Item = (JobId, JobPolicy)>,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<TaskTable, TableError> {
        let tasks = tasks.into_iter();
        let mut table = TaskTable::with_capacity(tasks.size_hint().0);
        for (job, policy) in jobs {
            table.set_job_policy(job, policy);
        }
        // Room made for loading, not asked for by the caller: a later `remove_job` may shrink it.
        table.reserved = 0;
        let mut assigned = Vec::new();
        for task in tasks {
            let slot = table.insert_filed(task.into(), Deadline::Later)?;
            if table.task(slot).map(AnyTask::state) == Some(StateKind::Assigned) {
                assigned.push(slot);
            }
        }
        for (slot, _) in table.in_assignment_order(assigned) {
            table
                .assigned
                .push_back(&mut table.slots, Chain::Deadline, slot);
        }
        table.judge_every_job();
        Ok(table)
    }

    /// Judges every job once, from its tasks as loaded.
    fn judge_every_job(&mut self) {
        for job in self.job_order.clone() {
            self.judge_job(job, &mut Changes::default());
        }
    }

    /// Inserts a task and files it in the views of its state; an ASSIGNED one joins the
    /// dispatch-deadline order as `deadline` says.
    pub(super) fn insert_filed(
        &mut self,
        mut task: AnyTask,
        deadline: Deadline,
    ) -> Result<SlotId, TableError> {
        let reused = self.free_slots.last().copied();
        let Some(slot) = reused.or_else(|| {
            SlotId::try_from(self.slots.len())
                .ok()
                .filter(|&slot| slot != NIL)
        }) else {
            return Err(TableError::Full(task.id().clone()));
        };
        let hash = self.hasher.hash_one(task.id());
        if self.slot_hashed(task.id(), hash).is_some() {
            return Err(TableError::DuplicateTask(task.id().clone()));
        }
        self.check_uids(&task)?;
        let job = self.job_entry(task.id().job());
        // Every task of a job shares the table's copy of the job's name, however the task was
        // built (decoded, parsed, deserialized): a loaded table holds each name once.
        if let Some(entry) = self.jobs.get_mut(job as usize) {
            task.share_job(&entry.id);
            entry.slots.push(slot);
        }
        let filled = Slot {
            task,
            queue: Link::DETACHED,
            deadline: Link::DETACHED,
            job,
        };
        match list::get_mut(&mut self.slots, slot) {
            Some(vacant) if reused.is_some() => {
                *vacant = filled;
                self.free_slots.pop();
            }
            _ => self.slots.push(filled),
        }
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index
            .insert_unique(hash, slot, |&other| hash_of(hasher, slots, other));
        let attempts = self.task(slot).map_or(0, |task| task.attempts().len());
        for number in 0..attempts {
            self.index_uid(slot, u32::try_from(number).unwrap_or(u32::MAX));
        }
        self.track_stops(slot);
        self.refile(slot, None, deadline);
        Ok(slot)
    }

    /// Refuses `task` if one of its attempts repeats a uid of the table or of an earlier
    /// attempt of its own (a task has few attempts: they are compared pairwise).
    fn check_uids(&self, task: &AnyTask) -> Result<(), TableError> {
        let attempts = task.attempts();
        for (n, attempt) in attempts.iter().enumerate() {
            let uid = attempt.uid();
            let holder = self
                .attempt_by_uid(uid)
                .map(|(held, _)| held.id())
                .or_else(|| {
                    let earlier = attempts.get(..n).unwrap_or_default();
                    earlier.iter().any(|a| a.uid() == uid).then(|| task.id())
                });
            if let Some(holder) = holder {
                return Err(TableError::DuplicateAttemptUid {
                    task: task.id().clone(),
                    uid,
                    holder: holder.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds attempt `number` of the task in `slot` to the uid index.
    pub(super) fn index_uid(&mut self, slot: SlotId, number: u32) {
        let Some(uid) = uid_at(&self.slots, (slot, number)) else {
            return;
        };
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.by_uid
            .insert_unique(uid_hash(hasher, uid), (slot, number), |&entry| {
                uid_at(slots, entry).map_or(0, |uid| uid_hash(hasher, uid))
            });
    }

    /// A uid no attempt in the table has: the minter's next, minted again on the (2^-64 a
    /// pair) chance of a clash with a uid the table holds, as Iris mints again on one.
    pub(super) fn fresh_uid(&mut self) -> AttemptUid {
        loop {
            let uid = self.uids.mint();
            if self.attempt_by_uid(uid).is_none() {
                return uid;
            }
        }
    }

    /// The task and attempt whose uid is `uid`, among every attempt of every task the table
    /// holds.
    ///
    /// ```
    /// use iris_task::{AttemptUid, JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};
    ///
    /// let mut table = TaskTable::new();
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let uid = table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?.attempts()[0].uid();
    /// let (task, attempt) = table.attempt_by_uid(uid).unwrap();
    /// assert_eq!((task.id(), attempt.id().get()), (&id, 0));
    /// assert!(table.attempt_by_uid(AttemptUid::new(uid.get() ^ 1)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attempt_by_uid(&self, uid: AttemptUid) -> Option<(&AnyTask, &Attempt)> {
        let (slot, number) = self.find_uid(uid)?;
        let task = self.task(slot)?;
        Some((task, task.attempts().get(number as usize)?))
    }

    /// The index of `job`'s entry, made (or a freed one reused) if the table did not know the job.
    pub(super) fn job_entry(&mut self, job: &JobId) -> u32 {
        if let Some(&entry) = self.job_index.get(job) {
            return entry;
        }
        let entry = match self.free_jobs.pop() {
            Some(entry) => {
                if let Some(freed) = self.jobs.get_mut(entry as usize) {
                    *freed = JobEntry::new(job.clone());
                }
                entry
            }
            None => {
                self.jobs.push(JobEntry::new(job.clone()));
                u32::try_from(self.jobs.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.job_index.insert(job.clone(), entry);
        self.job_order.push(entry);
        entry
    }

    /// Forgets a job whose tasks have all ended, and its policy, and returns its tasks in index
    /// order: the way a long-running controller keeps its table from growing. The slots the
    /// tasks held are reused by the next tasks inserted, and an index left under a quarter full
    /// shrinks to twice the tasks left (never below what [`with_capacity`](TaskTable::with_capacity)
    /// reserved), so a table that drained gives that memory back. An unknown job, or one known by its policy
    /// alone, gives `Ok` with no tasks (and forgets the policy). Stops its workers still owe
    /// ([`Attempt::awaits_stop`]) are forgotten with the job: its attempts drop out of their
    /// workers' desired sets, which a worker takes as a kill, but the controller no longer learns
    /// when they stopped. A controller that holds resources until then removes a job once
    /// [`stops_on`](TaskTable::stops_on) lists none of its attempts.
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, TableError, Task, TaskId, TaskTable, Timestamp};
    ///
    /// let job = JobId::new("nightly")?;
    /// let mut table = TaskTable::new();
    /// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    /// // Not finished: refused, nothing changes.
    /// assert!(matches!(table.remove_job(&job), Err(TableError::JobNotFinished { .. })));
    /// table.kill_job(&job, "done with it", Timestamp::from_millis(1));
    /// let removed = table.remove_job(&job)?;
    /// assert_eq!(removed.len(), 1);
    /// assert!(table.is_empty() && table.job_counts(&job).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::JobNotFinished`] naming the job's first task (by index) that has not ended;
    /// the table is unchanged.
    pub fn remove_job(&mut self, job: &JobId) -> Result<Vec<AnyTask>, TableError> {
        let Some(&entry) = self.job_index.get(job) else {
            return Ok(Vec::new());
        };
        let slots = self.slots_of_entry(entry);
        let unfinished = slots
            .iter()
            .filter_map(|&slot| self.task(slot))
            .find(|task| !task.state().is_terminal());
        if let Some(task) = unfinished {
            return Err(TableError::JobNotFinished {
                job: job.clone(),
                task: task.id().clone(),
                state: task.state(),
            });
        }
        let mut removed = Vec::with_capacity(slots.len());
        for slot in slots {
            let Some(task) = self.vacate(slot) else {
                continue;
            };
            self.counts.remove(task.state());
            removed.push(task);
        }
        self.job_index.remove(job);
        self.job_order.retain(|&live| live != entry);
        if let Some(freed) = self.jobs.get_mut(entry as usize) {
            // Keeps its vectors' memory for the next job that takes the entry.
            freed.clear();
        }
        self.free_jobs.push(entry);
        self.shrink_index();
        Ok(removed)
    }

    /// Shrinks an index left under a quarter full to twice its tasks (never below what
    /// [`with_capacity`](TaskTable::with_capacity) reserved). A table that drained gives the memory
    /// back, and the rebuilt index sheds the marks the removed ids left in it: kept, those marks
    /// make the next inserts double the index at a moment set by the hash seed.
    fn shrink_index(&mut self) {
        let live = self.index.len();
        if live < self.index.capacity() / 4 {
            let (hasher, slots) = (&self.hasher, &self.slots);
            let keep = live.saturating_mul(2).max(self.reserved);
            self.index
                .shrink_to(keep, |&slot| hash_of(hasher, slots, slot));
        }
    }

    /// Takes an ended task out of its slot, out of the index, and frees the slot for reuse. An
    /// ended task is in no list, so no link needs undoing.
    fn vacate(&mut self, slot: SlotId) -> Option<AnyTask> {
        self.untrack_stops(slot);
        let uids: Vec<AttemptUid> = self
            .task(slot)?
            .attempts()
            .iter()
            .map(Attempt::uid)
            .collect();
        for (number, uid) in (0u32..).zip(uids) {
            if let Ok(found) = self
                .by_uid
                .find_entry(uid_hash(&self.hasher, uid), |&entry| {
                    entry == (slot, number)
                })
            {
                found.remove();
            }
        }
        let id = self.task(slot)?.id().clone();
        let hash = self.hasher.hash_one(&id);
        if let Ok(found) = self.index.find_entry(hash, |&other| other == slot) {
            found.remove();
        }
        let entry = list::get_mut(&mut self.slots, slot)?;
        entry.job = VACANT;
        entry.queue = Link::DETACHED;
        entry.deadline = Link::DETACHED;
        let task = std::mem::replace(&mut entry.task, Task::vacant().into_any());
        self.free_slots.push(slot);
        Some(task)
    }

    /// Tells the table a job's policy: from then on its gang and job-end rules apply to its
    /// tasks, and its state is judged by this policy's `max_task_failures`. The job may have no
    /// task in the table yet; a later policy replaces an earlier one.
    ///
    /// Setting a policy changes no task and does not judge the job: the job is judged under the
    /// new policy at the next change to one of its tasks, as Iris judges a job when one of its
    /// tasks changes. So a job already over a lowered limit (more FAILED attempts than the new
    /// `max_task_failures`) ends FAILED at its next task change, and the job-end rule stops its
    /// other tasks then, in that call. A job that has ended stays ended whatever the new policy
    /// says (a terminal job state is final).
    ///
    /// With a policy, a call to [`apply`](TaskTable::apply), [`worker_lost`](TaskTable::worker_lost)
    /// or [`expire_assigned`](TaskTable::expire_assigned) that ends the job (FAILED, KILLED,
    /// UNSCHEDULABLE, WORKER_FAILED) kills its remaining tasks in the same call, with the job's error as
    /// the reason (Iris's words; a job without one gives its state's, such as `Job failed`). Tasks of jobs the table was never told about keep the rules of a
    /// single task: nothing cascades (their job's state is still judged, by the default policy).
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, RetryPolicy, StateKind, Task, TaskEvent, TaskId, TaskTable, Timestamp};
    ///
    /// let job = JobId::new("batch")?;
    /// let mut table = TaskTable::new();
    /// table.set_job_policy(job.clone(), JobPolicy::default());
    /// for index in 0..3 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    /// }
    /// // Killing one task ends the job (KILLED), which stops the rest.
    /// let kill = TaskEvent::Kill { reason: "bad input".into(), at: Timestamp::from_millis(5) };
    /// let changes = table.apply(&TaskId::new(job.clone(), 1), kill)?;
    /// let order: Vec<u32> = changes.iter().map(|(id, _)| id.index()).collect();
    /// assert_eq!(order, [1, 0, 2], "the named task first, then the rest in index order");
    /// let task = table.get(&TaskId::new(job.clone(), 0)).unwrap();
    /// assert_eq!(task.state(), StateKind::Killed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    pub fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        let entry = self.job_entry(&job);
        if let Some(entry) = self.jobs.get_mut(entry as usize) {
            entry.policy = Some(policy);
        }
    }
}
