// The crate root, long because it holds the crate guide (the doc comment below, which docs.rs
// shows first): the lifecycle, the rules, the differences from Iris, the features. The code is the
// module list and the re-exports at the end.
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
//!   preempt: ASSIGNED ──▶ PENDING (free) · BUILDING | RUNNING ──▶ PENDING or PREEMPTED (budget)
//!   execution timeout: BUILDING | RUNNING ──▶ FAILED (no retry)
//!   a gang member ends: its ASSIGNED | BUILDING | RUNNING siblings ──▶ COSCHED_FAILED
//! ```
//!
//! The rules are those of Iris, the cluster manager of [Marin](https://github.com/marin-community/marin),
//! as it is today, and Iris itself checks them: the repository's conformance test drives Iris's
//! own controller kernel ([marin-iris 0.2.227.dev40316220070](https://pypi.org/project/marin-iris/0.2.227.dev40316220070/))
//! and the crate with the same 20,000 random scripts, and finds no difference but the few the
//! crate makes on purpose, each declared in [Differences from Iris](#differences-from-iris).
//!
//! # Why ASSIGNED exists
//!
//! When the scheduler matches a task to a worker, the controller commits the worker's resources
//! and sends the task to it. Until the worker confirms that execution started, the task is
//! neither waiting to be scheduled nor running. Controllers that reuse PENDING for this window
//! show the task as unscheduled on dashboards, and a scheduler that scans pending tasks can pick
//! it a second time. Iris names the window ASSIGNED (`TASK_STATE_ASSIGNED = 9` on its wire); in
//! the crate it is a type: a [`Task<Assigned>`] holds an open [`Attempt`] and a worker, and cannot
//! be handed to code that schedules [`Task<Pending>`].
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
//! rules: a report about another attempt is stale, a repeated report is absorbed, a report may
//! skip a step (an end reported before any start), one that goes backwards is rejected. On `Err`
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
//! `&Task<Pending>` only, oldest first, so an assigned task never reaches the scheduler, and
//! [`schedule`](TaskTable::schedule) assigns the tasks a closure picks workers for, through the
//! table (assigning a clone of a borrowed task would change a copy the table never sees);
//! [`worker_lost`](TaskTable::worker_lost) fails every task on a dead worker;
//! [`expire_assigned`](TaskTable::expire_assigned) is the dispatch deadline;
//! [`counts`](TaskTable::counts) are kept up to date on every change; and every call that changes
//! tasks returns [`Changes`]: each task it changed, in order, with its state before and after.
//!
//! ```
//! use std::time::Duration;
//! use iris_task::{JobId, JobState, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp,
//!     WorkerId};
//!
//! let job = JobId::new("train")?;
//! let mut table = TaskTable::new();
//! for index in 0..4 {
//!     table.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
//! }
//!
//! // Schedule: two free slots, w1 then w2; the oldest pending tasks get them.
//! let mut free = vec![WorkerId::new("w1")?, WorkerId::new("w2")?].into_iter();
//! let assigned = table.schedule(Timestamp::from_millis(100), |_task| free.next());
//! assert_eq!(assigned.len(), 2);
//! assert_eq!(table.counts().get(StateKind::Assigned), 2);
//!
//! // Neither worker confirms: after the dispatch deadline both tasks are requeued, free of
//! // charge, at the back of the queue.
//! let requeued = table.expire_assigned(Timestamp::from_millis(30_101), Duration::from_secs(30));
//! assert_eq!(requeued.len(), 2);
//! assert!(requeued.iter().all(|(_, step)| step.from == StateKind::Assigned && step.to == StateKind::Pending));
//! assert_eq!(table.pending().count(), 4);
//! // The job has started: it reads RUNNING while its tasks wait for their retry.
//! assert_eq!(table.job_state(&job), Some(JobState::Running));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Today's Iris: preemption, gangs, MISSING
//!
//! Iris grew after ASSIGNED, and so did the crate (release 0.2): **PREEMPTED** (wire 10), for a
//! task whose resources the scheduler or the cluster took back once too often;
//! **COSCHED_FAILED** (11), for the members of a coscheduled job (a gang) stopped because one of
//! them ended for good; and **MISSING** (12), which a worker reports for an attempt it has no
//! record of, and which is never stored. The rules are in [The rules](#the-rules) below.
//!
//! **Preemption.** [`Task::<Assigned>::preempt`] requeues free of charge; on an executing task,
//! `preempt` returns a [`Retry<Preempted>`](Retry): requeued while the preemption budget lasts,
//! PREEMPTED after. A worker may report PREEMPTED (an eviction it saw) with the same effect.
//!
//! ```
//! use iris_task::{JobId, Retry, RetryPolicy, StateKind, Task, TaskId, Timestamp, WorkerId};
//!
//! let at = Timestamp::from_millis;
//! let once = RetryPolicy { max_retries_preemption: 1, ..RetryPolicy::default() };
//! let task = Task::new(TaskId::new(JobId::new("batch")?, 0), once);
//!
//! // Preempted before the worker confirmed it: free.
//! let task = task.assign(WorkerId::new("w1")?, at(1)).preempt("prod needs w1", at(2));
//! // Preempted while running: the budget pays, and the compiler makes us look at the outcome.
//! let task = match task.assign(WorkerId::new("w2")?, at(3)).start(at(4)).preempt("prod needs w2", at(5)) {
//!     Retry::Requeued(task) => task,
//!     Retry::Exhausted(_) => unreachable!("one preemption is allowed"),
//! };
//! assert_eq!(task.preemption_count(), 1);
//! let Retry::Exhausted(ended) = task.assign(WorkerId::new("w3")?, at(6)).start(at(7)).preempt("again", at(8)) else {
//!     unreachable!("the second spends the budget");
//! };
//! assert_eq!(ended.state(), StateKind::Preempted);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Kills the worker made, and MISSING.** A KILLED report is a *worker-side ending* (an OOM
//! killer, a node drain): it spends the preemption budget once started, and a task that runs out
//! ends WORKER_FAILED, not KILLED. MISSING ends the open attempt WORKER_FAILED with the error
//! [`MISSING_ERROR`]. So record your own [`Kill`](TaskEvent::Kill) or
//! [`Preempt`](TaskEvent::Preempt) *before* telling a worker to stop: its KILLED answer is then a
//! duplicate, accepted and ignored.
//!
//! ```
//! use iris_task::{AnyTask, AttemptId, JobId, MISSING_ERROR, RetryPolicy, StateKind, Task, TaskEvent,
//!     TaskId, Timestamp, WorkerId, WorkerReport};
//!
//! let w1 = WorkerId::new("w1")?;
//! let report = |report, ms| TaskEvent::Report {
//!     worker: WorkerId::new("w1").unwrap(),
//!     attempt: AttemptId::new(0),
//!     report,
//!     at: Timestamp::from_millis(ms),
//! };
//! let running = || -> Result<AnyTask, Box<dyn std::error::Error>> {
//!     let task = Task::new(TaskId::new(JobId::new("job")?, 0), RetryPolicy::default());
//!     Ok(task.assign(WorkerId::new("w1")?, Timestamp::from_millis(1)).start(Timestamp::from_millis(2)).into())
//! };
//!
//! // The controller preempts first, then tells w1 to stop: w1's KILLED is a duplicate.
//! let mut task = running()?;
//! task.apply(TaskEvent::Preempt { reason: "priority".into(), at: Timestamp::from_millis(3) })?;
//! let answer = task.apply(report(WorkerReport::Killed { error: "stopped".into() }, 4))?;
//! assert!(!answer.changed());
//!
//! // Unasked, the same report is a worker-side ending that the preemption budget pays for.
//! let mut task = running()?;
//! task.apply(report(WorkerReport::Killed { error: "OOM killer".into() }, 3))?;
//! assert_eq!((task.state(), task.preemption_count()), (StateKind::Pending, 1));
//!
//! // A restarted worker has no record of the attempt.
//! let mut task = running()?;
//! task.apply(report(WorkerReport::Missing, 3))?;
//! assert_eq!(task.current_attempt().and_then(|a| a.error()), Some(MISSING_ERROR));
//! # let _ = w1;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Gangs and jobs that end.** Tell the table a job's [`JobPolicy`] with
//! [`set_job_policy`](TaskTable::set_job_policy). A coscheduled job runs as a gang:
//! [`schedule`](TaskTable::schedule) offers its pending tasks as one unit, placed whole (one
//! member per worker) or not at all, and when a member's attempt ends (other than SUCCEEDED or a controller's kill), its
//! active siblings follow in the same call, charged nothing: requeued with it (right after it in
//! the queue) if it was requeued, COSCHED_FAILED if it ended for good. Any job the table knows
//! that ends (FAILED, KILLED, UNSCHEDULABLE, WORKER_FAILED) has its remaining tasks killed, with
//! the job's error as the reason. The table keeps each job's state, judged in Iris's order
//! after every change ([`TaskTable::job`]): a job fails once its FAILED attempts, retried ones
//! included, exceed its `max_task_failures`. The [`Changes`] a call returns list all of it, in
//! order, tasks and jobs.
//!
//! ```
//! use iris_task::{AttemptId, JobId, JobPolicy, JobState, RetryPolicy, StateKind, Task, TaskEvent,
//!     TaskId, TaskTable, Timestamp, WorkerId, WorkerReport};
//!
//! let slice = JobId::new("tpu/slice")?;
//! let mut table = TaskTable::new();
//! // A gang that tolerates one failed attempt in all.
//! let gang = JobPolicy { coscheduled: true, max_task_failures: 1 };
//! table.set_job_policy(slice.clone(), gang);
//! let retry_once = RetryPolicy { max_retries_failure: 1, ..RetryPolicy::default() };
//! for index in 0..3 {
//!     table.insert(Task::new(TaskId::new(slice.clone(), index), retry_once))?;
//! }
//! let workers = ["w0", "w1", "w2"].map(|w| WorkerId::new(w).unwrap());
//! // The gang is offered as one unit: one worker per member, or it waits whole.
//! table.schedule(Timestamp::from_millis(1), |offer| Some(workers[..offer.len()].to_vec()));
//!
//! // Member 1 exits 1: it is requeued (one retry allowed), and the gang with it.
//! let failed = |ms| TaskEvent::Report {
//!     worker: WorkerId::new("w1").unwrap(),
//!     attempt: AttemptId::new(0),
//!     report: WorkerReport::Failed { exit_code: 1, error: "exit 1".into() },
//!     at: Timestamp::from_millis(ms),
//! };
//! let changes = table.apply(&TaskId::new(slice.clone(), 1), failed(5))?;
//! let moved: Vec<(u32, StateKind)> = changes.iter().map(|(id, step)| (id.index(), step.to)).collect();
//! assert_eq!(moved, [(1, StateKind::Pending), (0, StateKind::Pending), (2, StateKind::Pending)]);
//! let siblings_charged: u32 = table.tasks_of(&slice).map(|task| task.preemption_count()).sum();
//! assert_eq!(siblings_charged, 0);
//! assert_eq!(table.job_state(&slice), Some(JobState::Running), "started, waiting to run again");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durable state
//!
//! A controller that forgets its tasks when it restarts is not a controller. With the `sqlite`
//! feature, [`DurableTable`] keeps a [`TaskTable`] in an SQLite file: every call that changes
//! tasks returns only after its transaction committed (the store writes exactly the tasks the
//! call's [`Changes`] name), [`DurableTable::open`] rebuilds the table exactly (the same tasks,
//! pending order, dispatch-deadline order, per-worker lists, job policies, job states and errors,
//! and counts) after a stop or a `kill -9`, and [`batch`](DurableTable::batch) puts a controller's tick in one
//! transaction. One process writes a store at a time (a second `open` is
//! [`StoreError::Locked`]); a row that describes an impossible task is [`StoreError::Corrupt`],
//! never repaired; [`remove_job`](DurableTable::remove_job) prunes a finished job's rows, so a
//! long-running controller stays flat in memory and on disk.
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use iris_task::{AttemptId, DurableTable, JobId, RetryPolicy, SqliteStore, StateKind, Task,
//!     TaskEvent, TaskId, Timestamp, WorkerId, WorkerReport};
//!
//! let dir = std::env::temp_dir().join(format!("iris-task-guide-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("controller.db");
//! # let _ = std::fs::remove_file(&path);
//! let job = JobId::new("train")?;
//! {
//!     let mut table = DurableTable::open(SqliteStore::open(&path)?)?;
//!     // One tick, one transaction: three tasks in, two scheduled.
//!     let mut free = vec![WorkerId::new("w1")?, WorkerId::new("w2")?].into_iter();
//!     table.batch(|tick| {
//!         for index in 0..3 {
//!             tick.insert(Task::new(TaskId::new(job.clone(), index), RetryPolicy::default()))?;
//!         }
//!         tick.schedule(Timestamp::from_millis(1), |_| free.next());
//!         Ok::<(), iris_task::TableError>(())
//!     })??;
//!     let running = TaskEvent::Report {
//!         worker: WorkerId::new("w1")?,
//!         attempt: AttemptId::new(0),
//!         report: WorkerReport::Running,
//!         at: Timestamp::from_millis(2),
//!     };
//!     table.apply(&TaskId::new(job.clone(), 0), running)?;
//! } // the process stops here, or is killed: what returned Ok is in the file
//!
//! let table = DurableTable::open(SqliteStore::open(&path)?)?;
//! let counts = table.table().counts();
//! assert_eq!((counts.get(StateKind::Running), counts.get(StateKind::Assigned)), (1, 1));
//! let queue: Vec<u32> = table.table().pending().map(|task| task.id().index()).collect();
//! assert_eq!(queue, [2]);
//! # drop(table);
//! # std::fs::remove_dir_all(&dir)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Operators can read the store with `sqlite3` while the controller runs: the tables are `jobs`,
//! `tasks` (`state` as the wire number), `task_attempts` and `schema_version`, as in Iris, and
//! `records`, the controller's own data ([`Record`]) kept in the same transactions.
//!
//! With the `postgres` feature the same table lives in PostgreSQL: `PostgresStore::connect`
//! takes libpq-style parameters, holds a session advisory lock as its one-writer lock, and keeps
//! the same schema, rows and checks. Its client blocks, so call it from a plain thread or an async
//! runtime's blocking pool. Recovery costs about as much as reading the rows twice: a million
//! tasks open in a little over a second on SQLite.
//!
//! # A controller for Iris's own workers and CLI
//!
//! Iris's workers and its `iris` CLI speak the Connect protocol (unary calls over HTTP/1.1,
//! binary protobuf) to `iris.cluster.ControllerService`, and the controller drives each worker by
//! calling its `WorkerService/Reconcile` about once a second. The crate gives a controller every
//! piece that decides something: the messages ([`today`]), the launch read
//! ([`LaunchJobRequest::to_launch`](today::cluster::controller::LaunchJobRequest::to_launch)),
//! the desired set and the judging of the answer ([`TaskTable::reconcile_request`],
//! [`TaskTable::reconcile`]), the refusals as Connect errors ([`connect`]), and a place for the
//! controller's own data in the table's transactions ([`Record`], [`Batch::put_record`]). The
//! HTTP is the controller's: the repository's `examples/controller` serves Iris's door on axum
//! over a [`DurableTable`], and unmodified Iris workers and the `iris` CLI run jobs through it.
//!
//! # Speaking today's Iris
//!
//! Today's Iris (the pinned marin-iris 0.2.227.dev40316220070) speaks another wire than the one
//! [`proto`] holds. [`today`] has its messages, generated from a proto3 transcription of the
//! wheel's own `.proto` files and checked against the wheel's descriptors field by field:
//!
//! - [`today::job`] (package `iris.job`): `TaskStatus`, `TaskAttempt`, `JobStatus`,
//!   `RunTaskRequest`, `WorkerMetadata`; [`today::time`]: every time is an `iris.time.Timestamp`;
//!   [`today::cluster`]: the `Controller.*` and `Worker.*` messages of `iris.cluster`.
//! - Ids are paths: a job is `/<user>/<job>` (a child `/<user>/<job>/<child>`), a task its job
//!   and index, `/alice/train/0` ([`TaskId::from_path`], [`TaskId::path`]). Job names may hold
//!   spaces within a part, as Iris's do.
//! - Every attempt has an [`AttemptUid`]: 16 hex characters, minted by the table at each
//!   assignment ([`UidMinter`], seedable for tests), kept by the store, and the key by which
//!   workers are told what to run and report what they see. An attempt from before uids (a 0.2
//!   store, a seed-era peer) has [`AttemptUid::legacy`], a fixed hash of its task and attempt.
//! - Workers no longer report. About once a second the controller pushes each worker its
//!   complete desired set (`WorkerService/Reconcile`), and the worker answers with what it
//!   observes of each attempt. Both halves are library calls, plain functions of the table and
//!   the messages: [`TaskTable::reconcile_request`] builds the set (runs, and stop orders for the
//!   attempts the controller ended, [`Attempt::awaits_stop`]), and [`TaskTable::reconcile`]
//!   applies the answer under the same rules as every other event.
//!
//! A Reconcile round:
//!
//! ```
//! use iris_task::today::cluster::worker::{AttemptObservation, ReconcileResponse, desired_attempt::Intent};
//! use iris_task::today::job::{RunTaskRequest, TaskState};
//! use iris_task::{JobId, RetryPolicy, StateKind, Task, TaskId, TaskTable, Timestamp, WorkerId};
//!
//! let mut table = TaskTable::new();
//! let task = TaskId::from_path("/alice/train/0")?;
//! let w1 = WorkerId::new("w1")?;
//! table.insert(Task::new(task.clone(), RetryPolicy::default()))?;
//! table.assign(&task, w1.clone(), Timestamp::from_millis(1_000))?;
//!
//! // The desired set: the ASSIGNED attempt runs with its job's spec (the controller keeps the
//! // job's RunTaskRequest; the crate fills in the task, the attempt and its uid).
//! let request = table.reconcile_request(&w1, |_task| Some(RunTaskRequest::default()));
//! let uid = request.desired[0].attempt_uid.clone().unwrap();
//! assert!(matches!(&request.desired[0].intent, Some(Intent::Run(run)) if run.request.is_some()));
//!
//! // ... the controller sends it, and the worker answers what it sees.
//! let answer = ReconcileResponse {
//!     worker_id: Some("w1".into()),
//!     observed: vec![AttemptObservation {
//!         attempt_uid: Some(uid),
//!         state: Some(TaskState::Running as i32),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let reconciled = table.reconcile(&w1, answer, Timestamp::from_millis(2_000))?;
//! assert!(reconciled.refused.is_empty());
//! assert_eq!(table.get(&task).map(|task| task.state()), Some(StateKind::Running));
//!
//! // Cancelled: the task ends at once, and the worker is told to stop until it confirms.
//! table.kill_job(&JobId::from_path("/alice/train")?, "cancelled", Timestamp::from_millis(3_000));
//! let request = table.reconcile_request(&w1, |_task| None);
//! assert!(matches!(request.desired[0].intent, Some(Intent::Stop(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The two wires hold the same tasks: a status converts to either ([`AnyTask::from_proto`],
//! [`AnyTask::from_today`]) through one set of checks, and the crate's own additions travel on
//! both (the assignment time, the uid, a stop not yet confirmed: fields numbered from 100 that
//! Iris ignores). Statuses from Iris's own controller decode as Iris means them: an open attempt
//! or an unconfirmed stop has no time on Iris's wire, and is dated on receipt
//! ([`AnyTask::from_today_received`]); an attempt whose worker Iris has removed gets
//! [`today::REMOVED_WORKER`]. [`today::Launch`] and [`today::Registration`] read a
//! `LaunchJobRequest` and a `RegisterRequest` as Iris's controller reads them.
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
//! | WORKER_FAILED | 7 | terminal | its started attempts kept ending on the worker side (worker lost, killed on the worker, forgotten), and its preemption budget is spent |
//! | UNSCHEDULABLE | 8 | terminal | no worker could take it before its scheduling deadline |
//! | ASSIGNED | 9 | active | matched to a worker, attempt open, resources committed, RunTask maybe in flight |
//! | PREEMPTED | 10 | terminal | the scheduler or the cluster took its resources (a higher-priority task, an eviction), and its preemption budget is spent |
//! | COSCHED_FAILED | 11 | terminal | a task of the same coscheduled job ended for good, and this one was stopped with it; no budget charged |
//! | MISSING | 12 | report only | the worker has no record of the attempt; never a task's or an attempt's state (decoding one is an error) |
//!
//! *Active* states hold a worker and an open attempt; *executing* ones are active and confirmed by
//! the worker. Terminal states accept no event (a repeated final report is absorbed as a
//! duplicate). Numbers no state has, such as 13 from a newer peer, are decoding errors.
//!
//! ## Attempts
//!
//! Every assignment opens an attempt. Attempt ids are 0, 1, 2, …, one per assignment, never
//! reused. Only the last attempt may be open, and a task leaves an active state by closing it in
//! the same step (state and finish time), so no attempt is left open behind its task. The
//! *current attempt* is the last one, open or closed (`current_attempt_id` on the wire, -1 before
//! the first assignment).
//!
//! ## Retry budgets: who pays
//!
//! A [`RetryPolicy`] allows `max_retries_failure` requeues after failures (default 0) and
//! `max_retries_preemption` after worker-side endings (default 100). The counts are derived from
//! the attempts, never stored: [`failure_count`](Task::failure_count) counts attempts that ended
//! FAILED; [`preemption_count`](Task::preemption_count) counts the *worker-side endings* of
//! attempts that had started (BUILDING or RUNNING). A worker-side ending is an attempt that ended
//! for a reason outside the task and other than a controller's kill: WORKER_FAILED (worker lost,
//! RunTask failed, dispatch deadline, or MISSING), PREEMPTED, or a KILLED the worker reported
//! unasked. On the wire such an attempt has `is_worker_failure = true`
//! ([`Attempt::is_worker_failure`]).
//!
//! When an executing attempt fails, the task is requeued if the failure count, this one
//! included, is within the budget, and ends FAILED otherwise. When it has a worker-side ending,
//! the same with the preemption budget; a task that runs out ends PREEMPTED if the last ending
//! was a preemption, WORKER_FAILED otherwise (a worker-reported KILLED too, as in Iris: such a
//! task did not fail, and no one cancelled it). An execution timeout ends the task FAILED with no
//! retry, whatever its budget. **A worker-side ending before the start charges nothing**: a worker lost, a RunTask RPC failed, a dispatch deadline passed, a
//! preemption, a KILLED or a MISSING while the task is ASSIGNED requeues it whatever the budgets
//! say. A controller's kill is not a worker-side ending; a gang sibling's COSCHED_FAILED attempt
//! charges neither budget.
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
//! | ASSIGNED, BUILDING, RUNNING | report SUCCEEDED | SUCCEEDED | closes, exit 0 (never started, from ASSIGNED) | – |
//! | ASSIGNED, BUILDING, RUNNING | report FAILED | PENDING or FAILED | closes FAILED (never started, from ASSIGNED) | failure |
//! | ASSIGNED | worker lost, report WORKER_FAILED, dispatch deadline | PENDING | closes WORKER_FAILED, never started | none |
//! | BUILDING, RUNNING | worker lost, report WORKER_FAILED | PENDING or WORKER_FAILED | closes WORKER_FAILED | preemption |
//! | ASSIGNED, BUILDING, RUNNING | kill | KILLED | closes KILLED | – |
//! | ASSIGNED | preempt, report PREEMPTED, KILLED or MISSING | PENDING | closes PREEMPTED, KILLED (on the worker) or WORKER_FAILED, never started | none |
//! | BUILDING, RUNNING | preempt, report PREEMPTED | PENDING or PREEMPTED | closes PREEMPTED | preemption |
//! | BUILDING, RUNNING | report KILLED or MISSING | PENDING or WORKER_FAILED | closes KILLED (on the worker) or WORKER_FAILED | preemption |
//! | BUILDING, RUNNING | execution timeout | FAILED (no retry) | closes FAILED, no exit code | failure |
//! | active | sibling failed | COSCHED_FAILED | closes COSCHED_FAILED | – |
//! | active | sibling requeued | PENDING | closes COSCHED_FAILED | – |
//!
//! A report may skip forward: RUNNING without BUILDING starts the attempt at the report's time;
//! SUCCEEDED or FAILED for an ASSIGNED task (a short task whose RUNNING report was lost) closes
//! the attempt with no start recorded, as Iris records it: nobody reported one. Either way the
//! failure budget pays for a FAILED. A report may never go backwards (RUNNING → BUILDING). Workers report BUILDING, RUNNING, SUCCEEDED, FAILED,
//! WORKER_FAILED, PREEMPTED, KILLED and MISSING; PENDING, ASSIGNED, UNSCHEDULABLE, COSCHED_FAILED
//! and UNSPECIFIED in a report are decoding errors.
//!
//! What each closed attempt looks like, and what may follow it (the decoder checks this):
//!
//! | attempt closed | `is_worker_failure` | another attempt may follow | may end the task as |
//! |---|---|---|---|
//! | SUCCEEDED | false | no | SUCCEEDED |
//! | FAILED | false | yes | FAILED |
//! | WORKER_FAILED | true | yes | WORKER_FAILED (if it had started) |
//! | PREEMPTED | true | yes | PREEMPTED (if it had started) |
//! | KILLED by the controller | false | no | KILLED |
//! | KILLED on the worker | true | yes | WORKER_FAILED (if it had started) |
//! | COSCHED_FAILED | false | yes | COSCHED_FAILED |
//!
//! A COSCHED_FAILED task keeps its own finish time and error on the wire: when they equal its last
//! attempt's, it ended with that attempt; otherwise it ended while pending, after it (0.2 stopped
//! pending members too; 0.3 no longer does, and still reads such a task). MISSING ends the open
//! attempt with the error [`MISSING_ERROR`], `worker_lost_spec`, Iris's words.
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
//! 3. a report that repeats what the current attempt records → accepted, nothing changes, the
//!    first report's exit code and error stay: at-least-once delivery is safe, also after the task
//!    was requeued. For an open attempt that is BUILDING or RUNNING again; for a closed one, the
//!    state it closed with, MISSING (the worker forgot an attempt that is over), or KILLED after a
//!    kill, a preemption or a gang's requeue or stop (the worker confirming that it stopped what
//!    it was told to);
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
//! the changes that have no error to return (the typed transitions, gang siblings, job-end kills,
//! and each task of [`worker_lost`](TaskTable::worker_lost) and
//! [`expire_assigned`](TaskTable::expire_assigned)) are stamped with `at` or the task's latest
//! time, whichever is later. Worker clocks are not
//! trusted: [`TaskEvent::from_report`] stamps every report with the controller's `received_at`.
//! The dispatch deadline expires an ASSIGNED task when `now - assigned_at > max_wait`, exactly.
//!
//! ## Gangs: coscheduled jobs
//!
//! In a [`TaskTable`] told a job's policy with `coscheduled: true`, when an attempt of one of its
//! tasks (the trigger) ends other than SUCCEEDED and other than by a controller's kill, because of
//! the event the caller passed (a report, a preemption, an execution timeout, a worker loss, a
//! dispatch failure or deadline), its *active* siblings follow in the same call, in task-index
//! order, charged nothing:
//!
//! - the trigger ended for good (FAILED, WORKER_FAILED, PREEMPTED): each active sibling ends
//!   COSCHED_FAILED, its attempt closed COSCHED_FAILED, the error naming the trigger;
//! - the trigger was requeued: each active sibling is requeued too, its attempt closed
//!   COSCHED_FAILED. Requeued siblings join the pending queue right after the trigger, in index
//!   order, so the gang is rescheduled together.
//!
//! Pending siblings stay as they are, as in Iris: if the job ended, the job-end rule below stops
//! them (KILLED); if it did not (it tolerates the failure), they are placed again, as a gang of
//! those left. A [`SiblingFailed`](TaskEvent::SiblingFailed) or
//! [`SiblingRequeued`](TaskEvent::SiblingRequeued) the caller passes to an active member ends its
//! attempt, and so is a trigger too; to a pending member, both are illegal. Endings made by this
//! rule or by the job-end rule are never triggers: cascades do not recurse. Siblings and job-end
//! kills are stamped with the call's time, or their own latest time if later.
//! [`worker_lost`](TaskTable::worker_lost) and [`expire_assigned`](TaskTable::expire_assigned) are
//! a sequence of single-task events, one per task in their stated order, each with its cascade; a
//! task no longer active on that worker (or no longer ASSIGNED) when its turn comes is skipped,
//! so a member lost together with an earlier-assigned trigger is requeued as a sibling, not
//! charged. Preempting one member requeues the gang (a later preempt of another member, now
//! pending, is illegal). Members that already SUCCEEDED stay SUCCEEDED: a terminal task absorbs
//! every event, and Iris does not restart them either. Budgets stay per task, and the job's
//! `max_task_failures` applies to a gang as to any job: a gang that tolerates two failed attempts
//! comes back twice. Only the trigger's own FAILED attempt counts toward it: a sibling's
//! COSCHED_FAILED attempt is no failure. A gang that goes down for good, its job within the
//! tolerance, ends WORKER_FAILED once every member has ended (rule 5 below: COSCHED_FAILED
//! members), unless an earlier rule matched.
//!
//! **Placement.** [`schedule`](TaskTable::schedule) offers a coscheduled job's pending tasks as one
//! unit ([`Offer`]), placed whole or not at all, one member per worker, as Iris's scheduler places
//! a gang (an answer that names a worker twice places nothing);
//! [`assign`](TaskTable::assign) is the low-level call that can place one member alone.
//! A scheduling timeout ends no attempt and is no trigger: its job turns UNSCHEDULABLE and the
//! job-end rule stops the rest.
//!
//! ## Jobs: their state, their end, their error
//!
//! The table keeps each job's state ([`TaskTable::job`], [`TaskTable::job_state`], O(1)) and judges
//! it again after every change to the job's tasks, in Iris's order (its `recompute_state`); the
//! first rule that matches decides:
//!
//! 1. every task SUCCEEDED → SUCCEEDED;
//! 2. the job's FAILED attempts, counted over every attempt of every task since it began,
//!    retried ones included, exceed `max_task_failures` (default 0: the first failed attempt
//!    fails the job, whatever its tasks' retries) → FAILED; gangs count the same;
//! 3. any task UNSCHEDULABLE → UNSCHEDULABLE;
//! 4. any task KILLED → KILLED;
//! 5. every task ended, any WORKER_FAILED, PREEMPTED or COSCHED_FAILED → WORKER_FAILED;
//! 6. every task ended → FAILED (a FAILED task within the tolerance still fails its job: a task
//!    that can never succeed);
//! 7. a task ASSIGNED, BUILDING or RUNNING, or the job started (a task was ever assigned) →
//!    RUNNING;
//! 8. otherwise PENDING.
//!
//! A job that has ended keeps its state: later changes do not judge it again, and an ended job
//! takes no new task ([`TableError::JobEnded`]). The one exception is
//! [`kill_job`](TaskTable::kill_job), the cancel: it kills the job's tasks that have not ended and
//! records the job KILLED, also when it had ended WORKER_FAILED (recording that someone chose to
//! stop it); any other ended state stays. A cancel also cancels the job's descendants: job ids are
//! paths, as in Iris (`/user/train` launched `/user/train/eval`). A job that ends gets an error in
//! Iris's words ([`Job::error`]): the cancel's reason, `Cumulative failed task attempts exceeded
//! max_task_failures: failures=N, limit=M` and the first task error, or the first task error (the
//! task that ended first, its own ending before a gang sibling's echo of it). The job's state
//! changes are in the [`Changes`] a call returns ([`Changes::jobs`]), beside its tasks'.
//!
//! Telling a job's policy ([`set_job_policy`](TaskTable::set_job_policy)) changes no task and does
//! not judge the job by itself: its next task change does, as Iris judges a job when one of its
//! tasks changes, so a job already over a lowered limit ends then, stopping the rest.
//! [`insert_job`](TaskTable::insert_job) and [`from_jobs`](TaskTable::from_jobs) add a job's tasks
//! together and judge it once, for jobs whose tasks have already run.
//!
//! **Jobs that end stop their tasks.** In a table that knows a job's policy, when the job's state
//! turns FAILED, KILLED, UNSCHEDULABLE or WORKER_FAILED within a call to `apply`, `worker_lost` or
//! `expire_assigned`, its tasks that have not ended are killed in the same call, in index order,
//! after any gang cascade, with Iris's reason: the job's error, or without one its state's
//! (`Job failed`, `Job was terminated.`, `Job could not be scheduled.`, `Preemption budget
//! exhausted`). `insert`, `insert_job`, `set_job_policy` and `assign` never change other tasks;
//! [`stop_ended_job`](TaskTable::stop_ended_job) applies the rule to a job that ended without
//! it (loaded ended, or re-judged by a store's upgrade).
//!
//! Tasks of jobs the table was never told about keep the rules of a single task: nothing
//! cascades. Their job's state is still kept, judged under the default policy, whose
//! `max_task_failures` is 0: the first FAILED attempt ends such a job FAILED for good while its
//! tasks go on retrying, and [`insert`](TaskTable::insert) then refuses the job new tasks. Iris
//! has no job without a policy; tell the table every job's, or insert a job's tasks together
//! with [`insert_job`](TaskTable::insert_job).
//!
//! Dashboards count tasks per state with ASSIGNED as its own bucket (on the wire a
//! `map<string, int32>` keyed by [label](StateKind::label)), and style each state with the CSS
//! class `status-<label>` and its [colour](StateKind::color): ASSIGNED is amber (`#bc4c00`), apart
//! from pending (`#9a6700`), building (`#8250df`) and running (`#0969da`); preempted is teal
//! (`#1b7c83`) and cosched_failed brown (`#6c3f1d`). Everything is deterministic: when one call
//! changes several tasks (a lost worker, an expired deadline), they are handled oldest assignment
//! first (ties: job id, then task index) and requeued in that order.
//!
//! # Differences from Iris
//!
//! The rules above are today's Iris's, and Iris itself checks them: the repository's
//! `tests/conformance` drives the controller kernel of marin-iris 0.2.227.dev40316220070 (the
//! PyPI wheel, pinned, run in process with its own testing helpers) and a [`TaskTable`] with the
//! same random scripts (1 to 3 jobs of 1 to 6 tasks with random budgets, gangs and child jobs, on
//! 1 to 4 workers: assignments, reports of every state, stale and duplicate reports and reports
//! from the wrong worker, lost workers, preemption, cancels, scheduling and execution timeouts),
//! and compares both after every step: each task's state, counts and attempts (each attempt's
//! state, whether it started, whether it finished), each job's state and error, and whether the
//! step changed anything (Iris's kernel says no more of a report it drops; the test also checks
//! that the crate's answer, `Err` or a [`Changes`], agrees with what it did). On 20,000 scripts
//! (12,000 placed as Iris's scheduler places them, a gang whole; 8,000 piecemeal) no difference
//! is left unexplained: 51.8% of the scripts are identical at every step, and every
//! other difference is one of the kinds below, each counted by the test and normalised, so that
//! it cannot hide a later one. CI runs 1,500 scripts; `IRIS_CONFORMANCE_SCRIPTS=12000
//! IRIS_CONFORMANCE_PIECEMEAL=8000 cargo test --test conformance` runs the 20,000.
//!
//! Where 0.2 and Iris disagreed and 0.3 follows Iris:
//!
//! | | case | Iris, and now the crate | 0.2 | pinned by (`tests/iris_rules.rs`) |
//! |---|---|---|---|---|
//! | A | `max_task_failures` | counts the job's FAILED attempts, retried ones included; default 0, so the first failure fails the job and stops the rest | counted FAILED tasks | `max_task_failures_counts_failed_attempts_retried_ones_included` |
//! | B | every task ended, a FAILED one within the tolerance | the job is FAILED | SUCCEEDED | `a_tolerated_failed_task_still_fails_its_job_once_every_task_has_ended` |
//! | C | a gang member ends for good | only its *active* siblings end COSCHED_FAILED; a gang is placed whole | pending ones too; placed task by task | `only_active_siblings_follow_a_gang_member_that_ended_for_good`, `schedule_places_a_gang_whole_or_not_at_all` |
//! | D | `max_task_failures` of a gang | applies | a gang tolerated nothing | `a_gang_tolerates_as_many_failed_attempts_as_its_job_allows` |
//! | I | cancelling a job that ended WORKER_FAILED | it becomes KILLED; every other ended state is final | stayed | `cancelling_a_worker_failed_job_makes_it_killed` |
//!
//! And what Iris had that 0.2 did not: the job's state kept, in Iris's order, and final once ended
//! ([`TaskTable::job`]); the job's error ([`Job::error`]), and the tasks it stops stopped with it;
//! the execution timeout ([`TaskEvent::ExecutionTimeout`], a gang trigger); Iris's words for
//! MISSING (`worker_lost_spec`), the scheduling timeout and a gang sibling's end; an end reported
//! before any start leaves the attempt unstarted; cancelling a job's descendants.
//!
//! Where the crate differs on purpose (each kind counted by the conformance test):
//!
//! | | case | Iris | the crate | why | pinned by |
//! |---|---|---|---|---|---|
//! | E | BUILDING reported after RUNNING | moves the task back to BUILDING | refuses the report ([`TransitionError::Regression`]) | a reordered report must not move an attempt backwards; Iris states no intent | `e_building_reported_after_running_is_refused_not_applied` |
//! | F | the controller kills a started attempt (cancel, job end) | counts it in `preemption_count` | does not | the task has ended; only the count differs, and Iris's own `task.py` says a cancel never charges | `f_a_controllers_kill_of_a_started_attempt_is_no_preemption` |
//! | G | a job ends while one of its tasks waits for a retry | rewrites the task's closed attempt to KILLED: a failed attempt then counts in the task's `preemption_count` instead of its `failure_count` (the job's state and error do not change) | leaves the closed attempt as it closed | an Iris bug, against `merge_task_termination`'s docstring | `g_a_job_end_leaves_the_closed_attempt_of_a_waiting_task_alone` |
//! | H | a lost worker held several members of one gang | charges whichever its query returns first | charges the earliest assigned (its preemption budget, if it had started), and requeues the rest with it as its siblings, free | a documented order; it cannot happen when gangs are placed one member per worker, as Iris and [`schedule`](TaskTable::schedule) place them | `h_a_lost_worker_charges_the_gang_member_assigned_first` |
//! | J | the controller ends an attempt (kill, preemption, a gang or job end, a timeout) | leaves it unfinished, its resources held, until the worker confirms (and sends the worker no new attempt while it holds a preempted one: the test has the worker confirm first) | closes it at once (the task's state agrees), and marks it [awaiting its stop](Attempt::awaits_stop): [`reconcile_request`](TaskTable::reconcile_request) sends the worker a stop order, and withholds new attempts beside a preempted one, until [`reconcile`](TaskTable::reconcile) sees the worker confirm; [`stops_on`](TaskTable::stops_on) lists what the worker still holds, [`worker_load`](TaskTable::worker_load) does not count it | the tasks' states agree; a scheduler that holds the resources as Iris does adds `stops_on` to the load | `j_an_attempt_the_controller_ends_is_closed_at_once`, `each_attempt_the_controller_ends_gets_its_stop_reason_until_the_worker_confirms` |
//! | K | a job's children (`/user/job/child`) | cancelled with it; also killed when it succeeds, and when it ends otherwise or its task is retried if its preemption policy says so (the default for a one-task job) | cancelled with it ([`kill_job`](TaskTable::kill_job)); a parent's end does not touch them | which children outlive a parent is the controller's choice: the crate keeps no launch-time preemption policy | `cancelling_a_job_cancels_its_descendants`, `k_a_child_job_outlives_its_parents_end_unless_cancelled` |
//!
//! Also different, and not among the compared fields: a MISSING report for a task that is not
//! active is a duplicate or stale here; Iris would end such a task FAILED, but drops the report
//! before (its attempt has closed), so the two never differ. A requeued task keeps its last
//! attempt's worker in `TaskStatus.worker_id`; Iris clears it. UNSCHEDULABLE in a worker's report
//! is an error here; Iris accepts it. A scheduling timeout's reason is `Scheduling timeout
//! exceeded` ([`SCHEDULING_TIMEOUT_REASON`], the kernel's own words); Iris's controller adds the
//! job's timeout in brackets, which the crate's event does not carry (the test passes the
//! kernel's words to both). The dispatch deadline ([`TaskTable::expire_assigned`]) is the crate's own: Iris
//! retries an undeliverable attempt, free of charge, instead.
//!
//! # Feature flags
//!
//! - `serde`: `Serialize` and `Deserialize` for tasks, ids, task and job states, policies, events,
//!   reports, transitions, counts and whole tables (snapshots). Off by default.
//! - `sqlite`: [`DurableTable`] over [`SqliteStore`] (rusqlite with SQLite bundled: no system
//!   library needed). Off by default.
//! - `postgres`: [`DurableTable`] over [`PostgresStore`] (the blocking `postgres` client, which
//!   runs tokio inside: called from an async runtime's thread it panics). Off by default.
//!
//! Without `sqlite` and `postgres` the crate does no I/O and pulls in no async runtime. It never
//! pulls in HTTP code: a controller serves Iris's Connect protocol with the HTTP library it
//! likes, and [`connect`] maps the crate's refusals to Connect's error codes.
//!
//! The crate needs Rust 1.85 or later, with any features.
//!
//! # Where things live
//!
//! - [`Task<S>`] and its transitions hold the rules, one impl block per state.
//! - [`State`], [`Active`], [`Executing`], [`Terminal`] and the state markers ([`Pending`], …);
//!   [`StateKind`] names the same states at run time.
//! - [`AnyTask`], [`TaskEvent`], [`WorkerReport`] and [`Transition`]: the run-time door.
//! - [`TaskTable`], [`StateCounts`], [`JobState`]: the controller's table and its dashboards.
//! - [`connect`]: the crate's refusals as Connect errors, for a controller's door.
//! - [`proto`]: the seed-era wire format; [`today`]: today's Iris wire, with Reconcile in
//!   [`TaskTable::reconcile_request`] and [`TaskTable::reconcile`]; ids ([`JobId`], [`TaskId`],
//!   [`WorkerId`], [`AttemptId`], [`AttemptUid`]), [`Timestamp`], policies ([`RetryPolicy`],
//!   [`JobPolicy`]).
//! - Errors live beside their concepts ([`IdError`], [`TransitionError`], [`ProtoError`],
//!   [`TableError`], …); [`Error`] wraps them all, for one `?`.
//!
//! The library never reads a clock: every transition takes the time it happened at.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The guide links the items of every feature; a build of the docs without some of them (CI and
// docs.rs build them with all) leaves those links as plain text rather than failing.
#![cfg_attr(
    not(all(feature = "serde", feature = "sqlite", feature = "postgres")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![deny(missing_docs)]

/// A module of code generated into `OUT_DIR` by `build.rs`: its generators' layout, so the
/// crate's hand-written lint rules do not judge it.
macro_rules! generated_code {
    (mod $name:ident = $file:literal) => {
        #[allow(
            missing_docs,
            clippy::all,
            clippy::pedantic,
            clippy::nursery,
            rustdoc::bare_urls,
            rustdoc::invalid_html_tags,
            rustdoc::invalid_rust_codeblocks,
            rustdoc::broken_intra_doc_links
        )]
        mod $name {
            include!(concat!(env!("OUT_DIR"), $file));
        }
    };
}

