//! The controller's state and every call's rules: the durable table, the registered workers and
//! their tokens, the scheduler and the dashboard's history. One thread owns it (see `writer`), so nothing
//! here locks. Every refusal is a gRPC status (the table's and the wire's mapped by the crate's
//! `From` impls), and a refused call changes nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use iris_task::proto::{
    self, GetJobStatusRequest, GetJobStatusResponse, GetTaskStatusRequest, GetTaskStatusResponse,
    LaunchJobRequest, LaunchJobResponse, ListTasksRequest, ListTasksResponse, PollTasksRequest,
    PollTasksResponse, RegisterWorkerRequest, RegisterWorkerResponse, ReportTaskStateRequest,
    ReportTaskStateResponse, StopOrder, TerminateJobRequest, TerminateJobResponse,
};
use iris_task::{
    AnyTask, AttemptId, DurableTable, JobId, JobPolicy, StateKind, Store, StoreError, TableError,
    TaskEvent, TaskId, Timestamp, WorkerId, WorkerReport,
};
use subtle::ConstantTimeEq;
use tonic::Status;

/// The most tasks one job may have.
pub const MAX_REPLICAS: u32 = 100_000;
/// The most tasks one ListTasks page holds.
pub const MAX_PAGE: i32 = 1_000;
/// The most tasks a worker may run at once.
pub const MAX_SLOTS: i32 = 1_024;
/// The longest worker address kept.
pub const MAX_ADDRESS: usize = 256;
/// How many samples of the counts the dashboard's chart keeps.
const HISTORY: usize = 600;

/// The controller's timing rules.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// How long an ASSIGNED attempt may wait for its worker's first report (BUILDING, RUNNING or
    /// an end) before it goes back to PENDING, free of charge.
    pub dispatch_deadline: Duration,
    /// How long a worker may go without a call before it is declared lost.
    pub heartbeat_timeout: Duration,
}

/// A registered worker, or one the store names that has not registered since a restart.
struct Worker {
    /// The token its calls present; `None` for a worker known only from the store's tasks.
    token: Option<String>,
    address: String,
    slots: usize,
    last_seen: Timestamp,
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

/// The controller: a durable table and the workers it knows.
pub struct Core<S: Store> {
    table: DurableTable<S>,
    workers: HashMap<WorkerId, Worker>,
    rules: Rules,
    history: VecDeque<Sample>,
    /// Where the scheduler's round-robin over workers starts next.
    cursor: usize,
    /// The latest time the controller has stamped anything with: its clock never goes back.
    clock: Timestamp,
}

fn invalid(what: impl std::fmt::Display) -> Status {
    Status::invalid_argument(what.to_string())
}

fn job_id(name: &str, field: &str) -> Result<JobId, Status> {
    JobId::new(name).map_err(|err| invalid(format_args!("{field}: {err}")))
}

impl<S: Store> Core<S> {
    /// The controller over an opened table. Every worker that holds an active task in it is
    /// known from now on, unregistered: it is lost if it does not register again within the
    /// heartbeat timeout.
    pub fn new(table: DurableTable<S>, rules: Rules, now: Timestamp) -> Core<S> {
        let mut workers = HashMap::new();
        for task in table.table().iter() {
            if let (true, Some(worker)) = (task.state().is_active(), task.worker()) {
                workers.entry(worker.clone()).or_insert_with(|| Worker {
                    token: None,
                    address: String::new(),
                    slots: 0,
                    last_seen: now,
                });
            }
        }
        // The latest time any task records: a wall clock that stepped back while the controller
        // was down must not stamp events before it (the table would refuse them).
        let clock = table
            .table()
            .iter()
            .filter_map(AnyTask::latest_time)
            .max()
            .map_or(now, |latest| latest.max(now));
        Core {
            table,
            workers,
            rules,
            history: VecDeque::new(),
            cursor: 0,
            clock,
        }
    }

