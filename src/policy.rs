//! Retry budgets of a task ([`RetryPolicy`]) and the failure tolerance of a job ([`JobPolicy`]).

/// How many times a task may be requeued after it failed, and after its worker died.
///
/// The two budgets are separate, as in Iris, Ray and Nomad: an application that crashes is not
/// the same as a machine that was preempted. The counters they are checked against are derived
/// from the task's attempts ([`Task::failure_count`], [`Task::preemption_count`]), never stored.
///
/// Worker-side endings (a lost worker, a preemption, a kill the worker made unasked, an attempt
/// the worker forgot) charge the preemption budget once the attempt had started; before it
/// started (a dispatch failure, a preemption while ASSIGNED) they charge neither budget. A gang
/// sibling's COSCHED_FAILED attempt charges neither either.
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
    /// Requeues allowed after started attempts with a worker-side ending (worker lost,
    /// preempted, killed on the worker, forgotten by the worker). Default 100.
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

/// How a job's tasks are judged together: how many may end FAILED before the job counts as
/// failed, and whether they run as one gang.
///
/// Only FAILED tasks count against `max_task_failures`: PREEMPTED, WORKER_FAILED and
/// COSCHED_FAILED never do. They are not tolerated either: once every task has ended, one of them
/// makes the job WORKER_FAILED (the job-state rules are in
/// [`StateCounts::job_state`](crate::StateCounts::job_state)). A [`TaskTable`](crate::TaskTable) told a job's policy
/// ([`set_job_policy`](crate::TaskTable::set_job_policy)) also stops the rest of the job's tasks
/// when the job ends, and runs a coscheduled job's tasks as a gang.
///
/// ```
/// use iris_task::JobPolicy;
///
/// assert_eq!(JobPolicy::default(), JobPolicy { max_task_failures: 0, coscheduled: false });
/// let tolerant = JobPolicy { max_task_failures: 2, ..JobPolicy::default() };
/// assert_eq!(tolerant.max_task_failures, 2);
/// let slice = JobPolicy { coscheduled: true, ..JobPolicy::default() };
/// assert!(slice.coscheduled);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JobPolicy {
    /// Tasks that may end FAILED while the job still succeeds. Default 0. A coscheduled job
    /// ignores it: a gang is all or nothing, so one FAILED task fails it.
    pub max_task_failures: u32,
    /// The job's tasks only make sense together (one TPU slice, one JAX program) and run as a
    /// gang: when one of them ends for good, the others end COSCHED_FAILED; when one is
    /// requeued, the active others are requeued with it. Default false.
    pub coscheduled: bool,
}
