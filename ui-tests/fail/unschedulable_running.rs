// A running task was scheduled: it cannot miss its scheduling deadline any more.
use iris_task::{Running, Task, Timestamp};

fn running() -> Task<Running> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let _ = running().mark_unschedulable("no worker fits", Timestamp::from_millis(1));
}
