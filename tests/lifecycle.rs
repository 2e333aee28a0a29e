//! The typed lifecycle against DOMAIN.md: every row of the events table the typed API can express,
//! attempts, and retry budgets.

use iris_task::{
    AnyTask, Assigned, Attempt, Building, JobId, Pending, Retry, RetryPolicy, Running, StateKind,
    Task, TaskId, Terminal, Timestamp, WorkerId,
};
use proptest::prelude::*;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn worker(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

fn task_with(policy: RetryPolicy) -> Task<Pending> {
    Task::new(TaskId::new(JobId::new("job").unwrap(), 7), policy)
}

fn task() -> Task<Pending> {
    task_with(RetryPolicy::default())
}

fn running(task: Task<Pending>, t: i64) -> Task<Running> {
    task.assign(worker("w1"), at(t)).start(at(t + 1))
}

fn budgets(failure: u32, preemption: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    }
}

// ----- attempts -----

#[test]
fn a_new_task_is_pending_without_attempts() {
    let task = task();
    assert_eq!(task.state(), StateKind::Pending);
    assert_eq!(task.id().to_string(), "job/task-7");
    assert_eq!(task.policy(), &RetryPolicy::default());
    assert!(task.attempts().is_empty());
    assert_eq!(task.current_attempt(), None);
    assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
}

#[test]
fn assignment_opens_an_attempt_on_the_worker() {
    let task = task().assign(worker("w1"), at(10));
    assert_eq!(task.state(), StateKind::Assigned);
    assert_eq!(task.worker(), &worker("w1"));
    assert_eq!(task.attempt_id().get(), 0);
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Assigned);
    assert_eq!(attempt.worker(), &worker("w1"));
    assert_eq!(attempt.assigned_at(), at(10));
    assert_eq!(attempt.started_at(), None);
    assert_eq!(attempt.finished_at(), None);
    assert_eq!(attempt.exit_code(), None);
    assert_eq!(attempt.error(), None);
    assert!(attempt.is_open());
    assert!(!attempt.is_worker_failure());
}

#[test]
fn attempt_ids_count_up_from_zero_one_per_assignment() {
    let mut task = task();
    for round in 0..5u32 {
        let assigned = task.assign(worker(&format!("w{round}")), at(i64::from(round) * 10));
        assert_eq!(assigned.attempt_id().get(), round);
        task = assigned.worker_failed("RunTask failed", at(i64::from(round) * 10 + 1));
    }
    let ids: Vec<u32> = task.attempts().iter().map(|a| a.id().get()).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    assert_eq!(task.current_attempt().unwrap().id().get(), 4);
    assert_eq!(task.current_attempt().unwrap().worker(), &worker("w4"));
}

#[test]
fn started_at_is_the_first_building_report() {
    let task = task().assign(worker("w1"), at(1)).build(at(2));
    assert_eq!(task.state(), StateKind::Building);
    assert_eq!(task.current_attempt().unwrap().started_at(), Some(at(2)));
    // RUNNING after BUILDING keeps the start of the build.
    let task = task.start(at(5));
    assert_eq!(task.state(), StateKind::Running);
    assert_eq!(task.current_attempt().unwrap().started_at(), Some(at(2)));
    assert_eq!(task.current_attempt().unwrap().state(), StateKind::Running);
}

#[test]
fn started_at_is_the_running_report_when_there_was_no_build() {
    let task = task().assign(worker("w1"), at(1)).start(at(3));
    assert_eq!(task.current_attempt().unwrap().started_at(), Some(at(3)));
    assert_eq!(task.current_attempt().unwrap().state(), StateKind::Running);
}

// ----- success -----

#[test]
fn success_closes_the_attempt_with_exit_code_zero() {
    let task = running(task(), 1).succeed(at(9));
    assert_eq!(task.state(), StateKind::Succeeded);
    assert_eq!(task.finished_at(), at(9));
    assert_eq!(task.exit_code(), Some(0));
    assert_eq!(task.error(), None);
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Succeeded);
    assert_eq!(attempt.finished_at(), Some(at(9)));
    assert_eq!(attempt.exit_code(), Some(0));
}

