// `Task::new` builds a pending task only. A `Task<Running>` comes from the transitions, or from a
// decode (`from_proto`) that checks it is one the lifecycle can produce.
use iris_task::{JobId, RetryPolicy, Running, Task, TaskId};

fn main() {
    let _forged = Task::<Running>::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
}
