//! Small runs of the `simulate` example: its invariants hold for several seeds, its faults really
//! happen, it is deterministic, every figure its report prints equals an independent recount from
//! the final table (or, for what the table cannot tell, agrees with the run's other figures), and
//! its dashboard shows the right classes and counts.

#[path = "../examples/simulate/cluster/mod.rs"]
mod cluster;
#[path = "../examples/simulate/dashboard.rs"]
mod dashboard;
#[path = "../examples/simulate/report.rs"]
mod report;

use std::collections::{BTreeMap, BTreeSet};

use iris_task::{DISPATCH_DEADLINE_ERROR, JobState, StateCounts, StateKind, proto};

fn simulate(tasks: usize, workers: usize, seed: u64) -> cluster::Outcome {
    let config = cluster::Config {
        tasks,
        workers,
        seed,
        ..cluster::Config::default()
    };
    cluster::run(&config, &mut |_, _| {})
}

fn small(seed: u64) -> cluster::Outcome {
    simulate(3_000, 24, seed)
}

/// A run long enough for workers to die and late reports to go stale.
fn longer() -> cluster::Outcome {
    simulate(20_000, 100, 7)
}

#[test]
fn invariants_hold_for_several_seeds_and_every_fault_happens() {
    for seed in [1, 2, 3, 4, 5] {
        let outcome = small(seed);
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        let counts = outcome.table.counts();
        assert_eq!(counts.total(), 3_000);
        // The oversized job's first task times out; its job ends UNSCHEDULABLE, and the table
        // kills the other 29 (the job-end rule).
        assert_eq!(
            counts.get(StateKind::Unschedulable),
            1,
            "seed {seed}: the oversized job"
        );
        let oversized = outcome.jobs.iter().find(|job| job.oversized).unwrap();
        let job_counts = outcome.table.job_counts(&oversized.id).unwrap();
        assert_eq!(job_counts.get(StateKind::Killed), 29, "seed {seed}");
        // The priority job preempted running tasks of the lowest-priority one, which end
        // PREEMPTED; one gang came back after its member failed, the other went down.
        assert!(
            counts.get(StateKind::Preempted) > 0,
            "seed {seed}: preempted"
        );
        assert!(
            counts.get(StateKind::CoschedFailed) > 0,
            "seed {seed}: a gang went down"
        );
        let gang_states: Vec<String> = outcome
            .jobs
            .iter()
            .filter(|job| job.policy.coscheduled)
            .map(|job| report::job_state(&outcome, job).label().to_owned())
            .collect();
        assert_eq!(gang_states, ["succeeded", "failed"], "seed {seed}");
        let follow = report::Follow::of(&outcome);
        assert!(
            follow.requeued_with_gang > 0,
            "seed {seed}: a gang was requeued"
        );
        assert!(
            follow.stopped_with_job > 0,
            "seed {seed}: a job ended and stopped its tasks"
        );
        assert!(
            counts.get(StateKind::Killed) > 0,
            "seed {seed}: the cancelled job"
        );
        assert!(
            counts.get(StateKind::Failed) > 0,
            "seed {seed}: budgets run out"
        );
        let stats = &outcome.stats;
        assert!(stats.dispatch_rpc_failed > 0, "seed {seed}: {stats:?}");
        assert!(
            stats.dispatch_deadline_requeued > 0,
            "seed {seed}: {stats:?}"
        );
        assert!(stats.duplicates_absorbed > 0, "seed {seed}: {stats:?}");
        assert!(stats.peak_assigned > 0, "seed {seed}: {stats:?}");
        assert!(stats.reports_delivered > 0, "seed {seed}: {stats:?}");
        assert!(stats.scheduler_preemptions > 0, "seed {seed}: {stats:?}");
        assert!(stats.stop_orders > 0, "seed {seed}: {stats:?}");
        assert!(stats.gang_checks > 0, "seed {seed}: {stats:?}");
        assert!(stats.follow_on_changes > 0, "seed {seed}: {stats:?}");
    }
}

