// There is no way back from an active state but the transitions: no `revert_attempt` that would
// leave an attempt open behind a requeued task.
use iris_task::{Assigned, Task};

fn assigned() -> Task<Assigned> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let _ = assigned().revert_attempt();
}
