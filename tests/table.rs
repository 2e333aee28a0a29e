//! `TaskTable`, `StateCounts` and `JobState` against DOMAIN.md: the pending queue, the worker-loss
//! cascade, the dispatch deadline, counts and job state.

use std::time::Duration;

use iris_task::{
    AnyTask, AttemptId, DISPATCH_DEADLINE_ERROR, JobId, JobPolicy, JobState, RetryPolicy,
    StateCounts, StateKind, TableError, Task, TaskEvent, TaskId, TaskTable, Timestamp,
    TransitionError, WorkerId, WorkerReport,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn tid(text: &str) -> TaskId {
    text.parse().unwrap()
}

fn table_of(ids: &[&str]) -> TaskTable {
    let mut table = TaskTable::new();
    for id in ids {
        table
            .insert(Task::new(tid(id), RetryPolicy::default()))
            .unwrap();
    }
    table
}

fn pending_ids(table: &TaskTable) -> Vec<String> {
    table.pending().map(|task| task.id().to_string()).collect()
}

fn on(table: &TaskTable, worker: &str) -> Vec<String> {
    let mut ids: Vec<String> = table
        .tasks_on(&w(worker))
        .map(ToString::to_string)
        .collect();
    ids.sort();
    ids
}

fn state(table: &TaskTable, id: &str) -> StateKind {
    table.get(&tid(id)).unwrap().state()
}

fn running_report(worker: &str, attempt: u32, t: i64) -> TaskEvent {
    TaskEvent::Report {
        worker: w(worker),
        attempt: AttemptId::new(attempt),
        report: WorkerReport::Running,
        at: at(t),
    }
}

fn recount(table: &TaskTable) -> StateCounts {
    table.iter().map(AnyTask::state).collect()
}

#[test]
fn an_empty_table() {
    let table = TaskTable::new();
    assert!(table.is_empty());
    assert_eq!(table.len(), 0);
    assert_eq!(table.pending().count(), 0);
    assert_eq!(table.counts(), &StateCounts::default());
    assert_eq!(table.get(&tid("job/task-0")), None);
}

#[test]
fn insert_rejects_a_duplicate_id_and_changes_nothing() {
    let mut table = table_of(&["job/task-0"]);
    let again = Task::new(
        tid("job/task-0"),
        RetryPolicy {
            max_retries_failure: 5,
            ..RetryPolicy::default()
        },
    );
    assert_eq!(
        table.insert(again),
        Err(TableError::DuplicateTask(tid("job/task-0")))
    );
    assert_eq!(table.len(), 1);
    assert_eq!(table.counts().total(), 1);
    let AnyTask::Pending(kept) = table.get(&tid("job/task-0")).unwrap() else {
        panic!()
    };
    assert_eq!(kept.policy().max_retries_failure, 0, "the first task stays");
}

#[test]
fn unknown_ids_are_errors() {
    let mut table = table_of(&["job/task-0"]);
    let unknown = tid("job/task-1");
    assert_eq!(
        table.assign(&unknown, w("w1"), at(1)).unwrap_err(),
        TableError::UnknownTask(unknown.clone())
    );
    assert_eq!(
        table.apply(
            &unknown,
            TaskEvent::Kill {
                reason: String::new(),
                at: at(1)
            }
        ),
        Err(TableError::UnknownTask(unknown.clone()))
    );
    assert_eq!(
        TableError::UnknownTask(unknown).to_string(),
        "task job/task-1 is not in the table"
    );
}

#[test]
fn pending_is_fifo_and_a_requeued_task_goes_to_the_back() {
    let mut table = table_of(&["a/task-0", "a/task-1", "b/task-0"]);
    assert_eq!(pending_ids(&table), ["a/task-0", "a/task-1", "b/task-0"]);
    table.assign(&tid("a/task-0"), w("w1"), at(1)).unwrap();
    assert_eq!(
        pending_ids(&table),
        ["a/task-1", "b/task-0"],
        "ASSIGNED tasks never reach the scheduler"
    );
    table
        .apply(
            &tid("a/task-0"),
            TaskEvent::WorkerLost {
                worker: w("w1"),
                error: "refused".into(),
                at: at(2),
            },
        )
        .unwrap();
    assert_eq!(pending_ids(&table), ["a/task-1", "b/task-0", "a/task-0"]);
}

#[test]
fn assign_returns_the_assigned_task_and_refuses_anything_not_pending() {
    let mut table = table_of(&["job/task-0"]);
    let assigned = table.assign(&tid("job/task-0"), w("w1"), at(1)).unwrap();
    assert_eq!(assigned.worker(), &w("w1"));
    assert_eq!(assigned.attempt_id(), AttemptId::new(0));
    let err = table
        .assign(&tid("job/task-0"), w("w2"), at(2))
        .unwrap_err();
    assert_eq!(
        err,
        TableError::NotPending {
            task: tid("job/task-0"),
            state: StateKind::Assigned
        }
    );
    assert_eq!(
        err.to_string(),
        "task job/task-0 is assigned, not pending: only a pending task can be assigned"
    );
    assert_eq!(on(&table, "w1"), ["job/task-0"]);
    assert_eq!(on(&table, "w2"), Vec::<String>::new());
}

#[test]
fn a_rejected_event_changes_neither_the_task_nor_the_views() {
    let mut table = table_of(&["job/task-0", "job/task-1"]);
    table.assign(&tid("job/task-1"), w("w1"), at(1)).unwrap();
    let counts = table.counts().clone();
    let before = table.get(&tid("job/task-1")).cloned();
    let err = table
        .apply(&tid("job/task-1"), running_report("w1", 3, 2))
        .unwrap_err();
    assert!(matches!(
        err,
        TableError::Transition(TransitionError::StaleAttempt { .. })
    ));
    let err = table.apply(
        &tid("job/task-0"),
        TaskEvent::SchedulingTimeout { at: at(2) },
    );
    assert!(err.is_ok());
    let err = table
        .apply(
            &tid("job/task-0"),
            TaskEvent::SchedulingTimeout { at: at(3) },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        TableError::Transition(TransitionError::Illegal { .. })
    ));
    assert_eq!(table.get(&tid("job/task-1")).cloned(), before);
    assert_eq!(
        table.counts().get(StateKind::Assigned),
        counts.get(StateKind::Assigned)
    );
    assert_eq!(on(&table, "w1"), ["job/task-1"]);
    assert_eq!(table.counts(), &recount(&table));
}

