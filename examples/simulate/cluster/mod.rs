//! The simulated cluster behind `cargo run --release --example simulate`: a controller loop over a
//! `TaskTable`, workers that fail the ways real ones do, and a network that delivers reports late
//! and twice. `report.rs` and `dashboard.rs` show what a run did; `tests/simulate.rs` includes
//! these files to run small simulations.
//!
//! Every step of the loop costs what happens in it, not the size of the cluster: the scheduler
//! keeps the workers with free slots in an ordered set and re-reads a worker's load
//! (`TaskTable::worker_load`, O(1)) only when something changed on that worker.

mod checks;
mod faults;
mod network;
mod schedule;
mod setup;
mod tables;

pub use checks::check_invariants;
use network::{InFlight, Network, delivering_tick};
use tables::{Table, open_tables};

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

use iris_task::{
    AnyTask, Changes, JobId, JobPolicy, RetryPolicy, StateCounts, StateKind, TableError, TaskEvent,
    TaskId, TaskTable, Timestamp, TransitionError, WorkerId, proto,
};
use rand::Rng;
use rand::rngs::StdRng;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Tasks in all jobs together.
    pub tasks: usize,
    /// Workers in the cluster.
    pub workers: usize,
    /// Seed of the random source: the same seed gives the same run.
    pub seed: u64,
    /// Keep the table in this store (`--store sqlite:PATH` or `--store postgres:PARAMS`), one
    /// transaction per tick; if the store holds a run already, resume it.
    pub store: Option<StoreAt>,
    /// Abort the process in the middle of this tick (`--crash-after N`), after its calls and
    /// before its commit.
    pub crash_after: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tasks: 100_000,
            workers: 500,
            seed: 42,
            store: None,
            crash_after: None,
        }
    }
}

/// Where a durable run keeps its table: `--store sqlite:PATH` or `--store postgres:PARAMS`.
/// (Built without the store's feature, the run refuses it, naming the feature.)
#[derive(Clone, Debug)]
#[allow(dead_code)] // main.rs builds each; the tests and featureless builds only some.
pub enum StoreAt {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// Tasks a worker runs at once.
pub const SLOTS_PER_WORKER: usize = 8;
/// One step of the controller loop, in simulated milliseconds.
pub const TICK_MS: i64 = 100;
/// ASSIGNED tasks not confirmed within this time are requeued (the dispatch deadline).
const DISPATCH_DEADLINE_MS: i64 = 5_000;
/// When the oversized job's scheduling deadline passes.
const SCHEDULING_DEADLINE_MS: i64 = 60_000;
/// A run that has not ended by then is stuck.
const GIVE_UP_MS: i64 = 24 * 3_600_000;

/// The error of the attempts whose RunTask RPC failed begins with this.
pub const RPC_FAILED_PREFIX: &str = "RunTask to ";
/// The error of the attempts that were active on a worker when it died.
pub const WORKER_DIED_ERROR: &str = "heartbeat lost";
/// The reason of the tasks the user cancelled.
pub const CANCEL_REASON: &str = "cancelled by the user";
/// The reason of the attempts the scheduler preempted for the priority job.
pub const PREEMPT_REASON: &str = "preempted for prod/serving";
/// What a worker says when it confirms it stopped an attempt it was told to stop.
pub const STOPPED_ERROR: &str = "stopped as the controller asked";

/// How long a worker takes to confirm a task it was sent, to build it, and to run it.
const CONFIRM_MS: Range<i64> = 20..200;
const BUILD_MS: Range<i64> = 100..2_000;
const RUN_MS: Range<i64> = 2_000..20_000;
/// How long the network takes to deliver a report, and a late one.
const NETWORK_MS: Range<i64> = 1..50;
const LATE_MS: Range<i64> = 30_000..120_000;
/// How long a dead worker stays down.
const RESTART_MS: Range<i64> = 10_000..30_000;

/// The faults, as probabilities per event.
const P_DISPATCH_FAILS: f64 = 0.02;
const P_NEVER_CONFIRMS: f64 = 0.01;
const P_EXITS_NON_ZERO: f64 = 0.05;
/// Members of each coscheduled job.
pub const GANG_SIZE: u32 = 8;
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
    /// How many tasks it has: its tasks are indices `0..size`.
    pub size: u32,
    /// Its tasks need more than any worker has: nothing can schedule them.
    pub oversized: bool,
    /// The user cancels it when half the cluster's tasks have ended.
    pub cancelled: bool,
    /// The high-priority job: it arrives when a tenth of the cluster's tasks have ended, and
    /// the scheduler preempts running tasks of the lowest-priority job to make room for it.
    pub priority: bool,
    /// Its tasks run only once it has arrived.
    pub lowest_priority: bool,
    /// Its task 0 exits non-zero until it has failed this many times (a bad input shard): how
    /// the gangs show their rule whatever the seed.
    pub fail_first: u32,
}

