//! The store suite: what every [`Store`] must show, written once and run against each backend
//! (`store.rs` runs it on SQLite, `postgres.rs` on a real PostgreSQL). What returned `Ok` is
//! there after a reopen, exactly; a refused call writes nothing; a failed commit leaves memory
//! equal to the store; a group is written at its commit; a call that panics poisons the table;
//! pruning keeps the store flat; and every impossible row is a clear `StoreError`, never a panic.
#![allow(dead_code)] // Each backend's test binary uses its own part.

use std::time::Duration;

use iris_task::{
    AnyTask, DurableTable, JobId, JobPolicy, Offer, RetryPolicy, StateKind, Store, StoreError,
    Task, TaskEvent, TaskId, TaskTable, Timestamp, UidMinter, WorkerId, WorkerReport,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Where the suite's stores live, and how it reaches behind their backs.
pub trait Backend {
    /// The store under test.
    type Store: Store;
    /// For messages: "SQLite", "PostgreSQL".
    const NAME: &'static str;
    /// A fresh, empty place for a store (a file's path, connection parameters), named `name`.
    fn fresh(&self, name: &str) -> String;
    /// Opens the store at `place`, as a controller would.
    fn open(&self, place: &str) -> Result<Self::Store, StoreError>;
    /// Runs `sql` from another connection, behind the store's back.
    fn side(&self, place: &str, sql: &str);
    /// The number `sql` selects, read from another connection.
    fn read(&self, place: &str, sql: &str) -> i64;
    /// The statements that make any insert of task `task` into `tasks` fail with "disk full".
    fn failing_insert(&self, task: &str) -> String;
    /// `sql`, to be run with foreign keys unchecked.
    fn unchecked(&self, sql: &str) -> String;
    /// The bytes the store holds, once the maintenance an operator's database runs on its own
    /// (SQLite's checkpoint, PostgreSQL's vacuum) has run.
    fn settled_bytes(&self, place: &str) -> u64;
    /// The schema's integer type: what SQLite's `INTEGER` is called here.
    const INT: &'static str;
    /// A one-byte value of the schema's byte-string type, as an SQL literal.
    const BYTE: &'static str;

    /// `open`, then `DurableTable::open`.
    fn table(&self, place: &str) -> Result<DurableTable<Self::Store>, StoreError> {
        DurableTable::open(self.open(place)?)
    }
}

pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub fn worker(n: usize) -> WorkerId {
    WorkerId::new(format!("w{}", n % 3)).unwrap()
}

/// Jobs whose names sort one way bytewise and another way in a language's collation ("B"
/// before "a" in bytes, after it in English): a store must read both in the same order.
pub fn id(job: usize, index: u32) -> TaskId {
    TaskId::new(JobId::new(["a", "B", "c"][job % 3]).unwrap(), index)
}

/// One call of a workload, the same for a `DurableTable` and a plain `TaskTable`.
#[derive(Clone, Debug)]
pub enum Call {
    Insert(usize, u32),
    Policy(usize, bool),
    Schedule(usize),
    Report(usize, u32, u8),
    Preempt(usize, u32),
    Lost(usize),
    Expire,
    KillJob(usize),
    RemoveJob(usize),
    /// A record `r/<key>` put, owned by the job or not (handled by the replay, beside the table).
    PutRecord(usize, u8, bool),
    /// The record `r/<key>` removed.
    DropRecord(u8),
}

pub fn call() -> impl Strategy<Value = Call> {
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
        1 => (0usize..3, 0u8..4, any::<bool>()).prop_map(|(job, key, owned)| Call::PutRecord(job, key, owned)),
        1 => (0u8..4).prop_map(Call::DropRecord),
    ]
}