#[test]
fn a_lost_worker_fails_every_task_on_it_oldest_assignment_first() {
    let mut table = table_of(&["b/task-1", "a/task-2", "a/task-1", "c/task-0", "c/task-1"]);
    // b/task-1 and a/task-2 and a/task-1 are assigned at the same time; ties go by job, then index.
    table.assign(&tid("c/task-0"), w("w1"), at(5)).unwrap();
    table.assign(&tid("b/task-1"), w("w1"), at(10)).unwrap();
    table.assign(&tid("a/task-2"), w("w1"), at(10)).unwrap();
    table.assign(&tid("a/task-1"), w("w1"), at(10)).unwrap();
    table.assign(&tid("c/task-1"), w("w2"), at(1)).unwrap();
    // c/task-0 runs: its loss is a preemption. The others never started: dispatch failures.
    table
        .apply(&tid("c/task-0"), running_report("w1", 0, 6))
        .unwrap();

    let changed = table.worker_lost(&w("w1"), "heartbeat lost", at(20));
    let order: Vec<String> = changed.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(order, ["c/task-0", "a/task-1", "a/task-2", "b/task-1"]);
    assert!(
        changed
            .iter()
            .all(|(_, step)| step.to == StateKind::Pending)
    );
    let from: Vec<StateKind> = changed.iter().map(|(_, step)| step.from).collect();
    assert_eq!(from[..2], [StateKind::Running, StateKind::Assigned]);

    assert_eq!(
        pending_ids(&table),
        ["c/task-0", "a/task-1", "a/task-2", "b/task-1"]
    );
    assert_eq!(table.get(&tid("c/task-0")).unwrap().preemption_count(), 1);
    assert_eq!(table.get(&tid("a/task-1")).unwrap().preemption_count(), 0);
    assert_eq!(on(&table, "w1"), Vec::<String>::new());
    assert_eq!(
        on(&table, "w2"),
        ["c/task-1"],
        "other workers keep their tasks"
    );
    assert_eq!(table.counts(), &recount(&table));
    // A worker with nothing on it changes nothing.
    assert!(table.worker_lost(&w("w1"), "again", at(21)).is_empty());
    assert!(
        table
            .worker_lost(&w("nobody"), "never seen", at(21))
            .is_empty()
    );
}

