//! Jobs and dashboards: `JobStatus` and the state counts map.

use std::collections::HashMap;

use super::{JobState, JobStatus, ProtoError, TaskStatus, inconsistent};
use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{JobId, Timestamp};
use crate::state::StateKind;
use crate::table::{Job, StateCounts, TaskTable};

impl From<crate::table::JobState> for JobState {
    fn from(state: crate::table::JobState) -> JobState {
        use crate::table::JobState as Typed;
        match state {
            Typed::Pending => JobState::Pending,
            Typed::Running => JobState::Running,
            Typed::Succeeded => JobState::Succeeded,
            Typed::Failed => JobState::Failed,
            Typed::Killed => JobState::Killed,
            Typed::WorkerFailed => JobState::WorkerFailed,
            Typed::Unschedulable => JobState::Unschedulable,
        }
    }
}

impl TryFrom<i32> for crate::table::JobState {
    type Error = ProtoError;

    /// The job state a wire number names. UNSPECIFIED (0), BUILDING (2, which Iris keeps on the
    /// wire and never sets) and unknown numbers are errors, never a default.
    ///
    /// ```
    /// use iris_task::JobState;
    ///
    /// assert_eq!(JobState::try_from(3)?, JobState::Running);
    /// assert!(JobState::try_from(2).is_err());
    /// # Ok::<(), iris_task::ProtoError>(())
    /// ```
    fn try_from(value: i32) -> Result<crate::table::JobState, ProtoError> {
        use crate::table::JobState as Typed;
        Ok(match JobState::try_from(value) {
            Ok(JobState::Pending) => Typed::Pending,
            Ok(JobState::Running) => Typed::Running,
            Ok(JobState::Succeeded) => Typed::Succeeded,
            Ok(JobState::Failed) => Typed::Failed,
            Ok(JobState::Killed) => Typed::Killed,
            Ok(JobState::WorkerFailed) => Typed::WorkerFailed,
            Ok(JobState::Unschedulable) => Typed::Unschedulable,
            Ok(JobState::Unspecified | JobState::Building) | Err(_) => {
                return Err(inconsistent(
                    "JobStatus.state",
                    format!("{value} is not a job state this crate keeps"),
                ));
            }
        })
    }
}

impl StateCounts {
    /// The counts as the wire's `map<string, int32>`, keyed by [label](StateKind::label), every
    /// state present (zeros included): `{"pending": 5, "assigned": 2, …}`.
    ///
    /// ```
    /// use iris_task::{StateCounts, StateKind};
    ///
    /// let counts: StateCounts = [StateKind::Assigned, StateKind::Assigned].into_iter().collect();
    /// let map = counts.to_proto_map();
    /// assert_eq!(map["assigned"], 2);
    /// assert_eq!(map["pending"], 0);
    /// assert_eq!(map["preempted"], 0);
    /// assert_eq!(map.len(), 11);
    /// ```
    pub fn to_proto_map(&self) -> HashMap<String, i32> {
        self.iter()
            .map(|(state, count)| {
                let count = i32::try_from(count).unwrap_or(i32::MAX);
                (state.label().to_owned(), count)
            })
            .collect()
    }
}

impl JobStatus {
    /// The status of `job`, as the table keeps it, with its `tasks` (the job's tasks, as
    /// [`TaskTable::tasks_of`] yields them): the job's state and error as the table judged them,
    /// the failures and preemptions of all its tasks summed, every task's status, and the state
    /// counts keyed by label. [`TaskTable::job_status`] is the short way.
    ///
    /// [`TaskTable::tasks_of`]: crate::TaskTable::tasks_of
    /// [`TaskTable::job_status`]: crate::TaskTable::job_status
    ///
    /// The job started when its first attempt started, and ended, if its state is terminal, when
    /// its last task ended. A failed job's exit code is its first FAILED task's (by task id).
    ///
    /// ```
    /// use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId, proto};
    ///
    /// let job = JobId::new("job")?;
    /// let mut table = TaskTable::new();
    /// for index in 0..2 {
    ///     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
    /// }
    /// table.assign(&TaskId::new(job.clone(), 1), WorkerId::new("w1")?, Timestamp::from_millis(1))?;
    /// let status = proto::JobStatus::from_job(&table.job(&job).unwrap(), table.tasks_of(&job))?;
    /// assert_eq!(status.state, proto::JobState::Running as i32);
    /// assert_eq!(status.task_state_counts["assigned"], 1);
    /// assert_eq!(status.tasks.len(), 2);
    /// assert_eq!(table.job_status(&job), Some(status));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::Inconsistent`] if a task belongs to another job.
    pub fn from_job<'a>(
        job: &Job<'_>,
        tasks: impl IntoIterator<Item = &'a AnyTask>,
    ) -> Result<JobStatus, ProtoError> {
        let id = job.id();
        let mut tasks: Vec<&AnyTask> = tasks.into_iter().collect();
        tasks.sort_by(|a, b| a.id().cmp(b.id()));
        if let Some(stranger) = tasks.iter().find(|task| task.id().job() != id) {
            return Err(inconsistent(
                "JobStatus.tasks",
                format!("task {} does not belong to job {id}", stranger.id()),
            ));
        }
        let counts: StateCounts = tasks.iter().map(|task| task.state()).collect();
        let state = job.state();
        let sum = |count: fn(&AnyTask) -> u32| {
            let total: u64 = tasks.iter().map(|task| u64::from(count(task))).sum();
            i32::try_from(total).unwrap_or(i32::MAX)
        };
        let JobTimes {
            started_at,
            finished_at,
        } = job_times(job, &tasks);
        let exit_code = tasks
            .iter()
            .find(|task| task.state() == StateKind::Failed)
            .filter(|_| state == crate::table::JobState::Failed)
            .and_then(|task| task.core().outcome().0);
        Ok(JobStatus {
            job_id: id.as_str().to_owned(),
            state: JobState::from(state) as i32,
            exit_code: exit_code.unwrap_or(0),
            error: job.error().unwrap_or_default().to_owned(),
            started_at_ms: started_at.map_or(0, Timestamp::as_millis),
            finished_at_ms: finished_at.map_or(0, Timestamp::as_millis),
            failure_count: sum(AnyTask::failure_count),
            preemption_count: sum(AnyTask::preemption_count),
            tasks: tasks.into_iter().map(TaskStatus::from).collect(),
            task_state_counts: counts.to_proto_map(),
        })
    }
}

/// When a job started and ended, as both wires date them.
pub(crate) struct JobTimes {
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) finished_at: Option<Timestamp>,
}

/// When `job` started, as Iris dates it (its first assignment: an attempt that ended with no
/// start reported has none of its own), and, if its state is terminal, when its last task ended.
pub(crate) fn job_times(job: &Job<'_>, tasks: &[&AnyTask]) -> JobTimes {
    let started_at = tasks
        .iter()
        .flat_map(|task| task.attempts())
        .map(Attempt::assigned_at)
        .min();
    let finished_at = tasks
        .iter()
        .filter_map(|task| task.core().ended_at(task.state().is_terminal()))
        .max()
        .filter(|_| job.state().is_terminal());
    JobTimes {
        started_at,
        finished_at,
    }
}

impl TaskTable {
    /// The job's status on the wire ([`JobStatus::from_job`] with its tasks); `None` for a job
    /// the table knows nothing of.
    pub fn job_status(&self, job: &JobId) -> Option<JobStatus> {
        JobStatus::from_job(&self.job(job)?, self.tasks_of(job)).ok()
    }
}
