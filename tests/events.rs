//! `AnyTask::apply` against DOMAIN.md: one scenario per row of the controller events table and per
//! rule of "Reports from workers".

use iris_task::{
    AnyTask, AttemptId, RetryPolicy, SCHEDULING_TIMEOUT_REASON, StateKind, Task, TaskEvent, TaskId,
    Timestamp, Transition, TransitionError, WorkerId, WorkerReport,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn id() -> TaskId {
    "job/task-0".parse().unwrap()
}

fn pending_with(failure: u32, preemption: u32) -> AnyTask {
    let policy = RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    };
    Task::new(id(), policy).into_any()
}

fn pending() -> AnyTask {
    pending_with(0, 100)
}

fn assign(worker: &str, t: i64) -> TaskEvent {
    TaskEvent::Assign {
        worker: w(worker),
        at: at(t),
    }
}

/// A report from w1, the worker every task here is first assigned to.
fn report(attempt: u32, report: WorkerReport, t: i64) -> TaskEvent {
    report_from("w1", attempt, report, t)
}

fn report_from(worker: &str, attempt: u32, report: WorkerReport, t: i64) -> TaskEvent {
    TaskEvent::Report {
        worker: w(worker),
        attempt: AttemptId::new(attempt),
        report,
        at: at(t),
    }
}

fn failed(exit_code: i32, error: &str) -> WorkerReport {
    WorkerReport::Failed {
        exit_code,
        error: error.to_owned(),
    }
}

fn worker_failed(error: &str) -> WorkerReport {
    WorkerReport::WorkerFailed {
        error: error.to_owned(),
    }
}

fn lost(worker: &str, t: i64) -> TaskEvent {
    TaskEvent::WorkerLost {
        worker: w(worker),
        error: format!("{worker} lost"),
        at: at(t),
    }
}

fn kill(t: i64) -> TaskEvent {
    TaskEvent::Kill {
        reason: "cancelled".to_owned(),
        at: at(t),
    }
}

fn step(from: StateKind, to: StateKind) -> Transition {
    Transition { from, to }
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

fn assigned() -> AnyTask {
    run(pending(), [assign("w1", 10)])
}

/// `task`, assigned to w1 at 10 and reported BUILDING at 20 or RUNNING at 30.
fn started(task: AnyTask, state: StateKind) -> AnyTask {
    let confirm = match state {
        StateKind::Building => report(0, WorkerReport::Building, 20),
        _ => report(0, WorkerReport::Running, 30),
    };
    run(task, [assign("w1", 10), confirm])
}

fn building() -> AnyTask {
    started(pending(), StateKind::Building)
}

fn running() -> AnyTask {
    started(pending(), StateKind::Running)
}

/// Applies `event`, which must be rejected with `expected`, and checks the task did not change.
fn assert_rejected(task: &mut AnyTask, event: TaskEvent, expected: TransitionError) {
    let before = task.clone();
    assert_eq!(task.apply(event), Err(expected));
    assert_eq!(task, &before, "a rejected event changed the task");
}

/// Applies `event`, which must be accepted as a duplicate, and checks the task did not change.
fn assert_duplicate(task: &mut AnyTask, event: TaskEvent) {
    let before = task.clone();
    let state = task.state();
    assert_eq!(task.apply(event), Ok(step(state, state)));
    assert_eq!(task, &before, "a duplicate changed the task");
}

fn attempt(task: &AnyTask) -> &iris_task::Attempt {
    task.current_attempt().expect("the task has an attempt")
}

// ----- PENDING -----

#[test]
fn pending_assign_opens_attempt_zero() {
    let mut task = pending();
    assert_eq!(
        task.apply(assign("w1", 10)),
        Ok(step(StateKind::Pending, StateKind::Assigned))
    );
    assert_eq!(attempt(&task).id(), AttemptId::new(0));
    assert_eq!(attempt(&task).worker(), &w("w1"));
    assert_eq!(attempt(&task).assigned_at(), at(10));
    assert_eq!(attempt(&task).state(), StateKind::Assigned);
}

#[test]
fn pending_scheduling_timeout_is_unschedulable_with_the_reason_kept() {
    let mut task = pending();
    let event = TaskEvent::SchedulingTimeout { at: at(99) };
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Pending, StateKind::Unschedulable))
    );
    let AnyTask::Unschedulable(task) = task else {
        panic!("{task:?}")
    };
    assert_eq!(task.error(), Some(SCHEDULING_TIMEOUT_REASON));
    assert_eq!(task.finished_at(), at(99));
    assert!(task.attempts().is_empty());
}