// ----- dispatch failures -----

#[test]
fn dispatch_failure_requeues_free_of_charge() {
    let task = task_with(budgets(0, 0)).assign(worker("w1"), at(1));
    let task: Task<Pending> = task.worker_failed("RunTask: connection refused", at(2));
    assert_eq!(task.state(), StateKind::Pending);
    assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::WorkerFailed);
    assert!(attempt.is_worker_failure());
    assert!(!attempt.is_preemption());
    assert_eq!(attempt.started_at(), None);
    assert_eq!(attempt.finished_at(), Some(at(2)));
    assert_eq!(attempt.error(), Some("RunTask: connection refused"));
}

#[test]
fn repeated_dispatch_failures_never_spend_the_preemption_budget() {
    // A restarted worker answering "task not found" once burned 250 budget for 3 preemptions.
    let mut task = task_with(budgets(0, 0));
    for round in 0..250 {
        task = task
            .assign(worker("w1"), at(round * 2))
            .worker_failed("task not found", at(round * 2 + 1));
    }
    assert_eq!(task.attempts().len(), 250);
    assert_eq!(task.preemption_count(), 0);
    // The budget is still whole for a real preemption... which this policy does not allow.
    let outcome = running(task, 1000).worker_failed("node lost", at(1002));
    assert!(!outcome.is_requeued());
}

// ----- failures -----

/// Runs attempts one after another until the budget runs out; returns the requeues seen and the
/// ended task. `attempt` runs round `n` from PENDING to its `Retry`; `count` reads the budget's
/// counter, which must grow by one per requeue.
fn until_exhausted<T: Terminal>(
    policy: RetryPolicy,
    attempt: impl Fn(Task<Pending>, i64) -> Retry<T>,
    count: impl Fn(&Task<Pending>) -> u32,
) -> (u32, Task<T>) {
    let mut task = task_with(policy);
    let mut requeues = 0;
    for round in 0.. {
        match attempt(task, round) {
            Retry::Requeued(pending) => {
                requeues += 1;
                assert_eq!(count(&pending), requeues);
                task = pending;
            }
            Retry::Exhausted(ended) => return (requeues, ended),
        }
    }
    unreachable!()
}

fn fail_until_exhausted(policy: RetryPolicy) -> (u32, Task<iris_task::Failed>) {
    until_exhausted(
        policy,
        |task, round| {
            running(task, round * 10).fail(
                2,
                format!("exit 2 in round {round}"),
                at(round * 10 + 5),
            )
        },
        Task::failure_count,
    )
}

#[test]
fn failure_budget_of_n_gives_n_requeues_then_failed() {
    for n in 0..6 {
        let (requeues, failed) = fail_until_exhausted(budgets(n, 0));
        assert_eq!(requeues, n, "budget {n}");
        assert_eq!(failed.state(), StateKind::Failed);
        assert_eq!(failed.failure_count(), n + 1);
        assert_eq!(failed.preemption_count(), 0);
        assert_eq!(failed.attempts().len(), n as usize + 1);
        assert_eq!(failed.exit_code(), Some(2));
        assert_eq!(
            failed.error(),
            Some(format!("exit 2 in round {n}").as_str())
        );
        assert_eq!(failed.finished_at(), at(i64::from(n) * 10 + 5));
    }
}

#[test]
fn a_failure_closes_the_attempt_as_failed() {
    let task = task_with(budgets(1, 0))
        .assign(worker("w1"), at(1))
        .build(at(2));
    let Retry::Requeued(task) = task.fail(137, "OOM killed", at(3)) else {
        panic!("one retry is allowed");
    };
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Failed);
    assert_eq!(attempt.exit_code(), Some(137));
    assert_eq!(attempt.error(), Some("OOM killed"));
    assert_eq!(attempt.finished_at(), Some(at(3)));
    assert!(!attempt.is_worker_failure());
}

