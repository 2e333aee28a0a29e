//! The read-only calls: the door's (job states and statuses, job and task lists, workers,
//! bundles), the Reconcile loops' (the workers, their addresses, a worker's desired set) and the
//! dashboard's snapshot. Each answers from the table and the records as they stand.

use iris_task::connect::ConnectError;
use iris_task::today::cluster::controller::{
    GetJobStateRequest, GetJobStateResponse, GetJobStatusRequest, GetJobStatusResponse,
    GetTaskStatusRequest, GetTaskStatusResponse, ListJobsRequest, ListJobsResponse,
    ListTasksRequest, ListTasksResponse, ListWorkersRequest, ListWorkersResponse,
    WorkerHealthStatus,
};
use iris_task::today::cluster::worker::ReconcileRequest;
use iris_task::today::job;
use iris_task::{AnyTask, JobId, StateKind, Store, TaskId, Timestamp, WorkerId};

use super::{
    BUNDLE, Core, HISTORY, JobRow, MAX_PAGE, Sample, Snapshot, invalid, job_of, millis, not_found,
};

impl<S: Store> Core<S> {
    /// Each job's state: O(1) a job (the table keeps each job's state). Ids it does not know
    /// are left out, as Iris leaves them out.
    pub fn job_states(&self, request: &GetJobStateRequest) -> GetJobStateResponse {
        let table = self.table.table();
        let states = request
            .job_ids
            .iter()
            .filter_map(|path| {
                let job = table.job(&JobId::from_path(path).ok()?)?;
                Some((
                    path.clone(),
                    iris_task::proto::JobState::from(job.state()) as i32,
                ))
            })
            .collect();
        GetJobStateResponse { states }
    }

    pub(super) fn known(&self, path: Option<&str>, field: &str) -> Result<JobId, ConnectError> {
        let job = job_of(path, field)?;
        match self.table.table().job(&job) {
            Some(_) => Ok(job),
            None => Err(not_found(format_args!("no job {job}"))),
        }
    }

    /// A job's status and the request that launched it.
    pub fn job_status(
        &self,
        request: &GetJobStatusRequest,
    ) -> Result<GetJobStatusResponse, ConnectError> {
        let job = self.known(request.job_id.as_deref(), "job_id")?;
        let status = self
            .table
            .table()
            .today_job_status(&job)
            .ok_or_else(|| not_found(format_args!("no job {job}")))?;
        let mut status = status;
        status.submitted_at = self.specs.get(&job).map(|spec| millis(spec.submitted));
        Ok(GetJobStatusResponse {
            job: Some(status),
            request: self.specs.get(&job).map(|spec| spec.request.clone()),
        })
    }

