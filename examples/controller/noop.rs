//! The load figures' baseline: the same tonic service whose handlers do nothing. Every call
//! succeeds at once; `PollTasks` hands each worker as many made-up attempts as it registered
//! slots for, less those it holds, as the real controller fills a worker's free slots, so that a
//! worker makes the same calls, with messages of the same kind, as against the real controller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use iris_task::grpc::controller_service_server::ControllerService;
use iris_task::proto::{
    GetJobStatusRequest, GetJobStatusResponse, GetTaskStatusRequest, GetTaskStatusResponse,
    LaunchJobRequest, LaunchJobResponse, ListTasksRequest, ListTasksResponse, PollTasksRequest,
    PollTasksResponse, RegisterWorkerRequest, RegisterWorkerResponse, ReportTaskStateRequest,
    ReportTaskStateResponse, TaskState, TaskStatus, TerminateJobRequest, TerminateJobResponse,
};
use tonic::{Request, Response, Status};

/// Handlers that do nothing.
#[derive(Default)]
pub struct Noop {
    next: AtomicU32,
    /// Each worker's slots, as it registered them.
    slots: Mutex<HashMap<String, usize>>,
}

#[tonic::async_trait]
impl ControllerService for Noop {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        let request = request.into_inner();
        let slots = request
            .metadata
            .map_or(1, |m| usize::try_from(m.slots.max(1)).unwrap_or(1));
        if let Ok(mut known) = self.slots.lock() {
            known.insert(request.worker_id, slots);
        }
        Ok(Response::new(RegisterWorkerResponse {
            accepted: true,
            token: "noop".to_owned(),
        }))
    }

    async fn report_task_state(
        &self,
        _: Request<ReportTaskStateRequest>,
    ) -> Result<Response<ReportTaskStateResponse>, Status> {
        Ok(Response::new(ReportTaskStateResponse {}))
    }

    async fn launch_job(
        &self,
        request: Request<LaunchJobRequest>,
    ) -> Result<Response<LaunchJobResponse>, Status> {
        Ok(Response::new(LaunchJobResponse {
            job_id: request.into_inner().name,
        }))
    }

    async fn get_job_status(
        &self,
        _: Request<GetJobStatusRequest>,
    ) -> Result<Response<GetJobStatusResponse>, Status> {
        Ok(Response::new(GetJobStatusResponse::default()))
    }

    async fn get_task_status(
        &self,
        _: Request<GetTaskStatusRequest>,
    ) -> Result<Response<GetTaskStatusResponse>, Status> {
        Ok(Response::new(GetTaskStatusResponse::default()))
    }

    async fn list_tasks(
        &self,
        _: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        Ok(Response::new(ListTasksResponse::default()))
    }

    async fn terminate_job(
        &self,
        _: Request<TerminateJobRequest>,
    ) -> Result<Response<TerminateJobResponse>, Status> {
        Ok(Response::new(TerminateJobResponse {}))
    }

    async fn poll_tasks(
        &self,
        request: Request<PollTasksRequest>,
    ) -> Result<Response<PollTasksResponse>, Status> {
        let request = request.into_inner();
        let slots = self
            .slots
            .lock()
            .ok()
            .and_then(|known| known.get(&request.worker_id).copied())
            .unwrap_or(1);
        let free = slots.saturating_sub(request.held.len());
        let run = (0..free)
            .map(|_| {
                let index = self.next.fetch_add(1, Ordering::Relaxed);
                TaskStatus {
                    task_id: format!("noop/task-{index}"),
                    job_id: "noop".to_owned(),
                    task_index: i32::try_from(index).unwrap_or(i32::MAX),
                    state: TaskState::Assigned as i32,
                    worker_id: request.worker_id.clone(),
                    current_attempt_id: 0,
                    ..TaskStatus::default()
                }
            })
            .collect();
        Ok(Response::new(PollTasksResponse {
            run,
            stop: Vec::new(),
        }))
    }
}
