// A pending task holds no resources, so there is nothing to preempt: the scheduler takes
// resources back only from an ASSIGNED, BUILDING or RUNNING task.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};

fn main() {
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let _ = task.preempt("priority", Timestamp::from_millis(1));
}
