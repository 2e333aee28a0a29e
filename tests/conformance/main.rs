//! The crate against Iris itself: random scripts of controller events go to Iris's own kernel (the
//! pinned `marin-iris` wheel, in process in a Python child, its clock set by the script) and to a
//! [`TaskTable`], and after every step both are compared: each task's state, failure and
//! preemption counts, its attempts (each one's state, and whether it is finished), each job's
//! state, and whether the step changed anything or was dropped.
//!
//! A difference one of the declared kinds explains (the crate guide's "Differences from Iris") is
//! counted, the test normalises what that kind explains, and the comparison goes on, so that one
//! declared difference cannot hide a later one:
//!
//! - **E**, BUILDING reported after RUNNING: Iris moves the task back to BUILDING, the crate
//!   rejects the report. Normalised by reading Iris's BUILDING as the crate's RUNNING for that
//!   attempt until it closes (a later RUNNING report then changes Iris only).
//! - **F**, a controller's kill of a started attempt: Iris counts it in `preemption_count`.
//!   Normalised by counting that attempt as Iris does.
//! - **G**, a job that ends while one of its tasks is pending after a retry: Iris rewrites the
//!   task's closed attempt to KILLED. Normalised by reading that attempt as Iris does.
//! - **H**, a lost worker holding several members of one gang: Iris charges whichever it reads
//!   first. The job is left out of the comparison from there on (the script goes on).
//! - **J**, an attempt the controller ended stays unfinished in Iris until its worker confirms.
//!   Normalised by reading it as finished.
//! - **K**, a child job: Iris kills it when its parent ends (or a one-task parent is retried).
//!   Normalised by cancelling it in the crate, as Iris did.
//!
//! Any other difference fails the test, with the shrunk script, both sides' states and the step.
//!
//! Scripts have 10 to 40 steps over 1 to 3 jobs of 1 to 6 tasks (random budgets, gangs, child
//! jobs) on 1 to 4 workers, with assignments, reports of every state (stale, duplicate and from
//! the wrong worker among them), lost workers, preemption, cancels, scheduling and execution
//! timeouts. Two kinds of placement: as Iris's scheduler places (`schedule`, a gang whole), and
//! piecemeal (`assign`, any task on any worker, gang members one at a time).
//!
//! `IRIS_CONFORMANCE_SCRIPTS` sets the number of scripts placed as Iris places (default 1,000),
//! `IRIS_CONFORMANCE_PIECEMEAL` the number placed piecemeal (default 500), and
//! `IRIS_CONFORMANCE_SEED` the seed; both cores run. The figures are printed and written to
//! `target/iris/conformance.txt`. Needs the Iris venv (`tests/iris`): without it, a loud skip, or
//! a failure under `CI=true`.

#[path = "../iris/mod.rs"]
mod iris;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iris_task::{
    AttemptId, Changes, JobId, JobPolicy, PARENT_JOB_TERMINATED_REASON, RetryPolicy, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, WorkerId, WorkerReport, proto,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde::Deserialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// `schedule`: single tasks first-fit, a gang's pending members together on distinct
    /// workers, or none, as Iris's scheduler places them.
    Iris,
    /// `assign`: any task on any worker, one at a time, gang members included.
    Piecemeal,
}

