//! Decoding with validation and typed encoding, each beside prost's bare work on the same bytes.

mod common;

use std::hint::black_box;

use common::wire_task;
use criterion::{Criterion, criterion_group, criterion_main};
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
