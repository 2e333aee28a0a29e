//! Reconcile as library calls: the desired set a controller pushes to a worker, and what the
//! worker's answer does to the table, for every observation state, stop reason and bad input.

use iris_task::today::cluster::worker::{
    AttemptObservation, ReconcileRequest, ReconcileResponse, StopReason, desired_attempt::Intent,
};
use iris_task::today::job::{RunTaskRequest, TaskState};
use iris_task::{
    AttemptUid, DurableTable, JobId, JobPolicy, ReconcileError, RetryPolicy, SqliteStore,
    StateKind, TableError, Task, TaskEvent, TaskId, TaskTable, Timestamp, TransitionError,
    UidMinter, WorkerId,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn job(name: &str) -> JobId {
    JobId::from_path(&format!("/alice/{name}")).unwrap()
}

fn tid(name: &str, index: u32) -> TaskId {
    TaskId::new(job(name), index)
}

fn retry(failure: u32, preemption: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    }
}

/// A table with `tasks` tasks of job `name`, each assigned to `worker`, the first `running`
/// of them running.
fn table_with(
    name: &str,
    tasks: u32,
    running: u32,
    policy: JobPolicy,
    retry: RetryPolicy,
) -> TaskTable {
    let mut table = TaskTable::new();
    table.set_uid_minter(UidMinter::seeded(1));
    table
        .insert_job(
            job(name),
            policy,
            (0..tasks).map(|index| Task::new(tid(name, index), retry)),
        )
        .unwrap();
    for index in 0..tasks {
        table.assign(&tid(name, index), w("w1"), at(10)).unwrap();
    }
    for index in 0..running {
        let observed = observation(uid(&table, &tid(name, index), 0), TaskState::Running);
        let reconciled = table
            .reconcile(&w("w1"), answer("w1", [observed]), at(20))
            .unwrap();
        assert!(reconciled.refused.is_empty(), "{:?}", reconciled.refused);
    }
    table
}

/// The controller's cancel of a task, at `ms`.
fn cancel(ms: i64) -> TaskEvent {
    TaskEvent::Kill {
        reason: "cancelled".into(),
        at: at(ms),
    }
}

fn uid(table: &TaskTable, id: &TaskId, attempt: usize) -> AttemptUid {
    table.get(id).unwrap().attempts()[attempt].uid()
}

fn observation(uid: AttemptUid, state: TaskState) -> AttemptObservation {
    AttemptObservation {
        attempt_uid: Some(uid.to_string()),
        state: Some(state as i32),
        ..Default::default()
    }
}

fn answer(
    worker: &str,
    observed: impl IntoIterator<Item = AttemptObservation>,
) -> ReconcileResponse {
    ReconcileResponse {
        worker_id: Some(worker.into()),
        observed: observed.into_iter().collect(),
        ..Default::default()
    }
}

fn spec(_: &iris_task::AnyTask) -> Option<RunTaskRequest> {
    Some(RunTaskRequest {
        num_tasks: Some(3),
        bundle_id: Some("sha256:abc".into()),
        ..Default::default()
    })
}

/// The desired set as (uid, what), for assertions.
fn intents(request: &ReconcileRequest) -> Vec<(String, String)> {
    request
        .desired
        .iter()
        .map(|desired| {
            let what = match &desired.intent {
                Some(Intent::Run(run)) => match &run.request {
                    Some(request) => format!(
                        "run {} attempt {} uid {}",
                        request.task_id.as_deref().unwrap_or_default(),
                        request.attempt_id.unwrap_or(-1),
                        request.attempt_uid.as_deref().unwrap_or_default()
                    ),
                    None => "run (cached)".to_owned(),
                },
                Some(Intent::Stop(reason)) => {
                    format!(
                        "stop {}",
                        StopReason::try_from(*reason).unwrap().as_str_name()
                    )
                }
                None => "nothing".to_owned(),
            };
            (desired.attempt_uid.clone().unwrap_or_default(), what)
        })
        .collect()
}

