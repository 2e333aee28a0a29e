// `Task::new` builds a pending task only: there is no constructor for a task in any other state.
use iris_task::{JobId, RetryPolicy, Running, Task, TaskId};

fn main() {
    let _forged = Task::<Running>::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
}
