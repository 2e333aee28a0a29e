// A building task has not started executing: it cannot have succeeded. (At run time, a SUCCEEDED
// report for a building task is recorded as a skip forward through RUNNING; typed code says so.)
use iris_task::{Building, Task, Timestamp};

fn building() -> Task<Building> {
    unimplemented!("the body never runs: the point is that main does not compile")
}

fn main() {
    let _ = building().succeed(Timestamp::from_millis(1));
}