#[test]
fn pending_kill_is_killed() {
    let mut task = pending();
    assert_eq!(
        task.apply(kill(5)),
        Ok(step(StateKind::Pending, StateKind::Killed))
    );
    let AnyTask::Killed(task) = task else {
        panic!("{task:?}")
    };
    assert_eq!(task.error(), Some("cancelled"));
    assert_eq!(task.finished_at(), at(5));
}

#[test]
fn pending_rejects_what_needs_a_worker() {
    let mut task = pending();
    let illegal = |event| TransitionError::Illegal {
        task: id(),
        from: StateKind::Pending,
        event,
    };
    assert_rejected(&mut task, lost("w1", 1), illegal("worker lost"));
    // A report needs an attempt: before the first assignment every report is stale.
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Running, 1),
        TransitionError::StaleAttempt {
            task: id(),
            current: None,
            reported: AttemptId::new(0),
        },
    );
}

// ----- ASSIGNED -----

#[test]
fn assigned_report_building_starts_the_attempt() {
    let mut task = assigned();
    let event = report(0, WorkerReport::Building, 20);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Building))
    );
    assert_eq!(attempt(&task).started_at(), Some(at(20)));
    assert_eq!(attempt(&task).state(), StateKind::Building);
}

#[test]
fn assigned_report_running_starts_the_attempt() {
    let mut task = assigned();
    let event = report(0, WorkerReport::Running, 30);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Running))
    );
    assert_eq!(attempt(&task).started_at(), Some(at(30)));
}

#[test]
fn building_report_running_keeps_the_start_of_the_build() {
    let mut task = building();
    let event = report(0, WorkerReport::Running, 30);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Building, StateKind::Running))
    );
    assert_eq!(attempt(&task).started_at(), Some(at(20)));
    assert_eq!(attempt(&task).state(), StateKind::Running);
}

#[test]
fn assigned_worker_lost_is_a_dispatch_failure_free_of_charge() {
    let mut task = run(pending_with(0, 0), [assign("w1", 10)]);
    assert_eq!(
        task.apply(lost("w1", 15)),
        Ok(step(StateKind::Assigned, StateKind::Pending))
    );
    assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
    let attempt = attempt(&task);
    assert_eq!(attempt.state(), StateKind::WorkerFailed);
    assert!(attempt.is_worker_failure());
    assert_eq!(attempt.started_at(), None);
    assert_eq!(attempt.finished_at(), Some(at(15)));
    assert_eq!(attempt.error(), Some("w1 lost"));
}

#[test]
fn assigned_report_worker_failed_is_a_dispatch_failure_free_of_charge() {
    let mut task = run(pending_with(0, 0), [assign("w1", 10)]);
    let event = report(0, worker_failed("task not found"), 15);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Pending))
    );
    assert_eq!(task.preemption_count(), 0);
    assert_eq!(attempt(&task).started_at(), None);
    assert_eq!(attempt(&task).error(), Some("task not found"));
}

#[test]
fn assigned_kill_closes_the_attempt() {
    let mut task = assigned();
    assert_eq!(
        task.apply(kill(12)),
        Ok(step(StateKind::Assigned, StateKind::Killed))
    );
    assert_eq!(attempt(&task).state(), StateKind::Killed);
    assert_eq!(attempt(&task).finished_at(), Some(at(12)));
}

