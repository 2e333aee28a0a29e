//! Building a run: the jobs (their sizes, budgets, policies and fates), the table and the workers.

use std::collections::BinaryHeap;

use iris_task::{JobPolicy, RetryPolicy, Task, WorkerId, proto};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{
    Cluster, Config, GANG_SIZE, Job, Network, SLOTS_PER_WORKER, Slots, Stats, Worker, job_id,
    open_tables,
};

impl Cluster {
    pub(super) fn new(config: &Config) -> Cluster {
        let mut table = open_tables(config);
        let resumed = !table.view().is_empty();
        let mut jobs = Vec::new();
        // The priority job gets 2% of the tasks, the oversized job 1%, two gangs GANG_SIZE each,
        // and seven ordinary jobs share the rest. The priority job is inserted first, so its
        // tasks head the pending queue once it arrives.
        let priority = (config.tasks / 50).max(1);
        let oversized = (config.tasks / 100).max(1);
        let gangs = 2 * GANG_SIZE as usize;
        let regular = config
            .tasks
            .saturating_sub(priority + oversized + gangs)
            .max(7);
        jobs.push(Job {
            priority: true,
            ..make_job("prod/serving", priority, 3, 100, (priority / 10) as u32)
        });
        // (name, failure retries, preemption retries, failed attempts tolerated per thousand
        // tasks, cancelled). As in Iris, `max_task_failures` counts the job's FAILED attempts,
        // retried ones included: with 5% of attempts exiting non-zero, a job that tolerates
        // 100 per thousand runs to its end, and one whose task spends its retries still fails.
        let shapes: [(&str, u32, u32, usize, bool); 7] = [
            // The lowest priority, with no preemption to spare: the tasks the priority job
            // preempts end PREEMPTED. First in the queue, so it runs when the priority job comes.
            ("batch/render", 3, 0, 100, false),
            ("sweep/lr", 3, 100, 100, true),
            ("train/resnet", 3, 100, 100, false),
            ("train/bert", 3, 100, 100, false),
            // Tolerates no failed attempt: it ends at its first, partway through, whatever its
            // tasks' retries, and the table stops the rest of it.
            ("eval/nightly", 1, 100, 0, false),
            ("etl/ingest", 3, 100, 100, false),
            // Tolerates its failed attempts, but a task that spends its one retry fails it.
            ("etl/index", 1, 100, 100, false),
        ];
        for (n, (name, retries, preemptions, per_mille, cancelled)) in
            shapes.into_iter().enumerate()
        {
            let size = regular / shapes.len() + usize::from(n < regular % shapes.len());
            let tolerated = u32::try_from(size * per_mille / 1_000).unwrap_or(u32::MAX);
            let mut job = make_job(name, size, retries, preemptions, tolerated);
            job.cancelled = cancelled;
            job.lowest_priority = name == "batch/render";
            jobs.push(job);
        }
        jobs.push(Job {
            oversized: true,
            ..make_job("gpu/oversized", oversized, 0, 100, 0)
        });
        // Two gangs whose task 0 fails: one with retries, that tolerates the crashed rounds
        // (each failure requeues the gang, which comes back and succeeds), one without (the
        // failure brings the gang down).
        for (name, retries, fail_first, tolerated) in
            [("tpu/slice-a", 3, 2, 10), ("tpu/slice-b", 0, 1, 0)]
        {
            let mut job = make_job(name, GANG_SIZE as usize, retries, 100, tolerated);
            job.policy.coscheduled = true;
            job.fail_first = fail_first;
            jobs.push(job);
        }
        // A resumed run finds its jobs in the store; a new one inserts them, in one transaction.
        table.begin();
        for job in jobs.iter().filter(|_| !resumed) {
            // The controller tells the table each job's policy: its gang and job-end rules apply.
            table.set_job_policy(job.id.clone(), job.policy);
            for id in job.task_ids() {
                if let Err(err) = table.insert(Task::new(id, job.retry)) {
                    panic!("{err}");
                }
            }
        }
        table.commit();
        let workers: Vec<Worker> = (0..config.workers)
            .map(|n| Worker {
                id: WorkerId::new(format!("worker-{n:04}")).unwrap_or_else(|err| panic!("{err}")),
                incarnation: 0,
                deaths: Vec::new(),
                down_until: 0,
            })
            .collect();
        let worker_index = workers
            .iter()
            .enumerate()
            .map(|(index, worker)| (worker.id.clone(), index))
            .collect();
        Cluster {
            rng: StdRng::seed_from_u64(config.seed),
            table,
            jobs,
            slots: Slots {
                free: vec![SLOTS_PER_WORKER; workers.len()],
                available: (0..workers.len()).collect(),
                dirty: Vec::new(),
                revivals: BinaryHeap::new(),
                next: 0,
            },
            workers,
            worker_index,
            network: Network::new(),
            report: proto::ReportTaskStateRequest::default(),
            wire: Vec::new(),
            stats: Stats::default(),
            now: 0,
            arrived_at: None,
            resumed,
            audit: Vec::new(),
        }
    }
}

fn make_job(name: &str, size: usize, retries: u32, preemptions: u32, tolerated: u32) -> Job {
    let id = job_id(name);
    Job {
        id,
        policy: JobPolicy {
            max_task_failures: tolerated,
            coscheduled: false,
        },
        retry: RetryPolicy {
            max_retries_failure: retries,
            max_retries_preemption: preemptions,
        },
        size: u32::try_from(size).unwrap_or_else(|_| panic!("{name}: {size} tasks")),
        oversized: false,
        cancelled: false,
        priority: false,
        lowest_priority: false,
        fail_first: 0,
    }
}
