//! The protobuf layer: typed → wire, wire → typed with its rejection rules, worker reports, job
//! status, and decoding that never panics.

mod common;

use iris_task::{
    AnyTask, Assigned, AttemptId, IdError, IdKind, JobId, JobPolicy, Pending, ProtoError,
    RetryPolicy, Running, StateKind, Task, TaskEvent, TaskId, TaskTable, Timestamp, WorkerId,
    WorkerReport, proto,
};
use proptest::prelude::*;
use prost::Message;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn id() -> TaskId {
    "train/shard/task-3".parse().unwrap()
}

fn new_task() -> Task<Pending> {
    Task::new(id(), RetryPolicy::default())
}

/// Attempt 0 was a dispatch failure on w1; attempt 1 runs on w2.
fn running() -> Task<Running> {
    new_task()
        .assign(w("w1"), at(100))
        .worker_failed("connection refused", at(150))
        .assign(w("w2"), at(200))
        .build(at(250))
        .start(at(300))
}

fn status_of(task: impl Into<AnyTask>) -> proto::TaskStatus {
    proto::TaskStatus::from(&task.into())
}

fn decode(status: proto::TaskStatus) -> Result<AnyTask, ProtoError> {
    AnyTask::from_proto(status, RetryPolicy::default())
}

fn inconsistent_field(result: Result<AnyTask, ProtoError>) -> String {
    match result {
        Err(ProtoError::Inconsistent { field, .. }) => field,
        other => panic!("expected an inconsistency, got {other:?}"),
    }
}

// ----- typed → wire -----

#[test]
fn a_pending_task_before_its_first_assignment() {
    let status = status_of(new_task());
    assert_eq!(status.task_id, "train/shard/task-3");
    assert_eq!(status.job_id, "train/shard");
    assert_eq!(status.task_index, 3);
    assert_eq!(status.state, proto::TaskState::Pending as i32);
    assert_eq!(status.worker_id, "");
    assert_eq!(status.current_attempt_id, -1);
    assert!(status.attempts.is_empty());
    assert!(status.can_be_scheduled);
    assert_eq!((status.started_at_ms, status.finished_at_ms), (None, None));
    assert_eq!((status.exit_code, status.error.as_str()), (0, ""));
}

#[test]
fn a_running_task_shows_every_attempt_and_its_current_worker() {
    let task = running();
    let uids: Vec<String> = task
        .attempts()
        .iter()
        .map(|a| a.uid().to_string())
        .collect();
    let status = status_of(task);
    assert_eq!(status.state, proto::TaskState::Running as i32);
    assert_eq!(status.worker_id, "w2");
    assert_eq!(status.current_attempt_id, 1);
    assert_eq!(status.started_at_ms, Some(250));
    assert_eq!(status.finished_at_ms, None);
    assert!(!status.can_be_scheduled);
    let expected = [
        proto::TaskAttempt {
            attempt_id: 0,
            worker_id: "w1".into(),
            state: proto::TaskState::WorkerFailed as i32,
            exit_code: 0,
            error: "connection refused".into(),
            started_at_ms: None,
            finished_at_ms: Some(150),
            is_worker_failure: true,
            assigned_at_ms: Some(100),
            attempt_uid: Some(uids[0].clone()),
            awaiting_stop: false,
        },
        proto::TaskAttempt {
            attempt_id: 1,
            worker_id: "w2".into(),
            state: proto::TaskState::Running as i32,
            exit_code: 0,
            error: String::new(),
            started_at_ms: Some(250),
            finished_at_ms: None,
            is_worker_failure: false,
            assigned_at_ms: Some(200),
            attempt_uid: Some(uids[1].clone()),
            awaiting_stop: false,
        },
    ];
    assert_eq!(status.attempts, expected);
}

#[test]
fn an_assigned_task_is_nine_on_the_wire_and_not_schedulable() {
    let status = status_of(new_task().assign(w("w1"), at(1)));
    assert_eq!(status.state, 9);
    assert!(!status.can_be_scheduled);
    assert_eq!(status.attempts[0].state, 9);
}

