//! `TaskTable` costs, each measured beside its baseline in the same run: the lifecycle per task at
//! 10k, 100k and 1M tasks against a plain `HashMap` of hand-written tasks, `pending()` on a
//! mostly-assigned million against a table of only the pending tasks, and memory per assigned task
//! at several sizes against hand-written tasks in a `Vec` with a `HashMap<TaskId, usize>` index.

mod common;

use std::collections::HashMap;
use std::hint::black_box;

use common::{HandTask, hand_events, lifecycle_events};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};

const WORKERS: usize = 1_000;

fn task_ids(count: usize) -> Vec<TaskId> {
    let jobs: Vec<JobId> = (0..16)
        .map(|j| JobId::new(format!("bench/job-{j}")).expect("valid job id"))
        .collect();
    (0..count)
        .map(|n| TaskId::new(jobs[n % jobs.len()].clone(), (n / jobs.len()) as u32))
        .collect()
}

fn workers() -> Vec<WorkerId> {
    (0..WORKERS)
        .map(|w| WorkerId::new(format!("worker-{w:04}")).expect("valid worker id"))
        .collect()
}

fn pending_table(ids: &[TaskId]) -> TaskTable {
    let mut table = TaskTable::new();
    for id in ids {
        table
            .insert(Task::new(id.clone(), RetryPolicy::default()))
            .expect("unique id");
    }
    table
}

fn hand_map(ids: &[TaskId]) -> HashMap<TaskId, HandTask> {
    ids.iter()
        .map(|id| {
            (
                id.clone(),
                HandTask::new(id.clone(), RetryPolicy::default()),
            )
        })
        .collect()
}

/// Assign, RUNNING, SUCCEEDED for every task: the table's bookkeeping (pending queue, worker
/// lists, assignment order, counts) against a bare map doing the same transitions.
fn lifecycle_per_task(c: &mut Criterion) {
    let workers = workers();
    for size in [10_000, 100_000, 1_000_000] {
        let ids = task_ids(size);
        let mut group = c.benchmark_group(format!("table lifecycle/{size} tasks"));
        group.throughput(Throughput::Elements(size as u64));
        group.sample_size(10);
        group.bench_function("HashMap<TaskId, hand-written> (baseline)", |b| {
            b.iter_batched(
                || hand_map(&ids),
                |mut map| {
                    for (n, id) in ids.iter().enumerate() {
                        let worker = workers[n % WORKERS].clone();
                        let events = hand_events(worker);
                        for event in black_box(events) {
                            if let Some(task) = map.get_mut(id) {
                                black_box(task.apply(event).ok());
                            }
                        }
                    }
                    map
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function("TaskTable", |b| {
            b.iter_batched(
                || pending_table(&ids),
                |mut table| {
                    for (n, id) in ids.iter().enumerate() {
                        let worker = workers[n % WORKERS].clone();
                        let events = lifecycle_events(worker);
                        for event in black_box(events) {
                            black_box(table.apply(id, event).ok());
                        }
                    }
                    table
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

/// A table of `total` tasks of which only `pending` wait, spread evenly through it; the others are
/// ASSIGNED over the workers.
fn mostly_assigned(total: usize, pending: usize) -> TaskTable {
    let workers = workers();
    let mut table = TaskTable::new();
    let stride = total / pending.max(1);
    for (n, id) in task_ids(total).into_iter().enumerate() {
        let task = Task::new(id, RetryPolicy::default());
        if n % stride == stride / 2 {
            table.insert(task).expect("unique id");
        } else {
            let assigned = task.assign(
                workers[n % WORKERS].clone(),
                Timestamp::from_millis(n as i64),
            );
            table.insert(assigned).expect("unique id");
        }
    }
    table
}

fn pending(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending()");
    let only_pending = mostly_assigned(10, 10);
    let million = mostly_assigned(1_000_000, 10);
    assert_eq!(only_pending.pending().count(), 10);
    assert_eq!(million.pending().count(), 10);
    group.bench_function("10 pending of 10 (baseline)", |b| {
        b.iter(|| {
            black_box(&only_pending)
                .pending()
                .map(|t| t.id().index())
                .sum::<u32>()
        })
    });
    group.bench_function("10 pending of 1,000,000", |b| {
        b.iter(|| {
            black_box(&million)
                .pending()
                .map(|t| t.id().index())
                .sum::<u32>()
        })
    });
    group.finish();
}

/// Resident memory of this process, from /proc (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The table sizes memory is measured at: around the points where a hash map has just doubled
/// (about 917k entries fill 1M buckets at hashbrown's 7/8 load) and between them, so that no size
/// flatters either side.
const MEMORY_SIZES: [usize; 4] = [100_000, 700_000, 1_000_000, 3_000_000];

/// Builds one structure of `size` assigned tasks and prints its memory per task: the growth of
/// resident memory while it is built. Runs in a child process of its own, so that memory another
/// structure freed (which the allocator keeps) does not hide the growth.
fn measure_memory(what: &str, size: usize) {
    let ids = task_ids(size);
    let workers = workers();
    let Some(before) = resident_bytes() else {
        println!("not measurable here (no /proc/self/statm)");
        return;
    };
    let built: Box<dyn std::any::Any> = match what {
        // The fair baseline: hand-written tasks in a vector, found through a map from id to
        // position, as a controller without this crate would keep them.
        "vec+index" => {
            let mut tasks: Vec<HandTask> = Vec::new();
            let mut index: HashMap<TaskId, usize> = HashMap::new();
            for id in &ids {
                index.insert(id.clone(), tasks.len());
                tasks.push(HandTask::new(id.clone(), RetryPolicy::default()));
            }
            for (n, id) in ids.iter().enumerate() {
                if let Some(task) = index.get(id).and_then(|&at| tasks.get_mut(at)) {
                    let _ = task.assign(workers[n % WORKERS].clone(), Timestamp::from_millis(1));
                }
            }
            Box::new((tasks, index))
        }
        _ => {
            let mut table = pending_table(&ids);
            for (n, id) in ids.iter().enumerate() {
                let _ = table.assign(id, workers[n % WORKERS].clone(), Timestamp::from_millis(1));
            }
            Box::new(table)
        }
    };
    let after = resident_bytes().unwrap_or(before);
    println!("{}", after.saturating_sub(before) / size as u64);
    drop(built);
}

fn memory_per_task() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    for size in MEMORY_SIZES {
        for (what, name) in [
            (
                "vec+index",
                "Vec<hand-written> + HashMap<TaskId, usize> (baseline)",
            ),
            ("table", "TaskTable"),
        ] {
            let output = std::process::Command::new(&exe)
                .env("IRIS_BENCH_MEMORY", what)
                .env("IRIS_BENCH_MEMORY_SIZE", size.to_string())
                .output();
            match output {
                Ok(output) => println!(
                    "memory per assigned task in a table of {size}/{name}: {} bytes",
                    String::from_utf8_lossy(&output.stdout).trim()
                ),
                Err(err) => println!("memory/{size}/{name}: {err}"),
            }
        }
    }
}

criterion_group!(benches, lifecycle_per_task, pending);

fn main() {
    if let Ok(what) = std::env::var("IRIS_BENCH_MEMORY") {
        let size = std::env::var("IRIS_BENCH_MEMORY_SIZE")
            .ok()
            .and_then(|size| size.parse().ok())
            .unwrap_or(1_000_000);
        measure_memory(&what, size);
        return;
    }
    memory_per_task();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