    /// The controller's time for a call at wall-clock time `wall`: never earlier than a time it
    /// gave before, so that a wall clock stepped back (NTP) cannot make the table refuse events.
    pub fn stamp(&mut self, wall: Timestamp) -> Timestamp {
        self.clock = self.clock.max(wall);
        self.clock
    }

    /// The table, for reads.
    pub fn durable(&mut self) -> &mut DurableTable<S> {
        &mut self.table
    }

    /// The worker a call comes from, if `token` is the one its registration returned. Every such
    /// call is also the worker's keep-alive.
    pub fn authenticate(
        &mut self,
        worker_id: &str,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<WorkerId, Status> {
        let id =
            WorkerId::new(worker_id).map_err(|err| invalid(format_args!("worker_id: {err}")))?;
        let Some(worker) = self.workers.get_mut(&id) else {
            return Err(Status::unauthenticated(format!(
                "worker {id} is not registered: call RegisterWorker first"
            )));
        };
        let Some(expected) = worker.token.as_deref() else {
            return Err(Status::unauthenticated(format!(
                "worker {id} has not registered since the controller restarted: call RegisterWorker"
            )));
        };
        let Some(token) = token else {
            return Err(Status::unauthenticated(
                "no x-iris-worker-token: present the token RegisterWorker returned",
            ));
        };
        if !bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
            return Err(Status::unauthenticated(format!(
                "bad token for worker {id}"
            )));
        }
        worker.last_seen = now;
        Ok(id)
    }