#[test]
fn workers_die_and_late_reports_go_stale_over_a_longer_run() {
    let outcome = longer();
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    let stats = &outcome.stats;
    assert!(stats.worker_deaths > 0, "{stats:?}");
    assert!(stats.dispatch_worker_died > 0, "{stats:?}");
    assert!(stats.reports_never_sent > 0, "{stats:?}");
    assert!(stats.stale_rejected > 0, "{stats:?}");
    let preemptions: u32 = outcome.table.iter().map(|t| t.preemption_count()).sum();
    assert!(preemptions > 0);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = small(11);
    let second = small(11);
    assert_eq!(first.stats, second.stats);
    assert_eq!(first.table.counts(), second.table.counts());
    let states = |outcome: &cluster::Outcome| -> Vec<(String, StateKind, usize)> {
        outcome
            .table
            .iter()
            .map(|t| (t.id().to_string(), t.state(), t.attempts().len()))
            .collect()
    };
    assert_eq!(states(&first), states(&second));
    assert_ne!(small(12).stats, first.stats, "another seed, another run");
}

#[test]
fn every_figure_of_the_report_equals_a_recount() {
    for outcome in [small(1), small(2), small(3), longer()] {
        check_report(&outcome);
    }
}

/// What the final table says, counted from the tasks and their attempts, without the table's
/// counts, the tasks' derived budgets or the run's statistics.
#[derive(Default)]
struct Recount {
    tasks: u64,
    states: BTreeMap<&'static str, u64>,
    /// Each job's tasks' states.
    jobs: BTreeMap<String, Vec<StateKind>>,
    attempts: u64,
    /// Attempts that ended FAILED.
    failures: u64,
    /// Attempts with a worker-side ending (WORKER_FAILED, PREEMPTED, killed on the worker)
    /// after they had started.
    preemptions: u64,
    /// Attempts the scheduler preempted for the priority job.
    scheduler_preemptions: u64,
    /// Attempts the controller ended on a running worker (a kill, a preemption, a gang stop):
    /// each got a stop order.
    stopped_by_controller: u64,
    /// Attempts closed COSCHED_FAILED after which their task went on, tasks that ended
    /// COSCHED_FAILED, tasks killed because their job ended, tasks the user cancelled.
    requeued_with_gang: u64,
    stopped_with_gang: u64,
    stopped_with_job: u64,
    cancelled: u64,
    /// Attempts that ended WORKER_FAILED before they started. Each was an ASSIGNED task
    /// requeued free of charge, and the run's `dispatch_failures_requeued` counts exactly these:
    /// a RunTask failure, a dispatch deadline, or a worker death while ASSIGNED (a dispatch
    /// failure, not a preemption, since the attempt never started). Nothing else ends an attempt
    /// so: the simulated workers never report WORKER_FAILED themselves. A FAILED report that
    /// skips an ASSIGNED task forward and requeues it is not one either: its attempt ends FAILED
    /// and charges the failure budget (the example used to count those as free requeues).
    dispatch_failures: u64,
    rpc_failed: u64,
    deadline: u64,
    /// Attempts ended by a worker death, before and after they started.
    worker_died: u64,
    worker_died_unconfirmed: u64,
    /// The deaths the attempts show: (worker, when).
    deaths_seen: BTreeSet<(String, i64)>,
    /// Attempts that started (some report confirmed them), and those a report ended.
    started: u64,
    ended_by_report: u64,
    unschedulable: u64,
    /// The latest time any task records.
    latest_ms: i64,
}