// ----- preemptions -----

fn preempt_until_exhausted(
    policy: RetryPolicy,
    via_build: bool,
) -> (u32, Task<iris_task::WorkerFailed>) {
    until_exhausted(
        policy,
        |task, round| {
            let assigned = task.assign(worker("w1"), at(round * 10));
            if via_build {
                assigned
                    .build(at(round * 10 + 1))
                    .worker_failed("lost", at(round * 10 + 2))
            } else {
                assigned
                    .start(at(round * 10 + 1))
                    .worker_failed("lost", at(round * 10 + 2))
            }
        },
        Task::preemption_count,
    )
}

#[test]
fn preemption_budget_of_n_gives_n_requeues_then_worker_failed() {
    for n in 0..6 {
        for via_build in [false, true] {
            let (requeues, lost) = preempt_until_exhausted(budgets(0, n), via_build);
            assert_eq!(requeues, n);
            assert_eq!(lost.state(), StateKind::WorkerFailed);
            assert_eq!(lost.preemption_count(), n + 1);
            assert_eq!(lost.failure_count(), 0);
            assert_eq!(lost.exit_code(), None);
            assert_eq!(lost.error(), Some("lost"));
            assert!(lost.current_attempt().unwrap().is_preemption());
        }
    }
}

#[test]
fn the_default_preemption_budget_is_one_hundred() {
    let (requeues, _) = preempt_until_exhausted(RetryPolicy::default(), false);
    assert_eq!(requeues, 100);
}

#[test]
fn failures_and_preemptions_spend_separate_budgets() {
    let task = task_with(budgets(1, 1));
    let Retry::Requeued(task) = running(task, 0).worker_failed("lost", at(5)) else {
        panic!("one preemption is allowed");
    };
    let Retry::Requeued(task) = running(task, 10).fail(1, "exit 1", at(15)) else {
        panic!("one failure is allowed, whatever the preemptions");
    };
    assert_eq!((task.failure_count(), task.preemption_count()), (1, 1));
    assert!(
        !running(task.clone(), 20)
            .fail(1, "exit 1", at(25))
            .is_requeued()
    );
    assert!(
        !running(task, 20)
            .worker_failed("lost", at(25))
            .is_requeued()
    );
}

// ----- kill -----

#[test]
fn kill_while_pending_keeps_the_reason_on_the_task() {
    let task = task().kill("cancelled by user", at(4));
    assert_eq!(task.state(), StateKind::Killed);
    assert_eq!(task.finished_at(), at(4));
    assert_eq!(task.error(), Some("cancelled by user"));
    assert_eq!(task.exit_code(), None);
    assert!(task.attempts().is_empty());
}

#[test]
fn kill_after_a_requeue_reports_the_kill_not_the_old_failure() {
    let task = task_with(budgets(1, 0));
    let Retry::Requeued(task) = running(task, 0).fail(3, "exit 3", at(5)) else {
        panic!("one failure is allowed");
    };
    let task = task.kill("", at(9));
    assert_eq!(task.finished_at(), at(9));
    assert_eq!(task.error(), None);
    assert_eq!(task.exit_code(), None);
    // The old attempt is untouched.
    assert_eq!(task.current_attempt().unwrap().state(), StateKind::Failed);
    assert_eq!(task.current_attempt().unwrap().finished_at(), Some(at(5)));
}

fn assert_killed_on_worker(task: Task<iris_task::Killed>, killed_at: Timestamp) {
    assert_eq!(task.state(), StateKind::Killed);
    assert_eq!(task.finished_at(), killed_at);
    assert_eq!(task.error(), Some("cancelled"));
    assert_eq!(task.exit_code(), None);
    let attempt = task.current_attempt().unwrap();
    assert_eq!(attempt.state(), StateKind::Killed);
    assert_eq!(attempt.finished_at(), Some(killed_at));
    assert_eq!(attempt.error(), Some("cancelled"));
    assert_eq!((task.failure_count(), task.preemption_count()), (0, 0));
}

