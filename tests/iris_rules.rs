//! The rules release 0.3 takes from today's Iris, where 0.2's differed (the crate guide's
//! "Differences from Iris", kinds A, B, C, D and I, and what Iris had that the crate did not):
//! the job's FAILED attempts against `max_task_failures`, a tolerated failure that still fails its
//! job, gangs whose pending members stay pending and are placed whole, the job's state kept in
//! Iris's order and final once ended, the cancel of a WORKER_FAILED job, the execution timeout,
//! MISSING's error, the job's error, the cancel of child jobs. Each test fails on 0.2's rule;
//! `tests/conformance` checks the same against Iris's own kernel on random scripts.

use iris_task::{
    AnyTask, AttemptId, EXECUTION_TIMEOUT_ERROR, JobId, JobPolicy, JobState, JobTransition,
    MISSING_ERROR, PARENT_JOB_TERMINATED_REASON, RetryPolicy, StateKind, TableError, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, TransitionError, WorkerId, WorkerReport,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn job() -> JobId {
    JobId::new("/alice/train").unwrap()
}

fn task(index: u32) -> TaskId {
    TaskId::new(job(), index)
}

fn retries(failure: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: 5,
    }
}

fn limit(max_task_failures: u32, coscheduled: bool) -> JobPolicy {
    JobPolicy {
        max_task_failures,
        coscheduled,
    }
}

/// A table with `count` tasks of the job under `policy`, each assigned to its own worker
/// (`w0`, `w1`, …) and RUNNING.
fn running(count: u32, policy: JobPolicy, retry: RetryPolicy) -> TaskTable {
    let mut table = TaskTable::new();
    table.set_job_policy(job(), policy);
    for index in 0..count {
        table.insert(Task::new(task(index), retry)).unwrap();
    }
    let placed = table.schedule(at(1), |offer| {
        Some(
            offer
                .tasks()
                .iter()
                .map(|task| w(&format!("w{}", task.id().index())))
                .collect::<Vec<_>>(),
        )
    });
    assert_eq!(placed.len(), count as usize);
    for index in 0..count {
        let start = report(index, 0, WorkerReport::Running, 2);
        table.apply(&task(index), start).unwrap();
    }
    table
}

/// A report from the worker of task `index` (`w{index}`) about `attempt`.
fn report(index: u32, attempt: u32, report: WorkerReport, t: i64) -> TaskEvent {
    TaskEvent::Report {
        worker: w(&format!("w{index}")),
        attempt: AttemptId::new(attempt),
        report,
        at: at(t),
    }
}

fn failed(index: u32, attempt: u32, t: i64) -> TaskEvent {
    let failure = WorkerReport::Failed {
        exit_code: 1,
        error: format!("task {index} crashed"),
    };
    report(index, attempt, failure, t)
}

fn state(table: &TaskTable, index: u32) -> StateKind {
    table.get(&task(index)).unwrap().state()
}

fn states(table: &TaskTable) -> Vec<StateKind> {
    table.tasks_of(&job()).map(AnyTask::state).collect()
}

/// Runs task `index`'s next attempt on its worker: assigned at `t`, RUNNING at `t + 1`.
fn rerun(table: &mut TaskTable, index: u32, t: i64) {
    table
        .assign(&task(index), w(&format!("w{index}")), at(t))
        .unwrap();
    let attempt = table.get(&task(index)).unwrap().attempts().len() as u32 - 1;
    let start = report(index, attempt, WorkerReport::Running, t + 1);
    table.apply(&task(index), start).unwrap();
}

// ---------------------------------------------------------------------------------------------
// A: max_task_failures counts the job's FAILED attempts, retried ones included
// ---------------------------------------------------------------------------------------------

#[test]
fn max_task_failures_counts_failed_attempts_retried_ones_included() {
    // Each task may retry twice; the job tolerates one failed attempt in all.
    let mut table = running(2, limit(1, false), retries(2));
    let changes = table.apply(&task(0), failed(0, 0, 10)).unwrap();
    assert_eq!(
        state(&table, 0),
        StateKind::Pending,
        "requeued: within its budget"
    );
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    assert!(changes.jobs().next().is_none());
    rerun(&mut table, 0, 20);
    // The second failed attempt of the same task: 0.2 counted FAILED tasks (none yet: the task
    // is pending again), Iris counts attempts. The job fails, and its other task is stopped.
    let changes = table.apply(&task(0), failed(0, 1, 30)).unwrap();
    assert_eq!(table.job_state(&job()), Some(JobState::Failed));
    assert_eq!(
        changes.job(&job()),
        Some(JobTransition {
            from: JobState::Running,
            to: JobState::Failed
        })
    );
    assert_eq!(states(&table), [StateKind::Killed, StateKind::Killed]);
    assert_eq!(table.job(&job()).unwrap().failures(), 2);
}

