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
    let _ = cluster::worker::ReconcileResponse::decode(bytes);
});
