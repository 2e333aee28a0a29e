//! Interop with Google's protobuf implementation, checked against committed fixtures.
//!
//! `tests/interop/interop.py` writes `fixtures/py_*.bin` with Python protobuf and records the
//! fields it set in `fixtures/py_fixtures.json`; this test decodes them with prost and the crate.
//! The script also runs this test with `IRIS_INTEROP_WRITE_DIR` set, which writes the crate's own
//! encodings (`fixtures/crate_*.bin`) for Python to decode and check. Without the variable, this
//! test checks that the crate still writes exactly those bytes, so CI keeps the Python-checked
//! encoding without needing Python.

use std::path::{Path, PathBuf};

use iris_task::{
    AnyTask, AttemptUid, JobId, ProtoError, RetryPolicy, Task, TaskEvent, TaskId, TaskTable,
    Timestamp, WorkerId, WorkerReport, proto,
};
use prost::Message;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/fixtures")
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The fields a fixture may name, as JSON, under their proto names.
fn status_fields(status: &proto::TaskStatus) -> Value {
    json!({
        "task_id": status.task_id,
        "job_id": status.job_id,
        "task_index": status.task_index,
        "state": status.state,
        "worker_id": status.worker_id,
        "worker_address": status.worker_address,
        "current_attempt_id": status.current_attempt_id,
        "ports": status.ports,
    })
}

fn report_fields(report: &proto::ReportTaskStateRequest) -> Value {
    json!({
        "state": report.state,
        "exit_code": report.exit_code,
        "attempt_id": report.attempt_id,
        "finished_at_ms": report.finished_at_ms,
    })
}

fn job_fields(job: &proto::JobStatus) -> Value {
    json!({
        "job_id": job.job_id,
        "state": job.state,
        "failure_count": job.failure_count,
        "preemption_count": job.preemption_count,
        "task_state_counts": job.task_state_counts,
    })
}

/// When the controller received the Python fixtures: what reports are stamped with, and what an
/// Iris peer's open attempt is dated by.
const RECEIVED_AT: Timestamp = Timestamp::from_millis(3_000);

fn assert_fields(name: &str, decoded: &Value, expected: &Value) {
    let expected = expected.as_object().expect("fields is an object");
    for (field, want) in expected {
        assert_eq!(&decoded[field], want, "{name}: field {field}");
    }
}

#[test]
fn python_encodings_decode_to_the_fields_python_set() {
    let index: Value = serde_json::from_slice(&read("py_fixtures.json")).expect("valid JSON");
    let index = index.as_object().expect("an object of fixtures");
    assert!(index.len() >= 14, "the script writes every fixture");
    for (name, expected) in index {
        let bytes = read(name);
        let policy = RetryPolicy::default();
        match expected["kind"].as_str() {
            Some("status") => {
                let status = proto::TaskStatus::decode(bytes.as_slice()).expect(name);
                assert_fields(name, &status_fields(&status), &expected["fields"]);
                // Iris peers send no assigned_at_ms: their open attempts are dated on receipt.
                let decoded = AnyTask::decode_received(&bytes, policy, RECEIVED_AT);
                match expected["error"].as_str() {
                    Some("unknown_state") => assert!(
                        matches!(decoded, Err(ProtoError::UnknownState { value: 13, .. })),
                        "{name}: {decoded:?}"
                    ),
                    Some("report_only") => assert!(
                        matches!(decoded, Err(ProtoError::ReportOnlyState { .. })),
                        "{name}: {decoded:?}"
                    ),
                    Some(other) => panic!("{name}: unexpected error kind {other}"),
                    None => check_task(name, &decoded.expect(name), &expected["typed"]),
                }
            }
            Some("report") => {
                let report = proto::ReportTaskStateRequest::decode(bytes.as_slice()).expect(name);
                assert_fields(name, &report_fields(&report), &expected["fields"]);
                let decoded = TaskEvent::from_report(report, RECEIVED_AT);
                match expected["error"].as_str() {
                    Some("not_reportable") => assert!(
                        matches!(decoded, Err(ProtoError::NotReportable { .. })),
                        "{name}: {decoded:?}"
                    ),
                    Some("unknown_state") => assert!(
                        matches!(decoded, Err(ProtoError::UnknownState { value: 13, .. })),
                        "{name}: {decoded:?}"
                    ),
                    Some(other) => panic!("{name}: unexpected error kind {other}"),
                    None => check_report(name, decoded.expect(name), &expected["typed"]),
                }
            }
            Some("job") => {
                let job = proto::JobStatus::decode(bytes.as_slice()).expect(name);
                assert_fields(name, &job_fields(&job), &expected["fields"]);
                assert_eq!(json!(job.tasks.len()), expected["typed"]["tasks"], "{name}");
                for status in job.tasks {
                    AnyTask::from_proto(status, policy).expect(name);
                }
            }
            other => panic!("{name}: unknown kind {other:?}"),
        }
    }
}