#[test]
fn an_assigned_attempt_runs_with_its_spec_and_a_started_one_with_an_empty_run() {
    let table = table_with("train", 3, 1, JobPolicy::default(), retry(0, 0));
    let request = table.reconcile_request(&w("w1"), spec);
    assert_eq!(request.worker_id.as_deref(), Some("w1"));
    let u = |index| uid(&table, &tid("train", index), 0).to_string();
    assert_eq!(
        intents(&request),
        [
            (u(0), "run (cached)".to_owned()),
            (u(1), format!("run /alice/train/1 attempt 0 uid {}", u(1))),
            (u(2), format!("run /alice/train/2 attempt 0 uid {}", u(2))),
        ]
    );
    // The job's own fields are the spec's.
    let Some(Intent::Run(run)) = &request.desired[1].intent else {
        panic!()
    };
    assert_eq!(
        run.request.as_ref().unwrap().bundle_id.as_deref(),
        Some("sha256:abc")
    );
    // No spec (the job is gone): the ASSIGNED attempt is left out this round.
    let without = table.reconcile_request(&w("w1"), |_| None);
    assert_eq!(intents(&without), [(u(0), "run (cached)".to_owned())]);
    // Another worker has nothing.
    assert!(table.reconcile_request(&w("w2"), spec).desired.is_empty());
}

/// Every way the controller ends an attempt its worker may still run, and the stop reason Iris
/// gives it.
#[test]
fn each_attempt_the_controller_ends_gets_its_stop_reason_until_the_worker_confirms() {
    let cases: Vec<(&str, JobPolicy, RetryPolicy, TaskEvent, StopReason)> = vec![
        (
            "cancel",
            JobPolicy::default(),
            retry(0, 0),
            cancel(30),
            StopReason::Cancelled,
        ),
        (
            "preempt-last",
            JobPolicy::default(),
            retry(0, 0),
            TaskEvent::Preempt {
                reason: "priority".into(),
                at: at(30),
            },
            StopReason::Preempted,
        ),
        (
            "preempt-requeued",
            JobPolicy::default(),
            retry(0, 5),
            TaskEvent::Preempt {
                reason: "priority".into(),
                at: at(30),
            },
            StopReason::Preempted,
        ),
        (
            "timeout",
            JobPolicy::default(),
            retry(3, 3),
            TaskEvent::ExecutionTimeout { at: at(30) },
            StopReason::TaskTimeout,
        ),
    ];
    for (name, policy, retry, event, reason) in cases {
        let mut table = table_with(name, 1, 1, policy, retry);
        let id = tid(name, 0);
        let uid = uid(&table, &id, 0);
        table.apply(&id, event).unwrap();
        let attempt = &table.get(&id).unwrap().attempts()[0];
        assert!(attempt.awaits_stop(), "{name}");
        let stop = (uid.to_string(), format!("stop {}", reason.as_str_name()));
        assert!(
            intents(&table.reconcile_request(&w("w1"), spec)).contains(&stop),
            "{name}"
        );
        // Still running: the order stands.
        let still = table
            .reconcile(
                &w("w1"),
                answer("w1", [observation(uid, TaskState::Running)]),
                at(40),
            )
            .unwrap();
        assert!(
            still.refused.is_empty() && still.changes.stops().is_empty(),
            "{name}"
        );
        assert!(
            intents(&table.reconcile_request(&w("w1"), spec)).contains(&stop),
            "{name}"
        );
        // Ended: confirmed, no order any more.
        let confirmed = table
            .reconcile(
                &w("w1"),
                answer("w1", [observation(uid, TaskState::Killed)]),
                at(50),
            )
            .unwrap();
        assert_eq!(
            confirmed.changes.stops(),
            [(id.clone(), iris_task::AttemptId::new(0))],
            "{name}"
        );
        assert!(!table.get(&id).unwrap().attempts()[0].awaits_stop());
        assert!(
            !intents(&table.reconcile_request(&w("w1"), spec)).contains(&stop),
            "{name}"
        );
        assert_eq!(table.stops_on(&w("w1")).count(), 0, "{name}");
    }
}

