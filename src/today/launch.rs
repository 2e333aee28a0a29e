//! What a controller reads from today's `LaunchJobRequest` and `RegisterRequest`: the job's tasks
//! and policy, and a worker with its resources, as Iris's controller reads them.

use std::time::Duration;

use super::{cluster, job, time};
use crate::id::{JobId, TaskId, WorkerId};
use crate::policy::{JobPolicy, RetryPolicy};
use crate::proto::{ProtoError, inconsistent};
use crate::state::Pending;
use crate::task::Task;

/// The most tasks one job may have: Iris's `MAX_REPLICAS_PER_JOB`.
pub const MAX_REPLICAS: u32 = 10_000;

/// A job as today's `LaunchJobRequest` asks for it, read as Iris's controller reads one
/// (`ops/job.py`): see [`LaunchJobRequest::to_launch`](cluster::controller::LaunchJobRequest::to_launch).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Launch {
    /// The job's id: the request's `name`, an Iris path (`/alice/train`, a child job
    /// `/alice/train/eval`).
    pub job: JobId,
    /// The job's parent, for a child job (its path less the last part).
    pub parent: Option<JobId>,
    /// How many tasks: `replicas`, from 1 to [`MAX_REPLICAS`].
    pub replicas: u32,
    /// Each task's retry budgets: `max_retries_failure` and `max_retries_preemption`, as sent
    /// (unset is 0, as Iris's controller reads it; Iris's client sends 1,000 for preemption
    /// unless told otherwise).
    pub retry: RetryPolicy,
    /// `max_task_failures` (unset is 0), and whether the job is a gang (`coscheduling` set).
    pub policy: JobPolicy,
    /// `scheduling_timeout`, if set and positive: a task still pending that long after the job
    /// was submitted ends UNSCHEDULABLE.
    pub scheduling_timeout: Option<Duration>,
    /// `timeout`, if set and positive: a task running that long ends FAILED (the execution
    /// timeout, [`TaskEvent::ExecutionTimeout`](crate::TaskEvent::ExecutionTimeout)).
    pub execution_timeout: Option<Duration>,
    /// What each task needs of a worker.
    pub resources: Resources,
}

/// CPU and memory: what a task asks of a worker, and what a worker has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub cpu_millicores: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl Resources {
    /// What is left of `self` once `used` is taken, each part at least 0: a worker's free
    /// resources are what it registered less what its tasks ask for.
    ///
    /// ```
    /// use iris_task::today::Resources;
    ///
    /// let worker = Resources { cpu_millicores: 4_000, memory_bytes: 8 << 30 };
    /// let task = Resources { cpu_millicores: 1_500, memory_bytes: 1 << 30 };
    /// let left = worker.saturating_sub(task).saturating_sub(task);
    /// assert_eq!(left, Resources { cpu_millicores: 1_000, memory_bytes: 6 << 30 });
    /// assert!(!left.fits(task));
    /// assert_eq!(left.saturating_sub(worker), Resources::default());
    /// ```
    #[must_use]
    pub fn saturating_sub(self, used: Resources) -> Resources {
        Resources {
            cpu_millicores: self.cpu_millicores.saturating_sub(used.cpu_millicores),
            memory_bytes: self.memory_bytes.saturating_sub(used.memory_bytes),
        }
    }

    /// Whether `need` fits in what `self` has left.
    ///
    /// ```
    /// use iris_task::today::Resources;
    ///
    /// let worker = Resources { cpu_millicores: 4_000, memory_bytes: 8 << 30 };
    /// assert!(worker.fits(Resources { cpu_millicores: 1_000, memory_bytes: 1 << 30 }));
    /// assert!(!worker.fits(Resources { cpu_millicores: 8_000, memory_bytes: 0 }));
    /// ```
    pub fn fits(&self, need: Resources) -> bool {
        need.cpu_millicores <= self.cpu_millicores && need.memory_bytes <= self.memory_bytes
    }
}

impl Launch {
    /// The job's tasks, PENDING, indexed from 0, each with the job's retry budgets.
    pub fn tasks(&self) -> impl Iterator<Item = Task<Pending>> + '_ {
        (0..self.replicas).map(|index| Task::new(TaskId::new(self.job.clone(), index), self.retry))
    }
}

/// A non-negative count from field `field`.
fn count(value: Option<i32>, field: &str) -> Result<u32, ProtoError> {
    let value = value.unwrap_or(0);
    u32::try_from(value).map_err(|_| {
        inconsistent(
            format!("LaunchJobRequest.{field}"),
            format!("is {value}, but a count is never negative"),
        )
    })
}

