//! Jobs and dashboards: `JobStatus` and the state counts map.

use std::collections::HashMap;

use super::{JobState, JobStatus, ProtoError, TaskStatus, inconsistent};
use crate::any::AnyTask;
use crate::attempt::Attempt;
use crate::id::{JobId, Timestamp};
use crate::policy::JobPolicy;
use crate::state::StateKind;
use crate::table::StateCounts;

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
    /// The status of job `job` from its tasks: the state derived by
    /// [`StateCounts::job_state`], the failures and preemptions of all its tasks summed, every
    /// task's status, and the state counts keyed by label.
    ///
    /// The state comes from the counts alone ([`StateCounts::job_state`]). A [`TaskTable`] also
    /// remembers that a job started: a started job whose tasks all wait for their retries is
    /// PENDING by its counts and RUNNING by [`TaskTable::job_state`], which a controller should
    /// put in the status it answers with.
    ///
    /// [`TaskTable`]: crate::TaskTable
    /// [`TaskTable::job_state`]: crate::TaskTable::job_state
    ///
    /// The job started when its first attempt started, and ended, if its state is terminal, when
    /// its last task ended. A failed job's error and exit code are those of its first failed task
    /// (by task id).
    ///
    /// ```
    /// use iris_task::{JobId, JobPolicy, RetryPolicy, Task, TaskId, Timestamp, WorkerId, proto};
    ///
    /// let job = JobId::new("job")?;
    /// let tasks = [
    ///     Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()).into_any(),
    ///     Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default())
    ///         .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
    ///         .into_any(),
    /// ];
    /// let status = proto::JobStatus::from_tasks(&job, &tasks, &JobPolicy::default())?;
    /// assert_eq!(status.state, proto::JobState::Running as i32);
    /// assert_eq!(status.task_state_counts["assigned"], 1);
    /// assert_eq!(status.tasks.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::Inconsistent`] if a task belongs to another job.
    pub fn from_tasks<'a>(
        job: &JobId,
        tasks: impl IntoIterator<Item = &'a AnyTask>,
        policy: &JobPolicy,
    ) -> Result<JobStatus, ProtoError> {
        let mut tasks: Vec<&AnyTask> = tasks.into_iter().collect();
        tasks.sort_by(|a, b| a.id().cmp(b.id()));
        if let Some(stranger) = tasks.iter().find(|task| task.id().job() != job) {
            return Err(inconsistent(
                "JobStatus.tasks",
                format!("task {} does not belong to job {job}", stranger.id()),
            ));
        }
        let counts: StateCounts = tasks.iter().map(|task| task.state()).collect();
        let state = counts.job_state(policy);
        let sum = |count: fn(&AnyTask) -> u32| {
            let total: u64 = tasks.iter().map(|task| u64::from(count(task))).sum();
            i32::try_from(total).unwrap_or(i32::MAX)
        };
        let started_at = tasks
            .iter()
            .flat_map(|task| task.attempts())
            .filter_map(Attempt::started_at)
            .min();
        let ended = !matches!(
            state,
            crate::table::JobState::Pending | crate::table::JobState::Running
        );
        let finished_at = tasks
            .iter()
            .filter_map(|task| task.core().ended_at(task.state().is_terminal()))
            .max()
            .filter(|_| ended);
        let first_failure = tasks
            .iter()
            .find(|task| task.state() == StateKind::Failed)
            .filter(|_| state == crate::table::JobState::Failed)
            .map(|task| TaskStatus::from(*task));
        Ok(JobStatus {
            job_id: job.as_str().to_owned(),
            state: JobState::from(state) as i32,
            exit_code: first_failure.as_ref().map_or(0, |status| status.exit_code),
            error: first_failure.map(|status| status.error).unwrap_or_default(),
            started_at_ms: started_at.map_or(0, Timestamp::as_millis),
            finished_at_ms: finished_at.map_or(0, Timestamp::as_millis),
            failure_count: sum(AnyTask::failure_count),
            preemption_count: sum(AnyTask::preemption_count),
            tasks: tasks.into_iter().map(TaskStatus::from).collect(),
            task_state_counts: counts.to_proto_map(),
        })
    }
}