#[test]
fn assigned_rejects_a_second_assignment_and_a_timeout() {
    let mut task = assigned();
    let illegal = |event| TransitionError::Illegal {
        task: id(),
        from: StateKind::Assigned,
        event,
    };
    assert_rejected(&mut task, assign("w2", 11), illegal("assign"));
    assert_rejected(
        &mut task,
        TaskEvent::SchedulingTimeout { at: at(11) },
        illegal("scheduling timeout"),
    );
}

// ----- skipping forward -----

#[test]
fn assigned_report_succeeded_skips_forward_with_no_start_recorded() {
    let mut task = assigned();
    let event = report(0, WorkerReport::Succeeded, 40);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Succeeded))
    );
    let attempt = attempt(&task);
    // Nobody reported a start, and Iris dates none: the attempt never started.
    assert_eq!(attempt.started_at(), None);
    assert_eq!(attempt.finished_at(), Some(at(40)));
    assert_eq!(attempt.exit_code(), Some(0));
}

#[test]
fn assigned_report_failed_skips_forward_and_spends_the_failure_budget() {
    let mut task = run(pending_with(1, 0), [assign("w1", 10)]);
    let event = report(0, failed(3, "exit 3"), 40);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Pending))
    );
    assert_eq!(task.failure_count(), 1);
    assert_eq!(attempt(&task).started_at(), None, "no start was reported");
    assert_eq!(attempt(&task).exit_code(), Some(3));
    // Such a task encodes and decodes as it is.
    assert_eq!(
        AnyTask::decode(&task.encode_to_vec(), *task.policy()),
        Ok(task.clone())
    );
    // The budget is now spent.
    let mut task = run(task, [assign("w1", 50)]);
    let event = report(1, failed(3, "exit 3"), 60);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Assigned, StateKind::Failed))
    );
}

#[test]
fn building_report_succeeded_skips_forward_through_running() {
    let mut task = building();
    let event = report(0, WorkerReport::Succeeded, 40);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Building, StateKind::Succeeded))
    );
    assert_eq!(attempt(&task).started_at(), Some(at(20)));
    assert_eq!(attempt(&task).finished_at(), Some(at(40)));
}

// ----- BUILDING and RUNNING -----

#[test]
fn running_report_succeeded_closes_the_attempt_with_exit_zero() {
    let mut task = running();
    let event = report(0, WorkerReport::Succeeded, 40);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Running, StateKind::Succeeded))
    );
    let AnyTask::Succeeded(task) = task else {
        panic!("{task:?}")
    };
    assert_eq!(task.exit_code(), Some(0));
    assert_eq!(task.finished_at(), at(40));
}

#[test]
fn executing_report_failed_requeues_while_the_budget_lasts() {
    for from in [StateKind::Building, StateKind::Running] {
        let mut task = started(pending_with(1, 0), from);
        assert_eq!(
            task.apply(report(0, failed(1, "exit 1"), 40)),
            Ok(step(from, StateKind::Pending))
        );
        assert_eq!(attempt(&task).state(), StateKind::Failed);
        assert_eq!(attempt(&task).exit_code(), Some(1));
        assert_eq!(task.failure_count(), 1);
    }
    let mut task = running();
    assert_eq!(
        task.apply(report(0, failed(1, "exit 1"), 40)),
        Ok(step(StateKind::Running, StateKind::Failed))
    );
    let AnyTask::Failed(task) = task else {
        panic!("{task:?}")
    };
    assert_eq!((task.exit_code(), task.error()), (Some(1), Some("exit 1")));
}

