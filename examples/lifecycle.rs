//! One task's story, told by the typed API: a dispatch failure that costs nothing, a failure that
//! spends the retry budget, and a success. Each step prints the state and its wire number.
//!
//! ```text
//! cargo run --example lifecycle
//! ```

use iris_task::{
    IdError, JobId, Retry, RetryPolicy, State, Task, TaskId, Timestamp, WorkerId, proto,
};

/// Prints one line of the story: the state, its number on the wire, and what happened.
fn show<S: State>(task: &Task<S>, what: &str) {
    let state = task.state();
    println!(
        "{:<14} wire {}  attempts {}  failures {}  preemptions {}  {what}",
        state.label().to_uppercase(),
        proto::TaskState::from(state) as i32,
        task.attempts().len(),
        task.failure_count(),
        task.preemption_count(),
    );
}

fn main() -> Result<(), IdError> {
    let at = Timestamp::from_millis;
    let policy = RetryPolicy {
        max_retries_failure: 1,
        max_retries_preemption: 0,
    };
    let task = Task::new(TaskId::new(JobId::new("train/shard")?, 0), policy);
    println!("task {} with {policy:?}\n", task.id());
    show(&task, "created; the only state a scheduler may pick from");

    // Attempt 0: the RunTask RPC fails before the worker confirms anything.
    let task = task.assign(WorkerId::new("worker-1")?, at(1_000));
    show(&task, "scheduled on worker-1; RunTask in flight");
    let task = task.worker_failed("RunTask: connection refused", at(1_050));
    show(
        &task,
        "dispatch failed: requeued free of charge, even with no preemption budget",
    );

    // Attempt 1: the task runs and exits non-zero; one retry is allowed.
    let task = task.assign(WorkerId::new("worker-2")?, at(2_000));
    show(&task, "scheduled on worker-2");
    let task = task.build(at(2_100));
    show(&task, "worker-2 builds the environment");
    let task = task.start(at(2_400));
    show(&task, "worker-2 confirmed execution started");
    let task = match task.fail(1, "exit 1: flaky test", at(3_000)) {
        Retry::Requeued(task) => task,
        Retry::Exhausted(failed) => {
            show(&failed, "failed with its budget spent");
            return Ok(());
        }
    };
    show(&task, "failed with budget left: requeued");

    // Attempt 2: success.
    let task = task.assign(WorkerId::new("worker-3")?, at(4_000));
    show(&task, "scheduled on worker-3");
    let task = task.start(at(4_200));
    show(&task, "worker-3 confirmed execution started");
    let task = task.succeed(at(5_000));
    show(&task, "exited 0");

    println!("\nattempts:");
    for attempt in task.attempts() {
        println!(
            "  #{} on {:<8} {:<13} assigned {:>7} started {:>8} finished {:>7} exit {:?} error {:?}",
            attempt.id(),
            attempt.worker(),
            attempt.state().label(),
            attempt.assigned_at().to_string(),
            attempt
                .started_at()
                .map_or("-".to_owned(), |t| t.to_string()),
            attempt
                .finished_at()
                .map_or("-".to_owned(), |t| t.to_string()),
            attempt.exit_code(),
            attempt.error().unwrap_or(""),
        );
    }
    Ok(())
}
