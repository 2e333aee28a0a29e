//! The self-contained HTML dashboard `cargo run --release --example simulate -- --html PATH`
//! writes: the state counts as bars (at the end, and when ASSIGNED peaked), a row per job, and a
//! task table, each state in its `status-<label>` class and colour. No scripts, no network.

use std::fmt::Write as _;

use iris_task::{StateCounts, StateKind};

use crate::cluster::Outcome;
use crate::report::job_state;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The counts as one bar, a segment per non-empty state in its colour.
fn bar(out: &mut String, counts: &StateCounts, name: &str) {
    let total = counts.total().max(1);
    let _ = writeln!(out, "<div class=\"bar\" id=\"bar-{name}\">");
    for (state, count) in counts.iter().filter(|(_, count)| *count > 0) {
        let _ = writeln!(
            out,
            "<div class=\"{class}\" style=\"width: {width:.3}%\" title=\"{label}: {count}\">{label}: {count}</div>",
            class = state.css_class(),
            width = count as f64 * 100.0 / total as f64,
            label = state.label(),
        );
    }
    let _ = writeln!(out, "</div>");
}

/// The most task rows the dashboard lists.
pub const HTML_TASK_ROWS: usize = 2_000;

/// A self-contained dashboard page: no scripts, no network.
pub fn html(outcome: &Outcome) -> String {
    let table = &outcome.table;
    let counts = table.counts();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>iris-task simulation, seed {}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         td, th {{ padding: 2px 10px; border-bottom: 1px solid #d0d7de; text-align: left; }}\n\
         td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .bar {{ display: flex; height: 28px; width: 100%; border-radius: 4px; overflow: hidden; }}\n\
         .bar div {{ color: white; font-size: 12px; line-height: 28px; padding-left: 4px; overflow: hidden; white-space: nowrap; }}\n\
         .state {{ font-weight: 600; }}\n",
        outcome.config.seed
    );
    for state in StateKind::ALL {
        let _ = writeln!(
            out,
            ".bar div.{class} {{ background: {color}; }}\nspan.{class} {{ color: {color}; }}",
            class = state.css_class(),
            color = state.color()
        );
    }
    let _ = writeln!(out, "</style>\n</head>\n<body>");
    let _ = writeln!(
        out,
        "<h1>iris-task simulation</h1>\n<p>{} tasks in {} jobs on {} workers, seed {}; {:.1} s of cluster time.</p>",
        table.len(),
        outcome.jobs.len(),
        outcome.config.workers,
        outcome.config.seed,
        outcome.stats.simulated_ms as f64 / 1000.0
    );

    let _ = writeln!(
        out,
        "<h2>Tasks per state</h2>\n<p>At the end of the run:</p>"
    );
    bar(&mut out, counts, "final");
    let _ = writeln!(out, "<table class=\"counts\">");
    for (state, count) in counts.iter() {
        let _ = writeln!(
            out,
            "<tr><td><span class=\"state {}\">{}</span></td><td class=\"n\" data-state=\"{}\">{}</td></tr>",
            state.css_class(),
            state.label(),
            state.label(),
            count
        );
    }
    let _ = writeln!(
        out,
        "</table>\n<p>When ASSIGNED peaked, at {:.1} s: {} tasks matched to workers that had not confirmed yet.</p>",
        outcome.stats.peak_at_ms as f64 / 1000.0,
        outcome.stats.peak_assigned
    );
    bar(&mut out, &outcome.stats.peak_counts, "peak");

    let _ = writeln!(
        out,
        "<h2>Jobs</h2>\n<table class=\"jobs\">\n<tr><th>job</th><th>state</th>"
    );
    for state in StateKind::ALL {
        let _ = write!(out, "<th>{}</th>", state.label());
    }
    let _ = writeln!(out, "</tr>");
    for job in &outcome.jobs {
        let job_counts = table.job_counts(&job.id).cloned().unwrap_or_default();
        let state = job_state(outcome, job);
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"state status-{}\">{}</span></td>",
            escape(job.id.as_str()),
            state.label(),
            state.label()
        );
        for (_, count) in job_counts.iter() {
            let _ = write!(out, "<td class=\"n\">{count}</td>");
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table>");

    let shown = table.len().min(HTML_TASK_ROWS);
    let _ = writeln!(
        out,
        "<h2>Tasks</h2>\n<p>{shown} of {} tasks.</p>\n<table class=\"tasks\">\n<tr><th>task</th><th>state</th><th>attempts</th><th>worker</th><th>failures</th><th>preemptions</th><th>last error</th></tr>",
        table.len()
    );
    for task in table.iter().take(shown) {
        let current = task.current_attempt();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><span class=\"state {}\">{}</span></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&task.id().to_string()),
            task.state().css_class(),
            task.state().label(),
            task.attempts().len(),
            current.map_or(String::new(), |a| escape(a.worker().as_str())),
            task.failure_count(),
            task.preemption_count(),
            escape(current.and_then(|a| a.error()).unwrap_or("")),
        );
    }
    let _ = writeln!(out, "</table>\n</body>\n</html>");
    out
}
