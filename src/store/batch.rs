//! [`Batch`]: the calls of one transaction, and what they changed, recorded by name for the
//! commit to write.

use std::fmt;
use std::time::Duration;

use hashbrown::HashMap;

use super::{DurableTable, Seqs, Store, records};
use crate::any::{AnyTask, TaskEvent};
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::policy::JobPolicy;
use crate::state::{Assigned, StateKind};
use crate::table::{Changes, IntoWorkers, Offer, TableError, TaskTable};
use crate::task::Task;

/// The calls of one transaction: the same calls as [`TaskTable`]'s, recorded for the commit.
/// Get one from [`DurableTable::batch`].
///
/// Each call returns what [`TaskTable`]'s returns (`Changes`, or a [`TableError`] for a call the
/// table refuses), not a [`StoreError`](super::StoreError): nothing is written until the batch
/// ends, so only [`DurableTable::batch`] itself can fail to commit.
pub struct Batch<'a, S: Store> {
    pub(super) durable: &'a mut DurableTable<S>,
    pub(super) writes: Unwritten,
}

impl<S: Store> fmt::Debug for Batch<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

/// What a batch has changed so far, by name; written as the table holds it at the commit.
#[derive(Debug, Default)]
pub(super) struct Unwritten {
    pub(super) removed_jobs: Vec<JobId>,
    pub(super) jobs: Vec<JobId>,
    job_index: hashbrown::HashSet<JobId>,
    /// Each task changed, with the first of its attempts to write.
    pub(super) tasks: Vec<(TaskId, usize)>,
    index: HashMap<TaskId, usize>,
    /// The records put or removed.
    pub(super) records: std::collections::BTreeSet<records::RecordKey>,
}

impl Unwritten {
    pub(super) fn is_empty(&self) -> bool {
        self.removed_jobs.is_empty()
            && self.jobs.is_empty()
            && self.tasks.is_empty()
            && self.records.is_empty()
    }

    fn job(&mut self, job: &JobId) {
        if self.job_index.insert(job.clone()) {
            self.jobs.push(job.clone());
        }
    }

    fn task(&mut self, id: &TaskId, attempts_from: usize) {
        match self.index.get(id) {
            Some(&at) => {
                if let Some((_, from)) = self.tasks.get_mut(at) {
                    *from = (*from).min(attempts_from);
                }
            }
            None => {
                self.index.insert(id.clone(), self.tasks.len());
                self.tasks.push((id.clone(), attempts_from));
            }
        }
    }
}

