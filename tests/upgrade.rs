//! A store written by iris-task 0.2 opens under 0.3, upgraded in place: the fixture
//! `tests/fixtures/store_v1/v1.db` was written by 0.2's own code (`make.rs` beside it says how).
//! The upgrade judges every job's state once under 0.3's rules and records it, and changes no
//! task row; it runs in one transaction, so a `kill -9` in the middle of it leaves the store as
//! it was, and the next open upgrades it. `tests/suite` runs the same upgrade on PostgreSQL.
#![cfg(all(feature = "sqlite", unix))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iris_task::{
    AttemptId, AttemptUid, DurableTable, JobId, JobState, JobTransition, SqliteStore, TaskId,
    Timestamp,
};
use rusqlite::Connection;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store_v1/v1.db")
}

/// A copy of the fixture in a fresh directory, named `name`.
fn copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-task-upgrade-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v1.db");
    std::fs::copy(fixture(), &path).unwrap();
    path
}

/// Every row of `table`, as text, in primary key order.
fn rows(path: &Path, table: &str, order: &str) -> Vec<String> {
    let db = Connection::open(path).unwrap();
    let mut select = db
        .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
        .unwrap();
    let columns = select.column_count();
    select
        .query_map([], |row| {
            (0..columns)
                .map(|column| Ok(format!("{:?}", row.get_ref(column)?)))
                .collect::<rusqlite::Result<Vec<String>>>()
                .map(|cells| cells.join(" | "))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .unwrap()
}

#[test]
fn the_0_2_fixture_upgrades_and_no_task_row_changes() {
    let path = copy("rows");
    let tasks = rows(&path, "tasks", "task_id");
    let attempts = rows(&path, "task_attempts", "task_id, attempt_id");
    let jobs = rows(&path, "jobs", "job_id");
    assert_eq!(version(&path), 1);
    let table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    let upgrade = table
        .upgrade()
        .cloned()
        .expect("a version 1 store is upgraded");
    assert_eq!((upgrade.from(), upgrade.to()), (1, 2));
    let job = |name: &str| JobId::new(name).unwrap();
    let step = |from, to| JobTransition { from, to };
    // Exactly the jobs whose state 0.3's rules judge differently, in the store's job order.
    assert_eq!(
        upgrade.jobs(),
        [
            // A: one FAILED attempt, retried, is over a limit of 0.
            (job("rule-a"), step(JobState::Running, JobState::Failed)),
            // B: a FAILED task within the tolerance still fails its job once all have ended.
            (job("rule-b"), step(JobState::Succeeded, JobState::Failed)),
            // D: a gang's tolerance applies; every task ended, COSCHED_FAILED among them.
            (
                job("rule-d"),
                step(JobState::Failed, JobState::WorkerFailed)
            ),
        ]
    );
    let error = |table: &DurableTable<SqliteStore>, name: &str| {
        table
            .table()
            .job(&job(name))
            .and_then(|job| job.error().map(str::to_owned))
    };
    assert_eq!(
        error(&table, "rule-a").as_deref(),
        Some("Cumulative failed task attempts exceeded max_task_failures: failures=1, limit=0")
    );
    assert_eq!(error(&table, "rule-b").as_deref(), Some("exit 1"));
    // The upgrade changes no task: rule-a's job has ended, and its tasks still wait and run.
    let active = |table: &DurableTable<SqliteStore>| {
        table
            .table()
            .tasks_of(&job("rule-a"))
            .filter(|task| !task.state().is_terminal())
            .count()
    };
    assert_eq!(active(&table), 2);
    drop(table);
    assert_eq!(version(&path), 2);
    assert_eq!(
        rows(&path, "tasks", "task_id"),
        tasks,
        "no task row changed"
    );
    // Each attempt row keeps its columns and gains its legacy uid, a hash of its task and
    // attempt ids; the table that was opened holds the same uids.
    let upgraded = rows(&path, "task_attempts", "task_id, attempt_id");
    assert_eq!(upgraded.len(), attempts.len());
    let db = Connection::open(&path).unwrap();
    let mut uids = db
        .prepare("SELECT task_id, attempt_id, attempt_uid FROM task_attempts ORDER BY task_id, attempt_id")
        .unwrap();
    let uids: Vec<(String, u32, i64)> = uids
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for ((old, new), (task, attempt, uid)) in attempts.iter().zip(&upgraded).zip(&uids) {
        assert!(new.starts_with(old.as_str()), "{old} became {new}");
        let task: TaskId = task.parse().unwrap();
        let legacy = AttemptUid::legacy(&task, AttemptId::new(*attempt));
        assert_eq!(*uid as u64, legacy.get(), "{task} attempt {attempt}");
        assert_eq!(
            new,
            &format!("{old} | Integer({uid}) | Integer(0)"),
            "no stop awaited"
        );
    }
    assert!(!uids.is_empty());
    // Each job row keeps its columns and gains its state and error.
    let upgraded = rows(&path, "jobs", "job_id");
    for (old, new) in jobs.iter().zip(&upgraded) {
        assert!(new.starts_with(old.as_str()), "{old} became {new}");
    }
    // What the upgrade's documentation asks of a controller: stop the tasks of each job the
    // upgrade ended, as the job-end rule would have. Each job keeps its state and error.
    let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    assert!(table.upgrade().is_none(), "upgraded once");
    for task in table.table().iter() {
        for attempt in task.attempts() {
            assert_eq!(attempt.uid(), AttemptUid::legacy(task.id(), attempt.id()));
        }
    }
    let states = |table: &DurableTable<SqliteStore>| -> Vec<(JobState, Option<String>)> {
        upgrade
            .jobs()
            .iter()
            .map(|(id, _)| {
                let job = table.table().job(id).unwrap();
                (job.state(), job.error().map(str::to_owned))
            })
            .collect()
    };
    let before = states(&table);
    let mut stopped = 0;
    for (id, _) in upgrade.jobs() {
        stopped += table
            .stop_ended_job(id, Timestamp::from_millis(100))
            .unwrap()
            .len();
    }
    assert_eq!(stopped, 2, "rule-a's waiting and running tasks");
    assert_eq!(active(&table), 0);
    assert_eq!(states(&table), before, "no job state or error changed");
    let reason = table
        .table()
        .get(&TaskId::new(job("rule-a"), 1))
        .and_then(|task| task.current_attempt())
        .and_then(|attempt| attempt.error().map(str::to_owned));
    assert_eq!(
        reason,
        error(&table, "rule-a"),
        "stopped with the job's error"
    );
    drop(table);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// Copies of the fixture's jobs, tasks and attempts: `copies` of each, under `copy<n>/` names,
/// with their own sequence numbers. A store large enough for an upgrade to take a while.
fn multiply(path: &Path, copies: u32) {
    let db = Connection::open(path).unwrap();
    db.execute_batch(&format!(
        "BEGIN;
         CREATE TEMP TABLE n (i INTEGER);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {copies})
             INSERT INTO n SELECT i FROM c;
         INSERT INTO jobs SELECT 'copy' || i || '/' || job_id, seq + i * 1000,
             max_task_failures, coscheduled FROM jobs, n WHERE job_id NOT LIKE 'copy%';
         INSERT INTO tasks SELECT 'copy' || i || '/' || task_id, 'copy' || i || '/' || job_id,
             task_index, state, current_attempt_id, max_retries_failure, max_retries_preemption,
             finished_at_ms, error, seq + i * 1000, queue_seq + i * 1000, assign_seq + i * 1000
             FROM tasks, n WHERE task_id NOT LIKE 'copy%';
         INSERT INTO task_attempts SELECT 'copy' || i || '/' || task_id, attempt_id, worker_id,
             state, assigned_at_ms, started_at_ms, finished_at_ms, exit_code, error,
             is_worker_failure FROM task_attempts, n WHERE task_id NOT LIKE 'copy%';
         COMMIT;"
    ))
    .unwrap();
}

/// The child: opens the store (which upgrades it), printing `opening` before and `opened`
/// after.
#[test]
fn upgrade_child() {
    let Ok(path) = std::env::var("IRIS_UPGRADE_STORE") else {
        return; // Not a child: nothing to do.
    };
    println!("opening");
    let table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
    println!("opened {}", table.table().len());
}

/// Starts the child on `path`: this test binary again, running `upgrade_child` only.
fn spawn_child(path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "upgrade_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IRIS_UPGRADE_STORE", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs the child on `path`, and kills it with SIGKILL `delay` after it said it was opening
/// (`None`: lets it finish). Returns whether it had finished opening when it died, and how long
/// it ran after it said it was opening.
fn open_in_child(path: &Path, delay: Option<Duration>) -> (bool, Duration) {
    let mut child = spawn_child(path);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        // libtest may print the test's name on the same line, before it.
        if line.unwrap().ends_with("opening") {
            break;
        }
    }
    let started = Instant::now();
    if let Some(delay) = delay {
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL, or nothing if it is done
    }
    let opened = lines.any(|line| line.is_ok_and(|line| line.contains("opened")));
    child.wait().unwrap();
    (opened, started.elapsed())
}

/// What a store left by a kill must be: version 1 (the upgrade rolled back or never began) or
/// version 2 with every job judged, and, either way, a store that opens to the whole table.
fn check_after_kill(path: &Path, copies: u32) -> i64 {
    let left = version(path);
    assert!(left == 1 || left == 2, "version {left} after a kill");
    let table = DurableTable::open(SqliteStore::open(path).unwrap()).unwrap();
    assert_eq!(table.table().len(), 16 * (copies as usize + 1));
    for copy in [1, copies / 2, copies] {
        let job = |name: &str| JobId::new(format!("copy{copy}/{name}")).unwrap();
        let state = |name| table.table().job_state(&job(name));
        assert_eq!(state("rule-a"), Some(JobState::Failed));
        assert_eq!(state("rule-b"), Some(JobState::Failed));
        assert_eq!(state("rule-d"), Some(JobState::WorkerFailed));
        assert_eq!(state("running"), Some(JobState::Running));
    }
    drop(table);
    assert_eq!(version(path), 2);
    left
}

const COPIES: u32 = 1_500;

#[test]
fn a_kill_9_at_any_moment_of_the_upgrade_leaves_a_store_that_upgrades() {
    let template = copy("template");
    multiply(&template, COPIES);
    // How long a whole open (upgrade included) takes here: the kills spread over it.
    let timed = template.with_file_name("timed.db");
    std::fs::copy(&template, &timed).unwrap();
    let (opened, whole) = open_in_child(&timed, None);
    assert!(opened);
    assert_eq!(version(&timed), 2);
    let mut left = [0; 3];
    for n in 0..12u32 {
        let path = template.with_file_name(format!("killed-{n}.db"));
        std::fs::copy(&template, &path).unwrap();
        let (opened, _) = open_in_child(&path, Some(whole.mul_f64(f64::from(n) / 12.0)));
        let version = check_after_kill(&path, COPIES);
        left[if opened { 0 } else { version as usize }] += 1;
        let _ = std::fs::remove_file(&path);
    }
    println!(
        "an open that upgrades {} tasks takes {:.2} s here; of 12 kills spread over it, {} left \
         version 1, {} version 2, {} came after the open",
        16 * (COPIES + 1),
        whole.as_secs_f64(),
        left[1],
        left[2],
        left[0]
    );
    let _ = std::fs::remove_dir_all(template.parent().unwrap());
}

/// A kill inside the upgrade's transaction, for certain: a second connection polls for the
/// store's write lock (`BEGIN IMMEDIATE`, not waiting) while the child opens the store, and the
/// moment the lock is taken, which in a version 1 store only the upgrade's transaction does, the
/// child is killed. A trigger that stalls the write of one job row in the middle of the upgrade
/// keeps the transaction open long enough for the kill to land in it. The store is left at
/// version 1, rolled back, and the next open upgrades it.
#[test]
fn a_kill_9_inside_the_upgrades_transaction_rolls_it_back() {
    let template = copy("stalled");
    multiply(&template, COPIES);
    let middle = format!("copy{}/rule-a", COPIES / 2);
    let db = Connection::open(&template).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER stall AFTER UPDATE ON jobs WHEN NEW.job_id = '{middle}' BEGIN
             SELECT count(*) FROM (SELECT 1 FROM tasks AS a, tasks AS b LIMIT 20000000);
         END;"
    ))
    .unwrap();
    drop(db);
    let mut child = spawn_child(&template);
    let probe = Connection::open(&template).unwrap();
    probe.busy_timeout(Duration::ZERO).unwrap();
    let started = Instant::now();
    let locked = loop {
        match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
            Ok(()) => {}
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                break true;
            }
            Err(err) => panic!("the probe failed: {err}"),
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill(); // SIGKILL
    let output = child.wait_with_output().unwrap();
    assert!(
        locked,
        "the child never took the write lock before it ended"
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        !said.contains("opened"),
        "the kill came after the open: {said}"
    );
    drop(probe);
    assert_eq!(
        check_after_kill(&template, COPIES),
        1,
        "the kill inside the upgrade's transaction rolled it back"
    );
    println!(
        "killed {:.2} s into an open of {} tasks, holding the upgrade's write lock: rolled back, \
         and upgraded on the next open",
        started.elapsed().as_secs_f64(),
        16 * (COPIES + 1),
    );
    let _ = std::fs::remove_dir_all(template.parent().unwrap());
}
