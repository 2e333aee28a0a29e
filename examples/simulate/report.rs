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

/// The job's state as the report and the dashboard derive it.
pub fn job_state(outcome: &Outcome, job: &Job) -> JobState {
    outcome
        .table
        .job_counts(&job.id)
        .map_or(JobState::Pending, |counts| counts.job_state(&job.policy))
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
        "\n{:<16} {:>7}  {:<14} succeeded / failed / killed / worker_failed / unschedulable",
        "job", "tasks", "state"
    );
    for job in &outcome.jobs {
        let counts = table.job_counts(&job.id).cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:>7}  {:<14} {} / {} / {} / {} / {}",
            job.id.as_str(),
            thousands(u64::from(job.size)),
            job_state(outcome, job).label(),
            counts.get(StateKind::Succeeded),
            counts.get(StateKind::Failed),
            counts.get(StateKind::Killed),
            counts.get(StateKind::WorkerFailed),
            counts.get(StateKind::Unschedulable),
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
            "\ninvariants hold: every task terminal, no attempt left open, counts equal a recount, no budget exceeded, free slots equal the table's loads"
        );
    } else {
        let _ = writeln!(out, "\nINVARIANTS BROKEN ({}):", outcome.violations.len());
        for violation in outcome.violations.iter().take(20) {
            let _ = writeln!(out, "  {violation}");
        }
    }
    out
}