#[test]
fn a_terminal_task_reports_its_outcome_at_task_level() {
    let failed = match running().fail(137, "OOM", at(400)) {
        iris_task::Retry::Exhausted(task) => task,
        other => panic!("{other:?}"),
    };
    let status = status_of(failed);
    assert_eq!((status.exit_code, status.error.as_str()), (137, "OOM"));
    assert_eq!(status.finished_at_ms, Some(400));
    assert_eq!(
        status.worker_id, "w2",
        "the worker is kept after the attempt closes"
    );

    let status = status_of(new_task().mark_unschedulable("needs 8 GPUs", at(9)));
    assert_eq!(status.state, proto::TaskState::Unschedulable as i32);
    assert_eq!(
        (status.error.as_str(), status.finished_at_ms),
        ("needs 8 GPUs", Some(9))
    );

    let status = status_of(running().succeed(at(500)));
    assert_eq!((status.exit_code, status.finished_at_ms), (0, Some(500)));
}

#[test]
fn a_requeued_task_shows_why_its_last_attempt_ended() {
    let status = status_of(
        new_task()
            .assign(w("w1"), at(1))
            .worker_failed("refused", at(2)),
    );
    assert_eq!(status.state, proto::TaskState::Pending as i32);
    assert_eq!(status.error, "refused");
    assert_eq!(status.worker_id, "w1");
    assert_eq!(status.current_attempt_id, 0);
    assert!(status.can_be_scheduled);
}

#[test]
fn indexes_beyond_i32_round_trip_bit_for_bit() {
    let task = Task::new(
        TaskId::new(JobId::new("j").unwrap(), u32::MAX),
        RetryPolicy::default(),
    );
    let status = status_of(task.clone());
    assert_eq!(status.task_index, -1);
    assert_eq!(
        Task::<Pending>::from_proto(status, RetryPolicy::default()),
        Ok(task)
    );
}

#[test]
fn epoch_and_negative_times_survive_a_round_trip() {
    let task = new_task()
        .assign(w("w1"), at(-10))
        .start(at(0))
        .succeed(at(0))
        .into_any();
    assert_eq!(
        AnyTask::decode(&task.encode_to_vec(), RetryPolicy::default()),
        Ok(task)
    );
}

// ----- wire → typed: round trips -----

proptest! {
    #[test]
    fn every_reachable_task_round_trips_through_the_wire(task in common::task()) {
        let policy = *task.policy();
        let status = proto::TaskStatus::from(&task);
        prop_assert_eq!(AnyTask::from_proto(status.clone(), policy), Ok(task.clone()));
        prop_assert_eq!(AnyTask::decode(&task.encode_to_vec(), policy), Ok(task.clone()));
        // The typed decode of the right state agrees; of any other, it refuses.
        prop_assert_eq!(typed_round_trip(&task, status.clone()), Ok(true));
    }
}

/// Decodes `status` as `Task<Pending>` and `Task<Assigned>`: exactly the matching one succeeds.
fn typed_round_trip(task: &AnyTask, status: proto::TaskStatus) -> Result<bool, ProtoError> {
    let policy = *task.policy();
    let pending = Task::<Pending>::from_proto(status.clone(), policy);
    let assigned = Task::<Assigned>::from_proto(status, policy);
    match task {
        AnyTask::Pending(t) => {
            Ok(pending? == *t && matches!(assigned, Err(ProtoError::WrongState { .. })))
        }
        AnyTask::Assigned(t) => {
            Ok(assigned? == *t && matches!(pending, Err(ProtoError::WrongState { .. })))
        }
        _ => Ok(matches!(pending, Err(ProtoError::WrongState { .. }))
            && matches!(assigned, Err(ProtoError::WrongState { .. }))),
    }
}

#[test]
fn a_typed_decode_of_the_wrong_state_is_an_error_not_a_conversion() {
    let status = status_of(running());
    assert_eq!(
        Task::<Assigned>::from_proto(status, RetryPolicy::default()),
        Err(ProtoError::WrongState {
            field: "TaskStatus.state".into(),
            expected: StateKind::Assigned,
            found: StateKind::Running,
        })
    );
}

#[test]
fn the_policy_comes_from_the_caller_and_budgets_are_not_rechecked() {
    // Three failures recorded; a policy that allows none still decodes the pending task.
    let mut task = Task::new(
        id(),
        RetryPolicy {
            max_retries_failure: 5,
            max_retries_preemption: 0,
        },
    );
    for round in 0..3 {
        let running = task
            .assign(w("w1"), at(round * 10))
            .start(at(round * 10 + 1));
        task = match running.fail(1, "exit 1", at(round * 10 + 2)) {
            iris_task::Retry::Requeued(task) => task,
            other => panic!("{other:?}"),
        };
    }
    let strict = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    let decoded = Task::<Pending>::from_proto(status_of(task), strict).unwrap();
    assert_eq!(decoded.failure_count(), 3);
    assert_eq!(decoded.policy(), &strict);
}

