// A pending task has no worker and no attempt: there is nothing to start.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};

fn main() {
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let _running = task.start(Timestamp::from_millis(1));
}
