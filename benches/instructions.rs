//! The criterion benchmarks' pairs, as fixed loops for valgrind's callgrind, which counts
//! instructions: the same total for the same binary whatever else the machine is doing. On a
//! shared machine whose timings swing by half from run to run, these ratios are the stable
//! companion to criterion's. `python3 benches/ratios.py --instructions` runs and reads them.
//!
//! Each pair is two `#[inline(never)]` functions named `baseline_*` and `candidate_*` doing the
//! same number of rounds. Run alone (`cargo bench --bench instructions`), it only does the work.

mod common;

use std::hint::black_box;

use common::{
    HandEnumTask, HandTask, at, direct_calls, hand_events, ids, lifecycle_events, today_wire_task,
    wire_task,
};
use iris_task::{
    AnyTask, JobId, RetryPolicy, Task, TaskId, TaskTable, Timestamp, WorkerId, proto, today,
};
use prost::Message;

const ROUNDS: usize = 10_000;
const TABLE: usize = 100_000;

#[inline(never)]
fn baseline_typed_lifecycle(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let mut task = HandTask::new(black_box(id).clone(), RetryPolicy::default());
        let _ = task.assign(black_box(worker).clone(), at(1));
        let _ = task.start(at(2));
        let _ = task.succeed(at(3));
        drop(black_box(task));
    }
}

#[inline(never)]
fn candidate_typed_lifecycle(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let task = Task::new(black_box(id).clone(), RetryPolicy::default())
            .assign(black_box(worker).clone(), at(1))
            .start(at(2))
            .succeed(at(3));
        drop(black_box(task));
    }
}

#[inline(never)]
fn baseline_apply(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let mut task = HandTask::new(black_box(id).clone(), RetryPolicy::default());
        let events = hand_events(black_box(worker).clone());
        for event in black_box(events) {
            black_box(task.apply(event).ok());
        }
        drop(black_box(task));
    }
}

#[inline(never)]
fn baseline_direct_apply(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let mut task = HandTask::new(black_box(id).clone(), RetryPolicy::default());
        let [assign, running, succeeded] = black_box(hand_events(black_box(worker).clone()));
        direct_calls(&mut task, assign, running, succeeded);
        drop(black_box(task));
    }
}

#[inline(never)]
fn baseline_enum_apply(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let mut task = HandEnumTask::new(black_box(id).clone(), RetryPolicy::default());
        let events = hand_events(black_box(worker).clone());
        for event in black_box(events) {
            black_box(task.apply(event).ok());
        }
        drop(black_box(task));
    }
}

#[inline(never)]
fn candidate_apply(id: &TaskId, worker: &WorkerId) {
    for _ in 0..ROUNDS {
        let mut task = AnyTask::from(Task::new(black_box(id).clone(), RetryPolicy::default()));
        let events = lifecycle_events(black_box(worker).clone());
        for event in black_box(events) {
            black_box(task.apply(event).ok());
        }
        drop(black_box(task));
    }
}

#[inline(never)]
fn baseline_decode(bytes: &[u8]) {
    for _ in 0..ROUNDS {
        black_box(proto::TaskStatus::decode(black_box(bytes)).ok());
    }
}

#[inline(never)]
fn candidate_decode(bytes: &[u8]) {
    for _ in 0..ROUNDS {
        black_box(AnyTask::decode(black_box(bytes), RetryPolicy::default()).ok());
    }
}

#[inline(never)]
fn baseline_decode_today(bytes: &[u8]) {
    for _ in 0..ROUNDS {
        black_box(today::job::TaskStatus::decode(black_box(bytes)).ok());
    }
}

#[inline(never)]
fn candidate_decode_today(bytes: &[u8]) {
    let received = Timestamp::from_millis(1_700_000_003_000);
    for _ in 0..ROUNDS {
        let task =
            AnyTask::decode_today_received(black_box(bytes), RetryPolicy::default(), received);
        black_box(task.ok());
    }
}

#[inline(never)]
fn baseline_encode(status: &proto::TaskStatus) {
    for _ in 0..ROUNDS {
        black_box(black_box(status).encode_to_vec());
    }
}

#[inline(never)]
fn candidate_encode(task: &AnyTask) {
    for _ in 0..ROUNDS {
        black_box(black_box(task).encode_to_vec());
    }
}

/// The table lifecycle over `TABLE` tasks (the table is built outside the counted function).
#[inline(never)]
fn baseline_table(
    map: &mut std::collections::HashMap<TaskId, HandTask>,
    ids: &[TaskId],
    workers: &[WorkerId],
) {
    for (n, id) in ids.iter().enumerate() {
        let events = hand_events(workers[n % workers.len()].clone());
        for event in black_box(events) {
            if let Some(task) = map.get_mut(id) {
                black_box(task.apply(event).ok());
            }
        }
    }
}

#[inline(never)]
fn candidate_table(table: &mut TaskTable, ids: &[TaskId], workers: &[WorkerId]) {
    for (n, id) in ids.iter().enumerate() {
        let events = lifecycle_events(workers[n % workers.len()].clone());
        for event in black_box(events) {
            black_box(table.apply(id, event).ok());
        }
    }
}

fn main() {
    let (id, worker) = ids();
    baseline_typed_lifecycle(&id, &worker);
    candidate_typed_lifecycle(&id, &worker);
    baseline_direct_apply(&id, &worker);
    baseline_apply(&id, &worker);
    baseline_enum_apply(&id, &worker);
    candidate_apply(&id, &worker);

    let task = wire_task();
    let bytes = task.encode_to_vec();
    let status = proto::TaskStatus::from(&task);
    baseline_decode(&bytes);
    candidate_decode(&bytes);
    let today = today_wire_task().encode_today_to_vec();
    baseline_decode_today(&today);
    candidate_decode_today(&today);
    baseline_encode(&status);
    candidate_encode(&task);

    let job = JobId::new("bench/table").expect("valid job id");
    let ids: Vec<TaskId> = (0..TABLE as u32)
        .map(|n| TaskId::new(job.clone(), n))
        .collect();
    let workers: Vec<WorkerId> = (0..1_000)
        .map(|w| WorkerId::new(format!("worker-{w:04}")).expect("valid worker id"))
        .collect();
    let mut map = ids
        .iter()
        .map(|id| {
            (
                id.clone(),
                HandTask::new(id.clone(), RetryPolicy::default()),
            )
        })
        .collect();
    baseline_table(&mut map, &ids, &workers);
    let mut table = TaskTable::new();
    for id in &ids {
        table
            .insert(Task::new(id.clone(), RetryPolicy::default()))
            .expect("unique id");
    }
    candidate_table(&mut table, &ids, &workers);
}
