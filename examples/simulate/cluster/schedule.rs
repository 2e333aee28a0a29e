//! The scheduler: workers with free slots kept in an ordered set, a worker's load reread only when
//! something changed on it, gangs placed whole, and the RunTask dispatch with its faults.

use std::cmp::Reverse;

use iris_task::{AnyTask, Offer, StateKind, TaskEvent, TaskId, WorkerId, proto};
use rand::Rng;

use super::{
    BUILD_MS, CONFIRM_MS, Cluster, InFlight, P_BUILDS_FIRST, P_DISPATCH_FAILS, P_EXITS_NON_ZERO,
    P_NEVER_CONFIRMS, RPC_FAILED_PREFIX, RUN_MS, SLOTS_PER_WORKER,
};

impl Cluster {
    /// Notes that the worker's load or health changed: the scheduler re-reads it next time.
    pub(super) fn touch(&mut self, worker: usize) {
        self.slots.dirty.push(worker);
    }

    /// Re-reads the free slots of the workers that changed since the last time, and of the dead
    /// ones that are back: O(changed workers × log workers), not O(workers).
    pub(super) fn refresh_free_slots(&mut self) {
        while let Some(&Reverse((back_at, worker))) = self.slots.revivals.peek() {
            if back_at > self.now {
                break;
            }
            self.slots.revivals.pop();
            self.slots.dirty.push(worker);
        }
        let mut dirty = std::mem::take(&mut self.slots.dirty);
        for worker in dirty.drain(..) {
            let free = self.free_slots_of(worker);
            if let Some(slot) = self.slots.free.get_mut(worker) {
                *slot = free;
            }
            if free > 0 {
                self.slots.available.insert(worker);
            } else {
                self.slots.available.remove(&worker);
            }
        }
        self.slots.dirty = dirty;
    }

    /// What the table says the worker has free: nothing while it is down.
    pub(super) fn free_slots_of(&self, worker: usize) -> usize {
        match self.workers.get(worker) {
            Some(worker) if worker.down_until <= self.now => {
                SLOTS_PER_WORKER.saturating_sub(self.table.view().worker_load(&worker.id))
            }
            _ => 0,
        }
    }

    /// Matches pending tasks, oldest first, to workers with free slots, round robin, through
    /// the table's `schedule`: a gang is offered whole and placed on as many workers with a free
    /// slot, or waits whole. Then sends each assignment its RunTask RPC.
    pub(super) fn schedule(&mut self) {
        self.refresh_free_slots();
        if cfg!(debug_assertions) {
            self.audit_free_slots();
        }
        if self.slots.available.is_empty() {
            return;
        }
        let now = self.now();
        let slots = &mut self.slots;
        let workers = &self.workers;
        let jobs = &self.jobs;
        let arrived = self.arrived_at.is_some();
        let mut place = |offer: &Offer<'_>| -> Option<Vec<WorkerId>> {
            // Eleven jobs: a scan that compares lengths first is cheaper than hashing.
            if slots.available.is_empty() {
                // No free slot anywhere: the rest of the queue waits for the next tick.
                offer.stop();
                return None;
            }
            let job = jobs.iter().find(|job| &job.id == offer.job())?;
            if job.oversized || (job.priority && !arrived) || slots.available.len() < offer.len() {
                return None;
            }
            // The next workers with a free slot, round robin: one, or a gang's worth of
            // distinct ones (as Iris places a gang, one member per worker).
            let chosen: Vec<usize> = slots
                .available
                .range(slots.next..)
                .chain(slots.available.range(..slots.next))
                .take(offer.len())
                .copied()
                .collect();
            for &worker in &chosen {
                if let Some(free) = slots.free.get_mut(worker) {
                    *free = free.saturating_sub(1);
                    if *free == 0 {
                        slots.available.remove(&worker);
                    }
                }
                slots.next = (worker + 1) % workers.len();
            }
            Some(
                chosen
                    .into_iter()
                    .filter_map(|worker| workers.get(worker).map(|w| w.id.clone()))
                    .collect(),
            )
        };
        let changes = self.table.schedule(now, &mut place);
        self.stats.events += changes.len() as u64;
        self.stats.changes += changes.len() as u64;
        self.check_placed_whole(&changes);
        for (id, _) in changes.iter() {
            let Some(worker) = self
                .table
                .view()
                .get(id)
                .and_then(AnyTask::worker)
                .and_then(|worker| self.worker_index.get(worker).copied())
            else {
                continue;
            };
            let Some(job) = self.jobs.iter().position(|job| &job.id == id.job()) else {
                continue;
            };
            self.dispatch(id, worker, job);
        }
    }

    /// Sends the RunTask RPC of a task just assigned, which may fail, or reach a worker that
    /// will never confirm it. A worker that takes it reports BUILDING (sometimes), RUNNING and an
    /// end.
    fn dispatch(&mut self, id: &TaskId, worker: usize, job: usize) {
        let Some(attempt) = self
            .table
            .view()
            .get(id)
            .and_then(AnyTask::current_attempt)
            .map(|attempt| attempt.id())
        else {
            return;
        };
        if self.rng.random_bool(P_DISPATCH_FAILS) {
            let Some(worker_id) = self.workers.get(worker).map(|w| w.id.clone()) else {
                return;
            };
            let error = format!("{RPC_FAILED_PREFIX}{worker_id} failed: connection refused");
            let event = TaskEvent::WorkerLost {
                worker: worker_id,
                error,
                at: self.now(),
            };
            if self.apply(id, event) == Some((StateKind::Assigned, StateKind::Pending)) {
                self.stats.dispatch_failures_requeued += 1;
                self.stats.dispatch_rpc_failed += 1;
            }
            self.touch(worker);
            return;
        }
        if self.rng.random_bool(P_NEVER_CONFIRMS) {
            return;
        }
        let Some(incarnation) = self.workers.get(worker).map(|from| from.incarnation) else {
            return;
        };
        let report = |state, sent_at, exit_code| InFlight {
            deliver_at: sent_at,
            sequence: 0,
            sent_at,
            worker,
            incarnation,
            job,
            task: id.index(),
            attempt: attempt.get(),
            state,
            exit_code,
        };
        let mut at = self.now + self.rng.random_range(CONFIRM_MS);
        if self.rng.random_bool(P_BUILDS_FIRST) {
            self.send(report(proto::TaskState::Building, at, 0));
            at += self.rng.random_range(BUILD_MS);
        }
        self.send(report(proto::TaskState::Running, at, 0));
        at += self.rng.random_range(RUN_MS);
        let failures = self.table.view().get(id).map_or(0, AnyTask::failure_count);
        let bad_shard = id.index() == 0
            && self
                .jobs
                .get(job)
                .is_some_and(|job| failures < job.fail_first);
        if self.rng.random_bool(P_EXITS_NON_ZERO) || bad_shard {
            let exit = self.rng.random_range(1..128);
            self.send(report(proto::TaskState::Failed, at, exit));
        } else {
            self.send(report(proto::TaskState::Succeeded, at, 0));
        }
    }
}