impl Recount {
    fn of(outcome: &cluster::Outcome) -> Recount {
        let mut recount = Recount::default();
        for task in outcome.table.iter() {
            recount.tasks += 1;
            *recount.states.entry(task.state().label()).or_default() += 1;
            recount
                .jobs
                .entry(task.id().job().to_string())
                .or_default()
                .push(task.state());
            let error = proto::TaskStatus::from(task).error;
            if task.state() == StateKind::Killed {
                recount.cancelled += u64::from(error == cluster::CANCEL_REASON);
                // Stopped by the job-end rule: with the job's error as the reason, Iris's words
                // (or the state's fallback, for a job without an error).
                let job = outcome.table.job(task.id().job()).unwrap();
                let reason = job.error().unwrap_or(match job.state() {
                    JobState::Failed => "Job failed",
                    JobState::Killed => "Job was terminated.",
                    JobState::Unschedulable => "Job could not be scheduled.",
                    JobState::WorkerFailed => "Preemption budget exhausted",
                    _ => "(a job that has not ended stops nothing)",
                });
                recount.stopped_with_job +=
                    u64::from(error != cluster::CANCEL_REASON && error == reason);
            }
            recount.stopped_with_gang += u64::from(task.state() == StateKind::CoschedFailed);
            recount.unschedulable += u64::from(task.state() == StateKind::Unschedulable);
            if let Some(latest) = task.latest_time() {
                recount.latest_ms = recount.latest_ms.max(latest.as_millis());
            }
            let attempts = task.attempts();
            for (n, attempt) in attempts.iter().enumerate() {
                recount.attempts += 1;
                let started = attempt.started_at().is_some();
                let error = attempt.error().unwrap_or("");
                match attempt.state() {
                    StateKind::Failed => recount.failures += 1,
                    StateKind::WorkerFailed | StateKind::Preempted if started => {
                        recount.preemptions += 1
                    }
                    StateKind::WorkerFailed => recount.dispatch_failures += 1,
                    _ => {}
                }
                let by_scheduler =
                    attempt.state() == StateKind::Preempted && error == cluster::PREEMPT_REASON;
                recount.scheduler_preemptions += u64::from(by_scheduler);
                let stopped = by_scheduler
                    || attempt.state() == StateKind::CoschedFailed
                    || (attempt.state() == StateKind::Killed && !attempt.is_killed_on_worker());
                recount.stopped_by_controller += u64::from(stopped);
                // A gang stop that ended the task closed its last attempt with the task's own
                // time and error; any other COSCHED_FAILED attempt was a requeue with the gang.
                let ended_with_it = n + 1 == attempts.len()
                    && task.state() == StateKind::CoschedFailed
                    && attempt.error() == Some(proto::TaskStatus::from(task).error.as_str())
                    && attempt.finished_at().map(|at| at.as_millis())
                        == proto::TaskStatus::from(task).finished_at_ms;
                recount.requeued_with_gang +=
                    u64::from(attempt.state() == StateKind::CoschedFailed && !ended_with_it);
                if matches!(attempt.state(), StateKind::Succeeded | StateKind::Failed) {
                    recount.ended_by_report += 1;
                }
                recount.started += u64::from(started);
                recount.rpc_failed += u64::from(error.starts_with(cluster::RPC_FAILED_PREFIX));
                recount.deadline += u64::from(error == DISPATCH_DEADLINE_ERROR);
                if error == cluster::WORKER_DIED_ERROR {
                    recount.worker_died += 1;
                    recount.worker_died_unconfirmed += u64::from(!started);
                    let at = attempt.finished_at().map_or(-1, |at| at.as_millis());
                    recount
                        .deaths_seen
                        .insert((attempt.worker().as_str().to_owned(), at));
                }
            }
        }
        recount
    }

    /// The events the controller itself handed the table: assignments (one per attempt),
    /// RunTask failures, dispatch deadlines, workers lost, the user's cancels, scheduling
    /// timeouts and the scheduler's preemptions. Each changed a task. Every other event was a
    /// delivered report. (Gang siblings and tasks stopped with their job changed too, in the
    /// same calls: follow-on changes, not events.)
    fn controller_events(&self) -> u64 {
        self.attempts
            + self.rpc_failed
            + self.deadline
            + self.worker_died
            + self.cancelled
            + self.unschedulable
            + self.scheduler_preemptions
    }
}