impl Job {
    /// The ids of its tasks.
    pub fn task_ids(&self) -> impl Iterator<Item = TaskId> + '_ {
        (0..self.size).map(|index| TaskId::new(self.id.clone(), index))
    }
}

/// What the run counted.
///
/// Every event handed to the table is counted once in `events`, and once in exactly one of
/// `changes`, `duplicates_absorbed`, `stale_rejected` and `other_rejected`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events handed to the table: assignments, RunTask failures, delivered reports, workers
    /// lost, dispatch deadlines, kills and scheduling timeouts.
    pub events: u64,
    /// Events that changed a task.
    pub changes: u64,
    /// Accepted events that repeated what the task records, and so changed nothing.
    pub duplicates_absorbed: u64,
    /// Reports about an attempt that is not the task's current one, or that has closed.
    pub stale_rejected: u64,
    /// Any other rejected event: from the wrong worker, a regression, time going backwards. The
    /// simulation causes only regressions, rarely: a BUILDING report delivered late, after the
    /// RUNNING one, while the attempt still runs (a late report about a closed attempt is stale).
    pub other_rejected: u64,
    /// Reports the workers were to send, each copy of a report delivered twice counted.
    pub reports_queued: u64,
    /// Reports that reached the controller.
    pub reports_delivered: u64,
    /// Reports dropped because their worker died before it would have sent them.
    pub reports_never_sent: u64,
    /// Reports still on their way when the run ended (late copies of reports about ended tasks).
    pub reports_in_flight: u64,
    /// ASSIGNED tasks requeued free of charge: the sum of the three causes below. (A FAILED
    /// report that skips an ASSIGNED task forward to PENDING also goes ASSIGNED → PENDING, but
    /// it charges the failure budget, so it is not one of these.)
    pub dispatch_failures_requeued: u64,
    /// ... because their RunTask RPC failed.
    pub dispatch_rpc_failed: u64,
    /// ... because their worker died before it confirmed them.
    pub dispatch_worker_died: u64,
    /// ... because the dispatch deadline passed (`TaskTable::expire_assigned`).
    pub dispatch_deadline_requeued: u64,
    /// Running tasks the scheduler preempted for the priority job (`TaskEvent::Preempt`).
    pub scheduler_preemptions: u64,
    /// Changes beyond the tasks the controller named: gang siblings stopped or requeued with
    /// a member, and tasks killed because their job ended.
    pub follow_on_changes: u64,
    /// Stop orders the controller sent to workers for attempts it ended (a kill, a preemption,
    /// a gang stop); each worker answers KILLED, which the table absorbs as a duplicate.
    pub stop_orders: u64,
    /// Checks, after every call with a gang trigger, that no member of the gang is active (and,
    /// if the trigger ended for good, none is left to run). Counted so a run shows they happened.
    pub gang_checks: u64,
    pub worker_deaths: u64,
    pub peak_assigned: usize,
    /// The state counts when ASSIGNED peaked, and when that was.
    pub peak_counts: StateCounts,
    pub peak_at_ms: i64,
    pub simulated_ms: i64,
    /// Batches handed to the store: one per tick (and one for the setup, one for a resume's
    /// lost workers); 0 in memory.
    pub batches: u64,
    /// Transactions the store committed: a batch that changed nothing writes none. 0 in memory.
    pub commits: u64,
    /// When a run resumed from a store, the time it resumed at.
    pub resumed_at_ms: Option<i64>,
}

/// The end of a run.
pub struct Outcome {
    pub config: Config,
    pub table: TaskTable,
    pub jobs: Vec<Job>,
    pub stats: Stats,
    /// The whole run, setup included.
    pub wall: Duration,
    /// Of `wall`, the time it took to build the jobs, the table and the workers.
    pub setup: Duration,
    /// Invariants the run broke; empty when all hold.
    pub violations: Vec<String>,
}

struct Worker {
    id: WorkerId,
    incarnation: u32,
    /// When each earlier incarnation died: what it "sent" after that was never sent.
    deaths: Vec<i64>,
    /// Down until this time, after a death.
    down_until: i64,
}

/// The scheduler's view of the workers' free slots, kept without walking the workers each tick.
struct Slots {
    /// Each worker's free slots as of its last refresh, less what the scheduler took since.
    free: Vec<usize>,
    /// The workers that are up and have a free slot, in index order: the round robin's ring.
    available: BTreeSet<usize>,
    /// Workers whose load or health may have changed since their last refresh.
    dirty: Vec<usize>,
    /// Dead workers, by when they come back.
    revivals: BinaryHeap<Reverse<(i64, usize)>>,
    /// Where the round robin goes on from.
    next: usize,
}