#[test]
fn executing_worker_lost_spends_the_preemption_budget() {
    for task in [building(), running()] {
        let from = task.state();
        let mut task = task;
        assert_eq!(
            task.apply(lost("w1", 50)),
            Ok(step(from, StateKind::Pending))
        );
        assert_eq!(task.preemption_count(), 1);
        assert!(attempt(&task).is_preemption());
    }
    // With no preemption budget the task ends.
    let mut task = run(
        pending_with(0, 0),
        [assign("w1", 10), report(0, WorkerReport::Running, 20)],
    );
    assert_eq!(
        task.apply(lost("w1", 30)),
        Ok(step(StateKind::Running, StateKind::WorkerFailed))
    );
}

#[test]
fn executing_report_worker_failed_spends_the_preemption_budget() {
    let mut task = run(
        pending_with(0, 0),
        [assign("w1", 10), report(0, WorkerReport::Building, 20)],
    );
    let event = report(0, worker_failed("disk full"), 30);
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Building, StateKind::WorkerFailed))
    );
    assert_eq!(task.preemption_count(), 1);
}

#[test]
fn executing_kill_closes_the_attempt() {
    for task in [building(), running()] {
        let from = task.state();
        let mut task = task;
        assert_eq!(task.apply(kill(60)), Ok(step(from, StateKind::Killed)));
        assert_eq!(attempt(&task).state(), StateKind::Killed);
        assert_eq!(attempt(&task).error(), Some("cancelled"));
        assert_eq!(attempt(&task).finished_at(), Some(at(60)));
    }
}

#[test]
fn a_report_never_moves_the_attempt_backwards() {
    let mut task = running();
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Building, 40),
        TransitionError::Regression {
            task: id(),
            from: StateKind::Running,
            reported: StateKind::Building,
        },
    );
}

// ----- terminal states -----

#[test]
fn terminal_states_absorb_every_event() {
    let ended = [
        run(running(), [report(0, WorkerReport::Succeeded, 40)]),
        run(running(), [report(0, failed(1, "exit 1"), 40)]),
        run(running(), [kill(40)]),
        run(
            pending_with(0, 0),
            [
                assign("w1", 10),
                report(0, WorkerReport::Running, 20),
                lost("w1", 30),
            ],
        ),
        run(pending(), [TaskEvent::SchedulingTimeout { at: at(1) }]),
        run(
            pending_with(0, 0),
            [
                assign("w1", 10),
                report(0, WorkerReport::Running, 20),
                TaskEvent::Preempt {
                    reason: "priority".into(),
                    at: at(30),
                },
            ],
        ),
        run(running(), [sibling_failed(40)]),
    ];
    let kinds: Vec<StateKind> = ended.iter().map(AnyTask::state).collect();
    assert_eq!(
        kinds,
        StateKind::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect::<Vec<_>>(),
        "every terminal state, ended with and without an attempt"
    );
    for mut task in ended {
        let from = task.state();
        assert!(from.is_terminal());
        let illegal = |event| TransitionError::Illegal {
            task: id(),
            from,
            event,
        };
        assert_rejected(&mut task, assign("w2", 100), illegal("assign"));
        assert_rejected(&mut task, kill(100), illegal("kill"));
        assert_rejected(
            &mut task,
            TaskEvent::SchedulingTimeout { at: at(100) },
            illegal("scheduling timeout"),
        );
        assert_rejected(&mut task, lost("w1", 100), illegal("worker lost"));
        assert_rejected(
            &mut task,
            TaskEvent::Preempt {
                reason: "priority".into(),
                at: at(100),
            },
            illegal("preempt"),
        );
        assert_rejected(&mut task, sibling_failed(100), illegal("sibling failed"));
        assert_rejected(
            &mut task,
            TaskEvent::ExecutionTimeout { at: at(100) },
            illegal("execution timeout"),
        );
        assert_rejected(
            &mut task,
            TaskEvent::SiblingRequeued {
                sibling: "job/task-1".parse().unwrap(),
                at: at(100),
            },
            illegal("sibling requeued"),
        );
        if task.current_attempt().is_some() {
            // A report about the closed attempt that is not a duplicate is stale.
            assert_rejected(
                &mut task,
                report(0, WorkerReport::Running, 100),
                TransitionError::StaleAttempt {
                    task: id(),
                    current: Some(AttemptId::new(0)),
                    reported: AttemptId::new(0),
                },
            );
        }
    }
}

