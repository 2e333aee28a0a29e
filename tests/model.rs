//! Model-based property tests: random sequences of events, legal and illegal, with stale attempt
//! ids, wrong workers and clocks that go backwards mixed in, applied to the crate and to a small
//! reference model written here from DOMAIN.md's tables. After every step both must agree.
//!
//! At least 2,000 cases per property; more with `PROPTEST_CASES`.

use std::collections::VecDeque;

use iris_task::{
    AnyTask, AttemptId, JobId, RetryPolicy, StateCounts, StateKind, Task, TaskEvent, TaskId,
    TaskTable, Timestamp, TransitionError, WorkerId, WorkerReport,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: ProptestConfig::default().cases.max(2_000),
        ..ProptestConfig::default()
    }
}

const WORKERS: [&str; 3] = ["w0", "w1", "w2"];

/// In a generated report, "the named attempt's own worker".
const SAME_WORKER: usize = usize::MAX;

fn worker(index: usize) -> WorkerId {
    WorkerId::new(WORKERS[index % WORKERS.len()]).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The reference model: DOMAIN.md's tables, written out as plainly as possible.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct ModelAttempt {
    worker: usize,
    state: StateKind,
    assigned_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

#[derive(Clone, Debug)]
struct Model {
    state: StateKind,
    attempts: Vec<ModelAttempt>,
    /// When the task ended, if it did.
    ended_at: Option<i64>,
    policy: RetryPolicy,
}

/// An event in terms of small numbers, turned into a `TaskEvent` by `to_event`.
#[derive(Clone, Debug)]
enum Ev {
    Assign(usize),
    /// A report naming an attempt, from a worker: `SAME_WORKER` stands for the named attempt's own
    /// worker (see `Model::resolve`), so that most reports pass the worker check.
    Report(u32, usize, Rep),
    Lost(usize),
    Kill,
    Timeout,
}

#[derive(Clone, Copy, Debug)]
enum Rep {
    Building,
    Running,
    Succeeded,
    Failed,
    WorkerFailed,
}

impl Rep {
    fn state(self) -> StateKind {
        match self {
            Rep::Building => StateKind::Building,
            Rep::Running => StateKind::Running,
            Rep::Succeeded => StateKind::Succeeded,
            Rep::Failed => StateKind::Failed,
            Rep::WorkerFailed => StateKind::WorkerFailed,
        }
    }
}

fn to_event(ev: &Ev, t: i64) -> TaskEvent {
    let at = Timestamp::from_millis(t);
    match ev {
        Ev::Assign(w) => TaskEvent::Assign {
            worker: worker(*w),
            at,
        },
        Ev::Report(attempt, w, rep) => TaskEvent::Report {
            worker: worker(*w),
            attempt: AttemptId::new(*attempt),
            report: match rep {
                Rep::Building => WorkerReport::Building,
                Rep::Running => WorkerReport::Running,
                Rep::Succeeded => WorkerReport::Succeeded,
                Rep::Failed => WorkerReport::Failed {
                    exit_code: 1,
                    error: format!("exit at {t}"),
                },
                Rep::WorkerFailed => WorkerReport::WorkerFailed {
                    error: format!("lost at {t}"),
                },
            },
            at,
        },
        Ev::Lost(w) => TaskEvent::WorkerLost {
            worker: worker(*w),
            error: "lost".into(),
            at,
        },
        Ev::Kill => TaskEvent::Kill {
            reason: "cancelled".into(),
            at,
        },
        Ev::Timeout => TaskEvent::SchedulingTimeout { at },
    }
}

/// What the model decides for an event.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Decision {
    Changed,
    Duplicate,
    Illegal,
    Stale,
    WrongWorker,
    Regression,
    TimeWentBackwards,
}

