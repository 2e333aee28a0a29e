//! The controller's tick: pruning ended jobs, the scheduling and execution timeouts, and the
//! scheduler (gangs first, whole, then the rest by CPU and memory, round-robin).

use std::collections::BTreeMap;
use std::time::Duration;

use iris_task::today::Resources;
use iris_task::{
    JobId, Offer, StateKind, Store, StoreError, TaskEvent, TaskId, Timestamp, WorkerId,
};

use super::{BUNDLE, Core, attribute};

impl<S: Store> Core<S> {
    /// The scheduler's turn: timeouts, undelivered specs, then new assignments; and every ten
    /// seconds, the removal of jobs ended longer ago than the retention.
    pub fn tick(&mut self, now: Timestamp) -> Result<(), StoreError> {
        self.timeouts(now)?;
        self.table
            .expire_assigned(now, self.rules.dispatch_deadline)?;
        self.schedule(now)?;
        if now >= self.next_prune {
            self.next_prune = now.saturating_add(Duration::from_secs(10));
            self.prune(now)?;
        }
        Ok(())
    }

    /// Removes each job that ended longer than the retention ago and whose workers owe no stop
    /// of its attempts (the resources stay held until they confirm): its tasks, and with them
    /// its records (its spec and its bundle), in one transaction.
    fn prune(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let table = self.table.table();
        let retention = self.rules.job_retention;
        let old: Vec<JobId> = table
            .jobs()
            .filter(|job| job.state().is_terminal())
            .filter(|job| {
                table.tasks_of(job.id()).all(|task| {
                    task.state().is_terminal()
                        && !task.attempts().iter().any(|attempt| attempt.awaits_stop())
                        && task
                            .latest_time()
                            .and_then(|at| now.duration_since(at))
                            .is_some_and(|age| age >= retention)
                })
            })
            .map(|job| job.id().clone())
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        self.table.batch(|batch| {
            for job in &old {
                if let Err(err) = batch.remove_job(job) {
                    eprintln!("controller: cannot remove {job}: {err}");
                }
            }
        })?;
        for job in &old {
            let Some(id) = self
                .specs
                .remove(job)
                .and_then(|spec| spec.request.bundle_id)
            else {
                continue;
            };
            // Another job launched with the same bundle keeps serving it.
            let other = self.specs.iter().find(|(other, spec)| {
                spec.request.bundle_id.as_ref() == Some(&id)
                    && self.table.record(BUNDLE, other.as_str()).is_some()
            });
            match other {
                Some((other, _)) => self.blobs.insert(id, other.clone()),
                None => self.blobs.remove(&id),
            };
        }
        eprintln!(
            "controller: removed {} jobs ended over {} s ago",
            old.len(),
            retention.as_secs()
        );
        Ok(())
    }