#[test]
fn a_duplicate_terminal_report_is_a_no_op_that_keeps_the_first_outcome() {
    let mut task = run(running(), [report(0, WorkerReport::Succeeded, 40)]);
    assert_duplicate(&mut task, report(0, WorkerReport::Succeeded, 41));

    let mut task = run(running(), [report(0, failed(1, "first"), 40)]);
    assert_duplicate(&mut task, report(0, failed(9, "second"), 41));
    assert_eq!(attempt(&task).exit_code(), Some(1));
    assert_eq!(attempt(&task).error(), Some("first"));
}

#[test]
fn a_killed_task_rejects_the_failure_its_kill_caused_as_stale() {
    let mut task = run(running(), [kill(40)]);
    assert_rejected(
        &mut task,
        report(0, failed(137, "SIGKILL"), 41),
        TransitionError::StaleAttempt {
            task: id(),
            current: Some(AttemptId::new(0)),
            reported: AttemptId::new(0),
        },
    );
}

// ----- reports: stale, duplicate -----

#[test]
fn a_report_for_another_attempt_is_stale_and_changes_nothing() {
    // Attempt 0 was requeued after a dispatch failure; attempt 1 runs.
    let mut task = run(
        pending(),
        [
            assign("w1", 10),
            lost("w1", 11),
            assign("w2", 12),
            report_from("w2", 1, WorkerReport::Running, 13),
        ],
    );
    let stale = |reported| TransitionError::StaleAttempt {
        task: id(),
        current: Some(AttemptId::new(1)),
        reported: AttemptId::new(reported),
    };
    // Hours late, from the worker that lost contact.
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Succeeded, 10_000),
        stale(0),
    );
    assert_rejected(&mut task, report(0, failed(1, "exit 1"), 10_000), stale(0));
    // An attempt that does not exist yet.
    assert_rejected(&mut task, report(2, WorkerReport::Running, 14), stale(2));
}

#[test]
fn stale_is_judged_before_anything_else() {
    // A stale report for a terminal task is stale, not illegal.
    let mut task = run(running(), [report(0, WorkerReport::Succeeded, 40)]);
    assert_rejected(
        &mut task,
        report(7, WorkerReport::Succeeded, 41),
        TransitionError::StaleAttempt {
            task: id(),
            current: Some(AttemptId::new(0)),
            reported: AttemptId::new(7),
        },
    );
}

#[test]
fn running_twice_is_a_duplicate() {
    let mut task = running();
    assert_duplicate(&mut task, report(0, WorkerReport::Running, 35));
    assert_eq!(attempt(&task).started_at(), Some(at(30)));
}

#[test]
fn building_twice_is_a_duplicate() {
    let mut task = building();
    assert_duplicate(&mut task, report(0, WorkerReport::Building, 25));
}

#[test]
fn a_duplicate_end_report_is_accepted_after_the_task_was_requeued() {
    // FAILED with budget left: the task waits, PENDING, for its next assignment.
    let mut task = run(
        pending_with(1, 0),
        [
            assign("w1", 10),
            report(0, WorkerReport::Running, 20),
            report(0, failed(2, "exit 2"), 30),
        ],
    );
    assert_eq!(task.state(), StateKind::Pending);
    assert_duplicate(&mut task, report(0, failed(2, "exit 2"), 31));
    assert_eq!(
        task.failure_count(),
        1,
        "a duplicate must not charge the budget twice"
    );

    // A dispatch failure reported again by the worker.
    let mut task = run(
        pending(),
        [
            assign("w1", 10),
            report(0, worker_failed("task not found"), 11),
        ],
    );
    assert_duplicate(&mut task, report(0, worker_failed("task not found"), 12));
    // Any other report about the closed attempt is stale.
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Running, 13),
        TransitionError::StaleAttempt {
            task: id(),
            current: Some(AttemptId::new(0)),
            reported: AttemptId::new(0),
        },
    );
}

