//! `DurableTable` over SQLite against hand-written rusqlite doing the same writes, in the same
//! run, with the same pragmas (WAL, `synchronous = FULL`), on the same disk:
//!
//! - **batched**: 2,000 committed transitions in two transactions of 1,000 (1,000 assignments,
//!   then a lost worker requeues them), against the same rows (each task's row and its attempt)
//!   written by prepared statements in two transactions;
//! - **one call**: a preemption then an assignment, each in its own transaction (the task's row
//!   and an attempt), round 1,000 tasks, against transactions writing the same rows;
//! - **open**: reopening a store of `IRIS_BENCH_OPEN_TASKS` tasks (default 100,000; the README's
//!   figure is for 1,000,000), each with one closed attempt, against a bare `SELECT` of the same
//!   rows into vectors.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use iris_task::{
    DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskEvent, TaskId, Timestamp, WorkerId,
};
use rusqlite::{Connection, params};

const BATCH: usize = 1_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-task-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir.join("store.db")
}

fn ids(count: usize) -> Vec<TaskId> {
    let job = JobId::new("bench/job").expect("valid job id");
    (0..count as u32)
        .map(|n| TaskId::new(job.clone(), n))
        .collect()
}

/// The hand-written baseline: the same schema (the crate's own, created by opening a store
/// once), the same pragmas, prepared statements, and rows it builds itself.
struct Hand {
    connection: Connection,
    attempts: Vec<u32>,
}

impl Hand {
    fn open(path: &Path, tasks: &[TaskId]) -> Hand {
        drop(SqliteStore::open(path).expect("the schema"));
        let connection = Connection::open(path).expect("open");
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .expect("pragmas");
        connection
            .execute("INSERT INTO jobs (job_id, seq, max_task_failures, coscheduled) VALUES ('bench/job', 1, NULL, NULL)", [])
            .expect("job");
        let mut hand = Hand {
            connection,
            attempts: vec![0; tasks.len()],
        };
        hand.write(tasks, 1, |_| None);
        hand
    }

    /// Writes each task's row in `state`, and its current attempt if `attempt` says so, in one
    /// transaction.
    fn write(&mut self, tasks: &[TaskId], state: i32, attempt: impl Fn(usize) -> Option<i32>) {
        let transaction = self.connection.transaction().expect("begin");
        {
            let mut task = transaction
                .prepare_cached(
                    "INSERT INTO tasks (task_id, job_id, task_index, state, current_attempt_id, \
                     max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, queue_seq, assign_seq) \
                     VALUES (?1, 'bench/job', ?2, ?3, ?4, 0, 100, NULL, '', ?2, ?2, ?2) \
                     ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, \
                     current_attempt_id = excluded.current_attempt_id, queue_seq = excluded.queue_seq, \
                     assign_seq = excluded.assign_seq",
                )
                .expect("prepare");
            let mut row = transaction
                .prepare_cached(
                    "INSERT INTO task_attempts (task_id, attempt_id, worker_id, state, assigned_at_ms, \
                     started_at_ms, finished_at_ms, exit_code, error, is_worker_failure) \
                     VALUES (?1, ?2, 'worker-0001', ?3, 1, NULL, ?4, 0, '', ?5) \
                     ON CONFLICT (task_id, attempt_id) DO UPDATE SET state = excluded.state, \
                     finished_at_ms = excluded.finished_at_ms, is_worker_failure = excluded.is_worker_failure",
                )
                .expect("prepare");
            for (n, id) in tasks.iter().enumerate() {
                let name = id.to_string();
                let current = attempt(n);
                task.execute(params![
                    name,
                    n as i64,
                    state,
                    current.map_or(-1, i64::from)
                ])
                .expect("task row");
                if let Some(attempt_id) = current {
                    let closed = state == 1;
                    row.execute(params![
                        name,
                        attempt_id,
                        if closed { 7 } else { 9 },
                        closed.then_some(2),
                        closed
                    ])
                    .expect("attempt row");
                }
            }
        }
        transaction.commit().expect("commit");
    }
}

/// 1,000 assignments in one transaction, then 1,000 requeues (a lost worker) in another.
fn batched(c: &mut Criterion) {
    let tasks = ids(BATCH);
    let mut group = c.benchmark_group("store batched");
    group.throughput(Throughput::Elements(2 * BATCH as u64));
    group.sample_size(20);

    let path = scratch("batched-hand");
    let mut hand = Hand::open(&path, &tasks);
    group.bench_function("hand-written rusqlite (baseline)", |b| {
        b.iter(|| {
            let next: Vec<u32> = hand.attempts.clone();
            hand.write(&tasks, 9, |n| Some(next[n] as i32));
            hand.write(&tasks, 1, |n| Some(next[n] as i32));
            for attempt in &mut hand.attempts {
                *attempt += 1;
            }
        });
    });
    drop(hand);

    let path = scratch("batched-durable");
    let mut table = DurableTable::open(SqliteStore::open(&path).expect("store")).expect("open");
    table
        .batch(|batch| {
            for id in &tasks {
                batch
                    .insert(Task::new(id.clone(), RetryPolicy::default()))
                    .expect("insert");
            }
        })
        .expect("commit");
    let worker = WorkerId::new("worker-0001").expect("valid worker id");
    let mut t = 0;
    group.bench_function("DurableTable", |b| {
        b.iter(|| {
            t += 1;
            let at = Timestamp::from_millis(t);
            let worker = worker.clone();
            table
                .batch(|batch| black_box(batch.schedule(at, |_| Some(worker.clone()))))
                .expect("commit");
            let lost = WorkerId::new("worker-0001").expect("valid worker id");
            table
                .batch(|batch| black_box(batch.worker_lost(&lost, "lost", at)))
                .expect("commit");
        });
    });
    group.finish();
}

