//! The simulated cluster behind `cargo run --release --example simulate`: a controller loop over a
//! `TaskTable`, workers that fail the ways real ones do, and a network that delivers reports late
//! and twice. `tests/simulate.rs` includes this file to run small simulations.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use iris_task::{
    AnyTask, JobId, JobPolicy, JobState, RetryPolicy, StateCounts, StateKind, TableError, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, TransitionError, WorkerId, proto,
};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Tasks in all jobs together.
    pub tasks: usize,
    /// Workers in the cluster.
    pub workers: usize,
    /// Seed of the random source: the same seed gives the same run.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tasks: 100_000,
            workers: 500,
            seed: 42,
        }
    }
}

/// Tasks a worker runs at once.
const SLOTS_PER_WORKER: usize = 8;
/// One step of the controller loop, in simulated milliseconds.
const TICK_MS: i64 = 100;
/// ASSIGNED tasks not confirmed within this time are requeued (the dispatch deadline).
const DISPATCH_DEADLINE_MS: i64 = 5_000;
/// When the oversized job's scheduling deadline passes.
const SCHEDULING_DEADLINE_MS: i64 = 60_000;
/// A run that has not ended by then is stuck.
const GIVE_UP_MS: i64 = 24 * 3_600_000;

/// The faults, as probabilities per event.
const P_DISPATCH_FAILS: f64 = 0.02;
const P_NEVER_CONFIRMS: f64 = 0.01;
const P_EXITS_NON_ZERO: f64 = 0.05;
const P_BUILDS_FIRST: f64 = 0.5;
const P_DELIVERED_TWICE: f64 = 0.03;
const P_DELIVERED_LATE: f64 = 0.01;
/// The chance, per tick, that some worker dies.
const P_WORKER_DIES_PER_TICK: f64 = 0.01;

/// A job of the simulation and what happens to it.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    pub policy: JobPolicy,
    /// The budgets of each of its tasks.
    pub retry: RetryPolicy,
    pub tasks: Vec<TaskId>,
    /// Its tasks need more than any worker has: nothing can schedule them.
    pub oversized: bool,
    /// The user cancels it when half the cluster's tasks have ended.
    pub cancelled: bool,
}

/// What the run counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub reports_sent: u64,
    pub reports_never_sent: u64,
    pub duplicates_absorbed: u64,
    pub stale_rejected: u64,
    pub other_rejected: u64,
    pub dispatch_failures_requeued: u64,
    /// ASSIGNED tasks requeued by the dispatch deadline (counted in `dispatch_failures_requeued`
    /// too).
    pub dispatch_deadline_requeued: u64,
    pub worker_deaths: u64,
    pub peak_assigned: usize,
    /// The state counts when ASSIGNED peaked, and when that was.
    pub peak_counts: StateCounts,
    pub peak_at_ms: i64,
    pub simulated_ms: i64,
}

/// The end of a run.
pub struct Outcome {
    pub config: Config,
    pub table: TaskTable,
    pub jobs: Vec<Job>,
    pub stats: Stats,
    pub wall: Duration,
    /// Invariants the run broke; empty when all hold.
    pub violations: Vec<String>,
}

/// A report on its way from a worker to the controller.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    deliver_at: i64,
    sequence: u64,
    sent_at: i64,
    worker: usize,
    incarnation: u32,
    bytes: Vec<u8>,
}

struct Worker {
    id: WorkerId,
    incarnation: u32,
    /// When each earlier incarnation died: what it "sent" after that was never sent.
    deaths: Vec<i64>,
    /// Down until this time, after a death.
    down_until: i64,
}

struct Cluster {
    rng: StdRng,
    table: TaskTable,
    jobs: Vec<Job>,
    workers: Vec<Worker>,
    network: BinaryHeap<Reverse<InFlight>>,
    sequence: u64,
    next_worker: usize,
    stats: Stats,
    now: i64,
}

