//! The simulated cluster behind `cargo run --release --example simulate`: a controller loop over a
//! `TaskTable`, workers that fail the ways real ones do, and a network that delivers reports late
//! and twice. `report.rs` and `dashboard.rs` show what a run did; `tests/simulate.rs` includes
//! these files to run small simulations.
//!
//! Every step of the loop costs what happens in it, not the size of the cluster: the scheduler
//! keeps the workers with free slots in an ordered set and re-reads a worker's load
//! (`TaskTable::worker_load`, O(1)) only when something changed on that worker.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

use iris_task::{
    AnyTask, Changes, JobId, JobPolicy, Offer, RetryPolicy, StateCounts, StateKind, TableError,
    Task, TaskEvent, TaskId, TaskTable, Timestamp, TransitionError, WorkerId, proto,
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

/// The controller's table as the simulation calls it: a `TaskTable` in memory, or a
/// `DurableTable` over either store (one transaction per tick). A store error ends the run: the
/// example's controller has nothing better to do.
pub trait Table {
    fn view(&self) -> &TaskTable;
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError>;
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy);
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes;
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError>;
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes;
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes;
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes;
    /// Opens the tick's transaction (durable tables only).
    fn begin(&mut self);
    /// Commits the tick's transaction; true if there was one to commit.
    fn commit(&mut self) -> bool;
    /// Transactions committed since the store was opened; 0 in memory.
    fn commits(&self) -> u64;
    fn into_table(self: Box<Self>) -> TaskTable;
}

