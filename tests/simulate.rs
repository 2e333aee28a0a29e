//! Small runs of the `simulate` example: its invariants hold for several seeds, its faults really
//! happen, it is deterministic, and its dashboard shows the right classes and counts.

#[path = "../examples/simulate/sim.rs"]
#[allow(dead_code)]
mod sim;

use iris_task::StateKind;

fn small(seed: u64) -> sim::Outcome {
    let config = sim::Config {
        tasks: 3_000,
        workers: 24,
        seed,
    };
    sim::run(&config, &mut |_, _| {})
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
        assert_eq!(
            counts.get(StateKind::Unschedulable),
            30,
            "seed {seed}: the oversized job"
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
        assert!(
            stats.dispatch_failures_requeued > 0,
            "seed {seed}: {stats:?}"
        );
        assert!(stats.duplicates_absorbed > 0, "seed {seed}: {stats:?}");
        assert!(stats.peak_assigned > 0, "seed {seed}: {stats:?}");
        assert!(stats.reports_sent > 0, "seed {seed}: {stats:?}");
    }
}

#[test]
fn workers_die_and_late_reports_go_stale_over_a_longer_run() {
    let outcome = sim::run(
        &sim::Config {
            tasks: 20_000,
            workers: 100,
            seed: 7,
        },
        &mut |_, _| {},
    );
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(outcome.stats.worker_deaths > 0, "{:?}", outcome.stats);
    assert!(outcome.stats.stale_rejected > 0, "{:?}", outcome.stats);
    let preemptions: u32 = outcome.table.iter().map(|t| t.preemption_count()).sum();
    assert!(preemptions > 0);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = small(11);
    let second = small(11);
    assert_eq!(first.stats, second.stats);
    assert_eq!(first.table.counts(), second.table.counts());
    let states = |outcome: &sim::Outcome| -> Vec<(String, StateKind, usize)> {
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
fn the_dashboard_shows_each_state_with_its_class_and_count() {
    let outcome = small(3);
    let page = sim::html(&outcome);
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
        3_000.min(sim::HTML_TASK_ROWS)
    );
}
