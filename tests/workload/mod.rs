//! The seeded controller workload the kill -9 harnesses (`crash.rs` for SQLite, `postgres.rs`)
//! run against a store and replay on a plain table, and how they compare the two.
#![allow(dead_code)] // Each harness uses its own part.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use iris_task::{
    AnyTask, Batch, DurableTable, JobId, JobPolicy, Offer, RetryPolicy, StateCounts, StateKind,
    Store, Task, TaskEvent, TaskId, TaskTable, Timestamp, WorkerId, WorkerReport,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The calls a workload makes, on a plain table (the replay) or in a durable table's batch.
pub trait Calls {
    fn view(&self) -> &TaskTable;
    fn insert(&mut self, task: Task<iris_task::Pending>);
    fn policy(&mut self, job: JobId, policy: JobPolicy);
    fn schedule(&mut self, at: Timestamp, workers: usize, skip: usize);
    fn apply(&mut self, id: &TaskId, event: TaskEvent);
    fn lost(&mut self, worker: &WorkerId, at: Timestamp);
    fn expire(&mut self, at: Timestamp);
    fn kill_job(&mut self, job: &JobId, at: Timestamp);
    fn remove_job(&mut self, job: &JobId);
    fn uids(&mut self, minter: iris_task::UidMinter);
}

/// Places every `skip + 2`-th offer nowhere, the others round robin, a gang on as many workers.
fn pick(workers: usize, skip: usize) -> impl FnMut(&Offer<'_>) -> Option<Vec<WorkerId>> {
    let mut n = 0;
    move |offer| {
        n += 1;
        (n % (skip + 2) != 0).then(|| {
            (0..offer.len())
                .map(|member| WorkerId::new(format!("w{}", (n + member) % workers)).unwrap())
                .collect()
        })
    }
}

impl Calls for TaskTable {
    fn uids(&mut self, minter: iris_task::UidMinter) {
        self.set_uid_minter(minter);
    }
    fn view(&self) -> &TaskTable {
        self
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) {
        let _ = TaskTable::insert(self, task);
    }
    fn policy(&mut self, job: JobId, policy: JobPolicy) {
        self.set_job_policy(job, policy);
    }
    fn schedule(&mut self, at: Timestamp, workers: usize, skip: usize) {
        TaskTable::schedule(self, at, pick(workers, skip));
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) {
        let _ = TaskTable::apply(self, id, event);
    }
    fn lost(&mut self, worker: &WorkerId, at: Timestamp) {
        self.worker_lost(worker, "lost", at);
    }
    fn expire(&mut self, at: Timestamp) {
        self.expire_assigned(at, Duration::from_millis(40));
    }
    fn kill_job(&mut self, job: &JobId, at: Timestamp) {
        TaskTable::kill_job(self, job, "done", at);
    }
    fn remove_job(&mut self, job: &JobId) {
        let _ = TaskTable::remove_job(self, job);
    }
}

/// One call at a time, in the open group (`DurableTable::begin`): written at `commit`.
impl<S: Store> Calls for DurableTable<S> {
    fn uids(&mut self, minter: iris_task::UidMinter) {
        self.set_uid_minter(minter);
    }
    fn view(&self) -> &TaskTable {
        self.table()
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) {
        let _ = DurableTable::insert(self, task);
    }
    fn policy(&mut self, job: JobId, policy: JobPolicy) {
        self.set_job_policy(job, policy).unwrap();
    }
    fn schedule(&mut self, at: Timestamp, workers: usize, skip: usize) {
        DurableTable::schedule(self, at, pick(workers, skip)).unwrap();
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) {
        let _ = DurableTable::apply(self, id, event);
    }
    fn lost(&mut self, worker: &WorkerId, at: Timestamp) {
        self.worker_lost(worker, "lost", at).unwrap();
    }
    fn expire(&mut self, at: Timestamp) {
        self.expire_assigned(at, Duration::from_millis(40)).unwrap();
    }
    fn kill_job(&mut self, job: &JobId, at: Timestamp) {
        DurableTable::kill_job(self, job, "done", at).unwrap();
    }
    fn remove_job(&mut self, job: &JobId) {
        let _ = DurableTable::remove_job(self, job);
    }
}

