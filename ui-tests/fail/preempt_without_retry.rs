// `preempt` on a running task returns a `Retry`: a preempted task is requeued while its preemption
// budget lasts. Binding the result as the preempted task would forget the retry.
use iris_task::{Preempted, Running, Task, Timestamp};

fn running() -> Task<Running> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let _preempted: Task<Preempted> = running().preempt("priority", Timestamp::from_millis(1));
}
