//! The live dashboard: one HTML page that reads `/api/state` twice a second and redraws itself
//! (the state counts with ASSIGNED as its own bucket, a chart of tasks per state over time, the
//! jobs), without a reload. Served by axum on its own address, from the snapshot the writer
//! thread publishes; it never touches the table itself.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use iris_task::StateKind;
use serde_json::{Value, json};

use crate::reconcile::Rounds;
use crate::state::Snapshot;

/// The snapshot the writer publishes.
pub type Shared = Arc<Mutex<Arc<Snapshot>>>;

/// The dashboard's routes: `/` (the page), `/api/state` (its data, JSON) and `/api/rounds`
/// (the Reconcile rounds' p50 and p99 so far, for the load figures).
pub fn router(snapshot: Shared, rounds: Arc<Mutex<Rounds>>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .with_state(snapshot)
        .route(
            "/api/rounds",
            get(move || {
                let rounds = Arc::clone(&rounds);
                async move { axum::Json(percentiles(&rounds)) }
            }),
        )
}

/// The rounds' count, p50 and p99 in microseconds.
fn percentiles(rounds: &Mutex<Rounds>) -> Value {
    let mut micros = rounds.lock().map(|r| r.micros.clone()).unwrap_or_default();
    micros.sort_unstable();
    let at = |q: f64| {
        let index = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros.get(index).copied().unwrap_or(0)
    };
    json!({"rounds": micros.len(), "p50_us": at(0.5), "p99_us": at(0.99)})
}

async fn page() -> Html<String> {
    // The states, their labels and colours come from the crate: one row per state there.
    let states: Vec<Value> = StateKind::ALL
        .iter()
        .map(|state| json!({"label": state.label(), "class": state.css_class(), "color": state.color()}))
        .collect();
    Html(PAGE.replace("/*STATES*/[]", &Value::Array(states).to_string()))
}

/// The snapshot as JSON.
pub fn to_json(snapshot: &Snapshot) -> Value {
    let counts = |counts: &[(StateKind, usize)]| -> Value {
        counts
            .iter()
            .map(|(state, count)| (state.label().to_owned(), json!(count)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({
        "counts": counts(&snapshot.counts),
        "total": snapshot.counts.iter().map(|(_, count)| count).sum::<usize>(),
        "workers": snapshot.workers,
        "commits": snapshot.commits,
        "jobs": snapshot.jobs.iter().map(|job| json!({
            "id": job.id, "state": job.state, "counts": counts(&job.counts),
        })).collect::<Vec<_>>(),
        "more_jobs": snapshot.more_jobs,
        "history": snapshot.history.iter().map(|sample| json!({
            "at": sample.at.as_millis(), "counts": sample.counts,
        })).collect::<Vec<_>>(),
    })
}

async fn state(State(snapshot): State<Shared>) -> impl IntoResponse {
    let current = snapshot
        .lock()
        .map(|shared| Arc::clone(&shared))
        .unwrap_or_default();
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(to_json(&current)),
    )
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iris-task controller</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 24px; color: #1f2328; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .meta { color: #59636e; margin-bottom: 16px; }
  .buckets { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 16px; }
  .bucket { border-radius: 6px; padding: 8px 12px; color: white; min-width: 90px; }
  .bucket .count { font-size: 22px; font-weight: 600; display: block; }
  svg { border: 1px solid #d1d9e0; border-radius: 6px; background: #fff; }
  table { border-collapse: collapse; margin-top: 16px; }
  th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #d1d9e0; }
  .pill { border-radius: 10px; padding: 1px 8px; color: white; font-size: 12px; margin-right: 4px; }
  .legend span { margin-right: 12px; }
</style>
</head>
<body>
<h1>iris-task controller</h1>
<div class="meta" id="meta">connecting…</div>
<div class="buckets" id="buckets"></div>
<svg id="chart" width="900" height="260" viewBox="0 0 900 260"></svg>
<div class="legend" id="legend"></div>
<table><thead><tr><th>job</th><th>state</th><th>tasks</th></tr></thead><tbody id="jobs"></tbody></table>
<script>
const STATES = /*STATES*/[];
const color = Object.fromEntries(STATES.map(s => [s.label, s.color]));
const buckets = document.getElementById("buckets");
for (const s of STATES) {
  const div = document.createElement("div");
  div.className = "bucket " + s.class;
  div.id = s.class;
  div.style.background = s.color;
  div.innerHTML = '<span class="count">0</span>' + s.label;
  buckets.appendChild(div);
}
document.getElementById("legend").innerHTML =
  STATES.map(s => `<span style="color:${s.color}">■ ${s.label}</span>`).join("");

function text(value) { const t = document.createElement("span"); t.textContent = value; return t.innerHTML; }

function draw(history) {
  const svg = document.getElementById("chart");
  const W = 900, H = 260, pad = 30;
  if (history.length < 2) { svg.innerHTML = ""; return; }
  const t0 = history[0].at, t1 = history[history.length - 1].at;
  const max = Math.max(1, ...history.flatMap(h => h.counts));
  const x = t => pad + (W - 2 * pad) * (t - t0) / Math.max(1, t1 - t0);
  const y = c => H - pad - (H - 2 * pad) * c / max;
  let out = `<text x="4" y="16" font-size="11">${max}</text><text x="4" y="${H - pad}" font-size="11">0</text>` +
    `<text x="${pad}" y="${H - 8}" font-size="11">${((t1 - t0) / 1000).toFixed(0)} s ago</text>` +
    `<text x="${W - pad}" y="${H - 8}" font-size="11" text-anchor="end">now</text>`;
  STATES.forEach((s, i) => {
    if (!history.some(h => h.counts[i] > 0)) return;
    const points = history.map(h => `${x(h.at).toFixed(1)},${y(h.counts[i]).toFixed(1)}`).join(" ");
    out += `<polyline class="line-${s.label}" fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`;
  });
  svg.innerHTML = out;
}

async function refresh() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    const state = await response.json();
    for (const s of STATES) {
      document.querySelector("#" + s.class + " .count").textContent = state.counts[s.label] ?? 0;
    }
    document.getElementById("meta").textContent =
      `${state.total} tasks · ${state.workers} workers · ${state.commits} commits · updated ${new Date().toLocaleTimeString()}`;
    document.getElementById("jobs").innerHTML = state.jobs.map(job =>
      `<tr id="job-${text(job.id)}"><td>${text(job.id)}</td><td>${text(job.state)}</td><td>` +
      Object.entries(job.counts).map(([label, n]) =>
        `<span class="pill status-${label}" style="background:${color[label]}">${label} ${n}</span>`).join("") +
      `</td></tr>`).join("") +
      (state.more_jobs ? `<tr><td colspan="3">and ${state.more_jobs} more jobs</td></tr>` : "");
    draw(state.history);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (err) {
    document.getElementById("meta").textContent = "controller unreachable: " + err;
  }
}
refresh();
setInterval(refresh, 500);
</script>
</body>
</html>
"##;
