//! The controller drives its workers: once per interval, each registered worker gets a
//! `WorkerService/Reconcile` call with its whole desired set, built by the crate from the table,
//! and its answer goes back to the table through the writer. A worker's calls run in a loop of
//! their own, so a slow or dead worker delays nobody else; the loop ends when the worker is
//! reaped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iris_task::today::cluster::worker::{ReconcileRequest, ReconcileResponse};
use iris_task::{SqliteStore, WorkerId};

use crate::door;
use crate::writer::Writer;

/// How the controller calls its workers.
#[derive(Clone, Copy, Debug)]
pub struct Driving {
    /// One Reconcile per worker per this long.
    pub interval: Duration,
    /// How long one call may take.
    pub timeout: Duration,
}

/// The durations of Reconcile rounds (request built, call, answer applied), for the load
/// figures; started afresh after 100,000, so that a long run's memory stays bounded.
#[derive(Default)]
pub struct Rounds {
    /// Microseconds each.
    pub micros: Vec<u64>,
}

impl Rounds {
    /// Records one round.
    pub fn record(&mut self, took: Duration) {
        if self.micros.len() >= 100_000 {
            self.micros.clear();
        }
        self.micros
            .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }
}

/// One Reconcile call to a worker at `address`: the answer, or why there is none.
pub async fn call(
    client: &reqwest::Client,
    address: &str,
    request: &ReconcileRequest,
    timeout: Duration,
) -> Result<ReconcileResponse, String> {
    let url = format!("http://{address}/iris.cluster.WorkerService/Reconcile");
    door::post(client, &url, request, timeout).await
}

/// Starts a loop per registered worker, and a supervisor that starts one for each worker that
/// registers later. Runs until the writer stops.
pub async fn drive(writer: Writer<SqliteStore>, driving: Driving, rounds: Arc<Mutex<Rounds>>) {
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(2)
        .tcp_nodelay(true)
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("controller: cannot build the HTTP client: {err}");
            return;
        }
    };
    let mut loops: HashMap<WorkerId, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut ticker = tokio::time::interval(driving.interval.min(Duration::from_millis(250)));
    loop {
        ticker.tick().await;
        let Ok(workers) = writer.call(|core, _| Ok(core.workers())).await else {
            continue;
        };
        loops.retain(|_, handle| !handle.is_finished());
        for (worker, address) in workers {
            if loops.contains_key(&worker) {
                continue;
            }
            let handle = tokio::spawn(one_worker(
                writer.clone(),
                client.clone(),
                worker.clone(),
                address,
                driving,
                Arc::clone(&rounds),
            ));
            loops.insert(worker, handle);
        }
    }
}

/// One worker's Reconcile loop, until the worker is no longer registered (reaped) or moved to
/// another address (a new loop takes over).
async fn one_worker(
    writer: Writer<SqliteStore>,
    client: reqwest::Client,
    worker: WorkerId,
    address: String,
    driving: Driving,
    rounds: Arc<Mutex<Rounds>>,
) {
    let mut ticker = tokio::time::interval(driving.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let id = worker.clone();
        let request = writer
            .call(move |core, _| Ok(core.reconcile_request(&id).zip(core.address(&id))))
            .await;
        let request = match request {
            Ok(Some((request, now_at))) if now_at == address => request,
            Ok(_) => return,
            Err(_) => continue,
        };
        let answer = call(&client, &address, &request, driving.timeout).await;
        let id = worker.clone();
        let applied = writer
            .call(move |core, now| core.reconciled(&id, answer, now).map_err(Into::into))
            .await;
        if let Err(err) = applied {
            eprintln!(
                "controller: worker {worker}: the answer was not applied: {}",
                err.message
            );
        }
        if let Ok(mut rounds) = rounds.lock() {
            rounds.record(started.elapsed());
        }
    }
}
