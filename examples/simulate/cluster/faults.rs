//! The faults and the user's actions a run injects: workers dying and coming back, the dispatch
//! deadline, the oversized job's scheduling deadline, a cancel, and the priority job whose
//! arrival preempts the lowest-priority one.

use std::cmp::Reverse;
use std::time::Duration;

use iris_task::{AnyTask, JobId, StateKind, TaskEvent, TaskId, TaskTable};
use rand::Rng;

use super::{
    CANCEL_REASON, Cluster, DISPATCH_DEADLINE_MS, P_WORKER_DIES_PER_TICK, PREEMPT_REASON,
    RESTART_MS, WORKER_DIED_ERROR,
};

impl Cluster {
    /// Now and then a worker dies: every task on it fails as a worker loss, and it comes back
    /// empty some time later.
    pub(super) fn maybe_kill_a_worker(&mut self) {
        if !self.rng.random_bool(P_WORKER_DIES_PER_TICK) {
            return;
        }
        let index = self.rng.random_range(0..self.workers.len());
        let restart = self.rng.random_range(RESTART_MS);
        let Some(worker) = self.workers.get_mut(index) else {
            return;
        };
        if worker.down_until > self.now {
            return;
        }
        worker.deaths.push(self.now);
        worker.incarnation += 1;
        worker.down_until = self.now + restart;
        let id = worker.id.clone();
        self.slots
            .revivals
            .push(Reverse((self.now + restart, index)));
        self.touch(index);
        self.stats.worker_deaths += 1;
        // The tasks the call names: those active on the worker now. Each that is still active
        // on it when its turn comes gets its own `WorkerLost`; the others were moved first by a
        // gang sibling on the same worker, and count as follow-on changes.
        let on_worker: Vec<(TaskId, u32)> = self
            .table
            .view()
            .tasks_on(&id)
            .filter_map(|task| {
                let attempt = self.table.view().get(task)?.current_attempt()?.id().get();
                Some((task.clone(), attempt))
            })
            .collect();
        let changes = self.table.worker_lost(&id, WORKER_DIED_ERROR, self.now());
        let lost_here = |table: &TaskTable, task: &TaskId, attempt: u32| {
            table
                .get(task)
                .and_then(|task| task.attempts().get(attempt as usize))
                .is_some_and(|closed| closed.error() == Some(WORKER_DIED_ERROR))
        };
        let mut named = 0;
        let mut requeued = 0;
        for (task, attempt) in &on_worker {
            if lost_here(self.table.view(), task, *attempt) {
                named += 1;
                let assigned = self
                    .table
                    .view()
                    .get(task)
                    .and_then(|task| task.attempts().get(*attempt as usize))
                    .is_some_and(|closed| closed.started_at().is_none());
                requeued += u64::from(assigned);
            }
        }
        self.stats.events += named as u64;
        self.stats.changes += named as u64;
        self.stats.dispatch_failures_requeued += requeued;
        self.stats.dispatch_worker_died += requeued;
        self.after(&changes, named);
    }

    /// The dispatch deadline: ASSIGNED tasks their workers never confirmed are requeued.
    pub(super) fn expire_dispatch_deadline(&mut self) {
        let changes = self.table.expire_assigned(
            self.now(),
            Duration::from_millis(DISPATCH_DEADLINE_MS as u64),
        );
        // The tasks whose own deadline passed closed their attempt with its error; the others
        // in the list are gang siblings or tasks of a job that ended.
        let expired = changes
            .iter()
            .filter(|(id, _)| {
                self.table
                    .view()
                    .get(id)
                    .and_then(AnyTask::current_attempt)
                    .is_some_and(|attempt| {
                        attempt.error() == Some(iris_task::DISPATCH_DEADLINE_ERROR)
                    })
            })
            .count();
        self.after(&changes, expired);
        let expired = expired as u64;
        self.stats.events += expired;
        self.stats.changes += expired;
        self.stats.dispatch_deadline_requeued += expired;
        self.stats.dispatch_failures_requeued += expired;
    }

    /// The scheduling deadline of the jobs no worker can fit: their pending tasks end.
    pub(super) fn time_out_oversized_jobs(&mut self) {
        let at = self.now();
        self.for_tasks_of(
            |job| job.oversized,
            |state| state == StateKind::Pending,
            || TaskEvent::SchedulingTimeout { at },
        );
    }

    /// The user cancels: every task of the job that has not ended is killed
    /// (`TaskTable::kill_job`), each a controller event.
    pub(super) fn cancel_jobs(&mut self) {
        let at = self.now();
        let cancelled: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|job| job.cancelled)
            .map(|job| job.id.clone())
            .collect();
        for job in cancelled {
            let changes = self.table.kill_job(&job, CANCEL_REASON, at);
            self.stats.events += changes.len() as u64;
            self.stats.changes += changes.len() as u64;
            self.after(&changes, changes.len());
        }
    }

    /// The priority job arrives: the scheduler preempts as many running tasks of the
    /// lowest-priority job as the new job has tasks, and the freed slots go to the new job, whose
    /// tasks head the pending queue.
    pub(super) fn priority_job_arrives(&mut self) {
        self.arrived_at = Some(self.now);
        let wanted: usize = self
            .jobs
            .iter()
            .filter(|job| job.priority)
            .map(|job| job.size as usize)
            .sum();
        let victims: Vec<TaskId> = self
            .jobs
            .iter()
            .filter(|job| job.lowest_priority)
            .flat_map(|job| {
                self.table
                    .view()
                    .tasks_of(&job.id)
                    .filter(|task| task.state() == StateKind::Running)
                    .map(|task| task.id().clone())
                    .collect::<Vec<_>>()
            })
            .take(wanted)
            .collect();
        for id in victims {
            let event = TaskEvent::Preempt {
                reason: PREEMPT_REASON.to_owned(),
                at: self.now(),
            };
            if self.apply(&id, event).is_some() {
                self.stats.scheduler_preemptions += 1;
            }
        }
    }
}
