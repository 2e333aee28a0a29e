//! The `serde` feature: the stored form of tasks and values, and validation on the way back in.
#![cfg(feature = "serde")]

mod common;

use iris_task::{
    AnyTask, Assigned, AttemptId, AttemptUid, JobId, JobState, Pending, RetryPolicy, StateCounts,
    StateKind, Task, TaskEvent, TaskId, Timestamp, WorkerId, WorkerReport,
};
use proptest::prelude::*;
use serde_json::json;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn task() -> Task<Pending> {
    Task::new("job/task-0".parse().unwrap(), RetryPolicy::default())
}

fn assigned() -> Task<Assigned> {
    task().assign_with_uid(WorkerId::new("w1").unwrap(), AttemptUid::new(0xa5), at(5))
}

#[test]
fn values_are_written_as_labels_text_and_numbers() {
    assert_eq!(
        serde_json::to_value(StateKind::WorkerFailed).unwrap(),
        json!("worker_failed")
    );
    assert_eq!(
        serde_json::to_value(JobState::Running).unwrap(),
        json!("running")
    );
    assert_eq!(
        serde_json::to_value("a/b/task-2".parse::<TaskId>().unwrap()).unwrap(),
        json!("a/b/task-2")
    );
    assert_eq!(
        serde_json::to_value(JobId::new("a/b").unwrap()).unwrap(),
        json!("a/b")
    );
    assert_eq!(
        serde_json::to_value(WorkerId::new("w1").unwrap()).unwrap(),
        json!("w1")
    );
    assert_eq!(serde_json::to_value(AttemptId::new(3)).unwrap(), json!(3));
    assert_eq!(serde_json::to_value(at(-7)).unwrap(), json!(-7));
    assert_eq!(
        serde_json::to_value(RetryPolicy::default()).unwrap(),
        json!({"max_retries_failure": 0, "max_retries_preemption": 100})
    );
}

#[test]
fn values_read_back_only_when_valid() {
    assert_eq!(
        serde_json::from_value::<StateKind>(json!("assigned")).unwrap(),
        StateKind::Assigned
    );
    assert!(serde_json::from_value::<StateKind>(json!("ASSIGNED")).is_err());
    assert!(serde_json::from_value::<StateKind>(json!(9)).is_err());
    assert_eq!(
        serde_json::from_value::<TaskId>(json!("j/task-1")).unwrap(),
        "j/task-1".parse().unwrap()
    );
    let err = serde_json::from_value::<TaskId>(json!("j/task-x")).unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
    assert!(serde_json::from_value::<WorkerId>(json!("")).is_err());
    assert!(serde_json::from_value::<JobId>(json!("a/ /b")).is_err());
    // A policy with a field left out takes that field's default; an unknown field is an error.
    assert_eq!(
        serde_json::from_value::<RetryPolicy>(json!({"max_retries_failure": 3})).unwrap(),
        RetryPolicy {
            max_retries_failure: 3,
            max_retries_preemption: 100
        }
    );
    assert!(serde_json::from_value::<RetryPolicy>(json!({"retries": 3})).is_err());
    assert_eq!(
        serde_json::from_value::<iris_task::JobPolicy>(json!({})).unwrap(),
        iris_task::JobPolicy::default()
    );
    assert!(
        serde_json::from_value::<iris_task::Transition>(
            json!({"from": "pending", "to": "assigned", "x": 1})
        )
        .is_err()
    );
    assert_eq!(
        serde_json::from_value::<RetryPolicy>(json!({})).unwrap(),
        RetryPolicy::default()
    );
    assert!(serde_json::from_value::<RetryPolicy>(json!({"max_retries": 1})).is_err());
}

#[test]
fn a_task_is_an_object_tagged_state() {
    let value = serde_json::to_value(assigned()).unwrap();
    assert_eq!(
        value,
        json!({
            "state": "assigned",
            "id": "job/task-0",
            "policy": {"max_retries_failure": 0, "max_retries_preemption": 100},
            "attempts": [{
                "id": 0,
                "uid": "00000000000000a5",
                "worker": "w1",
                "state": "assigned",
                "assigned_at": 5,
            }],
        })
    );
    // `Task<S>` and `AnyTask` write the same thing.
    assert_eq!(serde_json::to_value(assigned().into_any()).unwrap(), value);
}