#[test]
fn by_default_the_first_failed_attempt_ends_the_job_whatever_its_tasks_retries() {
    let mut table = running(3, JobPolicy::default(), retries(5));
    table.apply(&task(1), failed(1, 0, 10)).unwrap();
    // 0.2: the task is requeued (it has retries) and the job runs on.
    assert_eq!(table.job_state(&job()), Some(JobState::Failed));
    assert_eq!(
        states(&table),
        [StateKind::Killed, StateKind::Killed, StateKind::Killed]
    );
    assert_eq!(table.get(&task(1)).unwrap().failure_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// B: a job with a FAILED task is FAILED once every task has ended
// ---------------------------------------------------------------------------------------------

#[test]
fn a_tolerated_failed_task_still_fails_its_job_once_every_task_has_ended() {
    let mut table = running(2, limit(1, false), retries(0));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    assert_eq!(state(&table, 0), StateKind::Failed);
    assert_eq!(
        table.job_state(&job()),
        Some(JobState::Running),
        "tolerated"
    );
    table
        .apply(&task(1), report(1, 0, WorkerReport::Succeeded, 20))
        .unwrap();
    // 0.2: SUCCEEDED, the failure being within the tolerance.
    let job = table.job(&job()).unwrap();
    assert_eq!(job.state(), JobState::Failed);
    assert_eq!(job.error(), Some("task 0 crashed"), "the first task error");
}

// ---------------------------------------------------------------------------------------------
// C: only active siblings follow a gang member that ended for good; gangs are placed whole
// ---------------------------------------------------------------------------------------------

#[test]
fn only_active_siblings_follow_a_gang_member_that_ended_for_good() {
    // A gang that tolerates failures, so that its job does not end with the first.
    let mut table = running(2, limit(5, true), retries(0));
    table.insert(Task::new(task(2), retries(0))).unwrap();
    let changes = table.apply(&task(0), failed(0, 0, 10)).unwrap();
    // 0.2: the pending member 2 also ended COSCHED_FAILED.
    assert_eq!(
        states(&table),
        [
            StateKind::Failed,
            StateKind::CoschedFailed,
            StateKind::Pending
        ]
    );
    assert!(changes.get(&task(2)).is_none());
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    // A pending member is no sibling to stop: the event is illegal for it.
    let stop = TaskEvent::SiblingFailed {
        sibling: task(0),
        at: at(11),
    };
    assert!(matches!(
        table.apply(&task(2), stop),
        Err(TableError::Transition(TransitionError::Illegal { .. }))
    ));
}

#[test]
fn a_pending_member_is_stopped_by_its_job_ending_not_by_the_gang() {
    let mut table = running(2, limit(0, true), retries(0));
    table.insert(Task::new(task(2), retries(0))).unwrap();
    let changes = table.apply(&task(0), failed(0, 0, 10)).unwrap();
    assert_eq!(
        states(&table),
        [
            StateKind::Failed,
            StateKind::CoschedFailed,
            StateKind::Killed
        ]
    );
    let order: Vec<u32> = changes.iter().map(|(id, _)| id.index()).collect();
    assert_eq!(
        order,
        [0, 1, 2],
        "the trigger, its active sibling, then the job-end kill"
    );
}

#[test]
fn schedule_places_a_gang_whole_or_not_at_all() {
    let mut table = TaskTable::new();
    table.set_job_policy(job(), limit(0, true));
    for index in 0..3 {
        table.insert(Task::new(task(index), retries(0))).unwrap();
    }
    // Two free workers for a gang of three: 0.2 offered tasks one at a time, and a placement
    // that filled its slots started two members.
    let mut free = vec![w("w0"), w("w1")];
    let changes = table.schedule(at(1), |offer| {
        assert!(offer.is_gang() && offer.len() == 3);
        (free.len() >= offer.len()).then(|| free.drain(..offer.len()).collect::<Vec<_>>())
    });
    assert!(changes.is_empty());
    assert_eq!(table.pending().count(), 3);
    // An answer that names too few workers places nothing either.
    let changes = table.schedule(at(2), |_| Some(vec![w("w0")]));
    assert!(changes.is_empty());
    // Three workers: all three, in index order.
    let changes = table.schedule(at(3), |offer| {
        Some(
            (0..offer.len())
                .map(|n| w(&format!("w{n}")))
                .collect::<Vec<_>>(),
        )
    });
    let placed: Vec<(u32, &str)> = changes
        .iter()
        .map(|(id, _)| {
            let worker = table.get(id).unwrap().worker().unwrap();
            (id.index(), worker.as_str())
        })
        .collect();
    assert_eq!(placed, [(0, "w0"), (1, "w1"), (2, "w2")]);
    assert_eq!(
        changes.job(&job()).map(|step| step.to),
        Some(JobState::Running)
    );
}

#[test]
fn assign_can_still_place_one_member_alone() {
    let mut table = TaskTable::new();
    table.set_job_policy(job(), limit(0, true));
    for index in 0..2 {
        table.insert(Task::new(task(index), retries(0))).unwrap();
    }
    table.assign(&task(1), w("w1"), at(1)).unwrap();
    assert_eq!(states(&table), [StateKind::Pending, StateKind::Assigned]);
    // The member left behind is offered alone, as the gang's one pending member.
    let mut offers = Vec::new();
    table.schedule(at(2), |offer| {
        offers.push((offer.len(), offer.is_gang()));
        None::<WorkerId>
    });
    assert_eq!(offers, [(1, true)]);
}

// ---------------------------------------------------------------------------------------------
// D: max_task_failures applies to gangs too
// ---------------------------------------------------------------------------------------------

#[test]
fn a_gang_tolerates_as_many_failed_attempts_as_its_job_allows() {
    let mut table = running(2, limit(1, true), retries(3));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    // 0.2 ignored max_task_failures for a gang: one FAILED member failed it. Here the member
    // is requeued with its gang, and the job runs on.
    assert_eq!(states(&table), [StateKind::Pending, StateKind::Pending]);
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    let mut all = vec![w("w0"), w("w1")];
    table.schedule(at(20), |offer| {
        Some(all.drain(..offer.len()).collect::<Vec<_>>())
    });
    table
        .apply(&task(1), report(1, 1, WorkerReport::Running, 21))
        .unwrap();
    // The second crashed round, on another member: over the limit.
    table.apply(&task(1), failed(1, 1, 30)).unwrap();
    assert_eq!(table.job_state(&job()), Some(JobState::Failed));
    assert_eq!(table.job(&job()).unwrap().failures(), 2);
}

// ---------------------------------------------------------------------------------------------
// I: a cancel turns WORKER_FAILED into KILLED; every other ended job state is final
// ---------------------------------------------------------------------------------------------

#[test]
fn cancelling_a_worker_failed_job_makes_it_killed() {
    let no_preemption = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    let mut table = running(1, JobPolicy::default(), no_preemption);
    table.worker_lost(&w("w0"), "gone", at(10));
    assert_eq!(table.job_state(&job()), Some(JobState::WorkerFailed));
    let changes = table.kill_job(&job(), "operator cancel", at(20));
    // 0.2: it stayed WORKER_FAILED.
    assert!(changes.is_empty(), "no task left to kill");
    assert_eq!(
        changes.job(&job()),
        Some(JobTransition {
            from: JobState::WorkerFailed,
            to: JobState::Killed
        })
    );
    let cancelled = table.job(&job()).unwrap();
    assert_eq!(
        (cancelled.state(), cancelled.error()),
        (JobState::Killed, Some("operator cancel"))
    );
    assert_eq!(state(&table, 0), StateKind::WorkerFailed, "no task changes");
}

#[test]
fn every_other_ended_job_state_is_final() {
    for (end, ended) in [
        (WorkerReport::Succeeded, JobState::Succeeded),
        (
            WorkerReport::Failed {
                exit_code: 3,
                error: "crash".into(),
            },
            JobState::Failed,
        ),
    ] {
        let mut table = running(1, JobPolicy::default(), retries(0));
        table.apply(&task(0), report(0, 0, end, 10)).unwrap();
        assert_eq!(table.job_state(&job()), Some(ended));
        let changes = table.kill_job(&job(), "too late", at(20));
        assert!(changes.is_empty() && changes.jobs().next().is_none());
        assert_eq!(table.job_state(&job()), Some(ended));
    }
}

#[test]
fn an_ended_job_is_not_judged_again_by_later_changes() {
    // A job the table was never told a policy of: its tasks are not stopped when it ends, and
    // may change after.
    let mut table = TaskTable::new();
    for index in 0..2 {
        table.insert(Task::new(task(index), retries(0))).unwrap();
        table
            .assign(&task(index), w(&format!("w{index}")), at(1))
            .unwrap();
    }
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    assert_eq!(table.job_state(&job()), Some(JobState::Failed));
    assert_eq!(
        state(&table, 1),
        StateKind::Assigned,
        "no policy: no job-end kill"
    );
    table
        .apply(&task(1), report(1, 0, WorkerReport::Succeeded, 20))
        .unwrap();
    assert_eq!(table.job_state(&job()), Some(JobState::Failed));
    // And an ended job takes no new task.
    let late = Task::new(task(2), retries(0));
    assert!(matches!(
        table.insert(late),
        Err(TableError::JobEnded {
            state: JobState::Failed,
            ..
        })
    ));
    assert_eq!(table.tasks_of(&job()).count(), 2);
}

// ---------------------------------------------------------------------------------------------
// What Iris had that 0.2 did not
// ---------------------------------------------------------------------------------------------

#[test]
fn an_execution_timeout_fails_the_task_with_no_retry() {
    let mut table = running(1, limit(5, false), retries(5));
    let changes = table
        .apply(&task(0), TaskEvent::ExecutionTimeout { at: at(10) })
        .unwrap();
    assert_eq!(
        changes.get(&task(0)).map(|step| step.to),
        Some(StateKind::Failed)
    );
    let timed_out = table.get(&task(0)).unwrap();
    assert_eq!(timed_out.failure_count(), 1, "the failure counts");
    let attempt = timed_out.current_attempt().unwrap();
    assert_eq!(
        (attempt.state(), attempt.exit_code(), attempt.error()),
        (StateKind::Failed, None, Some(EXECUTION_TIMEOUT_ERROR))
    );
    assert_eq!(table.job(&job()).unwrap().failures(), 1);
}

#[test]
fn only_an_executing_task_can_time_out() {
    let mut table = TaskTable::new();
    table.insert(Task::new(task(0), retries(0))).unwrap();
    let timeout = |t| TaskEvent::ExecutionTimeout { at: at(t) };
    assert!(table.apply(&task(0), timeout(1)).is_err(), "pending");
    table.assign(&task(0), w("w0"), at(2)).unwrap();
    let err = table.apply(&task(0), timeout(3)).unwrap_err();
    assert!(matches!(
        err,
        TableError::Transition(TransitionError::Illegal {
            from: StateKind::Assigned,
            event: "execution timeout",
            ..
        })
    ));
    table
        .apply(&task(0), report(0, 0, WorkerReport::Building, 4))
        .unwrap();
    table.apply(&task(0), timeout(5)).unwrap();
    assert_eq!(state(&table, 0), StateKind::Failed);
}

#[test]
fn an_execution_timeout_is_a_gang_trigger() {
    let mut table = running(3, limit(5, true), retries(5));
    let changes = table
        .apply(&task(1), TaskEvent::ExecutionTimeout { at: at(10) })
        .unwrap();
    assert_eq!(
        states(&table),
        [
            StateKind::CoschedFailed,
            StateKind::Failed,
            StateKind::CoschedFailed
        ]
    );
    assert_eq!(changes.len(), 3);
}

#[test]
fn missing_ends_an_active_attempt_with_irises_error() {
    let mut table = running(1, JobPolicy::default(), retries(0));
    table
        .apply(&task(0), report(0, 0, WorkerReport::Missing, 10))
        .unwrap();
    let task = table.get(&task(0)).unwrap();
    assert_eq!(
        task.state(),
        StateKind::Pending,
        "a worker-side ending, budget left"
    );
    let attempt = task.attempts().first().unwrap();
    assert_eq!(attempt.state(), StateKind::WorkerFailed);
    assert_eq!(attempt.error(), Some("worker_lost_spec"));
    assert_eq!(MISSING_ERROR, "worker_lost_spec");
}

#[test]
fn a_job_that_fails_on_too_many_failed_attempts_says_so_in_irises_words() {
    let mut table = running(2, limit(0, false), retries(0));
    table.apply(&task(1), failed(1, 0, 10)).unwrap();
    assert_eq!(
        table.job(&job()).unwrap().error(),
        Some(
            "Cumulative failed task attempts exceeded max_task_failures: failures=1, limit=0; \
             task 1 crashed"
        )
    );
    let status = table.job_status(&job()).unwrap();
    assert!(status.error.starts_with("Cumulative failed task attempts"));
}

#[test]
fn a_job_that_ends_otherwise_carries_its_first_task_error() {
    let no_preemption = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    let mut table = running(2, limit(0, true), no_preemption);
    table
        .apply(
            &task(1),
            report(
                1,
                0,
                WorkerReport::Preempted {
                    error: "evicted by prod".into(),
                },
                10,
            ),
        )
        .unwrap();
    // Member 1 PREEMPTED for good, member 0 COSCHED_FAILED with it: the root cause is member
    // 1's own ending, not its sibling's echo of it.
    let job = table.job(&job()).unwrap();
    assert_eq!(job.state(), JobState::WorkerFailed);
    assert_eq!(job.error(), Some("evicted by prod"));
}

#[test]
fn the_first_assignment_and_the_end_are_job_changes() {
    let mut table = TaskTable::new();
    table.set_job_policy(job(), JobPolicy::default());
    table.insert(Task::new(task(0), retries(0))).unwrap();
    let changes = table.schedule(at(1), |_| Some(w("w0")));
    assert_eq!(
        changes.jobs().collect::<Vec<_>>(),
        [(
            &job(),
            JobTransition {
                from: JobState::Pending,
                to: JobState::Running
            }
        )]
    );
    let changes = table
        .apply(&task(0), report(0, 0, WorkerReport::Succeeded, 2))
        .unwrap();
    assert_eq!(
        changes.job(&job()),
        Some(JobTransition {
            from: JobState::Running,
            to: JobState::Succeeded
        })
    );
}

#[test]
fn lowering_a_running_jobs_limit_ends_it_at_its_next_task_change() {
    let mut table = running(3, limit(5, false), retries(5));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    // Setting the policy changes no task and does not judge the job by itself.
    table.set_job_policy(job(), limit(0, false));
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    assert_eq!(state(&table, 1), StateKind::Running);
    // The next change to one of its tasks does: the job is over the new limit and ends, and
    // its other tasks are stopped in that call.
    let changes = table
        .apply(&task(2), report(2, 0, WorkerReport::Succeeded, 20))
        .unwrap();
    assert_eq!(
        changes.job(&job()).map(|step| step.to),
        Some(JobState::Failed)
    );
    assert_eq!(
        states(&table),
        [StateKind::Killed, StateKind::Killed, StateKind::Succeeded]
    );
}

/// An assignment judges nothing but a job's start, as Iris's `assign` marks a job running and no
/// more: placing the retried task of a job over its lowered limit neither ends the job nor stops
/// its tasks. The next change to a task (a report) does both.
#[test]
fn an_assignment_ends_no_job_even_over_a_lowered_limit() {
    let mut table = running(2, limit(5, false), retries(5));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    table.set_job_policy(job(), limit(0, false));
    let placed = table.schedule(at(11), |_| Some(w("w0")));
    assert_eq!(placed.len(), 1);
    assert!(
        placed.job(&job()).is_none(),
        "the job was RUNNING and stays so"
    );
    assert_eq!(table.job_state(&job()), Some(JobState::Running));
    let changes = table
        .apply(&task(1), report(1, 0, WorkerReport::Running, 12))
        .unwrap();
    assert!(
        !changes.changed(),
        "a duplicate RUNNING changes nothing and judges nothing"
    );
    let changes = table
        .apply(&task(0), report(0, 1, WorkerReport::Running, 13))
        .unwrap();
    assert_eq!(
        changes.job(&job()).map(|step| step.to),
        Some(JobState::Failed)
    );
    assert_eq!(states(&table), [StateKind::Killed, StateKind::Killed]);
}

/// A snapshot taken between a lowered limit and the job's next task change loads as it was:
/// the job RUNNING, over the new limit, and the next change ends it.
#[cfg(feature = "serde")]
#[test]
fn a_snapshot_between_a_lowered_limit_and_the_next_task_change_loads_as_it_was() {
    let mut table = running(3, limit(5, false), retries(5));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    table.set_job_policy(job(), limit(0, false));
    let json = serde_json::to_string(&table).unwrap();
    let mut loaded: TaskTable = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded.job_state(&job()), Some(JobState::Running));
    let changes = loaded
        .apply(&task(2), report(2, 0, WorkerReport::Succeeded, 20))
        .unwrap();
    assert_eq!(
        changes.job(&job()).map(|step| step.to),
        Some(JobState::Failed)
    );
}

/// What a snapshot must not say of a job: a state its tasks contradict, an error on a job that
/// has not ended. Loading such a snapshot is an error, not a table.
#[cfg(feature = "serde")]
#[test]
fn a_snapshot_whose_job_state_its_tasks_contradict_is_refused() {
    let table = running(2, limit(0, false), retries(5));
    let json = serde_json::to_value(&table).unwrap();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = json.clone();
        edit(&mut json["jobs"][0]);
        serde_json::from_value::<TaskTable>(json)
    };
    assert!(edited(&|_| {}).is_ok(), "the snapshot as it was loads");
    for (what, edit) in [
        (
            "pending, though started",
            &(|job: &mut serde_json::Value| job["state"] = "pending".into())
                as &dyn Fn(&mut serde_json::Value),
        ),
        ("succeeded, though running", &|job| {
            job["state"] = "succeeded".into();
        }),
        ("an error, though running", &|job| {
            job["error"] = "x".into();
        }),
    ] {
        let refused = edited(edit).err().map(|err| err.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|err| err.contains("/alice/train")),
            "{what}: {refused:?}"
        );
    }
}

