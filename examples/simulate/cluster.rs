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
    AnyTask, JobId, JobPolicy, RetryPolicy, StateCounts, StateKind, TableError, Task, TaskEvent,
    TaskId, TaskTable, Timestamp, TransitionError, WorkerId, proto,
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
    /// simulation is not expected to cause any (a late report arrives after its attempt closed,
    /// which makes it stale); the report prints the figure so that one would show.
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
    table: TaskTable,
    jobs: Vec<Job>,
    workers: Vec<Worker>,
    /// Each worker's index in `workers`.
    worker_index: HashMap<WorkerId, usize>,
    slots: Slots,
    /// The scheduler's picks of a tick, kept to reuse the allocation.
    picks: Vec<(TaskId, usize, usize)>,
    network: Network,
    /// The message `encode` fills, and the bytes it encodes it to.
    report: proto::ReportTaskStateRequest,
    wire: Vec<u8>,
    stats: Stats,
    now: i64,
    /// Mismatches between the scheduler's free slots and the table's worker loads.
    audit: Vec<String>,
}

/// Runs a simulation to its end. `progress` hears (tasks ended, tasks) after every tick.
pub fn run(config: &Config, progress: &mut dyn FnMut(usize, usize)) -> Outcome {
    let started = Instant::now();
    let mut cluster = Cluster::new(config);
    let setup = started.elapsed();
    let total = cluster.table.len();
    let mut cancelled = false;
    let mut timed_out = false;
    let mut unfinished = cluster.unfinished();
    while unfinished > 0 && cluster.now < GIVE_UP_MS {
        cluster.now += TICK_MS;
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
        cluster.schedule();
        let assigned = cluster.table.counts().get(StateKind::Assigned);
        if assigned > cluster.stats.peak_assigned {
            cluster.stats.peak_assigned = assigned;
            cluster.stats.peak_counts = cluster.table.counts().clone();
            cluster.stats.peak_at_ms = cluster.now;
        }
        unfinished = cluster.unfinished();
        progress(total - unfinished, total);
    }
    cluster.stats.simulated_ms = cluster.now;
    cluster.stats.reports_in_flight = cluster.network.in_flight as u64;
    let mut violations = check_invariants(&cluster.table, &cluster.jobs);
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
        table: cluster.table,
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
    fn new(config: &Config) -> Cluster {
        let mut table = TaskTable::with_capacity(config.tasks);
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
            for id in job.task_ids() {
                if let Err(err) = table.insert(Task::new(id, job.retry)) {
                    panic!("{err}");
                }
            }
        }
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
            picks: Vec::new(),
            network: Network::new(),
            report: proto::ReportTaskStateRequest::default(),
            wire: Vec::new(),
            stats: Stats::default(),
            now: 0,
            audit: Vec::new(),
        }
    }

    /// Tasks not in a terminal state: O(1), from the table's counts.
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

    /// Applies an event and counts what became of it. Returns the change it made, if any.
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Option<(StateKind, StateKind)> {
        self.stats.events += 1;
        match self.table.apply(id, event) {
            Ok(changes) => {
                let step = changes.get(id)?;
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

    /// Notes that the worker's load or health changed: the scheduler re-reads it next time.
    fn touch(&mut self, worker: usize) {
        self.slots.dirty.push(worker);
    }

    /// Notes the worker of the task's current attempt, which the task has just left.
    fn touch_worker_of(&mut self, id: &TaskId) {
        let worker = self
            .table
            .get(id)
            .and_then(AnyTask::current_attempt)
            .and_then(|attempt| self.worker_index.get(attempt.worker()))
            .copied();
        if let Some(worker) = worker {
            self.touch(worker);
        }
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
                SLOTS_PER_WORKER.saturating_sub(self.table.worker_load(&worker.id))
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

    /// Matches pending tasks, oldest first, to workers with free slots, round robin.
    fn schedule(&mut self) {
        self.refresh_free_slots();
        if cfg!(debug_assertions) {
            self.audit_free_slots();
        }
        let slots = &mut self.slots;
        let workers = self.workers.len();
        let mut picks = std::mem::take(&mut self.picks);
        for task in self.table.pending() {
            if slots.available.is_empty() {
                break;
            }
            // Eight jobs: a scan that compares lengths first is cheaper than hashing.
            let jobs = &self.jobs;
            let Some(job) = jobs.iter().position(|job| &job.id == task.id().job()) else {
                continue;
            };
            if jobs.get(job).is_none_or(|job| job.oversized) {
                continue;
            }
            let next = slots.available.range(slots.next..).next();
            let Some(&worker) = next.or_else(|| slots.available.first()) else {
                break;
            };
            if let Some(free) = slots.free.get_mut(worker) {
                *free = free.saturating_sub(1);
                if *free == 0 {
                    slots.available.remove(&worker);
                }
            }
            picks.push((task.id().clone(), worker, job));
            slots.next = (worker + 1) % workers;
        }
        for (id, worker, job) in picks.drain(..) {
            self.dispatch(&id, worker, job);
        }
        self.picks = picks;
    }

    /// Assigns the task and sends the RunTask RPC, which may fail, or reach a worker that will
    /// never confirm it. A worker that takes it reports BUILDING (sometimes), RUNNING and an end.
    fn dispatch(&mut self, id: &TaskId, worker: usize, job: usize) {
        let Some(worker_id) = self.workers.get(worker).map(|w| w.id.clone()) else {
            return;
        };
        self.stats.events += 1;
        self.stats.changes += 1;
        let attempt = match self.table.assign(id, worker_id, self.now()) {
            Ok(task) => task.attempt_id(),
            Err(err) => panic!("the scheduler picked from pending(), yet: {err}"),
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
        if self.rng.random_bool(P_EXITS_NON_ZERO) {
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
                    // An accepted report comes from the worker that holds the attempt.
                    if self
                        .apply(&id, event)
                        .is_some_and(|(from, to)| from.is_active() && !to.is_active())
                    {
                        self.touch(report.worker);
                    }
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
        let changed = self.table.worker_lost(&id, WORKER_DIED_ERROR, self.now());
        self.stats.events += changed.len() as u64;
        self.stats.changes += changed.len() as u64;
        let requeued = changed
            .iter()
            .filter(|(_, step)| step.from == StateKind::Assigned)
            .count() as u64;
        self.stats.dispatch_failures_requeued += requeued;
        self.stats.dispatch_worker_died += requeued;
    }

    /// The dispatch deadline: ASSIGNED tasks their workers never confirmed are requeued.
    fn expire_dispatch_deadline(&mut self) {
        let expired = self.table.expire_assigned(
            self.now(),
            Duration::from_millis(DISPATCH_DEADLINE_MS as u64),
        );
        for (id, _) in &expired {
            self.touch_worker_of(id);
        }
        let expired = expired.len() as u64;
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
            .flat_map(Job::task_ids)
            .collect();
        for id in ids {
            if self
                .table
                .get(&id)
                .is_some_and(|task| eligible(task.state()))
                && self
                    .apply(&id, event())
                    .is_some_and(|(from, to)| from.is_active() && !to.is_active())
            {
                self.touch_worker_of(&id);
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
    Job {
        id,
        policy: JobPolicy {
            max_task_failures: tolerated,
            coscheduled: false,
        },
        retry: RetryPolicy {
            max_retries_failure: retries,
            ..RetryPolicy::default()
        },
        size: u32::try_from(size).unwrap_or_else(|_| panic!("{name}: {size} tasks")),
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
        if table.job_counts(&job.id).map(StateCounts::total) != usize::try_from(job.size).ok() {
            violations.push(format!("job {} lost track of its tasks", job.id));
        }
    }
    violations
}