#[test]
fn a_gang_end_stops_its_siblings_and_a_requeued_gang_is_a_preemption() {
    let gang = JobPolicy {
        max_task_failures: 10,
        coscheduled: true,
    };
    // Ended for good: the running sibling ends COSCHED_FAILED, stopped as JOB_TERMINATED.
    let mut table = table_with("gang", 2, 2, gang, retry(0, 0));
    let (u0, u1) = (
        uid(&table, &tid("gang", 0), 0),
        uid(&table, &tid("gang", 1), 0),
    );
    let mut failed = observation(u0, TaskState::Failed);
    failed.exit_code = Some(2);
    let reconciled = table
        .reconcile(&w("w1"), answer("w1", [failed]), at(30))
        .unwrap();
    assert!(reconciled.refused.is_empty());
    assert_eq!(
        table.get(&tid("gang", 1)).unwrap().state(),
        StateKind::CoschedFailed
    );
    let stops = intents(&table.reconcile_request(&w("w1"), spec));
    assert_eq!(
        stops,
        [(u1.to_string(), "stop STOP_REASON_JOB_TERMINATED".to_owned())]
    );
    // The worker that reported FAILED owes no stop for the attempt it ended itself.
    assert!(!table.get(&tid("gang", 0)).unwrap().attempts()[0].awaits_stop());
    // Requeued: the sibling goes back to the queue, stopped as a preemption.
    let mut table = table_with("gang", 2, 2, gang, retry(1, 1));
    let (u0, u1) = (
        uid(&table, &tid("gang", 0), 0),
        uid(&table, &tid("gang", 1), 0),
    );
    let failed = observation(u0, TaskState::Failed);
    table
        .reconcile(&w("w1"), answer("w1", [failed]), at(30))
        .unwrap();
    assert_eq!(
        table.get(&tid("gang", 1)).unwrap().state(),
        StateKind::Pending
    );
    let stops = intents(&table.reconcile_request(&w("w1"), spec));
    assert_eq!(
        stops,
        [(u1.to_string(), "stop STOP_REASON_PREEMPTED".to_owned())]
    );
}

#[test]
fn a_job_that_ends_stops_its_running_tasks_as_cancelled() {
    // max_task_failures 0: one failure ends the job, and the job-end rule kills the others.
    let mut table = table_with("strict", 2, 2, JobPolicy::default(), retry(0, 0));
    let (u0, u1) = (
        uid(&table, &tid("strict", 0), 0),
        uid(&table, &tid("strict", 1), 0),
    );
    table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(u0, TaskState::Failed)]),
            at(30),
        )
        .unwrap();
    assert_eq!(
        table.get(&tid("strict", 1)).unwrap().state(),
        StateKind::Killed
    );
    assert_eq!(
        intents(&table.reconcile_request(&w("w1"), spec)),
        [(u1.to_string(), "stop STOP_REASON_CANCELLED".to_owned())]
    );
}

#[test]
fn while_a_preempted_victim_holds_the_worker_new_attempts_wait() {
    let mut table = table_with("victim", 1, 1, JobPolicy::default(), retry(0, 5));
    table
        .insert(Task::new(tid("next", 0), retry(0, 0)))
        .unwrap();
    table.assign(&tid("next", 0), w("w1"), at(15)).unwrap();
    let victim = uid(&table, &tid("victim", 0), 0);
    table
        .apply(
            &tid("victim", 0),
            TaskEvent::Preempt {
                reason: "priority".into(),
                at: at(30),
            },
        )
        .unwrap();
    let held = intents(&table.reconcile_request(&w("w1"), spec));
    assert_eq!(
        held,
        [(victim.to_string(), "stop STOP_REASON_PREEMPTED".to_owned())]
    );
    table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(victim, TaskState::Killed)]),
            at(40),
        )
        .unwrap();
    let next = uid(&table, &tid("next", 0), 0).to_string();
    assert_eq!(
        intents(&table.reconcile_request(&w("w1"), spec)),
        [(
            next.clone(),
            format!("run /alice/next/0 attempt 0 uid {next}")
        )]
    );
}