/// Runs a simulation to its end. `progress` hears (tasks ended, tasks) after every tick.
pub fn run(config: &Config, progress: &mut dyn FnMut(usize, usize)) -> Outcome {
    let started = Instant::now();
    let mut cluster = Cluster::new(config);
    let total = cluster.table.len();
    let mut cancelled = false;
    let mut timed_out = false;
    while cluster.unfinished() > 0 && cluster.now < GIVE_UP_MS {
        cluster.now += TICK_MS;
        cluster.deliver_reports();
        cluster.maybe_kill_a_worker();
        let expired = cluster.table.expire_assigned(
            Timestamp::from_millis(cluster.now),
            Duration::from_millis(DISPATCH_DEADLINE_MS as u64),
        );
        cluster.stats.dispatch_deadline_requeued += expired.len() as u64;
        cluster.stats.dispatch_failures_requeued += expired.len() as u64;
        if !timed_out && cluster.now >= SCHEDULING_DEADLINE_MS {
            cluster.time_out_oversized_jobs();
            timed_out = true;
        }
        if !cancelled && cluster.unfinished() * 2 <= total {
            cluster.cancel_jobs();
            cancelled = true;
        }
        cluster.schedule();
        let assigned = cluster.table.counts().get(StateKind::Assigned);
        if assigned > cluster.stats.peak_assigned {
            cluster.stats.peak_assigned = assigned;
            cluster.stats.peak_counts = cluster.table.counts().clone();
            cluster.stats.peak_at_ms = cluster.now;
        }
        progress(total - cluster.unfinished(), total);
    }
    cluster.stats.simulated_ms = cluster.now;
    let mut violations = check_invariants(&cluster.table, &cluster.jobs);
    if cluster.unfinished() > 0 {
        violations.push(format!(
            "{} tasks had not ended after {} simulated hours",
            cluster.unfinished(),
            GIVE_UP_MS / 3_600_000
        ));
    }
    Outcome {
        config: config.clone(),
        table: cluster.table,
        jobs: cluster.jobs,
        stats: cluster.stats,
        wall: started.elapsed(),
        violations,
    }
}

fn job_id(name: &str) -> JobId {
    JobId::new(name).unwrap_or_else(|err| panic!("{name}: {err}"))
}

impl Cluster {
    fn new(config: &Config) -> Cluster {
        let mut table = TaskTable::new();
        let mut jobs = Vec::new();
        // Eight jobs share the tasks; the oversized job gets 1% of them.
        let oversized = (config.tasks / 100).max(1);
        let regular = config.tasks.saturating_sub(oversized);
        let shapes: [(&str, u32, u32, bool); 7] = [
            ("train/resnet", 2, 0, false),
            ("train/bert", 2, 1, false),
            ("eval/nightly", 0, 0, false),
            ("sweep/lr", 1, 0, true),
            ("etl/ingest", 3, 2, false),
            ("etl/index", 1, 0, false),
            ("batch/render", 2, 5, false),
        ];
        for (n, (name, retries, tolerated, cancelled)) in shapes.into_iter().enumerate() {
            let size = regular / shapes.len() + usize::from(n < regular % shapes.len());
            jobs.push(make_job(name, size, retries, tolerated, false, cancelled));
        }
        jobs.push(make_job("gpu/oversized", oversized, 0, 0, true, false));
        for job in &jobs {
            for id in &job.tasks {
                if let Err(err) = table.insert(Task::new(id.clone(), job.retry)) {
                    panic!("{err}");
                }
            }
        }
        let workers = (0..config.workers)
            .map(|n| Worker {
                id: WorkerId::new(format!("worker-{n:04}")).unwrap_or_else(|err| panic!("{err}")),
                incarnation: 0,
                deaths: Vec::new(),
                down_until: 0,
            })
            .collect();
        Cluster {
            rng: StdRng::seed_from_u64(config.seed),
            table,
            jobs,
            workers,
            network: BinaryHeap::new(),
            sequence: 0,
            next_worker: 0,
            stats: Stats::default(),
            now: 0,
        }
    }