#[derive(Clone, Debug)]
struct JobSpec {
    tasks: u32,
    max_retries_failure: u32,
    max_retries_preemption: u32,
    max_task_failures: u32,
    coscheduled: bool,
    /// A child of the job at this index (an earlier, top-level one).
    parent: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rep {
    Building,
    Running,
    Succeeded,
    Failed,
    WorkerFailed,
    Preempted,
    Killed,
    Missing,
}

#[derive(Clone, Copy, Debug)]
enum Which {
    /// The task's current attempt.
    Current,
    /// The one before it: stale.
    Previous,
    /// One that does not exist yet.
    Next,
}

#[derive(Clone, Copy, Debug)]
enum Sender {
    /// The named attempt's own worker.
    Owner,
    /// Another worker (the n-th after the owner).
    Other(u8),
}

#[derive(Clone, Debug)]
enum Step {
    Schedule,
    Assign {
        task: u8,
        worker: u8,
    },
    Report {
        task: u8,
        attempt: Which,
        from: Sender,
        report: Rep,
    },
    /// The last report again: a duplicate, or a late one.
    Again,
    WorkerLost {
        worker: u8,
    },
    Preempt {
        task: u8,
    },
    Cancel {
        job: u8,
    },
    SchedulingTimeout {
        task: u8,
    },
    ExecutionTimeout {
        task: u8,
    },
}

#[derive(Clone, Debug)]
struct Script {
    placement: Placement,
    workers: usize,
    /// Each worker's slots, for placement as Iris does it.
    slots: usize,
    jobs: Vec<JobSpec>,
    /// Each step, with the milliseconds since the one before.
    steps: Vec<(u16, Step)>,
}

fn job_spec(index: usize) -> impl Strategy<Value = JobSpec> {
    (
        1..=6u32,
        0..=3u32,
        0..=3u32,
        0..=3u32,
        prop::bool::weighted(0.35),
        if index == 0 {
            Just(None).boxed()
        } else {
            prop::option::weighted(0.3, 0..index).boxed()
        },
    )
        .prop_map(
            |(tasks, failure, preemption, max_task_failures, coscheduled, parent)| JobSpec {
                tasks,
                max_retries_failure: failure,
                max_retries_preemption: preemption,
                max_task_failures,
                coscheduled,
                parent,
            },
        )
}

fn rep() -> impl Strategy<Value = Rep> {
    prop_oneof![
        10 => Just(Rep::Building),
        25 => Just(Rep::Running),
        20 => Just(Rep::Succeeded),
        18 => Just(Rep::Failed),
        8 => Just(Rep::WorkerFailed),
        6 => Just(Rep::Preempted),
        7 => Just(Rep::Killed),
        6 => Just(Rep::Missing),
    ]
}

fn step(placement: Placement) -> impl Strategy<Value = Step> {
    let report = (
        any::<u8>(),
        prop_oneof![85 => Just(Which::Current), 8 => Just(Which::Previous), 7 => Just(Which::Next)],
        prop_oneof![90 => Just(Sender::Owner), 10 => any::<u8>().prop_map(Sender::Other)],
        rep(),
    )
        .prop_map(|(task, attempt, from, report)| Step::Report {
            task,
            attempt,
            from,
            report,
        });
    let place = match placement {
        Placement::Iris => Just(Step::Schedule).boxed(),
        Placement::Piecemeal => (any::<u8>(), any::<u8>())
            .prop_map(|(task, worker)| Step::Assign { task, worker })
            .boxed(),
    };
    prop_oneof![
        16 => place,
        48 => report,
        8 => Just(Step::Again),
        5 => any::<u8>().prop_map(|worker| Step::WorkerLost { worker }),
        5 => any::<u8>().prop_map(|task| Step::Preempt { task }),
        3 => any::<u8>().prop_map(|job| Step::Cancel { job }),
        3 => any::<u8>().prop_map(|task| Step::SchedulingTimeout { task }),
        4 => any::<u8>().prop_map(|task| Step::ExecutionTimeout { task }),
    ]
}

fn script(placement: Placement) -> impl Strategy<Value = Script> {
    (1..=4usize, 1..=3usize, 1..=3usize)
        .prop_flat_map(move |(workers, slots, jobs)| {
            let specs: Vec<_> = (0..jobs).map(|index| job_spec(index).boxed()).collect();
            (
                Just(workers),
                Just(slots),
                specs,
                prop::collection::vec((1..=2_000u16, step(placement)), 10..=40),
            )
        })
        .prop_map(move |(workers, slots, mut jobs, steps)| {
            // A child's parent is a top-level job: Iris's names nest one level per job.
            for index in 0..jobs.len() {
                if let Some(parent) = jobs[index].parent {
                    if jobs[parent].parent.is_some() {
                        jobs[index].parent = None;
                    }
                }
            }
            Script {
                placement,
                workers,
                slots,
                jobs,
                steps,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// The two sides' states, as compared
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
struct TaskView {
    state: i32,
    failures: u32,
    preemptions: u32,
    /// Each attempt: its state, whether it started, whether it is finished.
    attempts: Vec<(i32, bool, bool)>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
struct View {
    tasks: BTreeMap<String, TaskView>,
    jobs: BTreeMap<String, Option<i32>>,
    /// Each job's error (`None` for none, or an empty one).
    errors: BTreeMap<String, Option<String>>,
    /// Iris's side only: the step's worker first confirmed stopping an attempt the controller
    /// had preempted, which Iris waits for before it sends the worker new work (J).
    #[serde(default)]
    held: bool,
}

const PENDING: i32 = proto::TaskState::Pending as i32;
const BUILDING: i32 = proto::TaskState::Building as i32;
const RUNNING: i32 = proto::TaskState::Running as i32;
const FAILED: i32 = proto::TaskState::Failed as i32;
const KILLED: i32 = proto::TaskState::Killed as i32;
const WORKER_FAILED: i32 = proto::TaskState::WorkerFailed as i32;
const PREEMPTED: i32 = proto::TaskState::Preempted as i32;
const JOB_KILLED: i32 = proto::JobState::Killed as i32;

// ---------------------------------------------------------------------------------------------
// Iris's side: the kernel in a Python child
// ---------------------------------------------------------------------------------------------

struct Kernel {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// Time spent waiting for Iris.
    busy: Duration,
}

impl Kernel {
    fn start(python: &std::path::Path) -> Kernel {
        let mut child = Command::new(python)
            .arg(iris::root().join("tests/conformance/kernel.py"))
            // The kernel's SQLite databases, one per script, in memory-backed storage if any.
            .env(
                "TMPDIR",
                if std::path::Path::new("/dev/shm").is_dir() {
                    "/dev/shm"
                } else {
                    "/tmp"
                },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err}", python.display()));
        let input = child.stdin.take().expect("piped stdin");
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        Kernel {
            child,
            input,
            output,
            busy: Duration::ZERO,
        }
    }

    fn call(&mut self, request: &Value) -> Result<View, String> {
        let started = Instant::now();
        let mut line = request.to_string();
        line.push('\n');
        self.input
            .write_all(line.as_bytes())
            .map_err(|err| format!("the kernel's stdin: {err}"))?;
        let mut answer = String::new();
        self.output
            .read_line(&mut answer)
            .map_err(|err| format!("the kernel's stdout: {err}"))?;
        self.busy += started.elapsed();
        if answer.is_empty() {
            return Err("the kernel exited".to_owned());
        }
        let value: Value = serde_json::from_str(&answer).map_err(|err| err.to_string())?;
        if let Some(error) = value.get("error") {
            return Err(format!("Iris raised {error} for {request}"));
        }
        serde_json::from_value(value).map_err(|err| err.to_string())
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The crate's side
// ---------------------------------------------------------------------------------------------

struct Crate {
    table: TaskTable,
    jobs: Vec<JobId>,
    /// Every task, job by job, with its job's index.
    tasks: Vec<(TaskId, usize)>,
    workers: Vec<WorkerId>,
    slots: usize,
    /// Time spent in the crate.
    busy: Duration,
}

fn job_name(script: &Script, index: usize) -> String {
    match script.jobs[index].parent {
        Some(parent) => format!("/test-user/j{parent}/c{index}"),
        None => format!("/test-user/j{index}"),
    }
}

/// A task's name on Iris's side: `/user/job/index`.
fn wire_name(id: &TaskId) -> String {
    format!("{}/{}", id.job(), id.index())
}

impl Crate {
    fn new(script: &Script) -> Crate {
        let mut table = TaskTable::new();
        let mut jobs = Vec::new();
        let mut tasks = Vec::new();
        for (index, spec) in script.jobs.iter().enumerate() {
            let job = JobId::new(job_name(script, index)).expect("a job id");
            table.set_job_policy(
                job.clone(),
                JobPolicy {
                    max_task_failures: spec.max_task_failures,
                    coscheduled: spec.coscheduled,
                },
            );
            let policy = RetryPolicy {
                max_retries_failure: spec.max_retries_failure,
                max_retries_preemption: spec.max_retries_preemption,
            };
            for task in 0..spec.tasks {
                let id = TaskId::new(job.clone(), task);
                table
                    .insert(Task::new(id.clone(), policy))
                    .expect("a new task");
                tasks.push((id, index));
            }
            jobs.push(job);
        }
        let workers = (0..script.workers)
            .map(|n| WorkerId::new(format!("w{n}")).expect("a worker id"))
            .collect();
        Crate {
            table,
            jobs,
            tasks,
            workers,
            slots: script.slots,
            busy: Duration::ZERO,
        }
    }

    fn view(&self) -> View {
        let mut view = View::default();
        for (id, _) in &self.tasks {
            let Some(task) = self.table.get(id) else {
                continue;
            };
            view.tasks.insert(
                wire_name(id),
                TaskView {
                    state: proto::TaskState::from(task.state()) as i32,
                    failures: task.failure_count(),
                    preemptions: task.preemption_count(),
                    attempts: task
                        .attempts()
                        .iter()
                        .map(|attempt| {
                            (
                                proto::TaskState::from(attempt.state()) as i32,
                                attempt.started_at().is_some(),
                                attempt.finished_at().is_some(),
                            )
                        })
                        .collect(),
                },
            );
        }
        for job in &self.jobs {
            let state = self
                .table
                .job_state(job)
                .map(|state| proto::JobState::from(state) as i32);
            view.jobs.insert(job.to_string(), state);
            let error = self.table.job(job).and_then(|job| job.error());
            view.errors
                .insert(job.to_string(), error.map(str::to_owned));
        }
        view
    }

    /// Places pending work as Iris's scheduler does: a single task on the first worker with a
    /// free slot, a gang's pending members on as many distinct workers with a free slot (in
    /// worker order), or nothing. Returns the assignments made.
    fn schedule(&mut self, at: Timestamp) -> (Vec<(String, String)>, Verdict) {
        let mut free: Vec<usize> = self
            .workers
            .iter()
            .map(|worker| self.slots.saturating_sub(self.table.worker_load(worker)))
            .collect();
        let workers = self.workers.clone();
        let changes = self.table.schedule(at, |offer| {
            let open: Vec<usize> = (0..free.len()).filter(|&w| free[w] > 0).collect();
            if open.len() < offer.len() {
                return None;
            }
            let chosen = &open[..offer.len()];
            for &w in chosen {
                free[w] -= 1;
            }
            Some(
                chosen
                    .iter()
                    .map(|&w| workers[w].clone())
                    .collect::<Vec<_>>(),
            )
        });
        let assignments = changes
            .iter()
            .filter_map(|(id, _)| {
                let worker = self.table.get(id)?.worker()?.to_string();
                Some((wire_name(id), worker))
            })
            .collect();
        (assignments, Verdict::of_changes(&changes))
    }
}

// ---------------------------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------------------------

/// One report as sent: to both sides, and again by `Step::Again`.
#[derive(Clone, Debug)]
struct Sent {
    task: usize,
    attempt: u32,
    worker: usize,
    report: Rep,
}

/// What a worker says of an attempt's ending: the exit code and error of each report. Every
/// other attempt's ending (the odd ones) comes without an error, as a worker may send it: a
/// task's error is then the one before (Iris keeps the last it had; the job's error shows it).
fn report_details(report: Rep, attempt: u32) -> (i32, &'static str) {
    let (exit_code, error) = match report {
        Rep::Failed => (1, "exit 1"),
        Rep::WorkerFailed => (0, "worker failed"),
        Rep::Preempted => (0, "evicted"),
        Rep::Killed => (0, "killed"),
        _ => (0, ""),
    };
    (exit_code, if attempt % 2 == 1 { "" } else { error })
}

fn worker_report(report: Rep, attempt: u32) -> WorkerReport {
    let (exit_code, error) = report_details(report, attempt);
    let error = error.to_owned();
    match report {
        Rep::Building => WorkerReport::Building,
        Rep::Running => WorkerReport::Running,
        Rep::Succeeded => WorkerReport::Succeeded,
        Rep::Failed => WorkerReport::Failed { exit_code, error },
        Rep::WorkerFailed => WorkerReport::WorkerFailed { error },
        Rep::Preempted => WorkerReport::Preempted { error },
        Rep::Killed => WorkerReport::Killed { error },
        Rep::Missing => WorkerReport::Missing,
    }
}

fn wire_state(report: Rep) -> i32 {
    (match report {
        Rep::Building => proto::TaskState::Building,
        Rep::Running => proto::TaskState::Running,
        Rep::Succeeded => proto::TaskState::Succeeded,
        Rep::Failed => proto::TaskState::Failed,
        Rep::WorkerFailed => proto::TaskState::WorkerFailed,
        Rep::Preempted => proto::TaskState::Preempted,
        Rep::Killed => proto::TaskState::Killed,
        Rep::Missing => proto::TaskState::Missing,
    }) as i32
}

/// The declared kinds, by letter.
const KINDS: [char; 6] = ['E', 'F', 'G', 'H', 'J', 'K'];

/// What the crate said of a step: it refused it (`Err`), accepted it and changed nothing (a
/// duplicate), or changed something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Refused,
    Unchanged,
    Changed,
}

impl Verdict {
    fn of<E>(result: &Result<Changes, E>) -> Verdict {
        match result {
            Err(_) => Verdict::Refused,
            Ok(changes) => Verdict::of_changes(changes),
        }
    }

    fn of_changes(changes: &Changes) -> Verdict {
        if changes.changed() || changes.jobs().next().is_some() {
            Verdict::Changed
        } else {
            Verdict::Unchanged
        }
    }
}

/// What one script showed: how many times each declared kind explained a difference.
#[derive(Clone, Debug, Default)]
struct Outcome {
    kinds: BTreeMap<char, u64>,
    /// Steps by what both sides did: changed something on both, on neither (the crate refusing
    /// or absorbing it).
    both_changed: u64,
    neither_refused: u64,
    neither_absorbed: u64,
    /// Some step differed at all (explained by a declared kind).
    differed: bool,
    crate_time: Duration,
    iris_time: Duration,
    steps: usize,
}

/// What the comparison keeps between steps: the normalisations in force.
#[derive(Default)]
struct Normal {
    /// Tasks whose open attempt Iris holds BUILDING after RUNNING (E).
    building_again: HashSet<String>,
    /// Jobs left out after a lost worker held several of their gang members (H).
    left_out: HashSet<String>,
    /// What has been counted once in this script: (kind, what).
    counted: HashSet<(char, String)>,
}

struct Run<'a> {
    script: &'a Script,
    side: Crate,
    kernel: &'a mut Kernel,
    now: i64,
    normal: Normal,
    outcome: Outcome,
    last_report: Option<Sent>,
    /// What the crate said of the current step.
    verdict: Verdict,
}

impl Run<'_> {
    fn task(&self, selector: u8) -> usize {
        usize::from(selector) % self.side.tasks.len()
    }

    fn worker(&self, selector: u8) -> usize {
        usize::from(selector) % self.side.workers.len()
    }

    fn at(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    /// Applies the step to the crate; the request that applies it to Iris, if any.
    fn apply(&mut self, step: &Step) -> Option<Value> {
        let started = Instant::now();
        let at = self.at();
        let now = self.now;
        let request = match *step {
            Step::Schedule => {
                let (assignments, verdict) = self.side.schedule(at);
                self.verdict = verdict;
                Some(json!({"op": "assign", "now": now, "assignments": assignments}))
            }
            Step::Assign { task, worker } => {
                let (id, _) = self.side.tasks[self.task(task)].clone();
                let worker = self.side.workers[self.worker(worker)].clone();
                self.verdict = match self.side.table.assign(&id, worker.clone(), at) {
                    Ok(_) => Verdict::Changed,
                    Err(_) => Verdict::Refused,
                };
                Some(json!({
                    "op": "assign",
                    "now": now,
                    "assignments": [[wire_name(&id), worker.to_string()]],
                }))
            }
            Step::Report {
                task,
                attempt,
                from,
                report,
            } => {
                let task = self.task(task);
                let (id, _) = &self.side.tasks[task];
                let current = self
                    .side
                    .table
                    .get(id)
                    .and_then(|task| task.current_attempt())
                    .map(|attempt| attempt.id().get());
                let named = match (attempt, current) {
                    (Which::Current, Some(current)) => current,
                    (Which::Previous, Some(current)) => current.saturating_sub(1),
                    (Which::Next, Some(current)) => current + 1,
                    (_, None) => 0,
                };
                let owner = self
                    .side
                    .table
                    .get(id)
                    .and_then(|task| task.attempts().get(named as usize))
                    .and_then(|attempt| {
                        self.side
                            .workers
                            .iter()
                            .position(|worker| worker == attempt.worker())
                    })
                    .unwrap_or(0);
                let worker = match from {
                    Sender::Owner => owner,
                    Sender::Other(n) => {
                        let count = self.side.workers.len();
                        (owner + 1 + usize::from(n) % count.max(2).saturating_sub(1).max(1)) % count
                    }
                };
                let sent = Sent {
                    task,
                    attempt: named,
                    worker,
                    report,
                };
                self.last_report = Some(sent.clone());
                Some(self.report(&sent))
            }
            Step::Again => self.last_report.clone().map(|sent| self.report(&sent)),
            Step::WorkerLost { worker } => {
                let worker = self.side.workers[self.worker(worker)].clone();
                // The error is the caller's: the one Iris's `ops.worker.fail` writes.
                self.verdict = Verdict::of_changes(&self.side.table.worker_lost(
                    &worker,
                    &format!("Worker {worker} failed: lost"),
                    at,
                ));
                Some(json!({"op": "worker_lost", "now": now, "worker": worker.to_string()}))
            }
            Step::Preempt { task } => {
                let (id, _) = self.side.tasks[self.task(task)].clone();
                let preempt = TaskEvent::Preempt {
                    reason: "priority".into(),
                    at,
                };
                self.verdict = Verdict::of(&self.side.table.apply(&id, preempt));
                Some(json!({"op": "preempt", "now": now, "task": wire_name(&id)}))
            }
            Step::Cancel { job } => {
                let job = self.side.jobs[usize::from(job) % self.side.jobs.len()].clone();
                self.verdict =
                    Verdict::of_changes(&self.side.table.kill_job(&job, "cancelled", at));
                Some(json!({"op": "cancel", "now": now, "job": job.to_string()}))
            }
            Step::SchedulingTimeout { task } => {
                let (id, _) = self.side.tasks[self.task(task)].clone();
                self.verdict = Verdict::of(
                    &self
                        .side
                        .table
                        .apply(&id, TaskEvent::SchedulingTimeout { at }),
                );
                Some(json!({"op": "sched_timeout", "now": now, "task": wire_name(&id)}))
            }
            Step::ExecutionTimeout { task } => {
                let (id, _) = self.side.tasks[self.task(task)].clone();
                self.verdict = Verdict::of(
                    &self
                        .side
                        .table
                        .apply(&id, TaskEvent::ExecutionTimeout { at }),
                );
                Some(json!({"op": "exec_timeout", "now": now, "task": wire_name(&id)}))
            }
        };
        self.side.busy += started.elapsed();
        request
    }

    /// Applies a report to the crate; the observation that sends it to Iris.
    fn report(&mut self, sent: &Sent) -> Value {
        let (id, _) = self.side.tasks[sent.task].clone();
        let worker = self.side.workers[sent.worker].clone();
        let event = TaskEvent::Report {
            worker: worker.clone(),
            attempt: AttemptId::new(sent.attempt),
            report: worker_report(sent.report, sent.attempt),
            at: self.at(),
        };
        self.verdict = Verdict::of(&self.side.table.apply(&id, event));
        let (exit_code, error) = report_details(sent.report, sent.attempt);
        json!({
            "op": "observe",
            "now": self.now,
            "worker": worker.to_string(),
            "task": wire_name(&id),
            "attempt": sent.attempt,
            "state": wire_state(sent.report),
            "exit_code": exit_code,
            "error": error,
        })
    }

    fn count(&mut self, kind: char) {
        *self.outcome.kinds.entry(kind).or_default() += 1;
    }
}

/// Iris's counting rule (`attempt_counts.py`): FAILED attempts are failures; WORKER_FAILED,
/// KILLED and PREEMPTED attempts that had started are preemptions.
fn iris_counts(state: i32, started: bool) -> (u32, u32) {
    let failure = u32::from(state == FAILED);
    let preemption = u32::from(matches!(state, WORKER_FAILED | KILLED | PREEMPTED) && started);
    (failure, preemption)
}

/// The crate's counting rule: FAILED attempts are failures; worker-side endings (WORKER_FAILED,
/// PREEMPTED, KILLED on the worker) that had started are preemptions.
fn crate_counts(state: i32, started: bool, killed_on_worker: bool) -> (u32, u32) {
    let failure = u32::from(state == FAILED);
    let worker_side =
        matches!(state, WORKER_FAILED | PREEMPTED) || (state == KILLED && killed_on_worker);
    (failure, u32::from(worker_side && started))
}

/// A difference no declared kind explains: what the test prints, with the shrunk script.
fn unexplained(
    what: String,
    step: usize,
    script: &Script,
    before: &(View, View),
    after: &(View, View),
) -> TestCaseError {
    TestCaseError::fail(format!(
        "{:?} placement, step {step} ({:?}): {what}\n\
         crate before: {:?}\niris  before: {:?}\ncrate after:  {:?}\niris  after:  {:?}",
        script.placement,
        script.steps.get(step).map(|(_, step)| step),
        before.0,
        before.1,
        after.0,
        after.1,
    ))
}

/// Runs a script on both sides and compares them after every step.
fn run_script(script: &Script, kernel: &mut Kernel) -> Result<Outcome, TestCaseError> {
    let iris_busy = kernel.busy;
    let side = Crate::new(script);
    let mut run = Run {
        script,
        side,
        kernel,
        now: 1_000_000,
        normal: Normal::default(),
        outcome: Outcome::default(),
        last_report: None,
        verdict: Verdict::Unchanged,
    };
    let reset = json!({
        "op": "reset",
        "now": run.now,
        "workers": run.side.workers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "jobs": script.jobs.iter().enumerate().map(|(index, spec)| json!({
            "name": job_name(script, index),
            "tasks": spec.tasks,
            "max_retries_failure": spec.max_retries_failure,
            "max_retries_preemption": spec.max_retries_preemption,
            "max_task_failures": spec.max_task_failures,
            "coscheduled": spec.coscheduled,
        })).collect::<Vec<_>>(),
    });
    let mut iris = run.kernel.call(&reset).map_err(TestCaseError::fail)?;
    let mut ours = run.side.view();
    if ours != iris {
        return Err(TestCaseError::fail(format!(
            "after setting up:\ncrate {ours:?}\niris  {iris:?}"
        )));
    }
    for (index, (dt, step)) in script.steps.iter().enumerate() {
        run.now += i64::from(*dt);
        let before = (ours.clone(), iris.clone());
        let gangs = gangs_on_lost_worker(&run, step);
        let Some(request) = run.apply(step) else {
            continue;
        };
        iris = run.kernel.call(&request).map_err(TestCaseError::fail)?;
        run.outcome.steps += 1;
        // Accepted or dropped: what the crate said of the step (`Err`, or `Changes`) agrees with
        // what it did to its table, before any normalisation; below, with what Iris did.
        let moved = changed_anything(&before.0, &run.side.view());
        if moved != (run.verdict == Verdict::Changed) {
            let after = (run.side.view(), iris.clone());
            return Err(unexplained(
                format!(
                    "the crate answered {:?}, but {} changed",
                    run.verdict,
                    if moved { "something" } else { "nothing" }
                ),
                index,
                script,
                &before,
                &after,
            ));
        }
        if std::mem::take(&mut iris.held) {
            run.count('J');
        }
        // K: Iris stopped a child job because its parent ended or was retried; the crate leaves
        // that to the controller. Cancel it in the crate as Iris did. (A cancel of its parent
        // cancels it in both: that is no K.)
        for (job, spec) in script.jobs.iter().enumerate() {
            let Some(parent) = spec.parent else {
                continue;
            };
            let name = job_name(script, job);
            let parent_cancelled = matches!(step, Step::Cancel { job: j }
                if usize::from(*j) % script.jobs.len() == parent);
            // What sets Iris's cascade off in this step: the parent ended, or a task of the
            // parent went back to pending (a one-task parent terminates its children).
            let parent_name = job_name(script, parent);
            let ended = |view: &View| {
                view.jobs
                    .get(&parent_name)
                    .copied()
                    .flatten()
                    .is_some_and(|state| state >= proto::JobState::Succeeded as i32)
            };
            let prefix = format!("{parent_name}/");
            let retried = iris.tasks.iter().any(|(task, now)| {
                task.strip_prefix(&prefix)
                    .is_some_and(|index| index.parse::<u32>().is_ok())
                    && now.state == PENDING
                    && before
                        .1
                        .tasks
                        .get(task)
                        .is_some_and(|was| was.state != PENDING)
            });
            let parent_ended = ended(&iris) && !ended(&before.1);
            let set_off = parent_ended || retried;
            // Iris's reasons: its parent's end, or its one-task parent's retry, which Iris words
            // by what caused it (`reconcile/batches.py`).
            let reason = match step {
                _ if parent_ended => PARENT_JOB_TERMINATED_REASON,
                Step::WorkerLost { .. } => "Parent task preempted",
                Step::Preempt { .. } => "priority",
                Step::Report { .. } | Step::Again => "Parent task retried",
                // Nothing else retries a task; Iris's execution timeout ends it for good.
                _ => "(no reason: the parent's task was not retried)",
            };
            let id = run.side.jobs[job].clone();
            // Iris's cascade leaves a child that has ended as it is (`merge_cascade_kill`).
            if iris.jobs.get(&name) == Some(&Some(JOB_KILLED))
                && run
                    .side
                    .table
                    .job_state(&id)
                    .is_some_and(|state| !state.is_terminal())
                && !parent_cancelled
                && set_off
                && !run.normal.left_out.contains(&name)
            {
                let at = run.at();
                run.side.table.kill_job(&id, reason, at);
                run.count('K');
            }
        }
        ours = run.side.view();
        // H: a lost worker held several members of one gang, and which one Iris charged is not
        // the one the crate charged: the job is left out from here on. The whole job, because
        // which member pays decides which one ends or is requeued, and so every member's and the
        // job's state after it; other jobs are still compared.
        for job in gangs {
            let name = run.side.jobs[job].to_string();
            let differs = ours.jobs.get(&name) != iris.jobs.get(&name)
                || run.side.tasks.iter().any(|(id, owner)| {
                    *owner == job
                        && ours.tasks.get(&wire_name(id)) != iris.tasks.get(&wire_name(id))
                })
                || before.0.jobs.get(&name) != before.1.jobs.get(&name);
            if differs && run.normal.left_out.insert(name) {
                run.count('H');
            }
        }
        compare(&mut run, index, step, &before, (&ours, &iris))?;
    }
    run.outcome.crate_time = run.side.busy;
    run.outcome.iris_time = run.kernel.busy - iris_busy;
    Ok(run.outcome)
}

/// The coscheduled jobs with several active members on the worker a `WorkerLost` step names.
fn gangs_on_lost_worker(run: &Run<'_>, step: &Step) -> Vec<usize> {
    let Step::WorkerLost { worker } = step else {
        return Vec::new();
    };
    let worker = &run.side.workers[run.worker(*worker)];
    let mut held: BTreeMap<usize, usize> = BTreeMap::new();
    for (id, job) in &run.side.tasks {
        if run.script.jobs[*job].coscheduled
            && run.side.table.get(id).and_then(|task| task.worker()) == Some(worker)
        {
            *held.entry(*job).or_default() += 1;
        }
    }
    held.into_iter()
        .filter(|&(_, members)| members > 1)
        .map(|(job, _)| job)
        .collect()
}

/// Whether anything of `is` differs from `was`: any task (left out or not), any job.
fn changed_anything(was: &View, is: &View) -> bool {
    was.tasks.iter().any(|(name, task)| {
        is.tasks
            .get(name)
            .is_none_or(|now| changeable(now) != changeable(task))
    }) || was.jobs != is.jobs
}

/// A task as the "did the step change anything" check sees it: a terminal attempt's finish is
/// left out (J: Iris finishes it when the worker confirms, with no other change).
fn changeable(task: &TaskView) -> (i32, Vec<(i32, bool, bool)>) {
    let attempts = task
        .attempts
        .iter()
        .map(|&(state, started, finished)| {
            let open = matches!(state, 9 | BUILDING | RUNNING);
            (state, started, finished && open)
        })
        .collect();
    (task.state, attempts)
}

/// Compares the two sides after a step, counting the declared kinds that explain what differs.
fn compare(
    run: &mut Run<'_>,
    index: usize,
    step: &Step,
    before: &(View, View),
    (ours, iris): (&View, &View),
) -> Result<(), TestCaseError> {
    let script = run.script;
    let after = (ours.clone(), iris.clone());
    let fail = |what: String| unexplained(what, index, script, before, &after);
    let job_of: BTreeMap<String, String> = run
        .side
        .tasks
        .iter()
        .map(|(id, _)| (wire_name(id), id.job().to_string()))
        .collect();
    let left_jobs = run.normal.left_out.clone();
    let left_out = |task: &str| job_of.get(task).is_some_and(|job| left_jobs.contains(job));
    let e_before = run.normal.building_again.clone();
    for (name, mine) in &ours.tasks {
        if left_out(name) {
            continue;
        }
        let Some(theirs) = iris.tasks.get(name) else {
            return Err(fail(format!("Iris has no task {name}")));
        };
        if mine == theirs {
            run.normal.building_again.remove(name);
            continue;
        }
        // E: Iris moved the task back to BUILDING after RUNNING; the crate refused the report.
        let building_again = mine.state == RUNNING
            && theirs.state == BUILDING
            && mine.attempts.len() == theirs.attempts.len();
        if building_again {
            let reported = matches!(
                step,
                Step::Report {
                    report: Rep::Building,
                    ..
                } | Step::Again
            ) && before.0.tasks.get(name).is_some_and(|t| t.state == RUNNING)
                && before.1.tasks.get(name).is_some_and(|t| t.state == RUNNING);
            if reported && run.normal.building_again.insert(name.clone()) {
                run.count('E');
            } else if !run.normal.building_again.contains(name) {
                return Err(fail(format!(
                    "task {name} is RUNNING here and BUILDING in Iris, but not after a BUILDING report"
                )));
            }
        } else if mine.state != theirs.state {
            return Err(fail(format!(
                "task {name}: {} here, {} in Iris",
                state_name(mine.state),
                state_name(theirs.state)
            )));
        } else {
            run.normal.building_again.remove(name);
        }
        if mine.attempts.len() != theirs.attempts.len() {
            return Err(fail(format!(
                "task {name}: {} attempts here, {} in Iris",
                mine.attempts.len(),
                theirs.attempts.len()
            )));
        }
        let id = &run
            .side
            .tasks
            .iter()
            .find(|(id, _)| wire_name(id) == *name)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| fail(format!("no task {name} here")))?;
        let attempts = run
            .side
            .table
            .get(id)
            .map(|task| task.attempts().to_vec())
            .unwrap_or_default();
        let last = mine.attempts.len().saturating_sub(1);
        // The task was killed while it waited for a retry: its last attempt had closed before.
        let killed_pending =
            mine.state == KILLED && mine.attempts.last().is_some_and(|a| a.0 != KILLED);
        let (mut ours_sum, mut iris_sum) = ((0, 0), (0, 0));
        for (k, (a, b)) in mine.attempts.iter().zip(&theirs.attempts).enumerate() {
            let e = k == last && a.0 == RUNNING && b.0 == BUILDING;
            // G: the job ended while the task waited for a retry; Iris rewrote its last attempt.
            let g = k == last && killed_pending && b.0 == KILLED;
            if a.0 != b.0 {
                if !(e || g) {
                    return Err(fail(format!(
                        "task {name}: attempt {k} is {} here, {} in Iris",
                        state_name(a.0),
                        state_name(b.0)
                    )));
                }
                if g {
                    run.count_once('G', name);
                }
            }
            if a.1 != b.1 {
                return Err(fail(format!(
                    "task {name}: attempt {k} {} here, {} in Iris",
                    if a.1 { "started" } else { "never started" },
                    if b.1 { "started" } else { "never started" },
                )));
            }
            // J: an attempt the controller ended is unfinished in Iris until its worker confirms.
            if a.2 != b.2 {
                let closed_here = a.2 && !b.2 && !matches!(b.0, 9 | BUILDING | RUNNING);
                if !closed_here {
                    return Err(fail(format!(
                        "task {name}: attempt {k} is {} here, {} in Iris",
                        if a.2 { "finished" } else { "open" },
                        if b.2 { "finished" } else { "unfinished" },
                    )));
                }
                run.count_once('J', &format!("{name}#{k}"));
            }
            let on_worker = attempts
                .get(k)
                .is_some_and(iris_task::Attempt::is_killed_on_worker);
            let ours_counted = crate_counts(a.0, a.1, on_worker);
            let iris_counted = iris_counts(b.0, b.1);
            if ours_counted != iris_counted {
                // F: Iris counts a started attempt the controller killed as a preemption.
                let f = a.0 == KILLED && !on_worker && b.0 == KILLED && iris_counted == (0, 1);
                if !(f || g) {
                    return Err(fail(format!(
                        "task {name}: attempt {k} counts (failure, preemption) {ours_counted:?} here, {iris_counted:?} in Iris"
                    )));
                }
                if f {
                    run.count_once('F', name);
                }
            }
            ours_sum = (ours_sum.0 + ours_counted.0, ours_sum.1 + ours_counted.1);
            iris_sum = (iris_sum.0 + iris_counted.0, iris_sum.1 + iris_counted.1);
        }
        if ours_sum != (mine.failures, mine.preemptions)
            || iris_sum != (theirs.failures, theirs.preemptions)
        {
            return Err(fail(format!(
                "task {name}: counts (failures, preemptions) {:?} here, {:?} in Iris, not what \
                 each side's rule gives over its attempts ({ours_sum:?}, {iris_sum:?})",
                (mine.failures, mine.preemptions),
                (theirs.failures, theirs.preemptions),
            )));
        }
    }
    for (name, mine) in &ours.jobs {
        if run.normal.left_out.contains(name) {
            continue;
        }
        let theirs = iris.jobs.get(name).copied().flatten();
        if *mine != theirs {
            return Err(fail(format!(
                "job {name}: {} here, {} in Iris",
                job_state_name(*mine),
                job_state_name(theirs)
            )));
        }
        let (mine, theirs) = (ours.errors.get(name), iris.errors.get(name));
        if mine != theirs {
            return Err(fail(format!(
                "job {name}: error {mine:?} here, {theirs:?} in Iris"
            )));
        }
    }
    // Whether the step changed anything or was dropped, on each side.
    let moved = |was: &View, is: &View| -> Vec<String> {
        let mut moved: Vec<String> = was
            .tasks
            .iter()
            .filter(|(name, task)| {
                !left_out(name)
                    && is
                        .tasks
                        .get(*name)
                        .is_none_or(|now| changeable(now) != changeable(task))
            })
            .map(|(name, _)| name.clone())
            .collect();
        moved.extend(
            was.jobs
                .iter()
                .filter(|(name, state)| {
                    !left_jobs.contains(*name) && is.jobs.get(*name) != Some(state)
                })
                .map(|(name, _)| name.clone()),
        );
        moved
    };
    let ours_moved = moved(&before.0, ours);
    let iris_moved = moved(&before.1, iris);
    match (ours_moved.is_empty(), iris_moved.is_empty(), run.verdict) {
        (false, false, _) => run.outcome.both_changed += 1,
        (true, true, Verdict::Refused) => run.outcome.neither_refused += 1,
        (true, true, _) => run.outcome.neither_absorbed += 1,
        _ => {}
    }
    if ours_moved.is_empty() != iris_moved.is_empty() {
        // E: the BUILDING report, or a later RUNNING one, moves the task in Iris only.
        let e = iris_moved
            .iter()
            .chain(&ours_moved)
            .all(|name| e_before.contains(name) || run.normal.building_again.contains(name));
        if !e {
            return Err(fail(format!(
                "the step changed {:?} here and {:?} in Iris",
                ours_moved, iris_moved
            )));
        }
    }
    if ours != iris {
        run.outcome.differed = true;
    }
    Ok(())
}

fn state_name(state: i32) -> String {
    proto::TaskState::try_from(state)
        .map_or_else(|_| state.to_string(), |s| s.as_str_name().to_owned())
}

fn job_state_name(state: Option<i32>) -> String {
    state.map_or_else(
        || "unknown".to_owned(),
        |state| {
            proto::JobState::try_from(state)
                .map_or_else(|_| state.to_string(), |s| s.as_str_name().to_owned())
        },
    )
}

impl Run<'_> {
    /// Counts `kind` for `what` once per script.
    fn count_once(&mut self, kind: char, what: &str) {
        if self.normal.counted.insert((kind, what.to_owned())) {
            self.count(kind);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/// What all scripts showed.
#[derive(Default)]
struct Totals {
    scripts: u64,
    identical: u64,
    steps: u64,
    kinds: BTreeMap<char, u64>,
    scripts_with: BTreeMap<char, u64>,
    both_changed: u64,
    neither_refused: u64,
    neither_absorbed: u64,
    crate_time: Duration,
    iris_time: Duration,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` scripts of one placement with proptest (shrinking a failure), on one kernel.
fn run_scripts(
    python: &std::path::Path,
    placement: Placement,
    cases: u32,
    seed: u64,
    totals: &Mutex<Totals>,
) -> Result<(), String> {
    if cases == 0 {
        return Ok(());
    }
    let kernel = std::cell::RefCell::new(Kernel::start(python));
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    });
    let result = runner.run(&script(placement), |script| {
        let outcome = run_script(&script, &mut kernel.borrow_mut())?;
        let mut totals = totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        totals.scripts += 1;
        totals.identical += u64::from(!outcome.differed && outcome.kinds.is_empty());
        totals.steps += outcome.steps as u64;
        totals.both_changed += outcome.both_changed;
        totals.neither_refused += outcome.neither_refused;
        totals.neither_absorbed += outcome.neither_absorbed;
        totals.crate_time += outcome.crate_time;
        totals.iris_time += outcome.iris_time;
        for (&kind, &count) in &outcome.kinds {
            *totals.kinds.entry(kind).or_default() += count;
            *totals.scripts_with.entry(kind).or_default() += 1;
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, script)) => Err(format!(
            "an undeclared difference from Iris ({placement:?} placement, seed {seed}):\n{why}\n\nshrunk script: {script:#?}"
        )),
        Err(TestError::Abort(why)) => Err(format!("aborted: {why}")),
    }
}

#[test]
fn the_crate_agrees_with_iris_on_random_scripts() {
    let Some(python) = iris::python() else {
        return;
    };
    let count = |name, default| u32::try_from(env_number(name, default)).unwrap_or(u32::MAX);
    let iris_placed = count("IRIS_CONFORMANCE_SCRIPTS", 1_000);
    let piecemeal = count("IRIS_CONFORMANCE_PIECEMEAL", 500);
    let seed = env_number("IRIS_CONFORMANCE_SEED", 20_261_206);
    let totals = Mutex::new(Totals::default());
    let started = Instant::now();
    // Both cores: each placement's scripts split over two kernels.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let halves = [
            (Placement::Iris, iris_placed.div_ceil(2), seed),
            (Placement::Iris, iris_placed / 2, seed + 1),
            (Placement::Piecemeal, piecemeal.div_ceil(2), seed + 2),
            (Placement::Piecemeal, piecemeal / 2, seed + 3),
        ];
        let lanes: Vec<Vec<(Placement, u32, u64)>> =
            vec![vec![halves[0], halves[2]], vec![halves[1], halves[3]]];
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let (python, totals) = (&python, &totals);
                scope.spawn(move || {
                    lane.into_iter()
                        .filter_map(|(placement, cases, seed)| {
                            run_scripts(python, placement, cases, seed, totals).err()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| vec!["a lane panicked".to_owned()])
            })
            .collect()
    });
    let totals = totals
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let per_script = |time: Duration| time.as_secs_f64() * 1e3 / (totals.scripts.max(1) as f64);
    let mut summary = format!(
        "conformance with marin-iris {}: {} scripts ({} placed as Iris places, {} piecemeal), \
         {} steps, in {:.1} s on two cores\n",
        iris::pinned(),
        totals.scripts,
        iris_placed,
        piecemeal,
        totals.steps,
        started.elapsed().as_secs_f64()
    );
    summary.push_str(&format!(
        "undeclared differences: {}\nidentical to Iris at every step: {} of {} scripts ({:.1}%)\n",
        failures.len(),
        totals.identical,
        totals.scripts,
        100.0 * totals.identical as f64 / totals.scripts.max(1) as f64
    ));
    summary.push_str(&format!(
        "accepted or dropped: {} steps changed something on both sides; {} changed nothing on \
         either, {} of them refused by the crate (stale, from the wrong worker, illegal) and {} \
         accepted as no-ops (duplicates); the rest differ only as the kinds below explain\n",
        totals.both_changed,
        totals.neither_refused + totals.neither_absorbed,
        totals.neither_refused,
        totals.neither_absorbed,
    ));
    for kind in KINDS {
        summary.push_str(&format!(
            "  kind {kind}: explained {} differences, in {} scripts\n",
            totals.kinds.get(&kind).copied().unwrap_or(0),
            totals.scripts_with.get(&kind).copied().unwrap_or(0)
        ));
    }
    summary.push_str(&format!(
        "time per script: the crate {:.3} ms, Iris's kernel {:.1} ms\n",
        per_script(totals.crate_time),
        per_script(totals.iris_time)
    ));
    eprint!("{summary}");
    let written = iris::target().join("iris/conformance.txt");
    if let Err(err) = std::fs::write(&written, &summary) {
        eprintln!("{}: {err}", written.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
