//! Decoding with validation and typed encoding, each beside prost's bare work on the same bytes.

mod common;

use std::hint::black_box;

use common::{today_wire_task, wire_task};
use criterion::{Criterion, criterion_group, criterion_main};
use iris_task::today::job;
use iris_task::{AnyTask, RetryPolicy, proto};
use prost::Message;

fn decode(c: &mut Criterion) {
    let bytes = wire_task().encode_to_vec();
    let policy = RetryPolicy::default();
    let mut group = c.benchmark_group("decode");
    group.bench_function("prost TaskStatus::decode (baseline)", |b| {
        b.iter(|| proto::TaskStatus::decode(black_box(bytes.as_slice())))
    });
    group.bench_function("AnyTask::decode (decode + validate)", |b| {
        b.iter(|| AnyTask::decode(black_box(bytes.as_slice()), policy))
    });
    group.finish();

    // Today's wire: prost decodes `iris.job.TaskStatus`; the crate decodes it, converts it and
    // checks it, dating the open attempt on receipt (today's status carries no assignment time).
    let today = task_today_bytes();
    let received = iris_task::Timestamp::from_millis(1_700_000_003_000);
    let decoded = AnyTask::decode_today_received(&today, policy, received);
    assert!(decoded.is_ok(), "the bench's status decodes: {decoded:?}");
    let mut group = c.benchmark_group("decode today");
    group.bench_function("prost iris.job.TaskStatus::decode (baseline)", |b| {
        b.iter(|| job::TaskStatus::decode(black_box(today.as_slice())))
    });
    group.bench_function("AnyTask::decode_today_received (decode + validate)", |b| {
        b.iter(|| AnyTask::decode_today_received(black_box(today.as_slice()), policy, received))
    });
    group.finish();
}

/// The bench task as today's `iris.job.TaskStatus` bytes.
fn task_today_bytes() -> Vec<u8> {
    today_wire_task().encode_today_to_vec()
}

fn encode(c: &mut Criterion) {
    let task = wire_task();
    let prebuilt = proto::TaskStatus::from(&task);
    let mut group = c.benchmark_group("encode");
    group.bench_function("prost encode of a prebuilt TaskStatus (baseline)", |b| {
        b.iter(|| black_box(&prebuilt).encode_to_vec())
    });
    group.bench_function("AnyTask::encode_to_vec (build + encode)", |b| {
        b.iter(|| black_box(&task).encode_to_vec())
    });
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
