// A pending task holds no worker, so no worker can fail under it.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};

fn main() {
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let _ = task.worker_failed("heartbeat lost", Timestamp::from_millis(1));
}