#[test]
fn a_status_from_an_iris_peer_decodes_without_assigned_at() {
    // Iris sends no field 100, and fields this crate does not model.
    let mut status = status_of(running());
    for attempt in &mut status.attempts {
        attempt.assigned_at_ms = None;
    }
    status.worker_address = "10.0.0.7:8080".into();
    status.ports.insert("http".into(), 8080);
    status.pending_reason = "ignored".into();
    // Its open attempt has no assignment time: `from_proto` says so rather than guess.
    assert!(matches!(
        decode(status.clone()),
        Err(ProtoError::Missing { field, .. }) if field == "TaskStatus.attempts[1].assigned_at_ms"
    ));
    let task = AnyTask::from_proto_received(status, RetryPolicy::default(), at(5_000)).unwrap();
    assert_eq!(task.state(), StateKind::Running);
    // A closed attempt falls back to its start, else its finish.
    assert_eq!(task.attempts()[0].assigned_at(), at(150));
    // An open one is dated on receipt, but never after its own start.
    assert_eq!(task.attempts()[1].assigned_at(), at(250));
}

#[test]
fn an_assigned_status_from_an_iris_peer_is_never_dated_at_the_epoch() {
    let dispatched = new_task().assign(w("w1"), at(1_000_000));
    let mut status = status_of(dispatched);
    status.attempts[0].assigned_at_ms = None;
    let err = decode(status.clone()).unwrap_err();
    assert!(
        matches!(&err, ProtoError::Missing { field, .. } if field == "TaskStatus.attempts[0].assigned_at_ms"),
        "{err}"
    );
    assert!(err.to_string().contains("from_proto_received"), "{err}");

    // Received at 1_000_500: its dispatch deadline counts from then, not from 1970.
    let received = at(1_000_500);
    let task = AnyTask::decode_received(&status.encode_to_vec(), RetryPolicy::default(), received)
        .unwrap();
    assert_eq!(task.current_attempt().unwrap().assigned_at(), received);
    let mut table = iris_task::TaskTable::new();
    table.insert(task).unwrap();
    let deadline = std::time::Duration::from_secs(30);
    assert!(table.expire_assigned(at(1_001_000), deadline).is_empty());
    assert_eq!(table.expire_assigned(at(1_030_501), deadline).len(), 1);
}

#[test]
fn a_received_open_attempt_is_never_dated_before_the_previous_attempt_finished() {
    // The first attempt failed at 150; the peer's second attempt is open, and our clock says 120.
    let mut status = status_of(
        new_task()
            .assign(w("w1"), at(100))
            .worker_failed("lost", at(150))
            .assign(w("w2"), at(200)),
    );
    status.attempts[1].assigned_at_ms = None;
    let task = AnyTask::from_proto_received(status, RetryPolicy::default(), at(120)).unwrap();
    assert_eq!(task.current_attempt().unwrap().assigned_at(), at(150));
}

#[test]
fn rejects_times_that_go_backwards() {
    // An attempt that started before it was assigned.
    let mut status = status_of(running());
    status.attempts[1].started_at_ms = Some(199);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].started_at_ms"
    );
    // One that finished before it started: what a worker clock that runs behind once produced.
    let mut status = status_of(running().kill("stop", at(400)));
    status.attempts[1].finished_at_ms = Some(240);
    status.finished_at_ms = Some(240);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].finished_at_ms"
    );
    // An attempt assigned before the one before it finished.
    let mut status = status_of(running());
    status.attempts[1].assigned_at_ms = Some(149);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].assigned_at_ms"
    );
    // A task that ended before its last attempt.
    let mut status = status_of(
        new_task()
            .assign(w("w1"), at(100))
            .worker_failed("lost", at(150))
            .kill("stop", at(160)),
    );
    status.finished_at_ms = Some(140);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.finished_at_ms"
    );
    // A task that ended with its attempt, whose own finish time says otherwise: refused, not
    // silently replaced by the attempt's (absent, as from some peers, is fine).
    let done = new_task()
        .assign(w("w1"), at(100))
        .start(at(200))
        .succeed(at(500));
    let mut status = status_of(done.clone());
    status.finished_at_ms = Some(1);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.finished_at_ms"
    );
    let mut status = status_of(done.clone());
    status.finished_at_ms = None;
    assert_eq!(decode(status).unwrap(), done.into_any());
    // A peer's attempt (no assigned_at_ms) that started before the one before it finished: the
    // error names the field the peer did send.
    let mut status = status_of(running());
    status.attempts[1].assigned_at_ms = None;
    status.attempts[1].started_at_ms = Some(140);
    let err = AnyTask::from_proto_received(status, RetryPolicy::default(), at(1_000));
    assert_eq!(
        inconsistent_field(err),
        "TaskStatus.attempts[1].started_at_ms"
    );
    // Equal times are fine.
    let task = new_task()
        .assign(w("w1"), at(7))
        .start(at(7))
        .succeed(at(7))
        .into_any();
    assert_eq!(decode(status_of(task.clone())).unwrap(), task);
}

