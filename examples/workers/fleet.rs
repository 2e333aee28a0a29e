//! Simulated Iris workers that serve `WorkerService/Reconcile` as Iris's worker does, each on its
//! own loopback port, many in one process: they register with the controller, take the attempts
//! their desired set gives them, "run" each for a drawn time, and answer every Reconcile with
//! what they hold, with `simulate`'s faults where a pushed protocol has them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use iris_task::today::cluster::controller::{RegisterRequest, RegisterResponse};
use iris_task::today::cluster::worker::{
    AttemptObservation, ReconcileRequest, ReconcileResponse, WorkerHealth, desired_attempt::Intent,
};
use iris_task::today::{job, time};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What can go wrong, per event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// An attempt exits 1 (FAILED) instead of 0.
    pub fail: f64,
    /// An answer is lost after the worker acted on the request: the controller's call fails.
    pub lose: f64,
    /// An answer is held back this long at most (a slow worker), drawn per call.
    pub late_ms: u64,
    /// The worker restarts as it answers: it forgets its attempts (the next call finds them
    /// MISSING).
    pub restart: f64,
    /// The worker dies as it answers: it answers nothing ever after (the controller reaps it).
    pub die: f64,
}

/// The fleet's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The controller, `http://host:port`.
    pub controller: String,
    /// How many workers.
    pub workers: usize,
    /// The cores each worker registers (the controller fits tasks by them).
    pub cpu: i32,
    /// Worker ids are this prefix and a number.
    pub prefix: String,
    /// The random seed.
    pub seed: u64,
    /// How long an attempt runs, in milliseconds: drawn from this range.
    pub task_ms: (u64, u64),
    /// The faults.
    pub faults: Faults,
}

/// What the fleet did, counted as it goes.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reconcile calls answered.
    pub calls: AtomicU64,
    /// Observations in those answers.
    pub observations: AtomicU64,
    /// Attempts started.
    pub started: AtomicU64,
    /// Attempts whose end an answer carried for the first time.
    pub finished: AtomicU64,
    /// Answers lost, restarts and deaths.
    pub faults: AtomicU64,
    /// The gaps between one worker's consecutive Reconcile calls, in microseconds (the round
    /// period as a worker sees it: the same yardstick for any controller).
    pub gaps: Mutex<Vec<u64>>,
}

/// One attempt a worker holds.
struct Held {
    state: i32,
    exit_code: i32,
    ends_at: Instant,
    fails: bool,
    /// Its end was answered once (counted as finished).
    told: bool,
}

/// One simulated worker.
struct Worker {
    id: String,
    held: HashMap<String, Held>,
    rng: StdRng,
    last_call: Option<Instant>,
    dead: bool,
}

#[derive(Clone)]
struct Shared {
    worker: Arc<Mutex<Worker>>,
    config: Arc<Config>,
    stats: Arc<Stats>,
}

