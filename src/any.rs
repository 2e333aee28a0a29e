//! [`AnyTask`]: a task whose state is known only at run time, the door for events that arrive
//! over the network.
//!
//! Controllers keep their tasks as `AnyTask` (in a [`TaskTable`](crate::TaskTable), say) and move
//! between it and the typed [`Task<S>`] with `From` and `TryFrom`, as an embedded HAL moves a pin
//! between its typed and its erased form.

use crate::attempt::Attempt;
use crate::error::WrongState;
use crate::id::TaskId;
use crate::state::{
    Assigned, Building, Failed, Killed, Pending, Running, State, StateKind, Succeeded,
    Unschedulable, WorkerFailed,
};
use crate::task::{Core, Task};

/// A task in any state: one variant per state, each holding the typed task.
///
/// ```
/// use iris_task::{AnyTask, Assigned, JobId, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
///
/// let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default())
///     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1));
/// let any = AnyTask::from(task);
/// assert_eq!(any.state(), StateKind::Assigned);
///
/// // Back to the typed task, when it is in the state asked for.
/// let assigned = Task::<Assigned>::try_from(any)?;
/// assert_eq!(assigned.worker().as_str(), "w1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyTask {
    /// Waiting to be scheduled.
    Pending(Task<Pending>),
    /// Matched to a worker, not yet confirmed by it.
    Assigned(Task<Assigned>),
    /// Its worker is building its environment.
    Building(Task<Building>),
    /// Its worker confirmed execution started.
    Running(Task<Running>),
    /// Finished with exit code 0.
    Succeeded(Task<Succeeded>),
    /// Failed with its failure budget spent.
    Failed(Task<Failed>),
    /// Cancelled.
    Killed(Task<Killed>),
    /// Lost its workers with its preemption budget spent.
    WorkerFailed(Task<WorkerFailed>),
    /// Could not be scheduled before its deadline.
    Unschedulable(Task<Unschedulable>),
}

/// Runs `$body` with `$task` bound to the typed task inside any variant.
macro_rules! with_task {
    ($any:expr, $task:ident => $body:expr) => {
        match $any {
            AnyTask::Pending($task) => $body,
            AnyTask::Assigned($task) => $body,
            AnyTask::Building($task) => $body,
            AnyTask::Running($task) => $body,
            AnyTask::Succeeded($task) => $body,
            AnyTask::Failed($task) => $body,
            AnyTask::Killed($task) => $body,
            AnyTask::WorkerFailed($task) => $body,
            AnyTask::Unschedulable($task) => $body,
        }
    };
}

impl AnyTask {
    pub(crate) fn core(&self) -> &Core {
        with_task!(self, task => task.core())
    }

    /// The task's id.
    pub fn id(&self) -> &TaskId {
        &self.core().id
    }

    /// The task's state.
    pub fn state(&self) -> StateKind {
        with_task!(self, task => task.state())
    }

    /// Every attempt, oldest first. Attempt `n` is at index `n`; only the last may be open.
    pub fn attempts(&self) -> &[Attempt] {
        &self.core().attempts
    }

    /// The last attempt, open or closed; `None` before the first assignment.
    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.core().attempts.last()
    }

    /// Attempts that ended FAILED.
    pub fn failure_count(&self) -> u32 {
        with_task!(self, task => task.failure_count())
    }

    /// Attempts that ended WORKER_FAILED after they had started.
    pub fn preemption_count(&self) -> u32 {
        with_task!(self, task => task.preemption_count())
    }
}

impl<S: State> From<Task<S>> for AnyTask {
    fn from(task: Task<S>) -> AnyTask {
        task.into_any()
    }
}

impl<S: State> TryFrom<AnyTask> for Task<S> {
    type Error = WrongState;

    /// The typed task, if `task` is in state `S`; otherwise the task comes back in the error.
    fn try_from(task: AnyTask) -> Result<Task<S>, WrongState> {
        S::from_any(task).map_err(|task| WrongState {
            expected: S::KIND,
            task: Box::new(task),
        })
    }
}
