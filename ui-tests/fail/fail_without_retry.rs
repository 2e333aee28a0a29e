// `fail` returns a `Retry`: the task may be requeued, and the caller must handle that. Binding the
// result as the failed task would forget the retry.
use iris_task::{Failed, Running, Task, Timestamp};

fn running() -> Task<Running> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let _failed: Task<Failed> = running().fail(1, "exit 1", Timestamp::from_millis(1));
}
