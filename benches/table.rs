//! `TaskTable` costs, each measured beside its baseline in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use iris_task::{JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId};

/// A table of `total` tasks of which only `pending` wait, spread evenly through it; the others are
/// ASSIGNED over 1,000 workers.
fn mostly_assigned(total: u32, pending: u32) -> TaskTable {
    let job = JobId::new("bench").expect("valid job id");
    let workers: Vec<WorkerId> = (0..1_000)
        .map(|w| WorkerId::new(format!("worker-{w}")).expect("valid worker id"))
        .collect();
    let mut table = TaskTable::new();
    let stride = total / pending.max(1);
    for index in 0..total {
        let task = Task::new(TaskId::new(job.clone(), index), RetryPolicy::default());
        if index % stride == stride / 2 {
            table.insert(task).expect("unique id");
        } else {
            let worker = workers[index as usize % workers.len()].clone();
            table
                .insert(task.assign(worker, Timestamp::from_millis(i64::from(index))))
                .expect("unique id");
        }
    }
    table
}

fn pending(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending");
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

criterion_group!(benches, pending);
criterion_main!(benches);
