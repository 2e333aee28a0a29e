//! `DurableTable` over SQLite: what returned `Ok` is there after a reopen, exactly; a rejected
//! call writes nothing; a failed commit leaves memory equal to the store; one writer; pruning
//! keeps the file flat; and every impossible row is a clear `StoreError`, never a panic.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use iris_task::{
    AnyTask, DurableTable, JobId, JobPolicy, RetryPolicy, SqliteStore, StateKind, StoreError, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, WorkerId, WorkerReport,
};
use proptest::prelude::*;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn worker(n: usize) -> WorkerId {
    WorkerId::new(format!("w{}", n % 3)).unwrap()
}

fn id(job: usize, index: u32) -> TaskId {
    TaskId::new(JobId::new(["a", "b", "c"][job % 3]).unwrap(), index)
}

/// A fresh directory for one test's database.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-task-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("controller.db")
}

/// One call of a workload, the same for a `DurableTable` and a plain `TaskTable`.
#[derive(Clone, Debug)]
enum Call {
    Insert(usize, u32),
    Policy(usize, bool),
    Schedule(usize),
    Report(usize, u32, u8),
    Preempt(usize, u32),
    Lost(usize),
    Expire,
    KillJob(usize),
    RemoveJob(usize),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        3 => (0usize..3, 0u32..4).prop_map(|(job, index)| Call::Insert(job, index)),
        1 => (0usize..3, any::<bool>()).prop_map(|(job, gang)| Call::Policy(job, gang)),
        3 => (0usize..6).prop_map(Call::Schedule),
        6 => (0usize..3, 0u32..4, 0u8..6).prop_map(|(job, index, kind)| Call::Report(job, index, kind)),
        1 => (0usize..3, 0u32..4).prop_map(|(job, index)| Call::Preempt(job, index)),
        1 => (0usize..3).prop_map(Call::Lost),
        1 => Just(Call::Expire),
        1 => (0usize..3).prop_map(Call::KillJob),
        1 => (0usize..3).prop_map(Call::RemoveJob),
    ]
}

/// The report a task's current worker would send, of the kind `kind` picks.
fn report(table: &TaskTable, task: &TaskId, kind: u8, t: Timestamp) -> Option<TaskEvent> {
    let attempt = table.get(task)?.current_attempt()?;
    let report = match kind {
        0 | 1 => WorkerReport::Running,
        2 => WorkerReport::Succeeded,
        3 => WorkerReport::Failed {
            exit_code: 1,
            error: "exit 1".into(),
        },
        4 => WorkerReport::Killed {
            error: "OOM".into(),
        },
        _ => WorkerReport::Missing,
    };
    Some(TaskEvent::Report {
        worker: attempt.worker().clone(),
        attempt: attempt.id(),
        report,
        at: t,
    })
}

/// Runs `call` on the plain table: the reference.
fn on_table(table: &mut TaskTable, call: &Call, t: Timestamp) {
    let retry = RetryPolicy {
        max_retries_failure: 1,
        max_retries_preemption: 1,
    };
    match *call {
        Call::Insert(job, index) => {
            let _ = table.insert(Task::new(id(job, index), retry));
        }
        Call::Policy(job, gang) => table.set_job_policy(
            id(job, 0).job().clone(),
            JobPolicy {
                coscheduled: gang,
                ..JobPolicy::default()
            },
        ),
        Call::Schedule(n) => {
            let mut n = n;
            table.schedule(t, |_| {
                n += 1;
                (n % 3 != 0).then(|| worker(n))
            });
        }
        Call::Report(job, index, kind) => {
            if let Some(event) = report(table, &id(job, index), kind, t) {
                let _ = table.apply(&id(job, index), event);
            }
        }
        Call::Preempt(job, index) => {
            let _ = table.apply(
                &id(job, index),
                TaskEvent::Preempt {
                    reason: "priority".into(),
                    at: t,
                },
            );
        }
        Call::Lost(w) => {
            table.worker_lost(&worker(w), "lost", t);
        }
        Call::Expire => {
            table.expire_assigned(t, Duration::from_millis(3));
        }
        Call::KillJob(job) => {
            table.kill_job(id(job, 0).job(), "done", t);
        }
        Call::RemoveJob(job) => {
            let _ = table.remove_job(id(job, 0).job());
        }
    }
}