#[test]
fn an_iris_killed_attempt_may_carry_the_signal_which_is_not_modelled() {
    let mut status = status_of(running().kill("cancelled", at(400)));
    status.attempts[1].exit_code = 137;
    let task = decode(status).unwrap();
    assert_eq!(task.attempts()[1].exit_code(), None);
}

// ----- wire → typed: every rejection rule -----

#[test]
fn rejects_bytes_that_are_not_a_task_status() {
    let err = AnyTask::decode(&[0x0a, 0xff, 0x01], RetryPolicy::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::Decode {
                message: "TaskStatus",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("the bytes are not a valid TaskStatus")
    );
}

#[test]
fn rejects_an_unspecified_or_unknown_task_state() {
    let mut status = status_of(new_task());
    status.state = 0;
    assert_eq!(
        decode(status.clone()),
        Err(ProtoError::UnspecifiedState {
            field: "TaskStatus.state".into()
        })
    );
    status.state = 12;
    assert_eq!(
        decode(status.clone()),
        Err(ProtoError::ReportOnlyState {
            field: "TaskStatus.state".into()
        }),
        "MISSING is never stored"
    );
    status.state = 13;
    assert_eq!(
        decode(status),
        Err(ProtoError::UnknownState {
            field: "TaskStatus.state".into(),
            value: 13
        })
    );
}

#[test]
fn rejects_an_unknown_attempt_state() {
    let mut status = status_of(running());
    status.attempts[0].state = 42;
    assert_eq!(
        decode(status),
        Err(ProtoError::UnknownState {
            field: "TaskStatus.attempts[0].state".into(),
            value: 42
        })
    );
}

#[test]
fn rejects_a_malformed_task_id() {
    let mut status = status_of(new_task());
    status.task_id = "train/shard/task-x".into();
    let err = decode(status).unwrap_err();
    assert!(
        matches!(
            &err,
            ProtoError::InvalidId { field, source: IdError::BadTaskIndex { .. } } if field == "TaskStatus.task_id"
        ),
        "{err}"
    );
}

#[test]
fn rejects_a_task_id_that_disagrees_with_job_id_or_index() {
    let mut status = status_of(new_task());
    status.job_id = "train".into();
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.job_id");
    let mut status = status_of(new_task());
    status.task_index = 4;
    let err = decode(status).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TaskStatus.task_index: is 4, but task_id \"train/shard/task-3\" has index 3"
    );
}

#[test]
fn rejects_attempt_ids_that_are_not_0_1_2() {
    let mut status = status_of(running());
    status.attempts[1].attempt_id = 2;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].attempt_id"
    );
    let mut status = status_of(running());
    status.attempts.swap(0, 1);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[0].attempt_id"
    );
}

#[test]
fn rejects_an_open_attempt_that_is_not_the_last() {
    let mut status = status_of(running());
    status.attempts[0] = status.attempts[1].clone();
    status.attempts[0].attempt_id = 0;
    status.attempts[0].attempt_uid = Some("00000000000000ff".into());
    let err = decode(status).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TaskStatus.attempts[0].state: attempt 0 is still open (running), but attempt 1 follows it: only the last attempt may be open"
    );
}

#[test]
fn rejects_an_attempt_after_one_that_ended_its_task() {
    let mut status = status_of(running());
    status.attempts[0].state = proto::TaskState::Killed as i32;
    status.attempts[0].is_worker_failure = false;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[0].state"
    );
}

#[test]
fn rejects_an_attempt_state_that_contradicts_the_task_state() {
    // RUNNING task, BUILDING attempt.
    let mut status = status_of(running());
    status.attempts[1].state = proto::TaskState::Building as i32;
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.state");
    // SUCCEEDED task whose attempt failed.
    let mut status = status_of(running().succeed(at(400)));
    status.attempts[1].state = proto::TaskState::Failed as i32;
    status.attempts[1].exit_code = 1;
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.state");
    // An attempt is never PENDING.
    let mut status = status_of(running());
    status.attempts[0].state = proto::TaskState::Pending as i32;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[0].state"
    );
}