/// The report a task's current worker would send, of the kind `kind` picks.
pub fn report(table: &TaskTable, task: &TaskId, kind: u8, t: Timestamp) -> Option<TaskEvent> {
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

const RETRY: RetryPolicy = RetryPolicy {
    max_retries_failure: 1,
    max_retries_preemption: 1,
};

fn policy(gang: bool) -> JobPolicy {
    JobPolicy {
        coscheduled: gang,
        ..JobPolicy::default()
    }
}

/// Runs `call` on the plain table: the reference.
pub fn on_table(table: &mut TaskTable, call: &Call, t: Timestamp) {
    match *call {
        Call::Insert(job, index) => {
            let _ = table.insert(Task::new(id(job, index), RETRY));
        }
        Call::Policy(job, gang) => table.set_job_policy(id(job, 0).job().clone(), policy(gang)),
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
            let _ = table.apply(&id(job, index), preempt(t));
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
        Call::PutRecord(..) | Call::DropRecord(_) => {}
    }
}

fn preempt(at: Timestamp) -> TaskEvent {
    TaskEvent::Preempt {
        reason: "priority".into(),
        at,
    }
}

/// Runs `call` on the durable table; a call the table refuses must be `StoreError::Table`.
pub fn on_durable<S: Store>(table: &mut DurableTable<S>, call: &Call, t: Timestamp) {
    let refused = |result: Result<(), StoreError>| {
        if let Err(err) = result {
            assert!(err.table().is_some(), "the store failed: {err}");
        }
    };
    match *call {
        Call::Insert(job, index) => {
            refused(table.insert(Task::new(id(job, index), RETRY)).map(drop))
        }
        Call::Policy(job, gang) => table
            .set_job_policy(id(job, 0).job().clone(), policy(gang))
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
        Call::Preempt(job, index) => refused(table.apply(&id(job, index), preempt(t)).map(|_| ())),
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
        Call::PutRecord(..) | Call::DropRecord(_) => {}
    }
}

/// The records the replay expects: key to (owning job, bytes).
pub type RecordModel = std::collections::BTreeMap<String, (Option<JobId>, Vec<u8>)>;

/// Runs a record call on the durable table and on the model: a record of a job the table does
/// not know is refused (`TableError::UnknownJob`) and changes nothing; a job's records go when
/// the job does.
pub fn records_step<S: Store>(
    durable: &mut DurableTable<S>,
    model: &mut RecordModel,
    call: &Call,
    step: usize,
) -> Result<(), TestCaseError> {
    match *call {
        Call::PutRecord(job, key, owned) => {
            let job = id(job, 0).job().clone();
            let owner = owned.then_some(&job);
            let value = vec![key, step as u8];
            let known = durable.table().job(&job).is_some();
            match durable.put_record("r", &key.to_string(), owner, value.clone()) {
                Ok(()) => {
                    prop_assert!(known || !owned, "a record of unknown job {job} was put");
                    model.insert(key.to_string(), (owner.cloned(), value));
                }
                Err(err) => {
                    prop_assert!(owned && !known, "refused: {err}");
                    prop_assert_eq!(err.table(), Some(&iris_task::TableError::UnknownJob(job)));
                }
            }
        }
        Call::DropRecord(key) => {
            let gone = durable.remove_record("r", &key.to_string()).unwrap();
            let expected = model.remove(&key.to_string());
            prop_assert_eq!(gone.map(|r| r.value().to_vec()), expected.map(|(_, v)| v));
        }
        _ => {
            // A job the table no longer knows took its records with it.
            let table = durable.table();
            model.retain(|_, (owner, _)| owner.as_ref().is_none_or(|job| table.job(job).is_some()));
        }
    }
    Ok(())
}

/// The durable table's records equal the model.
pub fn same_records<S: Store>(
    durable: &DurableTable<S>,
    model: &RecordModel,
) -> Result<(), TestCaseError> {
    let held: Vec<(String, Option<JobId>, Vec<u8>)> = durable
        .records("r")
        .map(|(key, record)| {
            (
                key.to_owned(),
                record.job().cloned(),
                record.value().to_vec(),
            )
        })
        .collect();
    let wanted: Vec<(String, Option<JobId>, Vec<u8>)> = model
        .iter()
        .map(|(key, (job, value))| (key.clone(), job.clone(), value.clone()))
        .collect();
    prop_assert_eq!(held, wanted, "the records");
    Ok(())
}

/// What two tables must agree on: every task, the pending queue, each worker's list, the counts,
/// the jobs with their policies and states, in order.
pub fn same(a: &TaskTable, b: &TaskTable) -> Result<(), TestCaseError> {
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
            .map(|job| {
                (
                    job.id().clone(),
                    job.counts().clone(),
                    job.policy().copied(),
                    job.state(),
                    job.error().map(str::to_owned),
                    job.failures(),
                    job.has_started(),
                )
            })
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(jobs(a), jobs(b), "jobs, in order");
    Ok(())
}

/// `cases` random workloads of single calls, each reopened at random points: every call a
/// `DurableTable` acknowledged is there after a reopen, exactly as a plain table that ran the
/// same calls holds it (and the records, as a model of them holds them), and the reopened table then behaves the same (the dispatch deadline
/// expires the same tasks in the same order).
pub fn a_reopened_table_equals_the_replay<B: Backend>(backend: &B, cases: u32) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let workloads = (proptest::collection::vec(call(), 1..50), 1usize..20);
    let outcome = TestRunner::new(config).run(&workloads, |(calls, reopen_every)| {
        let place = backend.fresh("replay");
        let mut reference = TaskTable::new();
        let mut durable = backend.table(&place).unwrap();
        let mut records = RecordModel::new();
        for (step, call) in calls.iter().enumerate() {
            let t = at(step as i64 / 2);
            // The uids a call mints depend on its step only: the replay and a table reopened
            // between calls mint the same ones.
            reference.set_uid_minter(UidMinter::seeded(step as u64));
            durable.set_uid_minter(UidMinter::seeded(step as u64));
            on_table(&mut reference, call, t);
            on_durable(&mut durable, call, t);
            records_step(&mut durable, &mut records, call, step)?;
            same(durable.table(), &reference)?;
            same_records(&durable, &records)?;
            if step % reopen_every == 0 {
                drop(durable);
                durable = backend.table(&place).unwrap();
                same(durable.table(), &reference)?;
                same_records(&durable, &records)?;
            }
        }
        drop(durable);
        let mut durable = backend.table(&place).unwrap();
        same(durable.table(), &reference)?;
        same_records(&durable, &records)?;
        let now = at(10_000);
        let expected = reference.expire_assigned(now, Duration::ZERO);
        prop_assert_eq!(
            durable.expire_assigned(now, Duration::ZERO).unwrap(),
            expected
        );
        same(durable.table(), &reference)?;
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{}: {failure}", B::NAME);
    }
}

/// Tasks in every state a store must hold, inserted as they are (not driven there): ASSIGNED,
/// BUILDING, RUNNING, ended ones, and a pending retry, with a clock that goes back between
/// calls. The reopened table equals the one in memory.
pub fn tasks_inserted_in_any_state_come_back<B: Backend>(backend: &B) {
    let place = backend.fresh("any-state");
    let mut durable = backend.table(&place).unwrap();
    let mut reference = TaskTable::new();
    let w = worker(0);
    let tasks: Vec<AnyTask> = vec![
        Task::new(id(0, 0), RETRY).assign(w.clone(), at(50)).into(),
        Task::new(id(0, 3), RETRY).assign(w.clone(), at(20)).into(),
        Task::new(id(0, 1), RETRY)
            .assign(w.clone(), at(40))
            .build(at(41))
            .into(),
        Task::new(id(0, 2), RETRY)
            .assign(w.clone(), at(30))
            .start(at(31))
            .into(),
        Task::new(id(1, 0), RETRY)
            .assign(w.clone(), at(20))
            .start(at(21))
            .succeed(at(22))
            .into(),
        Task::new(id(1, 1), RETRY)
            .assign(w.clone(), at(10))
            .start(at(11))
            .fail(1, "exit 1", at(12))
            .into_any(),
    ];
    // Job 0's tasks one by one; job 1's, which have all ended, together: inserted one at a
    // time, its first ended task would end the job before the second came in.
    let job = id(1, 0).job().clone();
    let (ended, running): (Vec<AnyTask>, Vec<AnyTask>) =
        tasks.into_iter().partition(|task| task.id().job() == &job);
    for task in running {
        reference.insert(task.clone()).unwrap();
        durable.insert(task).unwrap();
    }
    let tolerant = JobPolicy {
        max_task_failures: 1,
        coscheduled: false,
    };
    reference
        .insert_job(job.clone(), tolerant, ended.clone())
        .unwrap();
    durable.insert_job(job, tolerant, ended).unwrap();
    // Then an assignment stamped earlier than all of them: the clock went back.
    let late = Task::new(id(2, 0), RETRY).assign(w.clone(), at(5));
    reference.insert(late.clone()).unwrap();
    durable.insert(late).unwrap();
    drop(durable);
    let mut reopened = backend.table(&place).unwrap();
    same(reopened.table(), &reference).unwrap();
    // The deadline queue came back in assignment order, not insertion order: at 30 ms the
    // tasks assigned at 5 and 20 ms have waited too long, the one at 50 ms has not.
    let now = at(30);
    let expired = reopened.expire_assigned(now, Duration::ZERO).unwrap();
    assert_eq!(expired, reference.expire_assigned(now, Duration::ZERO));
    let order: Vec<TaskId> = expired.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(order, [id(2, 0), id(0, 3)]);
    same(reopened.table(), &reference).unwrap();
}

/// A store read in more than one chunk (PostgreSQL fetches 1,000 rows at a time from each of
/// two queries read side by side): 2,500 tasks, most with attempts, come back exactly.
pub fn a_store_larger_than_a_read_chunk_comes_back_exactly<B: Backend>(backend: &B) {
    let place = backend.fresh("large");
    let mut reference = TaskTable::new();
    let mut durable = backend.table(&place).unwrap();
    // Both mint the same uids, in the same order of assignments.
    reference.set_uid_minter(UidMinter::seeded(1));
    durable.set_uid_minter(UidMinter::seeded(1));
    let mut n = 0;
    let mut pick = |_: &Offer<'_>| {
        n += 1;
        (n % 4 != 0).then(|| worker(n))
    };
    let ids: Vec<TaskId> = (0..2_500)
        .map(|index| id(index % 3, index as u32))
        .collect();
    durable
        .batch(|batch| {
            for id in &ids {
                batch.insert(Task::new(id.clone(), RETRY)).unwrap();
            }
            batch.schedule(at(1), &mut pick);
        })
        .unwrap();
    let mut n = 0;
    let mut pick = |_: &Offer<'_>| {
        n += 1;
        (n % 4 != 0).then(|| worker(n))
    };
    for id in &ids {
        reference.insert(Task::new(id.clone(), RETRY)).unwrap();
    }
    reference.schedule(at(1), &mut pick);
    // Every third task fails once (back to the queue, a closed attempt behind it).
    for id in ids.iter().step_by(3) {
        if let Some(event) = report(&reference, id, 3, at(2)) {
            reference.apply(id, event.clone()).unwrap();
            durable.apply(id, event).unwrap();
        }
    }
    drop(durable);
    let reopened = backend.table(&place).unwrap();
    same(reopened.table(), &reference).unwrap();
}