impl<S: Store> Batch<'_, S> {
    /// [`DurableTable::set_uid_minter`], inside a batch.
    pub fn set_uid_minter(&mut self, minter: crate::UidMinter) {
        self.durable.set_uid_minter(minter);
    }

    /// The table, as this batch has changed it so far.
    pub fn table(&self) -> &TaskTable {
        &self.durable.table
    }

    /// [`TaskTable::insert`].
    ///
    /// # Errors
    /// As [`TaskTable::insert`]; the batch goes on.
    pub fn insert(&mut self, task: impl Into<AnyTask>) -> Result<Changes, TableError> {
        let task = task.into();
        let id = task.id().clone();
        let job = id.job().clone();
        let before = self.durable.table.job_state(&job);
        let changes = self.durable.table.insert(task)?;
        self.learned(&job);
        if self.durable.table.job_state(&job) != before {
            self.writes.job(&job);
        }
        let seq = self.durable.tick();
        let durable = &mut *self.durable;
        durable.seqs.set(
            &durable.table,
            &id,
            Seqs {
                seq,
                ..Seqs::default()
            },
        );
        let state = self.durable.table.get(&id).map(AnyTask::state);
        match state {
            Some(StateKind::Pending) => self.joined_queue(1),
            Some(state) if state.is_active() => self.assigned([&id]),
            _ => {}
        }
        self.writes.task(&id, 0);
        Ok(changes)
    }

    /// [`TaskTable::insert_job`].
    ///
    /// # Errors
    /// As [`TaskTable::insert_job`]; the batch goes on.
    pub fn insert_job<T: Into<AnyTask>>(
        &mut self,
        job: JobId,
        policy: JobPolicy,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<Changes, TableError> {
        let tasks: Vec<AnyTask> = tasks.into_iter().map(Into::into).collect();
        let ids: Vec<TaskId> = tasks.iter().map(|task| task.id().clone()).collect();
        let changes = self.durable.table.insert_job(job.clone(), policy, tasks)?;
        self.learned(&job);
        self.writes.job(&job);
        let mut queued = 0;
        let mut active = Vec::new();
        for id in &ids {
            let seq = self.durable.tick();
            let durable = &mut *self.durable;
            durable.seqs.set(
                &durable.table,
                id,
                Seqs {
                    seq,
                    ..Seqs::default()
                },
            );
            match self.durable.table.get(id).map(AnyTask::state) {
                Some(StateKind::Pending) => queued += 1,
                Some(state) if state.is_active() => active.push(id),
                _ => {}
            }
            self.writes.task(id, 0);
        }
        // The pending ones joined the queue in this order, the active ones their workers.
        self.joined_queue(queued);
        self.assigned(active);
        Ok(changes)
    }

    /// [`TaskTable::set_job_policy`].
    pub fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        self.durable.table.set_job_policy(job.clone(), policy);
        self.learned(&job);
        self.writes.job(&job);
    }

    /// [`TaskTable::assign`].
    ///
    /// # Errors
    /// As [`TaskTable::assign`]; the batch goes on.
    pub fn assign(
        &mut self,
        id: &TaskId,
        worker: WorkerId,
        at: Timestamp,
    ) -> Result<&Task<Assigned>, TableError> {
        let before = self.durable.table.job_state(id.job());
        self.durable.table.assign(id, worker, at)?;
        self.assigned([id]);
        self.touched(id);
        if self.durable.table.job_state(id.job()) != before {
            self.writes.job(id.job());
        }
        match self.durable.table.get(id) {
            Some(AnyTask::Assigned(task)) => Ok(task),
            _ => Err(TableError::UnknownTask(id.clone())),
        }
    }

    /// [`TaskTable::schedule`].
    pub fn schedule<P: IntoWorkers>(
        &mut self,
        at: Timestamp,
        place: impl FnMut(&Offer<'_>) -> Option<P>,
    ) -> Changes {
        let changes = self.durable.table.schedule(at, place);
        self.note(&changes);
        changes
    }

    /// [`TaskTable::apply`].
    ///
    /// # Errors
    /// As [`TaskTable::apply`]; the batch goes on, and nothing was written.
    pub fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        let changes = self.durable.table.apply(id, event)?;
        self.note(&changes);
        Ok(changes)
    }

    /// [`TaskTable::worker_lost`].
    pub fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        let changes = self.durable.table.worker_lost(worker, error, at);
        self.note(&changes);
        changes
    }

    /// [`TaskTable::confirm_stop`].
    ///
    /// # Errors
    /// As `confirm_stop`: nothing changes.
    pub fn confirm_stop(
        &mut self,
        worker: &WorkerId,
        uid: crate::AttemptUid,
    ) -> Result<Changes, TableError> {
        let changes = self.durable.table.confirm_stop(worker, uid)?;
        self.note(&changes);
        Ok(changes)
    }

    /// [`TaskTable::reconcile`].
    ///
    /// # Errors
    /// [`ReconcileError::WrongWorker`](crate::ReconcileError::WrongWorker): nothing changes.
    pub fn reconcile(
        &mut self,
        worker: &WorkerId,
        response: crate::today::cluster::worker::ReconcileResponse,
        at: Timestamp,
    ) -> Result<crate::Reconciled, crate::ReconcileError> {
        let reconciled = self.durable.table.reconcile(worker, response, at)?;
        self.note(&reconciled.changes);
        Ok(reconciled)
    }

    /// [`TaskTable::expire_assigned`].
    pub fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        let changes = self.durable.table.expire_assigned(now, max_wait);
        self.note(&changes);
        changes
    }

    /// [`TaskTable::kill_job`].
    pub fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        let changes = self.durable.table.kill_job(job, reason, at);
        self.note(&changes);
        changes
    }

    /// [`TaskTable::stop_ended_job`].
    pub fn stop_ended_job(&mut self, job: &JobId, at: Timestamp) -> Changes {
        let changes = self.durable.table.stop_ended_job(job, at);
        self.note(&changes);
        changes
    }

    /// [`TaskTable::remove_job`]: the job's rows are deleted in the same transaction.
    ///
    /// # Errors
    /// As [`TaskTable::remove_job`]; the batch goes on.
    pub fn remove_job(&mut self, job: &JobId) -> Result<Vec<AnyTask>, TableError> {
        // A pending write of a removed task is skipped when the rows are built (the task is gone
        // from the table); an id inserted again in the same batch writes the new task.
        let removed = self.durable.table.remove_job(job)?;
        if self.durable.jobs.remove(job).is_some() {
            if self.writes.job_index.remove(job) {
                self.writes.jobs.retain(|known| known != job);
            }
            self.writes.removed_jobs.push(job.clone());
        }
        self.forget_records_of(job);
        // As the table's index does (`TaskTable::remove_job`): a map left under a quarter full
        // shrinks, so its size follows the jobs it holds, not the hash seed.
        shrink(&mut self.durable.jobs);
        Ok(removed)
    }

    /// Records the tasks a call changed, and the sequence numbers of those that joined the
    /// pending queue or were assigned, in the order the table put them there.
    fn note(&mut self, changes: &Changes) {
        let mut queued = 0;
        let mut assigned = Vec::new();
        for (id, step) in changes.iter() {
            if !step.changed() {
                continue;
            }
            if step.to == StateKind::Pending {
                queued += 1;
            }
            if step.to == StateKind::Assigned {
                assigned.push(id);
            }
            self.touched(id);
        }
        self.joined_queue(queued);
        self.assigned(assigned);
        for (job, _) in changes.jobs() {
            self.writes.job(job);
        }
        // A settled stop changes an attempt, not its task's state: written from that attempt.
        for (id, attempt) in changes.stops() {
            self.writes.task(id, attempt.get() as usize);
        }
    }

    /// Notes that the last attempt of `id` (and its row) changed.
    fn touched(&mut self, id: &TaskId) {
        let last = self
            .durable
            .table
            .get(id)
            .map_or(0, |task| task.attempts().len().saturating_sub(1));
        self.writes.task(id, last);
    }

    /// The last `count` tasks of the pending queue just joined it, in that order.
    fn joined_queue(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        let tail = self.durable.table.pending_tail(count);
        for id in tail {
            let seq = self.durable.tick();
            let durable = &mut *self.durable;
            if let Some(seqs) = durable.seqs.get_mut(&durable.table, &id) {
                seqs.queue = Some(seq);
            }
        }
    }

    /// `ids` were just assigned, in that order.
    fn assigned<'i>(&mut self, ids: impl IntoIterator<Item = &'i TaskId>) {
        for id in ids {
            let seq = self.durable.tick();
            let durable = &mut *self.durable;
            if let Some(seqs) = durable.seqs.get_mut(&durable.table, id) {
                seqs.assign = Some(seq);
            }
        }
    }

    /// The table knows `job` now; if it did not before, it gets its place in the job order.
    fn learned(&mut self, job: &JobId) {
        if !self.durable.jobs.contains_key(job) {
            let seq = self.durable.tick();
            self.durable.jobs.insert(job.clone(), seq);
            self.writes.job(job);
        }
    }
}

/// Shrinks a map left under a quarter full to twice its entries.
fn shrink<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if map.len() < map.capacity() / 4 {
        map.shrink_to(map.len().saturating_mul(2));
    }
}
