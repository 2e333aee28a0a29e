//! Any bytes into `AnyTask::decode`, `AnyTask::decode_received` and `TaskEvent::decode_report`:
//! nothing may panic, and what decodes re-encodes and decodes to the same task.
#![no_main]

use iris_task::{AnyTask, RetryPolicy, TaskEvent, Timestamp, proto};
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
});
