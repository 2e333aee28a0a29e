//! The rows every store reads and writes, as plain columns, and their checks: what a store's
//! SQL produces or needs, whatever its dialect.

use std::cmp::Ordering;

use super::{JobRow, Rebuilder, StoreError, TaskRow};
use crate::id::JobId;
use crate::policy::{JobPolicy, RetryPolicy};
use crate::proto::{TaskAttempt, TaskStatus, from_wire_u32, wire_u32};
use crate::uid::AttemptUid;

/// The columns of a `jobs` row, in the schema's order: job_id, seq, max_task_failures,
/// coscheduled, state, error (the last two NULL when read from a version 1 store, which did not
/// keep them).
pub(crate) type JobColumns = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The columns of a `tasks` row, in the schema's order: task_id, job_id, task_index, state,
/// current_attempt_id, max_retries_failure, max_retries_preemption, finished_at_ms, error, seq,
/// queue_seq, assign_seq.
pub(crate) type TaskColumns = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The columns of a `task_attempts` row, in the schema's order: task_id, attempt_id, worker_id,
/// state, assigned_at_ms, started_at_ms, finished_at_ms, exit_code, error, is_worker_failure,
/// attempt_uid (the uid's 64 bits as a signed integer; NULL only as a version 1 store is read),
/// awaiting_stop.
pub(crate) type AttemptColumns = (
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    i64,
    Option<i64>,
    i64,
);

fn out_of_range(
    table: &'static str,
    task: Option<&str>,
    column: &'static str,
    value: i64,
) -> StoreError {
    StoreError::Corrupt {
        table,
        task: task.map(str::to_owned),
        column: column.to_owned(),
        why: format!("{value} is out of range"),
    }
}

fn u32_of(
    value: i64,
    table: &'static str,
    task: Option<&str>,
    column: &'static str,
) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| out_of_range(table, task, column, value))
}

fn i32_of(
    value: i64,
    table: &'static str,
    task: Option<&str>,
    column: &'static str,
) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| out_of_range(table, task, column, value))
}

/// A job's row, checked.
pub(crate) fn job_row(
    (job, seq, max_task_failures, coscheduled, state, error): JobColumns,
) -> Result<JobRow, StoreError> {
    let id = JobId::new(job).map_err(|err| StoreError::Corrupt {
        table: "jobs",
        task: None,
        column: "job_id".to_owned(),
        why: err.to_string(),
    })?;
    let policy = match (max_task_failures, coscheduled) {
        (None, None) => None,
        (Some(failures), Some(coscheduled @ (0 | 1))) => Some(JobPolicy {
            max_task_failures: u32_of(failures, "jobs", None, "max_task_failures")?,
            coscheduled: coscheduled == 1,
        }),
        _ => {
            return Err(StoreError::Corrupt {
                table: "jobs",
                task: None,
                column: "coscheduled".to_owned(),
                why: format!(
                    "job {id}: a policy has both max_task_failures and coscheduled (0 or 1), or neither"
                ),
            });
        }
    };
    let state = match state {
        None => None,
        Some(number) => {
            let state = i32::try_from(number)
                .ok()
                .and_then(|number| crate::table::JobState::try_from(number).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    table: "jobs",
                    task: None,
                    column: "state".to_owned(),
                    why: format!("job {id}: {number} is not the wire number of a job state"),
                })?;
            Some((state, error.filter(|error| !error.is_empty())))
        }
    };
    Ok(JobRow {
        id,
        seq,
        policy,
        state,
    })
}

/// A task's row, checked as far as columns go (the decoder checks the rest), without attempts.
pub(crate) fn task_row(columns: TaskColumns) -> Result<TaskRow, StoreError> {
    let (
        task_id,
        job_id,
        index,
        state,
        current,
        failure,
        preemption,
        finished,
        error,
        seq,
        queue_seq,
        assign_seq,
    ) = columns;
    let task = Some(task_id.as_str());
    let task_index = wire_u32(u32_of(index, "tasks", task, "task_index")?);
    let state = i32_of(state, "tasks", task, "state")?;
    let current_attempt_id = i32_of(current, "tasks", task, "current_attempt_id")?;
    let policy = RetryPolicy {
        max_retries_failure: u32_of(failure, "tasks", task, "max_retries_failure")?,
        max_retries_preemption: u32_of(preemption, "tasks", task, "max_retries_preemption")?,
    };
    let status = TaskStatus {
        job_id,
        task_index,
        state,
        current_attempt_id,
        finished_at_ms: finished,
        error,
        task_id,
        ..TaskStatus::default()
    };
    Ok(TaskRow {
        status,
        policy,
        seq,
        queue_seq,
        assign_seq,
    })
}

