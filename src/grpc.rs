//! The Iris `ControllerService` as tonic code (the `grpc` feature): the server trait a controller
//! implements ([`controller_service_server::ControllerService`], served by
//! [`ControllerServiceServer`](controller_service_server::ControllerServiceServer)) and a client
//! ([`ControllerServiceClient`](controller_service_client::ControllerServiceClient)), over the
//! messages of [`proto`](crate::proto).
//!
//! Generated at build time from `proto/iris/controller.proto` by tonic-prost-build, fed by
//! protox (no `protoc`); the messages it names are the crate's own, so a
//! [`ReportTaskStateRequest`](crate::proto::ReportTaskStateRequest) that arrives here goes
//! straight to [`TaskEvent::from_report`](crate::TaskEvent::from_report).
//!
//! # The calls
//!
//! | call | who | what |
//! |---|---|---|
//! | `RegisterWorker` | worker | joins (or rejoins) and gets the token its later calls present |
//! | `PollTasks` | worker | collects its ASSIGNED attempts and its stop orders; its keep-alive |
//! | `ReportTaskState` | worker | reports on an attempt it runs (Iris's message, byte for byte) |
//! | `LaunchJob` | client | submits a job of `replicas` tasks with its retry budgets |
//! | `GetJobStatus`, `GetTaskStatus`, `ListTasks` | client | read jobs and tasks |
//! | `TerminateJob` | client | kills a job's unfinished tasks |
//!
//! Field numbers are Iris's where Iris has the message; fields Iris lacks are numbered from 100
//! (the token, the slots, `PollTasks`, `ListTasks` paging, `exclude_tasks`).
//!
//! # Workers pull their work
//!
//! Seed-era Iris pushes each assignment to its worker with a `WorkerService.RunTask` call, so
//! every worker runs a gRPC server. Here workers pull instead. A poll lists the attempts the
//! worker holds (`held`), and `PollTasks` answers with its ASSIGNED attempts it does not hold yet
//! (each as its task's [`TaskStatus`](crate::proto::TaskStatus), whose `current_attempt_id` names
//! the attempt) and a stop order for each held attempt that is no longer its to run (killed,
//! requeued, ended by its gang or its job, gone to another worker). A BUILDING or RUNNING attempt
//! the worker does not list ends as a
//! [`WorkerReport::Missing`](crate::WorkerReport::Missing) report: the worker restarted or lost
//! it. Stop orders are derived from the tasks on every poll, so none is lost with a lost answer
//! or a restarted controller. Workers need no open port, and a poll doubles as the keep-alive: a
//! worker that stops calling is declared lost after a heartbeat timeout, and its tasks go through
//! [`TaskEvent::WorkerLost`](crate::TaskEvent::WorkerLost).
//!
//! ASSIGNED keeps its meaning: the window between the scheduler's choice and the worker's first
//! report. An attempt its worker never collects, or collects and never confirms, before the
//! dispatch deadline goes back to PENDING free of charge
//! ([`TaskTable::expire_assigned`](crate::TaskTable::expire_assigned)), exactly as a RunTask
//! that never reached its worker would.
//!
//! # The token
//!
//! `RegisterWorker` returns a token; `PollTasks` and `ReportTaskState` present it in the
//! `x-iris-worker-token` request metadata (a header, so that `ReportTaskStateRequest` keeps
//! Iris's bytes), and so does a registration of a worker that is registered now (nobody takes
//! over a live worker's id). The reference controller answers:
//!
//! | the call | status |
//! |---|---|
//! | from a worker that never registered, without a token, or with a wrong one | `UNAUTHENTICATED` |
//! | a registration of a live worker's id without its token | `ALREADY_EXISTS` |
//! | a report about another worker's attempt | `PERMISSION_DENIED` |
//! | a malformed request (bad task id, negative attempt, a state workers do not report) | `INVALID_ARGUMENT` |
//! | bytes that are no protobuf message | `INTERNAL` (the gRPC library's status for it) |
//! | a message above the size limit | `RESOURCE_EXHAUSTED` |
//! | a task that does not exist | `NOT_FOUND` |
//! | a stale, repeated-backwards or illegal report | `FAILED_PRECONDITION` |
//! | no answer within the call timeout | `DEADLINE_EXCEEDED` |
//!
//! and a refused call changes nothing.
//!
//! # A worker, in a few lines
//!
//! ```no_run
//! use iris_task::grpc::controller_service_client::ControllerServiceClient;
//! use iris_task::proto::{PollTasksRequest, RegisterWorkerRequest, ReportTaskStateRequest, WorkerMetadata};
//! use iris_task::{AttemptId, TaskId, WorkerId, WorkerReport};
//!
//! /// A worker's call: the message and its token.
//! fn signed<T>(message: T, token: &str) -> Result<tonic::Request<T>, Box<dyn std::error::Error>> {
//!     let mut request = tonic::Request::new(message);
//!     request.metadata_mut().insert("x-iris-worker-token", token.parse()?);
//!     Ok(request)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut controller = ControllerServiceClient::connect("http://127.0.0.1:50051").await?;
//! let me = WorkerId::new("w1")?;
//! let token = controller
//!     .register_worker(RegisterWorkerRequest {
//!         worker_id: me.as_str().to_owned(),
//!         address: "10.0.0.7:8080".to_owned(),
//!         metadata: Some(WorkerMetadata { slots: 4, ..WorkerMetadata::default() }),
//!     })
//!     .await?
//!     .into_inner()
//!     .token;
//! // Holding nothing yet.
//! let poll = PollTasksRequest { worker_id: me.as_str().to_owned(), held: Vec::new() };
//! let work = controller
//!     .poll_tasks(signed(poll, &token)?)
//!     .await?
//!     .into_inner();
//! for assigned in work.run {
//!     let task: TaskId = assigned.task_id.parse()?;
//!     let attempt = AttemptId::new(u32::try_from(assigned.current_attempt_id)?);
//!     for report in [WorkerReport::Running, WorkerReport::Succeeded] {
//!         let report = ReportTaskStateRequest::new(&me, &task, attempt, &report);
//!         controller.report_task_state(signed(report, &token)?).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The repository's `examples/controller` implements the service over a
//! [`DurableTable`](crate::DurableTable), and `examples/workers` runs a fleet of such workers.

generated_code!(mod generated = "/grpc/iris.cluster.rs");

pub use generated::*;