/// A 0.2 snapshot's attempts have no uid: they read back with their legacy uid. A uid that is
/// not 16 lowercase hex characters is refused.
#[test]
fn an_attempt_without_a_uid_gets_its_legacy_uid_and_a_bad_uid_is_refused() {
    let mut value = serde_json::to_value(assigned()).unwrap();
    value["attempts"][0].as_object_mut().unwrap().remove("uid");
    let back: Task<Assigned> = serde_json::from_value(value.clone()).unwrap();
    let id = TaskId::new(JobId::new("job").unwrap(), 0);
    assert_eq!(
        back.attempts()[0].uid(),
        AttemptUid::legacy(&id, AttemptId::new(0))
    );
    value["attempts"][0]["uid"] = json!("00000000000000A5");
    let err = serde_json::from_value::<Task<Assigned>>(value).unwrap_err();
    assert!(err.to_string().contains("16 lowercase hex"), "{err}");
}

#[test]
fn a_task_that_ended_while_pending_keeps_its_time_and_reason() {
    let value = serde_json::to_value(task().mark_unschedulable("no GPUs", at(9))).unwrap();
    assert_eq!(value["state"], json!("unschedulable"));
    assert_eq!(value["finished_at"], json!(9));
    assert_eq!(value["error"], json!("no GPUs"));
    let back: AnyTask = serde_json::from_value(value).unwrap();
    let AnyTask::Unschedulable(back) = back else {
        panic!("{back:?}")
    };
    assert_eq!(back.error(), Some("no GPUs"));
}

#[test]
fn a_typed_task_reads_back_only_from_its_own_state() {
    let json = serde_json::to_string(&assigned()).unwrap();
    assert_eq!(
        serde_json::from_str::<Task<Assigned>>(&json).unwrap(),
        assigned()
    );
    let err = serde_json::from_str::<Task<Pending>>(&json).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a pending task, found a assigned one"),
        "{err}"
    );
}

#[test]
fn a_state_tag_that_contradicts_the_attempts_is_rejected() {
    let mut value = serde_json::to_value(assigned()).unwrap();
    value["state"] = json!("running");
    let err = serde_json::from_value::<AnyTask>(value).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid task: TaskStatus.state: a running task needs an open running attempt"
        ),
        "{err}"
    );

    let mut value = serde_json::to_value(assigned()).unwrap();
    value["attempts"][0]["id"] = json!(1);
    assert!(
        serde_json::from_value::<AnyTask>(value).is_err(),
        "attempt ids are 0, 1, 2, …"
    );

    let mut value = serde_json::to_value(assigned()).unwrap();
    value["attempts"][0]["finished_at"] = json!(6);
    assert!(
        serde_json::from_value::<AnyTask>(value).is_err(),
        "an open attempt has no finish"
    );

    let mut value = serde_json::to_value(assigned()).unwrap();
    value["surprise"] = json!(true);
    assert!(
        serde_json::from_value::<AnyTask>(value).is_err(),
        "unknown fields are refused"
    );
}

#[test]
fn state_counts_are_a_map_of_labels() {
    let counts: StateCounts = [StateKind::Assigned, StateKind::Assigned, StateKind::Pending]
        .into_iter()
        .collect();
    let value = serde_json::to_value(&counts).unwrap();
    assert_eq!(value["assigned"], json!(2));
    assert_eq!(value["pending"], json!(1));
    assert_eq!(value["worker_failed"], json!(0));
    assert_eq!(
        serde_json::from_value::<StateCounts>(value).unwrap(),
        counts
    );
    assert!(serde_json::from_value::<StateCounts>(json!({"lost": 1})).is_err());
}