/// Each state a worker observes of an open attempt does what the worker's report of it does,
/// stamped with the controller's receive time; ASSIGNED and PENDING (not started yet) nothing.
#[test]
fn every_observed_state_moves_the_task_as_its_report_would() {
    use iris_task::WorkerReport as R;
    let why = || "why".to_owned();
    let cases = [
        (TaskState::Building, Some(R::Building)),
        (TaskState::Running, Some(R::Running)),
        (TaskState::Succeeded, Some(R::Succeeded)),
        (
            TaskState::Failed,
            Some(R::Failed {
                exit_code: 0,
                error: why(),
            }),
        ),
        (TaskState::Killed, Some(R::Killed { error: why() })),
        (
            TaskState::WorkerFailed,
            Some(R::WorkerFailed { error: why() }),
        ),
        (TaskState::Preempted, Some(R::Preempted { error: why() })),
        (TaskState::Missing, Some(R::Missing)),
        (TaskState::Assigned, None),
        (TaskState::Pending, None),
    ];
    for running in [0, 1] {
        for (observed, report) in cases.clone() {
            let mut by_answer = table_with("obs", 1, running, JobPolicy::default(), retry(1, 1));
            let mut by_report = table_with("obs", 1, running, JobPolicy::default(), retry(1, 1));
            let id = tid("obs", 0);
            let mut seen = observation(uid(&by_answer, &id, 0), observed);
            seen.error = Some(why());
            let reconciled = by_answer
                .reconcile(&w("w1"), answer("w1", [seen]), at(30))
                .unwrap();
            if let Some(report) = report {
                let event = TaskEvent::Report {
                    worker: w("w1"),
                    attempt: iris_task::AttemptId::new(0),
                    report,
                    at: at(30),
                };
                let steps = |c: &iris_task::Changes| {
                    c.iter()
                        .map(|(id, step)| (id.clone(), step))
                        .collect::<Vec<_>>()
                };
                match by_report.apply(&id, event) {
                    Ok(changes) => {
                        assert!(
                            reconciled.refused.is_empty(),
                            "{observed:?}: {:?}",
                            reconciled.refused
                        );
                        assert_eq!(steps(&reconciled.changes), steps(&changes), "{observed:?}");
                    }
                    // Refused alike (BUILDING after RUNNING moves nothing backwards).
                    Err(source) => assert_eq!(
                        reconciled.refused,
                        [ReconcileError::Refused { index: 0, source }],
                        "{observed:?}"
                    ),
                }
            } else {
                assert!(reconciled.refused.is_empty(), "{observed:?}");
                assert!(reconciled.changes.is_empty(), "{observed:?}");
            }
            assert_eq!(
                format!("{:?}", by_answer.get(&id)),
                format!("{:?}", by_report.get(&id)),
                "{observed:?}, running {running}"
            );
        }
    }
}