impl Table for TaskTable {
    fn view(&self) -> &TaskTable {
        self
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError> {
        TaskTable::insert(self, task).map(drop)
    }
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        TaskTable::set_job_policy(self, job, policy);
    }
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes {
        TaskTable::schedule(self, at, place)
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        TaskTable::apply(self, id, event)
    }
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        TaskTable::worker_lost(self, worker, error, at)
    }
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        TaskTable::expire_assigned(self, now, max_wait)
    }
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        TaskTable::kill_job(self, job, reason, at)
    }
    fn begin(&mut self) {}
    fn commit(&mut self) -> bool {
        false
    }
    fn commits(&self) -> u64 {
        0
    }
    fn into_table(self: Box<Self>) -> TaskTable {
        *self
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn committed<T>(result: Result<T, iris_task::StoreError>) -> Result<T, TableError> {
    match result {
        Ok(value) => Ok(value),
        Err(iris_task::StoreError::Table(err)) => Err(err),
        Err(err) => panic!("the store failed: {err}"),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<S: iris_task::Store> Table for iris_task::DurableTable<S> {
    fn view(&self) -> &TaskTable {
        self.table()
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError> {
        committed(iris_task::DurableTable::insert(self, task).map(drop))
    }
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        committed(iris_task::DurableTable::set_job_policy(self, job, policy)).unwrap_or(());
    }
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes {
        committed(iris_task::DurableTable::schedule(self, at, place)).unwrap_or_default()
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        committed(iris_task::DurableTable::apply(self, id, event))
    }
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        committed(iris_task::DurableTable::worker_lost(
            self, worker, error, at,
        ))
        .unwrap_or_default()
    }
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        committed(iris_task::DurableTable::expire_assigned(
            self, now, max_wait,
        ))
        .unwrap_or_default()
    }
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        committed(iris_task::DurableTable::kill_job(self, job, reason, at)).unwrap_or_default()
    }
    fn begin(&mut self) {
        iris_task::DurableTable::begin(self);
    }
    fn commit(&mut self) -> bool {
        committed(iris_task::DurableTable::commit(self)).unwrap_or(());
        true
    }
    fn commits(&self) -> u64 {
        iris_task::DurableTable::commits(self)
    }
    fn into_table(self: Box<Self>) -> TaskTable {
        iris_task::DurableTable::into_table(*self)
    }
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

/// A report on its way from a worker to the controller.
///
/// It holds what the worker puts in its `ReportTaskStateRequest`; the controller gets the encoded
/// bytes. They are encoded on arrival rather than when sent (the same bytes either way), so that
/// the reports in flight, up to two simulated minutes of them, are not a heap allocation each.
#[derive(Clone, Copy)]
struct InFlight {
    deliver_at: i64,
    /// Reports due at the same time arrive in the order they were queued.
    sequence: u64,
    sent_at: i64,
    worker: usize,
    incarnation: u32,
    /// The task: its job's index in `Cluster::jobs`, and its index in the job.
    job: usize,
    task: u32,
    attempt: u32,
    state: proto::TaskState,
    exit_code: i32,
}

/// The reports on their way, bucketed by the tick that delivers them (a timing wheel): queueing
/// and delivering a report costs O(1) however many are in flight, where a binary heap of 100,000
/// reports cost a cache miss per level of every pop.
struct Network {
    /// The reports tick `t` delivers are in `buckets[t % buckets.len()]`; no report is due more
    /// than `buckets.len() - 1` ticks ahead.
    buckets: Vec<Vec<InFlight>>,
    /// Emptied buckets' vectors, for the next bucket that fills: a few hundred vectors go round
    /// instead of every bucket growing its own.
    spare: Vec<Vec<InFlight>>,
    in_flight: usize,
    /// Reports queued so far.
    sequence: u64,
}

/// The tick whose step delivers a report due at `at`: the first whose time is `at` or later.
fn delivering_tick(at: i64) -> i64 {
    at.div_euclid(TICK_MS) + i64::from(at.rem_euclid(TICK_MS) != 0)
}

impl Network {
    fn new() -> Network {
        // The latest report is sent a confirmation, a build and a run after its dispatch, and
        // delivered late; two ticks more for the rounding.
        let horizon = CONFIRM_MS.end + BUILD_MS.end + RUN_MS.end + LATE_MS.end;
        let ticks = usize::try_from(horizon / TICK_MS + 2).unwrap_or(usize::MAX);
        Network {
            buckets: (0..ticks).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            in_flight: 0,
            sequence: 0,
        }
    }

    fn bucket(&mut self, tick: i64) -> Option<&mut Vec<InFlight>> {
        let len = i64::try_from(self.buckets.len()).ok()?;
        let index = usize::try_from(tick.rem_euclid(len)).ok()?;
        let bucket = self.buckets.get_mut(index)?;
        if bucket.capacity() == 0 {
            if let Some(spare) = self.spare.pop() {
                *bucket = spare;
            }
        }
        Some(bucket)
    }

    /// Queues a report; `now` is the current time, before the report's delivery.
    fn push(&mut self, now: i64, mut report: InFlight) {
        self.sequence += 1;
        report.sequence = self.sequence;
        let tick = delivering_tick(report.deliver_at);
        let ahead = tick - delivering_tick(now);
        assert!(
            ahead > 0 && ahead < self.buckets.len() as i64,
            "a report due {ahead} ticks ahead does not fit the wheel"
        );
        if let Some(bucket) = self.bucket(tick) {
            bucket.push(report);
            self.in_flight += 1;
        }
    }

    /// The reports the step at `now` (a whole tick) delivers, in the order they arrive: by time,
    /// then in the order they were queued. Hand the emptied vector back with `recycle`.
    fn due(&mut self, now: i64) -> Vec<InFlight> {
        let len = i64::try_from(self.buckets.len()).unwrap_or(i64::MAX);
        let mut due = usize::try_from(delivering_tick(now).rem_euclid(len))
            .ok()
            .and_then(|index| self.buckets.get_mut(index))
            .map(std::mem::take)
            .unwrap_or_default();
        self.in_flight -= due.len();
        // Unstable, on a unique key: a stable sort would allocate a scratch buffer every tick.
        due.sort_unstable_by_key(|report| (report.deliver_at, report.sequence));
        due
    }

    /// Keeps the delivered bucket's allocation for the next bucket that fills, so the wheel
    /// stops allocating once warm.
    fn recycle(&mut self, mut emptied: Vec<InFlight>) {
        emptied.clear();
        if emptied.capacity() > 0 {
            self.spare.push(emptied);
        }
    }
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

/// The table the run keeps: in memory, or in the store `--store` names.
fn open_tables(config: &Config) -> Box<dyn Table> {
    match &config.store {
        None => Box::new(TaskTable::with_capacity(config.tasks)),
        #[cfg(feature = "sqlite")]
        Some(StoreAt::Sqlite(path)) => {
            let store = iris_task::SqliteStore::open(path)
                .unwrap_or_else(|err| panic!("cannot open the store {}: {err}", path.display()));
            Box::new(
                iris_task::DurableTable::open(store).unwrap_or_else(|err| {
                    panic!("cannot load the store {}: {err}", path.display())
                }),
            )
        }
        #[cfg(feature = "postgres")]
        Some(StoreAt::Postgres(params)) => {
            let store = iris_task::PostgresStore::connect(params)
                .unwrap_or_else(|err| panic!("cannot connect to the store: {err}"));
            Box::new(
                iris_task::DurableTable::open(store)
                    .unwrap_or_else(|err| panic!("cannot load the store: {err}")),
            )
        }
        #[allow(unreachable_patterns)]
        Some(other) => panic!(
            "--store {other:?} needs its feature: cargo run --release --features sqlite,postgres --example simulate"
        ),
    }
}

fn job_id(name: &str) -> JobId {
    JobId::new(name).unwrap_or_else(|err| panic!("{name}: {err}"))
}

impl Cluster {
    fn new(config: &Config) -> Cluster {
        let mut table = open_tables(config);
        let resumed = !table.view().is_empty();
        let mut jobs = Vec::new();
        // The priority job gets 2% of the tasks, the oversized job 1%, two gangs GANG_SIZE each,
        // and seven ordinary jobs share the rest. The priority job is inserted first, so its
        // tasks head the pending queue once it arrives.
        let priority = (config.tasks / 50).max(1);
        let oversized = (config.tasks / 100).max(1);
        let gangs = 2 * GANG_SIZE as usize;
        let regular = config
            .tasks
            .saturating_sub(priority + oversized + gangs)
            .max(7);
        jobs.push(Job {
            priority: true,
            ..make_job("prod/serving", priority, 3, 100, (priority / 10) as u32)
        });
        // (name, failure retries, preemption retries, failed attempts tolerated per thousand
        // tasks, cancelled). As in Iris, `max_task_failures` counts the job's FAILED attempts,
        // retried ones included: with 5% of attempts exiting non-zero, a job that tolerates
        // 100 per thousand runs to its end, and one whose task spends its retries still fails.
        let shapes: [(&str, u32, u32, usize, bool); 7] = [
            // The lowest priority, with no preemption to spare: the tasks the priority job
            // preempts end PREEMPTED. First in the queue, so it runs when the priority job comes.
            ("batch/render", 3, 0, 100, false),
            ("sweep/lr", 3, 100, 100, true),
            ("train/resnet", 3, 100, 100, false),
            ("train/bert", 3, 100, 100, false),
            // Tolerates no failed attempt: it ends at its first, partway through, whatever its
            // tasks' retries, and the table stops the rest of it.
            ("eval/nightly", 1, 100, 0, false),
            ("etl/ingest", 3, 100, 100, false),
            // Tolerates its failed attempts, but a task that spends its one retry fails it.
            ("etl/index", 1, 100, 100, false),
        ];
        for (n, (name, retries, preemptions, per_mille, cancelled)) in
            shapes.into_iter().enumerate()
        {
            let size = regular / shapes.len() + usize::from(n < regular % shapes.len());
            let tolerated = u32::try_from(size * per_mille / 1_000).unwrap_or(u32::MAX);
            let mut job = make_job(name, size, retries, preemptions, tolerated);
            job.cancelled = cancelled;
            job.lowest_priority = name == "batch/render";
            jobs.push(job);
        }
        jobs.push(Job {
            oversized: true,
            ..make_job("gpu/oversized", oversized, 0, 100, 0)
        });
        // Two gangs whose task 0 fails: one with retries, that tolerates the crashed rounds
        // (each failure requeues the gang, which comes back and succeeds), one without (the
        // failure brings the gang down).
        for (name, retries, fail_first, tolerated) in
            [("tpu/slice-a", 3, 2, 10), ("tpu/slice-b", 0, 1, 0)]
        {
            let mut job = make_job(name, GANG_SIZE as usize, retries, 100, tolerated);
            job.policy.coscheduled = true;
            job.fail_first = fail_first;
            jobs.push(job);
        }
        // A resumed run finds its jobs in the store; a new one inserts them, in one transaction.
        table.begin();
        for job in jobs.iter().filter(|_| !resumed) {
            // The controller tells the table each job's policy: its gang and job-end rules apply.
            table.set_job_policy(job.id.clone(), job.policy);
            for id in job.task_ids() {
                if let Err(err) = table.insert(Task::new(id, job.retry)) {
                    panic!("{err}");
                }
            }
        }
        table.commit();
        let workers: Vec<Worker> = (0..config.workers)
            .map(|n| Worker {
                id: WorkerId::new(format!("worker-{n:04}")).unwrap_or_else(|err| panic!("{err}")),
                incarnation: 0,
                deaths: Vec::new(),
                down_until: 0,
            })
            .collect();
        let worker_index = workers
            .iter()
            .enumerate()
            .map(|(index, worker)| (worker.id.clone(), index))
            .collect();
        Cluster {
            rng: StdRng::seed_from_u64(config.seed),
            table,
            jobs,
            slots: Slots {
                free: vec![SLOTS_PER_WORKER; workers.len()],
                available: (0..workers.len()).collect(),
                dirty: Vec::new(),
                revivals: BinaryHeap::new(),
                next: 0,
            },
            workers,
            worker_index,
            network: Network::new(),
            report: proto::ReportTaskStateRequest::default(),
            wire: Vec::new(),
            stats: Stats::default(),
            now: 0,
            arrived_at: None,
            resumed,
            audit: Vec::new(),
        }
    }

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

    /// A gang is never partly running after a trigger: once a call requeued or ended a member
    /// (other than by success or the controller's own stop), no member is active (its active
    /// siblings followed it), and if its job ended, every member has ended. O(gang), after such
    /// calls only.
    fn check_gang(&mut self, job: usize) {
        let Some(id) = self.jobs.get(job).map(|job| job.id.clone()) else {
            return;
        };
        self.stats.gang_checks += 1;
        let states: Vec<StateKind> = self
            .table
            .view()
            .tasks_of(&id)
            .map(AnyTask::state)
            .collect();
        let job_ended = self
            .table
            .view()
            .job_state(&id)
            .is_some_and(|state| state.is_terminal());
        let partly = states.iter().any(|state| state.is_active())
            || (job_ended && states.iter().any(|state| !state.is_terminal()));
        if partly && self.audit.len() < 20 {
            self.audit.push(format!(
                "at {} ms gang {id} is partly running after a trigger: {states:?}",
                self.now
            ));
        }
    }

    /// Notes that the worker's load or health changed: the scheduler re-reads it next time.
    fn touch(&mut self, worker: usize) {
        self.slots.dirty.push(worker);
    }

    /// Re-reads the free slots of the workers that changed since the last time, and of the dead
    /// ones that are back: O(changed workers × log workers), not O(workers).
    fn refresh_free_slots(&mut self) {
        while let Some(&Reverse((back_at, worker))) = self.slots.revivals.peek() {
            if back_at > self.now {
                break;
            }
            self.slots.revivals.pop();
            self.slots.dirty.push(worker);
        }
        let mut dirty = std::mem::take(&mut self.slots.dirty);
        for worker in dirty.drain(..) {
            let free = self.free_slots_of(worker);
            if let Some(slot) = self.slots.free.get_mut(worker) {
                *slot = free;
            }
            if free > 0 {
                self.slots.available.insert(worker);
            } else {
                self.slots.available.remove(&worker);
            }
        }
        self.slots.dirty = dirty;
    }

    /// What the table says the worker has free: nothing while it is down.
    fn free_slots_of(&self, worker: usize) -> usize {
        match self.workers.get(worker) {
            Some(worker) if worker.down_until <= self.now => {
                SLOTS_PER_WORKER.saturating_sub(self.table.view().worker_load(&worker.id))
            }
            _ => 0,
        }
    }

    /// Compares the scheduler's free slots of every worker with the table's loads: O(workers),
    /// so the loop calls it only in debug builds (the tests), and `run` once at the end.
    fn audit_free_slots(&mut self) {
        for worker in 0..self.workers.len() {
            let table = self.free_slots_of(worker);
            let tracked = self.slots.free.get(worker).copied().unwrap_or(0);
            let available = self.slots.available.contains(&worker);
            if (table, available) != (tracked, tracked > 0) && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms the scheduler counted {tracked} free slots on worker {worker} (available: {available}), the table {table}",
                    self.now
                ));
            }
        }
    }

    /// Matches pending tasks, oldest first, to workers with free slots, round robin, through
    /// the table's `schedule`: a gang is offered whole and placed on as many workers with a free
    /// slot, or waits whole. Then sends each assignment its RunTask RPC.
    fn schedule(&mut self) {
        self.refresh_free_slots();
        if cfg!(debug_assertions) {
            self.audit_free_slots();
        }
        if self.slots.available.is_empty() {
            return;
        }
        let now = self.now();
        let slots = &mut self.slots;
        let workers = &self.workers;
        let jobs = &self.jobs;
        let arrived = self.arrived_at.is_some();
        let mut place = |offer: &Offer<'_>| -> Option<Vec<WorkerId>> {
            // Eleven jobs: a scan that compares lengths first is cheaper than hashing.
            if slots.available.is_empty() {
                // No free slot anywhere: the rest of the queue waits for the next tick.
                offer.stop();
                return None;
            }
            let job = jobs.iter().find(|job| &job.id == offer.job())?;
            if job.oversized || (job.priority && !arrived) || slots.available.len() < offer.len() {
                return None;
            }
            // The next workers with a free slot, round robin: one, or a gang's worth of
            // distinct ones (as Iris places a gang, one member per worker).
            let chosen: Vec<usize> = slots
                .available
                .range(slots.next..)
                .chain(slots.available.range(..slots.next))
                .take(offer.len())
                .copied()
                .collect();
            for &worker in &chosen {
                if let Some(free) = slots.free.get_mut(worker) {
                    *free = free.saturating_sub(1);
                    if *free == 0 {
                        slots.available.remove(&worker);
                    }
                }
                slots.next = (worker + 1) % workers.len();
            }
            Some(
                chosen
                    .into_iter()
                    .filter_map(|worker| workers.get(worker).map(|w| w.id.clone()))
                    .collect(),
            )
        };
        let changes = self.table.schedule(now, &mut place);
        self.stats.events += changes.len() as u64;
        self.stats.changes += changes.len() as u64;
        self.check_placed_whole(&changes);
        for (id, _) in changes.iter() {
            let Some(worker) = self
                .table
                .view()
                .get(id)
                .and_then(AnyTask::worker)
                .and_then(|worker| self.worker_index.get(worker).copied())
            else {
                continue;
            };
            let Some(job) = self.jobs.iter().position(|job| &job.id == id.job()) else {
                continue;
            };
            self.dispatch(id, worker, job);
        }
    }

    /// A gang is placed whole, one member per worker: none of its members is left pending beside
    /// one `schedule` just placed, and no two it placed share a worker. O(gang), for the gangs
    /// placed only.
    fn check_placed_whole(&mut self, changes: &Changes) {
        let mut gangs: Vec<&JobId> = Vec::new();
        for (id, _) in changes.iter() {
            let gang = self
                .jobs
                .iter()
                .any(|job| &job.id == id.job() && job.policy.coscheduled);
            if gang && !gangs.contains(&id.job()) {
                gangs.push(id.job());
            }
        }
        for id in gangs {
            self.stats.gang_checks += 1;
            let pending = self
                .table
                .view()
                .tasks_of(id)
                .filter(|task| task.state() == StateKind::Pending)
                .count();
            if pending > 0 && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms gang {id} was placed in part: {pending} members left pending",
                    self.now
                ));
            }
            let mut placed: Vec<&WorkerId> = changes
                .iter()
                .filter(|(task, _)| task.job() == id)
                .filter_map(|(task, _)| self.table.view().get(task).and_then(AnyTask::worker))
                .collect();
            let members = placed.len();
            placed.sort_unstable();
            placed.dedup();
            if placed.len() < members && self.audit.len() < 20 {
                self.audit.push(format!(
                    "at {} ms gang {id} was placed with two members on one worker",
                    self.now
                ));
            }
        }
    }

    /// Sends the RunTask RPC of a task just assigned, which may fail, or reach a worker that
    /// will never confirm it. A worker that takes it reports BUILDING (sometimes), RUNNING and an
    /// end.
    fn dispatch(&mut self, id: &TaskId, worker: usize, job: usize) {
        let Some(attempt) = self
            .table
            .view()
            .get(id)
            .and_then(AnyTask::current_attempt)
            .map(|attempt| attempt.id())
        else {
            return;
        };
        if self.rng.random_bool(P_DISPATCH_FAILS) {
            let Some(worker_id) = self.workers.get(worker).map(|w| w.id.clone()) else {
                return;
            };
            let error = format!("{RPC_FAILED_PREFIX}{worker_id} failed: connection refused");
            let event = TaskEvent::WorkerLost {
                worker: worker_id,
                error,
                at: self.now(),
            };
            if self.apply(id, event) == Some((StateKind::Assigned, StateKind::Pending)) {
                self.stats.dispatch_failures_requeued += 1;
                self.stats.dispatch_rpc_failed += 1;
            }
            self.touch(worker);
            return;
        }
        if self.rng.random_bool(P_NEVER_CONFIRMS) {
            return;
        }
        let Some(incarnation) = self.workers.get(worker).map(|from| from.incarnation) else {
            return;
        };
        let report = |state, sent_at, exit_code| InFlight {
            deliver_at: sent_at,
            sequence: 0,
            sent_at,
            worker,
            incarnation,
            job,
            task: id.index(),
            attempt: attempt.get(),
            state,
            exit_code,
        };
        let mut at = self.now + self.rng.random_range(CONFIRM_MS);
        if self.rng.random_bool(P_BUILDS_FIRST) {
            self.send(report(proto::TaskState::Building, at, 0));
            at += self.rng.random_range(BUILD_MS);
        }
        self.send(report(proto::TaskState::Running, at, 0));
        at += self.rng.random_range(RUN_MS);
        let failures = self.table.view().get(id).map_or(0, AnyTask::failure_count);
        let bad_shard = id.index() == 0
            && self
                .jobs
                .get(job)
                .is_some_and(|job| failures < job.fail_first);
        if self.rng.random_bool(P_EXITS_NON_ZERO) || bad_shard {
            let exit = self.rng.random_range(1..128);
            self.send(report(proto::TaskState::Failed, at, exit));
        } else {
            self.send(report(proto::TaskState::Succeeded, at, 0));
        }
    }

    /// Queues a worker's report, sent at `report.sent_at`: maybe twice, maybe late.
    fn send(&mut self, report: InFlight) {
        let copies = if self.rng.random_bool(P_DELIVERED_TWICE) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.rng.random_bool(P_DELIVERED_LATE) {
                self.rng.random_range(LATE_MS)
            } else {
                self.rng.random_range(NETWORK_MS)
            };
            self.stats.reports_queued += 1;
            let copy = InFlight {
                deliver_at: report.sent_at + delay,
                ..report
            };
            self.network.push(self.now, copy);
        }
    }

    /// The `ReportTaskStateRequest` bytes the worker sent, in `self.wire`.
    fn encode(&mut self, sent: &InFlight) {
        self.wire.clear();
        let (Some(from), Some(job)) = (self.workers.get(sent.worker), self.jobs.get(sent.job))
        else {
            return;
        };
        let terminal = matches!(
            sent.state,
            proto::TaskState::Succeeded | proto::TaskState::Failed
        );
        // One message for every report, refilled: its strings keep their allocations.
        let report = &mut self.report;
        report.worker_id.clear();
        report.worker_id.push_str(from.id.as_str());
        report.task_id.clear();
        let _ = write!(report.task_id, "{}", TaskId::new(job.id.clone(), sent.task));
        report.job_id.clear();
        report.job_id.push_str(job.id.as_str());
        report.task_index = i32::try_from(sent.task).unwrap_or(i32::MAX);
        report.state = sent.state as i32;
        report.exit_code = sent.exit_code;
        report.error.clear();
        if sent.exit_code != 0 {
            let _ = write!(report.error, "exit {}", sent.exit_code);
        }
        if sent.state == proto::TaskState::Killed {
            report.error.push_str(STOPPED_ERROR);
        }
        report.finished_at_ms = if terminal { sent.sent_at } else { 0 };
        report.attempt_id = i32::try_from(sent.attempt).unwrap_or(i32::MAX);
        if let Err(err) = report.encode(&mut self.wire) {
            panic!("a report does not encode: {err}");
        }
    }

    /// Delivers every report due by now, decoding its bytes as the controller's RPC handler
    /// would.
    fn deliver_reports(&mut self) {
        let mut due = self.network.due(self.now);
        for report in due.drain(..) {
            let Some(worker) = self.workers.get(report.worker) else {
                continue;
            };
            // A worker that died before the send time never sent it.
            let died = worker.deaths.get(report.incarnation as usize);
            if died.is_some_and(|&died| report.sent_at >= died) {
                self.stats.reports_never_sent += 1;
                continue;
            }
            self.stats.reports_delivered += 1;
            self.encode(&report);
            let received_at = Timestamp::from_millis(report.deliver_at);
            match TaskEvent::decode_report(&self.wire, received_at) {
                Ok((id, event)) => {
                    // `after` frees the worker of every attempt the report closed.
                    self.apply(&id, event);
                }
                Err(err) => panic!("a well-formed report failed to decode: {err}"),
            }
        }
        self.network.recycle(due);
    }

    /// Now and then a worker dies: every task on it fails as a worker loss, and it comes back
    /// empty some time later.
    fn maybe_kill_a_worker(&mut self) {
        if !self.rng.random_bool(P_WORKER_DIES_PER_TICK) {
            return;
        }
        let index = self.rng.random_range(0..self.workers.len());
        let restart = self.rng.random_range(RESTART_MS);
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
        self.slots
            .revivals
            .push(Reverse((self.now + restart, index)));
        self.touch(index);
        self.stats.worker_deaths += 1;
        // The tasks the call names: those active on the worker now. Each that is still active
        // on it when its turn comes gets its own `WorkerLost`; the others were moved first by a
        // gang sibling on the same worker, and count as follow-on changes.
        let on_worker: Vec<(TaskId, u32)> = self
            .table
            .view()
            .tasks_on(&id)
            .filter_map(|task| {
                let attempt = self.table.view().get(task)?.current_attempt()?.id().get();
                Some((task.clone(), attempt))
            })
            .collect();
        let changes = self.table.worker_lost(&id, WORKER_DIED_ERROR, self.now());
        let lost_here = |table: &TaskTable, task: &TaskId, attempt: u32| {
            table
                .get(task)
                .and_then(|task| task.attempts().get(attempt as usize))
                .is_some_and(|closed| closed.error() == Some(WORKER_DIED_ERROR))
        };
        let mut named = 0;
        let mut requeued = 0;
        for (task, attempt) in &on_worker {
            if lost_here(self.table.view(), task, *attempt) {
                named += 1;
                let assigned = self
                    .table
                    .view()
                    .get(task)
                    .and_then(|task| task.attempts().get(*attempt as usize))
                    .is_some_and(|closed| closed.started_at().is_none());
                requeued += u64::from(assigned);
            }
        }
        self.stats.events += named as u64;
        self.stats.changes += named as u64;
        self.stats.dispatch_failures_requeued += requeued;
        self.stats.dispatch_worker_died += requeued;
        self.after(&changes, named);
    }

    /// The dispatch deadline: ASSIGNED tasks their workers never confirmed are requeued.
    fn expire_dispatch_deadline(&mut self) {
        let changes = self.table.expire_assigned(
            self.now(),
            Duration::from_millis(DISPATCH_DEADLINE_MS as u64),
        );
        // The tasks whose own deadline passed closed their attempt with its error; the others
        // in the list are gang siblings or tasks of a job that ended.
        let expired = changes
            .iter()
            .filter(|(id, _)| {
                self.table
                    .view()
                    .get(id)
                    .and_then(AnyTask::current_attempt)
                    .is_some_and(|attempt| {
                        attempt.error() == Some(iris_task::DISPATCH_DEADLINE_ERROR)
                    })
            })
            .count();
        self.after(&changes, expired);
        let expired = expired as u64;
        self.stats.events += expired;
        self.stats.changes += expired;
        self.stats.dispatch_deadline_requeued += expired;
        self.stats.dispatch_failures_requeued += expired;
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

    /// The user cancels: every task of the job that has not ended is killed
    /// (`TaskTable::kill_job`), each a controller event.
    fn cancel_jobs(&mut self) {
        let at = self.now();
        let cancelled: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|job| job.cancelled)
            .map(|job| job.id.clone())
            .collect();
        for job in cancelled {
            let changes = self.table.kill_job(&job, CANCEL_REASON, at);
            self.stats.events += changes.len() as u64;
            self.stats.changes += changes.len() as u64;
            self.after(&changes, changes.len());
        }
    }

    /// The priority job arrives: the scheduler preempts as many running tasks of the
    /// lowest-priority job as the new job has tasks, and the freed slots go to the new job, whose
    /// tasks head the pending queue.
    fn priority_job_arrives(&mut self) {
        self.arrived_at = Some(self.now);
        let wanted: usize = self
            .jobs
            .iter()
            .filter(|job| job.priority)
            .map(|job| job.size as usize)
            .sum();
        let victims: Vec<TaskId> = self
            .jobs
            .iter()
            .filter(|job| job.lowest_priority)
            .flat_map(|job| {
                self.table
                    .view()
                    .tasks_of(&job.id)
                    .filter(|task| task.state() == StateKind::Running)
                    .map(|task| task.id().clone())
                    .collect::<Vec<_>>()
            })
            .take(wanted)
            .collect();
        for id in victims {
            let event = TaskEvent::Preempt {
                reason: PREEMPT_REASON.to_owned(),
                at: self.now(),
            };
            if self.apply(&id, event).is_some() {
                self.stats.scheduler_preemptions += 1;
            }
        }
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

fn make_job(name: &str, size: usize, retries: u32, preemptions: u32, tolerated: u32) -> Job {
    let id = job_id(name);
    Job {
        id,
        policy: JobPolicy {
            max_task_failures: tolerated,
            coscheduled: false,
        },
        retry: RetryPolicy {
            max_retries_failure: retries,
            max_retries_preemption: preemptions,
        },
        size: u32::try_from(size).unwrap_or_else(|_| panic!("{name}: {size} tasks")),
        oversized: false,
        cancelled: false,
        priority: false,
        lowest_priority: false,
        fail_first: 0,
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
        let lost = u32::from(matches!(
            task.state(),
            StateKind::WorkerFailed | StateKind::Preempted
        ));
        // No gang sibling is charged: the preemption count, recounted from the worker-side
        // endings of started attempts (never a COSCHED_FAILED one), is the task's own.
        let worker_side = |attempt: &iris_task::Attempt| match attempt.state() {
            StateKind::WorkerFailed | StateKind::Preempted => true,
            StateKind::Killed => attempt.is_killed_on_worker(),
            _ => false,
        };
        let charged = task
            .attempts()
            .iter()
            .filter(|attempt| worker_side(attempt) && attempt.started_at().is_some())
            .count();
        if charged != task.preemption_count() as usize {
            violations.push(format!(
                "task {id}: {} preemptions charged, {charged} recounted",
                task.preemption_count()
            ));
        }
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
        if table.job_counts(&job.id).map(StateCounts::total) != usize::try_from(job.size).ok() {
            violations.push(format!("job {} lost track of its tasks", job.id));
        }
    }
    violations
}
