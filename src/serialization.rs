//! Serde support (cargo feature `serde`), for storing tasks and logging events.
//!
//! - [`StateKind`] and [`JobState`] as their labels (`"assigned"`), ids as their text
//!   (`"train/task-0"`), [`AttemptId`] as a number, [`Timestamp`] as integer milliseconds.
//! - [`AnyTask`] as an object tagged `"state"`; [`Task<S>`] serializes the same way and
//!   deserializes only when the tag is `S`.
//! - [`StateCounts`] as a map from label to count.
//!
//! Deserializing a task runs the validation of [`AnyTask::from_proto`]: a stored task whose state
//! tag contradicts its attempts is rejected, never repaired. [`Attempt`] is serialized but not
//! deserialized on its own, since it can only be checked as part of its task.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use iris_task::{AnyTask, JobId, RetryPolicy, Task, TaskId, Timestamp, WorkerId};
//!
//! let task = Task::new(TaskId::new(JobId::new("job").unwrap(), 0), RetryPolicy::default())
//!     .assign(WorkerId::new("w1").unwrap(), Timestamp::from_millis(5))
//!     .into_any();
//! let json = serde_json::to_string(&task).unwrap();
//! assert!(json.starts_with(r#"{"state":"assigned","id":"job/task-0""#));
//! assert_eq!(serde_json::from_str::<AnyTask>(&json).unwrap(), task);
//!
//! // The tag says pending, the attempt is open: rejected.
//! let forged = json.replacen("\"assigned\"", "\"pending\"", 1);
//! assert!(serde_json::from_str::<AnyTask>(&forged).is_err());
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::any::{AnyTask, TaskEvent, Transition, WorkerReport};
use crate::attempt::Attempt;
use crate::id::{AttemptId, JobId, TaskId, Timestamp, WorkerId};
use crate::policy::{JobPolicy, RetryPolicy};
use crate::proto::{TaskAttempt, TaskState, TaskStatus, wire_u32};
use crate::state::{State, StateKind};
use crate::table::{JobRecord, Layout, TaskTable};
use crate::table::{JobState, StateCounts};
use crate::task::{Core, Task};
use crate::uid::AttemptUid;

// ----- values written as text -----

/// Serializes as `Display`, deserializes through `FromStr` (which validates).
macro_rules! as_text {
    ($($type:ty => $what:literal),* $(,)?) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$type, D::Error> {
                deserializer.deserialize_str(TextVisitor::<$type>::new($what))
            }
        }
    )*};
}

as_text!(
    JobId => "a job id",
    TaskId => "a task id of the form \"{job_id}/task-{index}\"",
    WorkerId => "a worker id",
    StateKind => "a task state label such as \"assigned\"",
    JobState => "a job state label such as \"running\"",
    AttemptUid => "an attempt uid of 16 lowercase hex characters",
);

struct TextVisitor<T> {
    expecting: &'static str,
    parsed: PhantomData<T>,
}

impl<T> TextVisitor<T> {
    fn new(expecting: &'static str) -> TextVisitor<T> {
        TextVisitor {
            expecting,
            parsed: PhantomData,
        }
    }
}

impl<T: FromStr> de::Visitor<'_> for TextVisitor<T>
where
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

// ----- events, reports, transitions and policies -----
//
// Written as serde "remote" mirrors, so that the impls live here, behind the feature, where
// docs.rs marks them with it; serde checks at compile time that each mirror has the fields of its
// type.

/// Implements `Serialize` and `Deserialize` for `$type` through its remote mirror `$mirror`.
macro_rules! through_mirror {
    ($($type:ty => $mirror:ident),* $(,)?) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $mirror::serialize(self, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$type, D::Error> {
                $mirror::deserialize(deserializer)
            }
        }
    )*};
}

through_mirror!(
    TaskEvent => TaskEventMirror,
    WorkerReport => WorkerReportMirror,
    Transition => TransitionMirror,
    RetryPolicy => RetryPolicyMirror,
    JobPolicy => JobPolicyMirror,
);

/// `{"event": "report", "worker": "w1", "attempt": 0, "report": {"state": "running"}, "at": 5}`.
#[derive(Serialize, Deserialize)]
#[serde(
    remote = "TaskEvent",
    tag = "event",
    rename_all = "snake_case",
    deny_unknown_fields
)]
enum TaskEventMirror {
    Assign {
        worker: WorkerId,
        at: Timestamp,
    },
    Report {
        worker: WorkerId,
        attempt: AttemptId,
        report: WorkerReport,
        at: Timestamp,
    },
    WorkerLost {
        worker: WorkerId,
        error: String,
        at: Timestamp,
    },
    Kill {
        reason: String,
        at: Timestamp,
    },
    SchedulingTimeout {
        at: Timestamp,
    },
    Preempt {
        reason: String,
        at: Timestamp,
    },
    SiblingFailed {
        sibling: TaskId,
        at: Timestamp,
    },
    SiblingRequeued {
        sibling: TaskId,
        at: Timestamp,
    },
    ExecutionTimeout {
        at: Timestamp,
    },
}

