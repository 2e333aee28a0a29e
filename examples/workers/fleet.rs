//! A fleet of simulated workers: each registers, polls for the attempts assigned to it, "runs"
//! each for a while and reports over gRPC, with the faults of `simulate`: failed tasks,
//! duplicated, late and lost reports, and deaths. A dead worker stops calling (the controller
//! declares it lost when its heartbeat times out); the fleet starts a replacement under a new id.
//!
//! What a worker does with the controller's answers:
//! - UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED: the controller is down, restarting or
//!   busy; wait a little and send the same call again.
//! - UNAUTHENTICATED: the controller restarted and forgot the token; register again and retry.
//! - FAILED_PRECONDITION, NOT_FOUND, PERMISSION_DENIED: the attempt is not this worker's to run
//!   any more (requeued, killed, ended); drop it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iris_task::grpc::controller_service_client::ControllerServiceClient;
use iris_task::proto::{
    HeldAttempt, PollTasksRequest, PollTasksResponse, RegisterWorkerRequest,
    ReportTaskStateRequest, TaskStatus, WorkerMetadata,
};
use iris_task::{AttemptId, TaskId, WorkerId, WorkerReport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// The request metadata that carries a worker's token.
pub const TOKEN_HEADER: &str = "x-iris-worker-token";

/// How often each fault happens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// An attempt exits 1 (FAILED) instead of 0.
    pub fail: f64,
    /// A report is sent twice.
    pub duplicate: f64,
    /// The RUNNING report is sent again after the attempt ended.
    pub late: f64,
    /// A report's first send is lost: the worker sends it again after its call timeout.
    pub lose: f64,
    /// The worker dies as it starts an attempt.
    pub die: f64,
}

/// The fleet's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The controller's gRPC address, `http://host:port`.
    pub controller: String,
    /// How many workers run at once.
    pub workers: usize,
    /// Tasks each worker runs at once.
    pub slots: i32,
    /// Worker ids are this prefix and a number.
    pub prefix: String,
    /// The random seed: the same seed draws the same durations and faults.
    pub seed: u64,
    /// How long an attempt runs, in milliseconds: drawn from this range.
    pub task_ms: (u64, u64),
    /// The faults.
    pub faults: Faults,
    /// How long a worker waits between polls when it has nothing to do.
    pub poll_every: Duration,
    /// The deadline of every call.
    pub call_timeout: Duration,
    /// How many gRPC connections the fleet opens (workers share them round-robin).
    pub connections: usize,
}

/// What the fleet did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reports the controller accepted.
    pub reports: AtomicU64,
    /// Polls answered.
    pub polls: AtomicU64,
    /// Registrations, first ones and again after a controller restart.
    pub registrations: AtomicU64,
    /// Workers that died.
    pub deaths: AtomicU64,
    /// Attempts started.
    pub attempts: AtomicU64,
    /// Calls sent again after UNAVAILABLE or a timeout.
    pub retries: AtomicU64,
    /// Those retries, by the status code that caused them.
    pub retried: Mutex<BTreeMap<String, u64>>,
    /// Reports refused, by status code.
    pub refused: Mutex<BTreeMap<String, u64>>,
    /// The latency of each accepted report, in microseconds.
    pub latencies: Mutex<Vec<u32>>,
    /// Every end report the controller accepted: task id, attempt id and the state reported
    /// (SUCCEEDED or FAILED). An accepted report is durable: a restarted controller must still
    /// show each of these attempts ended so.
    pub ends: Mutex<Vec<(String, i32, i32)>>,
}

impl Stats {
    /// The `q`-quantile (0 to 1) of the accepted reports' latencies, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        let mut latencies = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        if latencies.is_empty() {
            return 0.0;
        }
        latencies.sort_unstable();
        let rank = (q * (latencies.len() - 1) as f64).round() as usize;
        f64::from(latencies[rank.min(latencies.len() - 1)]) / 1000.0
    }

    fn refuse(&self, status: &Status) {
        if let Ok(mut refused) = self.refused.lock() {
            *refused.entry(format!("{:?}", status.code())).or_default() += 1;
        }
    }

    fn retry(&self, status: &Status) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut retried) = self.retried.lock() {
            *retried.entry(format!("{:?}", status.code())).or_default() += 1;
        }
    }
}

/// Opens `config.connections` lazy channels: each reconnects by itself when the controller
/// comes back.
pub fn channels(config: &Config) -> Result<Vec<Channel>, tonic::transport::Error> {
    (0..config.connections.max(1))
        .map(|_| {
            Ok(Endpoint::from_shared(config.controller.clone())?
                .timeout(config.call_timeout)
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .connect_lazy())
        })
        .collect()
}

/// An attempt, as the controller names it: its task's id and its attempt id.
type Key = (String, i32);

/// The attempts a worker finished lately: a set to look them up, and their order, to forget the
/// oldest first.
#[derive(Default)]
struct Recent {
    set: HashSet<Key>,
    order: VecDeque<Key>,
}

