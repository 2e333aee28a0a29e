//! The task lifecycle of an Iris cluster controller, as types.
//!
//! A controller schedules the tasks of jobs onto workers. `iris-task` encodes the life of one task
//! so that illegal lifecycle code does not compile, every report from a worker is judged at run
//! time by the same rules, and the state costs nothing at run time: a [`Task<S>`] is exactly as
//! large whatever its state `S`.
//!
//! ```text
//!                  assign                 start                  succeed
//!   PENDING ──────────────▶ ASSIGNED ──────────────▶ RUNNING ──────────────▶ SUCCEEDED
//!    │  ▲                     │   │                  ▲    │
//!    │  │  dispatch failed    │   │ build            │    │ fail / worker lost
//!    │  ├─────────────────────┘   └─▶ BUILDING ──────┘    ├─ budget spent ─▶ FAILED | WORKER_FAILED
//!    │  │                              │ fail / lost      │
//!    │  └──── retry (budget left) ◀────┴──────────────────┘
//!    └── scheduling timeout ──▶ UNSCHEDULABLE
//!   kill: PENDING | ASSIGNED | BUILDING | RUNNING ──▶ KILLED
//! ```
//!
//! # Why ASSIGNED exists
//!
//! When the scheduler matches a task to a worker, the controller commits the worker's resources
//! and sends it a RunTask RPC. Until the worker confirms that execution started, the task is
//! neither waiting to be scheduled nor running. Controllers that reuse PENDING for this window
//! show the task as unscheduled on dashboards, and a scheduler that scans pending tasks can pick
//! it a second time. ASSIGNED names the window (wire value 9, the next free number, so that no
//! existing value changes meaning): a [`Task<Assigned>`] holds an open [`Attempt`] and a worker,
//! and cannot be handed to code that schedules [`Task<Pending>`].
//!
//! If the dispatch fails, or the worker dies before it confirms, the task goes back to PENDING
//! without charging any retry budget ([`Task::<Assigned>::worker_failed`]). Charging the
//! preemption budget there once inflated a task's count to 250 for 3 real preemptions.
//!
//! # The typed lifecycle
//!
//! Each transition consumes the task and returns it in its next state. Failures return a
//! [`Retry`]: the task is requeued while its [`RetryPolicy`] allows, and ends after.
//!
//! ```
//! use iris_task::{JobId, Retry, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
//!
//! let at = Timestamp::from_millis;
//! let policy = RetryPolicy { max_retries_failure: 1, ..RetryPolicy::default() };
//! let task = Task::new(TaskId::new(JobId::new("train")?, 0), policy);
//!
//! // The RunTask RPC to w1 fails: back to pending, free of charge.
//! let task = task.assign(WorkerId::new("w1")?, at(1)).worker_failed("connection refused", at(2));
//! assert_eq!(task.preemption_count(), 0);
//!
//! // w2 builds, runs, and the task exits 1; one retry is allowed.
//! let running = task.assign(WorkerId::new("w2")?, at(3)).build(at(4)).start(at(5));
//! let task = match running.fail(1, "exit 1", at(6)) {
//!     Retry::Requeued(task) => task,
//!     Retry::Exhausted(failed) => return Err(format!("{} failed", failed.id()).into()),
//! };
//!
//! // The third attempt succeeds.
//! let done = task.assign(WorkerId::new("w3")?, at(7)).start(at(8)).succeed(at(9));
//! assert_eq!(done.attempts().len(), 3);
//! assert_eq!((done.failure_count(), done.exit_code()), (1, Some(0)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the compiler refuses: a pending task has no worker to start on, an assigned task cannot
//! be assigned again, and a terminal task has no transition at all.
//!
//! ```compile_fail
//! # use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
//! task.start(Timestamp::from_millis(1)); // no method `start` on Task<Pending>
//! ```
//!
//! ```compile_fail
//! # use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
//!     .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(1));
//! task.assign(WorkerId::new("w2").unwrap(), Timestamp::from_millis(2)); // no `assign` on Task<Assigned>
//! ```
//!
//! ```compile_fail
//! # use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
//!     .kill("cancelled", Timestamp::from_millis(1));
//! task.kill("again", Timestamp::from_millis(2)); // a killed task is terminal
//! ```
//!
//! Code that works for several states is generic over a capability: [`Active`] (assigned,
//! building, running), [`Executing`] (building, running) or [`Terminal`].
//!
//! # Events from the network: `AnyTask`
//!
//! Workers report over the network, late, twice or out of order. [`AnyTask`] holds a task whose
//! state is known only at run time, and [`AnyTask::apply`] judges each [`TaskEvent`] by the same
//! rules: a report about another attempt is stale, a repeated report is absorbed, a report that
//! skips a step is recorded as if the step happened, one that goes backwards is rejected. On `Err`
//! the task is exactly as it was.
//!
//! ```
//! use iris_task::{AnyTask, AttemptId, JobId, RetryPolicy, StateKind, Task, TaskEvent, TaskId,
//!     Timestamp, TransitionError, WorkerId, WorkerReport};
//!
//! let mut task: AnyTask = Task::new(TaskId::new(JobId::new("train")?, 0), RetryPolicy::default())
//!     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
//!     .into();
//!
//! // A short task's RUNNING report was lost: SUCCEEDED skips forward.
//! let done = TaskEvent::Report {
//!     worker: WorkerId::new("w1")?,
//!     attempt: AttemptId::new(0),
//!     report: WorkerReport::Succeeded,
//!     at: Timestamp::from_millis(9),
//! };
//! let step = task.apply(done.clone())?;
//! assert_eq!((step.from, step.to), (StateKind::Assigned, StateKind::Succeeded));
//!
//! // Delivered again: accepted, nothing changes.
//! assert!(!task.apply(done)?.changed());
//!
//! // Nothing applies to an ended task but its own final report.
//! let kill = TaskEvent::Kill { reason: "too late".into(), at: Timestamp::from_millis(10) };
//! assert!(matches!(task.apply(kill), Err(TransitionError::Illegal { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A controller loop: `TaskTable`
//!
//! [`TaskTable`] keeps a controller's tasks. Its [`pending`](TaskTable::pending) view yields
//! `&Task<Pending>` only, oldest first, so an assigned task never reaches the scheduler;
//! [`worker_lost`](TaskTable::worker_lost) fails every task on a dead worker;
//! [`expire_assigned`](TaskTable::expire_assigned) is the dispatch deadline; and
//! [`counts`](TaskTable::counts) are kept up to date on every change.
//!
//! ```
//! use std::time::Duration;
//! use iris_task::{JobId, JobPolicy, JobState, RetryPolicy, StateKind, Task, TaskId, TaskTable,
//!     Timestamp, WorkerId};
//!
//! let job = JobId::new("train")?;
//! let mut table = TaskTable::new();
//! for index in 0..4 {
//!     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
//! }
//! let workers = [WorkerId::new("w1")?, WorkerId::new("w2")?];
//!
//! // Schedule: match the oldest pending tasks to the workers.
//! let picked: Vec<TaskId> = table.pending().take(2).map(|task| task.id().clone()).collect();
//! for (id, worker) in picked.iter().zip(&workers) {
//!     table.assign(id, worker.clone(), Timestamp::from_millis(100))?;
//! }
//! assert_eq!(table.counts().get(StateKind::Assigned), 2);
//!
//! // Neither worker confirms: after the dispatch deadline both tasks are requeued, free of
//! // charge, at the back of the queue.
//! let requeued = table.expire_assigned(Timestamp::from_millis(30_101), Duration::from_secs(30));
//! assert_eq!(requeued.len(), 2);
//! assert_eq!(table.pending().count(), 4);
//! assert_eq!(table.job_counts(&job).unwrap().job_state(&JobPolicy::default()), JobState::Pending);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The wire format and serde
//!
//! [`proto`] holds the `iris.cluster` protobuf types, generated at build time by prost-build fed
//! by protox, so no `protoc` is needed. Conversions are strict: decoding checks that a status is
//! one the lifecycle can produce and otherwise returns a [`ProtoError`] naming the field.
//!
//! ```
//! use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskEvent, TaskId, Timestamp, WorkerId, proto};
//! use iris_task::prost::Message;
//!
//! let task = Task::new(TaskId::new(JobId::new("train")?, 0), RetryPolicy::default())
//!     .assign(WorkerId::new("w1")?, Timestamp::from_millis(1))
//!     .into_any();
//! let bytes = task.encode_to_vec();
//! assert_eq!(proto::TaskStatus::decode(bytes.as_slice())?.state, 9); // TASK_STATE_ASSIGNED
//! assert_eq!(AnyTask::decode(&bytes, RetryPolicy::default())?, task);
//!
//! // A worker's report, as received.
//! let report = proto::ReportTaskStateRequest {
//!     worker_id: "w1".into(),
//!     task_id: "train/task-0".into(),
//!     job_id: "train".into(),
//!     task_index: 0,
//!     state: proto::TaskState::Running as i32,
//!     attempt_id: 0,
//!     ..Default::default()
//! };
//! let (id, event) = TaskEvent::from_report(report, Timestamp::from_millis(2))?;
//! assert_eq!(&id, task.id());
//! # let _ = event;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `serde` feature, tasks serialize as objects tagged `"state"`; deserializing runs the
//! checks of [`AnyTask::from_proto`], so a stored task whose tag contradicts its attempts is
//! rejected, not repaired.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId};
//!
//! let task = Task::new(TaskId::new(JobId::new("train").unwrap(), 0), RetryPolicy::default());
//! let json = serde_json::to_string(&task).unwrap();
//! assert!(json.starts_with(r#"{"state":"pending","id":"train/task-0""#));
//! assert_eq!(serde_json::from_str::<AnyTask>(&json).unwrap(), task.into_any());
//! # }
//! ```
//!
//! # The rules
//!
//! What the crate enforces, in one place. The typed transitions of [`Task<S>`] are these rules;
//! [`AnyTask::apply`] reaches them only through the typed task of each state, so the run-time
//! door cannot disagree with what the compiler allows.
//!
//! ## States and wire values
//!
//! | state | wire | kind | meaning |
//! |---|---|---|---|
//! | UNSPECIFIED | 0 | invalid | never a task's state: decoding it is an error |
//! | PENDING | 1 | waiting | created or requeued, not yet matched to a worker; the only state a scheduler picks from |
//! | BUILDING | 2 | active, executing | the worker confirmed the attempt and builds its environment |
//! | RUNNING | 3 | active, executing | the worker confirmed execution started |
//! | SUCCEEDED | 4 | terminal | exited 0 |
//! | FAILED | 5 | terminal | failed, with its failure budget spent |
//! | KILLED | 6 | terminal | cancelled by the user or the controller |
//! | WORKER_FAILED | 7 | terminal | its started attempts kept losing their workers, and its preemption budget is spent |
//! | UNSCHEDULABLE | 8 | terminal | no worker could take it before its scheduling deadline |
//! | ASSIGNED | 9 | active | matched to a worker, attempt open, resources committed, RunTask maybe in flight |
//!
//! *Active* states hold a worker and an open attempt; *executing* ones are active and confirmed by
//! the worker. Terminal states accept no event (a repeated final report is absorbed as a
//! duplicate). Numbers no state has, such as 10 from a newer peer, are decoding errors.
//!
//! ## Attempts
//!
//! Every assignment opens an attempt. Attempt ids are 0, 1, 2, …, one per assignment, never
//! reused. Only the last attempt may be open, and a task leaves an active state by closing it in
//! the same step (state and finish time), so no attempt is left open behind its task. The
//! *current attempt* is the last one, open or closed (`current_attempt_id` on the wire, -1 before
//! the first assignment).
//!
//! ## Retry budgets
//!
//! A [`RetryPolicy`] allows `max_retries_failure` requeues after failures (default 0) and
//! `max_retries_preemption` after worker losses (default 100). The counts are derived from the
//! attempts, never stored: [`failure_count`](Task::failure_count) counts attempts that ended
//! FAILED, [`preemption_count`](Task::preemption_count) those that ended WORKER_FAILED after they
//! had started. When an executing attempt fails, the task is requeued if the count, this failure
//! included, is within the budget, and ends FAILED otherwise; a lost worker does the same with
//! the preemption budget and WORKER_FAILED. **A dispatch failure charges nothing**: a worker lost
//! (or a RunTask RPC failed, or the dispatch deadline passed) while the task is ASSIGNED requeues
//! it whatever the budgets say.
//!
//! ## Controller events
//!
//! | from | event | to | attempt | budget |
//! |---|---|---|---|---|
//! | PENDING | assign | ASSIGNED | a new attempt opens | – |
//! | PENDING | scheduling timeout | UNSCHEDULABLE | – (the reason is the task's error) | – |
//! | PENDING | kill | KILLED | – (the reason is the task's error) | – |
//! | ASSIGNED | report BUILDING | BUILDING | starts | – |
//! | ASSIGNED, BUILDING | report RUNNING | RUNNING | starts, if it had not | – |
//! | RUNNING (or skipping forward) | report SUCCEEDED | SUCCEEDED | closes, exit 0 | – |
//! | BUILDING, RUNNING (or skipping forward) | report FAILED | PENDING or FAILED | closes FAILED | failure |
//! | ASSIGNED | worker lost, report WORKER_FAILED, dispatch deadline | PENDING | closes WORKER_FAILED, never started | none |
//! | BUILDING, RUNNING | worker lost, report WORKER_FAILED | PENDING or WORKER_FAILED | closes WORKER_FAILED | preemption |
//! | ASSIGNED, BUILDING, RUNNING | kill | KILLED | closes KILLED | – |
//!
//! A report may skip forward (ASSIGNED → SUCCEEDED when a short task's RUNNING report was lost):
//! the attempt is recorded as if the skipped steps happened at the report's time. It may never go
//! backwards (RUNNING → BUILDING).
//!
//! ## How an event from the network is judged
//!
//! Workers report `(task, attempt, state, exit code, error)` and name themselves; heartbeats
//! retry, networks reorder, a worker that lost contact reports hours later. [`AnyTask::apply`]
//! (and [`TaskTable::apply`]) judge each event in this order, and a rejected event changes
//! nothing:
//!
//! 1. a report naming any attempt but the current one → [`TransitionError::StaleAttempt`];
//! 2. a report from a worker other than the named attempt's, or the loss of a worker that does not
//!    hold the active task → [`TransitionError::WrongWorker`]: no worker can end another worker's
//!    attempt, even by guessing its id;
//! 3. a report that repeats what the current attempt records (RUNNING twice, the state it closed
//!    with) → accepted, nothing changes, the first report's exit code and error stay: at-least-once
//!    delivery is safe, also after the task was requeued;
//! 4. any other report about a closed attempt → [`TransitionError::StaleAttempt`], before and after
//!    the task is reassigned alike;
//! 5. an event the state does not allow → [`TransitionError::Illegal`]; a report that would move
//!    the open attempt backwards → [`TransitionError::Regression`];
//! 6. an event earlier than any time the task records → [`TransitionError::TimeWentBackwards`].
//!
//! ## Time never goes backwards
//!
//! Every attempt keeps assigned ≤ started ≤ finished; an attempt is assigned no earlier than the
//! one before it finished; a task ends no earlier than its last attempt. The decoder checks all
//! three, and the crate never builds a task it would refuse to load: `apply` rejects an event
//! earlier than the task's [`latest_time`](AnyTask::latest_time) (equal times are allowed), and
//! the changes that have no error to return (the typed transitions, each task of
//! [`worker_lost`](TaskTable::worker_lost) and [`expire_assigned`](TaskTable::expire_assigned))
//! are stamped with `at` or the task's latest time, whichever is later. Worker clocks are not
//! trusted: [`TaskEvent::from_report`] stamps every report with the controller's `received_at`.
//! The dispatch deadline expires an ASSIGNED task when `now - assigned_at > max_wait`, exactly.
//!
//! ## Jobs and dashboards
//!
//! A job's state derives from its tasks' counts ([`StateCounts::job_state`]). A job with no tasks
//! is PENDING; otherwise the first rule that matches decides:
//!
//! 1. every task ended SUCCEEDED or FAILED, and at most `max_task_failures` FAILED → SUCCEEDED;
//! 2. more than `max_task_failures` FAILED → FAILED (worker losses never count here);
//! 3. any UNSCHEDULABLE → UNSCHEDULABLE;
//! 4. any KILLED → KILLED;
//! 5. every task terminal and any WORKER_FAILED → WORKER_FAILED;
//! 6. any ASSIGNED, BUILDING or RUNNING → RUNNING;
//! 7. otherwise PENDING.
//!
//! Dashboards count tasks per state with ASSIGNED as its own bucket (on the wire a
//! `map<string, int32>` keyed by [label](StateKind::label)), and style each state with the CSS
//! class `status-<label>` and its [colour](StateKind::color): ASSIGNED is amber (`#bc4c00`), apart
//! from pending (`#9a6700`), building (`#8250df`) and running (`#0969da`). Everything is
//! deterministic: when one call changes several tasks (a lost worker, an expired deadline), they
//! are handled oldest assignment first (ties: job id, then task index) and requeued in that order.
//!
//! # Feature flags
//!
//! - `serde`: `Serialize` and `Deserialize` for tasks, ids, task and job states, policies, events,
//!   reports, transitions and counts. Off by default.
//!
//! The crate needs Rust 1.85 or later, with or without `serde`.
//!
//! # Where things live
//!
//! - [`Task<S>`] and its transitions hold the rules, one impl block per state.
//! - [`State`], [`Active`], [`Executing`], [`Terminal`] and the state markers ([`Pending`], …);
//!   [`StateKind`] names the same states at run time.
//! - [`AnyTask`], [`TaskEvent`], [`WorkerReport`] and [`Transition`]: the run-time door.
//! - [`TaskTable`], [`StateCounts`], [`JobState`]: the controller's table and its dashboards.
//! - [`proto`]: the wire format; ids ([`JobId`], [`TaskId`], [`WorkerId`], [`AttemptId`]),
//!   [`Timestamp`], policies ([`RetryPolicy`], [`JobPolicy`]).
//! - Errors live beside their concepts ([`IdError`], [`TransitionError`], [`ProtoError`],
//!   [`TableError`], …); [`Error`] wraps them all, for one `?`.
//!
//! The library never reads a clock: every transition takes the time it happened at.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod any;
mod attempt;
mod error;
mod id;
mod policy;
pub mod proto;
#[cfg(feature = "serde")]
mod serialization;
mod state;
mod table;
mod task;

pub use any::{
    AnyTask, SCHEDULING_TIMEOUT_REASON, TaskEvent, Transition, TransitionError, WorkerReport,
    WrongState,
};
pub use attempt::Attempt;
pub use error::Error;
pub use id::{AttemptId, IdError, IdKind, JobId, TaskId, Timestamp, WorkerId};
pub use policy::{JobPolicy, RetryPolicy};
pub use proto::ProtoError;
pub use state::{
    Active, Assigned, Building, CoschedFailed, Executing, Failed, Killed, ParseStateKindError,
    Pending, Preempted, Running, State, StateKind, Succeeded, Terminal, Unschedulable,
    WorkerFailed,
};
pub use table::{
    Changes, DISPATCH_DEADLINE_ERROR, JobState, ParseJobStateError, StateCounts, TableError,
    TaskTable,
};
pub use task::{MISSING_ERROR, Retry, Task};

/// The `prost` this crate builds its [`proto`] types with: use it (`iris_task::prost::Message`)
/// to encode and decode them, so your version always matches.
pub use prost;

/// The README's examples, run as doc tests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