/// `{"state": "failed", "exit_code": 1, "error": "exit 1"}`.
#[derive(Serialize, Deserialize)]
#[serde(
    remote = "WorkerReport",
    tag = "state",
    rename_all = "snake_case",
    deny_unknown_fields
)]
enum WorkerReportMirror {
    Building,
    Running,
    Succeeded,
    Failed { exit_code: i32, error: String },
    WorkerFailed { error: String },
    Preempted { error: String },
    Killed { error: String },
    Missing,
}

/// `{"from": "assigned", "to": "running"}`.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Transition", deny_unknown_fields)]
struct TransitionMirror {
    from: StateKind,
    to: StateKind,
}

/// `{"max_retries_failure": 0, "max_retries_preemption": 100}`; a field left out takes its
/// default.
#[derive(Serialize, Deserialize)]
#[serde(
    remote = "RetryPolicy",
    default = "RetryPolicy::default",
    deny_unknown_fields
)]
struct RetryPolicyMirror {
    max_retries_failure: u32,
    max_retries_preemption: u32,
}

/// `{"max_task_failures": 0, "coscheduled": false}`; a field left out takes its default.
#[derive(Serialize, Deserialize)]
#[serde(
    remote = "JobPolicy",
    default = "JobPolicy::default",
    deny_unknown_fields
)]
struct JobPolicyMirror {
    max_task_failures: u32,
    coscheduled: bool,
}

// ----- numbers -----

impl Serialize for AttemptId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.get())
    }
}

impl<'de> Deserialize<'de> for AttemptId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AttemptId, D::Error> {
        u32::deserialize(deserializer).map(AttemptId::new)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_millis())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(deserializer).map(Timestamp::from_millis)
    }
}

// ----- counts -----

impl Serialize for StateCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(StateKind::ALL.len()))?;
        for (state, count) in self.iter() {
            map.serialize_entry(state.label(), &count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StateCounts {
    /// Reads each count as the number it is, so the time taken follows the size of the input,
    /// never the numbers in it (`{"pending": 18446744073709551615}` is read at once). A state
    /// named twice is an error; a state left out counts 0.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StateCounts, D::Error> {
        deserializer.deserialize_map(CountsVisitor)
    }
}

struct CountsVisitor;

impl<'de> de::Visitor<'de> for CountsVisitor {
    type Value = StateCounts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from task state labels to counts, such as {\"pending\": 5}")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<StateCounts, A::Error> {
        let mut seen = Vec::with_capacity(StateKind::ALL.len());
        let mut counts = Vec::with_capacity(StateKind::ALL.len());
        while let Some((state, count)) = map.next_entry::<StateKind, usize>()? {
            if seen.contains(&state) {
                return Err(de::Error::custom(format_args!(
                    "the count of {state} is given twice"
                )));
            }
            seen.push(state);
            counts.push((state, count));
        }
        Ok(counts.into_iter().collect())
    }
}

// ----- tasks -----

/// The stored form of a task. Field order is the order written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskRepr {
    state: StateKind,
    id: TaskId,
    #[serde(default)]
    policy: RetryPolicy,
    #[serde(default)]
    attempts: Vec<AttemptRepr>,
    /// When a terminal task ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<Timestamp>,
    /// Why a terminal task ended; read back only for a task that ended while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptRepr {
    id: AttemptId,
    /// Absent in a 0.2 snapshot: the attempt then gets its legacy uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uid: Option<AttemptUid>,
    worker: WorkerId,
    state: StateKind,
    assigned_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// A KILLED attempt its worker killed unasked (a worker-side ending); written only then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    killed_on_worker: bool,
    /// Closed by the controller, its worker's stop not yet confirmed; written only then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    awaiting_stop: bool,
}

impl From<&Attempt> for AttemptRepr {
    fn from(attempt: &Attempt) -> AttemptRepr {
        AttemptRepr {
            id: attempt.id,
            uid: Some(attempt.uid),
            worker: attempt.worker.clone(),
            state: attempt.state,
            assigned_at: attempt.assigned_at,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            exit_code: attempt.exit_code,
            error: attempt.error.clone(),
            killed_on_worker: attempt.is_killed_on_worker(),
            awaiting_stop: attempt.awaits_stop(),
        }
    }
}

impl TaskRepr {
    fn of(core: &Core, state: StateKind) -> TaskRepr {
        // Only a terminal task writes its error: it is read back for one that ended while pending.
        let ended_at = core.ended_at(state.is_terminal());
        let error = ended_at.and(core.outcome().1).map(str::to_owned);
        TaskRepr {
            state,
            id: core.id().clone(),
            policy: *core.policy(),
            attempts: core.attempts().iter().map(AttemptRepr::from).collect(),
            finished_at: ended_at,
            error,
        }
    }

