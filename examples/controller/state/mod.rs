//! The controller's state and every call's rules: the durable table, the workers and job specs
//! it keeps as records in the same store, the scheduler, the timeouts and the dashboard's
//! history. One thread owns it (see `writer`), so nothing here locks. Every refusal is a Connect
//! error (the crate's own mapped by `iris_task::connect`), and a refused call changes nothing.
//!
//! This file holds the state and the calls that change it (register, launch, terminate, a
//! worker's Reconcile answer); `queries` the read-only calls (the door's, the Reconcile loops'
//! and the dashboard's); `schedule` the tick (pruning, timeouts, the scheduler).

mod queries;
mod schedule;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use iris_task::connect::{ConnectCode, ConnectError};
use iris_task::today::cluster::controller::{
    LaunchJobRequest, LaunchJobResponse, RegisterRequest, RegisterResponse, TerminateJobRequest,
};
use iris_task::today::cluster::worker::ReconcileResponse;
use iris_task::today::{Resources, job, time};
use iris_task::{AnyTask, DurableTable, JobId, StateKind, Store, StoreError, Timestamp, WorkerId};
use prost::Message;
use sha2::{Digest, Sha256};

/// The record spaces this controller keeps in the table's store.
pub const SPEC: &str = "spec";
/// A job's bundle (the zip `LaunchJob` carried), by job.
pub const BUNDLE: &str = "bundle";
/// A registered worker: its `RegisterRequest`, by worker id.
pub const WORKER: &str = "worker";
/// The most jobs one ListJobs page holds (Iris's `MAX_LIST_JOBS_LIMIT`).
pub const MAX_PAGE: usize = 500;
/// How many samples of the counts the dashboard's chart keeps.
const HISTORY: usize = 600;

/// The controller's timing rules.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// How long an ASSIGNED attempt may wait for its worker to take it (a Reconcile answer that
    /// shows it BUILDING or RUNNING) before it goes back to PENDING, free of charge: its spec
    /// could not be delivered.
    pub dispatch_deadline: Duration,
    /// A worker is reaped once it has failed this many Reconcile calls in a row…
    pub reap_failures: u32,
    /// …and answered none for at least this long since its last good answer or its
    /// registration (as Iris counts it).
    pub reap_after: Duration,
    /// The most tasks one worker runs at once, whatever its resources.
    pub max_tasks_per_worker: usize,
    /// How long an ended job is kept (its tasks, spec and bundle) before it is removed.
    pub job_retention: Duration,
}

/// A registered worker: its registration, and how its Reconcile calls are going.
struct Worker {
    request: RegisterRequest,
    address: String,
    resources: Resources,
    /// Failed Reconcile calls in a row.
    failures: u32,
    /// When it registered, and its last successful Reconcile: the reap window counts from the
    /// later of the two, as Iris's does.
    registered_at: Timestamp,
    last_ok: Option<Timestamp>,
    status: String,
}

/// What the controller keeps of a launched job, decoded from its record.
struct Spec {
    request: LaunchJobRequest,
    submitted: Timestamp,
    resources: Resources,
    scheduling_timeout: Option<Duration>,
    execution_timeout: Option<Duration>,
    group_by: Option<String>,
}

/// One point of the dashboard's chart.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When.
    pub at: Timestamp,
    /// Tasks per state, in [`StateKind::ALL`] order.
    pub counts: Vec<usize>,
}

/// One job on the dashboard.
#[derive(Clone, Debug)]
pub struct JobRow {
    /// The job's id.
    pub id: String,
    /// Its state's label.
    pub state: &'static str,
    /// Its tasks per state, non-zero only.
    pub counts: Vec<(StateKind, usize)>,
}

/// What the dashboard shows, published by the writer thread.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Tasks per state, every state listed.
    pub counts: Vec<(StateKind, usize)>,
    /// The jobs, by id.
    pub jobs: Vec<JobRow>,
    /// Jobs left out of `jobs` (the dashboard lists the first 200 by id).
    pub more_jobs: usize,
    /// Registered workers.
    pub workers: usize,
    /// Commits to the store so far.
    pub commits: u64,
    /// The chart's samples, oldest first.
    pub history: Vec<Sample>,
}

