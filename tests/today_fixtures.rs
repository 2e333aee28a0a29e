//! Today's wire against messages the pinned Iris wheel wrote itself (`tests/today/fixtures/`,
//! made by `tests/today/fixtures.py write`): tasks in every state from Iris's own
//! `GetTaskStatus`, its `GetJobStatus` and `ListJobs`, its controller's Reconcile plans, a
//! worker's Reconcile answers, the `LaunchJobRequest` its client sends, and a worker's
//! `RegisterRequest`. The crate decodes every one; then Iris reads the crate's encodings back
//! (`fixtures.py check`) and compares them field by field with its originals.

#[path = "iris/mod.rs"]
mod iris;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use iris_task::prost::Message;
use iris_task::today::{Resources, cluster, job};
use iris_task::{
    AnyTask, AttemptUid, JobId, JobPolicy, RetryPolicy, TaskId, TaskTable, Timestamp, WorkerId,
};
use serde_json::Value;

/// A desired set as (uid, what), sorted (a desired set's order means nothing): a run with its
/// task, attempt and uid, a cached run, or a stop with its reason.
fn intents(request: &cluster::worker::ReconcileRequest) -> Vec<(String, String)> {
    use cluster::worker::desired_attempt::Intent;
    request
        .desired
        .iter()
        .map(|desired| {
            let what = match &desired.intent {
                Some(Intent::Run(run)) => match &run.request {
                    Some(spec) => format!(
                        "run {} {} {}",
                        spec.task_id.as_deref().unwrap_or_default(),
                        spec.attempt_id.unwrap_or(-1),
                        spec.attempt_uid.as_deref().unwrap_or_default()
                    ),
                    None => "run".to_owned(),
                },
                Some(Intent::Stop(reason)) => format!("stop {reason}"),
                None => "none".to_owned(),
            };
            (desired.attempt_uid.clone().unwrap_or_default(), what)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn dir() -> PathBuf {
    iris::root().join("tests/today/fixtures")
}

fn facts() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir().join("fixtures.json")).expect("fixtures.json");
    serde_json::from_str(&text).expect("fixtures.json is JSON")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.bin"))).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// When the statuses were received: after everything in the scenario happened.
const RECEIVED: Timestamp = Timestamp::from_millis(1_000_000);

fn policy_of(facts: &Value) -> (RetryPolicy, JobPolicy) {
    let n = |key: &str| u32::try_from(facts[key].as_u64().unwrap()).unwrap();
    (
        RetryPolicy {
            max_retries_failure: n("max_retries_failure"),
            max_retries_preemption: n("max_retries_preemption"),
        },
        JobPolicy {
            max_task_failures: n("max_task_failures"),
            coscheduled: facts["coscheduled"].as_bool().unwrap(),
        },
    )
}

/// The tasks of `job`, as Iris's GetTaskStatus wrote them in the scenario, read as received.
fn job_tasks(facts: &BTreeMap<String, Value>, job: &JobId, retry: RetryPolicy) -> Vec<AnyTask> {
    let prefix = format!(
        "task_{}_",
        job.as_str().trim_start_matches('/').replace('/', "_")
    );
    facts
        .keys()
        .filter(|task| task.starts_with(&prefix))
        .map(|task| {
            let task = job::TaskStatus::decode(bytes(task).as_slice()).unwrap();
            AnyTask::from_today_received(task, retry, RECEIVED).unwrap()
        })
        .collect()
}

/// Every task status Iris wrote decodes, in the state Iris says, with its attempts and uids; the
/// crate's encodings go to `out`.
fn tasks(facts: &BTreeMap<String, Value>, out: &Path) -> usize {
    let mut decoded = 0;
    for (name, fact) in facts.iter().filter(|(name, _)| name.starts_with("task_")) {
        let job = name
            .trim_start_matches("task_test-user_")
            .split('_')
            .next()
            .unwrap();
        let (retry, _) = policy_of(&facts[&format!("job_{job}")]);
        let status = job::TaskStatus::decode(bytes(name).as_slice()).unwrap();
        let task = AnyTask::from_today_received(status.clone(), retry, RECEIVED)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let state = fact["state"].as_str().unwrap();
        assert_eq!(
            format!("TASK_STATE_{}", task.state().label().to_uppercase()),
            state,
            "{name}"
        );
        assert_eq!(
            task.attempts().len() as u64,
            fact["attempts"].as_u64().unwrap(),
            "{name}"
        );
        for (attempt, wire) in task.attempts().iter().zip(&status.attempts) {
            let uid: AttemptUid = wire.attempt_uid.as_deref().unwrap().parse().unwrap();
            assert_eq!(attempt.uid(), uid, "{name}");
        }
        assert_eq!(task.id().path(), status.task_id.clone().unwrap());
        std::fs::write(
            out.join(format!("crate_{name}.bin")),
            job::TaskStatus::from(&task).encode_to_vec(),
        )
        .unwrap();
        decoded += 1;
    }
    decoded
}

/// Each job status decodes; the crate's own status of the same tasks goes to `out`.
fn jobs(facts: &BTreeMap<String, Value>, out: &Path) -> usize {
    let mut count = 0;
    for (name, fact) in facts.iter().filter(|(name, _)| name.starts_with("job_")) {
        let status = job::JobStatus::decode(bytes(name).as_slice()).unwrap();
        assert_eq!(
            job::JobState::try_from(status.state.unwrap())
                .unwrap()
                .as_str_name(),
            fact["state"].as_str().unwrap(),
            "{name}"
        );
        let (retry, policy) = policy_of(fact);
        let id = JobId::from_path(status.job_id.as_deref().unwrap()).unwrap();
        // Iris's GetJobStatus lists no tasks (its CLI asks ListTasks): the job's tasks are the
        // GetTaskStatus answers of the same scenario.
        let tasks = job_tasks(facts, &id, retry);
        assert_eq!(Some(tasks.len() as i32), status.task_count, "{name}");
        let mut table = TaskTable::new();
        table.insert_job(id.clone(), policy, tasks).unwrap();
        let ours = table.today_job_status(&id).unwrap();
        assert_eq!(
            ours.state, status.state,
            "{name}: the crate judges the job as Iris did"
        );
        std::fs::write(out.join(format!("crate_{name}.bin")), ours.encode_to_vec()).unwrap();
        count += 1;
    }
    count
}

#[test]
fn every_message_iris_wrote_decodes_and_iris_reads_the_crates_back() {
    let facts = facts();
    let out = iris::target().join("iris/today-fixtures");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    for file in std::fs::read_dir(dir()).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, out.join(file.file_name().unwrap())).unwrap();
    }
    assert_eq!(tasks(&facts, &out), 14, "tasks in every state");
    assert_eq!(jobs(&facts, &out), 4);

    let listed =
        cluster::controller::ListJobsResponse::decode(bytes("list_jobs").as_slice()).unwrap();
    assert_eq!(listed.jobs.len(), 4);
    for status in &listed.jobs {
        JobId::from_path(status.job_id.as_deref().unwrap()).unwrap();
    }

    // The launch `iris job run` sends: Iris's client's defaults, the bundle inline.
    let launch =
        cluster::controller::LaunchJobRequest::decode(bytes("launch_job").as_slice()).unwrap();
    assert!(
        launch
            .bundle_blob
            .as_ref()
            .is_some_and(|blob| blob.starts_with(b"PK"))
    );
    let read = launch.to_launch().unwrap();
    assert_eq!(read.job.as_str(), "/test-user/hello");
    assert_eq!(read.replicas, 2);
    assert_eq!(
        read.retry,
        RetryPolicy {
            max_retries_failure: 1,
            max_retries_preemption: 1_000
        },
        "Iris's client sends 1,000 preemption retries unless told"
    );
    assert_eq!(read.policy.max_task_failures, 1);
    assert_eq!(
        read.resources,
        Resources {
            cpu_millicores: 500,
            memory_bytes: 1 << 30
        }
    );
    // The tasks' RunTaskRequest template, as Iris's controller builds it from the launch.
    let template = launch.run_task_request();
    assert_eq!(template.num_tasks, Some(2));
    assert_eq!(template.entrypoint, launch.entrypoint);
    assert!(template.entrypoint.is_some() && template.environment.is_some());
    let tasks: Vec<TaskId> = read.tasks().map(|task| task.id().clone()).collect();
    assert_eq!(tasks[1].path(), "/test-user/hello/1");

    let register =
        cluster::controller::RegisterRequest::decode(bytes("register").as_slice()).unwrap();
    let worker = register.to_registration().unwrap();
    assert_eq!(worker.worker.as_str(), "worker-1");
    assert!(worker.resources.cpu_millicores >= 1_000 && worker.resources.memory_bytes > 0);

    // Reconcile: the crate's desired set for each worker is Iris's plan, attempt for attempt,
    // from a table holding the tasks Iris reported; and each answer applies.
    let scenario = || {
        let mut table = TaskTable::new();
        for (name, fact) in facts.iter().filter(|(name, _)| name.starts_with("job_")) {
            let (retry, policy) = policy_of(fact);
            let status = job::JobStatus::decode(bytes(name).as_slice()).unwrap();
            let id = JobId::from_path(status.job_id.as_deref().unwrap()).unwrap();
            let tasks = job_tasks(&facts, &id, retry);
            table.insert_job(id, policy, tasks).unwrap();
        }
        table
    };
    let table = scenario();
    for (name, fact) in facts
        .iter()
        .filter(|(name, _)| name.starts_with("reconcile_request"))
    {
        let iris = cluster::worker::ReconcileRequest::decode(bytes(name).as_slice()).unwrap();
        assert_eq!(iris.desired.len() as u64, fact["desired"].as_u64().unwrap());
        let worker = WorkerId::new(iris.worker_id.clone().unwrap()).unwrap();
        let ours = table.reconcile_request(&worker, |_| Some(job::RunTaskRequest::default()));
        assert_eq!(
            intents(&ours),
            intents(&iris),
            "{name}: the crate's desired set is Iris's plan"
        );
    }
    for (name, fact) in facts
        .iter()
        .filter(|(name, _)| name.starts_with("reconcile_response"))
    {
        let response = cluster::worker::ReconcileResponse::decode(bytes(name).as_slice()).unwrap();
        let worker = WorkerId::new(response.worker_id.clone().unwrap()).unwrap();
        let state = fact["state"].as_str().unwrap();
        let mut table = scenario();
        let stops_before = table.stops_on(&worker).count();
        let reconciled = table
            .reconcile(&worker, response.clone(), RECEIVED)
            .unwrap();
        // Every observation names an attempt of the worker the crate holds, in a state it reads;
        // the only refusals are the rules' (BUILDING after RUNNING moves nothing backwards).
        for refused in &reconciled.refused {
            assert!(
                matches!(refused, iris_task::ReconcileError::Refused { .. })
                    && state == "TASK_STATE_BUILDING",
                "{name}: {refused}"
            );
        }
        // An ended or gone attempt confirms the stops the worker owed; a live one does not.
        let confirms = !matches!(state, "TASK_STATE_BUILDING" | "TASK_STATE_RUNNING");
        let settled = reconciled.changes.stops().len();
        assert_eq!(settled, if confirms { stops_before } else { 0 }, "{name}");
        assert_eq!(
            response.observed.len() as u64,
            fact["observed"].as_u64().unwrap()
        );
    }
    let mut wrong = scenario();
    let misrouted = cluster::worker::ReconcileResponse {
        worker_id: Some("w9".into()),
        ..cluster::worker::ReconcileResponse::decode(
            bytes("reconcile_response_w1_running").as_slice(),
        )
        .unwrap()
    };
    assert!(
        wrong
            .reconcile(&WorkerId::new("w1").unwrap(), misrouted, RECEIVED)
            .is_err()
    );

    // Iris reads the crate's encodings back, field by field.
    let Some(python) = iris::python() else { return };
    let output = Command::new(python)
        .arg(iris::root().join("tests/today/fixtures.py"))
        .arg("check")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "Iris read the crate's encodings differently:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stdout).trim());
}