#[test]
fn rejects_an_active_task_without_an_open_attempt() {
    let mut status = status_of(running());
    status.state = proto::TaskState::Assigned as i32;
    status.attempts.truncate(1);
    status.current_attempt_id = 0;
    status.worker_id = "w1".into();
    let err = decode(status).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TaskStatus.state: a assigned task needs an open assigned attempt, but its last attempt is worker_failed"
    );
}

#[test]
fn rejects_a_pending_task_with_an_open_attempt() {
    let mut status = status_of(running());
    status.state = proto::TaskState::Pending as i32;
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.state");
}

#[test]
fn rejects_an_attempt_without_a_worker() {
    let mut status = status_of(running());
    status.attempts[0].worker_id = String::new();
    assert_eq!(
        decode(status),
        Err(ProtoError::InvalidId {
            field: "TaskStatus.attempts[0].worker_id".into(),
            source: IdError::Empty {
                kind: IdKind::Worker
            },
        })
    );
}

#[test]
fn rejects_a_wrong_current_attempt_id() {
    for wrong in [-1, 0, 2, 7] {
        let mut status = status_of(running());
        status.current_attempt_id = wrong;
        assert_eq!(
            inconsistent_field(decode(status)),
            "TaskStatus.current_attempt_id",
            "{wrong}"
        );
    }
    let mut status = status_of(new_task());
    status.current_attempt_id = 0;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.current_attempt_id"
    );
}

#[test]
fn rejects_a_task_worker_that_is_not_the_current_attempts() {
    let mut status = status_of(running());
    status.worker_id = "w1".into();
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.worker_id");
    let mut status = status_of(new_task());
    status.worker_id = "w1".into();
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.worker_id");
}

#[test]
fn rejects_missing_or_impossible_attempt_times() {
    let mut status = status_of(running());
    status.attempts[0].finished_at_ms = None;
    assert!(
        matches!(decode(status), Err(ProtoError::Missing { field, .. }) if field == "TaskStatus.attempts[0].finished_at_ms")
    );
    let mut status = status_of(running());
    status.attempts[1].finished_at_ms = Some(999);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].finished_at_ms"
    );
    let mut status = status_of(running());
    status.attempts[1].started_at_ms = None;
    assert!(
        matches!(decode(status), Err(ProtoError::Missing { field, .. }) if field == "TaskStatus.attempts[1].started_at_ms")
    );
    let mut status = status_of(new_task().assign(w("w1"), at(1)));
    status.attempts[0].started_at_ms = Some(2);
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[0].started_at_ms"
    );
}

#[test]
fn rejects_a_worker_failure_flag_that_contradicts_the_attempt_state() {
    let mut status = status_of(running());
    status.attempts[0].is_worker_failure = false;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[0].is_worker_failure"
    );
    let mut status = status_of(running());
    status.attempts[1].is_worker_failure = true;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].is_worker_failure"
    );
}

#[test]
fn rejects_a_succeeded_attempt_with_a_non_zero_exit_code() {
    let mut status = status_of(running().succeed(at(400)));
    status.attempts[1].exit_code = 3;
    assert_eq!(
        inconsistent_field(decode(status)),
        "TaskStatus.attempts[1].exit_code"
    );
}

#[test]
fn rejects_a_worker_failed_task_that_ended_on_a_dispatch_failure() {
    let mut status = status_of(
        new_task()
            .assign(w("w1"), at(1))
            .worker_failed("refused", at(2)),
    );
    status.state = proto::TaskState::WorkerFailed as i32;
    status.finished_at_ms = Some(2);
    assert_eq!(inconsistent_field(decode(status)), "TaskStatus.state");
}

#[test]
fn rejects_a_task_that_ended_while_pending_without_its_finish_time() {
    let mut status = status_of(new_task().kill("cancelled", at(5)));
    status.finished_at_ms = None;
    assert!(
        matches!(decode(status), Err(ProtoError::Missing { field, .. }) if field == "TaskStatus.finished_at_ms")
    );
}

// ----- worker reports -----

fn report(state: proto::TaskState) -> proto::ReportTaskStateRequest {
    proto::ReportTaskStateRequest {
        worker_id: "w2".into(),
        task_id: "train/shard/task-3".into(),
        job_id: "train/shard".into(),
        task_index: 3,
        state: state as i32,
        exit_code: 0,
        error: String::new(),
        finished_at_ms: 0,
        attempt_id: 1,
    }
}