#[test]
fn a_lost_worker_ends_tasks_whose_preemption_budget_is_spent() {
    let mut table = TaskTable::new();
    let no_budget = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    table
        .insert(Task::new(tid("job/task-0"), no_budget))
        .unwrap();
    table.assign(&tid("job/task-0"), w("w1"), at(1)).unwrap();
    table
        .apply(&tid("job/task-0"), running_report("w1", 0, 2))
        .unwrap();
    let changed = table.worker_lost(&w("w1"), "lost", at(3));
    assert_eq!(
        changed.get(&tid("job/task-0")).map(|step| step.to),
        Some(StateKind::WorkerFailed)
    );
    assert_eq!(table.pending().count(), 0);
    assert_eq!(table.counts().get(StateKind::WorkerFailed), 1);
}

#[test]
fn the_dispatch_deadline_requeues_unconfirmed_tasks_free_of_charge() {
    let mut table = table_of(&["b/task-0", "a/task-0", "a/task-1", "a/task-2"]);
    let no_budget_left = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    table
        .insert(Task::new(tid("z/task-0"), no_budget_left))
        .unwrap();
    table.assign(&tid("b/task-0"), w("w1"), at(100)).unwrap();
    table.assign(&tid("a/task-0"), w("w2"), at(100)).unwrap();
    table.assign(&tid("a/task-1"), w("w1"), at(50)).unwrap();
    table.assign(&tid("a/task-2"), w("w1"), at(200)).unwrap();
    table.assign(&tid("z/task-0"), w("w3"), at(10)).unwrap();
    // Confirmed tasks are not subject to the deadline, however old.
    table
        .apply(&tid("z/task-0"), running_report("w3", 0, 11))
        .unwrap();

    let expired = table.expire_assigned(at(300), Duration::from_millis(100));
    let expired: Vec<String> = expired.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(expired, ["a/task-1", "a/task-0", "b/task-0"]);
    assert_eq!(pending_ids(&table), ["a/task-1", "a/task-0", "b/task-0"]);
    assert_eq!(
        state(&table, "a/task-2"),
        StateKind::Assigned,
        "waited exactly max_wait, not longer"
    );
    assert_eq!(state(&table, "z/task-0"), StateKind::Running);
    let requeued = table.get(&tid("a/task-1")).unwrap();
    assert_eq!(requeued.preemption_count(), 0);
    let attempt = requeued.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::WorkerFailed);
    assert_eq!(attempt.error(), Some(DISPATCH_DEADLINE_ERROR));
    assert_eq!(attempt.finished_at(), Some(at(300)));
    assert_eq!(on(&table, "w1"), ["a/task-2"]);
    assert_eq!(table.counts(), &recount(&table));
    assert!(
        table
            .expire_assigned(at(300), Duration::from_millis(100))
            .is_empty()
    );
}

#[test]
fn tasks_on_lists_the_active_tasks_of_a_worker() {
    let mut table = table_of(&["job/task-0", "job/task-1", "job/task-2"]);
    table.assign(&tid("job/task-0"), w("w1"), at(1)).unwrap();
    table.assign(&tid("job/task-1"), w("w1"), at(2)).unwrap();
    table.assign(&tid("job/task-2"), w("w2"), at(3)).unwrap();
    table
        .apply(&tid("job/task-1"), running_report("w1", 0, 4))
        .unwrap();
    assert_eq!(on(&table, "w1"), ["job/task-0", "job/task-1"]);
    table
        .apply(
            &tid("job/task-1"),
            TaskEvent::Report {
                worker: w("w1"),
                attempt: AttemptId::new(0),
                report: WorkerReport::Succeeded,
                at: at(5),
            },
        )
        .unwrap();
    assert_eq!(
        on(&table, "w1"),
        ["job/task-0"],
        "ended tasks leave their worker"
    );
    assert_eq!(on(&table, "w2"), ["job/task-2"]);
}