#[test]
fn a_bad_answer_is_refused_and_changes_nothing() {
    let mut table = table_with("bad", 2, 1, JobPolicy::default(), retry(0, 0));
    table
        .insert(Task::new(tid("other", 0), retry(0, 0)))
        .unwrap();
    table.assign(&tid("other", 0), w("w2"), at(10)).unwrap();
    let before = format!("{:?}", table.iter().collect::<Vec<_>>());
    let u0 = uid(&table, &tid("bad", 0), 0);
    let theirs = uid(&table, &tid("other", 0), 0);

    // Another worker's answer: refused whole.
    let err = table
        .reconcile(
            &w("w1"),
            answer("w9", [observation(u0, TaskState::Succeeded)]),
            at(30),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ReconcileError::WrongWorker {
            asked: w("w1"),
            answered: "w9".into()
        }
    );
    // An empty id is no id: Iris takes such an answer as the worker's.
    assert!(table.reconcile(&w("w1"), answer("", []), at(30)).is_ok());
    assert_eq!(format!("{:?}", table.iter().collect::<Vec<_>>()), before);

    // Observation by observation: each refused with its reason, nothing changes.
    let mut no_uid = observation(u0, TaskState::Running);
    no_uid.attempt_uid = None;
    let mut bad_uid = observation(u0, TaskState::Running);
    bad_uid.attempt_uid = Some("ABC".into());
    let unknown = observation(AttemptUid::new(0x5eed), TaskState::Running);
    let stolen = observation(theirs, TaskState::Succeeded);
    let unschedulable = observation(u0, TaskState::Unschedulable);
    let mut nonzero = observation(u0, TaskState::Succeeded);
    nonzero.exit_code = Some(3);
    let reconciled = table
        .reconcile(
            &w("w1"),
            answer(
                "w1",
                [no_uid, bad_uid, unknown, stolen, unschedulable, nonzero],
            ),
            at(30),
        )
        .unwrap();
    let kinds: Vec<String> = reconciled
        .refused
        .iter()
        .map(|err| {
            format!("{err:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "BadUid",
            "BadUid",
            "UnknownUid",
            "NotTheOwner",
            "Unreadable",
            "Unreadable"
        ]
    );
    assert_eq!(
        reconciled.refused[3].to_string(),
        format!("observed[3]: attempt {theirs} belongs to worker w2, not w1")
    );
    assert!(reconciled.changes.is_empty());
    assert_eq!(format!("{:?}", table.iter().collect::<Vec<_>>()), before);

    // The rules' own refusals: RUNNING after SUCCEEDED is a report on an attempt that ended.
    table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(u0, TaskState::Succeeded)]),
            at(40),
        )
        .unwrap();
    let late = table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(u0, TaskState::Running)]),
            at(50),
        )
        .unwrap();
    assert!(matches!(
        late.refused.as_slice(),
        [ReconcileError::Refused {
            index: 0,
            source: TableError::Transition(TransitionError::StaleAttempt { .. })
        }]
    ));
    // The same end again is a duplicate: accepted, nothing changes.
    let again = table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(u0, TaskState::Succeeded)]),
            at(60),
        )
        .unwrap();
    assert!(again.refused.is_empty());
}

#[test]
fn a_lost_worker_owes_no_stop() {
    let mut table = table_with("lost", 1, 1, JobPolicy::default(), retry(0, 0));
    let id = tid("lost", 0);
    table.apply(&id, cancel(30)).unwrap();
    assert_eq!(table.stops_on(&w("w1")).count(), 1);
    let changes = table.worker_lost(&w("w1"), "gone", at(40));
    assert_eq!(
        changes.stops(),
        [(id.clone(), iris_task::AttemptId::new(0))]
    );
    assert_eq!(table.stops_on(&w("w1")).count(), 0);
    assert!(table.reconcile_request(&w("w1"), spec).desired.is_empty());
}

