//! Any bytes into `AnyTask::decode`, `AnyTask::decode_received` and `TaskEvent::decode_report`,
//! and as today's wire into `AnyTask::decode_today_received` and the readers of a
//! `LaunchJobRequest`, a `RegisterRequest` and a `ReconcileResponse`: nothing may panic, and what
//! decodes re-encodes and decodes to the same task.
#![no_main]

use iris_task::today::{cluster, job};
use iris_task::{AnyTask, RetryPolicy, TaskEvent, Timestamp, proto};
use prost::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let policy = RetryPolicy::default();
    if let Ok(task) = AnyTask::decode(bytes, policy) {
        let again = AnyTask::decode(&task.encode_to_vec(), policy);
        assert_eq!(again.as_ref(), Ok(&task), "re-encoding changed the task");
        // The status of a decoded task describes it exactly.
        let status = proto::TaskStatus::from(&task);
        assert_eq!(AnyTask::from_proto(status, policy), Ok(task));
    }
    // A peer's status, dated on receipt: what decodes is a task the crate could have built.
    if let Ok(task) = AnyTask::decode_received(bytes, policy, Timestamp::from_millis(1_000)) {
        let again = AnyTask::decode(&task.encode_to_vec(), policy);
        assert_eq!(again.as_ref(), Ok(&task), "a received task did not re-encode exactly");
    }
    let _ = TaskEvent::decode_report(bytes, Timestamp::from_millis(0));
    // Today's wire: a status from Iris, dated on receipt, writes back to a status that reads
    // back to the same task, with or without a receive time.
    if let Ok(task) = AnyTask::decode_today_received(bytes, policy, Timestamp::from_millis(1_000)) {
        let status = job::TaskStatus::from(&task);
        assert_eq!(AnyTask::from_today(status.clone(), policy).as_ref(), Ok(&task));
        let again = job::TaskStatus::decode(status.encode_to_vec().as_slice());
        assert_eq!(again.as_ref(), Ok(&status), "today's status did not re-encode exactly");
    }
    if let Ok(request) = cluster::controller::LaunchJobRequest::decode(bytes) {
        if let Ok(launch) = request.to_launch() {
            assert!((1..=iris_task::today::MAX_REPLICAS).contains(&launch.replicas));
        }
    }
    if let Ok(request) = cluster::controller::RegisterRequest::decode(bytes) {
        if let Ok(worker) = request.to_registration() {
            assert_eq!(worker.to_request().to_registration().as_ref(), Ok(&worker));
        }
    }
    // A worker's answer, applied to a table holding two attempts on w1 (one running, one the
    // controller ended): whatever it says, nothing panics, and the table stays whole.
    if let Ok(response) = cluster::worker::ReconcileResponse::decode(bytes) {
        let mut table = iris_task::TaskTable::new();
        table.set_uid_minter(iris_task::UidMinter::seeded(1));
        let w1 = iris_task::WorkerId::new("w1").unwrap();
        let job = iris_task::JobId::from_path("/fuzz/job").unwrap();
        for index in 0..2 {
            let id = iris_task::TaskId::new(job.clone(), index);
            table.insert(iris_task::Task::new(id.clone(), policy)).unwrap();
            table.assign(&id, w1.clone(), Timestamp::from_millis(1)).unwrap();
        }
        let _ = table.apply(
            &iris_task::TaskId::new(job.clone(), 1),
            TaskEvent::Kill { reason: "stop".into(), at: Timestamp::from_millis(2) },
        );
        let _ = table.reconcile(&w1, response, Timestamp::from_millis(3));
        assert_eq!(table.len(), 2);
        let _ = table.reconcile_request(&w1, |_| Some(job::RunTaskRequest::default()));
    }
});
