//! A fleet of simulated Iris workers for a controller that drives workers with Reconcile (the
//! reference controller, `examples/controller`, or Iris's own): each serves
//! `WorkerService/Reconcile` on its own loopback port, as Iris's worker does, with faults.
//!
//! ```text
//! cargo run --release --features sqlite --example controller
//! cargo run --release --example workers -- --workers 50 --launch 10x1000 --wait
//! ```
//!
//! `--launch JOBSxTASKS` submits jobs once the workers have registered; `--wait` stops when they
//! have all ended and prints their states; `--seconds N` stops after N seconds. Either way the
//! fleet prints what it did as one JSON line: observations answered and attempts finished per
//! second, and the p50/p99 of the gap between a worker's consecutive Reconcile calls (the round
//! period as the workers see it).

// The Connect plumbing the reference controller uses; the fleet calls with it.
#[allow(dead_code)]
#[path = "../controller/door.rs"]
mod door;
mod fleet;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use iris_task::today::cluster::controller::{
    GetJobStateRequest, GetJobStateResponse, LaunchJobRequest, LaunchJobResponse,
};
use iris_task::today::job;

#[derive(Parser, Debug)]
#[command(about = "Simulated Iris workers that serve WorkerService/Reconcile")]
struct Args {
    /// The controller, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:10000")]
    controller: String,
    /// How many workers.
    #[arg(long, default_value_t = 20)]
    workers: usize,
    /// The cores each worker registers; a launched task asks for one.
    #[arg(long, default_value_t = 4)]
    cpu: i32,
    /// Worker ids are this prefix and a number.
    #[arg(long, default_value = "w")]
    prefix: String,
    /// Jobs to launch, as JOBSxTASKS (`10x1000`: ten jobs of 1,000 tasks).
    #[arg(long)]
    launch: Option<String>,
    /// Launched jobs are `/<this><k>/job-<n>`, spread over `--users` users (Iris's own
    /// controller caps each user's active tasks at 16,000).
    #[arg(long, default_value = "fleet")]
    user: String,
    /// How many users the launched jobs are spread over.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Retries of a launched job's task after it fails.
    #[arg(long, default_value_t = 3)]
    max_retries_failure: i32,
    /// Launched jobs tolerate this many failed attempts.
    #[arg(long, default_value_t = 1_000_000)]
    max_task_failures: i32,
    /// Stop once every launched job has ended, and print their states.
    #[arg(long)]
    wait: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Shortest run of an attempt, in milliseconds.
    #[arg(long, default_value_t = 20)]
    task_min_ms: u64,
    /// Longest run of an attempt, in milliseconds.
    #[arg(long, default_value_t = 200)]
    task_max_ms: u64,
    /// Chance an attempt fails (exits 1).
    #[arg(long, default_value_t = 0.05)]
    fail: f64,
    /// Chance an answer is lost after the worker acted on the request.
    #[arg(long, default_value_t = 0.01)]
    lose: f64,
    /// The longest an answer is held back, in milliseconds.
    #[arg(long, default_value_t = 50)]
    late_ms: u64,
    /// Chance a worker restarts (forgets its attempts) as it answers.
    #[arg(long, default_value_t = 0.001)]
    restart: f64,
    /// Chance a worker dies (answers nothing ever after) as it answers.
    #[arg(long, default_value_t = 0.0)]
    die: f64,
    /// No faults and no failures: every attempt succeeds (the load figures).
    #[arg(long)]
    load: bool,
    /// The random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The controller's process id: its CPU time over the run is reported (from `/proc`).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Where the controller reports its Reconcile rounds' p50 and p99 (the reference
    /// controller's `/api/rounds`), read at the end.
    #[arg(long)]
    rounds: Option<String>,
}

/// A process's CPU time (user and system), in milliseconds, from `/proc/<pid>/stat`.
fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every platform it runs on.
    Some(ticks * 10)
}

/// Now, in milliseconds since the Unix epoch.
pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn launch_request(args: &Args, n: usize, tasks: u32) -> LaunchJobRequest {
    LaunchJobRequest {
        name: Some(format!("/{}{}/job-{n}", args.user, n % args.users.max(1))),
        replicas: Some(i32::try_from(tasks).unwrap_or(i32::MAX)),
        max_retries_failure: Some(args.max_retries_failure),
        max_retries_preemption: Some(1_000),
        max_task_failures: Some(args.max_task_failures),
        entrypoint: Some(job::RuntimeEntrypoint {
            run_command: Some(job::CommandEntrypoint {
                argv: vec!["true".to_owned()],
            }),
            ..job::RuntimeEntrypoint::default()
        }),
        resources: Some(job::ResourceSpecProto {
            cpu_millicores: Some(1_000),
            memory_bytes: Some(1 << 30),
            ..job::ResourceSpecProto::default()
        }),
        ..LaunchJobRequest::default()
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    let index = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0)
}

