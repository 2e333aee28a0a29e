//! A `DurableTable` that removes each job when it finishes stays flat: over 20 generations of
//! jobs, the bytes the table and its bookkeeping hold after each generation, and the most they
//! held during it (counted by this test binary's allocator), and the database file stop growing
//! after the first few.
#![cfg(feature = "sqlite")]

mod counting;

use iris_task::{
    AnyTask, DurableTable, JobId, JobPolicy, RetryPolicy, SqliteStore, Task, TaskEvent, TaskId,
    Timestamp, WorkerId, WorkerReport,
};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const GENERATIONS: usize = 20;
const TASKS: u32 = 500;

#[test]
fn a_durable_table_that_removes_finished_jobs_stays_flat_in_memory_and_on_disk() {
    let dir = std::env::temp_dir().join(format!("iris-task-durable-flat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("controller.db");
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let worker = WorkerId::new("w1").unwrap();
    let (mut memory, mut peaks, mut disk) = (
        Vec::with_capacity(GENERATIONS),
        Vec::with_capacity(GENERATIONS),
        Vec::with_capacity(GENERATIONS),
    );
    for generation in 0..GENERATIONS {
        // Names of one length: gen-9 to gen-10 would lengthen the keys, not the rows kept.
        let job = JobId::new(format!("gen-{generation:03}")).unwrap();
        let at = Timestamp::from_millis(1_000 * generation as i64);
        counting::take_peak();
        table
            .batch(|batch| {
                batch.set_job_policy(job.clone(), JobPolicy::default());
                for index in 0..TASKS {
                    batch
                        .insert(Task::new(
                            TaskId::new(job.clone(), index),
                            RetryPolicy::default(),
                        ))
                        .unwrap();
                }
                batch.schedule(at, |_| Some(worker.clone()));
                for index in 0..TASKS {
                    let id = TaskId::new(job.clone(), index);
                    for report in [WorkerReport::Running, WorkerReport::Succeeded] {
                        let attempt = batch
                            .table()
                            .get(&id)
                            .and_then(AnyTask::current_attempt)
                            .unwrap()
                            .id();
                        let event = TaskEvent::Report {
                            worker: worker.clone(),
                            attempt,
                            report,
                            at,
                        };
                        batch.apply(&id, event).unwrap();
                    }
                }
            })
            .unwrap();
        assert_eq!(table.remove_job(&job).unwrap().len(), TASKS as usize);
        memory.push(counting::live());
        // The most the generation held at once: its tasks, and the rows of its commit.
        peaks.push(counting::take_peak());
        // SQLite folds its log into the file every 1,000 pages on its own; do it now, from
        // another connection, so each figure is the file's, not how far the log has got.
        let side = rusqlite::Connection::open(&path).unwrap();
        side.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(side);
        disk.push(std::fs::metadata(&path).unwrap().len());
    }
    let flat = |figures: &[usize]| figures[5..].iter().max() <= figures[..5].iter().max();
    assert!(flat(&memory), "live bytes per generation: {memory:?}");
    assert!(flat(&peaks), "peak bytes per generation: {peaks:?}");
    let disk: Vec<usize> = disk.into_iter().map(|bytes| bytes as usize).collect();
    assert!(flat(&disk), "database bytes per generation: {disk:?}");
    assert!(table.table().is_empty());
    drop(table);
    let _ = std::fs::remove_dir_all(&dir);
}