fn check_task(name: &str, task: &AnyTask, expected: &Value) {
    assert_eq!(
        json!(task.state().label()),
        expected["state"],
        "{name}: state"
    );
    assert_eq!(
        json!(task.attempts().len()),
        expected["attempts"],
        "{name}: attempts"
    );
    if let Some(worker) = expected.get("worker") {
        let current = task.current_attempt().expect("an attempt");
        assert_eq!(&json!(current.worker().as_str()), worker, "{name}: worker");
    }
    if let Some(assigned_at) = expected.get("assigned_at") {
        let current = task.current_attempt().expect("an attempt");
        assert_eq!(
            &json!(current.assigned_at().as_millis()),
            assigned_at,
            "{name}: assigned_at"
        );
    }
    if let Some(preemptions) = expected.get("preemptions") {
        assert_eq!(
            &json!(task.preemption_count()),
            preemptions,
            "{name}: preemptions"
        );
    }
}

fn check_report(name: &str, (task, event): (TaskId, TaskEvent), expected: &Value) {
    assert_eq!(json!(task.to_string()), expected["task"], "{name}: task");
    let TaskEvent::Report {
        attempt,
        report,
        at,
        ..
    } = event
    else {
        panic!("{name}: a report becomes a Report event");
    };
    assert_eq!(json!(attempt.get()), expected["attempt"], "{name}: attempt");
    assert_eq!(json!(at.as_millis()), expected["at"], "{name}: at");
    let (kind, error) = match report {
        WorkerReport::Failed { error, .. } => ("failed", error),
        WorkerReport::Preempted { error } => ("preempted", error),
        WorkerReport::Killed { error } => ("killed", error),
        WorkerReport::Missing => ("missing", String::new()),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(json!(kind), expected["report"], "{name}: report");
    if let Some(want) = expected.get("error") {
        assert_eq!(&json!(error), want, "{name}: error");
    }
}

// ----- the crate's encodings, checked by the script with Python -----

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).expect("valid worker id")
}

fn pending_new() -> Task<iris_task::Pending> {
    Task::new(
        "train/shard/task-3".parse().expect("valid task id"),
        RetryPolicy::default(),
    )
}

fn train(index: u32) -> Task<iris_task::Pending> {
    let job = JobId::new("train").expect("valid job id");
    Task::new(TaskId::new(job, index), RetryPolicy::default())
}