fn decision_of(result: &Result<iris_task::Transition, TransitionError>) -> Decision {
    match result {
        Ok(step) if step.from == step.to => Decision::Duplicate,
        Ok(_) => Decision::Changed,
        Err(TransitionError::Illegal { .. }) => Decision::Illegal,
        Err(TransitionError::StaleAttempt { .. }) => Decision::Stale,
        Err(TransitionError::WrongWorker { .. }) => Decision::WrongWorker,
        Err(TransitionError::Regression { .. }) => Decision::Regression,
        Err(TransitionError::TimeWentBackwards { .. }) => Decision::TimeWentBackwards,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

impl Model {
    fn new(policy: RetryPolicy) -> Model {
        Model {
            state: StateKind::Pending,
            attempts: Vec::new(),
            ended_at: None,
            policy,
        }
    }

    /// The latest time the task records.
    fn latest(&self) -> Option<i64> {
        let attempt = self
            .attempts
            .last()
            .map(|a| a.finished_at.or(a.started_at).unwrap_or(a.assigned_at));
        attempt.max(self.ended_at)
    }

    /// Replaces `SAME_WORKER` in a report by the named attempt's worker (w0 if there is none).
    fn resolve(&self, ev: &Ev) -> Ev {
        match ev {
            Ev::Report(attempt, SAME_WORKER, rep) => {
                let w = self.attempts.get(*attempt as usize).map_or(0, |a| a.worker);
                Ev::Report(*attempt, w, *rep)
            }
            other => other.clone(),
        }
    }

    fn failures(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.state == StateKind::Failed)
            .count() as u32
    }

    fn preemptions(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.state == StateKind::WorkerFailed && a.started_at.is_some())
            .count() as u32
    }

    fn worker(&self) -> Option<usize> {
        self.attempts
            .last()
            .filter(|_| self.state.is_active())
            .map(|a| a.worker)
    }

    /// Closes the open attempt as `end` at `t`, starting it first if `start`, and decides the
    /// task's state from the budgets.
    fn close(&mut self, end: StateKind, start: bool, t: i64) {
        let last = self.attempts.last_mut().unwrap();
        last.state = end;
        if start {
            last.started_at.get_or_insert(t);
        }
        let started = last.started_at.is_some();
        last.finished_at = Some(t);
        self.state = match end {
            StateKind::Failed if self.failures() <= self.policy.max_retries_failure => {
                StateKind::Pending
            }
            StateKind::WorkerFailed if !started => StateKind::Pending,
            StateKind::WorkerFailed if self.preemptions() <= self.policy.max_retries_preemption => {
                StateKind::Pending
            }
            other => other,
        };
        if self.state.is_terminal() {
            self.ended_at = Some(t);
        }
    }

    fn apply(&mut self, ev: &Ev, t: i64) -> Decision {
        use StateKind as S;
        // 1. stale attempt
        if let Ev::Report(attempt, w, rep) = ev {
            if self.attempts.len() != *attempt as usize + 1 {
                return Decision::Stale;
            }
            let last = self.attempts.last().unwrap();
            // 2. wrong worker
            if last.worker != *w {
                return Decision::WrongWorker;
            }
            // 3. duplicate
            if last.state == rep.state() {
                return Decision::Duplicate;
            }
            // 4. any other report about a closed attempt
            if !last.state.is_active() {
                return Decision::Stale;
            }
        }
        // 2. wrong worker
        if let Ev::Lost(w) = ev {
            if self
                .worker()
                .is_some_and(|current| current != w % WORKERS.len())
            {
                return Decision::WrongWorker;
            }
        }
        // 5. the events table
        let active = self.state.is_active();
        let legal = match (self.state, ev) {
            (S::Pending, Ev::Assign(_) | Ev::Kill | Ev::Timeout) => true,
            (S::Running, Ev::Report(_, _, Rep::Building)) => return Decision::Regression,
            (_, Ev::Report(..) | Ev::Lost(_) | Ev::Kill) => active,
            _ => false,
        };
        if !legal {
            return Decision::Illegal;
        }
        // 6. time never goes backwards
        if self.latest().is_some_and(|latest| t < latest) {
            return Decision::TimeWentBackwards;
        }
        let executing = matches!(self.state, S::Building | S::Running);
        match (self.state, ev) {
            (S::Pending, Ev::Assign(w)) => {
                self.attempts.push(ModelAttempt {
                    worker: w % WORKERS.len(),
                    state: S::Assigned,
                    assigned_at: t,
                    started_at: None,
                    finished_at: None,
                });
                self.state = S::Assigned;
            }
            (S::Pending, Ev::Kill) => {
                self.state = S::Killed;
                self.ended_at = Some(t);
            }
            (S::Pending, Ev::Timeout) => {
                self.state = S::Unschedulable;
                self.ended_at = Some(t);
            }
            (_, Ev::Report(_, _, rep @ (Rep::Building | Rep::Running))) => {
                self.state = rep.state();
                let last = self.attempts.last_mut().unwrap();
                last.state = rep.state();
                last.started_at.get_or_insert(t);
            }
            (_, Ev::Report(_, _, Rep::Succeeded)) => self.close(S::Succeeded, true, t),
            (_, Ev::Report(_, _, Rep::Failed)) => self.close(S::Failed, true, t),
            (_, Ev::Report(_, _, Rep::WorkerFailed) | Ev::Lost(_)) => {
                self.close(S::WorkerFailed, executing, t)
            }
            (_, Ev::Kill) => self.close(S::Killed, false, t),
            _ => unreachable!("judged legal above"),
        }
        Decision::Changed
    }
}