    fn unfinished(&self) -> usize {
        let counts = self.table.counts();
        StateKind::ALL
            .into_iter()
            .filter(|state| !state.is_terminal())
            .map(|state| counts.get(state))
            .sum()
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    /// Applies an event and counts what became of it.
    fn apply(&mut self, id: &TaskId, event: TaskEvent) {
        self.stats.events += 1;
        match self.table.apply(id, event) {
            Ok(step) if !step.changed() => self.stats.duplicates_absorbed += 1,
            Ok(step) => {
                if step.from == StateKind::Assigned && step.to == StateKind::Pending {
                    self.stats.dispatch_failures_requeued += 1;
                }
            }
            Err(TableError::Transition(TransitionError::StaleAttempt { .. })) => {
                self.stats.stale_rejected += 1;
            }
            Err(_) => self.stats.other_rejected += 1,
        }
    }

    /// Matches pending tasks, oldest first, to workers with free slots.
    fn schedule(&mut self) {
        let mut free: Vec<usize> = self
            .workers
            .iter()
            .map(|worker| {
                if worker.down_until > self.now {
                    0
                } else {
                    SLOTS_PER_WORKER.saturating_sub(self.table.tasks_on(&worker.id).count())
                }
            })
            .collect();
        let mut capacity: usize = free.iter().sum();
        let mut picks = Vec::new();
        for task in self.table.pending() {
            if capacity == 0 {
                break;
            }
            if self.oversized(task.id()) {
                continue;
            }
            while free.get(self.next_worker).copied().unwrap_or(0) == 0 {
                self.next_worker = (self.next_worker + 1) % free.len();
            }
            if let Some(slots) = free.get_mut(self.next_worker) {
                *slots -= 1;
            }
            capacity -= 1;
            picks.push((task.id().clone(), self.next_worker));
            self.next_worker = (self.next_worker + 1) % free.len();
        }
        for (id, worker) in picks {
            self.dispatch(&id, worker);
        }
    }

    fn oversized(&self, id: &TaskId) -> bool {
        self.jobs
            .iter()
            .any(|job| job.oversized && &job.id == id.job())
    }

    /// Assigns the task and sends the RunTask RPC, which may fail, or reach a worker that will
    /// never confirm it. A worker that takes it reports BUILDING (sometimes), RUNNING and an end.
    fn dispatch(&mut self, id: &TaskId, worker: usize) {
        let Some(worker_id) = self.workers.get(worker).map(|w| w.id.clone()) else {
            return;
        };
        self.stats.events += 1;
        let attempt = match self.table.assign(id, worker_id.clone(), self.now()) {
            Ok(task) => task.attempt_id(),
            Err(err) => panic!("the scheduler picked from pending(), yet: {err}"),
        };
        if self.rng.random_bool(P_DISPATCH_FAILS) {
            let error = format!("RunTask to {worker_id} failed: connection refused");
            let event = TaskEvent::WorkerLost {
                worker: worker_id,
                error,
                at: self.now(),
            };
            self.apply(id, event);
            return;
        }
        if self.rng.random_bool(P_NEVER_CONFIRMS) {
            return;
        }
        let mut at = self.now + self.rng.random_range(20..200);
        if self.rng.random_bool(P_BUILDS_FIRST) {
            self.send(worker, id, attempt.get(), proto::TaskState::Building, at, 0);
            at += self.rng.random_range(100..2_000);
        }
        self.send(worker, id, attempt.get(), proto::TaskState::Running, at, 0);
        at += self.rng.random_range(2_000..20_000);
        if self.rng.random_bool(P_EXITS_NON_ZERO) {
            let exit = self.rng.random_range(1..128);
            self.send(
                worker,
                id,
                attempt.get(),
                proto::TaskState::Failed,
                at,
                exit,
            );
        } else {
            self.send(
                worker,
                id,
                attempt.get(),
                proto::TaskState::Succeeded,
                at,
                0,
            );
        }
    }

    /// Queues a worker's report as the bytes a worker would send, maybe twice, maybe late.
    fn send(
        &mut self,
        worker: usize,
        id: &TaskId,
        attempt: u32,
        state: proto::TaskState,
        sent_at: i64,
        exit_code: i32,
    ) {
        let Some(from) = self.workers.get(worker) else {
            return;
        };
        let terminal = matches!(
            state,
            proto::TaskState::Succeeded | proto::TaskState::Failed
        );
        let report = proto::ReportTaskStateRequest {
            worker_id: from.id.as_str().to_owned(),
            task_id: id.to_string(),
            job_id: id.job().as_str().to_owned(),
            task_index: i32::try_from(id.index()).unwrap_or(i32::MAX),
            state: state as i32,
            exit_code,
            error: if exit_code == 0 {
                String::new()
            } else {
                format!("exit {exit_code}")
            },
            finished_at_ms: if terminal { sent_at } else { 0 },
            attempt_id: i32::try_from(attempt).unwrap_or(i32::MAX),
        };
        let bytes = report.encode_to_vec();
        let incarnation = from.incarnation;
        let copies = if self.rng.random_bool(P_DELIVERED_TWICE) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.rng.random_bool(P_DELIVERED_LATE) {
                self.rng.random_range(30_000..120_000)
            } else {
                self.rng.random_range(1..50)
            };
            self.sequence += 1;
            self.network.push(Reverse(InFlight {
                deliver_at: sent_at + delay,
                sequence: self.sequence,
                sent_at,
                worker,
                incarnation,
                bytes: bytes.clone(),
            }));
        }
    }