    /// The scheduling timeout (a task still pending that long after its job was submitted ends
    /// UNSCHEDULABLE) and the execution timeout (a task running that long ends FAILED).
    fn timeouts(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let table = self.table.table();
        let mut events: Vec<(TaskId, TaskEvent)> = Vec::new();
        // Only the jobs with a timeout that have not ended: a job leaves the set as it ends.
        self.timed
            .retain(|job| table.job(job).is_some_and(|job| !job.state().is_terminal()));
        for job in &self.timed {
            let Some(spec) = self.specs.get(job) else {
                continue;
            };
            for task in table.tasks_of(job) {
                match task.state() {
                    StateKind::Pending => {
                        if let Some(limit) = spec.scheduling_timeout {
                            if now
                                .duration_since(spec.submitted)
                                .is_some_and(|d| d >= limit)
                            {
                                events.push((
                                    task.id().clone(),
                                    TaskEvent::SchedulingTimeout { at: now },
                                ));
                            }
                        }
                    }
                    // Executing: BUILDING counts, as in Iris and the crate's rule.
                    StateKind::Building | StateKind::Running => {
                        let started = task
                            .current_attempt()
                            .and_then(|attempt| attempt.started_at());
                        if let (Some(limit), Some(started)) = (spec.execution_timeout, started) {
                            if now.duration_since(started).is_some_and(|d| d >= limit) {
                                events.push((
                                    task.id().clone(),
                                    TaskEvent::ExecutionTimeout { at: now },
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        self.table.batch(|batch| {
            for (id, event) in events {
                if let Err(err) = batch.apply(&id, event) {
                    eprintln!("controller: timeout of {}: {err}", id.path());
                }
            }
        })
    }

    /// What each worker has left: its resources less those of the attempts it holds, including
    /// the stopped ones it has not confirmed yet (they still hold the devices).
    fn free(&self) -> Vec<(WorkerId, Resources, usize)> {
        let table = self.table.table();
        let need = |job: &JobId| {
            self.specs
                .get(job)
                .map(|spec| spec.resources)
                .unwrap_or_default()
        };
        self.workers
            .iter()
            .filter(|(_, worker)| worker.failures == 0)
            .map(|(id, worker)| {
                let mut left = worker.resources;
                let mut held = 0;
                let taken = table
                    .tasks_on(id)
                    .map(|task| task.job().clone())
                    .chain(table.stops_on(id).map(|(task, _)| task.id().job().clone()));
                for job in taken {
                    left = left.saturating_sub(need(&job));
                    held += 1;
                }
                (
                    id.clone(),
                    left,
                    self.rules.max_tasks_per_worker.saturating_sub(held),
                )
            })
            .collect()
    }

    /// Offers the pending tasks to the workers whose free CPU and memory fit them, round-robin:
    /// the coscheduled jobs first (as Iris places them first in each cycle), then the rest,
    /// oldest first. A coscheduled job is placed whole, one member per worker, on workers that
    /// share a value of its `group_by` attribute, or waits whole. A task or gang that does not
    /// fit now is passed over, and the tasks behind it are offered still (backfill): nothing
    /// blocks the queue, and nothing is reserved for a gang that waits.
    fn schedule(&mut self, now: Timestamp) -> Result<(), StoreError> {
        // Nothing waits: no need to add up what every worker holds.
        if self.table.table().pending().next().is_none() {
            return Ok(());
        }
        let mut free = self.free();
        if free.is_empty() {
            return Ok(());
        }
        let turn = self.cursor % free.len();
        free.rotate_left(turn);
        self.cursor = self.cursor.wrapping_add(1);
        let specs = &self.specs;
        let workers = &self.workers;
        let place = |free: &mut Vec<(WorkerId, Resources, usize)>, offer: &Offer<'_>| {
            if free
                .iter()
                .all(|(_, left, slots)| *slots == 0 || left.cpu_millicores == 0)
            {
                offer.stop();
                return None;
            }
            let spec = specs.get(offer.job());
            let need = spec.map(|spec| spec.resources).unwrap_or_default();
            let fits =
                |(_, left, slots): &(WorkerId, Resources, usize)| *slots > 0 && left.fits(need);
            let take = |entry: &mut (WorkerId, Resources, usize)| {
                entry.1 = entry.1.saturating_sub(need);
                entry.2 -= 1;
                entry.0.clone()
            };
            if !offer.is_gang() {
                let entry = free.iter_mut().find(|entry| fits(entry))?;
                return Some(vec![take(entry)]);
            }
            // A gang: workers that share a value of its `group_by` attribute, each with room
            // for one member.
            let key = spec.and_then(|spec| spec.group_by.as_deref())?;
            let mut by_value: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (at, entry) in free.iter().enumerate() {
                let value = workers
                    .get(&entry.0)
                    .and_then(|worker| attribute(&worker.request, key));
                if let (true, Some(value)) = (fits(entry), value) {
                    by_value.entry(value).or_default().push(at);
                }
            }
            let chosen = by_value
                .into_values()
                .find(|members| members.len() >= offer.len())?;
            let picked: Vec<WorkerId> = chosen
                .into_iter()
                .take(offer.len())
                .filter_map(|at| free.get_mut(at).map(take))
                .collect();
            Some(picked)
        };
        self.table
            .batch(|batch| {
                // Gangs first, as Iris places coscheduled jobs first in each cycle; then the
                // rest, oldest first, with what the gangs left.
                batch.schedule(now, |offer| {
                    if offer.is_gang() {
                        place(&mut free, offer)
                    } else {
                        None
                    }
                });
                batch.schedule(now, |offer| place(&mut free, offer));
            })
            .map(|_| ())
    }
}
