// A gang's rule moves its *active* members only: a pending member waits already, so it is neither
// requeued with a sibling nor stopped with one (as in Iris, where it stays pending and its job's
// end stops it). A pending task has no `sibling_requeued` and no `sibling_failed`.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};

fn main() {
    let job = JobId::new("slice").unwrap();
    let task = || Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    let _ = task().sibling_requeued(&TaskId::new(job.clone(), 0), Timestamp::from_millis(1));
    let _ = task().sibling_failed(&TaskId::new(job.clone(), 0), Timestamp::from_millis(1));
}