pub fn a_batch_is_one_transaction_and_a_refused_call_inside_it_writes_nothing<B: Backend>(
    backend: &B,
) {
    let place = backend.fresh("batch");
    let mut table = backend.table(&place).unwrap();
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
    // A refused single call writes nothing either: a report from a worker the task is not on.
    let event = TaskEvent::Report {
        worker: worker(2),
        attempt: table
            .table()
            .get(&a1)
            .unwrap()
            .current_attempt()
            .unwrap()
            .id(),
        report: WorkerReport::Succeeded,
        at: at(2),
    };
    assert!(table.apply(&a1, event).unwrap_err().table().is_some());
    drop(table);
    let reopened = backend.table(&place).unwrap();
    assert_eq!(reopened.table().len(), 2);
    assert_eq!(
        reopened.table().get(&a1).map(AnyTask::state),
        Some(StateKind::Assigned)
    );
    assert_eq!(
        backend.read(&place, "SELECT count(*) FROM task_attempts"),
        1
    );
}

pub fn a_failed_commit_leaves_memory_equal_to_the_store<B: Backend>(backend: &B) {
    let place = backend.fresh("failing");
    {
        let mut table = backend.table(&place).unwrap();
        table
            .insert(Task::new(id(0, 0), RetryPolicy::default()))
            .unwrap();
    }
    // Behind the store's back: a trigger that fails any write of task a/task-2 (a full disk, as
    // far as the store can tell).
    backend.side(&place, &backend.failing_insert("a/task-2"));
    let mut table = backend.table(&place).unwrap();
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
    // Memory equals what the store holds (the first insert alone), and the table goes on.
    let mut stored = TaskTable::new();
    stored
        .insert(Task::new(id(0, 0), RetryPolicy::default()))
        .unwrap();
    same(table.table(), &stored).unwrap();
    table.assign(&id(0, 0), worker(0), at(2)).unwrap();
    table
        .insert(Task::new(id(0, 1), RetryPolicy::default()))
        .unwrap();
    let in_memory = table.table().len();
    drop(table);
    let reopened = backend.table(&place).unwrap();
    assert_eq!(reopened.table().counts().get(StateKind::Assigned), 1);
    assert_eq!(reopened.table().len(), in_memory);
}