struct Cluster {
    rng: StdRng,
    table: Box<dyn Table>,
    jobs: Vec<Job>,
    workers: Vec<Worker>,
    /// Each worker's index in `workers`.
    worker_index: HashMap<WorkerId, usize>,
    slots: Slots,
    network: Network,
    /// The message `encode` fills, and the bytes it encodes it to.
    report: proto::ReportTaskStateRequest,
    wire: Vec<u8>,
    stats: Stats,
    now: i64,
    /// When the priority job arrived.
    arrived_at: Option<i64>,
    /// The table came from a store that held a run: it resumes.
    resumed: bool,
    /// Mismatches between the scheduler's free slots and the table's worker loads, and gangs
    /// found partly running after a trigger.
    audit: Vec<String>,
}

/// Runs a simulation to its end. `progress` hears (tasks ended, tasks) after every tick.
pub fn run(config: &Config, progress: &mut dyn FnMut(usize, usize)) -> Outcome {
    let started = Instant::now();
    let mut cluster = Cluster::new(config);
    let total = cluster.table.view().len();
    let (mut cancelled, mut timed_out) = (false, false);
    if cluster.resumed {
        (cancelled, timed_out) = cluster.resume();
    }
    let setup = started.elapsed();
    let mut unfinished = cluster.unfinished();
    let mut tick = 0;
    while unfinished > 0 && cluster.now < GIVE_UP_MS {
        cluster.now += TICK_MS;
        tick += 1;
        cluster.table.begin();
        cluster.deliver_reports();
        cluster.maybe_kill_a_worker();
        cluster.expire_dispatch_deadline();
        if !timed_out && cluster.now >= SCHEDULING_DEADLINE_MS {
            cluster.time_out_oversized_jobs();
            timed_out = true;
        }
        if !cancelled && cluster.unfinished() * 2 <= total {
            cluster.cancel_jobs();
            cancelled = true;
        }
        if cluster.arrived_at.is_none() && cluster.unfinished() * 10 <= total * 9 {
            cluster.priority_job_arrives();
        }
        cluster.schedule();
        if config.crash_after == Some(tick) {
            // Mid-tick: this tick's calls are applied in memory and not committed.
            eprintln!("crashing in tick {tick}, before its commit");
            std::process::abort();
        }
        if cluster.table.commit() {
            cluster.stats.batches += 1;
        }
        let assigned = cluster.table.view().counts().get(StateKind::Assigned);
        if assigned > cluster.stats.peak_assigned {
            cluster.stats.peak_assigned = assigned;
            cluster.stats.peak_counts = cluster.table.view().counts().clone();
            cluster.stats.peak_at_ms = cluster.now;
        }
        unfinished = cluster.unfinished();
        progress(total - unfinished, total);
    }
    cluster.stats.simulated_ms = cluster.now;
    cluster.stats.commits = cluster.table.commits();
    cluster.stats.reports_in_flight = cluster.network.in_flight as u64;
    let mut violations = check_invariants(cluster.table.view(), &cluster.jobs);
    if unfinished > 0 {
        violations.push(format!(
            "{unfinished} tasks had not ended after {} simulated hours",
            GIVE_UP_MS / 3_600_000
        ));
    }
    cluster.refresh_free_slots();
    cluster.audit_free_slots();
    violations.append(&mut cluster.audit);
    Outcome {
        config: config.clone(),
        table: cluster.table.into_table(),
        jobs: cluster.jobs,
        stats: cluster.stats,
        wall: started.elapsed(),
        setup,
        violations,
    }
}

fn job_id(name: &str) -> JobId {
    JobId::new(name).unwrap_or_else(|err| panic!("{name}: {err}"))
}

impl Cluster {
    /// A controller restarted on its store: the clock goes on from the latest time the table
    /// records, and every worker that held a task is declared lost (the network and the workers'
    /// reports in flight died with the old process; workers re-register empty). Returns whether
    /// the user's cancel and the scheduling deadline had already happened.
    fn resume(&mut self) -> (bool, bool) {
        let latest = self
            .table
            .view()
            .iter()
            .filter_map(AnyTask::latest_time)
            .map(Timestamp::as_millis)
            .max()
            .unwrap_or(0);
        self.now = delivering_tick(latest) * TICK_MS;
        self.stats.resumed_at_ms = Some(self.now);
        let mut held: Vec<usize> = (0..self.workers.len())
            .filter(|&w| {
                self.workers
                    .get(w)
                    .is_some_and(|worker| self.table.view().worker_load(&worker.id) > 0)
            })
            .collect();
        held.sort_unstable();
        self.table.begin();
        for w in held {
            let Some(id) = self.workers.get(w).map(|worker| worker.id.clone()) else {
                continue;
            };
            let changes = self.table.worker_lost(&id, WORKER_DIED_ERROR, self.now());
            self.stats.events += changes.len() as u64;
            self.stats.changes += changes.len() as u64;
            self.touch(w);
        }
        if self.table.commit() {
            self.stats.batches += 1;
        }
        let ended = |jobs: &[Job], which: fn(&Job) -> bool, table: &TaskTable| {
            jobs.iter().filter(|job| which(job)).all(|job| {
                table
                    .job_counts(&job.id)
                    .is_some_and(|counts| counts.unfinished() == 0)
            })
        };
        let cancelled = ended(&self.jobs, |job| job.cancelled, self.table.view());
        let timed_out = self.now >= SCHEDULING_DEADLINE_MS;
        let arrived = self.jobs.iter().filter(|job| job.priority).any(|job| {
            self.table
                .view()
                .tasks_of(&job.id)
                .any(|task| !task.attempts().is_empty())
        });
        if arrived {
            self.arrived_at = Some(self.now);
        }
        (cancelled, timed_out)
    }