    /// Jobs, by id: filtered by the query's prefix, name and state, then paged.
    pub fn list_jobs(&self, request: &ListJobsRequest) -> ListJobsResponse {
        let query = request.query.clone().unwrap_or_default();
        let prefix = query.job_id_prefix.unwrap_or_default();
        let name = query.name_filter.unwrap_or_default().to_lowercase();
        let state = query.state_filter.unwrap_or_default().to_lowercase();
        let parent = query.parent_job_id.unwrap_or_default();
        // Paging clamped as Iris clamps it: no limit, or one out of range, is the most.
        let offset = usize::try_from(query.offset.unwrap_or(0)).unwrap_or(0);
        let limit = match usize::try_from(query.limit.unwrap_or(0)) {
            Ok(n @ 1..=MAX_PAGE) => n,
            _ => MAX_PAGE,
        };
        let table = self.table.table();
        let mut jobs: Vec<_> = table
            .jobs()
            .filter(|job| job.id().as_str().starts_with(&prefix))
            .filter(|job| {
                parent.is_empty()
                    || job
                        .id()
                        .as_str()
                        .strip_prefix(&parent)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .filter(|job| {
                name.is_empty()
                    || job
                        .id()
                        .as_str()
                        .rsplit('/')
                        .next()
                        .is_some_and(|last| last.to_lowercase().contains(&name))
            })
            .filter(|job| state.is_empty() || job.state().label() == state)
            .collect();
        // Newest first, as Iris sorts by default (ties by id).
        let submitted = |id: &JobId| self.specs.get(id).map(|spec| spec.submitted);
        jobs.sort_by(|a, b| {
            submitted(b.id())
                .cmp(&submitted(a.id()))
                .then_with(|| a.id().cmp(b.id()))
        });
        let total = jobs.len();
        let page: Vec<job::JobStatus> = jobs
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|job| {
                let mut status = job::JobStatus::from_job(job, table.tasks_of(job.id())).ok()?;
                status.tasks.clear();
                status.submitted_at = self.specs.get(job.id()).map(|spec| millis(spec.submitted));
                Some(status)
            })
            .collect();
        ListJobsResponse {
            has_more: Some(offset.saturating_add(page.len()) < total),
            total_count: Some(i32::try_from(total).unwrap_or(i32::MAX)),
            jobs: page,
        }
    }

    /// One task's status, with its job's resources.
    pub fn task_status(
        &self,
        request: &GetTaskStatusRequest,
    ) -> Result<GetTaskStatusResponse, ConnectError> {
        let id = TaskId::from_path(request.task_id.as_deref().unwrap_or_default())
            .map_err(|err| invalid(format_args!("task_id: {err}")))?;
        let task = self
            .table
            .table()
            .get(&id)
            .ok_or_else(|| not_found(format_args!("no task {}", id.path())))?;
        Ok(GetTaskStatusResponse {
            task: Some(job::TaskStatus::from(task)),
            job_resources: self
                .specs
                .get(id.job())
                .and_then(|spec| spec.request.resources.clone()),
            root_cause_highlights: Vec::new(),
        })
    }

    /// A job's tasks, by index.
    pub fn list_tasks(
        &self,
        request: &ListTasksRequest,
    ) -> Result<ListTasksResponse, ConnectError> {
        let job = self.known(request.job_id.as_deref(), "job_id")?;
        let mut tasks: Vec<&AnyTask> = self.table.table().tasks_of(&job).collect();
        tasks.sort_by_key(|task| task.id().index());
        Ok(ListTasksResponse {
            tasks: tasks.into_iter().map(job::TaskStatus::from).collect(),
        })
    }

    /// The registered workers.
    pub fn list_workers(&self, _request: &ListWorkersRequest) -> ListWorkersResponse {
        let table = self.table.table();
        let workers: Vec<WorkerHealthStatus> = self
            .workers
            .iter()
            .map(|(id, worker)| {
                let mut jobs: Vec<String> = table
                    .tasks_on(id)
                    .map(|task| task.job().as_str().to_owned())
                    .collect();
                jobs.sort();
                jobs.dedup();
                WorkerHealthStatus {
                    worker_id: Some(id.as_str().to_owned()),
                    healthy: Some(worker.failures == 0),
                    consecutive_failures: Some(i32::try_from(worker.failures).unwrap_or(i32::MAX)),
                    last_heartbeat: worker.last_ok.map(millis),
                    running_job_ids: jobs,
                    address: Some(worker.address.clone()),
                    metadata: worker.request.metadata.clone(),
                    status_message: Some(worker.status.clone()),
                    ..WorkerHealthStatus::default()
                }
            })
            .collect();
        ListWorkersResponse {
            total_count: Some(i32::try_from(workers.len()).unwrap_or(i32::MAX)),
            has_more: Some(false),
            workers,
        }
    }

    /// The bundle `id` names, if a job holds it: shared, not copied, so that serving a large
    /// bundle does not hold up the writer.
    pub fn blob(&self, id: &str) -> Option<std::sync::Arc<[u8]>> {
        let job = self.blobs.get(id)?;
        Some(self.table.record(BUNDLE, job.as_str())?.shared_value())
    }

    /// The workers to reconcile now, with their addresses.
    pub fn workers(&self) -> Vec<(WorkerId, String)> {
        self.workers
            .iter()
            .map(|(id, worker)| (id.clone(), worker.address.clone()))
            .collect()
    }

    /// Where `worker` answers, if it is registered.
    pub fn address(&self, worker: &WorkerId) -> Option<String> {
        self.workers.get(worker).map(|w| w.address.clone())
    }

    /// What `worker` should run and stop: its desired set, with each ASSIGNED attempt's spec
    /// inline. `None` for a worker no longer registered.
    pub fn reconcile_request(&self, worker: &WorkerId) -> Option<ReconcileRequest> {
        self.workers.get(worker)?;
        let specs = &self.specs;
        Some(self.table.reconcile_request(worker, |task| {
            specs
                .get(task.id().job())
                .map(|spec| spec.request.run_task_request())
        }))
    }

    /// What the dashboard shows now; also records a sample for its chart.
    pub fn snapshot(&mut self, now: Timestamp) -> Snapshot {
        let table = self.table.table();
        let counts: Vec<(StateKind, usize)> = StateKind::ALL
            .iter()
            .map(|&state| (state, table.counts().get(state)))
            .collect();
        self.history.push_back(Sample {
            at: now,
            counts: counts.iter().map(|(_, count)| *count).collect(),
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let mut jobs: Vec<JobRow> = table
            .jobs()
            .map(|job| JobRow {
                id: job.id().as_str().to_owned(),
                state: job.state().label(),
                counts: job
                    .counts()
                    .iter()
                    .filter(|(_, count)| *count > 0)
                    .collect(),
            })
            .collect();
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        let more_jobs = jobs.len().saturating_sub(200);
        jobs.truncate(200);
        Snapshot {
            counts,
            more_jobs,
            jobs,
            workers: self.workers.len(),
            commits: self.table.commits(),
            history: self.history.iter().cloned().collect(),
        }
    }
}
