//! Untrusted JSON into every type that deserializes: nothing may panic or hang (run with
//! libFuzzer's `-timeout`, so a slow input is a finding), and what deserializes serializes and
//! deserializes back to the same value.
//!
//! The first byte picks the type; the rest is the JSON text.
#![no_main]

use std::fmt::Debug;

use iris_task::{
    AnyTask, Assigned, AttemptId, Building, CoschedFailed, Failed, JobId, JobPolicy, JobState,
    Killed, Pending, Preempted, RetryPolicy, Running, StateCounts, StateKind, Succeeded, Task,
    TaskEvent, TaskId, TaskTable, Timestamp, Transition, Unschedulable, WorkerFailed, WorkerId,
    WorkerReport,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Deserializes `json` as `T`; if that works, the value must survive a round trip.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(json: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(json) {
        let again = serde_json::to_vec(&value).expect("a deserialized value serializes");
        let back: T = serde_json::from_slice(&again).expect("what we wrote reads back");
        assert_eq!(back, value, "a round trip changed the value");
    }
}

/// A table has no `PartialEq`: what it serializes to must read back and serialize the same.
fn table_round_trip(json: &[u8]) {
    if let Ok(table) = serde_json::from_slice::<TaskTable>(json) {
        let once = serde_json::to_vec(&table).expect("a deserialized table serializes");
        let back: TaskTable = serde_json::from_slice(&once).expect("what we wrote reads back");
        let twice = serde_json::to_vec(&back).expect("it serializes again");
        assert_eq!(once, twice, "a round trip changed the table");
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, json)) = bytes.split_first() else {
        return;
    };
    match which % 23 {
        0 => round_trip::<AnyTask>(json),
        1 => round_trip::<Task<Pending>>(json),
        2 => round_trip::<Task<Assigned>>(json),
        3 => round_trip::<Task<Building>>(json),
        4 => round_trip::<Task<Running>>(json),
        5 => round_trip::<Task<Succeeded>>(json),
        6 => round_trip::<Task<Failed>>(json),
        7 => round_trip::<Task<Killed>>(json),
        8 => round_trip::<Task<WorkerFailed>>(json),
        9 => round_trip::<Task<Unschedulable>>(json),
        10 => round_trip::<StateCounts>(json),
        11 => round_trip::<TaskEvent>(json),
        12 => round_trip::<WorkerReport>(json),
        13 => round_trip::<Transition>(json),
        14 => round_trip::<StateKind>(json),
        15 => round_trip::<JobState>(json),
        16 => round_trip::<(JobId, TaskId, WorkerId)>(json),
        17 => round_trip::<(AttemptId, Timestamp)>(json),
        18 => round_trip::<RetryPolicy>(json),
        19 => round_trip::<Task<Preempted>>(json),
        20 => round_trip::<Task<CoschedFailed>>(json),
        21 => table_round_trip(json),
        _ => round_trip::<JobPolicy>(json),
    }
});