/// Hands each task row, with its attempts, to `into`. Both come in `task_id` order (the tables'
/// primary keys), so the two are merged as they are read: each attempt belongs to the task the
/// walk is at, or to a later one, and no row waits in a vector for the others.
pub(crate) fn merge(
    tasks: impl IntoIterator<Item = Result<TaskColumns, StoreError>>,
    attempts: impl IntoIterator<Item = Result<AttemptColumns, StoreError>>,
    into: &mut Rebuilder,
) -> Result<(), StoreError> {
    let mut attempts = attempts.into_iter();
    let mut next = attempts.next().transpose()?;
    for columns in tasks {
        let mut row = task_row(columns?)?;
        while let Some(columns) = next.take() {
            match columns.0.as_str().cmp(row.status.task_id.as_str()) {
                Ordering::Less => return Err(orphan(columns.0)),
                Ordering::Equal => {
                    row.status.attempts.push(attempt(columns)?);
                    next = attempts.next().transpose()?;
                }
                Ordering::Greater => {
                    next = Some(columns);
                    break;
                }
            }
        }
        into.task(row)?;
    }
    match next {
        Some(columns) => Err(orphan(columns.0)),
        None => Ok(()),
    }
}

fn orphan(task_id: String) -> StoreError {
    StoreError::Corrupt {
        table: "task_attempts",
        task: Some(task_id),
        column: "task_id".to_owned(),
        why: "an attempt of a task the tasks table does not hold".to_owned(),
    }
}

/// An attempt row, in the wire form the decoder checks.
fn attempt(columns: AttemptColumns) -> Result<TaskAttempt, StoreError> {
    let (
        task_id,
        attempt_id,
        worker_id,
        state,
        assigned,
        started,
        finished,
        exit_code,
        error,
        worker_failure,
        uid,
        awaiting_stop,
    ) = columns;
    let task = Some(task_id.as_str());
    Ok(TaskAttempt {
        attempt_id: i32_of(attempt_id, "task_attempts", task, "attempt_id")?,
        worker_id,
        state: i32_of(state, "task_attempts", task, "state")?,
        exit_code: i32_of(exit_code, "task_attempts", task, "exit_code")?,
        error,
        started_at_ms: started,
        finished_at_ms: finished,
        is_worker_failure: match worker_failure {
            0 => false,
            1 => true,
            other => {
                return Err(out_of_range(
                    "task_attempts",
                    task,
                    "is_worker_failure",
                    other,
                ));
            }
        },
        assigned_at_ms: Some(assigned),
        // A version 1 store's attempts have none: the decoder gives them their legacy uid.
        attempt_uid: uid
            .map(|bits| AttemptUid::new(u64::from_le_bytes(bits.to_le_bytes())).to_string()),
        awaiting_stop: match awaiting_stop {
            0 => false,
            1 => true,
            other => return Err(out_of_range("task_attempts", task, "awaiting_stop", other)),
        },
    })
}

/// A job row's columns, to write (a row to write always has its state).
pub(crate) fn job_columns(row: &JobRow) -> JobColumns {
    let (state, error) = row
        .state
        .clone()
        .unwrap_or((crate::table::JobState::Pending, None));
    (
        row.id.as_str().to_owned(),
        row.seq,
        row.policy.map(|policy| i64::from(policy.max_task_failures)),
        row.policy.map(|policy| i64::from(policy.coscheduled)),
        Some(i64::from(crate::proto::JobState::from(state) as i32)),
        Some(error.unwrap_or_default()),
    )
}

/// A task row's columns, to write.
pub(crate) fn task_columns(row: &TaskRow) -> TaskColumns {
    let status = &row.status;
    (
        status.task_id.clone(),
        status.job_id.clone(),
        i64::from(from_wire_u32(status.task_index)),
        i64::from(status.state),
        i64::from(status.current_attempt_id),
        i64::from(row.policy.max_retries_failure),
        i64::from(row.policy.max_retries_preemption),
        status.finished_at_ms,
        status.error.clone(),
        row.seq,
        row.queue_seq,
        row.assign_seq,
    )
}