/// The numbers in `text`, in order: `1,234` is 1234, `12.5` is 12.5.
fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .map(|word| word.trim_matches(|c| c == ',' || c == '.').replace(',', ""))
        .filter(|word| !word.is_empty())
        .map(|word| {
            word.parse()
                .unwrap_or_else(|_| panic!("{word:?} in {text:?}"))
        })
        .collect()
}

/// The one line of `report` that starts with `prefix`, and its numbers.
fn line<'a>(report: &'a str, prefix: &str) -> (&'a str, Vec<f64>) {
    let mut lines = report.lines().filter(|line| line.starts_with(prefix));
    let found = lines
        .next()
        .unwrap_or_else(|| panic!("no line starts with {prefix:?} in\n{report}"));
    assert!(lines.next().is_none(), "two lines start with {prefix:?}");
    (found, numbers(found))
}

fn check_report(outcome: &cluster::Outcome) {
    let text = report::report(outcome);
    let stats = &outcome.stats;
    let recount = Recount::of(outcome);
    let controller = recount.controller_events();
    let context = format!("seed {}:\n{text}", outcome.config.seed);
    let whole = |n: u64| n as f64;

    // iris-task simulation: T tasks in J jobs on W workers, seed S
    let (_, figures) = line(&text, "iris-task simulation:");
    let jobs = recount.jobs.len() as u64;
    let expected = [
        recount.tasks,
        jobs,
        outcome.config.workers as u64,
        outcome.config.seed,
    ];
    assert_eq!(figures, expected.map(whole), "{context}");

    // C s of cluster time in W s of wall time (S s of it setting up): E events, R events/s
    let (header, figures) = line(
        &text,
        &format!(
            "{:.1} s of cluster time",
            stats.simulated_ms as f64 / 1000.0
        ),
    );
    let [cluster_s, wall_s, setup_s, events, rate] = figures[..] else {
        panic!("{header}");
    };
    // The run stopped at the tick in which the last task ended.
    assert_eq!(stats.simulated_ms % cluster::TICK_MS, 0, "{context}");
    assert!(
        recount.latest_ms <= stats.simulated_ms
            && recount.latest_ms > stats.simulated_ms - cluster::TICK_MS,
        "the last change at {} ms, the run ended at {} ms\n{context}",
        recount.latest_ms,
        stats.simulated_ms
    );
    assert_eq!(cluster_s, stats.simulated_ms as f64 / 1000.0, "{context}");
    let wall = outcome.wall.as_secs_f64();
    assert!((wall_s - wall).abs() <= 0.005 + 1e-9, "{context}");
    assert!(
        (setup_s - outcome.setup.as_secs_f64()).abs() <= 0.005 + 1e-9,
        "{context}"
    );
    assert!(outcome.setup <= outcome.wall, "{context}");
    assert_eq!(events, whole(stats.events), "{context}");
    assert_eq!(
        stats.events,
        controller + stats.reports_delivered,
        "every event is the controller's or a delivered report\n{context}"
    );
    assert!(
        (rate - stats.events as f64 / wall).abs() <= 1.0,
        "events/s is events over the whole wall time\n{context}"
    );
    // The sweep script reads the figure just before "events/s".
    let parsed = header
        .split(" events/s")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .map(|figure| figure.replace(',', "").parse::<f64>());
    assert_eq!(parsed, Some(Ok(rate)), "{header}");

    // One row per state, and ASSIGNED's peak.
    for (state, count) in outcome.table.counts().iter() {
        let (_, figures) = line(&text, &format!("{} ", state.label()));
        let recounted = recount.states.get(state.label()).copied().unwrap_or(0);
        assert_eq!(
            figures.first(),
            Some(&whole(recounted)),
            "{state}\n{context}"
        );
        assert_eq!(count as u64, recounted, "{state}");
        if state == StateKind::Assigned {
            let peak = stats.peak_assigned;
            assert_eq!(
                figures[1..],
                [whole(peak as u64), stats.peak_at_ms as f64 / 1000.0],
                "{context}"
            );
            // The peak cannot be recounted from the final table: it must agree with the counts
            // taken at the time, fit the cluster, and fall on a tick of the run.
            assert_eq!(stats.peak_counts.get(StateKind::Assigned), peak);
            assert_eq!(stats.peak_counts.total() as u64, recount.tasks);
            assert!(peak > 0 && peak <= outcome.config.workers * cluster::SLOTS_PER_WORKER);
            assert_eq!(stats.peak_at_ms % cluster::TICK_MS, 0);
            assert!(stats.peak_at_ms > 0 && stats.peak_at_ms <= stats.simulated_ms);
        }
    }
    assert_eq!(
        recount.states.values().sum::<u64>(),
        recount.tasks,
        "{context}"
    );

    // One row per job: tasks, derived state, and the terminal counts.
    for job in &outcome.jobs {
        let (row, _) = line(&text, &format!("{} ", job.id.as_str()));
        let words: Vec<&str> = row.split_whitespace().filter(|w| *w != "/").collect();
        let counts: StateCounts = recount
            .jobs
            .get(job.id.as_str())
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let state = outcome
            .table
            .job_state(&job.id)
            .expect("the table keeps every job");
        let expected: Vec<String> = [
            job.id.as_str().to_owned(),
            report::thousands(counts.total() as u64),
            state.label().to_owned(),
        ]
        .into_iter()
        .chain(
            [
                StateKind::Succeeded,
                StateKind::Failed,
                StateKind::Killed,
                StateKind::WorkerFailed,
                StateKind::Unschedulable,
                StateKind::Preempted,
                StateKind::CoschedFailed,
            ]
            .map(|state| counts.get(state).to_string()),
        )
        .collect();
        assert_eq!(words, expected, "{context}");
        assert_eq!(counts.total() as u64, u64::from(job.size), "{}", job.id);
        let ids: Vec<String> = job.task_ids().map(|id| id.to_string()).collect();
        let in_table = outcome
            .table
            .iter()
            .filter(|task| task.id().job() == &job.id)
            .map(|task| task.id().to_string());
        assert_eq!(ids, in_table.collect::<Vec<_>>(), "{}", job.id);
        if job.oversized {
            assert_eq!(state.label(), "unschedulable", "{}", job.id);
        }
        if job.cancelled {
            assert_eq!(state.label(), "killed", "{}", job.id);
        }
    }
    let job_ids: BTreeSet<&str> = outcome.jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(
        job_ids,
        recount.jobs.keys().map(String::as_str).collect(),
        "{context}"
    );

    // attempts A; failures charged F; preemptions charged P
    let (_, figures) = line(&text, "attempts ");
    let expected = [recount.attempts, recount.failures, recount.preemptions];
    assert_eq!(figures, expected.map(whole), "{context}");
    // The tasks' own derived counts agree with the attempts.
    let failure_count: u64 = outcome
        .table
        .iter()
        .map(|t| u64::from(t.failure_count()))
        .sum();
    let preemption_count: u64 = outcome
        .table
        .iter()
        .map(|t| u64::from(t.preemption_count()))
        .sum();
    assert_eq!(
        (failure_count, preemption_count),
        (recount.failures, recount.preemptions)
    );

    // dispatch failures requeued free of charge D: R RPC failed, L deadline passed, W died
    let (_, figures) = line(&text, "dispatch failures requeued free of charge ");
    let expected = [
        recount.dispatch_failures,
        recount.rpc_failed,
        recount.deadline,
        recount.worker_died_unconfirmed,
    ];
    assert_eq!(figures, expected.map(whole), "{context}");
    assert_eq!(
        recount.dispatch_failures,
        recount.rpc_failed + recount.deadline + recount.worker_died_unconfirmed,
        "every free requeue had one of the three causes\n{context}"
    );

    // worker deaths N: a death leaves a trace in the table only if the worker held tasks.
    let (_, figures) = line(&text, "worker deaths ");
    assert_eq!(figures, [whole(stats.worker_deaths)], "{context}");
    assert!(
        recount.deaths_seen.len() as u64 <= stats.worker_deaths,
        "{context}"
    );
    assert!(
        stats.worker_deaths <= (stats.simulated_ms / cluster::TICK_MS) as u64,
        "at most one death per tick\n{context}"
    );
    if stats.reports_never_sent > 0 || recount.worker_died > 0 {
        assert!(stats.worker_deaths > 0, "{context}");
    }

    // scheduler preemptions P for the priority job; stop orders O, each answered KILLED
    let (_, figures) = line(&text, "scheduler preemptions ");
    let expected = [recount.scheduler_preemptions, recount.stopped_by_controller];
    assert_eq!(figures, expected.map(whole), "{context}");
    assert_eq!(stats.scheduler_preemptions, recount.scheduler_preemptions);
    assert_eq!(stats.stop_orders, recount.stopped_by_controller);

    // gangs: R sibling attempts requeued, S stopped with their gang; K stopped because their job
    // ended; C cancelled
    let (_, figures) = line(&text, "gangs: ");
    let expected = [
        recount.requeued_with_gang,
        recount.stopped_with_gang,
        recount.stopped_with_job,
        recount.cancelled,
    ];
    assert_eq!(figures, expected.map(whole), "{context}");
    assert_eq!(
        recount.cancelled + recount.stopped_with_job,
        *recount.states.get("killed").unwrap_or(&0),
        "every kill was the user's or the job-end rule's\n{context}"
    );
    // Each follow-on change moved a sibling or stopped a task of an ended job; a task moved
    // twice in one call (requeued, then stopped) is one change of that call.
    let follow_on =
        recount.requeued_with_gang + recount.stopped_with_gang + recount.stopped_with_job;
    assert!(
        stats.follow_on_changes <= follow_on && stats.follow_on_changes > 0,
        "{} follow-on changes, {follow_on} recounted\n{context}",
        stats.follow_on_changes
    );

    // events E: C changed a task, D duplicates absorbed, S stale rejected, O other rejected
    let (_, figures) = line(&text, "events ");
    let expected = [
        stats.events,
        stats.changes,
        stats.duplicates_absorbed,
        stats.stale_rejected,
        stats.other_rejected,
    ];
    assert_eq!(figures, expected.map(whole), "{context}");
    assert_eq!(
        stats.events,
        stats.changes + stats.duplicates_absorbed + stats.stale_rejected + stats.other_rejected,
        "{context}"
    );
    // Every controller event changed a task; the other changes were reports. A report starts
    // an attempt (BUILDING, RUNNING, or an end that skips them), may move it from BUILDING to
    // RUNNING, and may end it.
    let report_changes = stats.changes - controller;
    assert!(
        report_changes >= recount.started
            && report_changes <= 2 * recount.started + recount.ended_by_report,
        "{report_changes} changes by reports, {} attempts started\n{context}",
        recount.started
    );
    assert!(recount.ended_by_report <= recount.started, "{context}");

    // reports Q: D delivered, N never sent, F still in flight at the end
    let (_, figures) = line(&text, "reports ");
    let expected = [
        stats.reports_queued,
        stats.reports_delivered,
        stats.reports_never_sent,
        stats.reports_in_flight,
    ];
    assert_eq!(figures, expected.map(whole), "{context}");
    assert_eq!(
        stats.reports_queued,
        stats.reports_delivered + stats.reports_never_sent + stats.reports_in_flight,
        "{context}"
    );
    // A started attempt's worker queued at least RUNNING and an end; a confirmed dispatch at most
    // BUILDING, RUNNING, an end and the KILLED answer to a stop order, each maybe twice.
    assert!(stats.reports_queued >= 2 * recount.started, "{context}");
    assert!(
        stats.reports_queued <= 8 * (recount.attempts - recount.rpc_failed),
        "{context}"
    );

    // The run's own counters agree with the recount where the table can tell.
    assert_eq!(stats.dispatch_failures_requeued, recount.dispatch_failures);
    assert_eq!(stats.dispatch_rpc_failed, recount.rpc_failed);
    assert_eq!(stats.dispatch_deadline_requeued, recount.deadline);
    assert_eq!(stats.dispatch_worker_died, recount.worker_died_unconfirmed);

    assert!(outcome.violations.is_empty(), "{context}");
    assert!(text.contains("\ninvariants hold: "), "{context}");
}

