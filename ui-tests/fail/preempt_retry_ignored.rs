// Ignoring the `Retry` of `preempt` drops the task, requeued or ended, on the floor: a `must_use`
// warning, an error under `-D warnings` (here `deny(unused_must_use)`).
#![deny(unused_must_use)]
use iris_task::{Running, Task, Timestamp};

fn running() -> Task<Running> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    running().preempt("priority", Timestamp::from_millis(1));
}