fn terminal(state: i32) -> bool {
    [
        job::TaskState::Succeeded,
        job::TaskState::Failed,
        job::TaskState::Killed,
        job::TaskState::WorkerFailed,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

/// Answers one Reconcile as Iris's worker does (`Worker.handle_reconcile`): a request for
/// another id gets an empty answer with this worker's id; each desired attempt is started (spec
/// inline), stopped, or reported; an attempt missing from the set is killed; a desired uid the
/// worker does not know and has no spec for is MISSING.
fn reconcile(
    worker: &mut Worker,
    config: &Config,
    stats: &Stats,
    request: ReconcileRequest,
) -> ReconcileResponse {
    let now = Instant::now();
    let me = worker.id.clone();
    if request
        .worker_id
        .as_deref()
        .is_some_and(|id| !id.is_empty() && id != me)
    {
        return ReconcileResponse {
            worker_id: Some(me),
            ..ReconcileResponse::default()
        };
    }
    if let Some(last) = worker.last_call.replace(now) {
        if let Ok(mut gaps) = stats.gaps.lock() {
            gaps.push(u64::try_from(now.duration_since(last).as_micros()).unwrap_or(u64::MAX));
        }
    }
    // Attempts whose time is up end.
    for held in worker.held.values_mut() {
        if held.state == job::TaskState::Running as i32 && now >= held.ends_at {
            (held.state, held.exit_code) = if held.fails {
                (job::TaskState::Failed as i32, 1)
            } else {
                (job::TaskState::Succeeded as i32, 0)
            };
        }
    }
    let mut observed = Vec::with_capacity(request.desired.len());
    let mut desired = std::collections::HashSet::with_capacity(request.desired.len());
    for attempt in &request.desired {
        let uid = attempt.attempt_uid.clone().unwrap_or_default();
        desired.insert(uid.clone());
        match &attempt.intent {
            Some(Intent::Run(spec))
                if !worker.held.contains_key(&uid) && spec.request.is_some() =>
            {
                let (low, high) = config.task_ms;
                let run = Duration::from_millis(worker.rng.random_range(low..=high.max(low)));
                let fails = worker.rng.random_bool(config.faults.fail.clamp(0.0, 1.0));
                worker.held.insert(
                    uid.clone(),
                    Held {
                        state: job::TaskState::Running as i32,
                        exit_code: 0,
                        ends_at: now + run,
                        fails,
                        told: false,
                    },
                );
                stats.started.fetch_add(1, Ordering::Relaxed);
            }
            Some(Intent::Stop(_)) => {
                if let Some(held) = worker.held.get_mut(&uid) {
                    if !terminal(held.state) {
                        held.state = job::TaskState::Killed as i32;
                    }
                }
            }
            _ => {}
        }
    }
    // Zombies: held, not desired, not ended: killed and reported, as Iris's worker does.
    for (uid, held) in &mut worker.held {
        if !desired.contains(uid) && !terminal(held.state) {
            held.state = job::TaskState::Killed as i32;
            desired.insert(uid.clone());
        }
    }
    for attempt in &request.desired {
        let uid = attempt.attempt_uid.clone().unwrap_or_default();
        match worker.held.get_mut(&uid) {
            Some(held) => {
                if terminal(held.state) && !held.told {
                    held.told = true;
                    stats.finished.fetch_add(1, Ordering::Relaxed);
                }
                observed.push(AttemptObservation {
                    attempt_uid: Some(uid),
                    state: Some(held.state),
                    exit_code: Some(held.exit_code),
                    finished_at: terminal(held.state).then(|| time::Timestamp {
                        epoch_ms: Some(crate::epoch_ms()),
                    }),
                    ..AttemptObservation::default()
                });
            }
            None => observed.push(AttemptObservation {
                attempt_uid: Some(uid),
                state: Some(job::TaskState::Missing as i32),
                ..AttemptObservation::default()
            }),
        }
    }
    // What the controller no longer asks about is forgotten once it ended.
    worker
        .held
        .retain(|uid, held| desired.contains(uid) || !terminal(held.state));
    stats.calls.fetch_add(1, Ordering::Relaxed);
    stats
        .observations
        .fetch_add(observed.len() as u64, Ordering::Relaxed);
    ReconcileResponse {
        worker_id: Some(me),
        observed,
        health: Some(WorkerHealth {
            healthy: Some(true),
            ..WorkerHealth::default()
        }),
    }
}

async fn serve_reconcile(State(shared): State<Shared>, body: Bytes) -> Response {
    let Ok(request) = ReconcileRequest::decode(body.as_ref()) else {
        return (StatusCode::BAD_REQUEST, "not a ReconcileRequest").into_response();
    };
    let (answer, lost, late) = {
        let Ok(mut worker) = shared.worker.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if worker.dead {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let faults = shared.config.faults;
        let answer = reconcile(&mut worker, &shared.config, &shared.stats, request);
        let lost = worker.rng.random_bool(faults.lose.clamp(0.0, 1.0));
        if worker.rng.random_bool(faults.restart.clamp(0.0, 1.0)) {
            worker.held.clear();
            shared.stats.faults.fetch_add(1, Ordering::Relaxed);
        }
        if worker.rng.random_bool(faults.die.clamp(0.0, 1.0)) {
            worker.dead = true;
            shared.stats.faults.fetch_add(1, Ordering::Relaxed);
        }
        let late = match faults.late_ms {
            0 => 0,
            most => worker.rng.random_range(0..=most),
        };
        (answer, lost, late)
    };
    if late > 0 {
        tokio::time::sleep(Duration::from_millis(late)).await;
    }
    if lost {
        shared.stats.faults.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/proto"),
        )],
        answer.encode_to_vec(),
    )
        .into_response()
}

/// One Connect unary call to the controller.
pub async fn call<Req: Message, Resp: Message + Default>(
    client: &reqwest::Client,
    controller: &str,
    method: &str,
    request: &Req,
) -> Result<Resp, String> {
    let url = format!("{controller}/{method}");
    crate::door::post(client, &url, request, Duration::from_secs(60)).await
}

/// Starts the fleet: every worker listening on its own port and registered. Runs until the
/// runtime stops.
pub async fn start(config: Config, stats: Arc<Stats>) -> Result<(), String> {
    let config = Arc::new(config);
    let client = reqwest::Client::new();
    for n in 0..config.workers {
        let id = format!("{}{n}", config.prefix);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| format!("cannot listen for worker {id}: {err}"))?;
        let address = listener.local_addr().map_err(|err| err.to_string())?;
        let shared = Shared {
            worker: Arc::new(Mutex::new(Worker {
                id: id.clone(),
                held: HashMap::new(),
                rng: StdRng::seed_from_u64(config.seed.wrapping_add(n as u64)),
                last_call: None,
                dead: false,
            })),
            config: Arc::clone(&config),
            stats: Arc::clone(&stats),
        };
        let app = Router::new()
            .route(
                "/iris.cluster.WorkerService/Reconcile",
                post(serve_reconcile),
            )
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let request = RegisterRequest {
            address: Some(address.to_string()),
            worker_id: Some(id.clone()),
            metadata: Some(job::WorkerMetadata {
                cpu_count: Some(config.cpu),
                memory_bytes: Some(i64::from(config.cpu) << 32),
                // One pod: a coscheduled job grouped by "pod" may take any of the fleet.
                attributes: [(
                    "pod".to_owned(),
                    job::AttributeValue {
                        value: Some(job::attribute_value::Value::StringValue("fleet".to_owned())),
                    },
                )]
                .into(),
                ..job::WorkerMetadata::default()
            }),
            ..RegisterRequest::default()
        };
        let answer: RegisterResponse = call(
            &client,
            &config.controller,
            "iris.cluster.ControllerService/Register",
            &request,
        )
        .await?;
        if answer.accepted != Some(true) {
            return Err(format!("worker {id} was not accepted"));
        }
    }
    Ok(())
}
