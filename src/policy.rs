//! Retry budgets of a task ([`RetryPolicy`]) and the failure tolerance of a job ([`JobPolicy`]).

/// How many times a task may be requeued after it failed, and after its worker died.
///
/// The two budgets are separate, as in Iris, Ray and Nomad: an application that crashes is not
/// the same as a machine that was preempted. The counters they are checked against are derived
/// from the task's attempts ([`Task::failure_count`], [`Task::preemption_count`]), never stored.
///
/// A dispatch failure (the worker died or the RunTask RPC failed before the task started) charges
/// neither budget.
///
/// [`Task::failure_count`]: crate::Task::failure_count
/// [`Task::preemption_count`]: crate::Task::preemption_count
///
/// ```
/// use iris_task::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.max_retries_failure, 0);
/// assert_eq!(policy.max_retries_preemption, 100);
///
/// let patient = RetryPolicy { max_retries_failure: 3, ..RetryPolicy::default() };
/// assert_eq!(patient.max_retries_failure, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    /// Requeues allowed after attempts that failed (non-zero exit). Default 0.
    pub max_retries_failure: u32,
    /// Requeues allowed after attempts whose worker died once they had started. Default 100.
    pub max_retries_preemption: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries_failure: 0,
            max_retries_preemption: 100,
        }
    }
}

/// How many of a job's tasks may end FAILED before the job counts as failed.
///
/// Preemptions (`WORKER_FAILED`) never count here.
///
/// ```
/// use iris_task::JobPolicy;
///
/// assert_eq!(JobPolicy::default().max_task_failures, 0);
/// let tolerant = JobPolicy { max_task_failures: 2 };
/// assert_eq!(tolerant.max_task_failures, 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JobPolicy {
    /// Tasks that may end FAILED while the job still succeeds. Default 0.
    pub max_task_failures: u32,
}