#[test]
fn a_late_report_about_a_closed_attempt_is_stale_before_and_after_the_task_is_reassigned() {
    // Attempt 0 lost its worker while running and was requeued; its SUCCEEDED arrives late.
    let late = report(0, WorkerReport::Succeeded, 50);
    let mut waiting = run(running(), [lost("w1", 40)]);
    assert_eq!(waiting.state(), StateKind::Pending);
    let stale = |current| TransitionError::StaleAttempt {
        task: id(),
        current: Some(AttemptId::new(current)),
        reported: AttemptId::new(0),
    };
    assert_rejected(&mut waiting, late.clone(), stale(0));
    let mut reassigned = run(waiting, [assign("w2", 45)]);
    assert_rejected(&mut reassigned, late, stale(1));
}

// ----- reports: the sender -----

#[test]
fn a_report_from_another_worker_is_rejected_and_changes_nothing() {
    for mut task in [assigned(), building(), running()] {
        let state = task.state();
        for report in [
            WorkerReport::Running,
            WorkerReport::Succeeded,
            failed(1, "exit 1"),
            worker_failed("disk"),
        ] {
            assert_rejected(
                &mut task,
                report_from("w2", 0, report, 50),
                TransitionError::WrongWorker {
                    task: id(),
                    current: Some(w("w1")),
                    reported: w("w2"),
                },
            );
        }
        assert_eq!(task.state(), state);
    }
    // Also when the report would be a duplicate, or is about a closed attempt.
    let mut done = run(running(), [report(0, WorkerReport::Succeeded, 40)]);
    assert_rejected(
        &mut done,
        report_from("w2", 0, WorkerReport::Succeeded, 41),
        TransitionError::WrongWorker {
            task: id(),
            current: Some(w("w1")),
            reported: w("w2"),
        },
    );
}

#[test]
fn a_stale_report_is_stale_whichever_worker_sent_it() {
    let mut task = running();
    assert_rejected(
        &mut task,
        report_from("w2", 3, WorkerReport::Succeeded, 50),
        TransitionError::StaleAttempt {
            task: id(),
            current: Some(AttemptId::new(0)),
            reported: AttemptId::new(3),
        },
    );
}