/// Stop orders come from the store: a controller that restarts before the worker confirms
/// sends them again, and a confirmed stop stays confirmed.
#[test]
fn stop_orders_survive_a_restart_and_so_do_their_confirmations() {
    let dir = std::env::temp_dir().join(format!("iris-task-reconcile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("controller.db");
    let id = tid("durable", 0);
    let uid = {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        table.insert(Task::new(id.clone(), retry(0, 0))).unwrap();
        let uid = table.assign(&id, w("w1"), at(10)).unwrap().attempts()[0].uid();
        let running = answer("w1", [observation(uid, TaskState::Running)]);
        table.reconcile(&w("w1"), running, at(20)).unwrap().unwrap();
        table
            .kill_job(&job("durable"), "cancelled", at(30))
            .unwrap();
        uid
    };
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let orders = intents(&table.table().reconcile_request(&w("w1"), spec));
    assert_eq!(
        orders,
        [(uid.to_string(), "stop STOP_REASON_CANCELLED".to_owned())]
    );
    let gone = answer("w1", [observation(uid, TaskState::Missing)]);
    let confirmed = table.reconcile(&w("w1"), gone, at(40)).unwrap().unwrap();
    assert_eq!(confirmed.changes.stops().len(), 1);
    drop(table);
    let table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert!(
        table
            .table()
            .reconcile_request(&w("w1"), spec)
            .desired
            .is_empty()
    );
    assert_eq!(table.table().get(&id).unwrap().state(), StateKind::Killed);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An attempt awaiting its stop says so on both wires and in serde, and reads back the same;
/// on today's wire it is written as Iris writes one, with no finish yet.
#[test]
fn a_stop_travels_on_both_wires_and_in_serde() {
    let mut table = table_with("wire", 1, 1, JobPolicy::default(), retry(0, 0));
    let id = tid("wire", 0);
    table.apply(&id, cancel(30)).unwrap();
    let task = table.get(&id).unwrap().clone();
    assert!(task.attempts()[0].awaits_stop());
    let policy = *task.policy();
    // The seed-era wire: field 102.
    let seed = iris_task::proto::TaskStatus::from(&task);
    assert!(seed.attempts[0].awaiting_stop);
    assert_eq!(
        iris_task::AnyTask::from_proto(seed.clone(), policy).unwrap(),
        task
    );
    // Today's wire: no finished_at, as Iris writes it; the crate's close time in `stopped_at`.
    let today = iris_task::today::job::TaskStatus::from(&task);
    assert_eq!(today.attempts[0].finished_at, None);
    assert_eq!(
        today.attempts[0].stopped_at.and_then(|t| t.epoch_ms),
        Some(30)
    );
    assert_eq!(iris_task::AnyTask::from_today(today, policy).unwrap(), task);
    // serde.
    let json = serde_json::to_value(&task).unwrap();
    assert_eq!(
        json["attempts"][0]["awaiting_stop"],
        serde_json::json!(true)
    );
    assert_eq!(
        serde_json::from_value::<iris_task::AnyTask>(json).unwrap(),
        task
    );
    // An open attempt never awaits a stop.
    let running = table_with("open", 1, 1, JobPolicy::default(), retry(0, 0));
    let mut open = iris_task::proto::TaskStatus::from(running.get(&tid("open", 0)).unwrap());
    open.attempts[0].awaiting_stop = true;
    assert!(matches!(
        iris_task::AnyTask::from_proto(open, policy),
        Err(iris_task::ProtoError::Inconsistent { field, .. }) if field == "TaskStatus.attempts[0].awaiting_stop"
    ));
}

/// A controller of seed-era workers confirms a stop itself, when the worker's poll no longer
/// holds the attempt; only the owner can, and only a stop awaited is settled.
#[test]
fn a_stop_is_confirmed_by_its_worker_only() {
    let mut table = table_with("seed", 1, 1, JobPolicy::default(), retry(0, 0));
    let id = tid("seed", 0);
    let killed = uid(&table, &id, 0);
    table.apply(&id, cancel(30)).unwrap();
    assert_eq!(
        table.confirm_stop(&w("w2"), killed),
        Err(TableError::NotTheOwner {
            uid: killed,
            owner: Some(w("w1")),
            worker: w("w2")
        })
    );
    assert_eq!(
        table.confirm_stop(&w("w1"), AttemptUid::new(7)),
        Err(TableError::UnknownAttempt(AttemptUid::new(7)))
    );
    assert_eq!(table.stops_on(&w("w1")).count(), 1);
    let changes = table.confirm_stop(&w("w1"), killed).unwrap();
    assert_eq!(
        changes.stops(),
        [(id.clone(), iris_task::AttemptId::new(0))]
    );
    assert!(changes.is_empty(), "no task's state changed");
    assert_eq!(table.stops_on(&w("w1")).count(), 0);
    assert!(
        table
            .confirm_stop(&w("w1"), killed)
            .unwrap()
            .stops()
            .is_empty(),
        "once"
    );
    assert_eq!(
        table.get(&id).unwrap().state(),
        StateKind::Killed,
        "the task is as it was"
    );
}

/// The dispatch deadline requeues an attempt the worker may have after all: it awaits its stop.
#[test]
fn an_expired_assignment_is_stopped_on_its_worker() {
    let mut table = table_with("late", 1, 0, JobPolicy::default(), retry(0, 0));
    let id = tid("late", 0);
    let uid = uid(&table, &id, 0);
    let changes = table.expire_assigned(at(1_000), std::time::Duration::ZERO);
    assert_eq!(changes.len(), 1);
    assert_eq!(table.get(&id).unwrap().state(), StateKind::Pending);
    assert_eq!(
        intents(&table.reconcile_request(&w("w1"), spec)),
        [(uid.to_string(), "stop STOP_REASON_PREEMPTED".to_owned())]
    );
    // An answer without a worker id is the worker's, as Iris reads it.
    let gone = table
        .reconcile(
            &w("w1"),
            answer("", [observation(uid, TaskState::Missing)]),
            at(1_100),
        )
        .unwrap();
    assert_eq!(gone.changes.stops().len(), 1);
}

/// What no lifecycle produces is refused when read: a stop awaited by an attempt the worker
/// ended itself, a task repeating a uid.
#[test]
fn a_stop_or_a_uid_no_lifecycle_makes_is_refused_on_decode() {
    let table = table_with("done", 1, 1, JobPolicy::default(), retry(0, 0));
    let id = tid("done", 0);
    let mut table = table;
    let done = uid(&table, &id, 0);
    table
        .reconcile(
            &w("w1"),
            answer("w1", [observation(done, TaskState::Succeeded)]),
            at(30),
        )
        .unwrap();
    let task = table.get(&id).unwrap();
    let mut status = iris_task::proto::TaskStatus::from(task);
    status.attempts[0].awaiting_stop = true;
    assert!(matches!(
        iris_task::AnyTask::from_proto(status, *task.policy()),
        Err(iris_task::ProtoError::Inconsistent { field, .. }) if field == "TaskStatus.attempts[0].awaiting_stop"
    ));
    // Two attempts with one uid.
    let mut retried = table_with("twice", 1, 0, JobPolicy::default(), retry(0, 0));
    let first = uid(&retried, &tid("twice", 0), 0);
    retried.worker_lost(&w("w1"), "gone", at(20));
    retried.assign(&tid("twice", 0), w("w2"), at(30)).unwrap();
    let task = retried.get(&tid("twice", 0)).unwrap();
    let mut status = iris_task::proto::TaskStatus::from(task);
    status.attempts[1].attempt_uid = Some(first.to_string());
    assert!(matches!(
        iris_task::AnyTask::from_proto(status, *task.policy()),
        Err(iris_task::ProtoError::Inconsistent { field, .. }) if field == "TaskStatus.attempts[1].attempt_uid"
    ));
}

#[test]
fn a_settled_stop_shows_in_the_changes_debug() {
    let mut table = table_with("shown", 1, 1, JobPolicy::default(), retry(0, 0));
    let id = tid("shown", 0);
    let killed = uid(&table, &id, 0);
    table.apply(&id, cancel(30)).unwrap();
    let changes = table.confirm_stop(&w("w1"), killed).unwrap();
    assert_eq!(
        format!("{changes:?}"),
        "[/alice/shown/task-0 attempt 0: stop confirmed]"
    );
}