    /// Tasks not in a terminal state: O(1), from the table's counts.
    fn unfinished(&self) -> usize {
        let counts = self.table.view().counts();
        StateKind::ALL
            .into_iter()
            .filter(|state| !state.is_terminal())
            .map(|state| counts.get(state))
            .sum()
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    /// Applies an event and counts what became of it. Returns the change it made to the task it
    /// names, if any; the tasks the job's rules changed with it are handled by `after`.
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Option<(StateKind, StateKind)> {
        self.stats.events += 1;
        match self.table.apply(id, event) {
            Ok(changes) => {
                self.after(&changes, 1);
                let (_, step) = changes.first()?;
                if step.changed() {
                    self.stats.changes += 1;
                    Some((step.from, step.to))
                } else {
                    self.stats.duplicates_absorbed += 1;
                    None
                }
            }
            Err(TableError::Transition(TransitionError::StaleAttempt { .. })) => {
                self.stats.stale_rejected += 1;
                None
            }
            Err(_) => {
                self.stats.other_rejected += 1;
                None
            }
        }
    }

    /// What a controller does after a table call: frees the workers of every attempt the call
    /// closed, tells the worker to stop each attempt the controller itself ended (a kill, a
    /// preemption, a gang stop) and queues its KILLED answer, and checks the gangs the call
    /// touched. `named` is how many of the changes, first in the list, the caller named; the
    /// rest followed from the job's rules.
    fn after(&mut self, changes: &Changes, named: usize) {
        self.stats.follow_on_changes += changes.len().saturating_sub(named) as u64;
        let mut gangs = Vec::new();
        for (id, step) in changes.iter() {
            if !step.from.is_active() || step.to.is_active() {
                continue;
            }
            let Some(attempt) = self.table.view().get(id).and_then(AnyTask::current_attempt) else {
                continue;
            };
            let Some(&worker) = self.worker_index.get(attempt.worker()) else {
                continue;
            };
            let told_to_stop = match attempt.state() {
                StateKind::Killed => !attempt.is_killed_on_worker(),
                StateKind::CoschedFailed => true,
                StateKind::Preempted => attempt.error() == Some(PREEMPT_REASON),
                _ => false,
            };
            let attempt_id = attempt.id().get();
            let attempt_state = attempt.state();
            self.touch(worker);
            let Some(job) = self.jobs.iter().position(|job| job.id == *id.job()) else {
                continue;
            };
            if told_to_stop {
                self.stop_order(worker, job, id.index(), attempt_id);
            }
            // A gang trigger: the attempt ended other than SUCCEEDED, other than by the
            // controller, and not as a sibling.
            let trigger = !told_to_stop && !matches!(attempt_state, StateKind::Succeeded);
            if trigger && self.jobs.get(job).is_some_and(|job| job.policy.coscheduled) {
                gangs.push(job);
            }
        }
        for job in gangs {
            self.check_gang(job);
        }
    }

    /// The worker stops the attempt and answers KILLED a confirmation's time later: a duplicate
    /// for the table, which recorded the stop first.
    fn stop_order(&mut self, worker: usize, job: usize, task: u32, attempt: u32) {
        let Some(incarnation) = self.workers.get(worker).map(|from| from.incarnation) else {
            return;
        };
        self.stats.stop_orders += 1;
        let sent_at = self.now + self.rng.random_range(CONFIRM_MS);
        self.send(InFlight {
            deliver_at: sent_at,
            sequence: 0,
            sent_at,
            worker,
            incarnation,
            job,
            task,
            attempt,
            state: proto::TaskState::Killed,
            exit_code: 0,
        });
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
            .flat_map(Job::task_ids)
            .collect();
        for id in ids {
            // A task the job-end rule stopped since the list was made is no longer eligible.
            if self
                .table
                .view()
                .get(&id)
                .is_some_and(|task| eligible(task.state()))
            {
                self.apply(&id, event());
            }
        }
    }
}