/// A positive duration, or none.
fn positive(duration: Option<&time::Duration>) -> Option<Duration> {
    let ms = duration?.milliseconds?;
    u64::try_from(ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

fn amount(value: Option<i64>, field: &str, message: &str) -> Result<u64, ProtoError> {
    let value = value.unwrap_or(0);
    u64::try_from(value).map_err(|_| {
        inconsistent(
            format!("{message}.{field}"),
            format!("is {value}, but an amount is never negative"),
        )
    })
}

impl cluster::controller::LaunchJobRequest {
    /// The `RunTaskRequest` template of this job's tasks, as Iris's controller builds it
    /// (`projections/run_templates.py`): `num_tasks` (the replicas), the entrypoint, environment,
    /// bundle id, resources, ports, constraints, task image, container profile and egress policy
    /// as launched. [`TaskTable::reconcile_request`](crate::TaskTable::reconcile_request) fills
    /// in each attempt's task id, attempt id and uid. A controller that stores an inline
    /// `bundle_blob` sets `bundle_id` to the id it serves the blob under; the timeouts and the
    /// gang are the controller's to enforce and are not sent, as Iris does not send them.
    ///
    /// ```
    /// use iris_task::today::cluster::controller::LaunchJobRequest;
    ///
    /// let request = LaunchJobRequest {
    ///     name: Some("/alice/train".into()),
    ///     replicas: Some(4),
    ///     bundle_id: Some("4f1c…".into()),
    ///     ..Default::default()
    /// };
    /// let template = request.run_task_request();
    /// assert_eq!(template.num_tasks, Some(4));
    /// assert_eq!(template.bundle_id.as_deref(), Some("4f1c…"));
    /// assert_eq!(template.task_id, None, "filled in per attempt");
    /// ```
    pub fn run_task_request(&self) -> job::RunTaskRequest {
        job::RunTaskRequest {
            num_tasks: self.replicas,
            entrypoint: self.entrypoint.clone(),
            environment: self.environment.clone(),
            bundle_id: self.bundle_id.clone(),
            resources: self.resources.clone(),
            ports: self.ports.clone(),
            constraints: self.constraints.clone(),
            task_image: self.task_image.clone(),
            container_profile: self.container_profile,
            egress_policy: self.egress_policy,
            ..job::RunTaskRequest::default()
        }
    }

    /// The job this request launches, read as Iris's controller reads it:
    ///
    /// - `name` is the job's id, an Iris path; a name with more than two parts is a child job of
    ///   the path before its last part;
    /// - `replicas` must be 1 to 10,000 (Iris records a job asking for other counts as FAILED
    ///   with the reason; this refuses it, naming the field, and the caller decides);
    /// - the budgets are taken as sent, unset being 0: Iris's *client* sends
    ///   `max_retries_preemption = 1000` unless told otherwise, its controller applies no default;
    /// - `coscheduling` makes a gang, and needs a non-empty `group_by`;
    /// - `scheduling_timeout` and `timeout` count when positive;
    /// - `resources` gives each task's CPU and memory (unset: none).
    ///
    /// ```
    /// use iris_task::today::{cluster::controller::LaunchJobRequest, job, time};
    ///
    /// let request = LaunchJobRequest {
    ///     name: Some("/alice/sweep".into()),
    ///     replicas: Some(4),
    ///     max_retries_failure: Some(2),
    ///     max_retries_preemption: Some(100),
    ///     coscheduling: Some(job::CoschedulingConfig { group_by: Some("host".into()), ..Default::default() }),
    ///     timeout: Some(time::Duration { milliseconds: Some(60_000) }),
    ///     ..Default::default()
    /// };
    /// let launch = request.to_launch()?;
    /// assert_eq!(launch.job.as_str(), "/alice/sweep");
    /// assert_eq!(launch.tasks().count(), 4);
    /// assert!(launch.policy.coscheduled);
    /// assert_eq!(launch.retry.max_retries_failure, 2);
    /// assert_eq!(launch.execution_timeout, Some(std::time::Duration::from_secs(60)));
    /// assert!(LaunchJobRequest { replicas: Some(0), ..request }.to_launch().is_err());
    /// # Ok::<(), iris_task::ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ProtoError`] naming the field: a missing or malformed `name`, a count out of range, a
    /// gang without `group_by`, negative resources.
    pub fn to_launch(&self) -> Result<Launch, ProtoError> {
        let name = self.name.as_deref().ok_or_else(|| ProtoError::Missing {
            field: "LaunchJobRequest.name".to_owned(),
            why: "a job is named by its path",
        })?;
        let job = JobId::from_path(name).map_err(|source| ProtoError::InvalidId {
            field: "LaunchJobRequest.name".to_owned(),
            source,
        })?;
        let parent = name
            .rsplit_once('/')
            .map(|(parent, _)| parent)
            .filter(|parent| parent.matches('/').count() >= 2)
            .map(JobId::new)
            .transpose()
            .map_err(|source| ProtoError::InvalidId {
                field: "LaunchJobRequest.name".to_owned(),
                source,
            })?;
        let replicas = count(self.replicas, "replicas")?;
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            return Err(inconsistent(
                "LaunchJobRequest.replicas",
                format!("is {replicas}, but a job has 1 to {MAX_REPLICAS} tasks"),
            ));
        }
        let coscheduled = match &self.coscheduling {
            Some(config) if config.group_by.as_deref().unwrap_or_default().is_empty() => {
                return Err(ProtoError::Missing {
                    field: "LaunchJobRequest.coscheduling.group_by".to_owned(),
                    why: "a gang is placed by a topology level",
                });
            }
            Some(_) => true,
            None => false,
        };
        let resources = match &self.resources {
            Some(spec) => Resources {
                cpu_millicores: amount(
                    spec.cpu_millicores.map(i64::from),
                    "cpu_millicores",
                    "LaunchJobRequest.resources",
                )?,
                memory_bytes: amount(
                    spec.memory_bytes,
                    "memory_bytes",
                    "LaunchJobRequest.resources",
                )?,
            },
            None => Resources::default(),
        };
        Ok(Launch {
            job,
            parent,
            replicas,
            retry: RetryPolicy {
                max_retries_failure: count(self.max_retries_failure, "max_retries_failure")?,
                max_retries_preemption: count(
                    self.max_retries_preemption,
                    "max_retries_preemption",
                )?,
            },
            policy: JobPolicy {
                max_task_failures: count(self.max_task_failures, "max_task_failures")?,
                coscheduled,
            },
            scheduling_timeout: positive(self.scheduling_timeout.as_ref()),
            execution_timeout: positive(self.timeout.as_ref()),
            resources,
        })
    }
}

/// A worker as today's `RegisterRequest` announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registration {
    /// The worker's id (`worker_id`, required: Iris refuses a registration without one).
    pub worker: WorkerId,
    /// Where the controller reaches it (`address`, `host:port`).
    pub address: String,
    /// What it has: `metadata.cpu_count` cores and `metadata.memory_bytes`.
    pub resources: Resources,
}