async fn run(args: Args) -> Result<(), String> {
    let faults = if args.load {
        fleet::Faults::default()
    } else {
        fleet::Faults {
            fail: args.fail,
            lose: args.lose,
            late_ms: args.late_ms,
            restart: args.restart,
            die: args.die,
        }
    };
    let config = fleet::Config {
        controller: args.controller.trim_end_matches('/').to_owned(),
        workers: args.workers,
        cpu: args.cpu,
        prefix: args.prefix.clone(),
        seed: args.seed,
        task_ms: (args.task_min_ms, args.task_max_ms),
        faults,
    };
    let stats = Arc::new(fleet::Stats::default());
    fleet::start(config.clone(), Arc::clone(&stats)).await?;
    eprintln!("fleet: {} workers registered", args.workers);
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    if let Some(spec) = &args.launch {
        let (count, tasks) = spec
            .split_once('x')
            .and_then(|(j, t)| Some((j.parse::<usize>().ok()?, t.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("--launch {spec}: expected JOBSxTASKS"))?;
        for n in 0..count {
            let request = launch_request(&args, n, tasks);
            let answer: LaunchJobResponse = fleet::call(
                &client,
                &config.controller,
                "iris.cluster.ControllerService/LaunchJob",
                &request,
            )
            .await?;
            jobs.push(answer.job_id.unwrap_or_default());
        }
        eprintln!("fleet: launched {count} jobs of {tasks} tasks");
    }
    let started = Instant::now();
    let cpu_before = args.server_pid.and_then(cpu_ms);
    let stop_at = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut states = GetJobStateResponse::default();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if stop_at.is_some_and(|at| Instant::now() >= at) {
            break;
        }
        if args.wait && !jobs.is_empty() {
            let request = GetJobStateRequest {
                job_ids: jobs.clone(),
            };
            if let Ok(answer) = fleet::call::<_, GetJobStateResponse>(
                &client,
                &config.controller,
                "iris.cluster.ControllerService/GetJobState",
                &request,
            )
            .await
            {
                let ended = [
                    job::JobState::Succeeded,
                    job::JobState::Failed,
                    job::JobState::Killed,
                    job::JobState::WorkerFailed,
                    job::JobState::Unschedulable,
                ];
                let done = answer
                    .states
                    .values()
                    .filter(|state| ended.iter().any(|e| *e as i32 == **state))
                    .count();
                states = answer;
                if done == jobs.len() {
                    break;
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let server_cpu_ms = match (args.server_pid.and_then(cpu_ms), cpu_before) {
        (Some(after), Some(before)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let rounds = match &args.rounds {
        Some(url) => match client.get(url).send().await {
            Ok(answer) => answer
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()),
            Err(_) => None,
        },
        None => None,
    };
    let mut gaps = stats.gaps.lock().map(|g| g.clone()).unwrap_or_default();
    gaps.sort_unstable();
    if args.wait {
        let mut names: Vec<_> = states.states.iter().collect();
        names.sort();
        for (job, state) in names {
            let name = job::JobState::try_from(*state).map_or("?", |s| s.as_str_name());
            println!("{job} {name}");
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "workers": args.workers,
            "seconds": (seconds * 10.0).round() / 10.0,
            "calls": stats.calls.load(Ordering::Relaxed),
            "observations": stats.observations.load(Ordering::Relaxed),
            "observations_per_s": (stats.observations.load(Ordering::Relaxed) as f64 / seconds).round(),
            "started": stats.started.load(Ordering::Relaxed),
            "finished": stats.finished.load(Ordering::Relaxed),
            "finished_per_s": (stats.finished.load(Ordering::Relaxed) as f64 / seconds).round(),
            "faults": stats.faults.load(Ordering::Relaxed),
            "gap_p50_ms": percentile(&gaps, 0.5) / 1000,
            "gap_p99_ms": percentile(&gaps, 0.99) / 1000,
            "server_cpu_ms": server_cpu_ms,
            "server_us_per_observation": server_cpu_ms.map(|ms| {
                (ms as f64 * 1000.0 / stats.observations.load(Ordering::Relaxed).max(1) as f64).round()
            }),
            "server_ms_per_finished": server_cpu_ms.map(|ms| {
                (ms as f64 * 100.0 / stats.finished.load(Ordering::Relaxed).max(1) as f64).round() / 100.0
            }),
            "round_p50_ms": rounds.as_ref().map(|r| r["p50_us"].as_f64().unwrap_or(0.0) / 1000.0),
            "round_p99_ms": rounds.as_ref().map(|r| r["p99_us"].as_f64().unwrap_or(0.0) / 1000.0),
        })
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("fleet: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fleet: {err}");
            ExitCode::FAILURE
        }
    }
}