#[test]
fn reports_become_events_for_the_named_attempt() {
    let received = at(1_000);
    let expect = |state, event_report, event_at| {
        let (task, event) = TaskEvent::from_report(report(state), received).unwrap();
        assert_eq!(task, id());
        assert_eq!(
            event,
            TaskEvent::Report {
                worker: w("w2"),
                attempt: AttemptId::new(1),
                report: event_report,
                at: event_at
            }
        );
    };
    expect(proto::TaskState::Building, WorkerReport::Building, received);
    expect(proto::TaskState::Running, WorkerReport::Running, received);
    expect(
        proto::TaskState::Succeeded,
        WorkerReport::Succeeded,
        received,
    );

    let mut failed = report(proto::TaskState::Failed);
    failed.exit_code = 2;
    failed.error = "exit 2".into();
    failed.finished_at_ms = 990;
    let (_, event) = TaskEvent::from_report(failed, received).unwrap();
    assert_eq!(
        event,
        TaskEvent::Report {
            worker: w("w2"),
            attempt: AttemptId::new(1),
            report: WorkerReport::Failed {
                exit_code: 2,
                error: "exit 2".into()
            },
            at: received,
        },
        "every report is stamped with the controller's receive time, not the worker's clock"
    );

    let mut lost = report(proto::TaskState::WorkerFailed);
    lost.error = "disk full".into();
    let (_, event) = TaskEvent::from_report(lost, received).unwrap();
    assert_eq!(
        event,
        TaskEvent::Report {
            worker: w("w2"),
            attempt: AttemptId::new(1),
            report: WorkerReport::WorkerFailed {
                error: "disk full".into()
            },
            at: received
        }
    );
}

#[test]
fn reports_of_controller_states_are_rejected() {
    for state in [
        proto::TaskState::Pending,
        proto::TaskState::Assigned,
        proto::TaskState::Unschedulable,
        proto::TaskState::CoschedFailed,
    ] {
        let err = TaskEvent::from_report(report(state), at(1)).unwrap_err();
        assert!(
            matches!(err, ProtoError::NotReportable { .. }),
            "{state:?}: {err}"
        );
    }
    assert_eq!(
        TaskEvent::from_report(report(proto::TaskState::Unspecified), at(1)),
        Err(ProtoError::UnspecifiedState {
            field: "ReportTaskStateRequest.state".into()
        })
    );
    let mut newer = report(proto::TaskState::Running);
    newer.state = 13;
    assert!(matches!(
        TaskEvent::from_report(newer, at(1)),
        Err(ProtoError::UnknownState { value: 13, .. })
    ));
    assert_eq!(
        TaskEvent::from_report(report(proto::TaskState::CoschedFailed), at(1))
            .unwrap_err()
            .to_string(),
        "ReportTaskStateRequest.state: workers report BUILDING, RUNNING, SUCCEEDED, FAILED, WORKER_FAILED, PREEMPTED, KILLED or MISSING, not cosched_failed"
    );
}

/// 0.2: KILLED (6), PREEMPTED (10) and MISSING (12) in a report are worker-side endings, each its
/// own `WorkerReport`, and `ReportTaskStateRequest::new` writes them back with the same numbers.
#[test]
fn reports_of_today_s_iris_become_their_events_and_back() {
    let received = at(1_000);
    let cases = [
        (
            proto::TaskState::Killed,
            "OOM killer",
            WorkerReport::Killed {
                error: "OOM killer".into(),
            },
        ),
        (
            proto::TaskState::Preempted,
            "evicted",
            WorkerReport::Preempted {
                error: "evicted".into(),
            },
        ),
        (proto::TaskState::Missing, "", WorkerReport::Missing),
    ];
    for (state, error, expected) in cases {
        let mut sent = report(state);
        sent.error = error.into();
        let (task, event) = TaskEvent::from_report(sent.clone(), received).unwrap();
        assert_eq!(task, id());
        assert_eq!(
            event,
            TaskEvent::Report {
                worker: w("w2"),
                attempt: AttemptId::new(1),
                report: expected.clone(),
                at: received
            },
            "{state:?}"
        );
        let written =
            proto::ReportTaskStateRequest::new(&w("w2"), &id(), AttemptId::new(1), &expected);
        assert_eq!(written.state, state as i32, "{state:?} keeps its number");
        assert_eq!(written, sent, "{state:?}");
    }
    assert_eq!(proto::TaskState::Missing as i32, 12);
}

