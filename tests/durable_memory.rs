//! A reopened `DurableTable` holds its tasks in no more memory than the table that wrote them:
//! the tasks of a job share its name, and the attempts of a worker share its id, as they did
//! before the restart (bytes counted by this test binary's allocator).
#![cfg(feature = "sqlite")]

mod counting;

use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskId, Timestamp, WorkerId};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn a_reopened_table_takes_no_more_memory_than_the_one_that_wrote_it() {
    let dir = std::env::temp_dir().join(format!("iris-task-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("controller.db");
    // Long names, so that a copy per task would show far above the allocator's noise.
    let job = JobId::new(format!("job-{}", "j".repeat(200))).unwrap();
    let workers: Vec<WorkerId> = (0..10)
        .map(|n| WorkerId::new(format!("worker-{n:04}-{}", "w".repeat(200))).unwrap())
        .collect();
    let before = counting::live();
    let table = {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        table
            .batch(|batch| {
                for index in 0..5_000 {
                    let id = TaskId::new(job.clone(), index);
                    batch.insert(Task::new(id, RetryPolicy::default())).unwrap();
                }
                let mut next = 0;
                batch.schedule(Timestamp::from_millis(1), |_| {
                    next += 1;
                    workers.get(next % workers.len()).cloned()
                });
            })
            .unwrap();
        table
    };
    let written = counting::live() - before;
    drop(table);
    let before = counting::live();
    let reopened = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let read = counting::live() - before;
    assert_eq!(reopened.table().len(), 5_000);
    println!("bytes held: {written} by the table that wrote, {read} by the one reopened");
    // Room for the vectors' spare capacity, not for a copy of a 200-byte name per task (1 MB).
    assert!(
        read <= written + written / 10,
        "the reopened table holds {read} bytes, the one that wrote it {written}"
    );
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}