/// One call per transaction: a preemption (the task's row and its attempt), then an assignment
/// (its row and a new attempt), each committed on its own, against two transactions writing the
/// same rows. The calls go round 1,000 tasks, so no task piles up attempts.
fn one_call(c: &mut Criterion) {
    let tasks = ids(BATCH);
    let mut group = c.benchmark_group("store one call");
    group.throughput(Throughput::Elements(2));
    group.sample_size(20);

    let path = scratch("one-hand");
    let mut hand = Hand::open(&path, &tasks);
    let mut next = 0;
    group.bench_function("one-row transactions (baseline)", |b| {
        b.iter(|| {
            next = (next + 1) % tasks.len();
            let task = std::slice::from_ref(&tasks[next]);
            let attempt = hand.attempts[next] as i32;
            hand.write(task, 1, |_| Some(attempt));
            hand.write(task, 9, |_| Some(attempt + 1));
            hand.attempts[next] += 1;
        });
    });
    drop(hand);

    let path = scratch("one-durable");
    let mut table = DurableTable::open(SqliteStore::open(&path).expect("store")).expect("open");
    let worker = WorkerId::new("worker-0001").expect("valid worker id");
    table
        .batch(|batch| {
            for id in &tasks {
                batch
                    .insert(Task::new(id.clone(), RetryPolicy::default()))
                    .expect("insert");
                batch
                    .assign(id, worker.clone(), Timestamp::from_millis(1))
                    .expect("assign");
            }
        })
        .expect("commit");
    let (mut t, mut next) = (1, 0);
    group.bench_function("DurableTable::apply + assign", |b| {
        b.iter(|| {
            t += 1;
            next = (next + 1) % tasks.len();
            let (id, at) = (&tasks[next], Timestamp::from_millis(t));
            let preempt = TaskEvent::Preempt {
                reason: "priority".into(),
                at,
            };
            black_box(table.apply(id, preempt).expect("committed"));
            black_box(table.assign(id, worker.clone(), at).expect("committed"));
        });
    });
    group.finish();
}

/// A `tasks` row, as the baseline reads it.
type TaskColumns = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);
/// A `task_attempts` row, as the baseline reads it.
type AttemptColumns = (
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    i64,
);

/// Reopening a store of many tasks against a bare SELECT of its rows.
fn open(c: &mut Criterion) {
    let count: usize = std::env::var("IRIS_BENCH_OPEN_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let path = scratch("open");
    {
        let mut table = DurableTable::open(SqliteStore::open(&path).expect("store")).expect("open");
        let tasks = ids(count);
        let worker = WorkerId::new("worker-0001").expect("valid worker id");
        for chunk in tasks.chunks(50_000) {
            table
                .batch(|batch| {
                    for id in chunk {
                        batch
                            .insert(Task::new(id.clone(), RetryPolicy::default()))
                            .expect("insert");
                    }
                })
                .expect("commit");
        }
        // One attempt each: every task assigned, then requeued by a lost worker.
        table
            .batch(|batch| {
                batch.schedule(Timestamp::from_millis(1), |_| Some(worker.clone()));
                batch.worker_lost(&worker, "lost", Timestamp::from_millis(2));
            })
            .expect("commit");
    }
    let mut group = c.benchmark_group(format!("store open/{count} tasks"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("SELECT into vectors (baseline)", |b| {
        b.iter(|| {
            let connection = Connection::open(&path).expect("open");
            let mut tasks = connection
                .prepare("SELECT task_id, job_id, task_index, state, current_attempt_id, max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, queue_seq, assign_seq FROM tasks")
                .expect("prepare");
            let rows: Vec<TaskColumns> = tasks
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            let mut attempts = connection
                .prepare("SELECT task_id, attempt_id, worker_id, state, assigned_at_ms, started_at_ms, finished_at_ms, exit_code, error, is_worker_failure FROM task_attempts ORDER BY task_id, attempt_id")
                .expect("prepare");
            let attempt_rows: Vec<AttemptColumns> = attempts
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            black_box((rows, attempt_rows))
        });
    });
    group.bench_function("DurableTable::open", |b| {
        b.iter(|| {
            black_box(DurableTable::open(SqliteStore::open(&path).expect("store")).expect("open"))
        });
    });
    group.finish();
}

criterion_group!(benches, batched, one_call, open);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