/// An attempt's columns, to write.
pub(crate) fn attempt_columns(task_id: &str, attempt: &TaskAttempt) -> AttemptColumns {
    (
        task_id.to_owned(),
        i64::from(attempt.attempt_id),
        attempt.worker_id.clone(),
        i64::from(attempt.state),
        attempt.assigned_at_ms.unwrap_or_default(),
        attempt.started_at_ms,
        attempt.finished_at_ms,
        i64::from(attempt.exit_code),
        attempt.error.clone(),
        i64::from(attempt.is_worker_failure),
        // Every attempt the crate writes has a uid (the encoder always sets it).
        attempt
            .attempt_uid
            .as_deref()
            .and_then(|uid| uid.parse::<AttemptUid>().ok())
            .map(|uid| i64::from_le_bytes(uid.get().to_le_bytes())),
        i64::from(attempt.awaiting_stop),
    )
}

/// The schema, version 2, in the SQL both stores speak (types are SQLite's names for what
/// PostgreSQL calls BIGINT and TEXT; `$INT` is replaced per store). A version 1 store (0.2) is
/// brought here by [`V2_UPGRADE`] and the job states the upgrade judges.
/// The `records` table (a controller's own data, [`crate::Record`]), in [`SCHEMA`] and added by
/// [`V2_UPGRADE`]; `$BLOB` is replaced per store.
macro_rules! records_ddl {
    () => {
        "
CREATE TABLE records (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    job_id TEXT REFERENCES jobs (job_id),
    value $BLOB NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE INDEX records_by_job ON records (job_id);
"
    };
}

pub(crate) const SCHEMA: &str = concat!(
    "
CREATE TABLE schema_version (version $INT NOT NULL);
INSERT INTO schema_version (version) VALUES (2);
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY NOT NULL,
    seq $INT NOT NULL,
    max_task_failures $INT,
    coscheduled $INT,
    state $INT NOT NULL DEFAULT 1,
    error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    task_index $INT NOT NULL,
    state $INT NOT NULL,
    current_attempt_id $INT NOT NULL,
    max_retries_failure $INT NOT NULL,
    max_retries_preemption $INT NOT NULL,
    finished_at_ms $INT,
    error TEXT NOT NULL,
    seq $INT NOT NULL,
    queue_seq $INT,
    assign_seq $INT
);
CREATE TABLE task_attempts (
    task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    attempt_id $INT NOT NULL,
    worker_id TEXT NOT NULL,
    state $INT NOT NULL,
    assigned_at_ms $INT NOT NULL,
    started_at_ms $INT,
    finished_at_ms $INT,
    exit_code $INT NOT NULL,
    error TEXT NOT NULL,
    is_worker_failure $INT NOT NULL,
    attempt_uid $INT NOT NULL,
    awaiting_stop $INT NOT NULL,
    PRIMARY KEY (task_id, attempt_id)
);
CREATE INDEX tasks_by_job ON tasks (job_id);
",
    records_ddl!()
);

/// The statements of a commit, in the SQL both stores speak with `?N` placeholders (PostgreSQL's
/// `$N` are swapped in by its store).
pub(crate) const DELETE_ATTEMPTS_OF_JOB: &str =
    "DELETE FROM task_attempts WHERE task_id IN (SELECT task_id FROM tasks WHERE job_id = ?1)";
pub(crate) const DELETE_TASKS_OF_JOB: &str = "DELETE FROM tasks WHERE job_id = ?1";
pub(crate) const DELETE_RECORDS_OF_JOB: &str = "DELETE FROM records WHERE job_id = ?1";
pub(crate) const UPSERT_RECORD: &str = "INSERT INTO records (space, key, job_id, value) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (space, key) DO UPDATE SET job_id = excluded.job_id, value = excluded.value";
pub(crate) const DELETE_RECORD: &str = "DELETE FROM records WHERE space = ?1 AND key = ?2";
/// The records, of a version 2 store (a version 1 store has none).
pub(crate) const SELECT_RECORDS: &str = "SELECT space, key, job_id, value FROM records";
pub(crate) const DELETE_JOB: &str = "DELETE FROM jobs WHERE job_id = ?1";
pub(crate) const UPSERT_JOB: &str = "INSERT INTO jobs (job_id, seq, max_task_failures, coscheduled, state, error) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (job_id) DO UPDATE SET seq = excluded.seq, \
     max_task_failures = excluded.max_task_failures, coscheduled = excluded.coscheduled, \
     state = excluded.state, error = excluded.error";
