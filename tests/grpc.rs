//! The reference controller (`examples/controller`) and its fleet (`examples/workers`) over a real
//! network: gRPC on 127.0.0.1, ports chosen by the OS, the controller in a process of its own so
//! that it can be killed with SIGKILL.
//!
//! - 10,000 tasks run to the end through a controller killed midway and restarted on its store;
//!   every report the controller accepted is still there, and the counts and invariants hold.
//! - The security cases at the door, each with its gRPC status, and the task unchanged.
//! - A Python grpcio client, with stubs compiled from the crate's .proto files at test time.
//! - The live dashboard in headless Chromium, with a screenshot under target/.
//! - A bounded smoke of the load figures against the do-nothing baseline.
//!
//! The controller process is this test binary run again with `IRIS_CONTROLLER_ARGS` set, and
//! only `controller_process` selected (`--exact`), which then runs the controller. The Python and Chromium tests need `grpcio-tools` and `chromium`; without
//! them each says loudly that it skipped, and under `CI=true` it fails instead.

#![allow(dead_code)]

#[path = "../examples/controller/dashboard.rs"]
mod dashboard;
#[path = "../examples/workers/fleet.rs"]
mod fleet;
#[path = "../examples/controller/noop.rs"]
mod noop;
#[path = "../examples/controller/serve.rs"]
mod serve;
#[path = "../examples/controller/service.rs"]
mod service;
#[path = "../examples/controller/state.rs"]
mod state;
#[path = "../examples/controller/writer.rs"]
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use iris_task::grpc::controller_service_client::ControllerServiceClient;
use iris_task::proto::{
    GetJobStatusRequest, GetTaskStatusRequest, HeldAttempt, JobState, JobStatus, LaunchJobRequest,
    ListTasksRequest, PollTasksRequest, RegisterWorkerRequest, ReportTaskStateRequest, TaskState,
    TaskStatus, TerminateJobRequest, WorkerMetadata,
};
use iris_task::{AttemptId, JobId, StateKind, TaskId, WorkerId, WorkerReport};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::{Code, Request};

type Client = ControllerServiceClient<Channel>;

/// The child side: run a controller with the flags in `IRIS_CONTROLLER_ARGS` until killed.
#[test]
fn controller_process() {
    let Ok(flags) = std::env::var("IRIS_CONTROLLER_ARGS") else {
        return;
    };
    let args = serve::Args::parse_from(
        std::iter::once("controller").chain(flags.split(' ').filter(|flag| !flag.is_empty())),
    );
    if let Err(err) = serve::run(args) {
        eprintln!("controller: {}", err.message);
        std::process::exit(i32::from(err.code));
    }
}

/// A controller in its own process.
struct Controller {
    child: Child,
    grpc: SocketAddr,
    dashboard: SocketAddr,
    /// What it printed about its store.
    store_line: String,
}

impl Controller {
    /// Starts a controller on `store` with `flags`, and waits for its listening line.
    fn start(store: &Path, flags: &str) -> Controller {
        Self::try_start(store, flags).unwrap_or_else(|(code, out)| {
            panic!("the controller exited with {code:?} before listening: {out}")
        })
    }

    fn try_start(store: &Path, flags: &str) -> Result<Controller, (Option<i32>, String)> {
        let flags = format!("--store {} {flags}", store.display());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "controller_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("IRIS_CONTROLLER_ARGS", flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Both pipes are drained by threads, so that the child never blocks on a full pipe.
        let (lines, read) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let (errors, error_lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[controller] {line}");
                let _ = errors.send(line);
            }
        });
        let mut store_line = String::new();
        while let Ok(line) = read.recv_timeout(Duration::from_secs(30)) {
            // libtest's "test controller_process ... " may precede the first line.
            if let Some(at) = line.find("store ") {
                store_line = line[at..].to_owned();
            }
            if let Some(at) = line.find("controller listening: ") {
                let rest = &line[at..];
                let grpc = rest
                    .split("grpc=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                let dashboard = rest.split("dashboard=http://").nth(1).unwrap();
                return Ok(Controller {
                    grpc: grpc.parse().unwrap(),
                    dashboard: dashboard.trim_end_matches('/').parse().unwrap(),
                    child,
                    store_line,
                });
            }
        }
        let status = child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err: Vec<String> = error_lines.try_iter().collect();
        Err((status.code(), err.join("\n")))
    }

    fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-task-grpc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn client(url: &str) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    ControllerServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024)
}

fn launch(name: &str, replicas: i32) -> LaunchJobRequest {
    LaunchJobRequest {
        name: name.to_owned(),
        replicas,
        // Ten retries: at a 5% failure rate, no task of 10,000 fails for good (5% to the 11th).
        max_retries_failure: 10,
        max_task_failures: replicas,
        ..LaunchJobRequest::default()
    }
}

