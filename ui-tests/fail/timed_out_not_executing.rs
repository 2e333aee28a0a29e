// An execution timeout counts from the start of execution: only a BUILDING or RUNNING task can time
// out. A pending task has no attempt, and an assigned one has not started on its worker.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};

fn main() {
    let at = Timestamp::from_millis;
    let task = || Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let _ = task().timed_out(at(1));
    let _ = task().assign(WorkerId::new("w1").unwrap(), at(1)).timed_out(at(2));
}