mod any;
mod attempt;
pub mod connect;
mod error;
mod id;
mod policy;
pub mod proto;
#[cfg(feature = "serde")]
mod serialization;
mod state;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod store;
mod table;
mod task;
pub mod today;
mod uid;

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
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use store::{Batch, DurableTable, Record, SCHEMA_VERSION, SchemaUpgrade, Store, StoreError};
#[cfg(feature = "sqlite")]
pub use store::{SqliteStore, Synchronous};
pub use table::{
    Changes, DISPATCH_DEADLINE_ERROR, IntoWorkers, Job, JobState, JobTransition, Offer,
    PARENT_JOB_TERMINATED_REASON, ParseJobStateError, ReconcileError, Reconciled, StateCounts,
    TableError, TaskTable,
};
pub use task::{EXECUTION_TIMEOUT_ERROR, MISSING_ERROR, Retry, Task};
pub use uid::{AttemptUid, UidMinter};

/// The `prost` this crate builds its [`proto`] types with: use it (`iris_task::prost::Message`)
/// to encode and decode them, so your version always matches.
pub use prost;

/// The README's examples, run as doc tests so that they cannot go stale. They show the durable
/// table too, and a reader sees every line of them, so they build with `sqlite` only (as
/// `cargo test --all-features` builds them) rather than hide a feature gate in each.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