async fn job(client: &mut Client, job: &str, tasks: bool) -> JobStatus {
    let request = GetJobStatusRequest {
        job_id: job.to_owned(),
        exclude_tasks: !tasks,
    };
    client
        .get_job_status(request)
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

fn ended(status: &JobStatus) -> i32 {
    status
        .task_state_counts
        .iter()
        .filter(|(label, _)| label.parse::<StateKind>().unwrap().is_terminal())
        .map(|(_, count)| count)
        .sum()
}

/// Every task of `jobs`, through ListTasks pages.
async fn all_tasks(client: &mut Client, jobs: &[String]) -> HashMap<String, TaskStatus> {
    let mut tasks = HashMap::new();
    for job in jobs {
        let mut offset = 0;
        loop {
            let request = ListTasksRequest {
                job_id: job.clone(),
                offset,
                limit: 0,
            };
            let page = client.list_tasks(request).await.unwrap().into_inner();
            assert!(
                page.tasks.len() <= 1_000,
                "a page holds at most 1,000 tasks"
            );
            offset += i32::try_from(page.tasks.len()).unwrap();
            let last = page.tasks.is_empty() || offset >= page.total_count;
            for task in page.tasks {
                tasks.insert(task.task_id.clone(), task);
            }
            if last {
                break;
            }
        }
    }
    tasks
}

fn fleet_config(url: &str, workers: usize, prefix: &str) -> fleet::Config {
    fleet::Config {
        controller: url.to_owned(),
        workers,
        slots: 4,
        prefix: prefix.to_owned(),
        seed: 7,
        task_ms: (2, 30),
        faults: fleet::Faults {
            fail: 0.05,
            duplicate: 0.03,
            late: 0.03,
            lose: 0.02,
            die: 0.002,
        },
        poll_every: Duration::from_millis(50),
        call_timeout: Duration::from_secs(5),
        connections: 8,
    }
}

/// Short timeouts, so that the workers' deaths are noticed within the run.
const FAST: &str = "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 \
    --heartbeat-timeout-ms 1500 --dispatch-deadline-ms 3000 --tick-ms 20";

/// Timeouts no test step comes near, even on a loaded machine: a test that holds an ASSIGNED
/// attempt while it tries the door must not see it expire.
const STEADY: &str = "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 \
    --heartbeat-timeout-ms 120000 --dispatch-deadline-ms 120000 --tick-ms 20";

#[test]
fn ten_thousand_tasks_run_to_the_end_through_a_controller_killed_midway() {
    let dir = temp_dir("kill");
    let store = dir.join("controller.db");
    let first = Controller::start(&store, FAST);
    let (grpc, dashboard) = (first.grpc, first.dashboard);
    let url = first.url();
    let jobs: Vec<String> = (0..4).map(|n| format!("job-{n}")).collect();
    let rt = runtime();
    let stats = Arc::new(fleet::Stats::default());
    let (stop, stopped) = watch::channel(false);

    let (before_kill, tasks_before) = rt.block_on(async {
        let mut client = client(&url).await;
        for job in &jobs {
            client.launch_job(launch(job, 2_500)).await.unwrap();
        }
        tokio::spawn(fleet::run(
            fleet_config(&url, 100, "w"),
            Arc::clone(&stats),
            stopped,
        ));
        // Midway: at least 4,000 of the 10,000 tasks ended.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut done = 0;
            for job_id in &jobs {
                done += ended(&job(&mut client, job_id, false).await);
            }
            if done >= 4_000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {done} tasks ended in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let tasks = all_tasks(&mut client, &jobs).await;
        (stats.ends.lock().unwrap().len(), tasks)
    });
    let registered_before_kill = stats
        .registrations
        .load(std::sync::atomic::Ordering::Relaxed);
    // The fleet keeps reporting into a dead controller: its calls fail and are retried.
    first.kill();
    std::thread::sleep(Duration::from_millis(300));
    let flags = format!(
        "--listen {grpc} --dashboard {dashboard} --heartbeat-timeout-ms 1500 \
         --dispatch-deadline-ms 3000 --tick-ms 20"
    );
    let second = Controller::start(&store, &flags);
    assert_eq!(
        second.store_line,
        format!("store {} holds 10000 tasks", store.display()),
        "the restarted controller read every task back"
    );

    let (statuses, tasks) = rt.block_on(async {
        let mut client = client(&url).await;
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let mut done = 0;
            for job_id in &jobs {
                done += ended(&job(&mut client, job_id, false).await);
            }
            if done == 10_000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {done} tasks ended in 240 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(true);
        let mut statuses = Vec::new();
        for job_id in &jobs {
            statuses.push(job(&mut client, job_id, true).await);
        }
        (statuses, all_tasks(&mut client, &jobs).await)
    });

    // Counts and invariants, through GetJobStatus.
    for status in &statuses {
        assert_eq!(
            status.state,
            JobState::Succeeded as i32,
            "{}",
            status.job_id
        );
        assert_eq!(status.tasks.len(), 2_500);
        let mut tally: BTreeMap<String, i32> = BTreeMap::new();
        let mut failures = 0;
        let mut preemptions = 0;
        for task in &status.tasks {
            let state = StateKind::try_from(task.state).unwrap();
            *tally.entry(state.label().to_owned()).or_default() += 1;
            assert!(state.is_terminal(), "{} ended {state}", task.task_id);
            let ids: Vec<i32> = task.attempts.iter().map(|a| a.attempt_id).collect();
            assert_eq!(
                ids,
                (0..ids.len() as i32).collect::<Vec<_>>(),
                "{}",
                task.task_id
            );
            assert_eq!(task.current_attempt_id, ids.len() as i32 - 1);
            assert!(
                task.attempts.iter().all(|a| a.finished_at_ms.is_some()),
                "{}: an attempt is still open",
                task.task_id
            );
            failures += task
                .attempts
                .iter()
                .filter(|a| a.state == TaskState::Failed as i32)
                .count();
            preemptions += task
                .attempts
                .iter()
                .filter(|a| a.state == TaskState::WorkerFailed as i32 && a.started_at_ms.is_some())
                .count();
        }
        for (label, count) in &status.task_state_counts {
            assert_eq!(tally.get(label).copied().unwrap_or(0), *count, "{label}");
        }
        assert_eq!(status.task_state_counts["succeeded"], 2_500);
        assert_eq!(status.failure_count as usize, failures);
        assert_eq!(status.preemption_count as usize, preemptions);
    }

    // Nothing acknowledged was lost: each end report the controller accepted, before or after
    // the kill, is the recorded end of its attempt.
    let ends = stats.ends.lock().unwrap().clone();
    assert!(
        before_kill > 0 && ends.len() > before_kill,
        "reports were accepted before ({before_kill}) and after the kill ({})",
        ends.len()
    );
    for (task_id, attempt, state) in &ends {
        let task = &tasks[task_id];
        let recorded = task
            .attempts
            .iter()
            .find(|a| a.attempt_id == *attempt)
            .unwrap_or_else(|| panic!("{task_id}: attempt {attempt} was lost"));
        assert_eq!(recorded.state, *state, "{task_id} attempt {attempt}");
    }
    // A task that had ended before the kill ended the same way after it.
    for (task_id, before) in &tasks_before {
        if StateKind::try_from(before.state).unwrap().is_terminal() {
            assert_eq!(tasks[task_id].state, before.state, "{task_id}");
            assert_eq!(tasks[task_id].attempts, before.attempts, "{task_id}");
        }
    }
    // The faults happened.
    let refused = stats.refused.lock().unwrap().clone();
    assert!(
        stats.deaths.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no worker died"
    );
    assert!(
        refused.get("FailedPrecondition").copied().unwrap_or(0) > 0,
        "no late report was refused: {refused:?}"
    );
    // The restarted controller knew no token: each of the 100 seats registered again (or died
    // and its replacement registered).
    let registered_after = stats
        .registrations
        .load(std::sync::atomic::Ordering::Relaxed)
        - registered_before_kill;
    assert!(
        registered_after >= 100,
        "{registered_after} registrations after the kill"
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A request with a worker's token in its metadata.
fn signed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(service::TOKEN_HEADER, token.parse().unwrap());
    request
}

async fn register(client: &mut Client, worker: &str) -> String {
    let request = RegisterWorkerRequest {
        worker_id: worker.to_owned(),
        address: format!("test://{worker}"),
        metadata: Some(WorkerMetadata {
            slots: 1,
            ..WorkerMetadata::default()
        }),
    };
    let response = client.register_worker(request).await.unwrap().into_inner();
    assert!(response.accepted);
    assert_eq!(response.token.len(), 32, "a 128-bit token, in hex");
    response.token
}

async fn task(client: &mut Client, id: &str) -> TaskStatus {
    let request = GetTaskStatusRequest {
        task_id: id.to_owned(),
    };
    client
        .get_task_status(request)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

/// Polls as `worker` until the scheduler hands it an attempt.
async fn collect(client: &mut Client, worker: &str, token: &str) -> TaskStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let poll = PollTasksRequest {
            worker_id: worker.to_owned(),
            held: Vec::new(),
        };
        let work = client
            .poll_tasks(signed(poll, token))
            .await
            .unwrap()
            .into_inner();
        if let Some(status) = work.run.into_iter().next() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{worker} was never assigned a task"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_door_refuses_each_bad_call_with_its_status_and_changes_nothing() {
    let dir = temp_dir("door");
    let controller = Controller::start(&dir.join("controller.db"), STEADY);
    let url = controller.url();
    runtime().block_on(async {
        let mut client = client(&url).await;
        client.launch_job(launch("door", 1)).await.unwrap();
        let a = register(&mut client, "a").await;
        let assigned = collect(&mut client, "a", &a).await;
        let b = register(&mut client, "b").await;
        // Nobody takes over a live worker's id.
        let takeover = RegisterWorkerRequest {
            worker_id: "a".to_owned(),
            ..RegisterWorkerRequest::default()
        };
        let status = client.register_worker(takeover.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        let status = client
            .register_worker(signed(takeover, &b))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::AlreadyExists,
            "with another worker's token"
        );
        assert_eq!(assigned.task_id, "door/task-0");
        assert_eq!(assigned.worker_id, "a");
        let before = task(&mut client, "door/task-0").await;
        assert_eq!(before.state, TaskState::Assigned as i32);

        let id = TaskId::new(JobId::new("door").unwrap(), 0);
        let as_worker = |worker: &str, report: WorkerReport| {
            ReportTaskStateRequest::new(
                &WorkerId::new(worker).unwrap(),
                &id,
                AttemptId::new(0),
                &report,
            )
        };
        let running = as_worker("a", WorkerReport::Running);
        let cases: Vec<(&str, Request<ReportTaskStateRequest>, Code)> = vec![
            (
                "a worker that never registered",
                signed(as_worker("ghost", WorkerReport::Running), &a),
                Code::Unauthenticated,
            ),
            (
                "no token",
                Request::new(running.clone()),
                Code::Unauthenticated,
            ),
            (
                "a bad token",
                signed(running.clone(), "0123456789abcdef0123456789abcdef"),
                Code::Unauthenticated,
            ),
            (
                "a report signed with another worker's token",
                signed(running.clone(), &b),
                Code::Unauthenticated,
            ),
            (
                "a report about another worker's attempt",
                signed(as_worker("b", WorkerReport::Succeeded), &b),
                Code::PermissionDenied,
            ),
            (
                "a malformed task id",
                signed(
                    ReportTaskStateRequest {
                        task_id: "door/task-x".to_owned(),
                        ..running.clone()
                    },
                    &a,
                ),
                Code::InvalidArgument,
            ),
            (
                "a negative attempt id",
                signed(
                    ReportTaskStateRequest {
                        attempt_id: -1,
                        ..running.clone()
                    },
                    &a,
                ),
                Code::InvalidArgument,
            ),
            (
                "a state workers do not report",
                signed(
                    ReportTaskStateRequest {
                        state: TaskState::Pending as i32,
                        ..running.clone()
                    },
                    &a,
                ),
                Code::InvalidArgument,
            ),
            (
                "a task that does not exist",
                signed(
                    ReportTaskStateRequest::new(
                        &WorkerId::new("a").unwrap(),
                        &TaskId::new(JobId::new("door").unwrap(), 9),
                        AttemptId::new(0),
                        &WorkerReport::Running,
                    ),
                    &a,
                ),
                Code::NotFound,
            ),
            (
                "a stale attempt",
                signed(
                    ReportTaskStateRequest {
                        attempt_id: 5,
                        ..running.clone()
                    },
                    &a,
                ),
                Code::FailedPrecondition,
            ),
            (
                "an oversized message (100 KB, the limit is 64 KiB)",
                signed(
                    as_worker(
                        "a",
                        WorkerReport::Failed {
                            exit_code: 1,
                            error: "x".repeat(100_000),
                        },
                    ),
                    &a,
                ),
                Code::ResourceExhausted,
            ),
        ];
        for (case, request, code) in cases {
            let status = client.report_task_state(request).await.unwrap_err();
            assert_eq!(status.code(), code, "{case}: {status:?}");
            assert_eq!(
                task(&mut client, "door/task-0").await,
                before,
                "{case} changed the task"
            );
        }

        // Polls need the token too.
        let poll = PollTasksRequest {
            worker_id: "a".to_owned(),
            held: Vec::new(),
        };
        let status = client
            .poll_tasks(signed(poll.clone(), &b))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);

        // Launch and lookups: bad input, duplicates, unknown names.
        for (name, replicas, code) in [
            ("", 1, Code::InvalidArgument),
            (" ", 1, Code::InvalidArgument),
            ("neg", -1, Code::InvalidArgument),
            ("huge", 100_001, Code::InvalidArgument),
            ("door", 1, Code::AlreadyExists),
        ] {
            let status = client.launch_job(launch(name, replicas)).await.unwrap_err();
            assert_eq!(status.code(), code, "LaunchJob {name:?} x{replicas}");
        }
        let unknown = GetJobStatusRequest {
            job_id: "nope".to_owned(),
            exclude_tasks: false,
        };
        let status = client.get_job_status(unknown).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let status = client
            .get_task_status(GetTaskStatusRequest {
                task_id: "door/7".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);

        // The real worker's report goes through.
        client
            .report_task_state(signed(running.clone(), &a))
            .await
            .unwrap();
        assert_eq!(
            task(&mut client, "door/task-0").await.state,
            TaskState::Running as i32
        );
        // Delivered twice: absorbed.
        client
            .report_task_state(signed(running.clone(), &a))
            .await
            .unwrap();

        // Terminated: the worker is told to stop, and its later report is refused.
        let terminate = TerminateJobRequest {
            job_id: "door".to_owned(),
        };
        client.terminate_job(terminate).await.unwrap();
        let holding = PollTasksRequest {
            worker_id: "a".to_owned(),
            held: vec![HeldAttempt {
                task_id: "door/task-0".to_owned(),
                attempt_id: 0,
            }],
        };
        for _ in 0..2 {
            let work = client
                .poll_tasks(signed(holding.clone(), &a))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(work.stop.len(), 1, "on every poll that lists it");
            assert_eq!(
                (work.stop[0].task_id.as_str(), work.stop[0].attempt_id),
                ("door/task-0", 0)
            );
            assert_eq!(work.stop[0].reason, "the task ended killed");
        }
        let dropped = client
            .poll_tasks(signed(poll, &a))
            .await
            .unwrap()
            .into_inner();
        assert!(
            dropped.stop.is_empty(),
            "no order once the worker dropped it"
        );
        let done = as_worker("a", WorkerReport::Succeeded);
        let status = client
            .report_task_state(signed(done, &a))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            task(&mut client, "door/task-0").await.state,
            TaskState::Killed as i32
        );
    });
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether a tool a test needs is here. Without it the test says loudly that it skipped, and
/// under `CI=true` (where `.ci/run` installs it) it fails instead.
fn have(tool: &str, probe: &mut Command, install: &str) -> bool {
    let found = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{tool} is missing, and CI=true: {install}");
    }
    eprintln!("\n*** SKIPPED: {tool} is missing ({install}); under CI=true this fails.\n");
    false
}

#[test]
fn a_python_grpcio_client_launches_reports_is_refused_at_the_door_and_reads_the_job_back() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !have(
        "Python grpcio-tools",
        Command::new(&python).args(["-c", "import grpc, grpc_tools, google.protobuf"]),
        "python3 -m pip install grpcio grpcio-tools protobuf",
    ) {
        return;
    }
    let dir = temp_dir("python");
    let controller = Controller::start(&dir.join("controller.db"), STEADY);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc/client.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(controller.grpc.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(output.status.success(), "the Python client failed");
    assert!(stdout.contains("checks passed"), "{stdout}");
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Headless Chromium, started as the machine's probe starts it: no sandbox (root), no GPU, no
/// background networking (this machine's closed network refuses it), a fresh profile.
fn chromium(profile: &Path) -> Command {
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // Let the page's fetch and timers run before the DOM is read.
        "--virtual-time-budget=3000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command.stderr(Stdio::null());
    command
}

/// The page as Chromium rendered it: each state's bucket count, read from the live DOM.
fn read_dashboard(profile: &Path, url: &str) -> (String, BTreeMap<String, i64>) {
    let output = chromium(profile)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    assert!(output.status.success(), "chromium failed: {output:?}");
    let dom = String::from_utf8(output.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for state in StateKind::ALL {
        let marker = format!("id=\"{}\"", state.css_class());
        let Some(at) = dom.find(&marker) else {
            continue;
        };
        let rest = &dom[at..];
        let count = rest.find("<span class=\"count\">").map(|start| {
            let digits: String = rest[start + 20..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<i64>().unwrap()
        });
        counts.insert(state.label().to_owned(), count.unwrap());
    }
    (dom, counts)
}

#[test]
fn the_live_dashboard_in_headless_chromium_shows_assigned_moves_and_ends_at_the_job_counts() {
    if !have(
        "chromium",
        Command::new("chromium").arg("--version"),
        "apt-get install chromium",
    ) {
        return;
    }
    let dir = temp_dir("chromium");
    let profile = dir.join("profile");
    let controller = Controller::start(&dir.join("controller.db"), FAST);
    let url = controller.url();
    let page = format!("http://{}/", controller.dashboard);
    let jobs: Vec<String> = (0..3).map(|n| format!("dash-{n}")).collect();
    let rt = runtime();
    let (stop, stopped) = watch::channel(false);
    rt.block_on(async {
        let mut client = client(&url).await;
        for job in &jobs {
            client.launch_job(launch(job, 2_000)).await.unwrap();
        }
        let mut config = fleet_config(&url, 20, "d");
        config.task_ms = (20, 120);
        config.faults.die = 0.0;
        tokio::spawn(fleet::run(
            config,
            Arc::new(fleet::Stats::default()),
            stopped,
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    });

    // Two reads while the fleet runs: the ASSIGNED bucket is there, and the counts move.
    let (dom, first) = read_dashboard(&profile, &page);
    assert!(dom.contains("id=\"status-assigned\""), "no ASSIGNED bucket");
    assert_eq!(
        first.len(),
        StateKind::ALL.len(),
        "a bucket per state: {first:?}"
    );
    assert_eq!(first.values().sum::<i64>(), 6_000, "{first:?}");
    std::thread::sleep(Duration::from_secs(1));
    let (_, second) = read_dashboard(&profile, &page);
    assert_ne!(first, second, "the counts did not change between two reads");
    assert!(
        second["succeeded"] > first["succeeded"],
        "{first:?} → {second:?}"
    );

    // A screenshot for people to look at.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let shot = target.join("dashboard.png");
    let status = chromium(&profile)
        .arg("--window-size=1000,720")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "an empty screenshot"
    );
    eprintln!("dashboard screenshot: {}", shot.display());

    // At the end, the page's counts are GetJobStatus's.
    let wanted = rt.block_on(async {
        let mut client = client(&url).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut done = 0;
            for job_id in &jobs {
                done += ended(&job(&mut client, job_id, false).await);
            }
            if done == 6_000 {
                break;
            }
            assert!(Instant::now() < deadline, "only {done} tasks ended");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(true);
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        for job_id in &jobs {
            for (label, count) in job(&mut client, job_id, false).await.task_state_counts {
                *wanted.entry(label).or_default() += i64::from(count);
            }
        }
        // The dashboard's snapshot is at most 250 ms old.
        tokio::time::sleep(Duration::from_millis(600)).await;
        wanted
    });
    let (_, last) = read_dashboard(&profile, &page);
    assert_eq!(
        last, wanted,
        "the dashboard's final counts are GetJobStatus's"
    );
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_port_and_a_locked_store_each_get_a_clear_error_and_exit_code() {
    let dir = temp_dir("refusals");
    let store = dir.join("controller.db");
    let first = Controller::start(&store, FAST);

    // Its gRPC port, for a second controller on another store.
    let flags = format!("--listen {} --dashboard 127.0.0.1:0", first.grpc);
    let (code, err) = Controller::try_start(&dir.join("other.db"), &flags)
        .err()
        .expect("a second controller on a taken port must not start");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("the gRPC address {} is taken", first.grpc)),
        "{err}"
    );

    // Its dashboard port.
    let flags = format!("--listen 127.0.0.1:0 --dashboard {}", first.dashboard);
    let (code, err) = Controller::try_start(&dir.join("other.db"), &flags)
        .err()
        .expect("a second controller on a taken dashboard port must not start");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the dashboard address"), "{err}");

    // Its store, on free ports.
    let (code, err) = Controller::try_start(&store, FAST)
        .err()
        .expect("a second controller on a locked store must not start");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("{} is already open for writing", store.display())),
        "{err}"
    );
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_attempt_its_worker_never_collects_is_requeued_at_the_dispatch_deadline_free_of_charge() {
    let dir = temp_dir("deadline");
    let flags = "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 \
        --heartbeat-timeout-ms 60000 --dispatch-deadline-ms 200 --tick-ms 20";
    let controller = Controller::start(&dir.join("controller.db"), flags);
    let url = controller.url();
    runtime().block_on(async {
        let mut client = client(&url).await;
        let mut request = launch("late", 1);
        request.max_retries_preemption = 1;
        client.launch_job(request).await.unwrap();
        // Registered, but it never polls: each attempt expires unseen.
        let token = register(&mut client, "sleepy").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            let status = task(&mut client, "late/task-0").await;
            // Assigned, expired, assigned again, expired again, and assigned a third time.
            if status.attempts.len() >= 3 {
                break status;
            }
            assert!(Instant::now() < deadline, "{:?}", status.attempts);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let closed = &status.attempts[..status.attempts.len() - 1];
        for attempt in closed {
            assert_eq!(attempt.state, TaskState::WorkerFailed as i32);
            assert_eq!(attempt.started_at_ms, None, "it never started");
            assert!(
                attempt.error.contains("dispatch deadline"),
                "{}",
                attempt.error
            );
        }
        // Free of charge: one preemption allowed, more than one requeue, still not charged.
        let job = job(&mut client, "late", false).await;
        assert_eq!((job.failure_count, job.preemption_count), (0, 0));
        assert_ne!(job.state, JobState::Failed as i32);
        // The worker, polling at last as if it had collected the expired attempts late, is told
        // to stop each, and is given an ASSIGNED one it does not hold.
        let poll = PollTasksRequest {
            worker_id: "sleepy".to_owned(),
            held: closed
                .iter()
                .map(|attempt| HeldAttempt {
                    task_id: "late/task-0".to_owned(),
                    attempt_id: attempt.attempt_id,
                })
                .collect(),
        };
        let work = client
            .poll_tasks(signed(poll, &token))
            .await
            .unwrap()
            .into_inner();
        let stopped: Vec<i32> = work.stop.iter().map(|order| order.attempt_id).collect();
        let expired: Vec<i32> = closed.iter().map(|attempt| attempt.attempt_id).collect();
        assert_eq!(stopped, expired);
        assert!(
            work.stop
                .iter()
                .all(|order| order.reason.starts_with("the task is on attempt")),
            "{:?}",
            work.stop
        );
        assert_eq!(work.run.len(), 1, "{:?}", work.run);
        assert!(work.run[0].current_attempt_id > *expired.last().unwrap());
    });
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bounded smoke of `examples/workers/load.sh`: 200 workers for 3 s against the controller,
/// then against the do-nothing baseline. It checks that both carry load and prints the ratio;
/// the README's figures come from the script, on a release build.
#[test]
fn load_smoke_against_the_do_nothing_baseline() {
    let dir = temp_dir("load");
    let mut rates = Vec::new();
    for noop in [false, true] {
        let flags = if noop {
            "--noop --listen 127.0.0.1:0 --dashboard 127.0.0.1:0"
        } else {
            "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 --tick-ms 10"
        };
        let controller = Controller::start(&dir.join("load.db"), flags);
        let url = controller.url();
        let stats = Arc::new(fleet::Stats::default());
        let rt = runtime();
        let elapsed = rt.block_on(async {
            if !noop {
                let mut client = client(&url).await;
                client.launch_job(launch("load", 100_000)).await.unwrap();
            }
            let mut config = fleet_config(&url, 200, "l");
            config.task_ms = (0, 0);
            config.faults = fleet::Faults::default();
            let (stop, stopped) = watch::channel(false);
            let fleet = tokio::spawn(fleet::run(config, Arc::clone(&stats), stopped));
            let started = Instant::now();
            tokio::time::sleep(Duration::from_secs(3)).await;
            let _ = stop.send(true);
            let elapsed = started.elapsed();
            fleet.await.unwrap();
            elapsed
        });
        let reports = stats.reports.load(std::sync::atomic::Ordering::Relaxed);
        let rate = reports as f64 / elapsed.as_secs_f64();
        eprintln!(
            "{}: {reports} reports, {rate:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            if noop { "baseline" } else { "controller" },
            stats.latency_ms(0.5),
            stats.latency_ms(0.99)
        );
        assert!(reports > 1_000, "{reports} reports in 3 s");
        assert!(stats.refused.lock().unwrap().is_empty());
        rates.push(rate);
    }
    eprintln!(
        "controller / baseline: {:.2} (a debug build; see load.sh)",
        rates[0] / rates[1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls as `worker` holding `held`.
async fn poll_holding(
    client: &mut Client,
    worker: &str,
    token: &str,
    held: &[(&str, i32)],
) -> iris_task::proto::PollTasksResponse {
    let request = PollTasksRequest {
        worker_id: worker.to_owned(),
        held: held
            .iter()
            .map(|(task_id, attempt_id)| HeldAttempt {
                task_id: (*task_id).to_owned(),
                attempt_id: *attempt_id,
            })
            .collect(),
    };
    client
        .poll_tasks(signed(request, token))
        .await
        .unwrap()
        .into_inner()
}

async fn report_as(
    client: &mut Client,
    worker: &str,
    token: &str,
    task: &str,
    report: WorkerReport,
) {
    let request = ReportTaskStateRequest::new(
        &WorkerId::new(worker).unwrap(),
        &task.parse().unwrap(),
        AttemptId::new(0),
        &report,
    );
    client
        .report_task_state(signed(request, token))
        .await
        .unwrap();
}

#[test]
fn workers_are_told_to_stop_what_a_gang_ended_and_lose_what_they_no_longer_hold() {
    let dir = temp_dir("stops");
    let controller = Controller::start(&dir.join("controller.db"), STEADY);
    let url = controller.url();
    runtime().block_on(async {
        let mut client = client(&url).await;
        // A gang of two, one member on each worker; no retries, so a failure ends the gang.
        let mut gang = launch("gang", 2);
        gang.max_retries_failure = 0;
        gang.coscheduling = Some(iris_task::proto::CoschedulingConfig {
            group_by: "rack".to_owned(),
        });
        client.launch_job(gang).await.unwrap();
        let a = register(&mut client, "a").await;
        let b = register(&mut client, "b").await;
        let on_a = collect(&mut client, "a", &a).await.task_id;
        let on_b = collect(&mut client, "b", &b).await.task_id;
        assert_ne!(on_a, on_b, "one member each");
        report_as(&mut client, "a", &a, &on_a, WorkerReport::Running).await;
        report_as(&mut client, "b", &b, &on_b, WorkerReport::Running).await;
        let work = poll_holding(&mut client, "b", &b, &[(&on_b, 0)]).await;
        assert!(work.stop.is_empty(), "b's attempt is still its own");

        // a's member fails: b's member ends COSCHED_FAILED, and b is told to stop it.
        let failed = WorkerReport::Failed {
            exit_code: 3,
            error: "exit 3".to_owned(),
        };
        report_as(&mut client, "a", &a, &on_a, failed).await;
        assert_eq!(
            task(&mut client, &on_b).await.state,
            TaskState::CoschedFailed as i32
        );
        let work = poll_holding(&mut client, "b", &b, &[(&on_b, 0)]).await;
        assert_eq!(work.stop.len(), 1, "{:?}", work.stop);
        assert_eq!(work.stop[0].task_id, on_b);
        assert_eq!(work.stop[0].reason, "the task ended cosched_failed");

        // A worker that restarted holds nothing: its RUNNING attempt ends MISSING, requeued on
        // the preemption budget.
        client.launch_job(launch("solo", 1)).await.unwrap();
        // Either worker may get it (the scheduler's round-robin turns every tick).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mine = loop {
            let status = task(&mut client, "solo/task-0").await;
            if status.state == TaskState::Assigned as i32 {
                break status;
            }
            assert!(Instant::now() < deadline, "never assigned");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (who, token) = if mine.worker_id == "a" {
            ("a", &a)
        } else {
            ("b", &b)
        };
        let mine = mine.task_id;
        report_as(&mut client, who, token, &mine, WorkerReport::Running).await;
        let work = poll_holding(&mut client, who, token, &[]).await;
        assert!(work.stop.is_empty());
        let status = task(&mut client, &mine).await;
        let first = &status.attempts[0];
        assert_eq!(first.state, TaskState::WorkerFailed as i32, "{first:?}");
        assert!(first.started_at_ms.is_some());
        assert_ne!(status.state, TaskState::Running as i32);
        let job = job(&mut client, "solo", false).await;
        assert_eq!(
            job.preemption_count, 1,
            "MISSING after a start is a preemption"
        );
    });
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_that_stops_calling_is_lost_and_its_id_is_free_again() {
    let dir = temp_dir("lost");
    let flags = "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 \
        --heartbeat-timeout-ms 3000 --dispatch-deadline-ms 120000 --tick-ms 20";
    let controller = Controller::start(&dir.join("controller.db"), flags);
    let url = controller.url();
    runtime().block_on(async {
        let mut client = client(&url).await;
        client.launch_job(launch("quiet", 1)).await.unwrap();
        let token = register(&mut client, "q").await;
        let id = collect(&mut client, "q", &token).await.task_id;
        report_as(&mut client, "q", &token, &id, WorkerReport::Running).await;
        // Silence, past the heartbeat timeout.
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            let status = task(&mut client, &id).await;
            if status.state != TaskState::Running as i32 {
                break status;
            }
            assert!(Instant::now() < deadline, "never declared lost");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.attempts[0].state, TaskState::WorkerFailed as i32);
        assert_eq!(status.attempts[0].error, "the worker stopped polling");
        // Its token is void; its id is free to register again, and what it held it must stop.
        let request = PollTasksRequest {
            worker_id: "q".to_owned(),
            held: Vec::new(),
        };
        let refused = client
            .poll_tasks(signed(request, &token))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        let again = register(&mut client, "q").await;
        let work = poll_holding(&mut client, "q", &again, &[(&id, 0)]).await;
        assert_eq!(work.stop.len(), 1, "{:?}", work.stop);
    });
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_call_past_the_timeout_gets_deadline_exceeded() {
    let dir = temp_dir("timeout");
    let flags = "--listen 127.0.0.1:0 --dashboard 127.0.0.1:0 --call-timeout-ms 1";
    let controller = Controller::start(&dir.join("controller.db"), flags);
    let url = controller.url();
    runtime().block_on(async {
        let mut client = client(&url).await;
        // 100,000 tasks take far longer than 1 ms to insert and commit.
        let status = client.launch_job(launch("big", 100_000)).await.unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    });
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_refusal_of_the_table_and_the_wire_maps_to_its_status() {
    use iris_task::{ProtoError, StoreError, TableError, TransitionError};
    let id = TaskId::new(JobId::new("job").unwrap(), 0);
    let cases: Vec<(TableError, Code)> = vec![
        (TableError::UnknownTask(id.clone()), Code::NotFound),
        (TableError::DuplicateTask(id.clone()), Code::AlreadyExists),
        (TableError::Full(id.clone()), Code::ResourceExhausted),
        (
            TableError::NotPending {
                task: id.clone(),
                state: StateKind::Running,
            },
            Code::FailedPrecondition,
        ),
        (
            TransitionError::WrongWorker {
                task: id.clone(),
                current: Some(WorkerId::new("a").unwrap()),
                reported: WorkerId::new("b").unwrap(),
            }
            .into(),
            Code::PermissionDenied,
        ),
        (
            TransitionError::StaleAttempt {
                task: id.clone(),
                current: Some(AttemptId::new(1)),
                reported: AttemptId::new(0),
            }
            .into(),
            Code::FailedPrecondition,
        ),
    ];
    for (err, code) in cases {
        let message = err.to_string();
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), code, "{message}");
        assert_eq!(status.message(), message);
        // Through a store, the same.
        let status = tonic::Status::from(StoreError::Table(TableError::UnknownTask(id.clone())));
        assert_eq!(status.code(), Code::NotFound);
    }
    let poisoned = StoreError::Poisoned {
        why: "a call panicked".to_owned(),
    };
    assert_eq!(tonic::Status::from(poisoned).code(), Code::Internal);
    let malformed = ProtoError::NegativeAttemptId {
        field: "ReportTaskStateRequest.attempt_id".to_owned(),
        value: -1,
    };
    let status = tonic::Status::from(malformed);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("ReportTaskStateRequest.attempt_id")
    );
}

#[test]
fn a_launch_request_reads_by_iris_defaults_and_refuses_negative_counts() {
    let launch = LaunchJobRequest {
        name: "j".to_owned(),
        ..LaunchJobRequest::default()
    }
    .to_launch()
    .unwrap();
    assert_eq!(launch.replicas, 1, "replicas 0 is one task");
    assert_eq!(launch.retry.max_retries_failure, 0);
    assert_eq!(
        launch.retry.max_retries_preemption, 100,
        "0 is Iris's default"
    );
    assert_eq!(launch.policy.max_task_failures, 0);
    assert!(!launch.policy.coscheduled);
    let gang = LaunchJobRequest {
        name: "g".to_owned(),
        coscheduling: Some(iris_task::proto::CoschedulingConfig::default()),
        max_retries_preemption: 7,
        ..LaunchJobRequest::default()
    }
    .to_launch()
    .unwrap();
    assert!(gang.policy.coscheduled, "set, even with an empty group_by");
    assert_eq!(gang.retry.max_retries_preemption, 7);
    for field in [
        "replicas",
        "max_task_failures",
        "max_retries_failure",
        "max_retries_preemption",
    ] {
        let mut request = LaunchJobRequest {
            name: "j".to_owned(),
            ..LaunchJobRequest::default()
        };
        match field {
            "replicas" => request.replicas = -1,
            "max_task_failures" => request.max_task_failures = -1,
            "max_retries_failure" => request.max_retries_failure = -1,
            _ => request.max_retries_preemption = -1,
        }
        let err = request.to_launch().unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("LaunchJobRequest.{field}")),
            "{err}"
        );
    }
    let nameless = LaunchJobRequest::default().to_launch().unwrap_err();
    assert!(
        matches!(nameless, iris_task::ProtoError::InvalidId { ref field, .. } if field == "LaunchJobRequest.name"),
        "{nameless}"
    );
}
