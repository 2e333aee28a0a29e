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
//! | a task or job that does not exist | `NOT_FOUND` |
//! | a job whose name is taken | `ALREADY_EXISTS` |
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
//! A real worker lists what it holds in every poll (`held`): a RUNNING attempt it leaves out is
//! ended MISSING and requeued.
//!
//! # A controller, in outline
//!
//! The server side is a trait with one `async fn` per call, implemented with
//! `#[tonic::async_trait]`; every call must be there (answer `unimplemented` for what you do not
//! serve). The crate maps its own refusals to statuses (the `From<TableError>` and
//! `From<ProtoError>` impls for [`Status`] below), and reads a launch with
//! [`LaunchJobRequest::to_launch`](crate::proto::LaunchJobRequest::to_launch):
//!
//! ```no_run
//! use std::sync::Mutex;
//!
//! use iris_task::grpc::controller_service_server::{ControllerService, ControllerServiceServer};
//! use iris_task::proto::*;
//! use iris_task::{TaskEvent, TaskTable, Timestamp};
//! use tonic::{Request, Response, Status};
//!
//! struct Controller {
//!     table: Mutex<TaskTable>,
//! }
//!
//! /// The crate never reads a clock: the controller brings its own.
//! fn now() -> Timestamp {
//!     let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
//!     let millis = epoch.unwrap_or_default().as_millis();
//!     Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
//! }
//!
//! #[tonic::async_trait]
//! impl ControllerService for Controller {
//!     async fn launch_job(
//!         &self,
//!         request: Request<LaunchJobRequest>,
//!     ) -> Result<Response<LaunchJobResponse>, Status> {
//!         let launch = request.into_inner().to_launch()?; // a bad request: INVALID_ARGUMENT
//!         let mut table = self.table.lock().map_err(|_| Status::internal("poisoned"))?;
//!         table.set_job_policy(launch.job.clone(), launch.policy);
//!         for task in launch.tasks() {
//!             table.insert(task)?; // a task it holds already: ALREADY_EXISTS
//!         }
//!         Ok(Response::new(LaunchJobResponse { job_id: launch.job.as_str().to_owned() }))
//!     }
//!
//!     async fn report_task_state(
//!         &self,
//!         request: Request<ReportTaskStateRequest>,
//!     ) -> Result<Response<ReportTaskStateResponse>, Status> {
//!         // Check the worker's token (request.metadata()) first, then:
//!         let (id, event) = TaskEvent::from_report(request.into_inner(), now())?;
//!         let mut table = self.table.lock().map_err(|_| Status::internal("poisoned"))?;
//!         table.apply(&id, event)?; // another worker's attempt: PERMISSION_DENIED, …
//!         Ok(Response::new(ReportTaskStateResponse {}))
//!     }
//!
//!     // RegisterWorker, PollTasks (schedule with `TaskTable::schedule`, answer with the
//!     // worker's ASSIGNED tasks from `TaskTable::tasks_on`), and the reads:
//!     async fn register_worker(
//!         &self,
//!         _: Request<RegisterWorkerRequest>,
//!     ) -> Result<Response<RegisterWorkerResponse>, Status> {
//!         Err(Status::unimplemented("RegisterWorker"))
//!     }
//! #   async fn poll_tasks(&self, _: Request<PollTasksRequest>)
//! #       -> Result<Response<PollTasksResponse>, Status> { Err(Status::unimplemented("")) }
//! #   async fn get_job_status(&self, _: Request<GetJobStatusRequest>)
//! #       -> Result<Response<GetJobStatusResponse>, Status> { Err(Status::unimplemented("")) }
//! #   async fn get_task_status(&self, _: Request<GetTaskStatusRequest>)
//! #       -> Result<Response<GetTaskStatusResponse>, Status> { Err(Status::unimplemented("")) }
//! #   async fn list_tasks(&self, _: Request<ListTasksRequest>)
//! #       -> Result<Response<ListTasksResponse>, Status> { Err(Status::unimplemented("")) }
//! #   async fn terminate_job(&self, _: Request<TerminateJobRequest>)
//! #       -> Result<Response<TerminateJobResponse>, Status> { Err(Status::unimplemented("")) }
//!     // … and so on for PollTasks, GetJobStatus, GetTaskStatus, ListTasks, TerminateJob.
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let controller = Controller { table: Mutex::new(TaskTable::new()) };
//! tonic::transport::Server::builder()
//!     .add_service(ControllerServiceServer::new(controller))
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! The repository's `examples/controller` is the whole of it: tokens, polls, the scheduler with
//! its dispatch deadline, one writer that commits calls in groups to a
//! [`DurableTable`](crate::DurableTable), a live dashboard; `examples/workers` runs a fleet of
//! workers against it.

