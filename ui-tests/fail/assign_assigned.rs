// An assigned task already holds a worker and an open attempt: assigning it again would open a
// second attempt and commit a second worker's resources.
use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};

fn main() {
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
        .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(1));
    let _again = task.assign(WorkerId::new("w2").unwrap(), Timestamp::from_millis(2));
}
