//! Today's wire: tasks, jobs, launches and registrations as today's Iris writes them, converted
//! as strictly as the seed-era wire, each error naming today's field.

mod common;

use iris_task::prost::Message;
use iris_task::today::{Resources, cluster::controller, job, time};
use iris_task::{
    AnyTask, AttemptUid, IdError, JobId, JobPolicy, JobState, ProtoError, RetryPolicy, StateKind,
    Task, TaskId, TaskTable, Timestamp, WorkerId,
};
use proptest::prelude::*;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn ts(ms: i64) -> Option<time::Timestamp> {
    Some(time::Timestamp { epoch_ms: Some(ms) })
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn tid(path: &str) -> TaskId {
    TaskId::from_path(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Typed → today's wire → bytes → typed loses nothing: ids, states, attempts, uids, times,
    /// errors, exit codes, the worker-side flags.
    #[test]
    fn every_reachable_task_round_trips_through_todays_wire(task in common::path_task()) {
        let status = job::TaskStatus::from(&task);
        let bytes = status.encode_to_vec();
        let decoded = job::TaskStatus::decode(bytes.as_slice()).unwrap();
        prop_assert_eq!(&decoded, &status);
        let back = AnyTask::from_today(decoded, *task.policy()).unwrap();
        prop_assert_eq!(&back, &task);
        // Received at any time, a status that carries its assignment times is read the same.
        prop_assert_eq!(task.encode_today_to_vec(), bytes.clone());
        prop_assert_eq!(&AnyTask::decode_today(&bytes, *task.policy()).unwrap(), &task);
        let received = AnyTask::decode_today_received(&bytes, *task.policy(), at(1 << 40)).unwrap();
        prop_assert_eq!(&received, &task);
        // The task's status on the seed-era wire says the same, uids included.
        let seed = AnyTask::from_proto(iris_task::proto::TaskStatus::from(&task), *task.policy()).unwrap();
        prop_assert_eq!(seed, task);
    }

    /// Every id Iris writes reads back and prints as it came.
    #[test]
    fn every_iris_path_round_trips(id in common::path_task_id()) {
        let path = id.path();
        prop_assert_eq!(TaskId::from_path(&path).unwrap(), id.clone());
        prop_assert_eq!(JobId::from_path(id.job().as_str()).unwrap(), id.job().clone());
    }
}

#[test]
fn paths_that_are_not_irises_are_refused_with_the_reason() {
    for (bad, why) in [
        ("alice/train/0", "does not start with `/`"),
        ("/alice/0", "at least two parts"),
        ("/alice//train/0", "empty part"),
        ("/alice/train/", "no index"),
        ("0", "has no `/`"),
    ] {
        match TaskId::from_path(bad) {
            Err(IdError::NotAPath { why: found, .. }) => {
                assert!(found.contains(why), "{bad}: {found}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    for bad in [
        "/alice/train/007",
        "/alice/train/+7",
        "/alice/train/x",
        "/alice/train/4294967296",
    ] {
        assert!(
            matches!(TaskId::from_path(bad), Err(IdError::BadTaskIndex { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        TaskId::from_path("/alice/ /0"),
        Err(IdError::BlankPart { .. })
    ));
    // A job name with a space inside a part is Iris's, and the crate's.
    assert_eq!(
        tid("/alice/my job/eval/12").job().as_str(),
        "/alice/my job/eval"
    );
}

/// A running task as Iris's controller writes it: attempts carry uids and no assignment time.
fn iris_running() -> job::TaskStatus {
    job::TaskStatus {
        task_id: Some("/alice/train/0".into()),
        state: Some(job::TaskState::Running as i32),
        worker_id: Some("w2".into()),
        current_attempt_id: Some(1),
        started_at: ts(250),
        attempts: vec![
            job::TaskAttempt {
                attempt_id: Some(0),
                worker_id: Some("w1".into()),
                state: Some(job::TaskState::WorkerFailed as i32),
                error: Some("worker lost".into()),
                started_at: ts(110),
                finished_at: ts(150),
                is_worker_failure: Some(true),
                attempt_uid: Some("00000000000000a1".into()),
                ..Default::default()
            },
            job::TaskAttempt {
                attempt_id: Some(1),
                worker_id: Some("w2".into()),
                state: Some(job::TaskState::Running as i32),
                started_at: ts(250),
                attempt_uid: Some("00000000000000a2".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

#[test]
fn an_iris_status_decodes_with_its_open_attempt_dated_on_receipt() {
    let policy = RetryPolicy::default();
    let task = AnyTask::from_today_received(iris_running(), policy, at(200)).unwrap();
    assert_eq!(task.state(), StateKind::Running);
    assert_eq!(task.worker().map(WorkerId::as_str), Some("w2"));
    let attempts = task.attempts();
    // The closed attempt is dated by its start, the open one on receipt.
    assert_eq!(attempts[0].assigned_at(), at(110));
    assert_eq!(attempts[1].assigned_at(), at(200));
    assert_eq!(attempts[0].uid(), AttemptUid::new(0xa1));
    assert_eq!(attempts[1].uid(), AttemptUid::new(0xa2));
    assert!(attempts[0].is_preemption(), "a started worker-side ending");
    // Without a receive time, the open attempt has no safe date: refused, naming today's field.
    assert_eq!(
        AnyTask::from_today(iris_running(), policy),
        Err(ProtoError::Missing {
            field: "TaskStatus.attempts[1].assigned_at".into(),
            why: "the dispatch deadline of an open attempt counts from it; \
                  AnyTask::from_proto_received dates a peer's open attempt when it was received",
        })
    );
}

#[test]
fn each_bad_field_is_named_as_today_names_it() {
    let policy = RetryPolicy::default();
    let decode = |edit: &dyn Fn(&mut job::TaskStatus)| {
        let mut status = iris_running();
        edit(&mut status);
        AnyTask::from_today_received(status, policy, at(200)).unwrap_err()
    };
    let field = |err: ProtoError| match err {
        ProtoError::Missing { field, .. }
        | ProtoError::Inconsistent { field, .. }
        | ProtoError::InvalidId { field, .. }
        | ProtoError::UnspecifiedState { field }
        | ProtoError::UnknownState { field, .. }
        | ProtoError::ReportOnlyState { field } => field,
        other => panic!("{other:?}"),
    };
    type Edit = Box<dyn Fn(&mut job::TaskStatus)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("TaskStatus.task_id", Box::new(|s| s.task_id = None)),
        (
            "TaskStatus.task_id",
            Box::new(|s| s.task_id = Some("train/task-0".into())),
        ),
        ("TaskStatus.state", Box::new(|s| s.state = None)),
        ("TaskStatus.state", Box::new(|s| s.state = Some(12))),
        ("TaskStatus.state", Box::new(|s| s.state = Some(99))),
        (
            "TaskStatus.attempts[0].attempt_uid",
            Box::new(|s| s.attempts[0].attempt_uid = None),
        ),
        (
            "TaskStatus.attempts[1].attempt_uid",
            Box::new(|s| s.attempts[1].attempt_uid = Some("00000000000000A2".into())),
        ),
        (
            "TaskStatus.attempts[0].finished_at",
            Box::new(|s| s.attempts[0].finished_at = ts(100)),
        ),
        (
            "TaskStatus.attempts[1].started_at",
            Box::new(|s| s.attempts[1].started_at = None),
        ),
        (
            "TaskStatus.attempts[1].worker_id",
            Box::new(|s| s.attempts[1].worker_id = Some(String::new())),
        ),
        (
            "TaskStatus.attempts[0].is_worker_failure",
            Box::new(|s| s.attempts[0].is_worker_failure = Some(false)),
        ),
        (
            "TaskStatus.attempts[1].attempt_id",
            Box::new(|s| s.attempts[1].attempt_id = Some(5)),
        ),
    ];
    for (expected, edit) in cases {
        assert_eq!(field(decode(&*edit)), expected);
    }
    // With several faults, the first in reading order is named: the task's state before its
    // attempts, and an earlier attempt before a later one.
    let two: Vec<(&str, Edit)> = vec![
        (
            "TaskStatus.state",
            Box::new(|s| {
                s.state = None;
                s.attempts[0].attempt_uid = None;
            }),
        ),
        (
            "TaskStatus.attempts[0].is_worker_failure",
            Box::new(|s| {
                s.attempts[0].is_worker_failure = Some(false);
                s.attempts[1].attempt_uid = None;
            }),
        ),
    ];
    for (expected, edit) in two {
        assert_eq!(field(decode(&*edit)), expected);
    }
}

/// Iris's own quirks, read as Iris means them: a stop the worker has not confirmed yet (a closed
/// attempt with no finish) is dated on receipt, never before its start; an attempt whose worker
/// Iris removed has no worker, and gets `REMOVED_WORKER`.
#[test]
fn an_unconfirmed_stop_and_a_removed_worker_read_as_iris_means_them() {
    let mut status = iris_running();
    status.state = Some(job::TaskState::Killed as i32);
    status.attempts[1].state = Some(job::TaskState::Killed as i32);
    status.attempts[1].error = Some("cancelled".into());
    status.attempts[0].worker_id = Some(String::new());
    let policy = RetryPolicy::default();
    assert!(
        AnyTask::from_today(status.clone(), policy).is_err(),
        "no date for the stop"
    );
    let task = AnyTask::from_today_received(status.clone(), policy, at(100)).unwrap();
    assert_eq!(task.state(), StateKind::Killed);
    assert_eq!(
        task.attempts()[1].finished_at(),
        Some(at(250)),
        "not before its start"
    );
    assert_eq!(
        task.attempts()[0].worker().as_str(),
        iris_task::today::REMOVED_WORKER
    );
    let back = job::TaskStatus::from(&task);
    assert_eq!(
        back.attempts[0].worker_id, None,
        "written back as Iris wrote it"
    );
    // The crate's name for a removed worker is no worker's name on the wire.
    let mut named = status.clone();
    named.attempts[0].worker_id = Some(iris_task::today::REMOVED_WORKER.into());
    assert!(AnyTask::from_today_received(named, policy, at(100)).is_err());
    // An open attempt without a worker is no status Iris writes.
    let mut open = iris_running();
    open.attempts[1].worker_id = None;
    assert!(AnyTask::from_today_received(open, policy, at(300)).is_err());
}

#[test]
fn a_failed_attempts_error_is_written_as_iris_writes_it_and_terminal_reason_is_read() {
    let task = Task::new(tid("/alice/train/0"), RetryPolicy::default())
        .assign(w("w1"), at(1))
        .start(at(2))
        .fail(3, "exit 3", at(4));
    let iris_task::Retry::Exhausted(failed) = task else {
        panic!("no retries")
    };
    let status = job::TaskStatus::from(&failed);
    let attempt = &status.attempts[0];
    // Iris's process runtime leaves terminal_reason empty (it is a Kubernetes pod's cause):
    // the crate writes none either.
    assert_eq!(attempt.terminal_reason, None);
    assert_eq!(attempt.error.as_deref(), Some("exit 3"));
    assert_eq!(attempt.exit_code, Some(3));
    // A peer that sends only Iris's terminal_reason: it is the attempt's error.
    let mut status = status.clone();
    status.attempts[0].error = None;
    status.attempts[0].terminal_reason = Some("exit 3".into());
    let back = AnyTask::from_today(status, RetryPolicy::default()).unwrap();
    assert_eq!(back.attempts()[0].error(), Some("exit 3"));
}

#[test]
fn a_job_status_says_what_iris_says_of_its_tasks() {
    let job = JobId::from_path("/alice/sweep").unwrap();
    let mut table = TaskTable::new();
    table
        .insert_job(
            job.clone(),
            JobPolicy {
                max_task_failures: 5,
                coscheduled: false,
            },
            (0..3).map(|index| Task::new(TaskId::new(job.clone(), index), RetryPolicy::default())),
        )
        .unwrap();
    let id = |index| TaskId::new(job.clone(), index);
    table.assign(&id(0), w("w1"), at(10)).unwrap();
    table.assign(&id(1), w("w2"), at(12)).unwrap();
    let succeed = |table: &mut TaskTable, index, t| {
        let event = iris_task::TaskEvent::Report {
            worker: table.get(&id(index)).unwrap().worker().unwrap().clone(),
            attempt: iris_task::AttemptId::new(0),
            report: iris_task::WorkerReport::Succeeded,
            at: at(t),
        };
        table.apply(&id(index), event).unwrap();
    };
    succeed(&mut table, 0, 20);
    let status = table.today_job_status(&job).unwrap();
    assert_eq!(status.job_id.as_deref(), Some("/alice/sweep"));
    assert_eq!(status.state, Some(job::JobState::Running as i32));
    assert_eq!(status.started_at, ts(10));
    assert_eq!(status.finished_at, None);
    assert_eq!(
        (status.task_count, status.completed_count),
        (Some(3), Some(1))
    );
    assert_eq!(status.task_state_counts["succeeded"], 1);
    assert_eq!(status.task_state_counts["assigned"], 1);
    assert_eq!(status.tasks.len(), 3);
    assert_eq!(status.tasks[2].task_id.as_deref(), Some("/alice/sweep/2"));
    // Ended: killed, with the job's error, finished when its last task ended.
    table.kill_job(&job, "cancelled by alice", at(30));
    let status = table.today_job_status(&job).unwrap();
    assert_eq!(status.state, Some(job::JobState::Killed as i32));
    assert_eq!(table.job_state(&job), Some(JobState::Killed));
    assert_eq!(status.error.as_deref(), Some("cancelled by alice"));
    assert_eq!(status.finished_at, ts(30));
    assert_eq!(
        status.completed_count,
        Some(3),
        "SUCCEEDED and KILLED, as Iris counts"
    );
    assert!(
        table
            .today_job_status(&JobId::from_path("/alice/other").unwrap())
            .is_none()
    );
}

fn launch_request() -> controller::LaunchJobRequest {
    controller::LaunchJobRequest {
        name: Some("/alice/train/eval".into()),
        replicas: Some(3),
        ..Default::default()
    }
}

#[test]
fn a_launch_reads_as_irises_controller_reads_it() {
    let launch = launch_request().to_launch().unwrap();
    assert_eq!(launch.job.as_str(), "/alice/train/eval");
    assert_eq!(
        launch.parent.as_ref().map(JobId::as_str),
        Some("/alice/train")
    );
    assert_eq!(launch.replicas, 3);
    // Unset budgets are 0, as Iris's controller reads them; no gang, no timeouts, no resources.
    assert_eq!(
        launch.retry,
        RetryPolicy {
            max_retries_failure: 0,
            max_retries_preemption: 0
        }
    );
    assert_eq!(launch.policy, JobPolicy::default());
    assert_eq!(
        (launch.scheduling_timeout, launch.execution_timeout),
        (None, None)
    );
    assert_eq!(launch.resources, Resources::default());
    let ids: Vec<String> = launch.tasks().map(|task| task.id().path()).collect();
    assert_eq!(
        ids,
        [
            "/alice/train/eval/0",
            "/alice/train/eval/1",
            "/alice/train/eval/2"
        ]
    );
    // A root job has no parent; timeouts and resources as sent.
    let root = controller::LaunchJobRequest {
        name: Some("/alice/train".into()),
        scheduling_timeout: Some(time::Duration {
            milliseconds: Some(5_000),
        }),
        timeout: Some(time::Duration {
            milliseconds: Some(0),
        }),
        resources: Some(job::ResourceSpecProto {
            cpu_millicores: Some(500),
            memory_bytes: Some(1 << 30),
            ..Default::default()
        }),
        ..launch_request()
    }
    .to_launch()
    .unwrap();
    assert_eq!(root.parent, None);
    assert_eq!(
        root.scheduling_timeout,
        Some(std::time::Duration::from_secs(5))
    );
    assert_eq!(root.execution_timeout, None, "0 is no timeout");
    assert_eq!(
        root.resources,
        Resources {
            cpu_millicores: 500,
            memory_bytes: 1 << 30
        }
    );
}

#[test]
fn a_launch_iris_would_not_run_is_refused_naming_the_field() {
    let field = |request: controller::LaunchJobRequest| match request.to_launch().unwrap_err() {
        ProtoError::Missing { field, .. }
        | ProtoError::Inconsistent { field, .. }
        | ProtoError::InvalidId { field, .. } => field,
        other => panic!("{other:?}"),
    };
    let base = launch_request;
    for (expected, request) in [
        (
            "LaunchJobRequest.name",
            controller::LaunchJobRequest {
                name: None,
                ..base()
            },
        ),
        (
            "LaunchJobRequest.name",
            controller::LaunchJobRequest {
                name: Some("train".into()),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.replicas",
            controller::LaunchJobRequest {
                replicas: None,
                ..base()
            },
        ),
        (
            "LaunchJobRequest.replicas",
            controller::LaunchJobRequest {
                replicas: Some(-1),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.replicas",
            controller::LaunchJobRequest {
                replicas: Some(10_001),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.max_retries_failure",
            controller::LaunchJobRequest {
                max_retries_failure: Some(-1),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.max_task_failures",
            controller::LaunchJobRequest {
                max_task_failures: Some(-2),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.coscheduling.group_by",
            controller::LaunchJobRequest {
                coscheduling: Some(job::CoschedulingConfig::default()),
                ..base()
            },
        ),
        (
            "LaunchJobRequest.resources.memory_bytes",
            controller::LaunchJobRequest {
                resources: Some(job::ResourceSpecProto {
                    memory_bytes: Some(-1),
                    ..Default::default()
                }),
                ..base()
            },
        ),
    ] {
        assert_eq!(field(request), expected);
    }
    assert!(
        controller::LaunchJobRequest {
            replicas: Some(10_000),
            ..base()
        }
        .to_launch()
        .is_ok()
    );
}

#[test]
fn a_registration_reads_the_worker_and_its_resources() {
    let request = controller::RegisterRequest {
        worker_id: Some("worker-7".into()),
        address: Some("127.0.0.1:9000".into()),
        metadata: Some(job::WorkerMetadata {
            cpu_count: Some(8),
            memory_bytes: Some(16 << 30),
            ..Default::default()
        }),
        ..Default::default()
    };
    let worker = request.to_registration().unwrap();
    assert_eq!(worker.worker, w("worker-7"));
    assert_eq!(worker.address, "127.0.0.1:9000");
    assert_eq!(
        worker.resources,
        Resources {
            cpu_millicores: 8_000,
            memory_bytes: 16 << 30
        }
    );
    assert_eq!(worker.to_request().to_registration().unwrap(), worker);
    for (edit, field) in [
        (
            controller::RegisterRequest {
                worker_id: None,
                ..request.clone()
            },
            "RegisterRequest.worker_id",
        ),
        (
            controller::RegisterRequest {
                address: Some(String::new()),
                ..request.clone()
            },
            "RegisterRequest.address",
        ),
        (
            controller::RegisterRequest {
                metadata: Some(job::WorkerMetadata {
                    cpu_count: Some(-1),
                    ..Default::default()
                }),
                ..request.clone()
            },
            "RegisterRequest.metadata.cpu_count",
        ),
    ] {
        let found = match edit.to_registration().unwrap_err() {
            ProtoError::Missing { field, .. }
            | ProtoError::Inconsistent { field, .. }
            | ProtoError::InvalidId { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(found, field);
    }
}