/// The controller: a durable table, and the workers and job specs kept beside it.
pub struct Core<S: Store> {
    table: DurableTable<S>,
    /// The registered workers, as committed.
    workers: BTreeMap<WorkerId, Worker>,
    /// Changes to `workers` made by calls of the group being committed: applied once the commit
    /// succeeded (`committed`), dropped if it failed (`resync`).
    staged: Vec<(WorkerId, Option<Worker>)>,
    /// The jobs with a scheduling or execution timeout that have not ended.
    timed: std::collections::BTreeSet<JobId>,
    specs: HashMap<JobId, Spec>,
    /// Bundle ids (SHA-256, hex) to the job whose record holds the bundle.
    blobs: HashMap<String, JobId>,
    rules: Rules,
    history: VecDeque<Sample>,
    /// Where the scheduler's round-robin over workers starts next.
    cursor: usize,
    /// The latest time the controller has stamped anything with: its clock never goes back.
    clock: Timestamp,
    /// When ended jobs are looked at next for removal.
    next_prune: Timestamp,
}

fn invalid(what: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(ConnectCode::InvalidArgument, what.to_string())
}

fn not_found(what: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(ConnectCode::NotFound, what.to_string())
}

fn job_of(path: Option<&str>, field: &str) -> Result<JobId, ConnectError> {
    JobId::from_path(path.unwrap_or_default())
        .map_err(|err| invalid(format_args!("{field}: {err}")))
}

fn millis(at: Timestamp) -> time::Timestamp {
    time::Timestamp {
        epoch_ms: Some(at.as_millis()),
    }
}

/// The submit time and request a spec record holds: 8 bytes of milliseconds, then the request.
fn spec_record(submitted: Timestamp, request: &LaunchJobRequest) -> Vec<u8> {
    let mut bytes = submitted.as_millis().to_le_bytes().to_vec();
    request.encode(&mut bytes).unwrap_or_default();
    bytes
}

impl Spec {
    /// Whether the job has a scheduling or an execution timeout to keep.
    fn is_timed(&self) -> bool {
        self.scheduling_timeout.is_some() || self.execution_timeout.is_some()
    }
}

fn read_spec(bytes: &[u8]) -> Option<Spec> {
    let (time, request) = bytes.split_at_checked(8)?;
    let submitted = Timestamp::from_millis(i64::from_le_bytes(time.try_into().ok()?));
    let request = LaunchJobRequest::decode(request).ok()?;
    let launch = request.to_launch().ok()?;
    let group_by = request
        .coscheduling
        .as_ref()
        .and_then(|config| config.group_by.clone())
        .filter(|key| !key.is_empty());
    Some(Spec {
        submitted,
        resources: launch.resources,
        scheduling_timeout: launch.scheduling_timeout,
        execution_timeout: launch.execution_timeout,
        group_by,
        request,
    })
}

fn read_worker(bytes: &[u8], now: Timestamp) -> Option<(WorkerId, Worker)> {
    let request = RegisterRequest::decode(bytes).ok()?;
    let registration = request.to_registration().ok()?;
    Some(Worker::registered(request, registration, now))
}

impl Worker {
    /// A worker as `registration` (read from `request`) registers it at `now`.
    fn registered(
        request: RegisterRequest,
        registration: iris_task::today::Registration,
        now: Timestamp,
    ) -> (WorkerId, Worker) {
        (
            registration.worker,
            Worker {
                address: registration.address,
                resources: registration.resources,
                request,
                failures: 0,
                registered_at: now,
                last_ok: None,
                status: "registered; no Reconcile yet".to_owned(),
            },
        )
    }
}

