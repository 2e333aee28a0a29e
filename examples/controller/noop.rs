//! The do-nothing baseline of the load figures: the same Connect door and the same Reconcile
//! calls, with no table, no store, no rules and no writer. It registers workers in a map and
//! keeps each worker's slots full of made-up attempts (the first Reconcile of each carries a
//! spec, as the controller's do; an attempt the worker reports ended is replaced by a new one),
//! so that the fleet does the same work for it as for the controller. What a controller costs
//! above it is the table, the store and the rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use iris_task::today::cluster::controller as c;
use iris_task::today::cluster::worker::{
    AttemptSpec, DesiredAttempt, ReconcileRequest, desired_attempt::Intent,
};
use iris_task::today::job;

use crate::door;
use crate::reconcile::{Driving, Rounds, call};

/// A registered worker: where it answers, and the made-up attempts it runs (uid, and whether
/// its spec was delivered).
struct Slots {
    address: String,
    attempts: Vec<(String, bool)>,
}

/// The baseline's workers.
#[derive(Default)]
pub struct Registry {
    workers: Mutex<HashMap<String, Slots>>,
    next_uid: std::sync::atomic::AtomicU64,
}

impl Registry {
    fn uid(&self) -> String {
        let n = self
            .next_uid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// The baseline's routes: Register, LaunchJob and GetJobState, answered from nothing.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/iris.cluster.ControllerService/{method}", post(controller))
        .with_state(registry)
}

async fn controller(
    State(registry): State<Arc<Registry>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limits = (Duration::from_secs(10), 64 << 20);
    match method.as_str() {
        "Register" => {
            door::unary(
                &headers,
                body,
                limits,
                |request: c::RegisterRequest| async move {
                    let slots = request
                        .metadata
                        .as_ref()
                        .and_then(|m| m.cpu_count)
                        .unwrap_or(1);
                    let attempts = (0..slots.max(1)).map(|_| (registry.uid(), false)).collect();
                    let id = request.worker_id.clone().unwrap_or_default();
                    if let Ok(mut workers) = registry.workers.lock() {
                        let address = request.address.clone().unwrap_or_default();
                        workers.insert(id, Slots { address, attempts });
                    }
                    Ok(c::RegisterResponse {
                        worker_id: request.worker_id,
                        accepted: Some(true),
                    })
                },
            )
            .await
        }
        "LaunchJob" => {
            door::unary(
                &headers,
                body,
                limits,
                |request: c::LaunchJobRequest| async move {
                    Ok(c::LaunchJobResponse {
                        job_id: request.name,
                    })
                },
            )
            .await
        }
        "GetJobState" => {
            door::unary(&headers, body, limits, |_: c::GetJobStateRequest| async {
                Ok(c::GetJobStateResponse::default())
            })
            .await
        }
        _ => door::unimplemented(&format!("ControllerService/{method}")),
    }
}

/// The made-up desired set of `worker`.
fn desired(registry: &Registry, worker: &str) -> Option<(String, ReconcileRequest)> {
    let workers = registry.workers.lock().ok()?;
    let slots = workers.get(worker)?;
    let desired = slots
        .attempts
        .iter()
        .map(|(uid, delivered)| DesiredAttempt {
            attempt_uid: Some(uid.clone()),
            intent: Some(Intent::Run(AttemptSpec {
                request: (!delivered).then(|| job::RunTaskRequest {
                    task_id: Some(format!("/baseline/{worker}/{uid}")),
                    ..job::RunTaskRequest::default()
                }),
            })),
        })
        .collect();
    let request = ReconcileRequest {
        worker_id: Some(worker.to_owned()),
        desired,
    };
    Some((slots.address.clone(), request))
}

/// Calls every registered worker once per interval, each in a loop of its own, as the
/// controller's driver does.
pub async fn drive(registry: Arc<Registry>, driving: Driving, rounds: Arc<Mutex<Rounds>>) {
    let client = reqwest::Client::new();
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticker.tick().await;
        let ids: Vec<String> = registry
            .workers
            .lock()
            .map(|workers| workers.keys().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            if running.contains_key(&id) {
                continue;
            }
            let (registry, client, rounds) =
                (Arc::clone(&registry), client.clone(), Arc::clone(&rounds));
            let worker = id.clone();
            running.insert(
                id,
                tokio::spawn(async move {
                    let mut ticker = tokio::time::interval(driving.interval);
                    loop {
                        ticker.tick().await;
                        let started = Instant::now();
                        let Some((address, request)) = desired(&registry, &worker) else {
                            return;
                        };
                        let Ok(answer) = call(&client, &address, &request, driving.timeout).await
                        else {
                            continue;
                        };
                        if let Ok(mut workers) = registry.workers.lock() {
                            let ended: Vec<String> = answer
                                .observed
                                .iter()
                                .filter(|o| {
                                    o.state.is_some_and(|s| {
                                        s == job::TaskState::Succeeded as i32
                                            || s == job::TaskState::Failed as i32
                                    })
                                })
                                .filter_map(|o| o.attempt_uid.clone())
                                .collect();
                            if let Some(slots) = workers.get_mut(&worker) {
                                for attempt in &mut slots.attempts {
                                    attempt.1 = true;
                                    if ended.contains(&attempt.0) {
                                        *attempt = (registry.uid(), false);
                                    }
                                }
                            }
                        }
                        if let Ok(mut rounds) = rounds.lock() {
                            rounds.record(started.elapsed());
                        }
                    }
                }),
            );
        }
    }
}