#[test]
fn events_round_trip() {
    let events = [
        TaskEvent::Assign {
            worker: WorkerId::new("w1").unwrap(),
            at: at(1),
        },
        TaskEvent::Report {
            worker: WorkerId::new("w1").unwrap(),
            attempt: AttemptId::new(0),
            report: WorkerReport::Failed {
                exit_code: 2,
                error: "exit 2".into(),
            },
            at: at(2),
        },
        TaskEvent::WorkerLost {
            worker: WorkerId::new("w1").unwrap(),
            error: "lost".into(),
            at: at(3),
        },
        TaskEvent::Kill {
            reason: "user".into(),
            at: at(4),
        },
        TaskEvent::SchedulingTimeout { at: at(5) },
        TaskEvent::Preempt {
            reason: "priority".into(),
            at: at(6),
        },
        TaskEvent::SiblingFailed {
            sibling: "gang/task-1".parse().unwrap(),
            at: at(7),
        },
        TaskEvent::SiblingRequeued {
            sibling: "gang/task-1".parse().unwrap(),
            at: at(8),
        },
        TaskEvent::Report {
            worker: WorkerId::new("w1").unwrap(),
            attempt: AttemptId::new(0),
            report: WorkerReport::Killed {
                error: "OOM".into(),
            },
            at: at(9),
        },
        TaskEvent::Report {
            worker: WorkerId::new("w1").unwrap(),
            attempt: AttemptId::new(0),
            report: WorkerReport::Preempted {
                error: "evicted".into(),
            },
            at: at(9),
        },
    ];
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<TaskEvent>(&json).unwrap(),
            event,
            "{json}"
        );
    }
    let report = serde_json::to_value(TaskEvent::Report {
        worker: WorkerId::new("w2").unwrap(),
        attempt: AttemptId::new(1),
        report: WorkerReport::Running,
        at: at(9),
    })
    .unwrap();
    assert_eq!(
        report,
        json!({"event": "report", "worker": "w2", "attempt": 1, "report": {"state": "running"}, "at": 9})
    );
    assert_eq!(
        serde_json::to_value(WorkerReport::Missing).unwrap(),
        json!({"state": "missing"})
    );
    assert_eq!(
        serde_json::to_value(TaskEvent::SiblingFailed {
            sibling: "gang/task-1".parse().unwrap(),
            at: at(7)
        })
        .unwrap(),
        json!({"event": "sibling_failed", "sibling": "gang/task-1", "at": 7})
    );
}

/// An attempt the worker killed unasked keeps that in its stored form, and only then; a flag on
/// any other attempt is refused as the wire's `is_worker_failure` would be.
#[test]
fn an_attempt_killed_on_its_worker_says_so_and_round_trips() {
    let requeued = assigned()
        .start(at(6))
        .killed_on_worker("OOM killer", at(7));
    let requeued = match requeued {
        iris_task::Retry::Requeued(task) => task.into_any(),
        iris_task::Retry::Exhausted(_) => panic!("the default budget allows 100"),
    };
    let value = serde_json::to_value(&requeued).unwrap();
    assert_eq!(value["attempts"][0]["state"], "killed");
    assert_eq!(value["attempts"][0]["killed_on_worker"], true);
    assert_eq!(
        serde_json::from_value::<AnyTask>(value.clone()).unwrap(),
        requeued
    );
    let killed = serde_json::to_value(assigned().kill("user", at(7))).unwrap();
    assert!(killed["attempts"][0].get("killed_on_worker").is_none());
    let mut forged = value;
    forged["attempts"][0]["state"] = json!("failed");
    forged["attempts"][0]["exit_code"] = json!(1);
    assert!(serde_json::from_value::<AnyTask>(forged).is_err());
}

#[test]
fn a_job_policy_reads_coscheduled_and_defaults_it() {
    use iris_task::JobPolicy;
    let gang: JobPolicy = serde_json::from_value(json!({"coscheduled": true})).unwrap();
    assert_eq!(
        gang,
        JobPolicy {
            max_task_failures: 0,
            coscheduled: true
        }
    );
    assert_eq!(
        serde_json::to_value(gang).unwrap(),
        json!({"max_task_failures": 0, "coscheduled": true})
    );
}

proptest! {
    #[test]
    fn every_reachable_task_round_trips_through_json(task in common::task()) {
        let json = serde_json::to_string(&task).unwrap();
        prop_assert_eq!(serde_json::from_str::<AnyTask>(&json).unwrap(), task);
    }
}

#[test]
fn counts_deserialize_as_numbers_in_time_proportional_to_the_input() {
    // Read as a number, not by repeating the state: this returns at once.
    let counts: StateCounts =
        serde_json::from_str(r#"{"pending": 18446744073709551615, "running": 3}"#).unwrap();
    assert_eq!(counts.get(StateKind::Pending), usize::MAX);
    assert_eq!(counts.get(StateKind::Running), 3);
    assert_eq!(counts.total(), usize::MAX, "totals saturate");
    // Every state at the maximum: still no overflow.
    let all = StateKind::ALL
        .iter()
        .map(|state| format!("\"{state}\": {}", usize::MAX))
        .collect::<Vec<_>>()
        .join(", ");
    let counts: StateCounts = serde_json::from_str(&format!("{{{all}}}")).unwrap();
    assert_eq!(counts.total(), usize::MAX);
    assert_eq!(counts.unfinished(), usize::MAX);
    // A state named twice, a negative or fractional count, an unknown label: errors.
    for bad in [
        r#"{"pending": 1, "pending": 2}"#,
        r#"{"pending": -1}"#,
        r#"{"pending": 1.5}"#,
        r#"{"PENDING": 1}"#,
    ] {
        assert!(serde_json::from_str::<StateCounts>(bad).is_err(), "{bad}");
    }
}

#[test]
fn job_states_serialize_as_their_labels_both_ways() {
    for state in JobState::ALL {
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("\"{}\"", state.label()));
        assert_eq!(serde_json::from_str::<JobState>(&json).unwrap(), state);
    }
    assert!(serde_json::from_str::<JobState>("\"assigned\"").is_err());
}