/// A worker attribute's value as text (`group_by` compares them).
fn attribute(request: &RegisterRequest, key: &str) -> Option<String> {
    let value = request.metadata.as_ref()?.attributes.get(key)?;
    Some(match value.value.as_ref()? {
        job::attribute_value::Value::StringValue(text) => text.clone(),
        job::attribute_value::Value::IntValue(number) => number.to_string(),
        job::attribute_value::Value::FloatValue(number) => number.to_string(),
    })
}

impl<S: Store> Core<S> {
    /// The controller over an opened table: its workers and specs are read from the table's
    /// records.
    pub fn new(table: DurableTable<S>, rules: Rules, now: Timestamp) -> Core<S> {
        // The latest time any task records: a wall clock that stepped back while the controller
        // was down must not stamp events before it (the table would refuse them).
        let clock = table
            .table()
            .iter()
            .filter_map(AnyTask::latest_time)
            .max()
            .map_or(now, |latest| latest.max(now));
        let mut core = Core {
            table,
            workers: BTreeMap::new(),
            staged: Vec::new(),
            timed: std::collections::BTreeSet::new(),
            specs: HashMap::new(),
            blobs: HashMap::new(),
            rules,
            history: VecDeque::new(),
            cursor: 0,
            clock,
            next_prune: clock,
        };
        core.resync();
        core
    }

    /// Reads the workers and specs again from the table's records: at the start, and after a
    /// failed commit (the table went back to what its store holds, and so must they: the worker
    /// map only ever holds what was committed).
    pub fn resync(&mut self) {
        self.staged.clear();
        let mut workers = BTreeMap::new();
        for (key, record) in self.table.records(WORKER) {
            match read_worker(record.value(), self.clock) {
                Some((id, mut worker)) => {
                    if let Some(old) = self.workers.remove(&id) {
                        worker.failures = old.failures;
                        worker.registered_at = old.registered_at;
                        worker.last_ok = old.last_ok;
                        worker.status = old.status;
                    }
                    workers.insert(id, worker);
                }
                None => eprintln!("controller: the worker record {key} cannot be read; ignored"),
            }
        }
        self.workers = workers;
        self.specs.clear();
        self.blobs.clear();
        self.timed.clear();
        for (key, record) in self.table.records(SPEC) {
            match (JobId::from_path(key), read_spec(record.value())) {
                (Ok(job), Some(spec)) => {
                    if let Some(id) = spec.request.bundle_id.clone().filter(|id| !id.is_empty()) {
                        if self.table.record(BUNDLE, key).is_some() {
                            self.blobs.insert(id, job.clone());
                        }
                    }
                    if spec.is_timed() {
                        self.timed.insert(job.clone());
                    }
                    self.specs.insert(job, spec);
                }
                _ => eprintln!("controller: the spec record {key} cannot be read; ignored"),
            }
        }
    }

    /// The group's commit succeeded: its changes to the worker map take effect.
    pub fn committed(&mut self) {
        for (id, change) in self.staged.drain(..) {
            match change {
                Some(worker) => self.workers.insert(id, worker),
                None => self.workers.remove(&id),
            };
        }
    }

    /// A worker as the calls of the group see it: staged first, then committed.
    fn worker_now(&self, id: &WorkerId) -> Option<&Worker> {
        match self.staged.iter().rev().find(|(staged, _)| staged == id) {
            Some((_, change)) => change.as_ref(),
            None => self.workers.get(id),
        }
    }

    /// The controller's time for a call at wall-clock time `wall`: never earlier than a time it
    /// gave before, so that a wall clock stepped back (NTP) cannot make the table refuse events.
    pub fn stamp(&mut self, wall: Timestamp) -> Timestamp {
        self.clock = self.clock.max(wall);
        self.clock
    }

    /// The table.
    pub fn durable(&mut self) -> &mut DurableTable<S> {
        &mut self.table
    }

