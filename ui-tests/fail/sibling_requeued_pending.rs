// A gang requeues its active members with the task that was requeued; a pending member waits
// already, so it has no `sibling_requeued` (only `sibling_failed`, when the gang ends).
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};

fn main() {
    let job = JobId::new("slice").unwrap();
    let task = Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default());
    let _ = task.sibling_requeued(&TaskId::new(job, 0), Timestamp::from_millis(1));
}
