//! The gRPC door: `ControllerService` over the writer. Each call reads its request, then runs in
//! the writer thread, which owns every rule; nothing here decides anything but who is asking.

use iris_task::Store;
use iris_task::grpc::controller_service_server::ControllerService;
use iris_task::proto::{
    GetJobStatusRequest, GetJobStatusResponse, GetTaskStatusRequest, GetTaskStatusResponse,
    LaunchJobRequest, LaunchJobResponse, ListTasksRequest, ListTasksResponse, PollTasksRequest,
    PollTasksResponse, RegisterWorkerRequest, RegisterWorkerResponse, ReportTaskStateRequest,
    ReportTaskStateResponse, TerminateJobRequest, TerminateJobResponse,
};
use tonic::{Request, Response, Status};

use crate::writer::Writer;

/// The request metadata (gRPC header) that carries a worker's token.
pub const TOKEN_HEADER: &str = "x-iris-worker-token";

/// The controller's gRPC service.
pub struct Service<S: Store> {
    writer: Writer<S>,
}

impl<S: Store> Service<S> {
    /// The service over the writer thread.
    pub fn new(writer: Writer<S>) -> Service<S> {
        Service { writer }
    }
}

/// The token a worker's call presents, if any (a header that is not text reads as none).
fn token<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

#[tonic::async_trait]
impl<S: Store + Send + 'static> ControllerService for Service<S> {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        let token = token(&request);
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, now| core.register(request, token.as_deref(), now))
            .await?;
        Ok(Response::new(answer))
    }

    async fn report_task_state(
        &self,
        request: Request<ReportTaskStateRequest>,
    ) -> Result<Response<ReportTaskStateResponse>, Status> {
        let token = token(&request);
        let report = request.into_inner();
        let answer = self
            .writer
            .call(move |core, now| {
                core.authenticate(&report.worker_id, token.as_deref(), now)?;
                core.report(report, now)
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn launch_job(
        &self,
        request: Request<LaunchJobRequest>,
    ) -> Result<Response<LaunchJobResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, _| core.launch(&request))
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_job_status(
        &self,
        request: Request<GetJobStatusRequest>,
    ) -> Result<Response<GetJobStatusResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, _| core.job_status(&request))
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_task_status(
        &self,
        request: Request<GetTaskStatusRequest>,
    ) -> Result<Response<GetTaskStatusResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, _| core.task_status(&request))
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_tasks(
        &self,
        request: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, _| core.list_tasks(&request))
            .await?;
        Ok(Response::new(answer))
    }

    async fn terminate_job(
        &self,
        request: Request<TerminateJobRequest>,
    ) -> Result<Response<TerminateJobResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, now| core.terminate(&request, now))
            .await?;
        Ok(Response::new(answer))
    }

    async fn poll_tasks(
        &self,
        request: Request<PollTasksRequest>,
    ) -> Result<Response<PollTasksResponse>, Status> {
        let token = token(&request);
        let request = request.into_inner();
        let answer = self
            .writer
            .call(move |core, now| {
                let worker = core.authenticate(&request.worker_id, token.as_deref(), now)?;
                core.poll(&worker, &request, now)
            })
            .await?;
        Ok(Response::new(answer))
    }
}
