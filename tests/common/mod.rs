//! Shared test helpers: arbitrary tasks that the lifecycle can reach.

#![allow(dead_code)] // Each test file uses its own subset.

use iris_task::{
    AnyTask, AttemptId, JobId, RetryPolicy, Task, TaskEvent, TaskId, Timestamp, WorkerId,
    WorkerReport,
};
use proptest::prelude::*;

/// An event with small, colliding values, so that random sequences hit real transitions.
pub fn event() -> impl Strategy<Value = TaskEvent> {
    let at = (-5i64..1_000).prop_map(Timestamp::from_millis);
    let worker = (0..3u8).prop_map(|w| WorkerId::new(format!("worker-{w}")).unwrap());
    let text = prop_oneof![Just(String::new()), "[a-z ]{1,12}"];
    let report = prop_oneof![
        Just(WorkerReport::Building),
        Just(WorkerReport::Running),
        Just(WorkerReport::Succeeded),
        (any::<i32>(), text.clone())
            .prop_map(|(exit_code, error)| WorkerReport::Failed { exit_code, error }),
        text.clone()
            .prop_map(|error| WorkerReport::WorkerFailed { error }),
        text.clone()
            .prop_map(|error| WorkerReport::Preempted { error }),
        text.clone()
            .prop_map(|error| WorkerReport::Killed { error }),
        Just(WorkerReport::Missing),
    ];
    let sibling = (0..3u32).prop_map(|index| TaskId::new(JobId::new("gang").unwrap(), index));
    prop_oneof![
        3 => (worker.clone(), at.clone()).prop_map(|(worker, at)| TaskEvent::Assign { worker, at }),
        6 => (worker.clone(), 0..4u32, report, at.clone()).prop_map(|(worker, attempt, report, at)| TaskEvent::Report {
            worker,
            attempt: AttemptId::new(attempt),
            report,
            at,
        }),
        2 => (worker, text.clone(), at.clone())
            .prop_map(|(worker, error, at)| TaskEvent::WorkerLost { worker, error, at }),
        1 => (text.clone(), at.clone()).prop_map(|(reason, at)| TaskEvent::Kill { reason, at }),
        1 => at.clone().prop_map(|at| TaskEvent::SchedulingTimeout { at }),
        1 => (text, at.clone()).prop_map(|(reason, at)| TaskEvent::Preempt { reason, at }),
        1 => (sibling.clone(), at.clone()).prop_map(|(sibling, at)| TaskEvent::SiblingFailed { sibling, at }),
        1 => (sibling, at.clone()).prop_map(|(sibling, at)| TaskEvent::SiblingRequeued { sibling, at }),
        1 => at.prop_map(|at| TaskEvent::ExecutionTimeout { at }),
    ]
}

pub fn policy() -> impl Strategy<Value = RetryPolicy> {
    (0u32..3, 0u32..3).prop_map(|(failure, preemption)| RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    })
}

/// A task id with a nested job id and any index.
pub fn task_id() -> impl Strategy<Value = TaskId> {
    ("[a-z][a-z0-9/_-]{0,12}", any::<u32>())
        .prop_map(|(job, index)| TaskId::new(JobId::new(job).unwrap(), index))
}

/// A task id as today's Iris writes one: `/<user>/<job>[/<child>...]/<index>`, parts with
/// spaces inside among them.
pub fn path_task_id() -> impl Strategy<Value = TaskId> {
    (
        proptest::collection::vec("[a-z][a-z0-9 _.-]{0,8}", 2..5),
        any::<u32>(),
    )
        .prop_map(|(parts, index)| {
            TaskId::new(
                JobId::from_path(&format!("/{}", parts.join("/"))).unwrap(),
                index,
            )
        })
}

/// Any task the lifecycle can reach: a new task and the events it accepted of a random sequence.
pub fn task() -> impl Strategy<Value = AnyTask> {
    task_with(task_id())
}

/// [`task`], named as today's Iris names tasks.
pub fn path_task() -> impl Strategy<Value = AnyTask> {
    task_with(path_task_id())
}

fn task_with(id: impl Strategy<Value = TaskId>) -> impl Strategy<Value = AnyTask> {
    (id, policy(), proptest::collection::vec(event(), 0..24)).prop_map(|(id, policy, events)| {
        let mut task = Task::new(id, policy).into_any();
        for event in events {
            let _ = task.apply(event);
        }
        task
    })
}