#[test]
fn the_dashboard_shows_each_state_with_its_class_and_count() {
    let outcome = small(3);
    let page = dashboard::html(&outcome);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("<script"),
        "self-contained"
    );
    for state in StateKind::ALL {
        let class = state.css_class();
        assert!(
            page.contains(&format!(
                ".bar div.{class} {{ background: {};",
                state.color()
            )),
            "{class}"
        );
        let count = outcome.table.counts().get(state);
        let row = format!(
            "<span class=\"state {class}\">{}</span></td><td class=\"n\" data-state=\"{}\">{count}</td>",
            state.label(),
            state.label()
        );
        assert!(page.contains(&row), "count row of {state}");
        if count > 0 {
            let segment = format!("title=\"{}: {count}\"", state.label());
            assert!(page.contains(&segment), "bar segment of {state}");
        }
    }
    // ASSIGNED is amber, and shows in the bar taken when it peaked.
    assert!(page.contains(".bar div.status-assigned { background: #bc4c00;"));
    let peak = page.split("id=\"bar-peak\"").nth(1).expect("a peak bar");
    let peak = peak.split("</div>\n<h2>").next().unwrap_or_default();
    assert!(peak.contains(&format!(
        "title=\"assigned: {}\"",
        outcome.stats.peak_assigned
    )));
    // One row per job, and one per task.
    for job in &outcome.jobs {
        assert!(
            page.contains(&format!("<tr><td>{}</td>", job.id.as_str())),
            "{}",
            job.id
        );
    }
    assert_eq!(
        page.matches("<tr><td>").count() - outcome.jobs.len() - StateKind::ALL.len(),
        3_000.min(dashboard::HTML_TASK_ROWS)
    );
}