#[test]
fn insert_and_insert_job_return_the_jobs_change() {
    let done = |index| {
        Task::new(task(index), retries(0))
            .assign(w("w1"), at(1))
            .start(at(2))
            .succeed(at(3))
            .into_any()
    };
    let mut table = TaskTable::new();
    let changes = table.insert(Task::new(task(0), retries(0))).unwrap();
    assert!(changes.is_empty() && changes.jobs().next().is_none());
    // A task that already ran starts its job.
    let changes = table.insert(done(1)).unwrap();
    assert_eq!(
        changes.job(&job()),
        Some(JobTransition {
            from: JobState::Pending,
            to: JobState::Running
        })
    );
    let other = JobId::new("/alice/eval").unwrap();
    let changes = table
        .insert_job(
            other.clone(),
            JobPolicy::default(),
            [0, 1].map(|index| {
                Task::new(TaskId::new(other.clone(), index), retries(0))
                    .assign(w("w1"), at(1))
                    .start(at(2))
                    .succeed(at(3))
                    .into_any()
            }),
        )
        .unwrap();
    assert_eq!(
        changes.job(&other).map(|step| step.to),
        Some(JobState::Succeeded)
    );
    assert!(
        changes.is_empty(),
        "no task is listed: none had a state before"
    );
}