    /// The task's wire form, for the checks of `AnyTask::from_proto`.
    fn into_status(self) -> TaskStatus {
        let worker_id = self
            .attempts
            .last()
            .map(|attempt| attempt.worker.as_str().to_owned())
            .unwrap_or_default();
        let current_attempt_id = self
            .attempts
            .last()
            .map_or(-1, |attempt| wire_u32(attempt.id.get()));
        TaskStatus {
            task_id: self.id.to_string(),
            job_id: self.id.job().as_str().to_owned(),
            task_index: wire_u32(self.id.index()),
            state: TaskState::from(self.state) as i32,
            worker_id,
            error: self.error.unwrap_or_default(),
            finished_at_ms: self.finished_at.map(Timestamp::as_millis),
            current_attempt_id,
            attempts: self
                .attempts
                .into_iter()
                .map(AttemptRepr::into_attempt)
                .collect(),
            ..TaskStatus::default()
        }
    }
}

impl AttemptRepr {
    fn into_attempt(self) -> TaskAttempt {
        TaskAttempt {
            attempt_id: wire_u32(self.id.get()),
            worker_id: self.worker.as_str().to_owned(),
            state: TaskState::from(self.state) as i32,
            exit_code: self.exit_code.unwrap_or(0),
            error: self.error.unwrap_or_default(),
            started_at_ms: self.started_at.map(Timestamp::as_millis),
            finished_at_ms: self.finished_at.map(Timestamp::as_millis),
            is_worker_failure: match self.state {
                StateKind::WorkerFailed | StateKind::Preempted => true,
                // Any other state with the flag is refused by the decoder, as it should be.
                _ => self.killed_on_worker,
            },
            assigned_at_ms: Some(self.assigned_at.as_millis()),
            attempt_uid: self.uid.map(|uid| uid.to_string()),
            awaiting_stop: self.awaiting_stop,
        }
    }
}

impl Serialize for AnyTask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TaskRepr::of(self.core(), self.state()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AnyTask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AnyTask, D::Error> {
        let repr = TaskRepr::deserialize(deserializer)?;
        let policy = repr.policy;
        AnyTask::from_proto(repr.into_status(), policy)
            .map_err(|err| de::Error::custom(format_args!("invalid task: {err}")))
    }
}

impl<S: State> Serialize for Task<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        TaskRepr::of(self.core(), S::KIND).serialize(serializer)
    }
}

impl<'de, S: State> Deserialize<'de> for Task<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Task<S>, D::Error> {
        let repr = TaskRepr::deserialize(deserializer)?;
        if repr.state != S::KIND {
            return Err(de::Error::custom(format_args!(
                "expected a {} task, found a {} one",
                S::KIND,
                repr.state
            )));
        }
        let policy = repr.policy;
        Task::<S>::from_proto(repr.into_status(), policy)
            .map_err(|err| de::Error::custom(format_args!("invalid task: {err}")))
    }
}

impl Serialize for Attempt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AttemptRepr::from(self).serialize(serializer)
    }
}

// ----- the table -----

/// A `TaskTable` as stored: its jobs (with their policies) in `jobs()` order, its tasks in
/// `iter()` order, and the orders of its views, which the tasks alone do not say.
#[derive(Serialize)]
struct TableOut<'a> {
    jobs: Vec<JobOut>,
    tasks: Vec<&'a AnyTask>,
    pending: Vec<TaskId>,
    assigned: Vec<TaskId>,
    workers: Vec<WorkerRepr>,
}

#[derive(Serialize)]
struct JobOut {
    id: JobId,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<JobPolicy>,
    state: JobState,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableIn {
    jobs: Vec<JobIn>,
    tasks: Vec<AnyTask>,
    #[serde(default)]
    pending: Vec<TaskId>,
    #[serde(default)]
    assigned: Vec<TaskId>,
    #[serde(default)]
    workers: Vec<WorkerRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobIn {
    id: JobId,
    #[serde(default)]
    policy: Option<JobPolicy>,
    /// Absent in a 0.2 snapshot: the job is then judged from its tasks.
    #[serde(default)]
    state: Option<JobState>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerRepr {
    worker: WorkerId,
    tasks: Vec<TaskId>,
}

impl Serialize for TaskTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let layout = self.layout();
        TableOut {
            jobs: self
                .job_records()
                .map(|record| {
                    let (state, error) = record.state.unwrap_or((JobState::Pending, None));
                    JobOut {
                        id: record.id,
                        policy: record.policy,
                        state,
                        error,
                    }
                })
                .collect(),
            tasks: self.iter().collect(),
            pending: layout.pending,
            assigned: layout.assigned,
            workers: layout
                .workers
                .into_iter()
                .map(|(worker, tasks)| WorkerRepr { worker, tasks })
                .collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TaskTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TaskTable, D::Error> {
        let stored = TableIn::deserialize(deserializer)?;
        let layout = Layout {
            pending: stored.pending,
            assigned: stored.assigned,
            workers: stored
                .workers
                .into_iter()
                .map(|worker| (worker.worker, worker.tasks))
                .collect(),
        };
        let jobs = stored.jobs.into_iter().map(|job| JobRecord {
            id: job.id,
            policy: job.policy,
            // An error without a state is nothing to restore: the job is judged from its tasks.
            state: job.state.map(|state| (state, job.error)),
        });
        TaskTable::restore(jobs, stored.tasks, layout)
            .map_err(|err| de::Error::custom(format_args!("invalid table: {err}")))
    }
}
