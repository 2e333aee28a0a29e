//! Any bytes into `AnyTask::decode` and `TaskEvent::from_report`: nothing may panic, and what
//! decodes re-encodes and decodes to the same task.
#![no_main]

use iris_task::{AnyTask, RetryPolicy, TaskEvent, Timestamp, proto};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let policy = RetryPolicy::default();
    if let Ok(task) = AnyTask::decode(bytes, policy) {
        let again = AnyTask::decode(&task.encode_to_vec(), policy);
        assert_eq!(again.as_ref(), Ok(&task), "re-encoding changed the task");
        // The status of a decoded task describes it exactly.
        let status = proto::TaskStatus::from(&task);
        assert_eq!(AnyTask::from_proto(status, policy), Ok(task));
    }
    if let Ok(report) = proto::ReportTaskStateRequest::decode(bytes) {
        let _ = TaskEvent::from_report(report, Timestamp::from_millis(0));
    }
});
