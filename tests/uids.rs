//! Attempt uids in the table: every assignment mints one no attempt in the table has, the table
//! finds any attempt by its uid, and nothing enters the table with a uid it already holds.

use iris_task::{
    AttemptId, AttemptUid, JobId, JobPolicy, RetryPolicy, StateKind, TableError, Task, TaskEvent,
    TaskId, TaskTable, Timestamp, UidMinter, WorkerId, WorkerReport,
};

fn id(index: u32) -> TaskId {
    TaskId::new(JobId::new("job").unwrap(), index)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn pending(index: u32) -> Task<iris_task::Pending> {
    Task::new(
        id(index),
        RetryPolicy {
            max_retries_failure: 5,
            max_retries_preemption: 5,
        },
    )
}

#[test]
fn every_assignment_gets_a_uid_no_attempt_in_the_table_has() {
    let mut table = TaskTable::new();
    table.set_uid_minter(UidMinter::seeded(3));
    for index in 0..200 {
        table.insert(pending(index)).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    for round in 0..3 {
        for index in 0..200 {
            let task = table.assign(&id(index), w("w1"), at(round * 10)).unwrap();
            let uid = task.attempts().last().unwrap().uid();
            assert!(seen.insert(uid), "{uid} minted twice");
            // A failure sends it back to the queue: the next round opens another attempt.
            table
                .apply(
                    &id(index),
                    TaskEvent::Report {
                        worker: w("w1"),
                        attempt: AttemptId::new(round as u32),
                        report: WorkerReport::Failed {
                            exit_code: 1,
                            error: "exit 1".into(),
                        },
                        at: at(round * 10 + 5),
                    },
                )
                .unwrap();
        }
    }
    assert_eq!(seen.len(), 600);
    // Every one of them, closed or open, leads back to its task and attempt.
    for task in table.iter() {
        for attempt in task.attempts() {
            let (found, found_attempt) = table.attempt_by_uid(attempt.uid()).unwrap();
            assert_eq!((found.id(), found_attempt), (task.id(), attempt));
        }
    }
}

#[test]
fn a_seeded_minter_gives_the_same_uids_on_every_run() {
    let uids = || {
        let mut table = TaskTable::new();
        table.set_uid_minter(UidMinter::seeded(11));
        (0..5)
            .map(|index| {
                table.insert(pending(index)).unwrap();
                table.assign(&id(index), w("w1"), at(1)).unwrap().attempts()[0].uid()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(), uids());
    let mut minter = UidMinter::seeded(11);
    assert_eq!(uids(), (0..5).map(|_| minter.mint()).collect::<Vec<_>>());
}

/// A minter that would mint a uid the table holds (a table reopened with the seed it ran with,
/// say) gets another: the table mints again, as Iris does on a clash.
#[test]
fn a_clash_with_a_held_uid_is_minted_again() {
    let clash = UidMinter::seeded(5).mint();
    let held = pending(0).assign_with_uid(w("w1"), clash, at(1));
    let mut table = TaskTable::new();
    table.insert(held).unwrap();
    table.insert(pending(1)).unwrap();
    table.set_uid_minter(UidMinter::seeded(5));
    let uid = table.assign(&id(1), w("w1"), at(2)).unwrap().attempts()[0].uid();
    assert_ne!(uid, clash);
    let mut minter = UidMinter::seeded(5);
    minter.mint();
    assert_eq!(uid, minter.mint(), "the minter's next one");
}

#[test]
fn a_task_whose_uid_the_table_holds_is_refused_and_nothing_changes() {
    let uid = AttemptUid::new(42);
    let mut table = TaskTable::new();
    table
        .insert(pending(0).assign_with_uid(w("w1"), uid, at(1)))
        .unwrap();
    let before = format!("{:?}", table.iter().collect::<Vec<_>>());
    let err = table
        .insert(pending(1).assign_with_uid(w("w2"), uid, at(1)))
        .unwrap_err();
    assert_eq!(
        err,
        TableError::DuplicateAttemptUid {
            task: id(1),
            uid,
            holder: id(0)
        }
    );
    assert_eq!(
        err.to_string(),
        "task job/task-1: attempt uid 000000000000002a is already the uid of an attempt of task job/task-0"
    );
    assert_eq!(format!("{:?}", table.iter().collect::<Vec<_>>()), before);
    assert_eq!(table.len(), 1);
    assert_eq!(table.counts().get(StateKind::Assigned), 1);
}

#[test]
fn a_job_whose_tasks_repeat_a_uid_is_refused_whole() {
    let uid = AttemptUid::new(7);
    let job = JobId::new("job").unwrap();
    let mut table = TaskTable::new();
    let tasks = [
        pending(0).into_any(),
        pending(1).assign_with_uid(w("w1"), uid, at(1)).into_any(),
        pending(2).assign_with_uid(w("w2"), uid, at(1)).into_any(),
    ];
    let err = table
        .insert_job(job.clone(), JobPolicy::default(), tasks)
        .unwrap_err();
    assert_eq!(
        err,
        TableError::DuplicateAttemptUid {
            task: id(2),
            uid,
            holder: id(1)
        }
    );
    assert!(table.is_empty());
    assert!(table.job(&job).is_none());
    // A task repeating a uid among its own attempts is refused too.
    let twice = pending(3)
        .assign_with_uid(w("w1"), uid, at(1))
        .worker_failed("lost", at(2))
        .assign_with_uid(w("w2"), uid, at(3));
    assert!(matches!(
        table.insert(twice),
        Err(TableError::DuplicateAttemptUid { .. })
    ));
    assert!(table.is_empty());
}

#[test]
fn a_removed_job_takes_its_uids_with_it() {
    let mut table = TaskTable::new();
    table.insert(pending(0)).unwrap();
    let uid = table.assign(&id(0), w("w1"), at(1)).unwrap().attempts()[0].uid();
    let job = JobId::new("job").unwrap();
    table.kill_job(&job, "done", at(2));
    assert!(
        table.attempt_by_uid(uid).is_some(),
        "a closed attempt is still found"
    );
    table.remove_job(&job).unwrap();
    assert!(table.attempt_by_uid(uid).is_none());
    // Its uid may be used again, as by a task loaded from elsewhere.
    table
        .insert(
            Task::new(
                TaskId::new(JobId::new("next").unwrap(), 0),
                RetryPolicy::default(),
            )
            .assign_with_uid(w("w1"), uid, at(3)),
        )
        .unwrap();
    assert!(table.attempt_by_uid(uid).is_some());
}
