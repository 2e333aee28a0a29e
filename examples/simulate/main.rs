//! A controller running a simulated cluster on `TaskTable`, with the faults real clusters have:
//! RunTask RPCs that fail, workers that never confirm (the dispatch deadline requeues their
//! tasks), tasks that exit non-zero, workers lost while tasks run, a job cancelled midway, a job
//! no worker can fit (its scheduling deadline passes), and worker reports sent as
//! `ReportTaskStateRequest` bytes that arrive twice or late. And today's Iris: a high-priority
//! job arrives and the scheduler preempts running tasks of the lowest-priority job for it; two
//! coscheduled jobs (gangs) whose bad shard fails, one requeued with its gang until it succeeds,
//! one brought down with it (COSCHED_FAILED); jobs that end (a failure beyond their tolerance,
//! the scheduling deadline, the user's cancel) stop their other tasks; every attempt the
//! controller stops is answered KILLED by its worker, a duplicate the table absorbs.
//!
//! ```text
//! cargo run --release --example simulate [-- --tasks N --workers N --seed N --html PATH]
//! cargo run --release --features sqlite --example simulate -- --store sqlite:PATH [--crash-after N]
//! cargo run --release --features postgres --example simulate -- --store "postgres:host=... dbname=..."
//! ```
//!
//! With `--store sqlite:PATH` the table is a `DurableTable`, one batch per tick; the report adds
//! the batches, the transactions they committed (a tick that changed nothing writes none) and the
//! slowdown against the same run in memory. `--crash-after N` aborts the process in tick N, after
//! its calls and before its commit; running again with the same store resumes from what was
//! committed (the workers that held tasks are declared lost: their reports
//! died with the old process) and finishes with its invariants holding.
//!
//! At the end it checks its own invariants and exits non-zero if one fails.
//!
//! `cluster/` runs the controller loop (`mod.rs`; the scheduler, the network, the faults, the
//! tables and the checks in files of their own), `report.rs` writes the text summary,
//! `dashboard.rs` the HTML page; `tests/simulate.rs` runs small simulations through the same
//! files.

mod cluster;
mod dashboard;
mod report;

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

const USAGE: &str = "usage: simulate [--tasks N] [--workers N] [--seed N] [--html PATH] [--store sqlite:PATH|postgres:PARAMS [--crash-after N]]";

struct Args {
    config: cluster::Config,
    html: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        config: cluster::Config::default(),
        html: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| {
            text.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {text:?} is not a whole number"))
        };
        match flag.as_str() {
            "--tasks" => {
                parsed.config.tasks =
                    usize::try_from(number(value()?)?).map_err(|e| e.to_string())?
            }
            "--workers" => {
                parsed.config.workers =
                    usize::try_from(number(value()?)?).map_err(|e| e.to_string())?
            }
            "--seed" => parsed.config.seed = number(value()?)?,
            "--store" => {
                let store = value()?;
                parsed.config.store = Some(if let Some(path) = store.strip_prefix("sqlite:") {
                    cluster::StoreAt::Sqlite(path.into())
                } else if let Some(params) = store.strip_prefix("postgres:") {
                    cluster::StoreAt::Postgres(params.to_owned())
                } else {
                    return Err(format!(
                        "--store {store:?}: expected sqlite:PATH or postgres:PARAMS"
                    ));
                });
            }
            "--crash-after" => parsed.config.crash_after = Some(number(value()?)?),
            "--html" => parsed.html = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if parsed.config.tasks == 0 || parsed.config.workers == 0 {
        return Err("--tasks and --workers must be at least 1".to_owned());
    }
    if parsed.config.crash_after.is_some() && parsed.config.store.is_none() {
        return Err(
            "--crash-after needs --store: without one there is nothing to resume".to_owned(),
        );
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // Drawn on stderr, and hidden when stderr is not a terminal.
    let bar = ProgressBar::new(args.config.tasks as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tasks ended  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let outcome = cluster::run(&args.config, &mut |ended, _| bar.set_position(ended as u64));
    bar.finish_and_clear();
    print!("{}", report::report(&outcome));
    if args.config.store.is_some() {
        // The same run in memory, for the slowdown (a resumed run has no twin to compare with).
        let memory = cluster::run(
            &cluster::Config {
                store: None,
                crash_after: None,
                ..args.config.clone()
            },
            &mut |_, _| {},
        );
        let stats = &outcome.stats;
        match stats.resumed_at_ms {
            Some(at) => println!(
                "store: resumed at {:.1} s of cluster time; {} batches (one per tick) in {} commits, {:.2} s of wall time",
                at as f64 / 1000.0,
                report::thousands(stats.batches),
                report::thousands(stats.commits),
                outcome.wall.as_secs_f64()
            ),
            None => println!(
                "store: {} batches (one per tick) in {} commits, {:.2} s of wall time against {:.2} s in memory: {:.1}x slower",
                report::thousands(stats.batches),
                report::thousands(stats.commits),
                outcome.wall.as_secs_f64(),
                memory.wall.as_secs_f64(),
                outcome.wall.as_secs_f64() / memory.wall.as_secs_f64().max(1e-9)
            ),
        }
    }
    if let Some(path) = &args.html {
        if let Err(err) = std::fs::write(path, dashboard::html(&outcome)) {
            eprintln!("cannot write {path}: {err}");
            return ExitCode::FAILURE;
        }
        println!("dashboard written to {path}");
    }
    if outcome.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