/// The README's durable run: `--crash-after` aborts the process mid-tick (in a child: the test
/// binary, run again), and running again on the same store resumes from what was committed and
/// finishes with every task present and ended, and the invariants holding.
#[cfg(all(feature = "sqlite", unix))]
mod durable {
    use super::cluster;

    fn config(path: &std::path::Path, crash_after: Option<u64>) -> cluster::Config {
        cluster::Config {
            tasks: 3_000,
            workers: 24,
            seed: 5,
            store: Some(cluster::StoreAt::Sqlite(path.to_owned())),
            crash_after,
        }
    }

    #[test]
    fn crashing_child() {
        if let Ok(path) = std::env::var("IRIS_SIMULATE_CRASH_STORE") {
            cluster::run(&config(path.as_ref(), Some(400)), &mut |_, _| {});
            unreachable!("the run aborts in tick 400");
        }
    }

    #[test]
    fn a_run_that_crashed_resumes_from_its_store_and_loses_no_task() {
        let dir = std::env::temp_dir().join(format!("iris-task-simulate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.db");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "durable::crashing_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("IRIS_SIMULATE_CRASH_STORE", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(6),
            "the child died of SIGABRT (abort), not of a failure: {status:?}"
        );
        let outcome = cluster::run(&config(&path, None), &mut |_, _| {});
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        assert_eq!(outcome.table.len(), 3_000, "no task lost");
        let resumed = outcome.stats.resumed_at_ms.expect("it resumed");
        // Tick 400's calls (at 40 s) were applied in memory and never committed.
        assert!(
            resumed > 0 && resumed < 400 * cluster::TICK_MS,
            "resumed at {resumed} ms, from what ticks before 400 committed"
        );
        assert!(outcome.stats.commits > 0);
        assert!(
            outcome.stats.commits <= outcome.stats.batches,
            "a batch commits at most once"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