/// The scenarios `CRATE_EXPECTATIONS` in the script describes, with the bytes the crate writes.
fn crate_encodings() -> Vec<(&'static str, Vec<u8>)> {
    let assigned = train(0).assign_with_uid(
        w("worker-1"),
        AttemptUid::new(0x1700_0000_0000_0001),
        at(1_000),
    );
    let running = train(0)
        .assign_with_uid(
            w("worker-1"),
            AttemptUid::new(0x1700_0000_0000_0002),
            at(1_000),
        )
        .worker_failed("RunTask: connection refused", at(1_050))
        .assign_with_uid(
            w("worker-2"),
            AttemptUid::new(0x1700_0000_0000_0003),
            at(2_000),
        )
        .start(at(2_100));
    let epoch = train(0)
        .assign_with_uid(w("worker-1"), AttemptUid::new(0x1700_0000_0000_0004), at(0))
        .start(at(0))
        .succeed(at(0));
    let unschedulable = train(0).mark_unschedulable("no worker has 8 GPUs", at(60_000));
    let no_preemptions = RetryPolicy {
        max_retries_preemption: 0,
        ..RetryPolicy::default()
    };
    let preempted = match Task::new(train(0).id().clone(), no_preemptions)
        .assign_with_uid(
            w("worker-1"),
            AttemptUid::new(0x1700_0000_0000_0005),
            at(1_000),
        )
        .start(at(1_100))
        .preempt("priority", at(1_300))
    {
        iris_task::Retry::Exhausted(task) => task,
        iris_task::Retry::Requeued(_) => panic!("no preemption is allowed"),
    };
    let sibling = TaskId::new(JobId::new("train").expect("valid job id"), 1);
    let cosched_failed = train(0)
        .assign_with_uid(
            w("worker-1"),
            AttemptUid::new(0x1700_0000_0000_0006),
            at(1_000),
        )
        .start(at(1_100))
        .sibling_failed(&sibling, at(1_300));
    let killed_on_worker = train(0)
        .assign_with_uid(
            w("worker-1"),
            AttemptUid::new(0x1700_0000_0000_0007),
            at(1_000),
        )
        .killed_on_worker("OOM killer", at(1_050));
    let job_tasks = [
        train(0).into_any(),
        train(1)
            .assign_with_uid(w("worker-1"), AttemptUid::new(0x1700_0000_0000_0008), at(1))
            .into_any(),
        train(2)
            .assign_with_uid(w("worker-2"), AttemptUid::new(0x1700_0000_0000_0009), at(1))
            .start(at(2))
            .into_any(),
    ];
    let job = TaskTable::from_tasks(job_tasks)
        .expect("tasks of one job")
        .job_status(&JobId::new("train").expect("valid job id"))
        .expect("the job");
    vec![
        (
            "crate_pending_new",
            pending_new().into_any().encode_to_vec(),
        ),
        ("crate_assigned", assigned.into_any().encode_to_vec()),
        (
            "crate_running_after_dispatch_failure",
            running.into_any().encode_to_vec(),
        ),
        ("crate_epoch", epoch.into_any().encode_to_vec()),
        (
            "crate_unschedulable",
            unschedulable.into_any().encode_to_vec(),
        ),
        ("crate_preempted", preempted.into_any().encode_to_vec()),
        (
            "crate_cosched_failed",
            cosched_failed.into_any().encode_to_vec(),
        ),
        (
            "crate_killed_on_worker",
            killed_on_worker.into_any().encode_to_vec(),
        ),
        ("crate_job", job.encode_to_vec()),
    ]
}

#[test]
fn the_crate_writes_the_bytes_python_checked() {
    let encodings = crate_encodings();
    if let Some(dir) = std::env::var_os("IRIS_INTEROP_WRITE_DIR") {
        for (name, bytes) in &encodings {
            let path = Path::new(&dir).join(format!("{name}.bin"));
            std::fs::write(&path, bytes).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        }
    }
    for (name, bytes) in encodings {
        let committed = read(&format!("{name}.bin"));
        if name == "crate_job" {
            // A map's entries are written in hash order: compare what the bytes say.
            assert_eq!(
                proto::JobStatus::decode(bytes.as_slice()),
                proto::JobStatus::decode(committed.as_slice()),
                "{name}"
            );
        } else {
            assert_eq!(
                bytes, committed,
                "{name}: the crate's encoding changed; rerun tests/interop/interop.py"
            );
        }
    }
}