#[test]
fn insert_job_refuses_all_or_nothing() {
    let mut table = TaskTable::new();
    table.insert(Task::new(task(0), retries(0))).unwrap();
    let before = serde_free_view(&table);
    let other = JobId::new("/alice/eval").unwrap();
    let new = |job: &JobId, index| Task::new(TaskId::new(job.clone(), index), retries(0));
    // A task of another job, after a good one.
    assert_eq!(
        table.insert_job(
            other.clone(),
            JobPolicy::default(),
            [new(&other, 0), new(&job(), 5)]
        ),
        Err(TableError::WrongJob {
            job: other.clone(),
            task: task(5)
        })
    );
    // An id given twice, and one the table holds.
    assert_eq!(
        table.insert_job(
            other.clone(),
            JobPolicy::default(),
            [new(&other, 0), new(&other, 0)]
        ),
        Err(TableError::DuplicateTask(TaskId::new(other.clone(), 0)))
    );
    assert_eq!(
        table.insert_job(
            job(),
            JobPolicy::default(),
            [new(&job(), 1), new(&job(), 0)]
        ),
        Err(TableError::DuplicateTask(task(0)))
    );
    assert_eq!(serde_free_view(&table), before, "nothing changed");
    assert!(table.job(&other).is_none(), "the refused job is not known");
    // A job that has ended takes no new task.
    table.kill_job(&job(), "cancelled", at(1));
    assert!(matches!(
        table.insert_job(job(), JobPolicy::default(), [new(&job(), 1)]),
        Err(TableError::JobEnded {
            state: JobState::Killed,
            ..
        })
    ));
    assert_eq!(table.len(), 1);
}

