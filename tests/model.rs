//! Model-based property tests: random sequences of events, legal and illegal, with stale attempt
//! ids, wrong workers and clocks that go backwards mixed in, applied to the crate and to a small
//! reference model written here from the rules (the crate guide's "The rules": the events table,
//! the judging order, who pays, gangs, jobs that end). After every step both must agree.
//!
//! At least 2,000 cases per property; more with `PROPTEST_CASES`. The table's model runs a
//! coscheduled job beside an ordinary one, and `planted_bugs_are_caught` shows that the
//! comparison catches a model that charges a gang sibling, skips the job-end kills, queues a
//! gang's siblings before the task that requeued them, counts FAILED tasks rather than attempts
//! against `max_task_failures` (0.2's rule), or judges an ended job again: a crate with the same
//! bug would differ from the correct model in the same observable way.

use std::collections::VecDeque;

use iris_task::{
    AnyTask, AttemptId, JobId, JobPolicy, JobState, RetryPolicy, StateCounts, StateKind, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, TransitionError, WorkerId, WorkerReport,
};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

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
    /// A KILLED the worker reported unasked.
    killed_on_worker: bool,
}

impl ModelAttempt {
    /// "Who pays": WORKER_FAILED (MISSING included), PREEMPTED, KILLED on the worker.
    fn worker_side(&self) -> bool {
        match self.state {
            StateKind::WorkerFailed | StateKind::Preempted => true,
            StateKind::Killed => self.killed_on_worker,
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
struct Model {
    state: StateKind,
    attempts: Vec<ModelAttempt>,
    /// When the task ended, if it did.
    ended_at: Option<i64>,
    policy: RetryPolicy,
    /// A planted bug: COSCHED_FAILED attempts that had started count as preemptions.
    charge_siblings: bool,
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
    Preempt,
    /// A gang sibling (named by its index in `TASKS`) ended for good, or was requeued.
    SiblingFailed(usize),
    SiblingRequeued(usize),
    /// The executing task ran out of time.
    ExecutionTimeout,
}

#[derive(Clone, Copy, Debug)]
enum Rep {
    Building,
    Running,
    Succeeded,
    Failed,
    WorkerFailed,
    Preempted,
    Killed,
    Missing,
}

impl Rep {
    /// The state the report announces for the attempt (MISSING: the WORKER_FAILED it records).
    fn state(self) -> StateKind {
        match self {
            Rep::Building => StateKind::Building,
            Rep::Running => StateKind::Running,
            Rep::Succeeded => StateKind::Succeeded,
            Rep::Failed => StateKind::Failed,
            Rep::WorkerFailed | Rep::Missing => StateKind::WorkerFailed,
            Rep::Preempted => StateKind::Preempted,
            Rep::Killed => StateKind::Killed,
        }
    }

    /// Rule 3: the report repeats what the current attempt records.
    fn repeats(self, last: &ModelAttempt) -> bool {
        if last.state.is_active() {
            return matches!(self, Rep::Building | Rep::Running) && self.state() == last.state;
        }
        match self {
            Rep::Building | Rep::Running => false,
            Rep::Missing => true,
            Rep::Killed => matches!(
                last.state,
                StateKind::Killed | StateKind::Preempted | StateKind::CoschedFailed
            ),
            Rep::Succeeded | Rep::Failed | Rep::WorkerFailed | Rep::Preempted => {
                self.state() == last.state
            }
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
                Rep::Preempted => WorkerReport::Preempted {
                    error: format!("evicted at {t}"),
                },
                Rep::Killed => WorkerReport::Killed {
                    error: format!("OOM at {t}"),
                },
                Rep::Missing => WorkerReport::Missing,
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
        Ev::Preempt => TaskEvent::Preempt {
            reason: "priority".into(),
            at,
        },
        Ev::SiblingFailed(sibling) => TaskEvent::SiblingFailed {
            sibling: tid(*sibling),
            at,
        },
        Ev::SiblingRequeued(sibling) => TaskEvent::SiblingRequeued {
            sibling: tid(*sibling),
            at,
        },
        Ev::ExecutionTimeout => TaskEvent::ExecutionTimeout { at },
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
            charge_siblings: false,
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
            .filter(|a| {
                let charged = a.worker_side()
                    || (self.charge_siblings && a.state == StateKind::CoschedFailed);
                charged && a.started_at.is_some()
            })
            .count() as u32
    }

    fn worker(&self) -> Option<usize> {
        self.attempts
            .last()
            .filter(|_| self.state.is_active())
            .map(|a| a.worker)
    }

    /// Closes the open attempt as `end` at `t` (a start is recorded only by a BUILDING or RUNNING
    /// report: an end reported straight from ASSIGNED leaves the attempt unstarted, as in Iris),
    /// and decides the task's state from the budgets: FAILED on the failure budget; worker-side endings free
    /// before the start, on the preemption budget after (ending PREEMPTED for a preemption,
    /// WORKER_FAILED otherwise); a controller's KILLED and a sibling's stop end or requeue it
    /// as `end` says.
    fn close(&mut self, end: StateKind, killed_on_worker: bool, t: i64) {
        let last = self.attempts.last_mut().unwrap();
        last.state = end;
        last.killed_on_worker = killed_on_worker;
        let started = last.started_at.is_some();
        let worker_side = last.worker_side();
        last.finished_at = Some(t);
        self.state = if end == StateKind::Failed {
            if self.failures() <= self.policy.max_retries_failure {
                StateKind::Pending
            } else {
                StateKind::Failed
            }
        } else if worker_side {
            if !started || self.preemptions() <= self.policy.max_retries_preemption {
                StateKind::Pending
            } else if end == StateKind::Preempted {
                StateKind::Preempted
            } else {
                StateKind::WorkerFailed
            }
        } else {
            end
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
            if rep.repeats(last) {
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
            // Only an executing task can time out: an ASSIGNED one has not started.
            (S::Building | S::Running, Ev::ExecutionTimeout) => true,
            (
                _,
                Ev::Report(..)
                | Ev::Lost(_)
                | Ev::Kill
                | Ev::Preempt
                | Ev::SiblingFailed(_)
                | Ev::SiblingRequeued(_),
            ) => active,
            _ => false,
        };
        if !legal {
            return Decision::Illegal;
        }
        // 6. time never goes backwards
        if self.latest().is_some_and(|latest| t < latest) {
            return Decision::TimeWentBackwards;
        }
        match (self.state, ev) {
            (S::Pending, Ev::Assign(w)) => {
                self.attempts.push(ModelAttempt {
                    worker: w % WORKERS.len(),
                    state: S::Assigned,
                    assigned_at: t,
                    started_at: None,
                    finished_at: None,
                    killed_on_worker: false,
                });
                self.state = S::Assigned;
            }
            (S::Pending, Ev::Kill | Ev::Timeout) => {
                self.state = match ev {
                    Ev::Kill => S::Killed,
                    _ => S::Unschedulable,
                };
                self.ended_at = Some(t);
            }
            // FAILED with no retry, whatever the failure budget says.
            (_, Ev::ExecutionTimeout) => {
                self.close(S::Failed, false, t);
                self.state = S::Failed;
                self.ended_at = Some(t);
            }
            (_, Ev::Report(_, _, rep @ (Rep::Building | Rep::Running))) => {
                self.state = rep.state();
                let last = self.attempts.last_mut().unwrap();
                last.state = rep.state();
                last.started_at.get_or_insert(t);
            }
            (_, Ev::Report(_, _, Rep::Succeeded)) => self.close(S::Succeeded, false, t),
            (_, Ev::Report(_, _, Rep::Failed)) => self.close(S::Failed, false, t),
            (_, Ev::Report(_, _, Rep::WorkerFailed | Rep::Missing) | Ev::Lost(_)) => {
                self.close(S::WorkerFailed, false, t)
            }
            (_, Ev::Report(_, _, Rep::Preempted) | Ev::Preempt) => {
                self.close(S::Preempted, false, t)
            }
            (_, Ev::Report(_, _, Rep::Killed)) => self.close(S::Killed, true, t),
            (_, Ev::Kill) => self.close(S::Killed, false, t),
            (_, Ev::SiblingFailed(_)) => self.close(S::CoschedFailed, false, t),
            (_, Ev::SiblingRequeued(_)) => {
                self.close(S::CoschedFailed, false, t);
                self.state = S::Pending;
            }
            _ => unreachable!("judged legal above"),
        }
        Decision::Changed
    }
}

fn event() -> impl Strategy<Value = Ev> {
    let rep = prop_oneof![
        2 => Just(Rep::Building),
        3 => Just(Rep::Running),
        3 => Just(Rep::Succeeded),
        2 => Just(Rep::Failed),
        1 => Just(Rep::WorkerFailed),
        1 => Just(Rep::Preempted),
        1 => Just(Rep::Killed),
        1 => Just(Rep::Missing),
    ];
    prop_oneof![
        3 => (0..3usize).prop_map(Ev::Assign),
        // Attempt ids 0..4: mostly current or stale, sometimes from the future.
        // Workers: mostly the attempt's own, sometimes another.
        7 => (0..4u32, prop_oneof![3 => Just(SAME_WORKER), 1 => 0..3usize], rep)
            .prop_map(|(attempt, w, rep)| Ev::Report(attempt, w, rep)),
        2 => (0..3usize).prop_map(Ev::Lost),
        1 => Just(Ev::Kill),
        1 => Just(Ev::Timeout),
        1 => Just(Ev::Preempt),
        1 => (0..TASKS.len()).prop_map(Ev::SiblingFailed),
        1 => (0..TASKS.len()).prop_map(Ev::SiblingRequeued),
        1 => Just(Ev::ExecutionTimeout),
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
        prop_assert_eq!(attempt.is_worker_failure(), expected.worker_side());
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
// The table: several tasks, workers and two jobs, the same model per task, plus the views, the
// gang rule and the job-end rule.
// ---------------------------------------------------------------------------------------------

/// Job "a" has two tasks, job "b" (coscheduled in most cases) three.
const TASKS: [&str; 5] = ["a/task-0", "a/task-1", "b/task-0", "b/task-1", "b/task-2"];
const JOBS: [&str; 2] = ["a", "b"];

fn tid(index: usize) -> TaskId {
    TASKS[index % TASKS.len()].parse().unwrap()
}

fn job_of(index: usize) -> usize {
    usize::from(TASKS[index % TASKS.len()].starts_with('b'))
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
    Schedule([Option<usize>; 5]),
    /// `TaskTable::kill_job` of job "a" (false) or "b" (true).
    KillJob(bool),
    /// `TaskTable::set_job_policy` of job "a" (false) or "b" (true), in the middle of a run.
    SetPolicy(bool, JobPolicy),
    /// `TaskTable::remove_job` of job "a" (false) or "b" (true); if it succeeds, the job's tasks
    /// are inserted again, new, as the next generation of the job (with its policy set again).
    RemoveJob(bool),
}

fn job_policy() -> impl Strategy<Value = JobPolicy> {
    (0..3u32, any::<bool>()).prop_map(|(max_task_failures, coscheduled)| JobPolicy {
        max_task_failures,
        coscheduled,
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..TASKS.len(), 0..3usize, 0..3i64).prop_map(|(task, w, back)| Op::Assign(task, w, back)),
        9 => (0..TASKS.len(), event()).prop_map(|(task, ev)| Op::Apply(task, ev)),
        1 => (0..3usize).prop_map(Op::WorkerLost),
        1 => (0..6i64).prop_map(Op::Expire),
        3 => proptest::array::uniform5(proptest::option::of(0..3usize)).prop_map(Op::Schedule),
        1 => any::<bool>().prop_map(Op::KillJob),
        1 => (any::<bool>(), job_policy()).prop_map(|(second, policy)| Op::SetPolicy(second, policy)),
        1 => any::<bool>().prop_map(Op::RemoveJob),
    ]
}

/// A planted bug in the model, for `planted_bugs_are_caught`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bug {
    None,
    /// A gang sibling's COSCHED_FAILED attempt is charged to the preemption budget.
    ChargeSibling,
    /// A job that ends does not stop its other tasks.
    NoJobEndKill,
    /// Requeued siblings join the pending queue before the task that requeued them.
    SiblingsFirst,
    /// `max_task_failures` counts FAILED tasks, not FAILED attempts (0.2's rule).
    CountFailedTasks,
    /// A job's ended state is judged again after later changes, not kept.
    EndedNotFinal,
}

struct TableModel {
    tasks: Vec<Model>,
    pending: VecDeque<usize>,
    /// Each job's policy, once the table is told it.
    policies: [Option<JobPolicy>; 2],
    /// Each job's state as kept: judged after every change to its tasks, final once ended.
    states: [JobState; 2],
    bug: Bug,
}

/// A call's changes as the model records them: (task, state before, state after), in the order
/// the call first changed each task.
type ModelChanges = Vec<(usize, StateKind, StateKind)>;

/// A call's job changes: (job, state before, state after), in the order each first changed.
type JobChanges = Vec<(usize, JobState, JobState)>;

fn record_job(changes: &mut JobChanges, job: usize, from: JobState, to: JobState) {
    match changes.iter_mut().find(|(j, _, _)| *j == job) {
        Some(known) => known.2 = to,
        None => changes.push((job, from, to)),
    }
}

fn record(changes: &mut ModelChanges, index: usize, from: StateKind, to: StateKind) {
    match changes.iter_mut().find(|(i, _, _)| *i == index) {
        Some(known) => known.2 = to,
        None => changes.push((index, from, to)),
    }
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

    /// `t`, or the task's latest time if that is later.
    fn not_before(&self, index: usize, t: i64) -> i64 {
        self.tasks[index].latest().map_or(t, |latest| t.max(latest))
    }

    /// The job's tasks, in index order.
    fn members(job: usize) -> impl Iterator<Item = usize> {
        (0..TASKS.len()).filter(move |&i| job_of(i) == job)
    }

    /// The job's state as Iris judges it after a change (its `recompute_state`, in order), from
    /// the model's tasks: final once ended.
    fn judge(&self, job: usize) -> JobState {
        use StateKind as S;
        let current = self.states[job];
        let states: Vec<StateKind> = Self::members(job).map(|i| self.tasks[i].state).collect();
        if (current.is_terminal() && self.bug != Bug::EndedNotFinal) || states.is_empty() {
            return current;
        }
        let count = |s: StateKind| states.iter().filter(|&&x| x == s).count();
        let limit = self.policies[job].unwrap_or_default().max_task_failures;
        // Every FAILED attempt of the job's tasks, retried ones included.
        let failures: u32 = if self.bug == Bug::CountFailedTasks {
            count(S::Failed) as u32
        } else {
            Self::members(job).map(|i| self.tasks[i].failures()).sum()
        };
        let started = Self::members(job).any(|i| !self.tasks[i].attempts.is_empty());
        let all_ended = states.iter().all(|s| s.is_terminal());
        if count(S::Succeeded) == states.len() {
            JobState::Succeeded
        } else if failures > limit {
            JobState::Failed
        } else if count(S::Unschedulable) > 0 {
            JobState::Unschedulable
        } else if count(S::Killed) > 0 {
            JobState::Killed
        } else if all_ended
            && count(S::WorkerFailed) + count(S::Preempted) + count(S::CoschedFailed) > 0
        {
            JobState::WorkerFailed
        } else if all_ended {
            JobState::Failed
        } else if started || states.iter().any(|s| s.is_active()) {
            JobState::Running
        } else {
            JobState::Pending
        }
    }

    /// Judges the job again and records its change.
    /// An assignment's one effect on its job: PENDING turns RUNNING, nothing else is judged.
    fn mark_running(&mut self, job: usize, jobs: &mut JobChanges) {
        if self.states[job] == JobState::Pending {
            self.states[job] = JobState::Running;
            record_job(jobs, job, JobState::Pending, JobState::Running);
        }
    }

    fn settle(&mut self, job: usize, jobs: &mut JobChanges) {
        let (from, to) = (self.states[job], self.judge(job));
        if from != to {
            self.states[job] = to;
            record_job(jobs, job, from, to);
        }
    }

    /// An event the caller passed to task `index` at time `t`, with its job's rules: the gang
    /// cascade, then the job-end kills, stamped with the call's time `call` (or each task's
    /// latest time, if later). Records what changed in `changes`.
    fn apply_with_rules(
        &mut self,
        index: usize,
        ev: &Ev,
        t: i64,
        call: i64,
        changes: &mut ModelChanges,
        jobs: &mut JobChanges,
    ) -> Decision {
        let job = job_of(index);
        let policy = self.policies[job];
        let ended_before = self.states[job].is_terminal();
        let from = self.tasks[index].state;
        let decision = self.apply(index, ev, t);
        if !matches!(decision, Decision::Changed | Decision::Duplicate) {
            return decision;
        }
        let to = self.tasks[index].state;
        record(changes, index, from, to);
        if decision == Decision::Duplicate {
            // Nothing changed: the job is not judged again (Iris drops the report unseen).
            return decision;
        }
        let Some(policy) = policy else {
            self.settle(job, jobs);
            return decision;
        };
        let last = self.tasks[index].attempts.last();
        let by_controller = last.is_some_and(|a| {
            a.state == StateKind::Succeeded || (a.state == StateKind::Killed && !a.killed_on_worker)
        });
        if policy.coscheduled
            && decision == Decision::Changed
            && from.is_active()
            && !to.is_active()
            && !by_controller
        {
            let requeued = to == StateKind::Pending;
            if requeued && self.bug == Bug::SiblingsFirst {
                // The bug: the trigger goes behind its siblings.
                self.pending.retain(|&i| i != index);
            }
            // Only active siblings follow (rule C); pending ones stay as they are.
            for sibling in Self::members(job).filter(|&i| i != index) {
                let state = self.tasks[sibling].state;
                if !state.is_active() {
                    continue;
                }
                let at = self.not_before(sibling, call);
                let follow = if requeued {
                    Ev::SiblingRequeued(index)
                } else {
                    Ev::SiblingFailed(index)
                };
                assert_eq!(self.apply(sibling, &follow, at), Decision::Changed);
                record(changes, sibling, state, self.tasks[sibling].state);
            }
            if requeued && self.bug == Bug::SiblingsFirst {
                self.pending.push_back(index);
            }
        }
        self.settle(job, jobs);
        let now = self.states[job];
        if !ended_before && now.is_terminal() && self.bug != Bug::NoJobEndKill {
            for member in Self::members(job) {
                let state = self.tasks[member].state;
                if state.is_terminal() {
                    continue;
                }
                let at = self.not_before(member, call);
                assert_eq!(self.apply(member, &Ev::Kill, at), Decision::Changed);
                record(changes, member, state, self.tasks[member].state);
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

/// A call's `Changes` are exactly the model's, in order, and equal the diff of the states before
/// and after the call (the model's, which `check_table` holds equal to the table's after every
/// step): every task whose state moved, with its first and last state.
fn check_changes(
    changes: &iris_task::Changes,
    expected: &ModelChanges,
    jobs: &JobChanges,
    before: &[StateKind],
    model: &TableModel,
) -> Result<(), TestCaseError> {
    let got: Vec<(JobId, JobState, JobState)> = changes
        .jobs()
        .map(|(job, step)| (job.clone(), step.from, step.to))
        .collect();
    let want: Vec<(JobId, JobState, JobState)> = jobs
        .iter()
        .map(|&(job, from, to)| (JobId::new(JOBS[job]).unwrap(), from, to))
        .collect();
    prop_assert_eq!(got, want, "the call's job changes, in order");
    let got: Vec<(TaskId, StateKind, StateKind)> = changes
        .iter()
        .map(|(id, step)| (id.clone(), step.from, step.to))
        .collect();
    let want: Vec<(TaskId, StateKind, StateKind)> = expected
        .iter()
        .map(|&(i, from, to)| (tid(i), from, to))
        .collect();
    prop_assert_eq!(got, want, "the call's changes, in the order they happened");
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
    for (job, name) in JOBS.iter().enumerate() {
        let job_id = JobId::new(*name).unwrap();
        let recount: StateCounts = table
            .iter()
            .filter(|t| t.id().job() == &job_id)
            .map(AnyTask::state)
            .collect();
        prop_assert_eq!(table.job_counts(&job_id), Some(&recount));
        let policy = model.policies[job];
        prop_assert_eq!(table.job_policy(&job_id), policy.as_ref());
        prop_assert_eq!(
            table.job_state(&job_id),
            Some(model.states[job]),
            "job {}",
            name
        );
        let failures: u32 = TableModel::members(job)
            .map(|i| model.tasks[i].failures())
            .sum();
        prop_assert_eq!(table.job(&job_id).map(|job| job.failures()), Some(failures));
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

/// Runs `ops` on a table and on the model (with `bug` planted in the model), comparing them after
/// every step.
fn run_table(
    failure: u32,
    preemption: u32,
    policies: [Option<JobPolicy>; 2],
    ops: &[Op],
    bug: Bug,
) -> Result<(), TestCaseError> {
    let policy = RetryPolicy {
        max_retries_failure: failure,
        max_retries_preemption: preemption,
    };
    let mut table = TaskTable::new();
    let mut model = TableModel {
        tasks: Vec::new(),
        pending: VecDeque::new(),
        policies,
        states: [JobState::Pending; 2],
        bug,
    };
    for (job, policy) in policies.iter().enumerate() {
        if let Some(policy) = policy {
            table.set_job_policy(JobId::new(JOBS[job]).unwrap(), *policy);
        }
    }
    for index in 0..TASKS.len() {
        table.insert(Task::new(tid(index), policy)).unwrap();
        let mut task = Model::new(policy);
        task.charge_siblings = bug == Bug::ChargeSibling;
        model.tasks.push(task);
        model.pending.push_back(index);
    }
    for (step, op) in ops.iter().enumerate() {
        // Coarse time, so that assignments tie and the tie-break is exercised.
        let t = step as i64 / 3;
        let before: Vec<StateKind> = model.tasks.iter().map(|m| m.state).collect();
        let mut expected = ModelChanges::new();
        let mut jobs = JobChanges::new();
        match op {
            Op::Assign(task, w, back) => {
                let t = t - back;
                let was_pending = model.tasks[*task].state == StateKind::Pending;
                let result = table.assign(&tid(*task), worker(*w), Timestamp::from_millis(t));
                if was_pending {
                    let decision = model.apply(*task, &Ev::Assign(*w), t);
                    if decision == Decision::Changed {
                        model.mark_running(job_of(*task), &mut jobs);
                    }
                    prop_assert_eq!(result.is_ok(), decision == Decision::Changed);
                    if let Err(err) = result {
                        let backwards = matches!(
                            err,
                            iris_task::TableError::Transition(
                                TransitionError::TimeWentBackwards { .. }
                            )
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
                let decision = model.apply_with_rules(*task, ev, t, t, &mut expected, &mut jobs);
                let got = match &result {
                    Ok(changes) => match changes.get(&tid(*task)) {
                        Some(step) if step.from == step.to => Decision::Duplicate,
                        Some(_) => Decision::Changed,
                        None => panic!("the named task is missing from {changes:?}"),
                    },
                    Err(iris_task::TableError::Transition(err)) => decision_of(&Err(err.clone())),
                    Err(other) => panic!("unexpected {other:?}"),
                };
                prop_assert_eq!(got, decision, "{:?} on task {}", ev, task);
                match &result {
                    Ok(changes) => check_changes(changes, &expected, &jobs, &before, &model)?,
                    Err(_) => prop_assert!(expected.is_empty() && jobs.is_empty()),
                }
            }
            Op::WorkerLost(w) => {
                for i in model.in_assignment_order(|m| m.worker() == Some(*w)) {
                    // Skipped if a cascade moved it off the worker since.
                    if model.tasks[i].worker() != Some(*w) {
                        continue;
                    }
                    let at = model.not_before(i, t);
                    let decision =
                        model.apply_with_rules(i, &Ev::Lost(*w), at, t, &mut expected, &mut jobs);
                    prop_assert_eq!(decision, Decision::Changed);
                }
                let changes = table.worker_lost(&worker(*w), "lost", Timestamp::from_millis(t));
                check_changes(&changes, &expected, &jobs, &before, &model)?;
            }
            Op::Expire(max_wait) => {
                let due = model.in_assignment_order(|m| {
                    m.state == StateKind::Assigned
                        && t - m.attempts.last().unwrap().assigned_at > *max_wait
                });
                for i in due {
                    if model.tasks[i].state != StateKind::Assigned {
                        continue;
                    }
                    let w = model.tasks[i].worker().unwrap();
                    let at = model.not_before(i, t);
                    let decision =
                        model.apply_with_rules(i, &Ev::Lost(w), at, t, &mut expected, &mut jobs);
                    prop_assert_eq!(decision, Decision::Changed);
                }
                let changes = table.expire_assigned(
                    Timestamp::from_millis(t),
                    std::time::Duration::from_millis(*max_wait as u64),
                );
                check_changes(&changes, &expected, &jobs, &before, &model)?;
            }
            Op::Schedule(picks) => {
                // The model: pending tasks in FIFO order, each the pick names a worker for; a
                // gang's pending members all together when the first comes up, if the pick
                // names a different worker for each, or none of them.
                let gangs = model.policies.map(|p| p.is_some_and(|p| p.coscheduled));
                let gang = |job: usize| gangs[job];
                let mut offered = [false; 2];
                for i in model.pending.clone() {
                    let job = job_of(i);
                    let unit: Vec<usize> = if gang(job) {
                        if std::mem::replace(&mut offered[job], true) {
                            continue;
                        }
                        TableModel::members(job)
                            .filter(|&m| model.tasks[m].state == StateKind::Pending)
                            .collect()
                    } else {
                        vec![i]
                    };
                    if unit.iter().any(|&m| picks[m].is_none()) {
                        continue;
                    }
                    let mut workers: Vec<usize> = unit.iter().filter_map(|&m| picks[m]).collect();
                    workers.sort_unstable();
                    workers.dedup();
                    if gang(job) && workers.len() < unit.len() {
                        continue;
                    }
                    for m in unit {
                        let at = model.not_before(m, t);
                        let w = picks[m].unwrap();
                        prop_assert_eq!(model.apply(m, &Ev::Assign(w), at), Decision::Changed);
                        record(&mut expected, m, StateKind::Pending, StateKind::Assigned);
                    }
                    model.mark_running(job, &mut jobs);
                }
                let changes = table.schedule(Timestamp::from_millis(t), |offer| {
                    offer
                        .tasks()
                        .iter()
                        .map(|task| {
                            let i = TASKS.iter().position(|name| task.id() == &tid_of(name))?;
                            picks[i].map(worker)
                        })
                        .collect::<Option<Vec<_>>>()
                });
                check_changes(&changes, &expected, &jobs, &before, &model)?;
            }
            Op::KillJob(second) => {
                // A cancel: the job's live tasks killed, the job KILLED unless it ended
                // otherwise than WORKER_FAILED (rule I).
                let job = usize::from(*second);
                for i in TableModel::members(job) {
                    let state = model.tasks[i].state;
                    if !state.is_terminal() {
                        let at = model.not_before(i, t);
                        prop_assert_eq!(model.apply(i, &Ev::Kill, at), Decision::Changed);
                        record(&mut expected, i, state, StateKind::Killed);
                    }
                }
                let from = model.states[job];
                if !from.is_terminal() || from == JobState::WorkerFailed {
                    model.states[job] = JobState::Killed;
                    record_job(&mut jobs, job, from, JobState::Killed);
                }
                let changes = table.kill_job(
                    &JobId::new(JOBS[job]).unwrap(),
                    "cancelled",
                    Timestamp::from_millis(t),
                );
                check_changes(&changes, &expected, &jobs, &before, &model)?;
            }
            Op::RemoveJob(second) => {
                let job = usize::from(*second);
                let job_id = JobId::new(JOBS[job]).unwrap();
                let unfinished =
                    TableModel::members(job).find(|&i| !model.tasks[i].state.is_terminal());
                let result = table.remove_job(&job_id);
                match unfinished {
                    Some(i) => {
                        let refused = matches!(
                            &result,
                            Err(iris_task::TableError::JobNotFinished { task, state, .. })
                                if *task == tid(i) && *state == model.tasks[i].state
                        );
                        prop_assert!(refused, "{:?}", result);
                    }
                    None => {
                        let removed: Vec<TaskId> = result
                            .unwrap()
                            .iter()
                            .map(|task| task.id().clone())
                            .collect();
                        let expected: Vec<TaskId> = TableModel::members(job).map(tid).collect();
                        prop_assert_eq!(removed, expected, "the job's tasks, in index order");
                        prop_assert!(table.job_counts(&job_id).is_none());
                        // The next generation: the same ids, new tasks, the policy told again.
                        if let Some(policy) = model.policies[job] {
                            table.set_job_policy(job_id.clone(), policy);
                        }
                        model.states[job] = JobState::Pending;
                        for i in TableModel::members(job) {
                            table.insert(Task::new(tid(i), policy)).unwrap();
                            let mut task = Model::new(policy);
                            task.charge_siblings = bug == Bug::ChargeSibling;
                            model.tasks[i] = task;
                            model.pending.push_back(i);
                        }
                    }
                }
            }
            Op::SetPolicy(second, policy) => {
                // Changes no task and does not judge the job: its next task change does.
                let job = usize::from(*second);
                model.policies[job] = Some(*policy);
                table.set_job_policy(JobId::new(JOBS[job]).unwrap(), *policy);
            }
        }
        check_table(&table, &model)?;
    }
    Ok(())
}

/// Policies for jobs "a" and "b": "a" known or not, "b" coscheduled in most cases.
fn policies() -> impl Strategy<Value = [Option<JobPolicy>; 2]> {
    let a = proptest::option::of((0..2u32).prop_map(|max_task_failures| JobPolicy {
        max_task_failures,
        coscheduled: false,
    }));
    let b = prop_oneof![
        3 => (0..2u32).prop_map(|max_task_failures| Some(JobPolicy { max_task_failures, coscheduled: true })),
        1 => Just(None),
        1 => job_policy().prop_map(Some),
    ];
    (a, b).prop_map(|(a, b)| [a, b])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn task_table_agrees_with_the_model(
        failure in 0u32..2,
        preemption in 0u32..2,
        policies in policies(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run_table(failure, preemption, policies, &ops, Bug::None)?;
    }
}

/// The comparison has the power to catch each planted bug: with the bug in the model, the same
/// generated runs find a difference (a crate with the bug would differ from the correct model in
/// the same observable way). Each bug must be found within a few thousand cases.
#[test]
fn planted_bugs_are_caught() {
    for bug in [
        Bug::ChargeSibling,
        Bug::NoJobEndKill,
        Bug::SiblingsFirst,
        Bug::CountFailedTasks,
        Bug::EndedNotFinal,
    ] {
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 5_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let strategy = (
            0u32..2,
            0u32..2,
            policies(),
            proptest::collection::vec(op(), 1..60),
        );
        let result = runner.run(&strategy, |(failure, preemption, policies, ops)| {
            run_table(failure, preemption, policies, &ops, bug)
        });
        assert!(
            result.is_err(),
            "the model test did not catch the planted bug {bug:?}"
        );
    }
}