impl cluster::controller::RegisterRequest {
    /// The worker this request registers.
    ///
    /// ```
    /// use iris_task::today::{cluster::controller::RegisterRequest, job, Resources};
    ///
    /// let request = RegisterRequest {
    ///     worker_id: Some("worker-1".into()),
    ///     address: Some("127.0.0.1:10001".into()),
    ///     metadata: Some(job::WorkerMetadata { cpu_count: Some(4), memory_bytes: Some(8 << 30), ..Default::default() }),
    ///     ..Default::default()
    /// };
    /// let worker = request.to_registration()?;
    /// assert_eq!(worker.worker.as_str(), "worker-1");
    /// assert_eq!(worker.resources, Resources { cpu_millicores: 4_000, memory_bytes: 8 << 30 });
    /// # Ok::<(), iris_task::ProtoError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ProtoError`] naming the field: no `worker_id` or a malformed one, no `address`,
    /// negative resources.
    pub fn to_registration(&self) -> Result<Registration, ProtoError> {
        let id = self.worker_id.as_deref().unwrap_or_default();
        let worker = WorkerId::new(id).map_err(|source| ProtoError::InvalidId {
            field: "RegisterRequest.worker_id".to_owned(),
            source,
        })?;
        let address = self
            .address
            .clone()
            .filter(|address| !address.is_empty())
            .ok_or_else(|| ProtoError::Missing {
                field: "RegisterRequest.address".to_owned(),
                why: "the controller reaches a worker there",
            })?;
        let metadata = self.metadata.clone().unwrap_or_default();
        let message = "RegisterRequest.metadata";
        let cores = amount(metadata.cpu_count.map(i64::from), "cpu_count", message)?;
        Ok(Registration {
            worker,
            address,
            resources: Resources {
                cpu_millicores: cores.saturating_mul(1_000),
                memory_bytes: amount(metadata.memory_bytes, "memory_bytes", message)?,
            },
        })
    }
}

impl Registration {
    /// The request a worker sends to register: what [`to_registration`] reads.
    ///
    /// [`to_registration`]: cluster::controller::RegisterRequest::to_registration
    pub fn to_request(&self) -> cluster::controller::RegisterRequest {
        cluster::controller::RegisterRequest {
            worker_id: Some(self.worker.as_str().to_owned()),
            address: Some(self.address.clone()),
            metadata: Some(job::WorkerMetadata {
                cpu_count: i32::try_from(self.resources.cpu_millicores / 1_000).ok(),
                memory_bytes: i64::try_from(self.resources.memory_bytes).ok(),
                ..job::WorkerMetadata::default()
            }),
            ..cluster::controller::RegisterRequest::default()
        }
    }
}