    /// A worker joins, or joins again: a new token replaces the old one, and the tasks it holds
    /// stay its own (a poll that does not list them ends them MISSING). A worker registered now
    /// can register again only by presenting its current token: nobody takes over a live
    /// worker's id. Once it is declared lost, or after the controller restarted (which forgets
    /// tokens), its id is free.
    pub fn register(
        &mut self,
        request: RegisterWorkerRequest,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<RegisterWorkerResponse, Status> {
        let id = WorkerId::new(request.worker_id)
            .map_err(|err| invalid(format_args!("worker_id: {err}")))?;
        if let Some(current) = self.workers.get(&id).and_then(|w| w.token.as_deref()) {
            let presented =
                token.is_some_and(|token| bool::from(current.as_bytes().ct_eq(token.as_bytes())));
            if !presented {
                return Err(Status::already_exists(format!(
                    "worker {id} is registered: present its token to register again, or wait \
                     until it is declared lost"
                )));
            }
        }
        if request.address.len() > MAX_ADDRESS {
            return Err(invalid(format_args!(
                "address: {} bytes, the most is {MAX_ADDRESS}",
                request.address.len()
            )));
        }
        let slots = request.metadata.map_or(0, |metadata| metadata.slots);
        if !(0..=MAX_SLOTS).contains(&slots) {
            return Err(invalid(format_args!(
                "metadata.slots: {slots}, must be 0 to {MAX_SLOTS}"
            )));
        }
        let token = format!("{:032x}", rand::random::<u128>());
        let worker = self.workers.entry(id).or_insert_with(|| Worker {
            token: None,
            address: String::new(),
            slots: 0,
            last_seen: now,
        });
        worker.token = Some(token.clone());
        worker.address = request.address;
        worker.slots = usize::try_from(slots.max(1)).unwrap_or(1);
        worker.last_seen = now;
        Ok(RegisterWorkerResponse {
            accepted: true,
            token,
        })
    }

    /// A report from an authenticated worker, judged by the table's rules.
    pub fn report(
        &mut self,
        request: ReportTaskStateRequest,
        now: Timestamp,
    ) -> Result<ReportTaskStateResponse, Status> {
        // The caller authenticated the report's own `worker_id`: a report signed with another
        // worker's token is refused there, so the event's worker is the report's sender.
        let (id, event) = TaskEvent::from_report(request, now)?;
        self.table.apply(&id, event)?;
        Ok(ReportTaskStateResponse {})
    }

    /// A worker's poll, which says what it holds: its BUILDING or RUNNING attempts it does not
    /// hold end MISSING (it restarted, or lost them), each held attempt that is no longer its
    /// open current attempt gets a stop order (killed, requeued, ended, gone to another worker),
    /// and its ASSIGNED attempts it does not hold yet are its work. Stop orders are derived from
    /// the table on every poll, not queued: none is lost to a lost answer or a restart.
    pub fn poll(
        &mut self,
        worker: &WorkerId,
        request: &PollTasksRequest,
        now: Timestamp,
    ) -> Result<PollTasksResponse, Status> {
        let mut held: HashSet<(TaskId, u32)> = HashSet::with_capacity(request.held.len());
        for attempt in &request.held {
            let task: TaskId = attempt
                .task_id
                .parse()
                .map_err(|err| invalid(format_args!("held.task_id: {err}")))?;
            let id = u32::try_from(attempt.attempt_id).map_err(|_| {
                invalid(format_args!(
                    "held.attempt_id: {} is negative",
                    attempt.attempt_id
                ))
            })?;
            held.insert((task, id));
        }
        let mine = |task: &AnyTask| {
            task.current_attempt()
                .filter(|attempt| attempt.is_open() && attempt.worker() == worker)
                .map(|attempt| attempt.id().get())
        };
        let table = self.table.table();
        let missing: Vec<(TaskId, u32)> = table
            .tasks_on(worker)
            .filter_map(|id| table.get(id))
            .filter(|task| task.state().is_executing())
            .filter_map(|task| Some((task.id().clone(), mine(task)?)))
            .filter(|key| !held.contains(key))
            .collect();
        for (id, attempt) in missing {
            let event = TaskEvent::Report {
                worker: worker.clone(),
                attempt: AttemptId::new(attempt),
                report: WorkerReport::Missing,
                at: now,
            };
            self.table.apply(&id, event)?;
        }
        let table = self.table.table();
        let run = table
            .tasks_on(worker)
            .filter_map(|id| table.get(id))
            .filter(|task| task.state() == StateKind::Assigned)
            .filter(|task| {
                mine(task).is_none_or(|attempt| !held.contains(&(task.id().clone(), attempt)))
            })
            .map(proto::TaskStatus::from)
            .collect();
        let mut stop: Vec<StopOrder> = held
            .iter()
            .filter_map(|(id, attempt)| {
                let reason = match table.get(id) {
                    None => "the task no longer exists".to_owned(),
                    Some(task) if mine(task) == Some(*attempt) => return None,
                    Some(task) if task.state().is_terminal() => {
                        format!("the task ended {}", task.state().label())
                    }
                    Some(task) => match task.current_attempt() {
                        Some(current) if current.id().get() != *attempt => {
                            format!("the task is on attempt {} now", current.id())
                        }
                        _ => "the attempt was closed and the task requeued".to_owned(),
                    },
                };
                Some(StopOrder {
                    task_id: id.to_string(),
                    attempt_id: i32::try_from(*attempt).unwrap_or(i32::MAX),
                    reason,
                })
            })
            .collect();
        stop.sort_by(|a, b| (&a.task_id, a.attempt_id).cmp(&(&b.task_id, b.attempt_id)));
        Ok(PollTasksResponse { run, stop })
    }

    /// A new job of pending tasks, read from the request by the crate's
    /// [`LaunchJobRequest::to_launch`]; this controller takes at most `MAX_REPLICAS` tasks a job.
    pub fn launch(&mut self, request: &LaunchJobRequest) -> Result<LaunchJobResponse, Status> {
        let launch = request.to_launch()?;
        if launch.replicas > MAX_REPLICAS {
            return Err(invalid(format_args!(
                "replicas: {}, this controller takes at most {MAX_REPLICAS}",
                launch.replicas
            )));
        }
        let job = launch.job.clone();
        if self.table.table().job_policy(&job).is_some()
            || self.table.table().tasks_of(&job).next().is_some()
        {
            return Err(Status::already_exists(format!("job {job} exists")));
        }
        self.table.batch(|batch| -> Result<(), TableError> {
            batch.set_job_policy(job.clone(), launch.policy);
            for task in launch.tasks() {
                batch.insert(task)?;
            }
            Ok(())
        })??;
        eprintln!("controller: launched {job}: {} tasks", launch.replicas);
        Ok(LaunchJobResponse {
            job_id: job.as_str().to_owned(),
        })
    }

    fn known_job(&self, name: &str) -> Result<(JobId, JobPolicy), Status> {
        let job = job_id(name, "job_id")?;
        let table = self.table.table();
        match table.job_policy(&job) {
            Some(policy) => Ok((job, *policy)),
            None if table.tasks_of(&job).next().is_some() => Ok((job, JobPolicy::default())),
            None => Err(Status::not_found(format!("no job {job}"))),
        }
    }

    /// A job's status.
    pub fn job_status(
        &self,
        request: &GetJobStatusRequest,
    ) -> Result<GetJobStatusResponse, Status> {
        let (job, _) = self.known_job(&request.job_id)?;
        let table = self.table.table();
        let mut status = table
            .job_status(&job)
            .ok_or_else(|| Status::not_found(format!("no job {job}")))?;
        if request.exclude_tasks {
            status.tasks = Vec::new();
        }
        Ok(GetJobStatusResponse { job: Some(status) })
    }

    /// One task's status.
    pub fn task_status(
        &self,
        request: &GetTaskStatusRequest,
    ) -> Result<GetTaskStatusResponse, Status> {
        let id: TaskId = request
            .task_id
            .parse()
            .map_err(|err| invalid(format_args!("task_id: {err}")))?;
        let task = self
            .table
            .table()
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("no task {id}")))?;
        Ok(GetTaskStatusResponse {
            task: Some(proto::TaskStatus::from(task)),
        })
    }