impl<S: Store> Calls for Batch<'_, S> {
    fn uids(&mut self, minter: iris_task::UidMinter) {
        self.set_uid_minter(minter);
    }
    fn view(&self) -> &TaskTable {
        self.table()
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) {
        let _ = Batch::insert(self, task);
    }
    fn policy(&mut self, job: JobId, policy: JobPolicy) {
        self.set_job_policy(job, policy);
    }
    fn schedule(&mut self, at: Timestamp, workers: usize, skip: usize) {
        Batch::schedule(self, at, pick(workers, skip));
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) {
        let _ = Batch::apply(self, id, event);
    }
    fn lost(&mut self, worker: &WorkerId, at: Timestamp) {
        self.worker_lost(worker, "lost", at);
    }
    fn expire(&mut self, at: Timestamp) {
        self.expire_assigned(at, Duration::from_millis(40));
    }
    fn kill_job(&mut self, job: &JobId, at: Timestamp) {
        Batch::kill_job(self, job, "done", at);
    }
    fn remove_job(&mut self, job: &JobId) {
        let _ = Batch::remove_job(self, job);
    }
}

const JOBS: usize = 4;
const TASKS_PER_JOB: u32 = 12;
const WORKERS: usize = 5;

fn job(n: usize) -> JobId {
    JobId::new(format!("job-{}", n % JOBS)).unwrap()
}

/// Call `i` of workload `seed`: decided by `(seed, i)` and the table alone, so a replay makes
/// the same call.
pub fn call(table: &mut impl Calls, seed: u64, i: u64) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i);
    let at = Timestamp::from_millis(i as i64 * 10);
    // The uids a call mints depend on the seed and the call only, so that a replay, and a store
    // reopened between calls, mint the same ones.
    table.uids(iris_task::UidMinter::seeded(seed.wrapping_mul(1 << 32) ^ i));
    let ops = rng.random_range(1..=8);
    for _ in 0..ops {
        match rng.random_range(0..20) {
            0..=2 => {
                let n = rng.random_range(0..JOBS);
                let index = rng.random_range(0..TASKS_PER_JOB);
                let retry = RetryPolicy {
                    max_retries_failure: 1,
                    max_retries_preemption: 2,
                };
                table.insert(Task::new(TaskId::new(job(n), index), retry));
            }
            3 => {
                let coscheduled = rng.random_bool(0.5);
                table.policy(
                    job(rng.random_range(0..JOBS)),
                    JobPolicy {
                        coscheduled,
                        max_task_failures: 1,
                    },
                );
            }
            4..=5 => table.schedule(at, WORKERS, rng.random_range(0..3)),
            6..=14 => {
                // A report from the current attempt's worker about a random task.
                let id = TaskId::new(
                    job(rng.random_range(0..JOBS)),
                    rng.random_range(0..TASKS_PER_JOB),
                );
                let kind = rng.random_range(0..10);
                let Some(attempt) = table.view().get(&id).and_then(AnyTask::current_attempt) else {
                    continue;
                };
                let report = match kind {
                    0..=3 => WorkerReport::Running,
                    4..=6 => WorkerReport::Succeeded,
                    7 => WorkerReport::Failed {
                        exit_code: 1,
                        error: "exit 1".into(),
                    },
                    8 => WorkerReport::Killed {
                        error: "OOM".into(),
                    },
                    _ => WorkerReport::Missing,
                };
                let event = TaskEvent::Report {
                    worker: attempt.worker().clone(),
                    attempt: attempt.id(),
                    report,
                    at,
                };
                table.apply(&id, event);
            }
            15 => {
                let id = TaskId::new(
                    job(rng.random_range(0..JOBS)),
                    rng.random_range(0..TASKS_PER_JOB),
                );
                table.apply(
                    &id,
                    TaskEvent::Preempt {
                        reason: "priority".into(),
                        at,
                    },
                );
            }
            16 => table.lost(
                &WorkerId::new(format!("w{}", rng.random_range(0..WORKERS))).unwrap(),
                at,
            ),
            17 => table.expire(at),
            18 => table.kill_job(&job(rng.random_range(0..JOBS)), at),
            _ => table.remove_job(&job(rng.random_range(0..JOBS))),
        }
    }
}

pub fn replay(seed: u64, calls: u64) -> TaskTable {
    let mut table = TaskTable::new();
    for i in 0..calls {
        call(&mut table, seed, i);
    }
    table
}