#[test]
fn inserted_tasks_are_filed_by_their_state() {
    let mut table = TaskTable::new();
    let running = Task::new(tid("job/task-0"), RetryPolicy::default())
        .assign(w("w1"), at(1))
        .start(at(2));
    let assigned = Task::new(tid("job/task-1"), RetryPolicy::default()).assign(w("w1"), at(1));
    let done = Task::new(tid("job/task-2"), RetryPolicy::default()).kill("no", at(1));
    table.insert(running).unwrap();
    table.insert(assigned).unwrap();
    table.insert(done).unwrap();
    assert_eq!(on(&table, "w1"), ["job/task-0", "job/task-1"]);
    assert_eq!(table.pending().count(), 0);
    assert_eq!(
        ids(&table.expire_assigned(at(3), Duration::from_millis(1))),
        [tid("job/task-1")]
    );
    assert_eq!(table.counts(), &recount(&table));
}

#[test]
fn counts_follow_every_change_per_table_and_per_job() {
    let mut table = table_of(&["a/task-0", "a/task-1", "b/task-0"]);
    table.assign(&tid("a/task-0"), w("w1"), at(1)).unwrap();
    table.assign(&tid("b/task-0"), w("w1"), at(1)).unwrap();
    table
        .apply(&tid("b/task-0"), running_report("w1", 0, 2))
        .unwrap();
    let counts = table.counts();
    assert_eq!(counts.get(StateKind::Pending), 1);
    assert_eq!(counts.get(StateKind::Assigned), 1);
    assert_eq!(counts.get(StateKind::Running), 1);
    assert_eq!(counts.total(), 3);
    assert_eq!(counts, &recount(&table));

    let a = table.job_counts(&JobId::new("a").unwrap()).unwrap();
    assert_eq!(
        (
            a.get(StateKind::Pending),
            a.get(StateKind::Assigned),
            a.total()
        ),
        (1, 1, 2)
    );
    let b = table.job_counts(&JobId::new("b").unwrap()).unwrap();
    assert_eq!((b.get(StateKind::Running), b.total()), (1, 1));
    assert!(table.job_counts(&JobId::new("c").unwrap()).is_none());
    assert_eq!(table.jobs().count(), 2);
}

// ----- StateCounts and job state -----

fn counts(states: &[StateKind]) -> StateCounts {
    states.iter().copied().collect()
}

#[test]
fn state_counts_iterate_every_state_in_order() {
    use StateKind::*;
    let c = counts(&[Assigned, Assigned, Running, WorkerFailed]);
    let listed: Vec<(StateKind, usize)> = c.iter().collect();
    assert_eq!(
        listed,
        [
            (Pending, 0),
            (Assigned, 2),
            (Building, 0),
            (Running, 1),
            (Succeeded, 0),
            (Failed, 0),
            (Killed, 0),
            (WorkerFailed, 1),
            (Unschedulable, 0),
            (Preempted, 0),
            (CoschedFailed, 0)
        ]
    );
    assert_eq!(c.total(), 4);
    let mut more = c.clone();
    more.extend([Pending]);
    assert_eq!(more.get(Pending), 1);
}