pub(crate) const UPSERT_TASK: &str = "INSERT INTO tasks (task_id, job_id, task_index, state, current_attempt_id, \
     max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, queue_seq, assign_seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, \
     current_attempt_id = excluded.current_attempt_id, finished_at_ms = excluded.finished_at_ms, \
     error = excluded.error, seq = excluded.seq, queue_seq = excluded.queue_seq, \
     assign_seq = excluded.assign_seq, max_retries_failure = excluded.max_retries_failure, \
     max_retries_preemption = excluded.max_retries_preemption";
pub(crate) const UPSERT_ATTEMPT: &str = "INSERT INTO task_attempts (task_id, attempt_id, worker_id, state, assigned_at_ms, \
     started_at_ms, finished_at_ms, exit_code, error, is_worker_failure, attempt_uid, awaiting_stop) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (task_id, attempt_id) DO UPDATE SET worker_id = excluded.worker_id, \
     state = excluded.state, assigned_at_ms = excluded.assigned_at_ms, \
     started_at_ms = excluded.started_at_ms, finished_at_ms = excluded.finished_at_ms, \
     exit_code = excluded.exit_code, error = excluded.error, \
     is_worker_failure = excluded.is_worker_failure, attempt_uid = excluded.attempt_uid, \
     awaiting_stop = excluded.awaiting_stop";
pub(crate) const SELECT_JOBS: &str =
    "SELECT job_id, seq, max_task_failures, coscheduled, state, error FROM jobs";
/// [`SELECT_JOBS`] in a version 1 store, which kept no job state: NULLs in their place.
pub(crate) const SELECT_JOBS_V1: &str = "SELECT job_id, seq, max_task_failures, coscheduled, \
     CAST(NULL AS BIGINT), CAST(NULL AS TEXT) FROM jobs";

/// The statements that bring a version 1 store (0.2) to version 2: the job's state and error,
/// each attempt's uid, and whether it awaits its worker's stop (0.2 kept no stops: none does). The upgrade then writes every job's state as judged under 0.3's
/// rules, every attempt's legacy uid ([`AttemptUid::legacy`]), and the version, in the same
/// transaction: the default 0 never survives it.
pub(crate) const V2_UPGRADE: &str = concat!(
    "
ALTER TABLE jobs ADD COLUMN state $INT NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE task_attempts ADD COLUMN attempt_uid $INT NOT NULL DEFAULT 0;
ALTER TABLE task_attempts ADD COLUMN awaiting_stop $INT NOT NULL DEFAULT 0;
",
    records_ddl!()
);

/// The last statement of every upgrade, `?1` the new version.
pub(crate) const SET_VERSION: &str = "UPDATE schema_version SET version = ?1";
pub(crate) const SELECT_TASKS: &str = "SELECT task_id, job_id, task_index, state, current_attempt_id, \
     max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, queue_seq, assign_seq \
     FROM tasks ORDER BY task_id";
pub(crate) const SELECT_ATTEMPTS: &str = "SELECT task_id, attempt_id, worker_id, state, assigned_at_ms, started_at_ms, \
     finished_at_ms, exit_code, error, is_worker_failure, attempt_uid, awaiting_stop FROM task_attempts \
     ORDER BY task_id, attempt_id";
/// [`SELECT_ATTEMPTS`] in a version 1 store, which kept no attempt uids: NULL in their place.
pub(crate) const SELECT_ATTEMPTS_V1: &str = "SELECT task_id, attempt_id, worker_id, state, assigned_at_ms, started_at_ms, \
     finished_at_ms, exit_code, error, is_worker_failure, CAST(NULL AS BIGINT), CAST(0 AS BIGINT) FROM task_attempts \
     ORDER BY task_id, attempt_id";

/// Checks a store's `schema_version` and returns it: this crate's version, or an older one it
/// upgrades ([`super::upgrade`]), is fine; a newer one is [`StoreError::NewerSchema`]; anything
/// else is no version this crate wrote.
pub(crate) fn check_version(found: Option<i64>) -> Result<i64, StoreError> {
    match found {
        Some(found) if found > super::SCHEMA_VERSION => Err(StoreError::NewerSchema {
            found,
            known: super::SCHEMA_VERSION,
        }),
        Some(found @ 1..=super::SCHEMA_VERSION) => Ok(found),
        other => Err(StoreError::Corrupt {
            table: "schema_version",
            task: None,
            column: "version".to_owned(),
            why: match other {
                Some(version) => format!("{version} is no version this crate ever wrote"),
                None => "the table is empty".to_owned(),
            },
        }),
    }
}
