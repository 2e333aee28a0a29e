//! The schema's upgrades: a store written by an older crate is brought forward when it is
//! opened, one version at a time, each step in one transaction, so that a crash mid-way leaves
//! the store at the version it had or the next one, never between.
//!
//! Version 1 (0.2) kept no job state: 0.2 derived it from the tasks' counts. Version 2 (0.3) keeps
//! each job's state and error, judged under Iris's rules, which are not 0.2's (a job's FAILED
//! attempts count toward `max_task_failures`, a tolerated FAILED task still fails its job, gangs
//! are not exempt, ...), and each attempt's uid. The upgrade judges every job once under the new
//! rules, writes the states, and lists the jobs whose state that changed; it gives every attempt
//! its legacy uid ([`AttemptUid::legacy`](crate::AttemptUid::legacy), a fixed hash of the task
//! and attempt ids, so that two upgrades of copies of one store agree). It never changes a task.

use super::{JobRow, SCHEMA_VERSION, Store, StoreError, TaskRow, Writes, rebuild, rows};
use crate::id::JobId;
use crate::policy::JobPolicy;
use crate::state::StateKind;
use crate::table::{JobState, JobTransition, StateCounts};

/// What opening a store written by an older crate did to it: the versions, and every job whose
/// state the upgrade changed, from the state 0.2's rules gave it to the one 0.3's give.
/// [`DurableTable::upgrade`](super::DurableTable::upgrade) returns it.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use iris_task::{DurableTable, SqliteStore};
///
/// // A new store is written at the current version: nothing to upgrade.
/// let table = DurableTable::open(SqliteStore::open_in_memory()?)?;
/// assert!(table.upgrade().is_none());
/// # }
/// # Ok::<(), iris_task::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaUpgrade {
    from: i64,
    to: i64,
    jobs: Vec<(JobId, JobTransition)>,
}

impl SchemaUpgrade {
    /// The version the store had.
    pub fn from(&self) -> i64 {
        self.from
    }

    /// The version it has now: [`SCHEMA_VERSION`].
    pub fn to(&self) -> i64 {
        self.to
    }

    /// The jobs whose state changed, in the store's job order: from the state the old rules
    /// derived (what a 0.2 controller showed) to the state the current rules judge.
    pub fn jobs(&self) -> &[(JobId, JobTransition)] {
        &self.jobs
    }
}

/// Brings `store` to [`SCHEMA_VERSION`]; `None` if it was there already.
pub(super) fn run<S: Store>(store: &mut S) -> Result<Option<SchemaUpgrade>, StoreError> {
    let from = store.version();
    if from >= SCHEMA_VERSION {
        return Ok(None);
    }
    let mut jobs = Vec::new();
    while store.version() < SCHEMA_VERSION {
        match store.version() {
            1 => jobs.extend(version_1_to_2(store)?),
            other => {
                return Err(StoreError::Corrupt {
                    table: "schema_version",
                    task: None,
                    column: "version".to_owned(),
                    why: format!("{other} is no version this crate ever wrote"),
                });
            }
        }
    }
    Ok(Some(SchemaUpgrade {
        from,
        to: SCHEMA_VERSION,
        jobs,
    }))
}

/// Version 1 to 2: each job's state and error, judged under the current rules.
fn version_1_to_2<S: Store>(store: &mut S) -> Result<Vec<(JobId, JobTransition)>, StoreError> {
    // Loading a version 1 store judges each job from its tasks, as loaded.
    let (table, task_seqs, seqs, _, _) = rebuild(store)?;
    let mut writes = Writes::default();
    let mut changed = Vec::new();
    for job in table.jobs() {
        // Every job of a rebuilt table has its row; one without is a store no crate wrote.
        let Some(&seq) = seqs.get(job.id()) else {
            return Err(StoreError::Corrupt {
                table: "jobs",
                task: None,
                column: "seq".to_owned(),
                why: format!("job {} has tasks but no row", job.id()),
            });
        };
        let before = state_under_0_2(job.counts(), job.policy(), job.has_started());
        if before != job.state() {
            let step = JobTransition {
                from: before,
                to: job.state(),
            };
            changed.push((job.id().clone(), step));
        }
        writes.jobs.push(JobRow {
            id: job.id().clone(),
            seq,
            policy: job.policy().copied(),
            state: Some((job.state(), job.error().map(str::to_owned))),
        });
    }
    // Every attempt's uid: loading gave each its legacy uid, which every row written now keeps.
    // The rows are rewritten as they were read, with that one column more.
    for task in table.iter() {
        let Some(seqs) = task_seqs.get(&table, task.id()) else {
            return Err(StoreError::Corrupt {
                table: "tasks",
                task: Some(task.id().to_string()),
                column: "seq".to_owned(),
                why: "a task read from the store has no place".to_owned(),
            });
        };
        writes.tasks.push(TaskRow {
            status: crate::proto::status_with_attempts_from(task, 0),
            policy: *task.policy(),
            seq: seqs.seq,
            queue_seq: seqs.queue,
            assign_seq: seqs.assign,
        });
    }
    store.upgrade(rows::V2_UPGRADE, &writes, 2)?;
    Ok(changed)
}

/// The state 0.2 derived for a job, which it did not store: its `StateCounts::job_state` (a
/// first matching rule over the counts; a gang tolerated no FAILED task) and its
/// `TaskTable::job_state` (a started job reads RUNNING rather than PENDING). Kept only to tell
/// which jobs the upgrade changed; the rules are `TaskTable::job`'s.
fn state_under_0_2(counts: &StateCounts, policy: Option<&JobPolicy>, started: bool) -> JobState {
    use StateKind as S;
    let policy = policy.copied().unwrap_or_default();
    let allowed = if policy.coscheduled {
        0
    } else {
        usize::try_from(policy.max_task_failures).unwrap_or(usize::MAX)
    };
    let failed = counts.get(S::Failed);
    let none_but = |kept: &[StateKind]| {
        counts
            .iter()
            .all(|(state, count)| count == 0 || kept.contains(&state))
    };
    let any = |which: fn(StateKind) -> bool| {
        counts
            .iter()
            .any(|(state, count)| count > 0 && which(state))
    };
    let worker_side = |state| matches!(state, S::WorkerFailed | S::Preempted | S::CoschedFailed);
    if none_but(&[]) {
        JobState::Pending
    } else if none_but(&[S::Succeeded, S::Failed]) && failed <= allowed {
        JobState::Succeeded
    } else if failed > allowed {
        JobState::Failed
    } else if counts.get(S::Unschedulable) > 0 {
        JobState::Unschedulable
    } else if counts.get(S::Killed) > 0 {
        JobState::Killed
    } else if !any(|state| !state.is_terminal()) && any(worker_side) {
        JobState::WorkerFailed
    } else if any(StateKind::is_active) || started {
        JobState::Running
    } else {
        JobState::Pending
    }
}
