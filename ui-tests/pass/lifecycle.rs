// The legal lifecycle compiles: every transition of DOMAIN.md, in order, on the typed API.
use iris_task::{
    AnyTask, Assigned, JobId, Pending, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp,
    WorkerId,
};

fn schedule(task: Task<Pending>, worker: &str, at: i64) -> Task<Assigned> {
    task.assign(WorkerId::new(worker).unwrap(), Timestamp::from_millis(at))
}

fn main() {
    let at = Timestamp::from_millis;
    let policy = RetryPolicy { max_retries_failure: 1, max_retries_preemption: 1 };
    let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), policy);

    // Dispatch failure: straight back to pending.
    let task = schedule(task, "w1", 1).worker_failed("RunTask failed", at(2));
    // Build, run, fail with budget left: requeued.
    let running = schedule(task, "w2", 3).build(at(4)).start(at(5));
    let task = match running.fail(1, "exit 1", at(6)) {
        Retry::Requeued(task) => task,
        Retry::Exhausted(failed) => panic!("{failed:?}"),
    };
    // Preempted while running: requeued.
    let task = match schedule(task, "w3", 7).start(at(8)).worker_failed("lost", at(9)) {
        Retry::Requeued(task) => task,
        Retry::Exhausted(lost) => panic!("{lost:?}"),
    };
    // Success.
    let done = schedule(task, "w4", 10).start(at(11)).succeed(at(12));
    assert_eq!(done.finished_at(), at(12));
    assert_eq!(done.attempts().len(), 4);

    // Every way to end from pending.
    let fresh = || Task::new(TaskId::new(JobId::new("job").unwrap(), 1), RetryPolicy::default());
    let _ = fresh().kill("cancelled", at(1));
    let _ = fresh().mark_unschedulable("no worker fits", at(1));

    // Kill from every active state.
    let _ = schedule(fresh(), "w1", 1).kill("cancelled", at(2));
    let _ = schedule(fresh(), "w1", 1).build(at(2)).kill("cancelled", at(3));
    let _ = schedule(fresh(), "w1", 1).start(at(2)).kill("cancelled", at(3));

    // Into the run-time form and back.
    let any: AnyTask = done.into_any();
    assert_eq!(any.state(), StateKind::Succeeded);
}