#[test]
fn kill_while_assigned_closes_the_attempt() {
    let task: Task<Assigned> = task().assign(worker("w1"), at(1));
    assert_killed_on_worker(task.kill("cancelled", at(2)), at(2));
}

#[test]
fn kill_while_building_closes_the_attempt() {
    let task: Task<Building> = task().assign(worker("w1"), at(1)).build(at(2));
    assert_killed_on_worker(task.kill("cancelled", at(3)), at(3));
}

#[test]
fn kill_while_running_closes_the_attempt() {
    assert_killed_on_worker(running(task(), 1).kill("cancelled", at(4)), at(4));
}

// ----- unschedulable -----

#[test]
fn unschedulable_keeps_its_reason() {
    let task = task().mark_unschedulable("no worker has 8 GPUs", at(60_000));
    assert_eq!(task.state(), StateKind::Unschedulable);
    assert_eq!(task.error(), Some("no worker has 8 GPUs"));
    assert_eq!(task.finished_at(), at(60_000));
    assert_eq!(task.exit_code(), None);
    assert!(task.attempts().is_empty());
}

// ----- cost -----

#[test]
fn state_markers_cost_nothing() {
    use std::mem::size_of;
    assert_eq!(size_of::<Pending>(), 0);
    assert_eq!(size_of::<Task<Pending>>(), size_of::<Task<Running>>());
    assert_eq!(size_of::<Task<Pending>>(), size_of::<Task<Assigned>>());
    assert_eq!(
        size_of::<Task<Pending>>(),
        size_of::<Task<iris_task::Succeeded>>()
    );
    assert_eq!(
        size_of::<Task<Pending>>(),
        size_of::<Task<iris_task::Unschedulable>>()
    );
    // The run-time form adds only its discriminant (which fits in the data's niche).
    assert!(size_of::<AnyTask>() <= size_of::<Task<Pending>>() + 8);
}

// ----- random walks through the typed API -----

/// One step a controller may take, whatever the state; `walk` maps it to a legal transition.
#[derive(Clone, Copy, Debug)]
enum Step {
    Assign,
    Build,
    Start,
    Succeed,
    Fail,
    WorkerFailed,
    Kill,
    Unschedulable,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Assign),
        1 => Just(Step::Build),
        2 => Just(Step::Start),
        1 => Just(Step::Succeed),
        2 => Just(Step::Fail),
        2 => Just(Step::WorkerFailed),
        1 => Just(Step::Kill),
        1 => Just(Step::Unschedulable),
    ]
}

/// Applies `step` to `task` through the typed transitions, if the state allows it.
fn walk(task: AnyTask, step: Step, t: Timestamp) -> AnyTask {
    match (task, step) {
        (AnyTask::Pending(task), Step::Assign) => task.assign(worker("w1"), t).into_any(),
        (AnyTask::Pending(task), Step::Kill) => task.kill("k", t).into_any(),
        (AnyTask::Pending(task), Step::Unschedulable) => task.mark_unschedulable("u", t).into_any(),
        (AnyTask::Assigned(task), Step::Build) => task.build(t).into_any(),
        (AnyTask::Assigned(task), Step::Start) => task.start(t).into_any(),
        (AnyTask::Assigned(task), Step::WorkerFailed) => task.worker_failed("d", t).into_any(),
        (AnyTask::Assigned(task), Step::Kill) => task.kill("k", t).into_any(),
        (AnyTask::Building(task), Step::Start) => task.start(t).into_any(),
        (AnyTask::Building(task), Step::Fail) => task.fail(1, "f", t).into_any(),
        (AnyTask::Building(task), Step::WorkerFailed) => task.worker_failed("p", t).into_any(),
        (AnyTask::Building(task), Step::Kill) => task.kill("k", t).into_any(),
        (AnyTask::Running(task), Step::Succeed) => task.succeed(t).into_any(),
        (AnyTask::Running(task), Step::Fail) => task.fail(1, "f", t).into_any(),
        (AnyTask::Running(task), Step::WorkerFailed) => task.worker_failed("p", t).into_any(),
        (AnyTask::Running(task), Step::Kill) => task.kill("k", t).into_any(),
        (task, _) => task,
    }
}