/// The table as the tests can see it without serde: each task's id and state, each job's state
/// and policy, the pending order.
type View = (
    Vec<(TaskId, StateKind)>,
    Vec<(JobId, JobState, Option<JobPolicy>)>,
    Vec<TaskId>,
);

fn serde_free_view(table: &TaskTable) -> View {
    (
        table
            .iter()
            .map(|task| (task.id().clone(), task.state()))
            .collect(),
        table
            .jobs()
            .map(|job| (job.id().clone(), job.state(), job.policy().copied()))
            .collect(),
        table.pending().map(|task| task.id().clone()).collect(),
    )
}

#[test]
fn from_jobs_judges_each_job_under_its_own_policy() {
    let mut table = running(2, JobPolicy::default(), retries(0));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    let tasks: Vec<AnyTask> = table.tasks_of(&job()).cloned().collect();
    assert_eq!(
        TaskTable::from_tasks(tasks.clone())
            .unwrap()
            .job_state(&job()),
        Some(JobState::Failed),
        "one failed attempt, no failure allowed"
    );
    let tolerant = TaskTable::from_jobs([(job(), limit(1, false))], tasks).unwrap();
    // Task 1 was killed when the job failed: one KILLED task makes the job KILLED under a
    // policy that tolerates the failure.
    assert_eq!(tolerant.job_state(&job()), Some(JobState::Killed));
}