    /// A page of a job's tasks, by index.
    pub fn list_tasks(&self, request: &ListTasksRequest) -> Result<ListTasksResponse, Status> {
        let (job, _) = self.known_job(&request.job_id)?;
        let offset = usize::try_from(request.offset)
            .map_err(|_| invalid(format_args!("offset: {} is negative", request.offset)))?;
        let limit = match request.limit {
            0 => MAX_PAGE,
            n if n < 0 => return Err(invalid(format_args!("limit: {n} is negative"))),
            n => n.min(MAX_PAGE),
        };
        let mut tasks: Vec<&AnyTask> = self.table.table().tasks_of(&job).collect();
        tasks.sort_by_key(|task| task.id().index());
        let total_count = i32::try_from(tasks.len()).unwrap_or(i32::MAX);
        let tasks = tasks
            .into_iter()
            .skip(offset)
            .take(usize::try_from(limit).unwrap_or(0))
            .map(proto::TaskStatus::from)
            .collect();
        Ok(ListTasksResponse { tasks, total_count })
    }

    /// Kills the job's unfinished tasks; their workers are told to stop them on their next poll.
    pub fn terminate(
        &mut self,
        request: &TerminateJobRequest,
        now: Timestamp,
    ) -> Result<TerminateJobResponse, Status> {
        let (job, _) = self.known_job(&request.job_id)?;
        self.table.kill_job(&job, "terminated by request", now)?;
        eprintln!("controller: terminated {job}");
        Ok(TerminateJobResponse {})
    }