    /// Delivers every report due by now, decoding it as the controller's RPC handler would.
    fn deliver_reports(&mut self) {
        while self
            .network
            .peek()
            .is_some_and(|Reverse(next)| next.deliver_at <= self.now)
        {
            let Some(Reverse(report)) = self.network.pop() else {
                break;
            };
            let Some(worker) = self.workers.get(report.worker) else {
                continue;
            };
            // A worker that died before the send time never sent it.
            let died = worker.deaths.get(report.incarnation as usize);
            if died.is_some_and(|&died| report.sent_at >= died) {
                self.stats.reports_never_sent += 1;
                continue;
            }
            self.stats.reports_sent += 1;
            let received_at = Timestamp::from_millis(report.deliver_at);
            let decoded = TaskEvent::decode_report(&report.bytes, received_at);
            match decoded {
                Ok((id, event)) => self.apply(&id, event),
                Err(err) => panic!("a well-formed report failed to decode: {err}"),
            }
        }
    }

    /// Now and then a worker dies: every task on it fails as a worker loss, and it comes back
    /// empty some time later.
    fn maybe_kill_a_worker(&mut self) {
        if !self.rng.random_bool(P_WORKER_DIES_PER_TICK) {
            return;
        }
        let index = self.rng.random_range(0..self.workers.len());
        let restart = self.rng.random_range(10_000..30_000);
        let Some(worker) = self.workers.get_mut(index) else {
            return;
        };
        if worker.down_until > self.now {
            return;
        }
        worker.deaths.push(self.now);
        worker.incarnation += 1;
        worker.down_until = self.now + restart;
        let id = worker.id.clone();
        self.stats.worker_deaths += 1;
        let changed = self.table.worker_lost(&id, "heartbeat lost", self.now());
        self.stats.events += changed.len() as u64;
        self.stats.dispatch_failures_requeued += changed
            .iter()
            .filter(|(_, step)| step.from == StateKind::Assigned)
            .count() as u64;
    }

    /// The scheduling deadline of the jobs no worker can fit: their pending tasks end.
    fn time_out_oversized_jobs(&mut self) {
        let at = self.now();
        self.for_tasks_of(
            |job| job.oversized,
            |state| state == StateKind::Pending,
            || TaskEvent::SchedulingTimeout { at },
        );
    }

    /// The user cancels: every task of the job that has not ended is killed.
    fn cancel_jobs(&mut self) {
        let at = self.now();
        self.for_tasks_of(
            |job| job.cancelled,
            |state| !state.is_terminal(),
            || TaskEvent::Kill {
                reason: "cancelled by the user".to_owned(),
                at,
            },
        );
    }

    /// Applies `event()` to every task in a state `eligible`, of the jobs `chosen`.
    fn for_tasks_of(
        &mut self,
        chosen: impl Fn(&Job) -> bool,
        eligible: impl Fn(StateKind) -> bool,
        event: impl Fn() -> TaskEvent,
    ) {
        let ids: Vec<TaskId> = self
            .jobs
            .iter()
            .filter(|job| chosen(job))
            .flat_map(|job| job.tasks.iter().cloned())
            .collect();
        for id in ids {
            if self
                .table
                .get(&id)
                .is_some_and(|task| eligible(task.state()))
            {
                self.apply(&id, event());
            }
        }
    }
}

fn make_job(
    name: &str,
    size: usize,
    retries: u32,
    tolerated: u32,
    oversized: bool,
    cancelled: bool,
) -> Job {
    let id = job_id(name);
    let tasks = (0..size)
        .map(|index| TaskId::new(id.clone(), u32::try_from(index).unwrap_or(u32::MAX)))
        .collect();
    Job {
        id,
        policy: JobPolicy {
            max_task_failures: tolerated,
        },
        retry: RetryPolicy {
            max_retries_failure: retries,
            ..RetryPolicy::default()
        },
        tasks,
        oversized,
        cancelled,
    }
}

