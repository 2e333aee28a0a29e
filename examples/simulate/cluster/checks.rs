//! What must hold during and at the end of every run: gangs placed whole and stopped whole, the
//! scheduler's free slots equal to the table's loads, and the final table's invariants.

use iris_task::{AnyTask, Changes, JobId, StateCounts, StateKind, TaskTable, WorkerId};

use super::{Cluster, Job};

impl Cluster {
    /// A gang is never partly running after a trigger: once a call requeued or ended a member
    /// (other than by success or the controller's own stop), no member is active (its active
    /// siblings followed it), and if its job ended, every member has ended. O(gang), after such
    /// calls only.
    pub(super) fn check_gang(&mut self, job: usize) {
        let Some(id) = self.jobs.get(job).map(|job| job.id.clone()) else {
            return;
        };
        self.stats.gang_checks += 1;
        let states: Vec<StateKind> = self
            .table
            .view()
            .tasks_of(&id)
            .map(AnyTask::state)
            .collect();
        let job_ended = self
            .table
            .view()
            .job_state(&id)
            .is_some_and(|state| state.is_terminal());
        let partly = states.iter().any(|state| state.is_active())
            || (job_ended && states.iter().any(|state| !state.is_terminal()));
        if partly && self.audit.len() < 20 {
            self.audit.push(format!(
                "at {} ms gang {id} is partly running after a trigger: {states:?}",
                self.now
            ));
        }
    }

    /// Compares the scheduler's free slots of every worker with the table's loads: O(workers),
    /// so the loop calls it only in debug builds (the tests), and `run` once at the end.
    pub(super) fn audit_free_slots(&mut self) {
        for worker in 0..self.workers.len() {
            let table = self.free_slots_of(worker);
            let tracked = self.slots.free.get(worker).copied().unwrap_or(0);
            let available = self.slots.available.contains(&worker);
            if (table, available) != (tracked, tracked > 0) && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms the scheduler counted {tracked} free slots on worker {worker} (available: {available}), the table {table}",
                    self.now
                ));
            }
        }
    }

    /// A gang is placed whole, one member per worker: none of its members is left pending beside
    /// one `schedule` just placed, and no two it placed share a worker. O(gang), for the gangs
    /// placed only.
    pub(super) fn check_placed_whole(&mut self, changes: &Changes) {
        let mut gangs: Vec<&JobId> = Vec::new();
        for (id, _) in changes.iter() {
            let gang = self
                .jobs
                .iter()
                .any(|job| &job.id == id.job() && job.policy.coscheduled);
            if gang && !gangs.contains(&id.job()) {
                gangs.push(id.job());
            }
        }
        for id in gangs {
            self.stats.gang_checks += 1;
            let pending = self
                .table
                .view()
                .tasks_of(id)
                .filter(|task| task.state() == StateKind::Pending)
                .count();
            if pending > 0 && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms gang {id} was placed in part: {pending} members left pending",
                    self.now
                ));
            }
            let mut placed: Vec<&WorkerId> = changes
                .iter()
                .filter(|(task, _)| task.job() == id)
                .filter_map(|(task, _)| self.table.view().get(task).and_then(AnyTask::worker))
                .collect();
            let members = placed.len();
            placed.sort_unstable();
            placed.dedup();
            if placed.len() < members && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms gang {id} was placed with two members on one worker",
                    self.now
                ));
            }
        }
    }
}

/// Checks what must hold at the end of every run.
pub fn check_invariants(table: &TaskTable, jobs: &[Job]) -> Vec<String> {
    let mut violations = Vec::new();
    let recount: StateCounts = table.iter().map(AnyTask::state).collect();
    if table.counts() != &recount {
        violations.push(format!(
            "counts {:?} differ from a recount {:?}",
            table.counts(),
            recount
        ));
    }
    for task in table.iter() {
        let id = task.id();
        if !task.state().is_terminal() {
            violations.push(format!("task {id} is still {}", task.state()));
        }
        if let Some(open) = task.attempts().iter().find(|attempt| attempt.is_open()) {
            violations.push(format!("task {id} left attempt {} open", open.id()));
        }
        let policy = task.policy();
        let failed = u32::from(task.state() == StateKind::Failed);
        let lost = u32::from(matches!(
            task.state(),
            StateKind::WorkerFailed | StateKind::Preempted
        ));
        // No gang sibling is charged: the preemption count, recounted from the worker-side
        // endings of started attempts (never a COSCHED_FAILED one), is the task's own.
        let worker_side = |attempt: &iris_task::Attempt| match attempt.state() {
            StateKind::WorkerFailed | StateKind::Preempted => true,
            StateKind::Killed => attempt.is_killed_on_worker(),
            _ => false,
        };
        let charged = task
            .attempts()
            .iter()
            .filter(|attempt| worker_side(attempt) && attempt.started_at().is_some())
            .count();
        if charged != task.preemption_count() as usize {
            violations.push(format!(
                "task {id}: {} preemptions charged, {charged} recounted",
                task.preemption_count()
            ));
        }
        if task.failure_count() > policy.max_retries_failure + failed {
            violations.push(format!("task {id} failed {} times", task.failure_count()));
        }
        if task.preemption_count() > policy.max_retries_preemption + lost {
            violations.push(format!(
                "task {id} was preempted {} times",
                task.preemption_count()
            ));
        }
    }
    for job in jobs {
        if table.job_counts(&job.id).map(StateCounts::total) != usize::try_from(job.size).ok() {
            violations.push(format!("job {} lost track of its tasks", job.id));
        }
    }
    violations
}
