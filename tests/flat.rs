//! A long run that removes each job when it finishes stays flat: the table's memory stops growing
//! after the first generations. Measured with a counting global allocator (this test binary's
//! own), so the figure is the bytes the table holds, not the process's resident memory.

mod counting;

use iris_task::{
    AttemptId, JobId, JobPolicy, RetryPolicy, Task, TaskEvent, TaskId, TaskTable, Timestamp,
    WorkerId, WorkerReport,
};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const TASKS: u32 = 2_000;
const GENERATIONS: usize = 20;

/// One generation: a job of `TASKS` tasks inserted, scheduled on 50 workers, run to the end
/// (every twentieth fails once and is retried), and removed.
fn generation(table: &mut TaskTable, n: usize) {
    let job = JobId::new(format!("gen-{n}")).unwrap();
    // One task in twenty fails once: tolerated, so that every generation runs to its end.
    let policy = JobPolicy {
        max_task_failures: TASKS,
        ..JobPolicy::default()
    };
    table.set_job_policy(job.clone(), policy);
    let retry = RetryPolicy {
        max_retries_failure: 1,
        ..RetryPolicy::default()
    };
    for index in 0..TASKS {
        table
            .insert(Task::new(TaskId::new(job.clone(), index), retry))
            .unwrap();
    }
    let workers: Vec<WorkerId> = (0..50)
        .map(|w| WorkerId::new(format!("w{w}")).unwrap())
        .collect();
    let mut t = 1_000 * n as i64;
    while table
        .job_counts(&job)
        .is_some_and(|counts| counts.unfinished() > 0)
    {
        t += 1;
        let mut next = workers.iter().cycle();
        let assigned = table.schedule(Timestamp::from_millis(t), |_| next.next().cloned());
        for (id, _) in assigned {
            let task = table.get(&id).unwrap();
            let attempt = task.current_attempt().unwrap();
            let (worker, number) = (attempt.worker().clone(), attempt.id().get());
            let report = |report| TaskEvent::Report {
                worker: worker.clone(),
                attempt: AttemptId::new(number),
                report,
                at: Timestamp::from_millis(t),
            };
            table.apply(&id, report(WorkerReport::Running)).unwrap();
            let end = if id.index() % 20 == 0 && number == 0 {
                WorkerReport::Failed {
                    exit_code: 1,
                    error: "flaky".into(),
                }
            } else {
                WorkerReport::Succeeded
            };
            table.apply(&id, report(end)).unwrap();
        }
    }
    let removed = table.remove_job(&job).unwrap();
    assert_eq!(removed.len(), TASKS as usize);
}

#[test]
fn a_table_that_removes_finished_jobs_stays_flat() {
    let mut table = TaskTable::new();
    // Sized up front: its own growth would show in the count.
    let mut live = Vec::with_capacity(GENERATIONS);
    for n in 0..GENERATIONS {
        generation(&mut table, n);
        assert!(table.is_empty());
        live.push(counting::live());
    }
    // The first generations size the table's vectors and index; after them, nothing grows.
    let settled = live[..4].iter().copied().max().unwrap();
    let later = live[4..].iter().copied().max().unwrap();
    assert!(
        later <= settled,
        "live bytes after each generation: {live:?} (settled at {settled}, later up to {later})"
    );
    // And the table is usable again from empty.
    assert_eq!(table.counts().total(), 0);
    assert_eq!(table.jobs().count(), 0);
}