#[test]
fn a_report_from_another_worker_is_rejected_when_decoded_from_bytes() {
    use iris_task::proto;
    use prost::Message;

    let bytes = |worker: &str| {
        proto::ReportTaskStateRequest {
            worker_id: worker.into(),
            task_id: "job/task-0".into(),
            job_id: "job".into(),
            task_index: 0,
            state: proto::TaskState::Succeeded as i32,
            attempt_id: 0,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let mut task = running();
    let (task_id, event) = TaskEvent::decode_report(&bytes("w2"), at(50)).unwrap();
    assert_eq!(task_id, id());
    assert_rejected(
        &mut task,
        event,
        TransitionError::WrongWorker {
            task: id(),
            current: Some(w("w1")),
            reported: w("w2"),
        },
    );
    let (_, event) = TaskEvent::decode_report(&bytes("w1"), at(50)).unwrap();
    assert_eq!(
        task.apply(event),
        Ok(step(StateKind::Running, StateKind::Succeeded))
    );
}

// ----- time never goes backwards -----

/// Every event a task in each state accepts, at time `t`.
fn accepted_events(state: StateKind, t: i64) -> Vec<TaskEvent> {
    match state {
        StateKind::Pending => vec![
            assign("w1", t),
            kill(t),
            TaskEvent::SchedulingTimeout { at: at(t) },
        ],
        StateKind::Assigned => [
            report(0, WorkerReport::Building, t),
            report(0, WorkerReport::Running, t),
        ]
        .into_iter()
        .chain(endings(t))
        .collect(),
        // RUNNING twice is a duplicate, absorbed whatever its time.
        StateKind::Building => [
            report(0, WorkerReport::Running, t),
            TaskEvent::ExecutionTimeout { at: at(t) },
        ]
        .into_iter()
        .chain(endings(t))
        .collect(),
        StateKind::Running => [TaskEvent::ExecutionTimeout { at: at(t) }]
            .into_iter()
            .chain(endings(t))
            .collect(),
        _ => endings(t),
    }
}

/// Every event that ends the open attempt of an active task on w1, at `t`.
fn endings(t: i64) -> Vec<TaskEvent> {
    vec![
        report(0, WorkerReport::Succeeded, t),
        report(0, failed(1, "exit 1"), t),
        report(0, worker_failed("oom"), t),
        report(
            0,
            WorkerReport::Preempted {
                error: "evicted".into(),
            },
            t,
        ),
        report(
            0,
            WorkerReport::Killed {
                error: "OOM".into(),
            },
            t,
        ),
        report(0, WorkerReport::Missing, t),
        lost("w1", t),
        kill(t),
        TaskEvent::Preempt {
            reason: "priority".into(),
            at: at(t),
        },
        sibling_failed(t),
        TaskEvent::SiblingRequeued {
            sibling: "job/task-1".parse().unwrap(),
            at: at(t),
        },
    ]
}

fn sibling_failed(t: i64) -> TaskEvent {
    TaskEvent::SiblingFailed {
        sibling: "job/task-1".parse().unwrap(),
        at: at(t),
    }
}

#[test]
fn an_event_earlier_than_the_task_records_is_rejected_and_changes_nothing() {
    // A requeued task (its attempt finished at 40), and tasks assigned at 10 / started at 20, 30.
    let requeued = run(running(), [lost("w1", 40)]);
    for (task, latest) in [
        (requeued, 40),
        (assigned(), 10),
        (building(), 20),
        (running(), 30),
    ] {
        for event in accepted_events(task.state(), latest - 1) {
            let mut task = task.clone();
            let expected = TransitionError::TimeWentBackwards {
                task: id(),
                latest: at(latest),
                at: event.at(),
            };
            assert_rejected(&mut task, event, expected);
        }
        // Equal times are allowed.
        for event in accepted_events(task.state(), latest) {
            let mut task = task.clone();
            let name = event.name();
            assert!(task.apply(event).is_ok(), "{name} at the latest time");
        }
    }
}

#[test]
fn illegal_is_judged_before_time() {
    let mut task = running();
    assert_rejected(
        &mut task,
        assign("w2", 1),
        TransitionError::Illegal {
            task: id(),
            from: StateKind::Running,
            event: "assign",
        },
    );
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Building, 1),
        TransitionError::Regression {
            task: id(),
            from: StateKind::Running,
            reported: StateKind::Building,
        },
    );
}

#[test]
fn a_worker_clock_behind_cannot_finish_an_attempt_before_it_started() {
    // Assigned and started at 2100 by the controller's clock; the worker says 1500.
    let mut task = run(
        pending(),
        [assign("w1", 2_100), report(0, WorkerReport::Running, 2_100)],
    );
    assert_rejected(
        &mut task,
        report(0, WorkerReport::Succeeded, 1_500),
        TransitionError::TimeWentBackwards {
            task: id(),
            latest: at(2_100),
            at: at(1_500),
        },
    );
    // Every task the crate builds can be saved and loaded.
    let task = run(task, [report(0, WorkerReport::Succeeded, 2_200)]);
    assert_eq!(
        AnyTask::decode(&task.encode_to_vec(), RetryPolicy::default()).unwrap(),
        task
    );
}

// ----- worker loss -----

#[test]
fn the_loss_of_another_worker_is_rejected() {
    for mut task in [assigned(), building(), running()] {
        assert_rejected(
            &mut task,
            lost("w9", 50),
            TransitionError::WrongWorker {
                task: id(),
                current: Some(w("w1")),
                reported: w("w9"),
            },
        );
    }
}

