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
//! use prost::Message;
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
//! # Feature flags
//!
//! - `serde`: `Serialize` and `Deserialize` for tasks, ids, states, policies, events and counts.
//!   Off by default.
//!
//! # Where things live
//!
//! - [`Task<S>`] and its transitions hold the rules, one impl block per state.
//! - [`State`], [`Active`], [`Executing`], [`Terminal`] and the state markers ([`Pending`], …);
//!   [`StateKind`] names the same states at run time.
//! - [`AnyTask`], [`TaskEvent`], [`WorkerReport`] and [`Transition`]: the run-time door.
//! - [`TaskTable`], [`StateCounts`], [`JobState`]: the controller's table and its dashboards.
//! - [`proto`]: the wire format; ids ([`JobId`], [`TaskId`], [`WorkerId`], [`AttemptId`]),
//!   [`Timestamp`], policies ([`RetryPolicy`], [`JobPolicy`]) and errors.
//!
//! The library never reads a clock: every transition takes the time it happened at.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod any;
mod attempt;
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
pub use id::{AttemptId, IdError, IdKind, JobId, TaskId, Timestamp, WorkerId};
pub use policy::{JobPolicy, RetryPolicy};
pub use proto::ProtoError;
pub use state::{
    Active, Assigned, Building, Executing, Failed, Killed, ParseStateKindError, Pending, Running,
    State, StateKind, Succeeded, Terminal, Unschedulable, WorkerFailed,
};
pub use table::{
    DISPATCH_DEADLINE_ERROR, JobState, ParseJobStateError, StateCounts, TableError, TaskTable,
};
pub use task::{Retry, Task};

/// The `prost` this crate builds its [`proto`] types with: use it (`iris_task::prost::Message`)
/// to encode and decode them, so your version always matches.
pub use prost;

/// The README's examples, run as doc tests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
