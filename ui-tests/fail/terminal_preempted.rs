// A preempted task has ended: it has no transition at all, not a retry, not a kill, and no gang rule
// moves it again.
use iris_task::{Preempted, JobId, Task, TaskId, Timestamp, WorkerId};

fn ended() -> Task<Preempted> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let at = Timestamp::from_millis(4);
    let sibling = TaskId::new(JobId::new("slice").unwrap(), 0);
    let _ = ended().assign(WorkerId::new("w1").unwrap(), at);
    let _ = ended().start(at);
    let _ = ended().kill("again", at);
    let _ = ended().preempt("priority", at);
    let _ = ended().sibling_failed(&sibling, at);
    let _ = ended().sibling_requeued(&sibling, at);
}
