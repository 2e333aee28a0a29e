//! The typed lifecycle and `AnyTask::apply`, each beside the hand-written state machine doing the
//! same work in the same run.

mod common;

use std::hint::black_box;

use common::{HandEnumTask, HandTask, direct_calls, hand_events, ids, lifecycle_events};
use criterion::{Criterion, criterion_group, criterion_main};
use iris_task::{AnyTask, RetryPolicy, Task, Timestamp};

/// Create, assign, start, succeed.
fn typed_lifecycle(c: &mut Criterion) {
    let (id, worker) = ids();
    let policy = RetryPolicy::default();
    let mut group = c.benchmark_group("typed lifecycle");
    group.bench_function("hand-written struct + enum (baseline)", |b| {
        b.iter(|| {
            let mut task = HandTask::new(black_box(&id).clone(), policy);
            let _ = task.assign(black_box(&worker).clone(), Timestamp::from_millis(1));
            let _ = task.start(Timestamp::from_millis(2));
            let _ = task.succeed(Timestamp::from_millis(3));
            task
        })
    });
    group.bench_function("Task<S> transitions", |b| {
        b.iter(|| {
            Task::new(black_box(&id).clone(), policy)
                .assign(black_box(&worker).clone(), Timestamp::from_millis(1))
                .start(Timestamp::from_millis(2))
                .succeed(Timestamp::from_millis(3))
        })
    });
    group.finish();
}

/// The same lifecycle as events judged at run time, against three baselines doing the same work:
/// the hand-written task driven by direct method calls (no event matching), the same task behind
/// a hand-written event `apply`, and that `apply` on the task kept as `AnyTask` keeps one (an enum
/// with a variant per state, so that a state change moves the task). Events go through `black_box`, so no side is specialised
/// to the literal events.
fn runtime_apply(c: &mut Criterion) {
    let (id, worker) = ids();
    let policy = RetryPolicy::default();
    let mut group = c.benchmark_group("runtime apply");
    group.bench_function("hand-written direct calls (baseline)", |b| {
        b.iter(|| {
            let mut task = HandTask::new(black_box(&id).clone(), policy);
            let [assign, running, succeeded] = black_box(hand_events(black_box(&worker).clone()));
            direct_calls(&mut task, assign, running, succeeded);
            task
        })
    });
    group.bench_function("hand-written apply (baseline)", |b| {
        b.iter(|| {
            let mut task = HandTask::new(black_box(&id).clone(), policy);
            let events = hand_events(black_box(&worker).clone());
            for event in black_box(events) {
                black_box(task.apply(event).ok());
            }
            task
        })
    });
    group.bench_function("hand-written enum of states, apply (baseline)", |b| {
        b.iter(|| {
            let mut task = HandEnumTask::new(black_box(&id).clone(), policy);
            let events = hand_events(black_box(&worker).clone());
            for event in black_box(events) {
                black_box(task.apply(event).ok());
            }
            task
        })
    });
    group.bench_function("AnyTask::apply", |b| {
        b.iter(|| {
            let mut task = AnyTask::from(Task::new(black_box(&id).clone(), policy));
            let events = lifecycle_events(black_box(&worker).clone());
            for event in black_box(events) {
                black_box(task.apply(event).ok());
            }
            task
        })
    });
    group.finish();
}

criterion_group!(benches, typed_lifecycle, runtime_apply);
criterion_main!(benches);
