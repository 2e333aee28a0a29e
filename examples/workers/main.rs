//! A fleet of simulated workers for the reference controller (`examples/controller`): they
//! register, pull their attempts with `PollTasks`, run them and report over gRPC, with faults.
//!
//! ```text
//! cargo run --release --features grpc,sqlite --example controller
//! cargo run --release --features grpc --example workers -- --workers 50 --launch 10x1000 --wait
//! ```
//!
//! `--launch JOBSxTASKS` submits jobs first; `--wait` stops when they have all ended and prints
//! their counts; `--seconds N` stops after N seconds. Either way the fleet prints what it did:
//! reports accepted per second and their p50/p99 latency (the README's load figures).

mod fleet;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use iris_task::grpc::controller_service_client::ControllerServiceClient;
use iris_task::proto::{CoschedulingConfig, GetJobStatusRequest, JobState, LaunchJobRequest};
use tokio::sync::watch;
use tonic::Code;

#[derive(Parser, Debug)]
#[command(about = "Simulated Iris workers that pull work from the reference controller")]
struct Args {
    /// The controller's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    controller: String,
    /// How many workers.
    #[arg(long, default_value_t = 20)]
    workers: usize,
    /// Tasks each worker runs at once.
    #[arg(long, default_value_t = 4)]
    slots: i32,
    /// Worker ids are this prefix and a number.
    #[arg(long, default_value = "w")]
    prefix: String,
    /// Jobs to launch first, as JOBSxTASKS (`10x1000`: ten jobs of 1,000 tasks).
    #[arg(long)]
    launch: Option<String>,
    /// Launched jobs are named this prefix and a number.
    #[arg(long, default_value = "job")]
    job_prefix: String,
    /// Retries of a launched job's task after it fails.
    #[arg(long, default_value_t = 3)]
    max_retries_failure: i32,
    /// Launched jobs tolerate this many failed tasks.
    #[arg(long, default_value_t = 1_000_000)]
    max_task_failures: i32,
    /// Make every launched job coscheduled (its tasks start together).
    #[arg(long)]
    coscheduled: bool,
    /// Stop once every launched job has ended, and print the jobs' counts.
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
    /// Chance a report is delivered twice.
    #[arg(long, default_value_t = 0.02)]
    duplicate: f64,
    /// Chance a RUNNING report arrives again after the attempt ended.
    #[arg(long, default_value_t = 0.02)]
    late: f64,
    /// Chance a report's first send is lost (sent again after a timeout).
    #[arg(long, default_value_t = 0.02)]
    lose: f64,
    /// Chance a worker dies as it starts an attempt.
    #[arg(long, default_value_t = 0.002)]
    die: f64,
    /// No faults, no run time: every attempt reports RUNNING and SUCCEEDED at once (the load
    /// figures).
    #[arg(long)]
    load: bool,
    /// Milliseconds between polls of an idle worker.
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    /// Deadline of each call, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    call_timeout_ms: u64,
    /// gRPC connections shared by the workers (0: one per worker).
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// The random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_launch(spec: &str) -> Result<(usize, i32), String> {
    let (jobs, tasks) = spec
        .split_once('x')
        .ok_or_else(|| format!("--launch {spec}: expected JOBSxTASKS, like 10x1000"))?;
    let jobs = jobs
        .parse()
        .map_err(|err| format!("--launch {spec}: jobs: {err}"))?;
    let tasks = tasks
        .parse()
        .map_err(|err| format!("--launch {spec}: tasks: {err}"))?;
    Ok((jobs, tasks))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("workers: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let launch = args.launch.as_deref().map(parse_launch).transpose()?;
    let faults = if args.load {
        fleet::Faults::default()
    } else {
        fleet::Faults {
            fail: args.fail,
            duplicate: args.duplicate,
            late: args.late,
            lose: args.lose,
            die: args.die,
        }
    };
    let config = fleet::Config {
        controller: args.controller.clone(),
        workers: args.workers,
        slots: args.slots,
        prefix: args.prefix.clone(),
        seed: args.seed,
        task_ms: if args.load {
            (0, 0)
        } else {
            (args.task_min_ms, args.task_max_ms)
        },
        faults,
        poll_every: Duration::from_millis(args.poll_ms),
        call_timeout: Duration::from_millis(args.call_timeout_ms),
        connections: match args.connections {
            0 => args.workers,
            n => n,
        },
    };
    let channel = fleet::channels(&fleet::Config {
        connections: 1,
        ..config.clone()
    })
    .map_err(|err| format!("bad controller address {}: {err}", args.controller))?
    .remove(0);
    let mut client = ControllerServiceClient::new(channel);

    let mut jobs = Vec::new();
    if let Some((count, tasks)) = launch {
        for n in 0..count {
            let name = format!("{}-{n}", args.job_prefix);
            let request = LaunchJobRequest {
                name: name.clone(),
                replicas: tasks,
                max_retries_failure: args.max_retries_failure,
                max_task_failures: args.max_task_failures,
                coscheduling: args.coscheduled.then(|| CoschedulingConfig {
                    group_by: "all".to_owned(),
                }),
                ..LaunchJobRequest::default()
            };
            match client.launch_job(request).await {
                Ok(_) => {}
                Err(status) if status.code() == Code::AlreadyExists => {
                    eprintln!("workers: job {name} exists already; waiting for it too");
                }
                Err(status) => return Err(format!("cannot launch {name}: {status}")),
            }
            jobs.push(name);
        }
        println!(
            "launched {} jobs of {} tasks",
            jobs.len(),
            launch.map_or(0, |l| l.1)
        );
    }

    let stats = Arc::new(fleet::Stats::default());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let fleet = tokio::spawn(fleet::run(config, Arc::clone(&stats), stopped));

    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut last_print = Instant::now();
    let mut result = Ok(());
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        if !args.wait || jobs.is_empty() {
            continue;
        }
        let mut ended = 0;
        let mut summary = Vec::new();
        for job in &jobs {
            let request = GetJobStatusRequest {
                job_id: job.clone(),
                exclude_tasks: true,
            };
            match client.get_job_status(request).await {
                Ok(response) => {
                    let Some(status) = response.into_inner().job else {
                        continue;
                    };
                    let state = JobState::try_from(status.state).unwrap_or(JobState::Unspecified);
                    if !matches!(
                        state,
                        JobState::Pending | JobState::Running | JobState::Unspecified
                    ) {
                        ended += 1;
                    }
                    summary.push((job.clone(), state, status.task_state_counts));
                }
                Err(status) if status.code() == Code::Unavailable => {}
                Err(status) => {
                    result = Err(format!("GetJobStatus({job}): {status}"));
                }
            }
        }
        if last_print.elapsed() >= Duration::from_secs(2) || ended == jobs.len() {
            let done: i32 = summary
                .iter()
                .flat_map(|(_, _, counts)| counts.iter())
                .filter(|(state, _)| is_terminal_label(state))
                .map(|(_, count)| *count)
                .sum();
            println!(
                "{:.1}s: {ended}/{} jobs ended, {done} tasks ended, {} reports",
                started.elapsed().as_secs_f64(),
                jobs.len(),
                stats.reports.load(Ordering::Relaxed)
            );
            last_print = Instant::now();
        }
        if ended == jobs.len() || result.is_err() {
            for (job, state, counts) in &summary {
                let counts: std::collections::BTreeMap<_, _> = counts.iter().collect();
                println!("job {job}: {} {counts:?}", state.as_str_name());
            }
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = fleet.await;
    let reports = stats.reports.load(Ordering::Relaxed);
    println!(
        "fleet: {} workers, {reports} reports accepted in {elapsed:.1}s = {:.0} reports/s, latency p50 {:.2} ms p99 {:.2} ms; {} polls, {} attempts, {} registrations, {} deaths, {} retries {:?}, refused {:?}",
        args.workers,
        reports as f64 / elapsed,
        stats.latency_ms(0.50),
        stats.latency_ms(0.99),
        stats.polls.load(Ordering::Relaxed),
        stats.attempts.load(Ordering::Relaxed),
        stats.registrations.load(Ordering::Relaxed),
        stats.deaths.load(Ordering::Relaxed),
        stats.retries.load(Ordering::Relaxed),
        stats.retried.lock().map(|r| r.clone()).unwrap_or_default(),
        stats.refused.lock().map(|r| r.clone()).unwrap_or_default(),
    );
    result
}

/// Whether a `task_state_counts` key names a state a task ends in.
fn is_terminal_label(label: &str) -> bool {
    label
        .parse::<iris_task::StateKind>()
        .is_ok_and(iris_task::StateKind::is_terminal)
}