fn check_attempts(task: &AnyTask, policy: &RetryPolicy) {
    let attempts = task.attempts();
    for (index, attempt) in attempts.iter().enumerate() {
        assert_eq!(
            attempt.id().get() as usize,
            index,
            "attempt ids are 0, 1, 2, …"
        );
        let last = index + 1 == attempts.len();
        assert!(
            !attempt.is_open() || last,
            "only the last attempt may be open"
        );
        assert_eq!(attempt.is_open(), attempt.finished_at().is_none());
        // In typed code a task starts before it fails (through `AnyTask::apply`, a FAILED report
        // for an ASSIGNED task leaves its attempt unstarted, as Iris does).
        if attempt.is_preemption() || attempt.state() == StateKind::Failed {
            assert!(attempt.started_at().is_some());
        }
    }
    let open = attempts.last().is_some_and(Attempt::is_open);
    assert_eq!(
        open,
        task.state().is_active(),
        "active exactly while an attempt is open"
    );
    let failures = attempts
        .iter()
        .filter(|a| a.state() == StateKind::Failed)
        .count() as u32;
    let preemptions = attempts.iter().filter(|a| a.is_preemption()).count() as u32;
    assert_eq!(task.failure_count(), failures);
    assert_eq!(task.preemption_count(), preemptions);
    // A budget is spent only by ending the task in the matching state.
    assert!(failures <= policy.max_retries_failure + u32::from(task.state() == StateKind::Failed));
    assert!(
        preemptions
            <= policy.max_retries_preemption + u32::from(task.state() == StateKind::WorkerFailed)
    );
}

proptest! {
    #[test]
    fn every_walk_keeps_the_attempt_invariants(
        failure in 0u32..3,
        preemption in 0u32..3,
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let policy = budgets(failure, preemption);
        let mut task = task_with(policy).into_any();
        for (t, step) in steps.into_iter().enumerate() {
            let before = task.clone();
            task = walk(task, step, at(t as i64));
            check_attempts(&task, &policy);
            if before.state().is_terminal() {
                prop_assert_eq!(&task, &before, "terminal states absorb every step");
            }
            // A closed attempt never changes again.
            for (old, new) in before.attempts().iter().zip(task.attempts()) {
                if !old.is_open() {
                    prop_assert_eq!(old, new);
                }
            }
        }
    }
}

#[test]
fn typed_transitions_never_record_a_time_before_what_the_task_records() {
    // A worker clock behind the controller's: the typed API has no error to return, so each
    // change is stamped with the task's latest time instead.
    let started = task()
        .assign(WorkerId::new("w1").unwrap(), at(2_100))
        .start(at(1_500));
    assert_eq!(
        started.current_attempt().unwrap().started_at(),
        Some(at(2_100))
    );
    let done = started.succeed(at(1_400));
    assert_eq!(done.finished_at(), at(2_100));
    let pending = task()
        .assign(WorkerId::new("w1").unwrap(), at(50))
        .worker_failed("refused", at(60));
    let again = pending.assign(WorkerId::new("w2").unwrap(), at(10));
    assert_eq!(again.current_attempt().unwrap().assigned_at(), at(60));
    assert_eq!(again.latest_time(), Some(at(60)));
    let killed = again.kill("stop", at(0));
    assert_eq!(killed.finished_at(), at(60));
    // What the typed API builds, the decoder accepts.
    let any = killed.into_any();
    assert_eq!(
        AnyTask::decode(&any.encode_to_vec(), RetryPolicy::default()).unwrap(),
        any
    );
}
