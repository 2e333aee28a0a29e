// Code generic over a capability accepts every state that has it: a controller writes its cancel
// and its failure handling once.
use iris_task::{
    Active, AnyTask, Executing, JobId, Killed, Retry, RetryPolicy, Task, TaskId, Terminal,
    Timestamp, WorkerFailed, WorkerId,
};

fn cancel<S: Active>(task: Task<S>) -> Task<Killed> {
    let reason = format!("cancelled on {}", task.worker());
    task.kill(reason, Timestamp::from_millis(100))
}

fn preempt<S: Executing>(task: Task<S>) -> Retry<WorkerFailed> {
    task.worker_failed("node drained", Timestamp::from_millis(100))
}

fn report<S: Terminal>(task: &Task<S>) -> String {
    format!("{} ended at {} with {:?}", task.id(), task.finished_at(), task.exit_code())
}

fn main() {
    let at = Timestamp::from_millis;
    let fresh = || Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
    let worker = || WorkerId::new("w1").unwrap();

    let killed = cancel(fresh().assign(worker(), at(1)));
    let _ = cancel(fresh().assign(worker(), at(1)).build(at(2)));
    let _ = cancel(fresh().assign(worker(), at(1)).start(at(2)));
    println!("{}", report(&killed));

    let _: AnyTask = preempt(fresh().assign(worker(), at(1)).build(at(2))).into_any();
    let _: AnyTask = preempt(fresh().assign(worker(), at(1)).start(at(2))).into_any();
}
