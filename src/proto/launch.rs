//! `LaunchJobRequest` to the job it launches (the `grpc` feature).

use super::{LaunchJobRequest, ProtoError, inconsistent};
use crate::id::{JobId, TaskId};
use crate::policy::{JobPolicy, RetryPolicy};
use crate::state::Pending;
use crate::task::Task;

/// The job a [`LaunchJobRequest`] asks for, read by Iris's rules: what a controller inserts into
/// its table. Made by [`LaunchJobRequest::to_launch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The job's id, from `name`.
    pub job: JobId,
    /// How many tasks it has, from `replicas` (0 reads as 1).
    pub replicas: u32,
    /// Each task's retry budgets, from `max_retries_failure` and `max_retries_preemption`
    /// (0 reads as Iris's default, 100).
    pub retry: RetryPolicy,
    /// The job's failure tolerance (`max_task_failures`), and whether it is a gang
    /// (`coscheduling` set).
    pub policy: JobPolicy,
}

impl Launch {
    /// The job's tasks, pending, with indexes 0 to `replicas - 1`.
    pub fn tasks(&self) -> impl Iterator<Item = Task<Pending>> + '_ {
        (0..self.replicas).map(|index| Task::new(TaskId::new(self.job.clone(), index), self.retry))
    }
}

/// A count field that must not be negative.
fn count(value: i32, field: &str) -> Result<u32, ProtoError> {
    u32::try_from(value).map_err(|_| {
        inconsistent(
            format!("LaunchJobRequest.{field}"),
            format!("is {value}, but a count is never negative"),
        )
    })
}

impl LaunchJobRequest {
    /// The job this request launches, by Iris's rules: `replicas` 0 is one task,
    /// `max_retries_preemption` 0 is Iris's default of 100 (proto3 cannot tell 0 from unset), and
    /// a request with `coscheduling` set is a gang.
    ///
    /// ```
    /// use iris_task::proto::{CoschedulingConfig, LaunchJobRequest};
    /// use iris_task::ProtoError;
    ///
    /// let request = LaunchJobRequest {
    ///     name: "train".into(),
    ///     replicas: 4,
    ///     max_retries_failure: 2,
    ///     coscheduling: Some(CoschedulingConfig { group_by: "rack".into() }),
    ///     ..LaunchJobRequest::default()
    /// };
    /// let launch = request.to_launch()?;
    /// assert_eq!((launch.job.as_str(), launch.replicas), ("train", 4));
    /// assert_eq!((launch.retry.max_retries_failure, launch.retry.max_retries_preemption), (2, 100));
    /// assert!(launch.policy.coscheduled);
    /// assert_eq!(launch.tasks().map(|task| task.id().index()).collect::<Vec<_>>(), [0, 1, 2, 3]);
    ///
    /// let bad = LaunchJobRequest { name: "train".into(), replicas: -1, ..LaunchJobRequest::default() };
    /// assert!(matches!(bad.to_launch(), Err(ProtoError::Inconsistent { .. })));
    /// # Ok::<(), ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtoError::InvalidId`] for a name that is no job id (empty, or with whitespace), and
    /// [`ProtoError::Inconsistent`] for a negative count.
    pub fn to_launch(&self) -> Result<Launch, ProtoError> {
        let job = JobId::new(self.name.as_str()).map_err(|source| ProtoError::InvalidId {
            field: "LaunchJobRequest.name".to_owned(),
            source,
        })?;
        let replicas = count(self.replicas, "replicas")?.max(1);
        let retry = RetryPolicy {
            max_retries_failure: count(self.max_retries_failure, "max_retries_failure")?,
            max_retries_preemption: match count(
                self.max_retries_preemption,
                "max_retries_preemption",
            )? {
                0 => RetryPolicy::default().max_retries_preemption,
                n => n,
            },
        };
        let policy = JobPolicy {
            max_task_failures: count(self.max_task_failures, "max_task_failures")?,
            coscheduled: self.coscheduling.is_some(),
        };
        Ok(Launch {
            job,
            replicas,
            retry,
            policy,
        })
    }
}