/// A task of job "job" in `state`, as the lifecycle makes it: a FAILED one failed one attempt,
/// and "Retried" stands for a pending task that failed once and was requeued.
fn task_in(state: Option<StateKind>, index: u32) -> AnyTask {
    use StateKind::*;
    let id = TaskId::new(JobId::new("job").unwrap(), index);
    let no_budget = RetryPolicy {
        max_retries_failure: 0,
        max_retries_preemption: 0,
    };
    let pending = Task::new(id.clone(), no_budget);
    let running = || pending.clone().assign(w("w1"), at(1)).start(at(2));
    let Some(state) = state else {
        let retry_once = RetryPolicy {
            max_retries_failure: 1,
            ..RetryPolicy::default()
        };
        let task = Task::new(id, retry_once)
            .assign(w("w1"), at(1))
            .start(at(2));
        return task.fail(1, "exit 1", at(3)).into_any();
    };
    match state {
        Pending => pending.into_any(),
        Assigned => pending.assign(w("w1"), at(1)).into_any(),
        Building => pending.assign(w("w1"), at(1)).build(at(2)).into_any(),
        Running => running().into_any(),
        Succeeded => running().succeed(at(3)).into_any(),
        Failed => running().fail(1, "exit 1", at(3)).into_any(),
        Killed => pending.kill("cancelled", at(3)).into_any(),
        WorkerFailed => running().worker_failed("lost", at(3)).into_any(),
        Unschedulable => pending.mark_unschedulable("no fit", at(3)).into_any(),
        Preempted => running().preempt("priority", at(3)).into_any(),
        CoschedFailed => running()
            .sibling_failed(&TaskId::new(JobId::new("job").unwrap(), 99), at(3))
            .into_any(),
        other => panic!("{other:?}"),
    }
}

/// The state a table judges for a job of tasks in these states (`None`: failed once, retried).
fn judged(states: &[Option<StateKind>], policy: JobPolicy) -> JobState {
    let tasks = (0..)
        .zip(states)
        .map(|(index, &state)| task_in(state, index));
    let job = JobId::new("job").unwrap();
    let table = TaskTable::from_jobs([(job.clone(), policy)], tasks).unwrap();
    table.job_state(&job).unwrap()
}

#[test]
fn job_state_follows_irises_order() {
    use StateKind::*;
    let strict = JobPolicy::default();
    let tolerant = JobPolicy {
        max_task_failures: 1,
        ..JobPolicy::default()
    };
    let gang = JobPolicy {
        coscheduled: true,
        ..tolerant
    };
    let state = |states: &[StateKind], policy| {
        judged(
            &states.iter().copied().map(Some).collect::<Vec<_>>(),
            policy,
        )
    };
    let retried = None;

    assert_eq!(state(&[], strict), JobState::Pending, "no tasks");
    // 1. every task SUCCEEDED
    assert_eq!(state(&[Succeeded, Succeeded], strict), JobState::Succeeded);
    // 2. the job's FAILED attempts, retried ones included, exceed max_task_failures (rule A),
    //    gangs too (rule D); preemptions never count
    assert_eq!(state(&[Failed, Running], strict), JobState::Failed);
    assert_eq!(judged(&[retried, Some(Running)], strict), JobState::Failed);
    assert_eq!(
        judged(&[retried, Some(Running)], tolerant),
        JobState::Running
    );
    assert_eq!(
        judged(&[retried, Some(Failed), Some(Running)], tolerant),
        JobState::Failed,
        "two attempts failed, of two tasks, one of them requeued"
    );
    assert_eq!(
        state(&[Failed, Failed, Unschedulable], tolerant),
        JobState::Failed
    );
    assert_eq!(
        judged(&[retried, retried, Some(Running)], gang),
        JobState::Failed
    );
    assert_eq!(
        state(&[WorkerFailed, WorkerFailed], strict),
        JobState::WorkerFailed
    );
    // 3. unschedulable before killed
    assert_eq!(
        state(&[Unschedulable, Killed, Running], strict),
        JobState::Unschedulable
    );
    // 4. killed
    assert_eq!(state(&[Killed, Running, Pending], strict), JobState::Killed);
    assert_eq!(state(&[Killed, Failed], tolerant), JobState::Killed);
    // 5. every task ended, a worker-side ending among them
    assert_eq!(
        state(&[WorkerFailed, Succeeded], strict),
        JobState::WorkerFailed
    );
    assert_eq!(
        state(&[Preempted, CoschedFailed], strict),
        JobState::WorkerFailed
    );
    assert_eq!(
        state(&[WorkerFailed, Running], strict),
        JobState::Running,
        "not all ended"
    );
    // 6. every task ended, a tolerated FAILED among them: FAILED (rule B), gangs alike
    assert_eq!(state(&[Succeeded, Failed], tolerant), JobState::Failed);
    assert_eq!(state(&[Succeeded, Failed], gang), JobState::Failed);
    // 7. a task active, or the job started
    assert_eq!(state(&[Assigned, Pending], strict), JobState::Running);
    assert_eq!(state(&[Building, Succeeded], strict), JobState::Running);
    assert_eq!(state(&[Running, Failed], tolerant), JobState::Running);
    assert_eq!(
        state(&[Pending, Succeeded], strict),
        JobState::Running,
        "started"
    );
    // 8. otherwise pending
    assert_eq!(state(&[Pending, Pending], strict), JobState::Pending);
}

