//! Today's Iris (release 0.2): PREEMPTED, COSCHED_FAILED, MISSING, worker-side kills, gangs and
//! jobs that end. One test per rule of the crate guide's sections "Who pays", "Preemption",
//! "Gangs", "MISSING", "Jobs that end" and "Job state"; `tests/model.rs` checks the same rules on
//! random runs.

use std::time::Duration;

use iris_task::{
    AnyTask, AttemptId, Changes, JobId, JobPolicy, JobState, MISSING_ERROR, Retry, RetryPolicy,
    SCHEDULING_TIMEOUT_REASON, StateCounts, StateKind, TableError, Task, TaskEvent, TaskId,
    TaskTable, Timestamp, Transition, TransitionError, WorkerId, WorkerReport, proto,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn tid(text: &str) -> TaskId {
    text.parse().unwrap()
}

fn policy(failure: u32, preemption: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    }
}

fn report(worker: &str, attempt: u32, report: WorkerReport, t: i64) -> TaskEvent {
    TaskEvent::Report {
        worker: w(worker),
        attempt: AttemptId::new(attempt),
        report,
        at: at(t),
    }
}

fn preempt(t: i64) -> TaskEvent {
    TaskEvent::Preempt {
        reason: "priority".into(),
        at: at(t),
    }
}

fn killed(error: &str) -> WorkerReport {
    WorkerReport::Killed {
        error: error.into(),
    }
}

fn preempted(error: &str) -> WorkerReport {
    WorkerReport::Preempted {
        error: error.into(),
    }
}

/// Applies every event, which must all be accepted.
fn run(mut task: AnyTask, events: impl IntoIterator<Item = TaskEvent>) -> AnyTask {
    for event in events {
        let name = event.name();
        if let Err(err) = task.apply(event) {
            panic!("{name} was rejected: {err}");
        }
    }
    task
}

/// A task of job "job", assigned to w1 at 10, and started (BUILDING or RUNNING) at 20 if asked.
fn task_in(state: StateKind, retry: RetryPolicy) -> AnyTask {
    let task = Task::new(tid("job/task-0"), retry).into_any();
    let task = run(
        task,
        [TaskEvent::Assign {
            worker: w("w1"),
            at: at(10),
        }],
    );
    match state {
        StateKind::Assigned => task,
        StateKind::Building => run(task, [report("w1", 0, WorkerReport::Building, 20)]),
        StateKind::Running => run(task, [report("w1", 0, WorkerReport::Running, 20)]),
        other => panic!("not an active state: {other}"),
    }
}

