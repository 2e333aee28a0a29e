// Today's Iris on the typed API: preemption, worker-side kills, MISSING, a gang's siblings and
// the execution timeout.
use iris_task::{
    Active, AnyTask, CoschedFailed, Executing, Failed, JobId, Pending, Preempted, Retry,
    RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerFailed, WorkerId,
};

fn time_out<S: Executing>(task: Task<S>) -> Task<Failed> {
    task.timed_out(Timestamp::from_millis(3_600_000))
}

fn stop_with_gang<S: Active>(task: Task<S>, trigger: &TaskId) -> Task<CoschedFailed> {
    task.sibling_failed(trigger, Timestamp::from_millis(50))
}

fn main() {
    let at = Timestamp::from_millis;
    let job = JobId::new("slice").unwrap();
    let fresh = |index| Task::new(TaskId::new(job.clone(), index), RetryPolicy::default());
    let worker = || WorkerId::new("w1").unwrap();

    // Preempted before it started: free, back to PENDING, typed as such.
    let pending: Task<Pending> = fresh(0).assign(worker(), at(1)).preempt("priority", at(2));
    // Preempted while running: the budget decides.
    let outcome: Retry<Preempted> = pending.assign(worker(), at(3)).start(at(4)).preempt("priority", at(5));
    assert!(outcome.is_requeued());
    // Killed on the worker, unasked, and forgotten by it: worker-side endings.
    let killed: Retry<WorkerFailed> = fresh(1).assign(worker(), at(1)).start(at(2)).killed_on_worker("OOM", at(3));
    let missing: Task<Pending> = fresh(2).assign(worker(), at(1)).missing_on_worker(at(2));
    // Gang siblings: an active one ends or is requeued (a pending one stays pending).
    let trigger = TaskId::new(job.clone(), 0);
    let _: Task<CoschedFailed> = stop_with_gang(fresh(3).assign(worker(), at(1)), &trigger);
    let requeued: Task<Pending> = fresh(4).assign(worker(), at(1)).start(at(2)).sibling_requeued(&trigger, at(3));
    assert_eq!(requeued.attempts()[0].state(), StateKind::CoschedFailed);
    let _: AnyTask = killed.into_any();
    // An executing task that runs too long: FAILED, no retry.
    let _: Task<Failed> = time_out(missing.assign(worker(), at(3)).build(at(4)));
    let _: Task<Failed> = time_out(fresh(5).assign(worker(), at(1)).start(at(2)));
}