#[test]
fn job_state_labels() {
    assert_eq!(JobState::WorkerFailed.to_string(), "worker_failed");
    assert_eq!(JobState::Running.label(), "running");
}

#[test]
fn the_dispatch_deadline_compares_exactly() {
    let mut table = table_of(&["job/task-0"]);
    table
        .assign(&tid("job/task-0"), w("w1"), at(1_000))
        .unwrap();
    // Waited 30 000 ms, against 30 s and half a millisecond: not longer.
    let max_wait = Duration::from_micros(30_000_500);
    assert!(table.expire_assigned(at(31_000), max_wait).is_empty());
    // 30 001 ms is longer.
    assert_eq!(
        ids(&table.expire_assigned(at(31_001), max_wait)),
        [tid("job/task-0")]
    );
    // Far-apart times do not overflow.
    let mut table = table_of(&["job/task-0"]);
    table
        .assign(&tid("job/task-0"), w("w1"), at(i64::MIN))
        .unwrap();
    assert!(
        table
            .expire_assigned(at(i64::MIN), Duration::ZERO)
            .is_empty()
    );
    assert!(
        table
            .expire_assigned(at(i64::MAX), Duration::MAX)
            .is_empty()
    );
    assert_eq!(
        table
            .expire_assigned(at(i64::MAX), Duration::from_secs(1))
            .len(),
        1
    );
}

#[test]
fn calls_without_an_error_to_return_stamp_each_task_no_earlier_than_it_records() {
    let mut table = table_of(&["job/task-0", "job/task-1"]);
    table.assign(&tid("job/task-0"), w("w1"), at(100)).unwrap();
    table.assign(&tid("job/task-1"), w("w1"), at(500)).unwrap();
    // The loss is noticed at 300 by a clock behind the one that assigned task-1 at 500.
    let changed = table.worker_lost(&w("w1"), "lost", at(300));
    assert_eq!(changed.len(), 2);
    let finished = |id: &str| table.get(&tid(id)).unwrap().attempts()[0].finished_at();
    assert_eq!(finished("job/task-0"), Some(at(300)));
    assert_eq!(finished("job/task-1"), Some(at(500)));
    // A later assignment earlier than the task records is refused.
    let err = table
        .assign(&tid("job/task-1"), w("w2"), at(400))
        .unwrap_err();
    assert!(matches!(
        err,
        TableError::Transition(TransitionError::TimeWentBackwards { .. })
    ));
    assert_eq!(
        table.pending().count(),
        2,
        "the refused assignment changed nothing"
    );
}