/// Every worker-side ending a controller can learn of, for attempt 0 on w1 at `t`.
fn worker_side_endings(t: i64) -> Vec<(&'static str, TaskEvent)> {
    vec![
        (
            "worker lost",
            TaskEvent::WorkerLost {
                worker: w("w1"),
                error: "heartbeat lost".into(),
                at: at(t),
            },
        ),
        (
            "report WORKER_FAILED",
            report(
                "w1",
                0,
                WorkerReport::WorkerFailed {
                    error: "disk".into(),
                },
                t,
            ),
        ),
        ("preempt", preempt(t)),
        ("report PREEMPTED", report("w1", 0, preempted("evicted"), t)),
        ("report KILLED", report("w1", 0, killed("OOM killer"), t)),
        ("report MISSING", report("w1", 0, WorkerReport::Missing, t)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Who pays
// ---------------------------------------------------------------------------------------------

#[test]
fn worker_side_endings_before_the_start_are_free_and_always_requeue() {
    for (name, event) in worker_side_endings(30) {
        let mut task = task_in(StateKind::Assigned, policy(0, 0));
        let step = task.apply(event).unwrap();
        assert_eq!(
            step,
            Transition {
                from: StateKind::Assigned,
                to: StateKind::Pending
            },
            "{name}"
        );
        assert_eq!(task.preemption_count(), 0, "{name}: charged nothing");
        let attempt = task.current_attempt().unwrap();
        assert!(attempt.is_worker_failure(), "{name}: a worker-side ending");
        assert!(!attempt.is_preemption(), "{name}: it never started");
        assert_eq!(attempt.started_at(), None, "{name}");
    }
}

#[test]
fn worker_side_endings_after_the_start_spend_the_preemption_budget() {
    for state in [StateKind::Building, StateKind::Running] {
        for (name, event) in worker_side_endings(30) {
            // Budget 1: the first ending requeues, counting it.
            let mut task = task_in(state, policy(0, 1));
            assert_eq!(
                task.apply(event.clone()).unwrap().to,
                StateKind::Pending,
                "{name}"
            );
            assert_eq!(task.preemption_count(), 1, "{name}: charged once started");
            assert!(task.current_attempt().unwrap().is_preemption(), "{name}");
            // Budget 0: the same ending ends the task.
            let mut task = task_in(state, policy(0, 0));
            let ended = task.apply(event).unwrap().to;
            let expected = if name.to_lowercase().contains("preempt") {
                StateKind::Preempted
            } else {
                StateKind::WorkerFailed
            };
            assert_eq!(ended, expected, "{name} from {state}");
            assert_eq!(task.failure_count(), 0, "{name}: never the failure budget");
        }
    }
}

#[test]
fn the_last_ending_decides_preempted_or_worker_failed() {
    // One requeue allowed: the second ending ends the task, as its own kind says.
    let second = |first: TaskEvent, last: WorkerReport| {
        let task = run(task_in(StateKind::Running, policy(0, 1)), [first]);
        let task = run(
            task,
            [
                TaskEvent::Assign {
                    worker: w("w2"),
                    at: at(40),
                },
                report("w2", 1, WorkerReport::Running, 50),
                report("w2", 1, last, 60),
            ],
        );
        assert_eq!(task.preemption_count(), 2);
        task.state()
    };
    assert_eq!(
        second(report("w1", 0, killed("OOM"), 30), preempted("evicted")),
        StateKind::Preempted
    );
    assert_eq!(
        second(preempt(30), WorkerReport::Missing),
        StateKind::WorkerFailed
    );
    assert_eq!(
        second(preempt(30), killed("drain")),
        StateKind::WorkerFailed
    );
}

#[test]
fn a_kill_the_worker_reports_unasked_is_worker_side_and_never_ends_the_task_killed() {
    let mut task = task_in(StateKind::Running, policy(0, 0));
    let step = task
        .apply(report("w1", 0, killed("OOM killer"), 30))
        .unwrap();
    // Iris would end it KILLED, which makes the whole job look cancelled by a user.
    assert_eq!(step.to, StateKind::WorkerFailed);
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Killed);
    assert!(attempt.is_killed_on_worker() && attempt.is_worker_failure());
    assert_eq!(attempt.error(), Some("OOM killer"));
}

#[test]
fn a_controller_kill_is_not_a_worker_side_ending() {
    for state in [StateKind::Assigned, StateKind::Building, StateKind::Running] {
        let mut task = task_in(state, policy(0, 0));
        let step = task
            .apply(TaskEvent::Kill {
                reason: "user".into(),
                at: at(30),
            })
            .unwrap();
        assert_eq!(step.to, StateKind::Killed, "{state}");
        let attempt = task.current_attempt().unwrap();
        assert!(
            !attempt.is_worker_failure() && !attempt.is_killed_on_worker(),
            "{state}"
        );
        assert_eq!(task.preemption_count(), 0, "{state}");
    }
}

#[test]
fn is_worker_failure_on_the_wire_follows_the_worker_side_endings() {
    let cases: Vec<(&str, AnyTask, bool)> = vec![
        (
            "lost",
            run(
                task_in(StateKind::Running, policy(0, 5)),
                [TaskEvent::WorkerLost {
                    worker: w("w1"),
                    error: "x".into(),
                    at: at(30),
                }],
            ),
            true,
        ),
        (
            "preempted",
            run(task_in(StateKind::Running, policy(0, 5)), [preempt(30)]),
            true,
        ),
        (
            "killed on worker",
            run(
                task_in(StateKind::Running, policy(0, 5)),
                [report("w1", 0, killed("OOM"), 30)],
            ),
            true,
        ),
        (
            "missing",
            run(
                task_in(StateKind::Assigned, policy(0, 5)),
                [report("w1", 0, WorkerReport::Missing, 30)],
            ),
            true,
        ),
        (
            "controller kill",
            run(
                task_in(StateKind::Running, policy(0, 5)),
                [TaskEvent::Kill {
                    reason: "user".into(),
                    at: at(30),
                }],
            ),
            false,
        ),
        (
            "failed",
            run(
                task_in(StateKind::Running, policy(1, 5)),
                [report(
                    "w1",
                    0,
                    WorkerReport::Failed {
                        exit_code: 1,
                        error: "x".into(),
                    },
                    30,
                )],
            ),
            false,
        ),
        (
            "gang",
            run(
                task_in(StateKind::Running, policy(0, 5)),
                [TaskEvent::SiblingRequeued {
                    sibling: tid("job/task-1"),
                    at: at(30),
                }],
            ),
            false,
        ),
    ];
    for (name, task, worker_side) in cases {
        let status = proto::TaskStatus::from(&task);
        assert_eq!(status.attempts[0].is_worker_failure, worker_side, "{name}");
        assert_eq!(
            AnyTask::from_proto(status, *task.policy()).unwrap(),
            task,
            "{name} round-trips"
        );
    }
}

#[test]
fn record_your_own_stop_first_then_the_worker_s_killed_is_a_duplicate() {
    let stops = [
        TaskEvent::Kill {
            reason: "user".into(),
            at: at(30),
        },
        preempt(30),
        TaskEvent::SiblingFailed {
            sibling: tid("job/task-1"),
            at: at(30),
        },
        TaskEvent::SiblingRequeued {
            sibling: tid("job/task-1"),
            at: at(30),
        },
    ];
    for stop in stops {
        let name = stop.name();
        let mut task = run(task_in(StateKind::Running, policy(0, 5)), [stop]);
        let before = task.clone();
        let step = task
            .apply(report("w1", 0, killed("stopped as told"), 40))
            .unwrap();
        assert!(
            !step.changed(),
            "{name}: the worker's KILLED confirms the stop"
        );
        assert_eq!(task, before, "{name}: the first outcome stays");
        assert_eq!(task.preemption_count(), before.preemption_count(), "{name}");
    }
    // Before any stop, the same report is a worker-side ending.
    let mut task = task_in(StateKind::Running, policy(0, 5));
    assert!(
        task.apply(report("w1", 0, killed("OOM"), 40))
            .unwrap()
            .changed()
    );
    assert_eq!(task.preemption_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Preemption
// ---------------------------------------------------------------------------------------------

#[test]
fn preempt_closes_the_attempt_preempted_with_the_reason_in_every_active_state() {
    for state in [StateKind::Assigned, StateKind::Building, StateKind::Running] {
        let mut task = task_in(state, policy(0, 5));
        let step = task.apply(preempt(30)).unwrap();
        assert_eq!(
            step,
            Transition {
                from: state,
                to: StateKind::Pending
            }
        );
        let attempt = task.current_attempt().unwrap();
        assert_eq!(attempt.state(), StateKind::Preempted);
        assert_eq!(attempt.error(), Some("priority"));
        assert_eq!(attempt.finished_at(), Some(at(30)));
        assert_eq!(
            task.preemption_count(),
            u32::from(state != StateKind::Assigned)
        );
    }
}

#[test]
fn preempt_is_illegal_for_a_task_that_holds_no_resources() {
    let pending = Task::new(tid("job/task-0"), RetryPolicy::default()).into_any();
    let ended = run(task_in(StateKind::Running, policy(0, 0)), [preempt(30)]);
    assert_eq!(ended.state(), StateKind::Preempted);
    for mut task in [pending, ended] {
        let before = task.clone();
        let from = task.state();
        assert_eq!(
            task.apply(preempt(100)),
            Err(TransitionError::Illegal {
                task: tid("job/task-0"),
                from,
                event: "preempt"
            })
        );
        assert_eq!(task, before);
    }
}

#[test]
fn a_worker_s_preempted_report_follows_the_same_rule_as_preempt() {
    for state in [StateKind::Assigned, StateKind::Building, StateKind::Running] {
        for budget in [0, 1] {
            let task = task_in(state, policy(0, budget));
            let by_report = run(task.clone(), [report("w1", 0, preempted("priority"), 30)]);
            let by_controller = run(task, [preempt(30)]);
            // The one difference: the controller's preemption owes a stop from the worker, the
            // worker's own report does not.
            assert!(!by_report.attempts()[0].awaits_stop());
            assert!(by_controller.attempts()[0].awaits_stop());
            let without_stops = |task: &AnyTask| {
                let mut status = iris_task::proto::TaskStatus::from(task);
                for attempt in &mut status.attempts {
                    attempt.awaiting_stop = false;
                }
                status
            };
            assert_eq!(
                without_stops(&by_report),
                without_stops(&by_controller),
                "{state}, budget {budget}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MISSING
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_for_an_open_attempt_is_a_worker_side_ending_recorded_worker_failed() {
    for state in [StateKind::Assigned, StateKind::Building, StateKind::Running] {
        let mut task = task_in(state, policy(0, 5));
        assert_eq!(
            task.apply(report("w1", 0, WorkerReport::Missing, 30))
                .unwrap()
                .to,
            StateKind::Pending
        );
        let attempt = task.current_attempt().unwrap();
        assert_eq!(attempt.state(), StateKind::WorkerFailed);
        assert_eq!(attempt.error(), Some(MISSING_ERROR));
        assert_eq!(attempt.error(), Some("worker_lost_spec"), "Iris's words");
    }
}

#[test]
fn missing_for_a_closed_attempt_is_a_duplicate_and_otherwise_stale() {
    let closed = [
        run(
            task_in(StateKind::Running, policy(0, 5)),
            [report("w1", 0, WorkerReport::Succeeded, 30)],
        ),
        run(
            task_in(StateKind::Running, policy(5, 5)),
            [report(
                "w1",
                0,
                WorkerReport::Failed {
                    exit_code: 1,
                    error: "x".into(),
                },
                30,
            )],
        ),
        run(
            task_in(StateKind::Running, policy(0, 5)),
            [TaskEvent::Kill {
                reason: "user".into(),
                at: at(30),
            }],
        ),
        run(task_in(StateKind::Running, policy(0, 5)), [preempt(30)]),
        run(
            task_in(StateKind::Running, policy(0, 5)),
            [TaskEvent::SiblingRequeued {
                sibling: tid("job/task-1"),
                at: at(30),
            }],
        ),
    ];
    for mut task in closed {
        let before = task.clone();
        assert!(
            !task
                .apply(report("w1", 0, WorkerReport::Missing, 40))
                .unwrap()
                .changed()
        );
        assert_eq!(task, before);
    }
    // With no attempt yet, or naming another attempt: stale.
    let mut pending = Task::new(tid("job/task-0"), RetryPolicy::default()).into_any();
    assert!(matches!(
        pending.apply(report("w1", 0, WorkerReport::Missing, 1)),
        Err(TransitionError::StaleAttempt { current: None, .. })
    ));
    let mut task = task_in(StateKind::Running, policy(0, 5));
    assert!(matches!(
        task.apply(report("w1", 3, WorkerReport::Missing, 40)),
        Err(TransitionError::StaleAttempt { .. })
    ));
}

#[test]
fn missing_is_never_stored() {
    let task = task_in(StateKind::Running, policy(0, 5));
    let mut status = proto::TaskStatus::from(&task);
    status.attempts[0].state = proto::TaskState::Missing as i32;
    assert_eq!(
        AnyTask::from_proto(status, RetryPolicy::default()),
        Err(iris_task::ProtoError::ReportOnlyState {
            field: "TaskStatus.attempts[0].state".into()
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Gangs on the typed and run-time task
// ---------------------------------------------------------------------------------------------

#[test]
fn sibling_failed_ends_an_active_task_cosched_failed_charged_nothing() {
    let sibling = TaskId::new(JobId::new("job").unwrap(), 1);
    let event = || TaskEvent::SiblingFailed {
        sibling: sibling.clone(),
        at: at(30),
    };
    for task in [
        task_in(StateKind::Assigned, policy(0, 0)),
        task_in(StateKind::Building, policy(0, 0)),
        task_in(StateKind::Running, policy(0, 0)),
    ] {
        let from = task.state();
        let task = run(task, [event()]);
        assert_eq!(task.state(), StateKind::CoschedFailed, "from {from}");
        assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
        let status = proto::TaskStatus::from(&task);
        assert_eq!(status.error, "Coscheduled sibling job/1 failed");
        assert_eq!(status.finished_at_ms, Some(30));
        assert_eq!(
            AnyTask::from_proto(status, *task.policy()).unwrap(),
            task,
            "from {from}"
        );
    }
    // A pending member has no attempt to stop: as in Iris, it is no sibling to end (0.3).
    let mut pending = Task::new(tid("job/task-0"), policy(0, 0)).into_any();
    assert!(matches!(
        pending.apply(event()),
        Err(TransitionError::Illegal {
            from: StateKind::Pending,
            event: "sibling failed",
            ..
        })
    ));
}

#[test]
fn sibling_requeued_requeues_an_active_task_and_is_illegal_for_a_pending_one() {
    let event = || TaskEvent::SiblingRequeued {
        sibling: tid("job/task-1"),
        at: at(30),
    };
    for state in [StateKind::Assigned, StateKind::Building, StateKind::Running] {
        let task = run(task_in(state, policy(0, 0)), [event()]);
        assert_eq!(task.state(), StateKind::Pending);
        assert_eq!(
            task.current_attempt().unwrap().state(),
            StateKind::CoschedFailed
        );
        assert_eq!(task.preemption_count(), 0);
    }
    let mut pending = Task::new(tid("job/task-0"), RetryPolicy::default()).into_any();
    assert!(matches!(
        pending.apply(event()),
        Err(TransitionError::Illegal {
            event: "sibling requeued",
            ..
        })
    ));
}

#[test]
fn a_cosched_failed_task_tells_how_it_ended_by_its_own_time_and_error() {
    // Ended with its attempt: the task's time and error are the attempt's.
    let with_attempt = run(
        task_in(StateKind::Running, policy(0, 0)),
        [TaskEvent::SiblingFailed {
            sibling: tid("job/task-1"),
            at: at(30),
        }],
    );
    // Requeued with its gang (its attempt closed COSCHED_FAILED), then stopped while pending, as
    // 0.2 stopped a pending member: 0.3 no longer does, but still reads such a task, which a 0.2
    // store or peer may hold.
    let requeued = run(
        task_in(StateKind::Running, policy(0, 0)),
        [TaskEvent::SiblingRequeued {
            sibling: tid("job/task-1"),
            at: at(30),
        }],
    );
    let mut status = proto::TaskStatus::from(&requeued);
    status.state = proto::TaskState::CoschedFailed as i32;
    status.finished_at_ms = Some(31);
    status.error = "Coscheduled sibling job/1 failed".into();
    let while_pending = AnyTask::from_proto(status, *requeued.policy()).unwrap();
    assert_eq!(while_pending.state(), StateKind::CoschedFailed);
    assert_ne!(with_attempt, while_pending);
    for task in [with_attempt, while_pending] {
        let bytes = task.encode_to_vec();
        assert_eq!(AnyTask::decode(&bytes, *task.policy()).unwrap(), task);
    }
}

// ---------------------------------------------------------------------------------------------
// Gangs and jobs that end, in a table
// ---------------------------------------------------------------------------------------------

/// A table with a coscheduled job "slice" whose tasks are `members`: (index, worker, assigned at,
/// reported RUNNING at); a member without a worker stays pending.
fn gang_of(members: &[(u32, Option<&str>, i64, i64)], retry: RetryPolicy) -> TaskTable {
    gang_tolerating(members, retry, 0)
}

/// [`gang_of`], for a job that tolerates `failures` FAILED attempts (`max_task_failures`): with
/// Iris's default of 0, the first failure ends the job, whatever retries its tasks have.
fn gang_tolerating(
    members: &[(u32, Option<&str>, i64, i64)],
    retry: RetryPolicy,
    failures: u32,
) -> TaskTable {
    let mut table = TaskTable::new();
    let coscheduled = JobPolicy {
        coscheduled: true,
        max_task_failures: failures,
    };
    table.set_job_policy(JobId::new("slice").unwrap(), coscheduled);
    for &(index, worker, assigned, started) in members {
        table.insert(Task::new(member(index), retry)).unwrap();
        if let Some(worker) = worker {
            table
                .assign(&member(index), w(worker), at(assigned))
                .unwrap();
            let running = report(worker, 0, WorkerReport::Running, started);
            table.apply(&member(index), running).unwrap();
        }
    }
    table
}

/// A gang of `size` tasks, each on worker `w<index>`, assigned at 10 + index, RUNNING at 20.
fn gang(size: u32, retry: RetryPolicy) -> TaskTable {
    let workers: Vec<String> = (0..size).map(|index| format!("w{index}")).collect();
    let members: Vec<(u32, Option<&str>, i64, i64)> = (0..size)
        .map(|index| {
            let worker = workers[index as usize].as_str();
            (index, Some(worker), 10 + i64::from(index), 20)
        })
        .collect();
    gang_of(&members, retry)
}

fn member(index: u32) -> TaskId {
    TaskId::new(JobId::new("slice").unwrap(), index)
}

fn states(table: &TaskTable) -> Vec<StateKind> {
    table.iter().map(AnyTask::state).collect()
}

fn order(changes: &Changes) -> Vec<(String, StateKind, StateKind)> {
    changes
        .iter()
        .map(|(id, step)| (id.to_string(), step.from, step.to))
        .collect()
}

#[test]
fn a_gang_member_that_ends_for_good_stops_its_siblings_in_index_order() {
    let mut table = gang(4, policy(0, 0));
    // Member 3 succeeded first: it stays SUCCEEDED.
    table
        .apply(&member(3), report("w3", 0, WorkerReport::Succeeded, 25))
        .unwrap();
    let failed = report(
        "w1",
        0,
        WorkerReport::Failed {
            exit_code: 2,
            error: "exit 2".into(),
        },
        30,
    );
    let changes = table.apply(&member(1), failed).unwrap();
    use StateKind::*;
    assert_eq!(
        order(&changes),
        [
            ("slice/task-1".to_owned(), Running, Failed),
            ("slice/task-0".to_owned(), Running, CoschedFailed),
            ("slice/task-2".to_owned(), Running, CoschedFailed),
        ]
    );
    assert_eq!(
        states(&table),
        [CoschedFailed, Failed, CoschedFailed, Succeeded]
    );
    let sibling = table.get(&member(0)).unwrap();
    assert_eq!(
        sibling.current_attempt().unwrap().error(),
        Some("Coscheduled sibling slice/1 failed")
    );
    assert_eq!(
        (sibling.failure_count(), sibling.preemption_count()),
        (0, 0),
        "charged nothing"
    );
    assert_eq!(
        table.job_state(&JobId::new("slice").unwrap()),
        Some(JobState::Failed)
    );
    assert_eq!(
        table.tasks_on(&w("w0")).count(),
        0,
        "siblings free their workers"
    );
}

#[test]
fn a_requeued_gang_member_requeues_its_active_siblings_right_after_it() {
    // Members 0, 1 and 3 run; member 2 was never scheduled, and waits in the queue, as does an
    // unrelated task.
    let members = [
        (0, Some("w0"), 10, 20),
        (1, Some("w1"), 10, 20),
        (2, None, 0, 0),
        (3, Some("w3"), 10, 20),
    ];
    let mut table = gang_tolerating(&members, policy(1, 0), 5);
    let other = Task::new(tid("other/task-0"), RetryPolicy::default());
    table.insert(other).unwrap();
    let failed = report(
        "w3",
        0,
        WorkerReport::Failed {
            exit_code: 1,
            error: "exit 1".into(),
        },
        30,
    );
    let changes = table.apply(&member(3), failed).unwrap();
    use StateKind::*;
    assert_eq!(
        order(&changes),
        [
            ("slice/task-3".to_owned(), Running, Pending),
            ("slice/task-0".to_owned(), Running, Pending),
            ("slice/task-1".to_owned(), Running, Pending),
        ],
        "pending member 2 stays as it is"
    );
    let queue: Vec<String> = table.pending().map(|task| task.id().to_string()).collect();
    assert_eq!(
        queue,
        [
            "slice/task-2",
            "other/task-0",
            "slice/task-3",
            "slice/task-0",
            "slice/task-1"
        ]
    );
    let sibling = table.get(&member(0)).unwrap();
    assert_eq!(
        sibling.current_attempt().unwrap().error(),
        Some("Coscheduled sibling slice/3 bounced for atomic re-scheduling")
    );
    assert_eq!(
        (sibling.failure_count(), sibling.preemption_count()),
        (0, 0)
    );
    // The gang is rescheduled together, one member per worker: all four get their next attempt.
    // An answer that puts two members on one worker places none of them.
    let crowded = table.schedule(at(40), |offer| {
        (offer.job().as_str() == "slice").then(|| vec![w("w9"); offer.len()])
    });
    assert!(crowded.is_empty());
    assert_eq!(table.pending().count(), 5);
    let assigned = table.schedule(at(40), |offer| {
        (offer.job().as_str() == "slice").then(|| {
            (0..offer.len())
                .map(|n| w(&format!("w{}", 10 + n)))
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(assigned.len(), 4);
}

#[test]
fn every_cause_of_an_attempt_ending_sets_the_gang_off() {
    type Cause = fn(&mut TaskTable) -> Changes;
    let causes: [(&str, Cause); 8] = [
        ("report FAILED", |t| {
            t.apply(
                &member(0),
                report(
                    "w0",
                    0,
                    WorkerReport::Failed {
                        exit_code: 1,
                        error: "x".into(),
                    },
                    30,
                ),
            )
            .unwrap()
        }),
        ("report WORKER_FAILED", |t| {
            t.apply(
                &member(0),
                report(
                    "w0",
                    0,
                    WorkerReport::WorkerFailed { error: "x".into() },
                    30,
                ),
            )
            .unwrap()
        }),
        ("report PREEMPTED", |t| {
            t.apply(&member(0), report("w0", 0, preempted("evicted"), 30))
                .unwrap()
        }),
        ("report KILLED", |t| {
            t.apply(&member(0), report("w0", 0, killed("OOM"), 30))
                .unwrap()
        }),
        ("report MISSING", |t| {
            t.apply(&member(0), report("w0", 0, WorkerReport::Missing, 30))
                .unwrap()
        }),
        ("preempt", |t| t.apply(&member(0), preempt(30)).unwrap()),
        ("worker lost", |t| t.worker_lost(&w("w0"), "gone", at(30))),
        ("sibling failed", |t| {
            t.apply(
                &member(0),
                TaskEvent::SiblingFailed {
                    sibling: member(7),
                    at: at(30),
                },
            )
            .unwrap()
        }),
    ];
    for (name, cause) in causes {
        // With budget left the trigger is requeued and its siblings with it; without, they end.
        for (budget, sibling_state) in [(1, StateKind::Pending), (0, StateKind::CoschedFailed)] {
            // A job that tolerates failed attempts, so that a failure does not end it.
            let members = [
                (0, Some("w0"), 10, 20),
                (1, Some("w1"), 11, 20),
                (2, Some("w2"), 12, 20),
            ];
            let mut table = gang_tolerating(&members, policy(budget, budget), 5);
            let changes = cause(&mut table);
            let trigger = table.get(&member(0)).unwrap().state();
            let expected = if trigger == StateKind::Pending {
                StateKind::Pending
            } else {
                StateKind::CoschedFailed
            };
            if name != "sibling failed" {
                assert_eq!(expected, sibling_state, "{name}, budget {budget}");
            }
            assert_eq!(changes.len(), 3, "{name}, budget {budget}: {changes:?}");
            for index in 1..3 {
                assert_eq!(
                    table.get(&member(index)).unwrap().state(),
                    expected,
                    "{name}, budget {budget}"
                );
            }
        }
    }
    // The dispatch deadline of an ASSIGNED member is a trigger too (a free requeue).
    let job = JobId::new("slice").unwrap();
    let mut table = gang(2, policy(0, 0));
    table.insert(Task::new(member(2), policy(0, 0))).unwrap();
    table.assign(&member(2), w("w2"), at(25)).unwrap();
    let changes = table.expire_assigned(at(100), Duration::from_millis(10));
    assert_eq!(order(&changes).len(), 3, "{changes:?}");
    assert!(
        table
            .tasks_of(&job)
            .all(|task| task.state() == StateKind::Pending)
    );
}

#[test]
fn a_success_or_a_controller_kill_is_no_gang_trigger() {
    let mut table = gang(3, policy(0, 0));
    let changes = table
        .apply(&member(0), report("w0", 0, WorkerReport::Succeeded, 30))
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        states(&table),
        [StateKind::Succeeded, StateKind::Running, StateKind::Running]
    );
    // A kill ends the job (KILLED): its tasks are killed by the job-end rule, not stopped as a gang.
    let changes = table
        .apply(
            &member(2),
            TaskEvent::Kill {
                reason: "user".into(),
                at: at(40),
            },
        )
        .unwrap();
    assert_eq!(
        order(&changes),
        [
            (
                "slice/task-2".to_owned(),
                StateKind::Running,
                StateKind::Killed
            ),
            (
                "slice/task-1".to_owned(),
                StateKind::Running,
                StateKind::Killed
            ),
        ]
    );
    let stopped = table.get(&member(1)).unwrap();
    assert_eq!(
        stopped.current_attempt().unwrap().error(),
        Some("user"),
        "the job's error: the kill's reason"
    );
    assert_eq!(
        table.job_state(&JobId::new("slice").unwrap()),
        Some(JobState::Killed)
    );
}

#[test]
fn a_member_lost_with_an_earlier_assigned_trigger_is_requeued_as_a_sibling_not_charged() {
    // Members 0 and 1 on w0 (0 assigned first), member 2 on w2.
    let job = JobId::new("slice").unwrap();
    let members = [
        (0, Some("w0"), 10, 20),
        (1, Some("w0"), 11, 20),
        (2, Some("w2"), 12, 20),
    ];
    let mut table = gang_of(&members, policy(0, 5));
    let changes = table.worker_lost(&w("w0"), "gone", at(30));
    let ids: Vec<String> = changes.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["slice/task-0", "slice/task-1", "slice/task-2"]);
    let charged: Vec<u32> = table
        .tasks_of(&job)
        .map(AnyTask::preemption_count)
        .collect();
    assert_eq!(charged, [1, 0, 0], "only the trigger pays");
    assert_eq!(
        table
            .get(&member(1))
            .unwrap()
            .current_attempt()
            .unwrap()
            .state(),
        StateKind::CoschedFailed
    );
}

#[test]
fn preempting_one_member_requeues_the_gang_and_a_second_preempt_is_illegal() {
    let mut table = gang(3, policy(0, 5));
    let changes = table.apply(&member(1), preempt(30)).unwrap();
    assert_eq!(changes.len(), 3);
    assert!(states(&table).iter().all(|&s| s == StateKind::Pending));
    let before = states(&table);
    assert!(matches!(
        table.apply(&member(2), preempt(31)),
        Err(iris_task::TableError::Transition(
            TransitionError::Illegal {
                event: "preempt",
                ..
            }
        ))
    ));
    assert_eq!(states(&table), before);
}

#[test]
fn cascades_do_not_recurse() {
    // A sibling stopped by the gang rule does not set the gang off again: each member changes
    // once, and every sibling's attempt names the one trigger.
    for (retry, expected) in [
        (policy(0, 0), "Coscheduled sibling slice/4 failed"),
        (
            policy(0, 5),
            "Coscheduled sibling slice/4 bounced for atomic re-scheduling",
        ),
    ] {
        let mut table = gang(5, retry);
        let changes = table.apply(&member(4), preempt(30)).unwrap();
        assert_eq!(changes.len(), 5);
        assert!(
            changes
                .iter()
                .all(|(_, step)| step.from == StateKind::Running)
        );
        for index in 0..4 {
            let sibling = table.get(&member(index)).unwrap();
            assert_eq!(sibling.attempts().len(), 1, "member {index} stopped once");
            assert_eq!(
                sibling.current_attempt().unwrap().error(),
                Some(expected),
                "member {index}"
            );
        }
    }
}

#[test]
fn siblings_and_job_end_kills_are_stamped_with_the_call_s_time() {
    // Member 0 on w0 started at 50; member 1 on w1 started at 20. w0 is lost at 30: member 0's
    // own ending is stamped 50 (its latest time), its sibling's the call's 30.
    let members = [(0, Some("w0"), 10, 50), (1, Some("w1"), 10, 20)];
    let mut table = gang_of(&members, policy(0, 5));
    table.worker_lost(&w("w0"), "gone", at(30));
    let finished = |index| {
        table
            .get(&member(index))
            .unwrap()
            .current_attempt()
            .unwrap()
            .finished_at()
    };
    assert_eq!(finished(0), Some(at(50)));
    assert_eq!(finished(1), Some(at(30)));
}

#[test]
fn a_scheduling_timeout_is_no_trigger_but_its_job_ends_unschedulable() {
    let job = JobId::new("slice").unwrap();
    let members = [(0, None, 0, 0), (1, None, 0, 0), (2, None, 0, 0)];
    let mut table = gang_of(&members, RetryPolicy::default());
    table.assign(&member(2), w("w2"), at(5)).unwrap();
    let changes = table
        .apply(&member(0), TaskEvent::SchedulingTimeout { at: at(60) })
        .unwrap();
    use StateKind::*;
    assert_eq!(
        order(&changes),
        [
            ("slice/task-0".to_owned(), Pending, Unschedulable),
            ("slice/task-1".to_owned(), Pending, Killed),
            ("slice/task-2".to_owned(), Assigned, Killed),
        ]
    );
    assert_eq!(
        table.get(&member(1)).unwrap().outcome_error(),
        Some(SCHEDULING_TIMEOUT_REASON.to_owned()),
        "the job's error: its first task error"
    );
    assert_eq!(table.job_state(&job), Some(JobState::Unschedulable));
}

/// The error a terminal task shows on the wire.
trait OutcomeError {
    fn outcome_error(&self) -> Option<String>;
}

impl OutcomeError for AnyTask {
    fn outcome_error(&self) -> Option<String> {
        Some(proto::TaskStatus::from(self).error).filter(|error| !error.is_empty())
    }
}

#[test]
fn a_rejected_event_does_not_half_apply_a_cascade() {
    let mut table = gang(3, policy(0, 0));
    let snapshot: Vec<AnyTask> = table.iter().cloned().collect();
    // Earlier than member 0's start: rejected before anything moved.
    let early = report(
        "w0",
        0,
        WorkerReport::Failed {
            exit_code: 1,
            error: "x".into(),
        },
        15,
    );
    assert!(matches!(
        table.apply(&member(0), early),
        Err(iris_task::TableError::Transition(
            TransitionError::TimeWentBackwards { .. }
        ))
    ));
    // From another worker, and stale: the same.
    assert!(
        table
            .apply(&member(0), report("w1", 0, preempted("x"), 30))
            .is_err()
    );
    assert!(
        table
            .apply(&member(0), report("w0", 4, preempted("x"), 30))
            .is_err()
    );
    let after: Vec<AnyTask> = table.iter().cloned().collect();
    assert_eq!(after, snapshot);
    assert_eq!(table.counts().get(StateKind::Running), 3);
}

#[test]
fn jobs_the_table_was_never_told_about_keep_the_rules_of_a_single_task() {
    let mut table = TaskTable::new();
    for index in 0..3 {
        let id = member(index);
        table.insert(Task::new(id.clone(), policy(0, 0))).unwrap();
        table.assign(&id, w("w0"), at(10)).unwrap();
        table
            .apply(&id, report("w0", 0, WorkerReport::Running, 20))
            .unwrap();
    }
    let changes = table
        .apply(
            &member(0),
            report(
                "w0",
                0,
                WorkerReport::Failed {
                    exit_code: 1,
                    error: "x".into(),
                },
                30,
            ),
        )
        .unwrap();
    assert_eq!(changes.len(), 1, "no gang, no job-end kill");
    assert_eq!(
        states(&table),
        [StateKind::Failed, StateKind::Running, StateKind::Running]
    );
    // Its state reads with the default policy.
    assert_eq!(
        table.job_state(&JobId::new("slice").unwrap()),
        Some(JobState::Failed)
    );
    assert_eq!(table.job_policy(&JobId::new("slice").unwrap()), None);
}

// ---------------------------------------------------------------------------------------------
// Jobs that end stop their tasks
// ---------------------------------------------------------------------------------------------

#[test]
fn a_job_that_ends_kills_its_remaining_tasks_in_index_order_after_the_gang() {
    let job = JobId::new("batch").unwrap();
    let mut table = TaskTable::new();
    table.set_job_policy(
        job.clone(),
        JobPolicy {
            max_task_failures: 1,
            coscheduled: false,
        },
    );
    for index in 0..4 {
        table
            .insert(Task::new(TaskId::new(job.clone(), index), policy(0, 0)))
            .unwrap();
    }
    let fail = |table: &mut TaskTable, index: u32, t: i64| {
        let id = TaskId::new(job.clone(), index);
        table.assign(&id, w("w1"), at(t)).unwrap();
        table
            .apply(&id, report("w1", 0, WorkerReport::Running, t))
            .unwrap();
        table
            .apply(
                &id,
                report(
                    "w1",
                    0,
                    WorkerReport::Failed {
                        exit_code: 1,
                        error: "x".into(),
                    },
                    t,
                ),
            )
            .unwrap()
    };
    // One failure is tolerated: nothing else moves.
    assert_eq!(fail(&mut table, 2, 10).len(), 1);
    // The second ends the job FAILED: the others are killed, in index order.
    let changes = fail(&mut table, 3, 20);
    use StateKind::*;
    assert_eq!(
        order(&changes),
        [
            ("batch/task-3".to_owned(), Running, Failed),
            ("batch/task-0".to_owned(), Pending, Killed),
            ("batch/task-1".to_owned(), Pending, Killed),
        ]
    );
    assert_eq!(
        table
            .get(&TaskId::new(job.clone(), 0))
            .unwrap()
            .outcome_error(),
        Some(
            "Cumulative failed task attempts exceeded max_task_failures: failures=2, limit=1; x"
                .to_owned()
        ),
        "the job's error, in Iris's words"
    );
    assert_eq!(
        table.job_state(&job),
        Some(JobState::Failed),
        "killed tasks do not make it KILLED"
    );
}

#[test]
fn insert_set_job_policy_and_assign_never_change_other_tasks() {
    let job = JobId::new("batch").unwrap();
    let mut table = TaskTable::new();
    table
        .insert(Task::new(
            TaskId::new(job.clone(), 0),
            RetryPolicy::default(),
        ))
        .unwrap();
    table
        .insert(Task::new(TaskId::new(job.clone(), 1), RetryPolicy::default()).kill("user", at(1)))
        .unwrap();
    // The job reads KILLED already; telling the table its policy kills nobody.
    table.set_job_policy(job.clone(), JobPolicy::default());
    assert_eq!(table.job_state(&job), Some(JobState::Killed));
    assert_eq!(
        table.get(&TaskId::new(job.clone(), 0)).unwrap().state(),
        StateKind::Pending
    );
    // An ended job takes no new task (0.3: its state is final); assigning changes no other.
    let late = Task::new(TaskId::new(job.clone(), 2), RetryPolicy::default());
    assert!(matches!(
        table.insert(late),
        Err(TableError::JobEnded {
            state: JobState::Killed,
            ..
        })
    ));
    table
        .assign(&TaskId::new(job.clone(), 0), w("w1"), at(2))
        .unwrap();
    assert_eq!(
        table.get(&TaskId::new(job.clone(), 0)).unwrap().state(),
        StateKind::Assigned
    );
    // A job whose state had ended before the call is not "ending" in it.
    let changes = table
        .apply(
            &TaskId::new(job.clone(), 0),
            report("w1", 0, WorkerReport::Running, 3),
        )
        .unwrap();
    assert_eq!(changes.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Job state (the rules themselves, in Iris's order, are tested in tests/iris_rules.rs)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_started_job_stays_running_while_its_tasks_wait_for_a_retry() {
    let mut table = gang(2, policy(0, 5));
    let job = JobId::new("slice").unwrap();
    table.apply(&member(0), preempt(30)).unwrap();
    let counts = table.job_counts(&job).unwrap();
    assert_eq!(counts.get(StateKind::Pending), 2);
    assert_eq!(table.job_state(&job), Some(JobState::Running));
    // A job that never started reads PENDING; an unknown one, nothing.
    let mut fresh = TaskTable::new();
    fresh.set_job_policy(job.clone(), JobPolicy::default());
    assert_eq!(
        fresh.job_state(&job),
        Some(JobState::Pending),
        "known by its policy alone"
    );
    fresh
        .insert(Task::new(member(0), RetryPolicy::default()))
        .unwrap();
    assert_eq!(fresh.job_state(&job), Some(JobState::Pending));
    assert_eq!(fresh.job_state(&JobId::new("other").unwrap()), None);
}

// ---------------------------------------------------------------------------------------------
// What may follow each closed attempt (the decoder)
// ---------------------------------------------------------------------------------------------

/// A status whose attempt 0 closed as `closed` (on w1, started at 20, finished at 30), followed by
/// an open attempt 1 on w2, the task RUNNING.
fn followed(closed: proto::TaskState, worker_side: bool) -> proto::TaskStatus {
    let task = run(
        task_in(StateKind::Running, policy(5, 5)),
        [
            report(
                "w1",
                0,
                WorkerReport::Failed {
                    exit_code: 1,
                    error: "x".into(),
                },
                30,
            ),
            TaskEvent::Assign {
                worker: w("w2"),
                at: at(40),
            },
            report("w2", 1, WorkerReport::Running, 50),
        ],
    );
    let mut status = proto::TaskStatus::from(&task);
    status.attempts[0].state = closed as i32;
    status.attempts[0].is_worker_failure = worker_side;
    status.attempts[0].exit_code = 0;
    status
}

#[test]
fn the_decoder_knows_which_closed_attempts_another_may_follow() {
    use proto::TaskState as S;
    let cases = [
        (S::Succeeded, false, false),
        (S::Failed, false, true),
        (S::WorkerFailed, true, true),
        (S::Preempted, true, true),
        (S::Killed, false, false),
        (S::Killed, true, true),
        (S::CoschedFailed, false, true),
    ];
    for (state, worker_side, may_follow) in cases {
        let decoded = AnyTask::from_proto(followed(state, worker_side), policy(5, 5));
        assert_eq!(
            decoded.is_ok(),
            may_follow,
            "{state:?} (worker side: {worker_side}): {decoded:?}"
        );
    }
    // is_worker_failure must match the state: only KILLED may be either.
    for (state, wrong) in [
        (S::WorkerFailed, false),
        (S::Preempted, false),
        (S::Failed, true),
        (S::CoschedFailed, true),
    ] {
        assert!(
            AnyTask::from_proto(followed(state, wrong), policy(5, 5)).is_err(),
            "{state:?}"
        );
    }
}

#[test]
fn the_decoder_knows_which_closed_attempts_may_end_the_task_and_as_what() {
    use StateKind as K;
    // (the attempt that ended the task, started?, the task's state, accepted?)
    let worker_side_ok = |attempt: K, killed_on_worker: bool, started: bool, task: K| -> bool {
        let mut status = proto::TaskStatus::from(&task_in(K::Running, policy(0, 0)));
        let closed = &mut status.attempts[0];
        closed.state = proto::TaskState::from(attempt) as i32;
        closed.is_worker_failure =
            matches!(attempt, K::WorkerFailed | K::Preempted) || killed_on_worker;
        closed.finished_at_ms = Some(30);
        if !started {
            closed.started_at_ms = None;
        }
        status.started_at_ms = closed.started_at_ms;
        status.state = proto::TaskState::from(task) as i32;
        status.finished_at_ms = Some(30);
        AnyTask::from_proto(status, policy(0, 0)).is_ok()
    };
    assert!(worker_side_ok(
        K::WorkerFailed,
        false,
        true,
        K::WorkerFailed
    ));
    assert!(
        !worker_side_ok(K::WorkerFailed, false, false, K::WorkerFailed),
        "a dispatch failure never ends a task"
    );
    assert!(worker_side_ok(K::Preempted, false, true, K::Preempted));
    assert!(!worker_side_ok(K::Preempted, false, false, K::Preempted));
    assert!(!worker_side_ok(K::Preempted, false, true, K::WorkerFailed));
    assert!(
        worker_side_ok(K::Killed, true, true, K::WorkerFailed),
        "killed on the worker ends WORKER_FAILED"
    );
    // A KILLED task after one: killed by the controller while pending, once requeued.
    assert!(worker_side_ok(K::Killed, true, true, K::Killed));
    assert!(worker_side_ok(K::Killed, false, true, K::Killed));
    assert!(worker_side_ok(
        K::CoschedFailed,
        false,
        true,
        K::CoschedFailed
    ));
    assert!(!worker_side_ok(K::CoschedFailed, false, true, K::Failed));
    // A requeued task after each attempt that lets it go on.
    for (attempt, killed_on_worker) in [
        (K::Preempted, false),
        (K::Killed, true),
        (K::CoschedFailed, false),
    ] {
        let mut status = proto::TaskStatus::from(&task_in(K::Running, policy(0, 0)));
        status.attempts[0].state = proto::TaskState::from(attempt) as i32;
        status.attempts[0].is_worker_failure = attempt == K::Preempted || killed_on_worker;
        status.attempts[0].finished_at_ms = Some(30);
        status.state = proto::TaskState::Pending as i32;
        assert!(
            AnyTask::from_proto(status, policy(0, 0)).is_ok(),
            "pending after {attempt}"
        );
    }
}

#[test]
fn typed_preemption_returns_a_retry_to_handle() {
    let task = Task::new(tid("job/task-0"), policy(0, 0))
        .assign(w("w1"), at(1))
        .start(at(2));
    match task.preempt("priority", at(3)) {
        Retry::Exhausted(task) => assert_eq!(task.error(), Some("priority")),
        Retry::Requeued(_) => panic!("no preemption allowed"),
    }
}

#[test]
fn a_job_known_by_its_policy_alone_has_zero_counts_and_its_place_among_the_jobs() {
    let mut table = TaskTable::new();
    table
        .insert(Task::new(tid("first/task-0"), RetryPolicy::default()))
        .unwrap();
    let later = JobId::new("later").unwrap();
    table.set_job_policy(
        later.clone(),
        JobPolicy {
            max_task_failures: 2,
            coscheduled: true,
        },
    );
    assert_eq!(table.job_counts(&later).map(StateCounts::total), Some(0));
    assert_eq!(table.job_state(&later), Some(JobState::Pending));
    assert_eq!(
        table.job_policy(&later).map(|p| p.max_task_failures),
        Some(2)
    );
    // Its tasks arrive later; it keeps its place, after "first".
    table
        .insert(Task::new(
            TaskId::new(later.clone(), 0),
            RetryPolicy::default(),
        ))
        .unwrap();
    let jobs: Vec<(&str, usize)> = table
        .jobs()
        .map(|job| (job.id().as_str(), job.counts().total()))
        .collect();
    assert_eq!(jobs, [("first", 1), ("later", 1)]);
    assert_eq!(table.job_counts(&JobId::new("unknown").unwrap()), None);
}