// ----- the table snapshot -----

mod snapshot {
    use std::time::Duration;

    use iris_task::{
        AnyTask, AttemptId, JobId, JobPolicy, RetryPolicy, Task, TaskEvent, TaskId, TaskTable,
        Timestamp, WorkerId, WorkerReport,
    };
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn id(job: usize, index: u32) -> TaskId {
        TaskId::new(JobId::new(["a", "b", "c"][job % 3]).unwrap(), index)
    }

    fn worker(n: usize) -> WorkerId {
        WorkerId::new(format!("w{}", n % 3)).unwrap()
    }

    /// Drives a table with small random calls: schedules, reports, lost workers, deadlines,
    /// kills, policies and removed jobs, at a clock that sometimes stands still.
    fn workload(ops: &[(u8, usize, u32, usize)]) -> TaskTable {
        let mut table = TaskTable::new();
        table.set_job_policy(
            JobId::new("b").unwrap(),
            JobPolicy {
                coscheduled: true,
                ..JobPolicy::default()
            },
        );
        for job in 0..3 {
            for index in 0..4 {
                table
                    .insert(Task::new(
                        id(job, index),
                        RetryPolicy {
                            max_retries_failure: 1,
                            max_retries_preemption: 2,
                        },
                    ))
                    .unwrap();
            }
        }
        for (step, &(kind, job, index, w)) in ops.iter().enumerate() {
            let t = at(step as i64 / 2);
            let task = id(job, index % 4);
            let report = |table: &TaskTable, report| {
                let attempt = table.get(&task).and_then(AnyTask::current_attempt)?;
                Some(TaskEvent::Report {
                    worker: attempt.worker().clone(),
                    attempt: attempt.id(),
                    report,
                    at: t,
                })
            };
            match kind % 8 {
                0 => {
                    let mut n = w;
                    table.schedule(t, |_| {
                        n += 1;
                        (n % 4 != 0).then(|| worker(n))
                    });
                }
                1 | 2 => {
                    if let Some(event) = report(&table, WorkerReport::Running) {
                        let _ = table.apply(&task, event);
                    }
                }
                3 => {
                    let end = if w % 2 == 0 {
                        WorkerReport::Succeeded
                    } else {
                        WorkerReport::Failed {
                            exit_code: 1,
                            error: "x".into(),
                        }
                    };
                    if let Some(event) = report(&table, end) {
                        let _ = table.apply(&task, event);
                    }
                }
                4 => {
                    table.worker_lost(&worker(w), "lost", t);
                }
                5 => {
                    table.expire_assigned(t, Duration::from_millis(2));
                }
                6 => {
                    let _ = table.apply(
                        &task,
                        TaskEvent::Preempt {
                            reason: "priority".into(),
                            at: t,
                        },
                    );
                }
                _ => {
                    let job_id = task.job().clone();
                    table.kill_job(&job_id, "done", t);
                    if w % 2 == 0 {
                        table.remove_job(&job_id).unwrap();
                        for index in 0..4 {
                            table
                                .insert(Task::new(
                                    TaskId::new(job_id.clone(), index),
                                    RetryPolicy::default(),
                                ))
                                .unwrap();
                        }
                    }
                }
            }
        }
        table
    }