/// Checks what must hold at the end of every run.
pub fn check_invariants(table: &TaskTable, jobs: &[Job]) -> Vec<String> {
    let mut violations = Vec::new();
    let recount: StateCounts = table.iter().map(AnyTask::state).collect();
    if table.counts() != &recount {
        violations.push(format!(
            "counts {:?} differ from a recount {:?}",
            table.counts(),
            recount
        ));
    }
    for task in table.iter() {
        let id = task.id();
        if !task.state().is_terminal() {
            violations.push(format!("task {id} is still {}", task.state()));
        }
        if let Some(open) = task.attempts().iter().find(|attempt| attempt.is_open()) {
            violations.push(format!("task {id} left attempt {} open", open.id()));
        }
        let policy = task.policy();
        let failed = u32::from(task.state() == StateKind::Failed);
        let lost = u32::from(task.state() == StateKind::WorkerFailed);
        if task.failure_count() > policy.max_retries_failure + failed {
            violations.push(format!("task {id} failed {} times", task.failure_count()));
        }
        if task.preemption_count() > policy.max_retries_preemption + lost {
            violations.push(format!(
                "task {id} was preempted {} times",
                task.preemption_count()
            ));
        }
    }
    for job in jobs {
        if table.job_counts(&job.id).map(StateCounts::total) != Some(job.tasks.len()) {
            violations.push(format!("job {} lost track of its tasks", job.id));
        }
    }
    violations
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The job's state as the dashboard derives it.
pub fn job_state(outcome: &Outcome, job: &Job) -> JobState {
    outcome
        .table
        .job_counts(&job.id)
        .map_or(JobState::Pending, |counts| counts.job_state(&job.policy))
}

/// The summary the example prints.
pub fn report(outcome: &Outcome) -> String {
    let stats = &outcome.stats;
    let table = &outcome.table;
    let attempts: u64 = table.iter().map(|t| t.attempts().len() as u64).sum();
    let failures: u64 = table.iter().map(|t| u64::from(t.failure_count())).sum();
    let preemptions: u64 = table.iter().map(|t| u64::from(t.preemption_count())).sum();
    let wall = outcome.wall.as_secs_f64().max(1e-9);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "iris-task simulation: {} tasks in {} jobs on {} workers, seed {}",
        thousands(table.len() as u64),
        outcome.jobs.len(),
        outcome.config.workers,
        outcome.config.seed
    );
    let _ = writeln!(
        out,
        "{:.1} s of cluster time in {:.2} s of wall time: {} events, {} per second\n",
        stats.simulated_ms as f64 / 1000.0,
        wall,
        thousands(stats.events),
        thousands((stats.events as f64 / wall) as u64)
    );
    let _ = writeln!(out, "{:<14} {:>9}", "state", "tasks");
    for (state, count) in table.counts().iter() {
        let peak = if state == StateKind::Assigned {
            format!(
                "   (peak {} during the run)",
                thousands(stats.peak_assigned as u64)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<14} {:>9}{peak}",
            state.label(),
            thousands(count as u64)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:>7}  {:<14} succeeded / failed / killed / worker_failed / unschedulable",
        "job", "tasks", "state"
    );
    for job in &outcome.jobs {
        let counts = table.job_counts(&job.id).cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:>7}  {:<14} {} / {} / {} / {} / {}",
            job.id.as_str(),
            thousands(job.tasks.len() as u64),
            job_state(outcome, job).label(),
            counts.get(StateKind::Succeeded),
            counts.get(StateKind::Failed),
            counts.get(StateKind::Killed),
            counts.get(StateKind::WorkerFailed),
            counts.get(StateKind::Unschedulable),
        );
    }
    let _ = writeln!(
        out,
        "\nattempts {}; failures charged {}; preemptions charged {}",
        thousands(attempts),
        thousands(failures),
        thousands(preemptions)
    );
    let _ = writeln!(
        out,
        "dispatch failures requeued free of charge {} (RPC failures, dispatch deadline, workers lost before confirming); {} workers died",
        thousands(stats.dispatch_failures_requeued),
        thousands(stats.worker_deaths)
    );
    let _ = writeln!(
        out,
        "reports: {} delivered, {} duplicates absorbed, {} stale rejected, {} other rejected, {} never sent (worker died first)",
        thousands(stats.reports_sent),
        thousands(stats.duplicates_absorbed),
        thousands(stats.stale_rejected),
        thousands(stats.other_rejected),
        thousands(stats.reports_never_sent)
    );
    if outcome.violations.is_empty() {
        let _ = writeln!(
            out,
            "\ninvariants hold: every task terminal, no attempt left open, counts equal a recount, no budget exceeded"
        );
    } else {
        let _ = writeln!(out, "\nINVARIANTS BROKEN ({}):", outcome.violations.len());
        for violation in outcome.violations.iter().take(20) {
            let _ = writeln!(out, "  {violation}");
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The counts as one bar, a segment per non-empty state in its colour.
fn bar(out: &mut String, counts: &StateCounts, name: &str) {
    let total = counts.total().max(1);
    let _ = writeln!(out, "<div class=\"bar\" id=\"bar-{name}\">");
    for (state, count) in counts.iter().filter(|(_, count)| *count > 0) {
        let _ = writeln!(
            out,
            "<div class=\"{class}\" style=\"width: {width:.3}%\" title=\"{label}: {count}\">{label}: {count}</div>",
            class = state.css_class(),
            width = count as f64 * 100.0 / total as f64,
            label = state.label(),
        );
    }
    let _ = writeln!(out, "</div>");
}

/// The most task rows the dashboard lists.
pub const HTML_TASK_ROWS: usize = 2_000;

/// A self-contained dashboard page: no scripts, no network.
pub fn html(outcome: &Outcome) -> String {
    let table = &outcome.table;
    let counts = table.counts();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>iris-task simulation, seed {}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         td, th {{ padding: 2px 10px; border-bottom: 1px solid #d0d7de; text-align: left; }}\n\
         td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .bar {{ display: flex; height: 28px; width: 100%; border-radius: 4px; overflow: hidden; }}\n\
         .bar div {{ color: white; font-size: 12px; line-height: 28px; padding-left: 4px; overflow: hidden; white-space: nowrap; }}\n\
         .state {{ font-weight: 600; }}\n",
        outcome.config.seed
    );
    for state in StateKind::ALL {
        let _ = writeln!(
            out,
            ".bar div.{class} {{ background: {color}; }}\nspan.{class} {{ color: {color}; }}",
            class = state.css_class(),
            color = state.color()
        );
    }
    let _ = writeln!(out, "</style>\n</head>\n<body>");
    let _ = writeln!(
        out,
        "<h1>iris-task simulation</h1>\n<p>{} tasks in {} jobs on {} workers, seed {}; {:.1} s of cluster time.</p>",
        table.len(),
        outcome.jobs.len(),
        outcome.config.workers,
        outcome.config.seed,
        outcome.stats.simulated_ms as f64 / 1000.0
    );

    let _ = writeln!(
        out,
        "<h2>Tasks per state</h2>\n<p>At the end of the run:</p>"
    );
    bar(&mut out, counts, "final");
    let _ = writeln!(out, "<table class=\"counts\">");
    for (state, count) in counts.iter() {
        let _ = writeln!(
            out,
            "<tr><td><span class=\"state {}\">{}</span></td><td class=\"n\" data-state=\"{}\">{}</td></tr>",
            state.css_class(),
            state.label(),
            state.label(),
            count
        );
    }
    let _ = writeln!(
        out,
        "</table>\n<p>When ASSIGNED peaked, at {:.1} s: {} tasks matched to workers that had not confirmed yet.</p>",
        outcome.stats.peak_at_ms as f64 / 1000.0,
        outcome.stats.peak_assigned
    );
    bar(&mut out, &outcome.stats.peak_counts, "peak");

    let _ = writeln!(
        out,
        "<h2>Jobs</h2>\n<table class=\"jobs\">\n<tr><th>job</th><th>state</th>"
    );
    for state in StateKind::ALL {
        let _ = write!(out, "<th>{}</th>", state.label());
    }
    let _ = writeln!(out, "</tr>");
    for job in &outcome.jobs {
        let job_counts = table.job_counts(&job.id).cloned().unwrap_or_default();
        let state = job_state(outcome, job);
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"state status-{}\">{}</span></td>",
            escape(job.id.as_str()),
            state.label(),
            state.label()
        );
        for (_, count) in job_counts.iter() {
            let _ = write!(out, "<td class=\"n\">{count}</td>");
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table>");

    let shown = table.len().min(HTML_TASK_ROWS);
    let _ = writeln!(
        out,
        "<h2>Tasks</h2>\n<p>{shown} of {} tasks.</p>\n<table class=\"tasks\">\n<tr><th>task</th><th>state</th><th>attempts</th><th>worker</th><th>failures</th><th>preemptions</th><th>last error</th></tr>",
        table.len()
    );
    for task in table.iter().take(shown) {
        let current = task.current_attempt();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><span class=\"state {}\">{}</span></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&task.id().to_string()),
            task.state().css_class(),
            task.state().label(),
            task.attempts().len(),
            current.map_or(String::new(), |a| escape(a.worker().as_str())),
            task.failure_count(),
            task.preemption_count(),
            escape(current.and_then(|a| a.error()).unwrap_or("")),
        );
    }
    let _ = writeln!(out, "</table>\n</body>\n</html>");
    out
}