// ---------------------------------------------------------------------------------------------
// K: cancelling a job cancels its child jobs, as Iris does
// ---------------------------------------------------------------------------------------------

#[test]
fn cancelling_a_job_cancels_its_descendants() {
    let parent = job();
    let child = JobId::new("/alice/train/eval").unwrap();
    let grandchild = JobId::new("/alice/train/eval/plots").unwrap();
    let sibling = JobId::new("/alice/training").unwrap();
    let mut table = TaskTable::new();
    for job in [&parent, &child, &grandchild, &sibling] {
        table.set_job_policy(job.clone(), JobPolicy::default());
        table
            .insert(Task::new(TaskId::new(job.clone(), 0), retries(0)))
            .unwrap();
    }
    let changes = table.kill_job(&parent, "cancelled by alice", at(5));
    let killed: Vec<String> = changes.iter().map(|(id, _)| id.job().to_string()).collect();
    assert_eq!(
        killed,
        [
            "/alice/train",
            "/alice/train/eval",
            "/alice/train/eval/plots"
        ]
    );
    let child = table.job(&child).unwrap();
    assert_eq!(
        (child.state(), child.error()),
        (JobState::Killed, Some(PARENT_JOB_TERMINATED_REASON))
    );
    assert_eq!(
        table.job_state(&sibling),
        Some(JobState::Pending),
        "a name that only begins the same is no child"
    );
}

