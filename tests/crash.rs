//! kill -9, hundreds of times. A child process (this test binary, run again) drives a seeded
//! controller workload against an SQLite store and prints `ack N` after call N returns `Ok`;
//! each call is one to eight table calls in one transaction (a batch, or a group of single
//! calls). The test kills it with SIGKILL at random moments (between calls, and inside them),
//! reopens the store, and checks that the table it
//! recovers equals a replay of the workload up to the last acknowledged call, or up to the one
//! after it (in flight when the kill came), never anything else, and that the invariants hold.
//! Then it starts the next child from there, on the same store.
//!
//! `IRIS_CRASH_KILLS` sets the number of kills (default 200).
#![cfg(all(feature = "sqlite", unix))]

mod workload;

use std::time::{Duration, Instant};

use iris_task::{DurableTable, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use workload::run_child;

/// The child: runs the workload from call `from` until it is killed (or `limit` calls), printing
/// `ack N` once call N committed.
#[test]
fn crash_child() {
    let (Ok(path), Ok(seed), Ok(from)) = (
        std::env::var("IRIS_CRASH_STORE"),
        std::env::var("IRIS_CRASH_SEED"),
        std::env::var("IRIS_CRASH_FROM"),
    ) else {
        return; // Not a child: nothing to do.
    };
    let (seed, from): (u64, u64) = (seed.parse().unwrap(), from.parse().unwrap());
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    workload::drive(&mut table, seed, from);
}

#[test]
fn recovery_after_kill_9_is_exact() {
    let kills: u32 = std::env::var("IRIS_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut total_kills, mut exact, mut in_flight_landed) = (0u32, 0u32, 0u32);
    let mut progress = 0u64;
    let seeds = 4;
    for seed in 0..seeds {
        let dir =
            std::env::temp_dir().join(format!("iris-task-crash-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("controller.db");
        let mut done = 0u64; // calls known committed
        for _ in 0..kills.div_ceil(seeds) {
            let target = done + rng.random_range(0..12);
            let delay = Duration::from_micros(rng.random_range(0..3_000));
            let env = [
                ("IRIS_CRASH_STORE", path.display().to_string()),
                ("IRIS_CRASH_SEED", seed.to_string()),
                ("IRIS_CRASH_FROM", done.to_string()),
            ];
            let acked = run_child("crash_child", &env, target, delay);
            total_kills += 1;
            // The last call acknowledged, or none since `done`.
            let last = acked.map_or(done, |n| n + 1);
            let recovered = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
            let now = workload::recovered(recovered.table(), seed as u64, last);
            in_flight_landed += u32::from(now > last);
            progress += now - done;
            done = now;
            exact += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let lost = total_kills - exact;
    assert!(
        progress > u64::from(kills),
        "the children made progress: {progress} calls in all"
    );
    println!(
        "{total_kills} kills, {exact} recoveries exact ({in_flight_landed} with the call in flight committed), {lost} lost, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(total_kills >= kills && lost == 0);
    assert!(
        in_flight_landed > 0,
        "some kill came inside a transaction that then committed"
    );
}