    /// Everything the table's views say, for comparing two tables.
    fn views(table: &TaskTable) -> Value {
        json!({
            "tasks": table.iter().collect::<Vec<_>>(),
            "pending": table.pending().map(|task| task.id().to_string()).collect::<Vec<_>>(),
            "workers": (0..3).map(|w| table.tasks_on(&worker(w)).map(ToString::to_string).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "counts": table.counts(),
            "jobs": table.jobs().map(|job| (job.id().to_string(), job.counts().clone(), job.policy().copied(), job.state(), job.error(), job.failures(), job.has_started())).collect::<Vec<_>>(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// A table read back from its snapshot is the same table: the same tasks in the same
        /// order, the same pending queue, worker lists, job policies, counts and job states, and
        /// it behaves the same: the dispatch deadline expires the same tasks in the same order.
        #[test]
        fn a_table_reads_back_exactly(ops in proptest::collection::vec((0u8..8, 0usize..3, 0u32..4, 0usize..6), 0..80)) {
            let mut table = workload(&ops);
            let json = serde_json::to_string(&table).unwrap();
            let mut back: TaskTable = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
            prop_assert_eq!(views(&back), views(&table));
            let now = at(1_000);
            let expired = table.expire_assigned(now, Duration::ZERO);
            prop_assert_eq!(back.expire_assigned(now, Duration::ZERO), expired);
            prop_assert_eq!(views(&back), views(&table));
        }
    }

    /// Saving the tasks and inserting them again puts a requeued task back in id order; the
    /// snapshot keeps it behind the tasks that waited longer.
    #[test]
    fn a_requeued_task_stays_behind_the_tasks_that_waited_longer() {
        let mut table = TaskTable::new();
        for index in 0..3 {
            table
                .insert(Task::new(id(0, index), RetryPolicy::default()))
                .unwrap();
        }
        table.assign(&id(0, 0), worker(1), at(1)).unwrap();
        table.worker_lost(&worker(1), "lost", at(2));
        let queue = |table: &TaskTable| -> Vec<u32> {
            table.pending().map(|task| task.id().index()).collect()
        };
        assert_eq!(queue(&table), [1, 2, 0]);
        let back: TaskTable =
            serde_json::from_value(serde_json::to_value(&table).unwrap()).unwrap();
        assert_eq!(queue(&back), [1, 2, 0]);
        let reinserted = TaskTable::from_tasks(table.iter().cloned()).unwrap();
        assert_eq!(queue(&reinserted), [0, 1, 2], "what the snapshot is for");
    }

    #[test]
    fn a_snapshot_whose_orders_do_not_fit_its_tasks_is_refused() {
        let mut table = TaskTable::new();
        table.set_job_policy(JobId::new("a").unwrap(), JobPolicy::default());
        for index in 0..3 {
            table
                .insert(Task::new(id(0, index), RetryPolicy::default()))
                .unwrap();
        }
        table.assign(&id(0, 0), worker(1), at(5)).unwrap();
        table.assign(&id(0, 1), worker(1), at(7)).unwrap();
        let good = serde_json::to_value(&table).unwrap();
        assert!(serde_json::from_value::<TaskTable>(good.clone()).is_ok());
        let broken = |edit: &dyn Fn(&mut Value), expected: &str| {
            let mut snapshot = good.clone();
            edit(&mut snapshot);
            let err = serde_json::from_value::<TaskTable>(snapshot)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err:?} does not say {expected:?}");
        };
        broken(&|s| s["pending"] = json!([]), "the orders list 0 pending");
        broken(
            &|s| s["pending"] = json!(["a/task-2", "a/task-2"]),
            "lists a/task-2 twice",
        );
        broken(
            &|s| s["pending"] = json!(["a/task-0"]),
            "a/task-0, which is not pending",
        );
        broken(
            &|s| s["pending"] = json!(["a/task-9"]),
            "a/task-9, which is not among the tasks",
        );
        broken(
            &|s| s["assigned"] = json!(["a/task-1", "a/task-0"]),
            "after a task assigned later",
        );
        broken(
            &|s| s["assigned"] = json!(["a/task-0"]),
            "lists 1 of 2 ASSIGNED",
        );
        broken(
            &|s| s["workers"][0]["worker"] = json!("w2"),
            "not active on it",
        );
        broken(&|s| s["jobs"] = json!([]), "which the jobs do not list");
        broken(
            &|s| s["jobs"] = json!([{"id": "a"}, {"id": "a"}]),
            "job a is listed twice",
        );
        broken(
            &|s| s["tasks"][0]["state"] = json!("running"),
            "invalid task",
        );
        broken(&|s| s["extra"] = json!(1), "unknown field");
    }

    #[test]
    fn a_report_is_judged_the_same_after_a_reload() {
        // Reports name attempts by id; the snapshot keeps them (a report judged after a reload
        // is judged as before).
        let mut table = TaskTable::new();
        table
            .insert(Task::new(id(0, 0), RetryPolicy::default()))
            .unwrap();
        table.assign(&id(0, 0), worker(0), at(1)).unwrap();
        let mut back: TaskTable =
            serde_json::from_value(serde_json::to_value(&table).unwrap()).unwrap();
        let stale = TaskEvent::Report {
            worker: worker(0),
            attempt: AttemptId::new(3),
            report: WorkerReport::Running,
            at: at(2),
        };
        assert!(back.apply(&id(0, 0), stale).is_err());
    }
}