struct Worker {
    id: WorkerId,
    client: ControllerServiceClient<Channel>,
    config: Arc<Config>,
    stats: Arc<Stats>,
    token: tokio::sync::Mutex<String>,
    running: Mutex<HashMap<(String, i32), AbortHandle>>,
    /// Attempts this worker ran to the end lately, oldest first: a poll answered just before an
    /// attempt's first report still lists it as ASSIGNED, and must not start it twice.
    done: Mutex<Recent>,
    finished: Notify,
    dead: AtomicBool,
    rng: Mutex<StdRng>,
}

/// Whether a failed call should be sent again as it is.
fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
    )
}

const BACKOFF: Duration = Duration::from_millis(50);

impl Worker {
    fn draw<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
        self.rng.lock().ok().map(|mut rng| f(&mut rng))
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.draw(|rng| rng.random::<f64>() < p).unwrap_or(false)
    }

    /// Registers until the controller answers; `stale` is the token a refused call presented
    /// (another call may already have registered again since).
    async fn register(&self, stale: Option<&str>) {
        let mut token = self.token.lock().await;
        if stale.is_some_and(|stale| stale != *token) {
            return;
        }
        loop {
            let request = RegisterWorkerRequest {
                worker_id: self.id.as_str().to_owned(),
                address: format!("sim://{}", self.id),
                metadata: Some(WorkerMetadata {
                    hostname: self.id.as_str().to_owned(),
                    slots: self.config.slots,
                    ..WorkerMetadata::default()
                }),
            };
            // After a restart the controller knows no token; a live registration needs its own.
            let request = self.with_token(request, &token);
            match self.client.clone().register_worker(request).await {
                Ok(response) => {
                    *token = response.into_inner().token;
                    self.stats.registrations.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(status) => {
                    if !transient(&status) {
                        eprintln!("worker {}: registration refused: {status}", self.id);
                    }
                    self.stats.retry(&status);
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        }
    }

    fn with_token<T>(&self, message: T, token: &str) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(value) = token.parse() {
            request.metadata_mut().insert(TOKEN_HEADER, value);
        }
        request
    }

    /// Polls once; `None` after a transient failure.
    async fn poll(&self) -> Option<PollTasksResponse> {
        let token = self.token.lock().await.clone();
        // What it holds: the controller ends a RUNNING attempt it does not list as MISSING.
        let held = self
            .running
            .lock()
            .map(|running| {
                running
                    .keys()
                    .map(|(task_id, attempt_id)| HeldAttempt {
                        task_id: task_id.clone(),
                        attempt_id: *attempt_id,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let request = PollTasksRequest {
            worker_id: self.id.as_str().to_owned(),
            held,
        };
        match self
            .client
            .clone()
            .poll_tasks(self.with_token(request, &token))
            .await
        {
            Ok(response) => {
                self.stats.polls.fetch_add(1, Ordering::Relaxed);
                Some(response.into_inner())
            }
            Err(status) if status.code() == Code::Unauthenticated => {
                self.register(Some(&token)).await;
                None
            }
            Err(status) => {
                if !transient(&status) {
                    eprintln!("worker {}: poll refused: {status}", self.id);
                }
                self.stats.retry(&status);
                tokio::time::sleep(BACKOFF).await;
                None
            }
        }
    }

    /// Sends `report` until the controller takes it (true) or refuses it (false: drop the
    /// attempt).
    async fn report(&self, report: &ReportTaskStateRequest) -> bool {
        loop {
            let token = self.token.lock().await.clone();
            let started = Instant::now();
            let answer = self
                .client
                .clone()
                .report_task_state(self.with_token(report.clone(), &token))
                .await;
            match answer {
                Ok(_) => {
                    let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                    self.stats.reports.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut latencies) = self.stats.latencies.lock() {
                        latencies.push(micros);
                    }
                    return true;
                }
                Err(status) if status.code() == Code::Unauthenticated => {
                    self.register(Some(&token)).await;
                }
                Err(status) if transient(&status) => {
                    self.stats.retry(&status);
                    tokio::time::sleep(BACKOFF).await;
                }
                Err(status) => {
                    self.stats.refuse(&status);
                    return false;
                }
            }
        }
    }

    /// Sends `report` with the faults: lost first, then sent twice.
    async fn deliver(&self, report: &ReportTaskStateRequest) -> bool {
        let faults = self.config.faults;
        if self.chance(faults.lose) {
            // The first send never arrived; the worker's call timed out and it sends again.
            tokio::time::sleep(self.config.call_timeout.min(Duration::from_millis(200))).await;
        }
        let delivered = self.report(report).await;
        if delivered && self.chance(faults.duplicate) {
            // The network delivered it twice: the controller absorbs the second.
            self.report(report).await;
        }
        delivered
    }

    /// Runs one attempt: RUNNING, a while, then SUCCEEDED or FAILED.
    async fn run(self: Arc<Self>, task: TaskId, attempt: AttemptId) {
        self.stats.attempts.fetch_add(1, Ordering::Relaxed);
        let (low, high) = self.config.task_ms;
        let millis = self
            .draw(|rng| rng.random_range(low..=high.max(low)))
            .unwrap_or(low);
        let faults = self.config.faults;
        let failed = self.chance(faults.fail);
        let late = self.chance(faults.late);
        let running = ReportTaskStateRequest::new(&self.id, &task, attempt, &WorkerReport::Running);
        if self.deliver(&running).await {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            let end = if failed {
                WorkerReport::Failed {
                    exit_code: 1,
                    error: "exit 1 (simulated)".to_owned(),
                }
            } else {
                WorkerReport::Succeeded
            };
            let end = ReportTaskStateRequest::new(&self.id, &task, attempt, &end);
            if self.deliver(&end).await {
                if let Ok(mut ends) = self.stats.ends.lock() {
                    ends.push((end.task_id.clone(), end.attempt_id, end.state));
                }
                if late {
                    // A RUNNING report overtaken by the end: the controller refuses it.
                    self.report(&running).await;
                }
            }
        }
        let key = (
            task.to_string(),
            i32::try_from(attempt.get()).unwrap_or(i32::MAX),
        );
        // Done first, then no longer running: a poll in between sees it in one or the other.
        if let Ok(mut done) = self.done.lock() {
            if done.set.insert(key.clone()) {
                done.order.push_back(key.clone());
            }
            while done.order.len() > 1_024 {
                if let Some(oldest) = done.order.pop_front() {
                    done.set.remove(&oldest);
                }
            }
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&key);
        }
        self.finished.notify_one();
    }

    fn die(&self) {
        self.dead.store(true, Ordering::Relaxed);
        self.stats.deaths.fetch_add(1, Ordering::Relaxed);
        self.abort_all();
    }

    fn abort_all(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, handle) in running.drain() {
                handle.abort();
            }
        }
    }

    fn start(self: &Arc<Self>, status: TaskStatus) {
        let key = (status.task_id.clone(), status.current_attempt_id);
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if running.contains_key(&key) || self.done.lock().is_ok_and(|done| done.set.contains(&key))
        {
            return;
        }
        let (Ok(task), Ok(attempt)) = (
            status.task_id.parse::<TaskId>(),
            u32::try_from(status.current_attempt_id),
        ) else {
            eprintln!("worker {}: cannot read assignment {key:?}", self.id);
            return;
        };
        if self.chance(self.config.faults.die) {
            drop(running);
            self.die();
            return;
        }
        let worker = Arc::clone(self);
        let handle = tokio::spawn(worker.run(task, AttemptId::new(attempt)));
        running.insert(key, handle.abort_handle());
    }

    /// The worker's life: register, then poll and start what it is given, until it dies or the
    /// fleet stops.
    async fn live(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        self.register(None).await;
        while !self.dead.load(Ordering::Relaxed) && !*stop.borrow() {
            if let Some(work) = self.poll().await {
                for order in work.stop {
                    let key = (order.task_id, order.attempt_id);
                    let handle = self.running.lock().ok().and_then(|mut r| r.remove(&key));
                    if let Some(handle) = handle {
                        handle.abort();
                    }
                }
                for status in work.run {
                    self.start(status);
                    if self.dead.load(Ordering::Relaxed) {
                        return;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_every) => {}
                () = self.finished.notified() => {}
                _ = stop.changed() => {}
            }
        }
        self.abort_all();
    }
}

/// Runs the fleet until `stop` turns true: `config.workers` workers, each replaced under a new
/// id when it dies.
pub async fn run(config: Config, stats: Arc<Stats>, stop: watch::Receiver<bool>) {
    let channels = match channels(&config) {
        Ok(channels) => channels,
        Err(err) => {
            eprintln!("fleet: bad controller address {}: {err}", config.controller);
            return;
        }
    };
    let config = Arc::new(config);
    let mut seats = tokio::task::JoinSet::new();
    for seat in 0..config.workers {
        let config = Arc::clone(&config);
        let stats = Arc::clone(&stats);
        let channel = channels[seat % channels.len()].clone();
        let mut stop = stop.clone();
        seats.spawn(async move {
            let mut generation = 0u32;
            while !*stop.borrow() {
                let name = match generation {
                    0 => format!("{}{seat}", config.prefix),
                    g => format!("{}{seat}-r{g}", config.prefix),
                };
                let Ok(id) = WorkerId::new(name) else {
                    return;
                };
                let seed = config.seed ^ ((seat as u64) << 20) ^ u64::from(generation);
                let worker = Arc::new(Worker {
                    id,
                    client: ControllerServiceClient::new(channel.clone()),
                    config: Arc::clone(&config),
                    stats: Arc::clone(&stats),
                    token: tokio::sync::Mutex::new(String::new()),
                    running: Mutex::new(HashMap::new()),
                    done: Mutex::new(Recent::default()),
                    finished: Notify::new(),
                    dead: AtomicBool::new(false),
                    rng: Mutex::new(StdRng::seed_from_u64(seed)),
                });
                Arc::clone(&worker).live(stop.clone()).await;
                generation += 1;
                // A replacement machine takes a moment to boot.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => {}
                }
            }
        });
    }
    while seats.join_next().await.is_some() {}
}