/// Runs `call` on the durable table; a call the table refuses is `StoreError::Table`.
fn on_durable(table: &mut DurableTable<SqliteStore>, call: &Call, t: Timestamp) {
    let retry = RetryPolicy {
        max_retries_failure: 1,
        max_retries_preemption: 1,
    };
    let refused = |result: Result<(), StoreError>| {
        if let Err(err) = result {
            assert!(err.table().is_some(), "the store failed: {err}");
        }
    };
    match *call {
        Call::Insert(job, index) => refused(table.insert(Task::new(id(job, index), retry))),
        Call::Policy(job, gang) => table
            .set_job_policy(
                id(job, 0).job().clone(),
                JobPolicy {
                    coscheduled: gang,
                    ..JobPolicy::default()
                },
            )
            .unwrap(),
        Call::Schedule(n) => {
            let mut n = n;
            table
                .schedule(t, |_| {
                    n += 1;
                    (n % 3 != 0).then(|| worker(n))
                })
                .unwrap();
        }
        Call::Report(job, index, kind) => {
            if let Some(event) = report(table.table(), &id(job, index), kind, t) {
                refused(table.apply(&id(job, index), event).map(|_| ()));
            }
        }
        Call::Preempt(job, index) => refused(
            table
                .apply(
                    &id(job, index),
                    TaskEvent::Preempt {
                        reason: "priority".into(),
                        at: t,
                    },
                )
                .map(|_| ()),
        ),
        Call::Lost(w) => {
            table.worker_lost(&worker(w), "lost", t).unwrap();
        }
        Call::Expire => {
            table.expire_assigned(t, Duration::from_millis(3)).unwrap();
        }
        Call::KillJob(job) => {
            table.kill_job(id(job, 0).job(), "done", t).unwrap();
        }
        Call::RemoveJob(job) => refused(table.remove_job(id(job, 0).job()).map(|_| ())),
    }
}