/// Everything a table's views say, in a canonical text: tasks by id, the pending queue, each
/// worker's list, counts, jobs with policies and states in order.
pub fn canonical(table: &TaskTable) -> String {
    let mut tasks: Vec<String> = table.iter().map(|task| format!("{task:?}")).collect();
    tasks.sort();
    let queue: Vec<String> = table.pending().map(|task| task.id().to_string()).collect();
    let workers: Vec<Vec<String>> = (0..WORKERS)
        .map(|w| {
            table
                .tasks_on(&WorkerId::new(format!("w{w}")).unwrap())
                .map(ToString::to_string)
                .collect()
        })
        .collect();
    let jobs: Vec<String> = table
        .jobs()
        .map(|job| {
            format!(
                "{} {:?} {:?} {:?} {:?} {}",
                job.id(),
                job.counts(),
                job.policy(),
                job.state(),
                job.error(),
                job.failures()
            )
        })
        .collect();
    format!(
        "{tasks:#?}\n{queue:?}\n{workers:?}\n{:?}\n{jobs:#?}",
        table.counts()
    )
}

/// The invariants of a recovered table, on their own terms.
pub fn invariants(table: &TaskTable) -> Result<(), String> {
    let recount: StateCounts = table.iter().map(AnyTask::state).collect();
    if table.counts() != &recount {
        return Err(format!(
            "counts {:?} differ from a recount {recount:?}",
            table.counts()
        ));
    }
    for task in table.iter() {
        let open = task
            .attempts()
            .iter()
            .filter(|attempt| attempt.is_open())
            .count();
        if open != usize::from(task.state().is_active()) {
            return Err(format!(
                "task {} is {} with {open} open attempts",
                task.id(),
                task.state()
            ));
        }
    }
    let pending = table.pending().count();
    if pending != table.counts().get(StateKind::Pending) {
        return Err(format!(
            "{pending} tasks in the queue, {} pending",
            table.counts().get(StateKind::Pending)
        ));
    }
    Ok(())
}

/// The kill -9 child's loop: calls `from..` of workload `seed`, half as a batch and half as a
/// group of single calls (one transaction each), printing `ack N` once call N committed.
pub fn drive<S: Store>(table: &mut DurableTable<S>, seed: u64, from: u64) {
    for i in from..from + 10_000 {
        if i % 2 == 0 {
            table.batch(|batch| call(batch, seed, i)).unwrap();
        } else {
            table.begin();
            call(table, seed, i);
            table.commit().unwrap();
        }
        println!("ack {i}");
    }
}

/// Runs this test binary's `child` test as a child with `env`, kills it with SIGKILL `delay`
/// after it acknowledged call `target`, and returns the last call it acknowledged before it died
/// (what it printed is still in the pipe after the kill).
pub fn run_child(child: &str, env: &[(&str, String)], target: u64, delay: Duration) -> Option<u64> {
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let ack = |line: std::io::Result<String>| -> Option<u64> {
        line.ok()?.strip_prefix("ack ")?.parse().ok()
    };
    let mut acked = None;
    for line in lines.by_ref() {
        if let Some(n) = ack(line) {
            acked = Some(n);
            if n >= target {
                break;
            }
        }
    }
    std::thread::sleep(delay);
    process.kill().unwrap(); // SIGKILL
    let status = process.wait().unwrap();
    for line in lines {
        if let Some(n) = ack(line) {
            acked = Some(n);
        }
    }
    // A child that panicked (a store it could not open, a lock it did not get) acknowledges
    // nothing, and would pass for a kill that recovered nothing new: it must die of the kill.
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut process.stderr.take().unwrap(), &mut stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child did not die of SIGKILL: {status:?}\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "the child panicked:\n{stderr}"
    );
    acked
}

/// Which replay a recovered table equals: `last` calls (the ones acknowledged) or `last + 1`
/// (the one in flight committed too). Checks the invariants first; panics on anything else.
pub fn recovered(table: &TaskTable, seed: u64, last: u64) -> u64 {
    invariants(table).unwrap_or_else(|err| panic!("seed {seed}, after {last} calls: {err}"));
    let found = canonical(table);
    if found == canonical(&replay(seed, last)) {
        last
    } else if found == canonical(&replay(seed, last + 1)) {
        last + 1
    } else {
        panic!(
            "seed {seed}: the store recovered neither {last} nor {} calls",
            last + 1
        )
    }
}
