// A scheduler takes pending tasks only: an assigned task, whose RunTask RPC may be in flight, must
// never be scheduled a second time.
use iris_task::{Assigned, JobId, Pending, RetryPolicy, Task, TaskId, Timestamp, WorkerId};

fn schedule(task: Task<Pending>) -> Task<Assigned> {
    task.assign(WorkerId::new("w2").unwrap(), Timestamp::from_millis(2))
}

fn main() {
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
        .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(1));
    let _twice = schedule(task);
}