/// What two tables must agree on: every task, the pending queue, each worker's list, the counts,
/// the jobs with their policies and states, in order.
fn same(a: &TaskTable, b: &TaskTable) -> Result<(), TestCaseError> {
    let mut tasks_a: Vec<&AnyTask> = a.iter().collect();
    let mut tasks_b: Vec<&AnyTask> = b.iter().collect();
    tasks_a.sort_by_key(|task| task.id().clone());
    tasks_b.sort_by_key(|task| task.id().clone());
    prop_assert_eq!(tasks_a, tasks_b);
    let queue = |t: &TaskTable| {
        t.pending()
            .map(|task| task.id().clone())
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(queue(a), queue(b), "the pending queue");
    for w in 0..3 {
        let on = |t: &TaskTable| t.tasks_on(&worker(w)).cloned().collect::<Vec<_>>();
        prop_assert_eq!(on(a), on(b), "worker {}'s list", w);
    }
    prop_assert_eq!(a.counts(), b.counts());
    let jobs = |t: &TaskTable| {
        t.jobs()
            .map(|(job, counts)| {
                (
                    job.clone(),
                    counts.clone(),
                    t.job_policy(job).copied(),
                    t.job_state(job),
                )
            })
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(jobs(a), jobs(b), "jobs, in order");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every call a `DurableTable` acknowledged is there after a reopen, exactly as a plain table
    /// that ran the same calls holds it; the reopened table then behaves the same (the dispatch
    /// deadline expires the same tasks in the same order).
    #[test]
    fn a_reopened_table_equals_the_replay(calls in proptest::collection::vec(call(), 1..50), reopen_every in 1usize..20) {
        let path = scratch("replay");
        let mut reference = TaskTable::new();
        let mut durable = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        for (step, call) in calls.iter().enumerate() {
            let t = at(step as i64 / 2);
            on_table(&mut reference, call, t);
            on_durable(&mut durable, call, t);
            same(durable.table(), &reference)?;
            if step % reopen_every == 0 {
                drop(durable);
                durable = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
                same(durable.table(), &reference)?;
            }
        }
        drop(durable);
        let mut durable = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        same(durable.table(), &reference)?;
        let now = at(10_000);
        let expected = reference.expire_assigned(now, Duration::ZERO);
        prop_assert_eq!(durable.expire_assigned(now, Duration::ZERO).unwrap(), expected);
        same(durable.table(), &reference)?;
    }
}

#[test]
fn a_batch_is_one_transaction_and_a_refused_call_inside_it_writes_nothing() {
    let path = scratch("batch");
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let (a0, a1) = (id(0, 0), id(0, 1));
    let refused = table
        .batch(|batch| {
            batch
                .insert(Task::new(a0.clone(), RetryPolicy::default()))
                .unwrap();
            batch
                .insert(Task::new(a1.clone(), RetryPolicy::default()))
                .unwrap();
            // Refused: already there. The batch goes on.
            let again = batch.insert(Task::new(a0.clone(), RetryPolicy::default()));
            batch.assign(&a1, worker(1), at(1)).unwrap();
            again.is_err()
        })
        .unwrap();
    assert!(refused);
    drop(table);
    let reopened = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert_eq!(reopened.table().len(), 2);
    assert_eq!(
        reopened.table().get(&a1).map(AnyTask::state),
        Some(StateKind::Assigned)
    );
}

#[test]
fn a_second_writer_is_refused_while_the_first_lives() {
    let path = scratch("locked");
    let first = SqliteStore::open(&path).unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Locked { what }) => assert!(what.contains("controller.db")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    assert!(
        SqliteStore::open(&path).is_ok(),
        "the lock goes with the store"
    );
}

#[test]
fn a_failed_commit_leaves_memory_equal_to_the_store() {
    let path = scratch("failing");
    {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        table
            .insert(Task::new(id(0, 0), RetryPolicy::default()))
            .unwrap();
    }
    // Behind the store's back: a trigger that fails any write of task a/task-2 (a full disk, as
    // far as the store can tell).
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch(
        "CREATE TRIGGER full_disk BEFORE INSERT ON tasks WHEN NEW.task_id = 'a/task-2' \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    drop(side);
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let err = table
        .batch(|batch| {
            batch
                .insert(Task::new(id(0, 1), RetryPolicy::default()))
                .unwrap();
            batch.assign(&id(0, 0), worker(0), at(1)).unwrap();
            batch
                .insert(Task::new(id(0, 2), RetryPolicy::default()))
                .unwrap();
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    // Memory went back to what the store holds: the whole batch is gone.
    assert_eq!(table.table().len(), 1);
    assert_eq!(
        table.table().get(&id(0, 0)).map(AnyTask::state),
        Some(StateKind::Pending)
    );
    // And the table goes on.
    table.assign(&id(0, 0), worker(0), at(2)).unwrap();
    drop(table);
    let reopened = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert_eq!(reopened.table().counts().get(StateKind::Assigned), 1);
}

/// The bytes of the database and its write-ahead log.
fn on_disk(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path.to_path_buf(), wal]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|meta| meta.len())
        .sum()
}

#[test]
fn a_durable_table_that_removes_finished_jobs_stays_flat_on_disk() {
    let path = scratch("flat");
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let mut sizes = Vec::new();
    for generation in 0..20 {
        let job = JobId::new(format!("gen-{generation}")).unwrap();
        table
            .set_job_policy(job.clone(), JobPolicy::default())
            .unwrap();
        let t = at(1_000 * generation);
        table
            .batch(|batch| {
                for index in 0..300 {
                    batch
                        .insert(Task::new(
                            TaskId::new(job.clone(), index),
                            RetryPolicy::default(),
                        ))
                        .unwrap();
                }
                batch.schedule(t, |task| Some(worker(task.id().index() as usize)));
                for index in 0..300 {
                    let id = TaskId::new(job.clone(), index);
                    for kind in [1, 2] {
                        let event = report(batch.table(), &id, kind, t).unwrap();
                        batch.apply(&id, event).unwrap();
                    }
                }
            })
            .unwrap();
        assert_eq!(table.remove_job(&job).unwrap().len(), 300);
        // SQLite folds its log into the file every 1,000 pages on its own; checkpoint now, from
        // another connection as an operator's reader could, so that each generation's figure is
        // the file's, not how far the log has got.
        let side = rusqlite::Connection::open(&path).unwrap();
        side.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(side);
        sizes.push(on_disk(&path));
    }
    let settled = sizes[..5].iter().copied().max().unwrap();
    let later = sizes[5..].iter().copied().max().unwrap();
    assert!(
        later <= settled,
        "database + WAL bytes per generation: {sizes:?}"
    );
    drop(table);
    let reopened = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert!(reopened.table().is_empty());
}

// ----- corruption: each impossible row is a clear error, never a panic -----

/// A store holding a running task a/task-0 (attempt 0 on w0) and a pending task a/task-1 that
/// failed once, then `edit` applied behind its back; what `open` says.
fn open_after(name: &str, edit: &str) -> Result<DurableTable<SqliteStore>, StoreError> {
    let path = scratch(name);
    {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        let retry = RetryPolicy {
            max_retries_failure: 1,
            ..RetryPolicy::default()
        };
        table.insert(Task::new(id(0, 0), retry)).unwrap();
        table.insert(Task::new(id(0, 1), retry)).unwrap();
        table.assign(&id(0, 0), worker(0), at(1)).unwrap();
        table.assign(&id(0, 1), worker(1), at(1)).unwrap();
        for (task, kind) in [(id(0, 0), 1), (id(0, 1), 1), (id(0, 1), 3)] {
            let event = report(table.table(), &task, kind, at(2)).unwrap();
            table.apply(&task, event).unwrap();
        }
    }
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch(edit).unwrap();
    drop(side);
    DurableTable::open(SqliteStore::open(&path)?)
}

fn corrupt(name: &str, edit: &str) -> (String, Option<String>, String) {
    match open_after(name, edit) {
        Err(StoreError::Corrupt {
            table,
            task,
            column,
            why,
        }) => {
            let _ = why;
            (table.to_owned(), task, column)
        }
        Err(other) => panic!("{name}: expected Corrupt, got {other}"),
        Ok(_) => panic!("{name}: the impossible row was accepted"),
    }
}

#[test]
fn the_untouched_store_opens() {
    let table = open_after("untouched", "SELECT 1;").unwrap();
    assert_eq!(table.table().counts().get(StateKind::Running), 1);
    assert_eq!(table.table().counts().get(StateKind::Pending), 1);
}

/// (what is impossible, the edit that makes it, and the (table, task, column) `open` must name).
type Case = (
    &'static str,
    &'static str,
    (&'static str, Option<String>, &'static str),
);

#[test]
fn each_impossible_row_is_corrupt_naming_table_task_and_column() {
    let a0 = Some("a/task-0".to_owned());
    let a1 = Some("a/task-1".to_owned());
    let cases: [Case; 10] = [
        (
            "running without an open attempt",
            "DELETE FROM task_attempts WHERE task_id = 'a/task-0';",
            ("tasks", a0.clone(), "current_attempt_id"),
        ),
        (
            "an unknown state",
            "UPDATE tasks SET state = 42 WHERE task_id = 'a/task-0';",
            ("tasks", a0.clone(), "state"),
        ),
        (
            "missing as a state",
            "UPDATE task_attempts SET state = 12 WHERE task_id = 'a/task-0';",
            ("task_attempts", a0.clone(), "state"),
        ),
        (
            "a gap in the attempt ids",
            "UPDATE task_attempts SET attempt_id = 3 WHERE task_id = 'a/task-1';",
            ("task_attempts", a1.clone(), "attempt_id"),
        ),
        (
            "a closed attempt without a finish",
            "UPDATE task_attempts SET finished_at_ms = NULL WHERE task_id = 'a/task-1';",
            ("task_attempts", a1.clone(), "finished_at_ms"),
        ),
        (
            "a pending task without its place in the queue",
            "UPDATE tasks SET queue_seq = NULL WHERE task_id = 'a/task-1';",
            ("tasks", a1.clone(), "queue_seq"),
        ),
        (
            "an active task without its place on its worker",
            "UPDATE tasks SET assign_seq = NULL WHERE task_id = 'a/task-0';",
            ("tasks", a0.clone(), "assign_seq"),
        ),
        (
            "an attempt of no task",
            "PRAGMA foreign_keys = OFF; INSERT INTO task_attempts VALUES ('z/task-0', 0, 'w0', 9, 1, NULL, NULL, 0, '', 0);",
            ("task_attempts", Some("z/task-0".to_owned()), "task_id"),
        ),
        (
            "a worker failure flag of 7",
            "UPDATE task_attempts SET is_worker_failure = 7 WHERE task_id = 'a/task-1';",
            ("task_attempts", a1.clone(), "is_worker_failure"),
        ),
        (
            "a half policy",
            "UPDATE jobs SET max_task_failures = 1, coscheduled = NULL;",
            ("jobs", None, "coscheduled"),
        ),
    ];
    for (n, (name, edit, (table, task, column))) in cases.into_iter().enumerate() {
        let found = corrupt(&format!("corrupt-{n}"), edit);
        assert_eq!(found, (table.to_owned(), task, column.to_owned()), "{name}");
    }
}

#[test]
fn a_schema_newer_than_the_crate_is_refused() {
    match open_after("newer", "INSERT INTO schema_version VALUES (2);") {
        Err(StoreError::NewerSchema { found: 2, known: 1 }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    for (name, bytes) in [
        (
            "random",
            (0..4096u32)
                .map(|n| (n.wrapping_mul(2654435761) >> 13) as u8)
                .collect::<Vec<u8>>(),
        ),
        ("text", b"this is not a database\n".repeat(300)),
    ] {
        let path = scratch(name);
        std::fs::write(&path, bytes).unwrap();
        let result = SqliteStore::open(&path).and_then(DurableTable::open);
        match result {
            Err(StoreError::Database(err)) => assert!(!err.to_string().is_empty()),
            other => panic!("{name}: expected a database error, got {other:?}"),
        }
    }
}

#[test]
fn a_truncated_file_is_an_error_not_a_panic() {
    let path = scratch("truncated");
    {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        table
            .batch(|batch| {
                for index in 0..200 {
                    batch
                        .insert(Task::new(id(0, index), RetryPolicy::default()))
                        .unwrap();
                }
            })
            .unwrap();
    }
    // Fold the log into the file, then cut the file in half.
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(side);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let result = SqliteStore::open(&path).and_then(DurableTable::open);
    assert!(
        matches!(
            result,
            Err(StoreError::Database(_)) | Err(StoreError::Corrupt { .. })
        ),
        "{result:?}"
    );
}

#[test]
fn a_group_is_written_at_its_commit_and_a_failed_commit_drops_the_whole_group() {
    let path = scratch("group");
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    table
        .insert(Task::new(id(0, 0), RetryPolicy::default()))
        .unwrap();
    table.begin();
    table
        .insert(Task::new(id(0, 1), RetryPolicy::default()))
        .unwrap();
    table.assign(&id(0, 0), worker(0), at(1)).unwrap();
    // A refused call inside the group: an error, and the group goes on.
    assert!(
        table
            .insert(Task::new(id(0, 1), RetryPolicy::default()))
            .unwrap_err()
            .table()
            .is_some()
    );
    // Not durable yet: another process reading the file sees the first insert only.
    let side = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = side
        .query_row("SELECT count(*) FROM tasks", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    table.commit().unwrap();
    let rows: i64 = side
        .query_row("SELECT count(*) FROM tasks", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 2);
    // A group whose commit fails is gone from memory too.
    side.execute_batch(
        "CREATE TRIGGER full_disk BEFORE INSERT ON tasks WHEN NEW.task_id = 'a/task-3' \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    table.begin();
    table
        .insert(Task::new(id(0, 2), RetryPolicy::default()))
        .unwrap();
    table
        .insert(Task::new(id(0, 3), RetryPolicy::default()))
        .unwrap();
    assert!(table.commit().is_err());
    assert!(!table.in_group());
    assert_eq!(table.table().len(), 2);
    assert_eq!(
        table.table().get(&id(0, 0)).map(AnyTask::state),
        Some(StateKind::Assigned)
    );
}

#[test]
fn a_call_that_panics_mid_way_poisons_the_table_until_it_is_reopened() {
    let path = scratch("poisoned");
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    table
        .insert(Task::new(id(0, 0), RetryPolicy::default()))
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        table.schedule(at(1), |_| panic!("the scheduler's closure fails"))
    }));
    assert!(panicked.is_err());
    // The table may be ahead of the store: every call refuses, reads still work.
    match table.insert(Task::new(id(0, 1), RetryPolicy::default())) {
        Err(StoreError::Poisoned { why }) => assert!(why.contains("panicked"), "{why}"),
        other => panic!("expected Poisoned, got {other:?}"),
    }
    assert!(matches!(table.commit(), Err(StoreError::Poisoned { .. })));
    assert_eq!(table.table().len(), 1);
    drop(table);
    let reopened = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert_eq!(reopened.table().len(), 1);
}

#[test]
fn the_lock_follows_the_file_not_the_path() {
    let path = scratch("symlinked");
    let first = SqliteStore::open(&path).unwrap();
    let link = path.with_file_name("another-name.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(matches!(
        SqliteStore::open(&link),
        Err(StoreError::Locked { .. })
    ));
    drop(first);
}
