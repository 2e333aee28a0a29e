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

/// How a job's tasks are judged together: how many of their attempts may fail before the job
/// fails, and whether they run as one gang.
///
/// `max_task_failures` counts the job's FAILED attempts, over every attempt of every task since
/// the job began, retried ones included, as Iris counts them: a job whose tasks keep crashing
/// fails even if no single task spends its own retries. PREEMPTED, WORKER_FAILED and
/// COSCHED_FAILED endings never count. Within the tolerance, a task that ends FAILED for good
/// still fails its job once every task has ended (a task that can never succeed). The job-state
/// rules, in order, are on [`TaskTable::job`](crate::TaskTable::job). A
/// [`TaskTable`](crate::TaskTable) told a job's policy
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
    /// FAILED attempts the job tolerates, retried ones included, before it fails. Default 0:
    /// the first failed attempt fails the job, whatever its tasks' retries (Iris's default).
    /// Coscheduled jobs count the same way (a gang that tolerates two comes back twice).
    pub max_task_failures: u32,
    /// The job's tasks only make sense together (one TPU slice, one JAX program) and run as a
    /// gang: placed together or not at all; when one of them ends for good, its active others
    /// end COSCHED_FAILED; when one is requeued, its active others are requeued with it.
    /// Default false.
    pub coscheduled: bool,
}