#[test]
fn from_tasks_builds_the_table_that_inserting_one_by_one_builds() {
    // Tasks in every state, ASSIGNED ones with assignment times out of order; each of its own
    // job, since a job takes no task once it has ended (a killed task ends its job).
    let tasks: Vec<AnyTask> = (0..40u32)
        .map(|index| {
            let task = Task::new(tid(&format!("job{index}/task-0")), RetryPolicy::default());
            let t = i64::from((index * 7919) % 101);
            match index % 4 {
                0 => task.into_any(),
                1 => task.assign(w(&format!("w{}", index % 3)), at(t)).into_any(),
                2 => task.assign(w("w1"), at(t)).start(at(t + 1)).into_any(),
                _ => task.kill("no", at(t)).into_any(),
            }
        })
        .collect();
    let mut one_by_one = TaskTable::new();
    for task in &tasks {
        one_by_one.insert(task.clone()).unwrap();
    }
    let mut at_once = TaskTable::from_tasks(tasks.clone()).unwrap();
    assert_eq!(at_once.len(), one_by_one.len());
    assert_eq!(at_once.counts(), one_by_one.counts());
    let ids = |table: &TaskTable| table.iter().map(|t| t.id().clone()).collect::<Vec<_>>();
    assert_eq!(ids(&at_once), ids(&one_by_one), "insertion order is kept");
    assert_eq!(pending_ids(&at_once), pending_ids(&one_by_one));
    for worker in ["w0", "w1", "w2"] {
        assert_eq!(on(&at_once, worker), on(&one_by_one, worker));
    }
    for now in [0, 30, 60, 200] {
        assert_eq!(
            at_once.expire_assigned(at(now), Duration::from_millis(5)),
            one_by_one.expire_assigned(at(now), Duration::from_millis(5)),
        );
    }
    // A duplicate id is the same error as insert's.
    let twice = [tasks[0].clone(), tasks[0].clone()];
    assert_eq!(
        TaskTable::from_tasks(twice).unwrap_err(),
        TableError::DuplicateTask(tasks[0].id().clone())
    );
}

/// The ids of the tasks a call changed, in the order it changed them.
fn ids(changes: &iris_task::Changes) -> Vec<TaskId> {
    changes.iter().map(|(id, _)| id.clone()).collect()
}

#[test]
fn remove_job_forgets_a_finished_job_and_reuses_its_place() {
    let mut table = table_of(&["a/task-0", "b/task-1", "b/task-0", "c/task-0"]);
    let b = iris_task::JobId::new("b").unwrap();
    table.set_job_policy(b.clone(), iris_task::JobPolicy::default());
    table.assign(&tid("b/task-1"), w("w1"), at(1)).unwrap();
    // b/task-0 is pending and b/task-1 assigned: the first by index is named, nothing changes.
    let before: Vec<(String, StateKind)> = table
        .iter()
        .map(|t| (t.id().to_string(), t.state()))
        .collect();
    assert_eq!(
        table.remove_job(&b),
        Err(TableError::JobNotFinished {
            job: b.clone(),
            task: tid("b/task-0"),
            state: StateKind::Pending
        })
    );
    let after: Vec<(String, StateKind)> = table
        .iter()
        .map(|t| (t.id().to_string(), t.state()))
        .collect();
    assert_eq!(before, after);
    table.kill_job(&b, "done", at(2));
    let removed: Vec<String> = table
        .remove_job(&b)
        .unwrap()
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    assert_eq!(removed, ["b/task-0", "b/task-1"], "in index order");
    assert_eq!(table.len(), 2);
    assert!(table.get(&tid("b/task-0")).is_none());
    assert_eq!(table.job_counts(&b), None);
    assert_eq!(table.job_policy(&b), None, "the policy is forgotten too");
    assert_eq!(table.counts(), &recount(&table));
    assert_eq!(pending_ids(&table), ["a/task-0", "c/task-0"]);
    // New tasks take the freed places; the views and the index stay right.
    table
        .insert(Task::new(tid("d/task-0"), RetryPolicy::default()))
        .unwrap();
    table
        .insert(Task::new(tid("b/task-0"), RetryPolicy::default()))
        .unwrap();
    let order: Vec<String> = table.iter().map(|t| t.id().to_string()).collect();
    assert_eq!(order.len(), 4);
    assert!(order.starts_with(&["a/task-0".to_owned()]));
    assert_eq!(
        table.get(&tid("b/task-0")).map(AnyTask::state),
        Some(StateKind::Pending)
    );
    assert_eq!(
        pending_ids(&table),
        ["a/task-0", "c/task-0", "d/task-0", "b/task-0"]
    );
    let jobs: Vec<&str> = table.jobs().map(|job| job.id().as_str()).collect();
    assert_eq!(jobs, ["a", "c", "d", "b"]);
    // Unknown jobs: nothing to remove.
    assert_eq!(
        table.remove_job(&iris_task::JobId::new("zz").unwrap()),
        Ok(vec![])
    );
}