generated_code!(mod generated = "/grpc/iris.cluster.rs");

pub use generated::*;

use tonic::{Code, Status};

use crate::{ProtoError, TableError, TransitionError};

/// The status a refusal of the table gets at the gRPC door: the rules of the table, mapped once.
///
/// | refusal | status |
/// |---|---|
/// | [`UnknownTask`](TableError::UnknownTask) | `NOT_FOUND` |
/// | [`DuplicateTask`](TableError::DuplicateTask) | `ALREADY_EXISTS` |
/// | [`Full`](TableError::Full) | `RESOURCE_EXHAUSTED` |
/// | a report about another worker's attempt ([`TransitionError::WrongWorker`]) | `PERMISSION_DENIED` |
/// | any other transition, [`NotPending`](TableError::NotPending), [`JobNotFinished`](TableError::JobNotFinished) | `FAILED_PRECONDITION` |
///
/// The message is the error's own.
///
/// ```
/// use iris_task::{JobId, TableError, TaskId};
///
/// let unknown = TableError::UnknownTask(TaskId::new(JobId::new("job")?, 9));
/// let status = tonic::Status::from(unknown);
/// assert_eq!(status.code(), tonic::Code::NotFound);
/// assert_eq!(status.message(), "task job/task-9 is not in the table");
/// # Ok::<(), iris_task::IdError>(())
/// ```
impl From<TableError> for Status {
    fn from(err: TableError) -> Status {
        let code = match &err {
            TableError::UnknownTask(_) | TableError::UnknownAttempt(_) => Code::NotFound,
            TableError::DuplicateTask(_) | TableError::DuplicateAttemptUid { .. } => {
                Code::AlreadyExists
            }
            TableError::Full(_) => Code::ResourceExhausted,
            TableError::Transition(TransitionError::WrongWorker { .. })
            | TableError::NotTheOwner { .. } => Code::PermissionDenied,
            TableError::Transition(
                TransitionError::Illegal { .. }
                | TransitionError::StaleAttempt { .. }
                | TransitionError::Regression { .. }
                | TransitionError::TimeWentBackwards { .. },
            )
            | TableError::NotPending { .. }
            | TableError::JobEnded { .. }
            | TableError::WrongJob { .. }
            | TableError::JobNotFinished { .. } => Code::FailedPrecondition,
        };
        Status::new(code, err.to_string())
    }
}

/// A request the crate cannot read ([`ProtoError`]: a malformed id, a negative attempt id or
/// count, a state workers do not report, …) is `INVALID_ARGUMENT`, with the error's message,
/// which names the field.
impl From<ProtoError> for Status {
    fn from(err: ProtoError) -> Status {
        Status::invalid_argument(err.to_string())
    }
}

/// A store's refusal: the table's own as [`From<TableError>`](#impl-From<TableError>-for-Status)
/// maps it; a database that failed a commit (the table is back to what the store holds; the
/// call may be retried) `UNAVAILABLE`; a poisoned table, a locked, corrupt or newer store
/// `INTERNAL`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<crate::StoreError> for Status {
    fn from(err: crate::StoreError) -> Status {
        use crate::StoreError;
        match err {
            StoreError::Table(err) => Status::from(err),
            StoreError::Database(_) => Status::unavailable(err.to_string()),
            StoreError::Locked { .. }
            | StoreError::Corrupt { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::Poisoned { .. } => Status::internal(err.to_string()),
        }
    }
}