#[test]
fn reports_with_a_negative_attempt_or_a_bad_task_id_are_rejected() {
    let mut negative = report(proto::TaskState::Running);
    negative.attempt_id = -1;
    assert_eq!(
        TaskEvent::from_report(negative, at(1)),
        Err(ProtoError::NegativeAttemptId {
            field: "ReportTaskStateRequest.attempt_id".into(),
            value: -1
        })
    );
    let mut other_job = report(proto::TaskState::Running);
    other_job.job_id = "train".into();
    assert!(
        matches!(TaskEvent::from_report(other_job, at(1)), Err(ProtoError::Inconsistent { field, .. }) if field == "ReportTaskStateRequest.job_id")
    );
    let mut other_index = report(proto::TaskState::Running);
    other_index.task_index = 0;
    assert!(
        matches!(TaskEvent::from_report(other_index, at(1)), Err(ProtoError::Inconsistent { field, .. }) if field == "ReportTaskStateRequest.task_index")
    );
    let mut garbled = report(proto::TaskState::Running);
    garbled.task_id = "nonsense".into();
    assert!(matches!(
        TaskEvent::from_report(garbled, at(1)),
        Err(ProtoError::InvalidId { .. })
    ));
    let mut anonymous = report(proto::TaskState::Running);
    anonymous.worker_id = String::new();
    assert!(
        matches!(TaskEvent::from_report(anonymous, at(1)), Err(ProtoError::InvalidId { field, .. }) if field == "ReportTaskStateRequest.worker_id")
    );
    let mut lying = report(proto::TaskState::Succeeded);
    lying.exit_code = 1;
    assert!(matches!(
        TaskEvent::from_report(lying, at(1)),
        Err(ProtoError::Inconsistent { .. })
    ));
}

#[test]
fn a_decoded_report_drives_the_task() {
    let mut task = running().into_any();
    let (_, event) = TaskEvent::from_report(report(proto::TaskState::Succeeded), at(700)).unwrap();
    task.apply(event).unwrap();
    assert_eq!(task.state(), StateKind::Succeeded);
}

// ----- jobs -----

#[test]
fn a_job_status_sums_its_tasks() {
    let job = JobId::new("train/shard").unwrap();
    let task = |index| {
        Task::new(
            TaskId::new(job.clone(), index),
            RetryPolicy {
                max_retries_failure: 1,
                max_retries_preemption: 5,
            },
        )
    };
    let preempted_then_running = match task(0)
        .assign(w("w1"), at(1))
        .start(at(2))
        .worker_failed("lost", at(3))
    {
        iris_task::Retry::Requeued(t) => t.assign(w("w2"), at(4)).start(at(5)).into_any(),
        other => panic!("{other:?}"),
    };
    let failed_once_then_assigned =
        match task(1)
            .assign(w("w1"), at(1))
            .start(at(2))
            .fail(1, "exit 1", at(3))
        {
            iris_task::Retry::Requeued(t) => t.assign(w("w3"), at(6)).into_any(),
            other => panic!("{other:?}"),
        };
    let pending = task(2).into_any();
    let tasks = [pending, failed_once_then_assigned, preempted_then_running];
    // One failed attempt is within this job's tolerance.
    let tolerant = JobPolicy {
        max_task_failures: 1,
        ..JobPolicy::default()
    };
    let table = TaskTable::from_jobs([(job.clone(), tolerant)], tasks).unwrap();
    let status = table.job_status(&job).unwrap();
    assert_eq!(status.job_id, "train/shard");
    assert_eq!(status.state, proto::JobState::Running as i32);
    assert_eq!((status.failure_count, status.preemption_count), (1, 1));
    // Started at its first assignment, as Iris dates a job.
    assert_eq!(status.started_at_ms, 1);
    assert_eq!(status.finished_at_ms, 0);
    let ids: Vec<&str> = status.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "train/shard/task-0",
            "train/shard/task-1",
            "train/shard/task-2"
        ]
    );
    assert_eq!(status.task_state_counts["assigned"], 1);
    assert_eq!(status.task_state_counts["running"], 1);
    assert_eq!(status.task_state_counts["pending"], 1);
    assert_eq!(status.task_state_counts.len(), 11);
    assert_eq!(status.task_state_counts["preempted"], 0);
    assert_eq!(status.task_state_counts["cosched_failed"], 0);
}