/// A commit fails, and the store cannot be read back either (a row went bad behind the store's
/// back): memory cannot be brought back to the store, so the table refuses every call until it
/// is opened again.
pub fn a_failed_commit_that_cannot_be_undone_poisons_the_table<B: Backend>(backend: &B) {
    let place = backend.fresh("unreadable");
    let mut table = backend.table(&place).unwrap();
    table
        .insert(Task::new(id(0, 0), RetryPolicy::default()))
        .unwrap();
    backend.side(&place, &backend.failing_insert("a/task-1"));
    backend.side(&place, "UPDATE tasks SET state = 42;");
    let err = table
        .insert(Task::new(id(0, 1), RetryPolicy::default()))
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    match table.insert(Task::new(id(0, 2), RetryPolicy::default())) {
        Err(StoreError::Poisoned { why }) => {
            assert!(why.contains("reloading failed"), "{why}");
        }
        other => panic!("{}: expected Poisoned, got {other:?}", B::NAME),
    }
    drop(table);
    assert!(matches!(
        backend.table(&place),
        Err(StoreError::Corrupt { .. })
    ));
}

pub fn a_group_is_written_at_its_commit_and_a_failed_commit_drops_the_whole_group<B: Backend>(
    backend: &B,
) {
    let place = backend.fresh("group");
    let mut table = backend.table(&place).unwrap();
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
    // Not durable yet: another connection sees the first insert only.
    let tasks = "SELECT count(*) FROM tasks";
    assert_eq!(backend.read(&place, tasks), 1);
    table.commit().unwrap();
    assert_eq!(backend.read(&place, tasks), 2);
    // A group whose commit fails is gone from memory too.
    backend.side(&place, &backend.failing_insert("a/task-3"));
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

pub fn a_call_that_panics_mid_way_poisons_the_table_until_it_is_reopened<B: Backend>(backend: &B) {
    let place = backend.fresh("poisoned");
    let mut table = backend.table(&place).unwrap();
    table
        .insert(Task::new(id(0, 0), RetryPolicy::default()))
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        table.schedule(at(1), |_| -> Option<WorkerId> {
            panic!("the scheduler's closure fails")
        })
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
    let reopened = backend.table(&place).unwrap();
    assert_eq!(reopened.table().len(), 1);
    assert_eq!(reopened.table().counts().get(StateKind::Pending), 1);
}

/// 20 generations of jobs through one table, each removed when it finishes: the store's bytes
/// stop growing after the first five.
pub fn a_durable_table_that_removes_finished_jobs_stays_flat_on_disk<B: Backend>(backend: &B) {
    let place = backend.fresh("flat");
    let mut table = backend.table(&place).unwrap();
    let mut sizes = Vec::new();
    for generation in 0..20 {
        // Names of one length: gen-9 to gen-10 would lengthen the keys, not the rows kept.
        let job = JobId::new(format!("gen-{generation:03}")).unwrap();
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
                batch.schedule(t, |offer| Some(worker(offer.first().id().index() as usize)));
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
        sizes.push(backend.settled_bytes(&place));
    }
    println!("{}: store bytes per generation: {sizes:?}", B::NAME);
    let settled = sizes[..5].iter().copied().max().unwrap();
    let later = sizes[5..].iter().copied().max().unwrap();
    assert!(
        later <= settled,
        "{}: bytes per generation: {sizes:?}",
        B::NAME
    );
    drop(table);
    let reopened = backend.table(&place).unwrap();
    assert!(reopened.table().is_empty());
    assert_eq!(backend.read(&place, "SELECT count(*) FROM tasks"), 0);
    assert_eq!(backend.read(&place, "SELECT count(*) FROM jobs"), 0);
}

// ----- corruption: each impossible row is a clear error, never a panic -----

/// A store holding a running task a/task-0 (attempt 0 on w0) and a pending task a/task-1 that
/// failed once, then `edit` applied behind its back; what `open` says.
pub fn open_after<B: Backend>(
    backend: &B,
    name: &str,
    edit: &str,
) -> Result<DurableTable<B::Store>, StoreError> {
    let place = backend.fresh(name);
    {
        let mut table = backend.table(&place).unwrap();
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
        table
            .set_job_policy(JobId::new("a").unwrap(), JobPolicy::default())
            .unwrap();
    }
    backend.side(&place, edit);
    backend.table(&place)
}

pub fn the_untouched_store_opens<B: Backend>(backend: &B) {
    let table = open_after(backend, "untouched", "SELECT 1;").unwrap();
    assert_eq!(table.table().counts().get(StateKind::Running), 1);
    assert_eq!(table.table().counts().get(StateKind::Pending), 1);
}

/// (what is impossible, the edit that makes it, and the (table, task, column) `open` must name).
type Case = (
    &'static str,
    String,
    (&'static str, Option<String>, &'static str),
);

pub fn each_impossible_row_is_corrupt_naming_table_task_and_column<B: Backend>(backend: &B) {
    let a0 = Some("a/task-0".to_owned());
    let a1 = Some("a/task-1".to_owned());
    let job_state = |state: iris_task::proto::JobState| state as i32;
    use iris_task::proto::JobState as Wire;
    let cases: [Case; 19] = [
        (
            "a record of a job with no row",
            backend.unchecked(&format!(
                "INSERT INTO records VALUES ('spec', 'k', 'nobody', {});",
                B::BYTE
            )),
            ("records", None, "job_id"),
        ),
        (
            "a record of a job whose id is none",
            backend.unchecked(&format!("INSERT INTO records VALUES ('spec', 'k', '', {});", B::BYTE)),
            ("records", None, "job_id"),
        ),
        (
            "running without an open attempt",
            "DELETE FROM task_attempts WHERE task_id = 'a/task-0';".into(),
            ("tasks", a0.clone(), "current_attempt_id"),
        ),
        (
            "an unknown state",
            "UPDATE tasks SET state = 42 WHERE task_id = 'a/task-0';".into(),
            ("tasks", a0.clone(), "state"),
        ),
        (
            "missing as a state",
            "UPDATE task_attempts SET state = 12 WHERE task_id = 'a/task-0';".into(),
            ("task_attempts", a0.clone(), "state"),
        ),
        (
            "a gap in the attempt ids",
            "UPDATE task_attempts SET attempt_id = 3 WHERE task_id = 'a/task-1';".into(),
            ("task_attempts", a1.clone(), "attempt_id"),
        ),
        (
            "a closed attempt without a finish",
            "UPDATE task_attempts SET finished_at_ms = NULL WHERE task_id = 'a/task-1';".into(),
            ("task_attempts", a1.clone(), "finished_at_ms"),
        ),
        (
            "a pending task without its place in the queue",
            "UPDATE tasks SET queue_seq = NULL WHERE task_id = 'a/task-1';".into(),
            ("tasks", a1.clone(), "queue_seq"),
        ),
        (
            "an active task without its place on its worker",
            "UPDATE tasks SET assign_seq = NULL WHERE task_id = 'a/task-0';".into(),
            ("tasks", a0.clone(), "assign_seq"),
        ),
        (
            "an attempt of no task",
            backend.unchecked(
                "INSERT INTO task_attempts VALUES ('z/task-0', 0, 'w0', 9, 1, NULL, NULL, 0, '', 0, 5, 0);",
            ),
            ("task_attempts", Some("z/task-0".to_owned()), "task_id"),
        ),
        (
            "two attempts with one uid",
            "UPDATE task_attempts SET attempt_uid = 5;".into(),
            ("task_attempts", a1.clone(), "attempt_uid"),
        ),
        (
            "a worker failure flag of 7",
            "UPDATE task_attempts SET is_worker_failure = 7 WHERE task_id = 'a/task-1';".into(),
            ("task_attempts", a1.clone(), "is_worker_failure"),
        ),
        (
            "a half policy",
            "UPDATE jobs SET max_task_failures = 1, coscheduled = NULL;".into(),
            ("jobs", None, "coscheduled"),
        ),
        (
            "a sequence number a table could overflow",
            "UPDATE tasks SET seq = 9223372036854775807 WHERE task_id = 'a/task-0';".into(),
            ("tasks", a0.clone(), "seq"),
        ),
        (
            "two tasks with one place in the insertion order",
            "UPDATE tasks SET seq = (SELECT seq FROM tasks WHERE task_id = 'a/task-0') \
             WHERE task_id = 'a/task-1';"
                .into(),
            ("tasks", a1.clone(), "seq"),
        ),
        (
            "a task of a job with no row",
            backend.unchecked("DELETE FROM jobs;"),
            ("tasks", a0.clone(), "job_id"),
        ),
        // Job a has a failed attempt, and no tolerance for one: it has ended FAILED.
        (
            "a job recorded pending that its tasks have ended",
            format!("UPDATE jobs SET state = {}, error = '';", job_state(Wire::Pending)),
            ("jobs", None, "state"),
        ),
        (
            "an error on a job that has not ended",
            format!("UPDATE jobs SET state = {}, error = 'x';", job_state(Wire::Running)),
            ("jobs", None, "state"),
        ),
        (
            "a job recorded succeeded whose tasks have not all succeeded",
            format!("UPDATE jobs SET state = {}, error = '';", job_state(Wire::Succeeded)),
            ("jobs", None, "state"),
        ),
    ];
    for (n, (name, edit, (table, task, column))) in cases.into_iter().enumerate() {
        let found = match open_after(backend, &format!("corrupt-{n}"), &edit) {
            Err(StoreError::Corrupt {
                table,
                task,
                column,
                why,
            }) => {
                assert!(!why.is_empty(), "{name}: says why");
                (table.to_owned(), task, column)
            }
            Err(other) => panic!("{}: {name}: expected Corrupt, got {other}", B::NAME),
            Ok(_) => panic!("{}: {name}: the impossible row was accepted", B::NAME),
        };
        assert_eq!(
            found,
            (table.to_owned(), task, column.to_owned()),
            "{}: {name}",
            B::NAME
        );
    }
}

pub fn a_schema_newer_than_the_crate_is_refused<B: Backend>(backend: &B) {
    match open_after(backend, "newer", "INSERT INTO schema_version VALUES (3);") {
        Err(StoreError::NewerSchema { found: 3, known: 2 }) => {}
        other => panic!("{}: expected NewerSchema, got {other:?}", B::NAME),
    }
}

/// The store `tests/fixtures/store_v1/v1.db` holds (written by iris-task 0.2.0's own code, see
/// `make.rs` beside it), as SQL any backend runs: its own schema statements, its integer type
/// renamed to `int`, and its rows.
pub fn version_1_store(int: &str) -> String {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store_v1/v1.db");
    let db =
        rusqlite::Connection::open_with_flags(&fixture, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut sql = String::new();
    let mut schema = db
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        .unwrap();
    let statements = schema.query_map([], |row| row.get::<_, String>(0)).unwrap();
    for statement in statements {
        sql.push_str(&statement.unwrap().replace("INTEGER", int));
        sql.push_str(";\n");
    }
    for table in ["schema_version", "jobs", "tasks", "task_attempts"] {
        let mut select = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = select.column_count();
        let rows = select
            .query_map([], |row| {
                (0..columns)
                    .map(|column| {
                        Ok(match row.get_ref(column)? {
                            rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                            rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                            rusqlite::types::ValueRef::Text(text) => {
                                format!("'{}'", String::from_utf8_lossy(text).replace('\'', "''"))
                            }
                            other => panic!("{table}: a value of type {:?}", other.data_type()),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .unwrap();
        for row in rows {
            sql.push_str(&format!(
                "INSERT INTO {table} VALUES ({});\n",
                row.unwrap().join(", ")
            ));
        }
    }
    sql
}

/// A store written by 0.2 (schema version 1, which kept no job state) opens, upgraded in place:
/// every job's state judged once under 0.3's rules and recorded, the jobs whose state changed
/// listed, no task changed.
pub fn a_version_1_store_upgrades_in_place<B: Backend>(backend: &B) {
    let place = backend.fresh("version-1");
    backend.side(&place, &version_1_store(B::INT));
    let tasks_in = |state: StateKind| {
        let number = iris_task::proto::TaskState::from(state) as i32;
        backend.read(
            &place,
            &format!("SELECT count(*) FROM tasks WHERE state = {number}"),
        )
    };
    let before: Vec<i64> = StateKind::ALL.into_iter().map(tasks_in).collect();
    let attempts = backend.read(&place, "SELECT count(*) FROM task_attempts");
    let table = backend.table(&place).unwrap();
    let upgrade = table.upgrade().expect("a version 1 store is upgraded");
    assert_eq!((upgrade.from(), upgrade.to()), (1, 2), "{}", B::NAME);
    let job = |name: &str| JobId::new(name).unwrap();
    let step = |from, to| iris_task::JobTransition { from, to };
    use iris_task::JobState::*;
    assert_eq!(
        upgrade.jobs(),
        [
            // A: a task failed once and was retried: a failed attempt, over the default limit.
            (job("rule-a"), step(Running, Failed)),
            // B: every task ended, one FAILED within the tolerance.
            (job("rule-b"), step(Succeeded, Failed)),
            // D: one failed attempt of the two the gang tolerates; its members stopped with it.
            (job("rule-d"), step(Failed, WorkerFailed)),
        ],
        "{}",
        B::NAME
    );
    let states: Vec<(String, iris_task::JobState)> = table
        .table()
        .jobs()
        .map(|job| (job.id().to_string(), job.state()))
        .collect();
    let named = |states: &[(&str, iris_task::JobState)]| -> Vec<(String, iris_task::JobState)> {
        states
            .iter()
            .map(|(name, state)| (name.to_string(), *state))
            .collect()
    };
    let expected = named(&[
        ("rule-a", Failed),
        ("rule-b", Failed),
        ("rule-d", WorkerFailed),
        ("succeeded", Succeeded),
        ("running", Running),
        ("unknown-policy", Pending),
        ("cancelled", Killed),
    ]);
    assert_eq!(states, expected, "{}", B::NAME);
    assert_eq!(
        table.table().job(&job("rule-a")).unwrap().error(),
        Some("Cumulative failed task attempts exceeded max_task_failures: failures=1, limit=0"),
        "{}",
        B::NAME
    );
    drop(table);
    // Recorded: the store says version 2 and each job's state; no task row changed.
    assert_eq!(
        backend.read(&place, "SELECT max(version) FROM schema_version"),
        2
    );
    assert_eq!(
        backend.read(&place, "SELECT state FROM jobs WHERE job_id = 'rule-d'"),
        i64::from(iris_task::proto::JobState::WorkerFailed as i32)
    );
    let after: Vec<i64> = StateKind::ALL.into_iter().map(tasks_in).collect();
    assert_eq!(before, after, "{}: no task changed", B::NAME);
    assert_eq!(
        backend.read(&place, "SELECT count(*) FROM task_attempts"),
        attempts
    );
    // Opened again, nothing left to upgrade, and the same states.
    let reopened = backend.table(&place).unwrap();
    assert!(reopened.upgrade().is_none(), "{}", B::NAME);
    let again: Vec<(String, iris_task::JobState)> = reopened
        .table()
        .jobs()
        .map(|job| (job.id().to_string(), job.state()))
        .collect();
    assert_eq!(again, expected, "{}", B::NAME);
    // The upgrade made the records table: a record of a job 0.2 wrote comes back.
    let mut reopened = reopened;
    let job = JobId::new("rule-d").unwrap();
    reopened
        .put_record("spec", "rule-d", Some(&job), vec![1, 2, 3])
        .unwrap();
    drop(reopened);
    let reopened = backend.table(&place).unwrap();
    let record = reopened
        .record("spec", "rule-d")
        .map(|r| r.value().to_vec());
    assert_eq!(record, Some(vec![1, 2, 3]), "{}", B::NAME);
}

/// A lowered `max_task_failures` is judged at the job's next task change, as Iris judges a job
/// when a task changes: the store records the job as it is until then (RUNNING, over the new
/// limit), reopens it so, and the next change ends it and stops the rest.
pub fn a_lowered_limit_is_judged_at_the_next_task_change_across_a_reopen<B: Backend>(backend: &B) {
    let place = backend.fresh("lowered");
    let job = JobId::new("lowered").unwrap();
    let task = |index| TaskId::new(job.clone(), index);
    let tolerant = JobPolicy {
        max_task_failures: 5,
        ..JobPolicy::default()
    };
    {
        let mut table = backend.table(&place).unwrap();
        table
            .insert_job(
                job.clone(),
                tolerant,
                (0..2).map(|index| Task::new(task(index), RETRY)),
            )
            .unwrap();
        for index in 0..2 {
            table
                .assign(&task(index), worker(index as usize), at(1))
                .unwrap();
            let running = report(table.table(), &task(index), 1, at(2)).unwrap();
            table.apply(&task(index), running).unwrap();
        }
        let failed = report(table.table(), &task(0), 3, at(3)).unwrap();
        table.apply(&task(0), failed).unwrap();
        table
            .set_job_policy(job.clone(), JobPolicy::default())
            .unwrap();
        assert_eq!(
            table.table().job_state(&job),
            Some(iris_task::JobState::Running)
        );
    }
    let mut table = backend.table(&place).unwrap();
    assert_eq!(
        table.table().job_state(&job),
        Some(iris_task::JobState::Running),
        "{}: reopened as recorded",
        B::NAME
    );
    let succeeded = report(table.table(), &task(1), 2, at(4)).unwrap();
    let changes = table.apply(&task(1), succeeded).unwrap();
    assert_eq!(
        changes.job(&job).map(|step| step.to),
        Some(iris_task::JobState::Failed),
        "{}",
        B::NAME
    );
    assert_eq!(
        table.table().get(&task(0)).map(AnyTask::state),
        Some(StateKind::Killed),
        "{}: the waiting task is stopped with its job",
        B::NAME
    );
    drop(table);
    let reopened = backend.table(&place).unwrap();
    assert_eq!(
        reopened.table().job_state(&job),
        Some(iris_task::JobState::Failed),
        "{}",
        B::NAME
    );
}

/// Every test of the suite, in order, on one backend.
pub fn all<B: Backend>(backend: &B, replay_cases: u32) {
    a_reopened_table_equals_the_replay(backend, replay_cases);
    tasks_inserted_in_any_state_come_back(backend);
    a_store_larger_than_a_read_chunk_comes_back_exactly(backend);
    a_batch_is_one_transaction_and_a_refused_call_inside_it_writes_nothing(backend);
    a_failed_commit_leaves_memory_equal_to_the_store(backend);
    a_failed_commit_that_cannot_be_undone_poisons_the_table(backend);
    a_group_is_written_at_its_commit_and_a_failed_commit_drops_the_whole_group(backend);
    a_call_that_panics_mid_way_poisons_the_table_until_it_is_reopened(backend);
    a_durable_table_that_removes_finished_jobs_stays_flat_on_disk(backend);
    the_untouched_store_opens(backend);
    each_impossible_row_is_corrupt_naming_table_task_and_column(backend);
    a_schema_newer_than_the_crate_is_refused(backend);
    a_version_1_store_upgrades_in_place(backend);
    a_lowered_limit_is_judged_at_the_next_task_change_across_a_reopen(backend);
    records_commit_with_the_table_and_go_with_their_job(backend);
}

/// A controller's records ride in the table's transactions: they come back after a reopen, a
/// failed commit takes them back with the tasks, a record of a job the table does not know is
/// refused, and a removed job takes its records with it (the controller's own stay).
pub fn records_commit_with_the_table_and_go_with_their_job<B: Backend>(backend: &B) {
    let place = backend.fresh("records");
    let job = id(0, 0).job().clone();
    let bundle: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    {
        let mut table = backend.table(&place).unwrap();
        table
            .batch(|batch| {
                batch.insert(Task::new(id(0, 0), RetryPolicy::default()))?;
                batch.put_record("spec", job.as_str(), Some(&job), b"spec".to_vec())?;
                batch.put_record("bundle", job.as_str(), Some(&job), bundle.clone())?;
                batch.put_record("worker", "w1", None, b"w1 at 127.0.0.1:1".to_vec())
            })
            .unwrap()
            .unwrap();
        // Unknown job: refused, and nothing of it is put.
        let stranger = JobId::new("stranger").unwrap();
        let err = table
            .put_record("spec", "stranger", Some(&stranger), Vec::new())
            .unwrap_err();
        assert_eq!(
            err.table(),
            Some(&iris_task::TableError::UnknownJob(stranger))
        );
        assert!(table.record("spec", "stranger").is_none());
    }
    let table = backend.table(&place).unwrap();
    assert_eq!(
        table
            .record("bundle", job.as_str())
            .map(|r| r.value().to_vec()),
        Some(bundle)
    );
    assert_eq!(
        table.record("spec", job.as_str()).and_then(|r| r.job()),
        Some(&job)
    );
    let workers: Vec<(&str, &[u8])> = table
        .records("worker")
        .map(|(k, r)| (k, r.value()))
        .collect();
    assert_eq!(workers, [("w1", &b"w1 at 127.0.0.1:1"[..])]);
    assert_eq!(table.records("spec").count(), 1, "spaces do not mix");

    // A failed commit takes the batch's records back with its tasks.
    backend.side(&place, &backend.failing_insert("a/task-1"));
    let mut table_failing = {
        drop(table);
        backend.table(&place).unwrap()
    };
    let err = table_failing
        .batch(|batch| {
            batch
                .insert(Task::new(id(0, 1), RetryPolicy::default()))
                .unwrap();
            batch
                .put_record("worker", "w2", None, b"w2".to_vec())
                .unwrap();
            batch.remove_record("worker", "w1");
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(table_failing.record("worker", "w2").is_none());
    assert!(table_failing.record("worker", "w1").is_some());
    drop(table_failing);

    // The job ends and is removed: its records go in the same transaction; the worker's stays.
    let mut table = backend.table(&place).unwrap();
    table.assign(&id(0, 0), worker(0), at(1)).unwrap();
    for (report, t) in [(WorkerReport::Running, 2), (WorkerReport::Succeeded, 3)] {
        let event = TaskEvent::Report {
            worker: worker(0),
            attempt: iris_task::AttemptId::new(0),
            report,
            at: at(t),
        };
        table.apply(&id(0, 0), event).unwrap();
    }
    table.remove_job(&job).unwrap();
    assert!(table.record("spec", job.as_str()).is_none());
    drop(table);
    let table = backend.table(&place).unwrap();
    assert_eq!(
        table.records("spec").count() + table.records("bundle").count(),
        0
    );
    assert_eq!(table.records("worker").count(), 1);
    assert_eq!(backend.read(&place, "SELECT count(*) FROM records"), 1);
}