    /// A worker joins, or joins again. A registration is idempotent: the same worker at the same
    /// address is accepted again (a restarted worker, or one whose answer was lost), and its
    /// attempts stay its own: the next Reconcile finds out what it still runs. Nobody takes over
    /// a worker's id: a registration from another address is refused until the worker registered
    /// there is reaped (it failed its Reconcile calls long enough).
    pub fn register(
        &mut self,
        request: RegisterRequest,
        now: Timestamp,
    ) -> Result<RegisterResponse, ConnectError> {
        let registration = request.to_registration()?;
        let id = registration.worker.clone();
        if let Some(current) = self.worker_now(&id) {
            if current.address != registration.address {
                return Err(ConnectError::new(
                    ConnectCode::AlreadyExists,
                    format!(
                        "worker {id} is registered at {}; a worker at {} cannot take its id until \
                         that one is reaped",
                        current.address, registration.address
                    ),
                ));
            }
        }
        let bytes = request.encode_to_vec();
        let unchanged = self
            .table
            .record(WORKER, id.as_str())
            .is_some_and(|record| record.value() == bytes.as_slice());
        if !unchanged {
            self.table.put_record(WORKER, id.as_str(), None, bytes)?;
        }
        // The map changes once the group's commit succeeded (`committed`).
        let address = registration.address.clone();
        let (_, mut worker) = Worker::registered(request, registration, now);
        worker.status = "registered".to_owned();
        self.staged.push((id.clone(), Some(worker)));
        eprintln!("controller: worker {id} registered at {}", address);
        Ok(RegisterResponse {
            worker_id: Some(id.as_str().to_owned()),
            accepted: Some(true),
        })
    }

    /// A new job: its tasks, its spec (the request, less the bundle) and its bundle, in one
    /// transaction.
    pub fn launch(
        &mut self,
        mut request: LaunchJobRequest,
        now: Timestamp,
    ) -> Result<LaunchJobResponse, ConnectError> {
        let launch = request.to_launch()?;
        let job = launch.job.clone();
        // A job of that name, as Iris's `existing_job_policy` says: ERROR refuses it; KEEP
        // answers with it while it runs; RECREATE cancels it if it runs; unset (the default)
        // refuses it while it runs. A job that ended is replaced, whatever the policy but ERROR.
        let mut replace = false;
        if let Some(existing) = self.table.table().job(&job) {
            use job::ExistingJobPolicy as Policy;
            let ended = existing.state().is_terminal();
            let policy = request
                .existing_job_policy
                .and_then(|p| Policy::try_from(p).ok())
                .unwrap_or(Policy::Unspecified);
            match (policy, ended) {
                (Policy::Error, _) => {
                    return Err(ConnectError::new(
                        ConnectCode::AlreadyExists,
                        format!("job {job} already exists (it is {})", existing.state()),
                    ));
                }
                (Policy::Keep, false) => {
                    return Ok(LaunchJobResponse {
                        job_id: Some(job.as_str().to_owned()),
                    });
                }
                (Policy::Unspecified, false) => {
                    return Err(ConnectError::new(
                        ConnectCode::AlreadyExists,
                        format!("job {job} already exists and is still running"),
                    ));
                }
                (Policy::Recreate, _) | (_, true) => replace = true,
            }
        }
        if let Some(parent) = &launch.parent {
            let refuse = |why: String| {
                Err(ConnectError::new(
                    ConnectCode::FailedPrecondition,
                    format!("Cannot submit job: parent job {parent} {why}"),
                ))
            };
            match self.table.table().job(parent) {
                None => return refuse("is absent".to_owned()),
                Some(state) if state.state().is_terminal() => {
                    return refuse(format!("has terminated ({})", state.state()));
                }
                Some(_) => {}
            }
        }
        let bundle = std::mem::take(&mut request.bundle_blob).filter(|blob| !blob.is_empty());
        if let Some(blob) = &bundle {
            let digest = Sha256::digest(blob);
            let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
            request.bundle_id = Some(hex);
        }
        let record = spec_record(now, &request);
        let key = job.as_str().to_owned();
        self.table.batch(|batch| -> Result<(), ConnectError> {
            if replace {
                // A running job is cancelled first; its attempts leave their workers' desired
                // sets with it, which the workers take as a kill.
                batch.kill_job(&job, "Replaced by new submission", now);
                batch.remove_job(&job)?;
            }
            batch.insert_job(job.clone(), launch.policy, launch.tasks())?;
            batch.put_record(SPEC, &key, Some(&job), record)?;
            if let Some(blob) = bundle {
                batch.put_record(BUNDLE, &key, Some(&job), blob)?;
            }
            Ok(())
        })??;
        if let Some(spec) = self
            .table
            .record(SPEC, &key)
            .and_then(|r| read_spec(r.value()))
        {
            if let Some(id) = spec.request.bundle_id.clone() {
                self.blobs.insert(id, job.clone());
            }
            if spec.is_timed() {
                self.timed.insert(job.clone());
            }
            self.specs.insert(job.clone(), spec);
        }
        eprintln!("controller: launched {job}: {} tasks", launch.replicas);
        Ok(LaunchJobResponse { job_id: Some(key) })
    }

