//! Today's Iris wire: the messages of marin-iris 0.2.227.dev40316220070, the pinned reference.
//!
//! Iris moved its task messages to package `iris.job`, dates everything with `iris.time`
//! messages, names every attempt by a controller-minted `attempt_uid`, and drives workers by
//! `WorkerService/Reconcile` rather than by worker reports. The modules here are generated at
//! build time from a proto3 transcription of the wheel's own `.proto` files (`proto/today/`;
//! the wheel's files use protobuf editions, which protox does not parse, and the transcription is
//! wire-compatible). They keep Iris's package layout:
//!
//! | module | Iris package | holds |
//! |---|---|---|
//! | [`job`] | `iris.job` | `TaskState`, `TaskStatus`, `TaskAttempt`, `JobStatus`, `RunTaskRequest`, `WorkerMetadata`, ... |
//! | [`time`] | `iris.time` | `Timestamp { epoch_ms }`, `Duration { milliseconds }` |
//! | [`cluster`] | `iris.cluster` | `Controller::*` and `Worker::*` messages, as `controller::…` and `worker::…` |
//! | [`vm`], [`query`], [`logging`] | `iris.vm`, `iris.query`, `iris.logging` | what the controller's messages import |
//!
//! The seed-era wire ([`crate::proto`], `TASK_STATE_ASSIGNED = 9` in package `iris.cluster`)
//! stays for peers still on it. The two wires share the package name `iris.cluster` for
//! different messages, so they are separate module trees, and a message of one never decodes as
//! the other's by accident of name.
//!
//! ```
//! use iris_task::prost::Message;
//! use iris_task::today::{job, time};
//!
//! let status = job::TaskStatus {
//!     task_id: Some("/alice/train/0".into()),
//!     state: Some(job::TaskState::Assigned as i32),
//!     started_at: Some(time::Timestamp { epoch_ms: Some(1_000) }),
//!     ..Default::default()
//! };
//! let bytes = status.encode_to_vec();
//! assert_eq!(job::TaskStatus::decode(bytes.as_slice())?, status);
//! # Ok::<(), iris_task::prost::DecodeError>(())
//! ```

// The code prost-build generates from `proto/today/`, in Iris's package tree. Kept apart so the
// crate's hand-written lint rules do not judge it.
generated_code!(mod generated = "/today/today.rs");

pub use generated::iris::{cluster, job, logging, query, time, vm};

mod launch;
mod task;

pub use task::REMOVED_WORKER;

pub use launch::{Launch, MAX_REPLICAS, Registration, Resources};