// ---------------------------------------------------------------------------------------------
// The declared differences (the crate guide's "Differences from Iris"): the crate's choice, pinned
// ---------------------------------------------------------------------------------------------

#[test]
fn e_building_reported_after_running_is_refused_not_applied() {
    // Iris moves the task back to BUILDING; a reordered report must not move an attempt back.
    let mut table = running(1, JobPolicy::default(), retries(0));
    let late = report(0, 0, WorkerReport::Building, 10);
    assert!(matches!(
        table.apply(&task(0), late),
        Err(TableError::Transition(TransitionError::Regression {
            from: StateKind::Running,
            reported: StateKind::Building,
            ..
        }))
    ));
    assert_eq!(state(&table, 0), StateKind::Running);
}

#[test]
fn f_a_controllers_kill_of_a_started_attempt_is_no_preemption() {
    // Iris counts it in preemption_count, although its own task.py says a cancel never charges.
    let mut table = running(1, JobPolicy::default(), retries(0));
    table.kill_job(&job(), "cancelled", at(10));
    let killed = table.get(&task(0)).unwrap();
    assert_eq!(killed.state(), StateKind::Killed);
    assert_eq!(killed.preemption_count(), 0);
    assert!(!killed.current_attempt().unwrap().is_worker_failure());
}

