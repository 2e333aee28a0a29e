//! The task lifecycle of an Iris cluster controller, as types.
//!
//! A controller schedules the tasks of jobs onto workers. `iris-task` encodes the life of one task
//! so that illegal lifecycle code does not compile, and events that arrive over the network are
//! judged at run time by the same rules:
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
//! Between "the scheduler picked a worker" and "the worker confirmed execution started", the
//! controller has committed the worker's resources and the RunTask RPC may be in flight. A task in
//! that window is neither waiting to be scheduled nor running. Controllers that reuse PENDING for
//! it show the task as unscheduled on dashboards, and a scheduler that scans pending tasks can pick
//! it a second time. ASSIGNED (wire value 9) names the window: [`Task<Assigned>`] has an open
//! attempt and a worker, and cannot be handed to code that schedules [`Task<Pending>`].
//!
//! If the dispatch fails, or the worker dies before it starts the task, the task goes back to
//! PENDING without charging any retry budget ([`Task::<Assigned>::worker_failed`]).
//!
//! # The typed lifecycle
//!
//! ```
//! use iris_task::{JobId, Retry, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
//!
//! let at = Timestamp::from_millis;
//! let task = Task::new(TaskId::new(JobId::new("train")?, 0), RetryPolicy::default());
//!
//! // The RunTask RPC to w1 fails: back to pending, free of charge.
//! let task = task.assign(WorkerId::new("w1")?, at(1)).worker_failed("connection refused", at(2));
//! assert_eq!(task.preemption_count(), 0);
//!
//! // The second attempt runs to completion.
//! let task = task.assign(WorkerId::new("w2")?, at(3)).start(at(4)).succeed(at(5));
//! assert_eq!(task.attempts().len(), 2);
//! assert_eq!(task.exit_code(), Some(0));
//! # Ok::<(), iris_task::IdError>(())
//! ```
//!
//! What does not compile:
//!
//! ```compile_fail
//! # use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp};
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default());
//! task.start(Timestamp::from_millis(1)); // a pending task has no worker to start on
//! ```
//!
//! ```compile_fail
//! # use iris_task::{JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
//!     .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(1));
//! task.assign(WorkerId::new("w2").unwrap(), Timestamp::from_millis(2)); // already assigned
//! ```
//!
//! # Modules
//!
//! - [`Task<S>`] and its transitions: the rules, one impl block per state.
//! - [`State`], [`Active`], [`Executing`], [`Terminal`] and the state markers; [`StateKind`] for
//!   the same states at run time.
//! - [`AnyTask`]: a task whose state is known at run time.
//! - [`proto`]: the Iris wire format, generated at build time without `protoc`.
//! - ids ([`JobId`], [`TaskId`], [`WorkerId`], [`AttemptId`]), [`Timestamp`] and policies
//!   ([`RetryPolicy`], [`JobPolicy`]).
//!
//! The library never reads a clock: every transition takes the time it happened at.

#![forbid(unsafe_code)]
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

pub use any::{AnyTask, SCHEDULING_TIMEOUT_REASON, TaskEvent, Transition, WorkerReport};
pub use attempt::Attempt;
pub use error::{
    IdError, IdKind, ParseStateKindError, ProtoError, TableError, TransitionError, WrongState,
};
pub use id::{AttemptId, JobId, TaskId, Timestamp, WorkerId};
pub use policy::{JobPolicy, RetryPolicy};
pub use state::{
    Active, Assigned, Building, Executing, Failed, Killed, Pending, Running, State, StateKind,
    Succeeded, Terminal, Unschedulable, WorkerFailed,
};
pub use table::{DISPATCH_DEADLINE_ERROR, JobState, StateCounts, TaskTable};
pub use task::{Retry, Task};

/// The README's examples, run as doc tests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