#[test]
fn a_failed_job_reports_its_first_failure() {
    let job = JobId::new("j").unwrap();
    let ended =
        |index, exit| match Task::new(TaskId::new(job.clone(), index), RetryPolicy::default())
            .assign(w("w1"), at(1))
            .start(at(2))
            .fail(exit, format!("exit {exit}"), at(10 + i64::from(index)))
        {
            iris_task::Retry::Exhausted(t) => t.into_any(),
            other => panic!("{other:?}"),
        };
    let table = TaskTable::from_tasks([ended(1, 7), ended(0, 3)]).unwrap();
    let status = table.job_status(&job).unwrap();
    assert_eq!(status.state, proto::JobState::Failed as i32);
    // The job's error is Iris's; the exit code is the first FAILED task's (by id).
    assert_eq!(status.exit_code, 3);
    assert_eq!(
        status.error,
        "Cumulative failed task attempts exceeded max_task_failures: failures=2, limit=0; exit 3"
    );
    assert_eq!(status.finished_at_ms, 11);
}

#[test]
fn a_job_status_refuses_tasks_of_another_job() {
    let stranger = Task::new("other/task-0".parse().unwrap(), RetryPolicy::default()).into_any();
    let table = TaskTable::from_tasks([Task::new(
        "j/task-0".parse().unwrap(),
        RetryPolicy::default(),
    )])
    .unwrap();
    let job = table.job(&JobId::new("j").unwrap()).unwrap();
    let err = proto::JobStatus::from_job(&job, [&stranger]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "JobStatus.tasks: task other/task-0 does not belong to job j"
    );
}

#[test]
fn job_states_keep_their_wire_numbers() {
    use iris_task::JobState as J;
    let expected = [
        (J::Pending, 1),
        (J::Running, 3),
        (J::Succeeded, 4),
        (J::Failed, 5),
        (J::Killed, 6),
        (J::WorkerFailed, 7),
        (J::Unschedulable, 8),
    ];
    for (state, number) in expected {
        assert_eq!(proto::JobState::from(state) as i32, number, "{state}");
    }
}

// ----- robustness -----

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(2_000), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = AnyTask::decode(&bytes, RetryPolicy::default());
        if let Ok(report) = proto::ReportTaskStateRequest::decode(bytes.as_slice()) {
            let _ = TaskEvent::from_report(report, at(0));
        }
    }

    #[test]
    fn mutated_encodings_never_panic_and_what_decodes_is_stable(
        task in common::task(),
        mutation in mutation(),
    ) {
        let policy = *task.policy();
        let bytes = mutation.apply(task.encode_to_vec());
        if let Ok(decoded) = AnyTask::decode(&bytes, policy) {
            // Whatever decodes re-encodes and decodes to the same task.
            let again = AnyTask::decode(&decoded.encode_to_vec(), policy);
            prop_assert_eq!(again, Ok(decoded));
        }
    }
}

/// A corruption of a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize),
    Truncate(usize),
    /// Inserts a field (tag byte and payload) at a position.
    Splice(usize, Vec<u8>),
    /// Overwrites a byte.
    Set(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::FlipBit),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..12)
        )
            .prop_map(|(at, bytes)| Mutation::Splice(at, bytes)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
    ]
}

impl Mutation {
    fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let len = bytes.len().max(1);
        match self {
            Mutation::FlipBit(bit) => {
                if let Some(byte) = bytes.get_mut(bit / 8 % len) {
                    *byte ^= 1 << (bit % 8);
                }
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Splice(at, field) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, field.iter().copied());
            }
            Mutation::Set(at, value) => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte = *value;
                }
            }
        }
        bytes
    }
}

#[test]
fn a_report_built_by_new_reads_back_as_the_same_event() {
    let task = id();
    let worker = w("w7");
    for report in [
        WorkerReport::Building,
        WorkerReport::Running,
        WorkerReport::Succeeded,
        WorkerReport::Failed {
            exit_code: -9,
            error: "killed".into(),
        },
        WorkerReport::WorkerFailed {
            error: "disk".into(),
        },
    ] {
        for attempt in [0, 1, u32::MAX] {
            let attempt = AttemptId::new(attempt);
            let request = proto::ReportTaskStateRequest::new(&worker, &task, attempt, &report);
            let bytes = request.encode_to_vec();
            let decoded = TaskEvent::decode_report(&bytes, at(5));
            if attempt.get() > i32::MAX as u32 {
                // The wire's int32 cannot say it: a negative number, refused.
                assert!(decoded.is_err());
                continue;
            }
            let (id, event) = decoded.unwrap();
            assert_eq!(id, task);
            assert_eq!(
                event,
                TaskEvent::Report {
                    worker: worker.clone(),
                    attempt,
                    report: report.clone(),
                    at: at(5)
                }
            );
        }
    }
}
