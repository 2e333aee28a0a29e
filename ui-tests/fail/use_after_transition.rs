// A transition consumes the task: the old state's handle is gone, so no code can act on a state the
// task has left.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};

fn main() {
    let pending = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let _assigned = pending.assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(1));
    let _again = pending.assign(WorkerId::new("w2").unwrap(), Timestamp::from_millis(2));
}