fn event() -> impl Strategy<Value = Ev> {
    let rep = prop_oneof![
        Just(Rep::Building),
        Just(Rep::Running),
        Just(Rep::Succeeded),
        Just(Rep::Failed),
        Just(Rep::WorkerFailed),
    ];
    prop_oneof![
        3 => (0..3usize).prop_map(Ev::Assign),
        // Attempt ids 0..4: mostly current or stale, sometimes from the future.
        // Workers: mostly the attempt's own, sometimes another.
        6 => (0..4u32, prop_oneof![3 => Just(SAME_WORKER), 1 => 0..3usize], rep)
            .prop_map(|(attempt, w, rep)| Ev::Report(attempt, w, rep)),
        2 => (0..3usize).prop_map(Ev::Lost),
        1 => Just(Ev::Kill),
        1 => Just(Ev::Timeout),
    ]
}

/// Checks the crate's task against the model and against the attempt invariants.
fn check_task(task: &AnyTask, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(task.state(), model.state);
    prop_assert_eq!(task.failure_count(), model.failures());
    prop_assert_eq!(task.preemption_count(), model.preemptions());
    prop_assert_eq!(task.attempts().len(), model.attempts.len());
    for (index, (attempt, expected)) in task.attempts().iter().zip(&model.attempts).enumerate() {
        prop_assert_eq!(
            attempt.id(),
            AttemptId::new(index as u32),
            "ids are 0, 1, 2, …"
        );
        prop_assert_eq!(attempt.state(), expected.state);
        prop_assert_eq!(attempt.worker(), &worker(expected.worker));
        prop_assert_eq!(attempt.assigned_at().as_millis(), expected.assigned_at);
        prop_assert_eq!(
            attempt.started_at().map(|t| t.as_millis()),
            expected.started_at
        );
        prop_assert_eq!(
            attempt.finished_at().map(|t| t.as_millis()),
            expected.finished_at
        );
        let last = index + 1 == task.attempts().len();
        prop_assert!(
            !attempt.is_open() || last,
            "only the last attempt may be open"
        );
        prop_assert_eq!(
            attempt.finished_at().is_some(),
            !attempt.is_open(),
            "closed ⇔ finished"
        );
    }
    let open = task.current_attempt().is_some_and(|a| a.is_open());
    prop_assert_eq!(open, task.state().is_active());
    prop_assert_eq!(task.latest_time().map(|t| t.as_millis()), model.latest());
    // The task can be saved and loaded: its own decoder accepts it.
    prop_assert_eq!(
        &AnyTask::decode(&task.encode_to_vec(), *task.policy()).unwrap(),
        task
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_task_agrees_with_the_model(
        failure in 0u32..3,
        preemption in 0u32..3,
        events in proptest::collection::vec((event(), 0..3i64), 1..40),
    ) {
        let policy = RetryPolicy { max_retries_failure: failure, max_retries_preemption: preemption };
        let mut task = Task::new("job/task-0".parse().unwrap(), policy).into_any();
        let mut model = Model::new(policy);
        for (step, (ev, back)) in events.iter().enumerate() {
            // A clock that sometimes goes back a few steps.
            let t = step as i64 - back;
            let ev = &model.resolve(ev);
            let before = task.clone();
            let result = task.apply(to_event(ev, t));
            let expected = model.apply(ev, t);
            prop_assert_eq!(decision_of(&result), expected, "{:?} on {:?}", ev, before.state());
            if let Ok(step) = &result {
                prop_assert_eq!(step.from, before.state());
                prop_assert_eq!(step.to, task.state());
            }
            if !matches!(expected, Decision::Changed) {
                prop_assert_eq!(&task, &before, "a rejected or duplicate event changed the task");
            }
            if before.state().is_terminal() && expected != Decision::Duplicate {
                prop_assert!(result.is_err(), "terminal states absorb every event");
            }
            check_task(&task, &model)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table: several tasks and workers, the same model per task, plus the views.
// ---------------------------------------------------------------------------------------------

const TASKS: [&str; 4] = ["a/task-0", "a/task-1", "b/task-0", "b/task-1"];

fn tid(index: usize) -> TaskId {
    TASKS[index % TASKS.len()].parse().unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    /// `TaskTable::assign`, at a time up to a few steps back: clocks are not always monotone.
    Assign(usize, usize, i64),
    /// `TaskTable::apply` of an event to a task.
    Apply(usize, Ev),
    /// `TaskTable::worker_lost`.
    WorkerLost(usize),
    /// `TaskTable::expire_assigned` with a `max_wait` of this many milliseconds.
    Expire(i64),
    /// `TaskTable::schedule`: the pick gives task `i` worker `workers[i]`, or leaves it pending.
    Schedule([Option<usize>; 4]),
    /// `TaskTable::kill_job` of job "a" (false) or "b" (true).
    KillJob(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..3usize, 0..3i64).prop_map(|(task, w, back)| Op::Assign(task, w, back)),
        8 => (0..4usize, event()).prop_map(|(task, ev)| Op::Apply(task, ev)),
        1 => (0..3usize).prop_map(Op::WorkerLost),
        1 => (0..6i64).prop_map(Op::Expire),
        2 => proptest::array::uniform4(proptest::option::of(0..3usize)).prop_map(Op::Schedule),
        1 => any::<bool>().prop_map(Op::KillJob),
    ]
}

struct TableModel {
    tasks: Vec<Model>,
    pending: VecDeque<usize>,
}

impl TableModel {
    /// Applies `ev` to task `index` and keeps the FIFO: a task that becomes pending joins the back.
    fn apply(&mut self, index: usize, ev: &Ev, t: i64) -> Decision {
        let before = self.tasks[index].state;
        let decision = self.tasks[index].apply(ev, t);
        let after = self.tasks[index].state;
        if decision == Decision::Changed {
            if before == StateKind::Pending {
                self.pending.retain(|&i| i != index);
            }
            if after == StateKind::Pending {
                self.pending.push_back(index);
            }
        }
        decision
    }

    /// Active tasks matching `pick`, oldest assignment first, ties by task id.
    fn in_assignment_order(&self, pick: impl Fn(&Model) -> bool) -> Vec<usize> {
        let mut picked: Vec<usize> = (0..TASKS.len()).filter(|&i| pick(&self.tasks[i])).collect();
        picked.sort_by_key(|&i| (self.tasks[i].attempts.last().unwrap().assigned_at, tid(i)));
        picked
    }
}

fn tid_of(name: &str) -> TaskId {
    name.parse().unwrap()
}

/// A call's `Changes` equal the diff of the table's states before and after it: every task whose
/// state moved, with its first and last state, and no other.
fn check_changes(
    changes: &iris_task::Changes,
    before: &[StateKind],
    model: &TableModel,
) -> Result<(), TestCaseError> {
    for (i, &was) in before.iter().enumerate() {
        let now = model.tasks[i].state;
        match changes.get(&tid(i)) {
            Some(step) => prop_assert_eq!((step.from, step.to), (was, now)),
            None => prop_assert_eq!(was, now, "task {} changed but is not in the changes", i),
        }
    }
    Ok(())
}

fn check_table(table: &TaskTable, model: &TableModel) -> Result<(), TestCaseError> {
    for (index, task_model) in model.tasks.iter().enumerate() {
        check_task(table.get(&tid(index)).unwrap(), task_model)?;
    }
    let recount: StateCounts = table.iter().map(AnyTask::state).collect();
    prop_assert_eq!(table.counts(), &recount, "counts equal a recount");
    for job in ["a", "b"] {
        let job_id = JobId::new(job).unwrap();
        let recount: StateCounts = table
            .iter()
            .filter(|t| t.id().job() == &job_id)
            .map(AnyTask::state)
            .collect();
        prop_assert_eq!(table.job_counts(&job_id), Some(&recount));
    }
    let pending: Vec<TaskId> = table.pending().map(|t| t.id().clone()).collect();
    let expected: Vec<TaskId> = model.pending.iter().map(|&i| tid(i)).collect();
    prop_assert_eq!(
        pending,
        expected,
        "pending() is the pending tasks in FIFO order"
    );
    for w in 0..WORKERS.len() {
        let mut on: Vec<TaskId> = table.tasks_on(&worker(w)).cloned().collect();
        on.sort();
        let mut expected: Vec<TaskId> = (0..TASKS.len())
            .filter(|&i| model.tasks[i].worker() == Some(w))
            .map(tid)
            .collect();
        expected.sort();
        prop_assert_eq!(
            table.worker_load(&worker(w)),
            expected.len(),
            "worker_load counts them"
        );
        prop_assert_eq!(on, expected, "tasks_on is the active tasks on the worker");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn task_table_agrees_with_the_model(
        failure in 0u32..2,
        preemption in 0u32..2,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let policy = RetryPolicy { max_retries_failure: failure, max_retries_preemption: preemption };
        let mut table = TaskTable::new();
        let mut model = TableModel { tasks: Vec::new(), pending: VecDeque::new() };
        for index in 0..TASKS.len() {
            table.insert(Task::new(tid(index), policy)).unwrap();
            model.tasks.push(Model::new(policy));
            model.pending.push_back(index);
        }
        for (step, op) in ops.iter().enumerate() {
            // Coarse time, so that assignments tie and the tie-break is exercised.
            let t = step as i64 / 3;
            match op {
                Op::Assign(task, w, back) => {
                    let t = t - back;
                    let was_pending = model.tasks[*task].state == StateKind::Pending;
                    let result = table.assign(&tid(*task), worker(*w), Timestamp::from_millis(t));
                    if was_pending {
                        let expected = model.apply(*task, &Ev::Assign(*w), t);
                        prop_assert_eq!(result.is_ok(), expected == Decision::Changed);
                        if let Err(err) = result {
                            let backwards = matches!(
                                err,
                                iris_task::TableError::Transition(TransitionError::TimeWentBackwards { .. })
                            );
                            prop_assert!(backwards, "{}", err);
                        }
                    } else {
                        prop_assert!(result.is_err());
                    }
                }
                Op::Apply(task, ev) => {
                    let ev = &model.tasks[*task].resolve(ev);
                    let result = table.apply(&tid(*task), to_event(ev, t));
                    let expected = model.apply(*task, ev, t);
                    let decision = match result {
                        Ok(step) if step.from == step.to => Decision::Duplicate,
                        Ok(_) => Decision::Changed,
                        Err(iris_task::TableError::Transition(err)) => decision_of(&Err(err)),
                        Err(other) => panic!("unexpected {other:?}"),
                    };
                    prop_assert_eq!(decision, expected);
                }
                Op::WorkerLost(w) => {
                    let expected: Vec<TaskId> = model
                        .in_assignment_order(|m| m.worker() == Some(*w))
                        .into_iter()
                        .map(|i| {
                            let at = model.tasks[i].latest().map_or(t, |latest| t.max(latest));
                            prop_assert_eq!(model.apply(i, &Ev::Lost(*w), at), Decision::Changed);
                            Ok(tid(i))
                        })
                        .collect::<Result<_, TestCaseError>>()?;
                    let changed = table.worker_lost(&worker(*w), "lost", Timestamp::from_millis(t));
                    let changed: Vec<TaskId> = changed.into_iter().map(|(id, _)| id).collect();
                    prop_assert_eq!(changed, expected);
                }
                Op::Expire(max_wait) => {
                    let expected: Vec<TaskId> = model
                        .in_assignment_order(|m| {
                            m.state == StateKind::Assigned
                                && t - m.attempts.last().unwrap().assigned_at > *max_wait
                        })
                        .into_iter()
                        .map(|i| {
                            let w = model.tasks[i].worker().unwrap();
                            let at = model.tasks[i].latest().map_or(t, |latest| t.max(latest));
                            prop_assert_eq!(model.apply(i, &Ev::Lost(w), at), Decision::Changed);
                            Ok(tid(i))
                        })
                        .collect::<Result<_, TestCaseError>>()?;
                    let expired = table.expire_assigned(
                        Timestamp::from_millis(t),
                        std::time::Duration::from_millis(*max_wait as u64),
                    );
                    prop_assert_eq!(expired, expected);
                }
                Op::Schedule(picks) => {
                    let before: Vec<StateKind> = model.tasks.iter().map(|m| m.state).collect();
                    // The model: pending tasks in FIFO order, each the pick names a worker for.
                    let mut expected = Vec::new();
                    for i in model.pending.clone() {
                        if let Some(w) = picks[i] {
                            let at = model.tasks[i].latest().map_or(t, |latest| t.max(latest));
                            prop_assert_eq!(model.apply(i, &Ev::Assign(w), at), Decision::Changed);
                            expected.push(tid(i));
                        }
                    }
                    let changes = table.schedule(Timestamp::from_millis(t), |task| {
                        let i = TASKS.iter().position(|name| task.id() == &tid_of(name))?;
                        picks[i].map(worker)
                    });
                    let ids: Vec<TaskId> = changes.iter().map(|(id, _)| id.clone()).collect();
                    prop_assert_eq!(ids, expected);
                    check_changes(&changes, &before, &model)?;
                }
                Op::KillJob(second) => {
                    let job = if *second { "b" } else { "a" };
                    let before: Vec<StateKind> = model.tasks.iter().map(|m| m.state).collect();
                    // Task indices of a job, in index order: TASKS lists each job's in order.
                    let mut expected = Vec::new();
                    for i in 0..TASKS.len() {
                        if tid(i).job().as_str() == job && !model.tasks[i].state.is_terminal() {
                            let at = model.tasks[i].latest().map_or(t, |latest| t.max(latest));
                            prop_assert_eq!(model.apply(i, &Ev::Kill, at), Decision::Changed);
                            expected.push(tid(i));
                        }
                    }
                    let changes = table.kill_job(
                        &JobId::new(job).unwrap(),
                        "cancelled",
                        Timestamp::from_millis(t),
                    );
                    let ids: Vec<TaskId> = changes.iter().map(|(id, _)| id.clone()).collect();
                    prop_assert_eq!(ids, expected);
                    check_changes(&changes, &before, &model)?;
                }
            }
            check_table(&table, &model)?;
        }
    }
}
