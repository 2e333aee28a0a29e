//! The text summary `cargo run --release --example simulate` prints: every figure in it is either
//! recounted from the final table or counted by the run, and `tests/simulate.rs` checks each one.

use std::fmt::Write as _;

use iris_task::{JobState, StateKind};

use crate::cluster::{Job, Outcome};

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The job's state as the report and the dashboard show it: the table's, under the policy the
/// controller told it.
pub fn job_state(outcome: &Outcome, job: &Job) -> JobState {
    outcome
        .table
        .job_state(&job.id)
        .unwrap_or(JobState::Pending)
}

/// What the final table shows of the rules of 0.2, recounted from the tasks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Follow {
    /// Attempts closed PREEMPTED by the scheduler (for the priority job).
    pub preempted: u64,
    /// Attempts closed COSCHED_FAILED after which their task went on: requeued with its gang.
    pub requeued_with_gang: u64,
    /// Tasks that ended COSCHED_FAILED: stopped with their gang.
    pub stopped_with_gang: u64,
    /// Tasks killed because their job ended (reason: the job's error, as Iris gives it).
    pub stopped_with_job: u64,
    /// Tasks the user cancelled.
    pub cancelled: u64,
}

impl Follow {
    pub fn of(outcome: &Outcome) -> Follow {
        let mut follow = Follow::default();
        for task in outcome.table.iter() {
            let attempts = task.attempts();
            for (n, attempt) in attempts.iter().enumerate() {
                let last = n + 1 == attempts.len();
                follow.preempted += u64::from(
                    attempt.state() == StateKind::Preempted
                        && attempt.error() == Some(crate::cluster::PREEMPT_REASON),
                );
                let went_on = !last
                    || task.state() == StateKind::Pending
                    || (task.state() == StateKind::CoschedFailed && ended_while_pending(task));
                follow.requeued_with_gang +=
                    u64::from(attempt.state() == StateKind::CoschedFailed && went_on);
            }
            follow.stopped_with_gang += u64::from(task.state() == StateKind::CoschedFailed);
            let error = iris_task::proto::TaskStatus::from(task).error;
            if task.state() == StateKind::Killed {
                let cancelled = error == crate::cluster::CANCEL_REASON;
                follow.cancelled += u64::from(cancelled);
                // The job-end rule stops a task with its job's error, in Iris's words (a job
                // without one gives its state's reason).
                let job = outcome.table.job(task.id().job());
                let job_error = job.as_ref().and_then(|job| job.error());
                let job_ended = job.is_some_and(|job| job.state().is_terminal());
                follow.stopped_with_job += u64::from(
                    !cancelled && job_ended && job_error.is_none_or(|job_error| job_error == error),
                );
            }
        }
        follow
    }
}

/// A terminal task that ended while pending: its own finish is not its last attempt's.
fn ended_while_pending(task: &iris_task::AnyTask) -> bool {
    let status = iris_task::proto::TaskStatus::from(task);
    let last = task.current_attempt();
    last.is_none_or(|attempt| {
        attempt.finished_at().map(|at| at.as_millis()) != status.finished_at_ms
            || attempt.error().unwrap_or("") != status.error
    })
}

/// Events per second of wall time, setup included.
pub fn events_per_second(outcome: &Outcome) -> u64 {
    (outcome.stats.events as f64 / outcome.wall.as_secs_f64().max(1e-9)) as u64
}

