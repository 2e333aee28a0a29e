// A failed task has ended: it has no transition at all, not even a kill or a retry.
use iris_task::{Failed, Task, Timestamp, WorkerId};

fn ended() -> Task<Failed> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let at = Timestamp::from_millis(4);
    let _ = ended().assign(WorkerId::new("w1").unwrap(), at);
    let _ = ended().start(at);
    let _ = ended().kill("again", at);
    let _ = ended().worker_failed("lost", at);
    let _ = ended().timed_out(at);
}