#[test]
fn g_a_job_end_leaves_the_closed_attempt_of_a_waiting_task_alone() {
    // Iris rewrites the closed attempt of a task waiting for its retry to KILLED when the job
    // ends, against `merge_task_termination`'s own docstring: its failure turns into a
    // preemption. The crate ends the task while pending and keeps the attempt as it closed.
    let mut table = running(2, limit(0, false), retries(3));
    table.apply(&task(0), failed(0, 0, 10)).unwrap();
    let waiting = table.get(&task(0)).unwrap();
    assert_eq!(
        waiting.state(),
        StateKind::Killed,
        "the job failed and stopped it"
    );
    let attempt = waiting.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Failed);
    assert_eq!(
        (waiting.failure_count(), waiting.preemption_count()),
        (1, 0)
    );
}

#[test]
fn h_a_lost_worker_charges_the_gang_member_assigned_first() {
    // Iris charges whichever member its query returns first; the crate the earliest assigned
    // (ties by index), and requeues the rest free as its siblings. Iris never places two members
    // of a gang on one worker, so the case needs `assign`.
    let mut table = TaskTable::new();
    table.set_job_policy(job(), limit(0, true));
    for index in 0..2 {
        table.insert(Task::new(task(index), retries(0))).unwrap();
    }
    table.assign(&task(1), w("w0"), at(1)).unwrap();
    table.assign(&task(0), w("w0"), at(2)).unwrap();
    for index in [1, 0] {
        let attempt = TaskEvent::Report {
            worker: w("w0"),
            attempt: AttemptId::new(0),
            report: WorkerReport::Running,
            at: at(3),
        };
        table.apply(&task(index), attempt).unwrap();
    }
    let changes = table.worker_lost(&w("w0"), "gone", at(10));
    let order: Vec<u32> = changes.iter().map(|(id, _)| id.index()).collect();
    assert_eq!(order, [1, 0], "the member assigned first is the trigger");
    let charged: Vec<u32> = table
        .tasks_of(&job())
        .map(AnyTask::preemption_count)
        .collect();
    assert_eq!(charged, [0, 1]);
}

#[test]
fn j_an_attempt_the_controller_ends_is_closed_at_once() {
    // Iris leaves it unfinished, its resources held, until the worker confirms; the crate closes
    // it (task states agree), and the controller holds the resources until the worker's
    // confirmation, which the table absorbs as a duplicate.
    let mut table = running(1, JobPolicy::default(), retries(0));
    table.kill_job(&job(), "cancelled", at(10));
    let attempt = table
        .get(&task(0))
        .unwrap()
        .current_attempt()
        .unwrap()
        .clone();
    assert_eq!(attempt.finished_at(), Some(at(10)));
    let confirmed = WorkerReport::Killed {
        error: "stopped".into(),
    };
    let changes = table.apply(&task(0), report(0, 0, confirmed, 20)).unwrap();
    assert!(
        !changes.changed(),
        "the worker's confirmation is a duplicate"
    );
}

#[test]
fn k_a_child_job_outlives_its_parents_end_unless_cancelled() {
    // Iris also kills a job's children when the job ends (and when a one-task parent is
    // retried); the crate leaves that to the controller, and cancels children with a cancel.
    let parent = job();
    let child = JobId::new("/alice/train/eval").unwrap();
    let mut table = running(1, JobPolicy::default(), retries(0));
    table.set_job_policy(child.clone(), JobPolicy::default());
    table
        .insert(Task::new(TaskId::new(child.clone(), 0), retries(0)))
        .unwrap();
    table
        .apply(&task(0), report(0, 0, WorkerReport::Succeeded, 10))
        .unwrap();
    assert_eq!(table.job_state(&parent), Some(JobState::Succeeded));
    assert_eq!(table.job_state(&child), Some(JobState::Pending));
}