/// The summary the example prints.
pub fn report(outcome: &Outcome) -> String {
    let stats = &outcome.stats;
    let table = &outcome.table;
    let attempts: u64 = table.iter().map(|t| t.attempts().len() as u64).sum();
    let failures: u64 = table.iter().map(|t| u64::from(t.failure_count())).sum();
    let preemptions: u64 = table.iter().map(|t| u64::from(t.preemption_count())).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "iris-task simulation: {} tasks in {} jobs on {} workers, seed {}",
        thousands(table.len() as u64),
        outcome.jobs.len(),
        thousands(outcome.config.workers as u64),
        outcome.config.seed
    );
    let _ = writeln!(
        out,
        "{:.1} s of cluster time in {:.2} s of wall time ({:.2} s of it setting up): {} events, {} events/s\n",
        stats.simulated_ms as f64 / 1000.0,
        outcome.wall.as_secs_f64(),
        outcome.setup.as_secs_f64(),
        thousands(stats.events),
        thousands(events_per_second(outcome))
    );
    let _ = writeln!(out, "{:<14} {:>9}", "state", "tasks");
    for (state, count) in table.counts().iter() {
        let peak = if state == StateKind::Assigned {
            format!(
                "   (peak {} at {:.1} s)",
                thousands(stats.peak_assigned as u64),
                stats.peak_at_ms as f64 / 1000.0
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<14} {:>9}{peak}",
            state.label(),
            thousands(count as u64)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:>7}  {:<14} succeeded / failed / killed / worker_failed / unschedulable / preempted / cosched_failed",
        "job", "tasks", "state"
    );
    for job in &outcome.jobs {
        let counts = table.job_counts(&job.id).cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:>7}  {:<14} {} / {} / {} / {} / {} / {} / {}",
            job.id.as_str(),
            thousands(u64::from(job.size)),
            job_state(outcome, job).label(),
            counts.get(StateKind::Succeeded),
            counts.get(StateKind::Failed),
            counts.get(StateKind::Killed),
            counts.get(StateKind::WorkerFailed),
            counts.get(StateKind::Unschedulable),
            counts.get(StateKind::Preempted),
            counts.get(StateKind::CoschedFailed),
        );
    }
    let _ = writeln!(
        out,
        "\nattempts {}; failures charged {}; preemptions charged {}",
        thousands(attempts),
        thousands(failures),
        thousands(preemptions)
    );
    let _ = writeln!(
        out,
        "dispatch failures requeued free of charge {}: {} RunTask RPC failed, {} dispatch deadline passed, {} worker died before confirming",
        thousands(stats.dispatch_failures_requeued),
        thousands(stats.dispatch_rpc_failed),
        thousands(stats.dispatch_deadline_requeued),
        thousands(stats.dispatch_worker_died),
    );
    let _ = writeln!(out, "worker deaths {}", thousands(stats.worker_deaths));
    let follow = Follow::of(outcome);
    let _ = writeln!(
        out,
        "scheduler preemptions {} for the priority job; stop orders {}, each answered KILLED by its worker",
        thousands(follow.preempted),
        thousands(stats.stop_orders),
    );
    let _ = writeln!(
        out,
        "gangs: {} sibling attempts requeued with a member, {} tasks stopped with their gang; {} tasks stopped because their job ended; {} cancelled",
        thousands(follow.requeued_with_gang),
        thousands(follow.stopped_with_gang),
        thousands(follow.stopped_with_job),
        thousands(follow.cancelled),
    );
    let _ = writeln!(
        out,
        "events {}: {} changed a task, {} duplicates absorbed, {} stale rejected, {} other rejected",
        thousands(stats.events),
        thousands(stats.changes),
        thousands(stats.duplicates_absorbed),
        thousands(stats.stale_rejected),
        thousands(stats.other_rejected),
    );
    let _ = writeln!(
        out,
        "reports {}: {} delivered, {} never sent (worker died first), {} still in flight at the end",
        thousands(stats.reports_queued),
        thousands(stats.reports_delivered),
        thousands(stats.reports_never_sent),
        thousands(stats.reports_in_flight),
    );
    if outcome.violations.is_empty() {
        let _ = writeln!(
            out,
            "\ninvariants hold: every task terminal, no attempt left open, counts equal a recount, no budget exceeded, no gang sibling charged, no gang partly running after a trigger ({} checks), free slots equal the table's loads",
            thousands(stats.gang_checks)
        );
    } else {
        let _ = writeln!(out, "\nINVARIANTS BROKEN ({}):", outcome.violations.len());
        for violation in outcome.violations.iter().take(20) {
            let _ = writeln!(out, "  {violation}");
        }
    }
    out
}