// ----- messages -----

#[test]
fn errors_read_as_sentences_naming_the_task_states_and_ids() {
    let stale = TransitionError::StaleAttempt {
        task: id(),
        current: Some(AttemptId::new(2)),
        reported: AttemptId::new(1),
    };
    assert_eq!(
        stale.to_string(),
        "task job/task-0: the report for attempt 1 is stale; the current attempt is 2"
    );
    let none = TransitionError::StaleAttempt {
        task: id(),
        current: None,
        reported: AttemptId::new(0),
    };
    assert_eq!(
        none.to_string(),
        "task job/task-0: the report for attempt 0 is stale; the task has not been assigned yet"
    );
    let ended = TransitionError::StaleAttempt {
        task: id(),
        current: Some(AttemptId::new(3)),
        reported: AttemptId::new(3),
    };
    assert_eq!(
        ended.to_string(),
        "task job/task-0: the report for attempt 3 is stale; that attempt has ended"
    );
    let wrong = TransitionError::WrongWorker {
        task: id(),
        current: Some(w("w1")),
        reported: w("w2"),
    };
    assert_eq!(
        wrong.to_string(),
        "task job/task-0: worker w2 does not hold it; its worker is w1"
    );
    let backwards = TransitionError::TimeWentBackwards {
        task: id(),
        latest: at(2_100),
        at: at(1_500),
    };
    assert_eq!(
        backwards.to_string(),
        "task job/task-0: an event at 1500ms is earlier than 2100ms, which the task already records"
    );
    let back = TransitionError::Regression {
        task: id(),
        from: StateKind::Running,
        reported: StateKind::Building,
    };
    assert_eq!(
        back.to_string(),
        "task job/task-0 is running: a building report would move its attempt backwards"
    );
    let illegal = TransitionError::Illegal {
        task: id(),
        from: StateKind::Succeeded,
        event: "kill",
    };
    assert_eq!(
        illegal.to_string(),
        "task job/task-0 is succeeded: kill does not apply to a succeeded task"
    );
}

#[test]
fn runtime_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AnyTask>();
    assert_send_sync::<TaskEvent>();
    assert_send_sync::<TransitionError>();
    assert_send_sync::<iris_task::TaskTable>();
    assert_send_sync::<iris_task::TableError>();
}

#[test]
fn a_duplicate_is_accepted_whatever_its_time() {
    // RUNNING again, stamped before the start; SUCCEEDED again, stamped before the finish.
    let mut task = running();
    assert_duplicate(&mut task, report(0, WorkerReport::Running, 1));
    let mut task = run(running(), [report(0, WorkerReport::Succeeded, 40)]);
    assert_duplicate(&mut task, report(0, WorkerReport::Succeeded, 39));
}

#[test]
fn a_late_report_about_a_closed_attempt_from_another_worker_is_wrong_worker() {
    // Not a duplicate (RUNNING after SUCCEEDED), and from w2 about w1's attempt: the sender is
    // judged before the closed attempt.
    let mut task = run(running(), [report(0, WorkerReport::Succeeded, 40)]);
    assert_rejected(
        &mut task,
        report_from("w2", 0, WorkerReport::Running, 41),
        TransitionError::WrongWorker {
            task: id(),
            current: Some(w("w1")),
            reported: w("w2"),
        },
    );
}

#[test]
fn the_loss_of_any_worker_is_illegal_for_a_task_that_holds_none() {
    let requeued = run(running(), [lost("w1", 40)]);
    let ended = run(running(), [kill(40)]);
    for mut task in [pending(), requeued, ended] {
        let from = task.state();
        for worker in ["w1", "w9"] {
            assert_rejected(
                &mut task,
                lost(worker, 50),
                TransitionError::Illegal {
                    task: id(),
                    from,
                    event: "worker lost",
                },
            );
        }
    }
}