    /// Kills the job's unfinished tasks, and those of its child jobs, as Iris cancels a job's
    /// descendants with it; their workers are told to stop them at their next Reconcile.
    pub fn terminate(
        &mut self,
        request: &TerminateJobRequest,
        now: Timestamp,
    ) -> Result<job::Empty, ConnectError> {
        let job = self.known(request.job_id.as_deref(), "job_id")?;
        let below = format!("{}/", job.as_str());
        let mut family: Vec<JobId> = self
            .table
            .table()
            .jobs()
            .map(|known| known.id().clone())
            .filter(|known| known == &job || known.as_str().starts_with(&below))
            .collect();
        family.sort();
        self.table.batch(|batch| {
            for member in &family {
                let reason = if member == &job {
                    "terminated by request".to_owned()
                } else {
                    format!("parent job {job} was terminated")
                };
                batch.kill_job(member, &reason, now);
            }
        })?;
        eprintln!("controller: terminated {job} ({} jobs)", family.len());
        Ok(job::Empty {})
    }

    /// A worker's Reconcile answer, judged by the table; or its failure, counted toward reaping
    /// it.
    pub fn reconciled(
        &mut self,
        worker: &WorkerId,
        answer: Result<ReconcileResponse, String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let answer = match answer {
            Ok(answer) => self
                .table
                .reconcile(worker, answer, now)?
                .map_err(|err| err.to_string()),
            Err(err) => Err(err),
        };
        let reap_after = self.rules.reap_after;
        let reap_failures = self.rules.reap_failures;
        let Some(state) = self.workers.get_mut(worker) else {
            return Ok(());
        };
        // The worker's health is the driver's to keep, not a registration: it changes at once.
        match answer {
            Ok(reconciled) => {
                for refused in &reconciled.refused {
                    eprintln!("controller: worker {worker}: {refused}");
                }
                state.failures = 0;
                state.last_ok = Some(now);
                state.status = "healthy".to_owned();
                Ok(())
            }
            Err(refused) => {
                state.failures += 1;
                state.status = format!("Reconcile failed {} times: {refused}", state.failures);
                // As Iris counts it: from the last successful Reconcile, or the registration.
                let since = state
                    .last_ok
                    .unwrap_or(state.registered_at)
                    .max(state.registered_at);
                let silent = now.duration_since(since).unwrap_or_default();
                if state.failures >= reap_failures && silent >= reap_after {
                    let why = format!(
                        "worker {worker} failed {} Reconcile calls in a row and answered none for \
                         {} s",
                        state.failures,
                        silent.as_secs()
                    );
                    self.table.batch(|batch| {
                        batch.worker_lost(worker, &why, now);
                        batch.remove_record(WORKER, worker.as_str());
                    })?;
                    self.staged.push((worker.clone(), None));
                    eprintln!("controller: reaped: {why}");
                }
                Ok(())
            }
        }
    }
}