    /// The scheduler's turn: lost workers (in id order), expired dispatches, then new
    /// assignments. Workers learn what to stop from their next poll.
    pub fn tick(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let timeout = self.rules.heartbeat_timeout;
        let mut lost: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, worker)| {
                now.duration_since(worker.last_seen)
                    .is_some_and(|d| d > timeout)
            })
            .map(|(id, _)| id.clone())
            .collect();
        lost.sort();
        for worker in lost {
            self.table
                .worker_lost(&worker, "the worker stopped polling", now)?;
            // Only once the table took the loss: a failed call keeps the worker, to try again.
            self.workers.remove(&worker);
            eprintln!("controller: worker {worker} lost: no call for {timeout:?}");
        }
        self.table
            .expire_assigned(now, self.rules.dispatch_deadline)?;
        self.schedule(now);
        Ok(())
    }

    /// Offers the oldest pending tasks to the registered workers' free slots, round-robin,
    /// and stops when the slots run out: a turn costs what it assigns, not the queue's length.
    /// A coscheduled job is placed whole or not at all (the table requeues a gang together; its
    /// placement is the scheduler's).
    fn schedule(&mut self, now: Timestamp) {
        let table = self.table.table();
        // Registered workers with free slots, in a stable order, turned by a cursor so that
        // every worker gets the first pick in turn.
        let mut free: Vec<(WorkerId, usize)> = self
            .workers
            .iter()
            .filter(|(_, worker)| worker.token.is_some())
            .map(|(id, worker)| {
                (
                    id.clone(),
                    worker.slots.saturating_sub(table.worker_load(id)),
                )
            })
            .filter(|(_, free)| *free > 0)
            .collect();
        let mut left: usize = free.iter().map(|(_, slots)| slots).sum();
        if left == 0 {
            return;
        }
        // Every registered slot, busy or free: a gang larger than that cannot start yet.
        let capacity: usize = self
            .workers
            .values()
            .filter(|worker| worker.token.is_some())
            .map(|worker| worker.slots)
            .sum();
        free.sort_by(|a, b| a.0.cmp(&b.0));
        let turn = self.cursor % free.len();
        free.rotate_left(turn);
        self.cursor = self.cursor.wrapping_add(1);
        let mut next = 0;
        let mut take = || -> Option<WorkerId> {
            let at = next % free.len().max(1);
            let (worker, slots) = free.get_mut(at)?;
            *slots -= 1;
            let worker = worker.clone();
            if *slots == 0 {
                free.remove(at);
            } else {
                next = at + 1;
            }
            Some(worker)
        };
        let mut picks: Vec<(TaskId, WorkerId)> = Vec::new();
        let mut gangs: HashSet<&JobId> = HashSet::new();
        for task in table.pending() {
            if left == 0 {
                break;
            }
            let job = task.id().job();
            if !table
                .job_policy(job)
                .is_some_and(|policy| policy.coscheduled)
            {
                if let Some(worker) = take() {
                    picks.push((task.id().clone(), worker));
                    left -= 1;
                }
                continue;
            }
            // A gang is placed with its first member in the queue, or waits whole.
            if !gangs.insert(job) {
                continue;
            }
            let members: Vec<&TaskId> = table
                .tasks_of(job)
                .filter(|member| member.state() == StateKind::Pending)
                .map(AnyTask::id)
                .collect();
            if members.len() > capacity {
                continue;
            }
            if members.len() > left {
                // It waits for slots, and nothing behind it takes them first.
                break;
            }
            for member in members {
                if let Some(worker) = take() {
                    picks.push((member.clone(), worker));
                    left -= 1;
                }
            }
        }
        for (id, worker) in picks {
            if let Err(err) = self.table.assign(&id, worker, now) {
                eprintln!("controller: cannot assign {id}: {err}");
            }
        }
    }

    /// What the dashboard shows now; also records a sample for its chart.
    pub fn snapshot(&mut self, now: Timestamp) -> Snapshot {
        let table = self.table.table();
        let counts: Vec<(StateKind, usize)> = StateKind::ALL
            .iter()
            .map(|&state| (state, table.counts().get(state)))
            .collect();
        self.history.push_back(Sample {
            at: now,
            counts: counts.iter().map(|(_, count)| *count).collect(),
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let mut jobs: Vec<JobRow> = table
            .jobs()
            .map(|job| JobRow {
                id: job.id().as_str().to_owned(),
                state: job.state().label(),
                counts: job
                    .counts()
                    .iter()
                    .filter(|(_, count)| *count > 0)
                    .collect(),
            })
            .collect();
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        let more_jobs = jobs.len().saturating_sub(200);
        jobs.truncate(200);
        Snapshot {
            counts,
            more_jobs,
            jobs,
            workers: self.workers.values().filter(|w| w.token.is_some()).count(),
            commits: self.table.commits(),
            history: self.history.iter().cloned().collect(),
        }
    }
}
