//! [`SqliteStore`]: the embedded store, SQLite through rusqlite (bundled: no system library).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::FileExt;
use rusqlite::{Connection, OptionalExtension, params};

use super::{JobRow, SCHEMA_VERSION, StoreError, Stored, TaskRow, Writes, sealed};
use crate::id::JobId;
use crate::policy::{JobPolicy, RetryPolicy};
use crate::proto::{TaskAttempt, TaskStatus, from_wire_u32};

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `synchronous = FULL` (the default): a commit survives a power loss.
    #[default]
    Full,
    /// `synchronous = NORMAL`: a commit survives a crash of the process, not of the machine. What
    /// Iris runs with; much faster per commit.
    Normal,
}

/// A [`DurableTable`](super::DurableTable) in an SQLite file, in WAL mode, written by one process
/// at a time: [`open`](SqliteStore::open) takes an OS lock on a side file (`<path>.lock`) for the
/// store's life, so a second controller gets [`StoreError::Locked`] while readers such as
/// `sqlite3` still work.
///
/// ```
/// use iris_task::{DurableTable, SqliteStore};
///
/// let table = DurableTable::open(SqliteStore::open_in_memory()?)?;
/// assert!(table.table().is_empty());
/// # Ok::<(), iris_task::StoreError>(())
/// ```
pub struct SqliteStore {
    connection: Connection,
    /// The lock file, held (and locked) as long as the store lives; `None` in memory.
    _lock: Option<File>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn database(err: rusqlite::Error) -> StoreError {
    StoreError::Database(Box::new(err))
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, with commits that survive a power loss
    /// ([`Synchronous::Full`]).
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process holds the store, [`StoreError::NewerSchema`] for
    /// a store written by a newer crate, and [`StoreError::Database`] for a file that is not an
    /// SQLite database or cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Synchronous::Full)
    }

    /// [`open`](SqliteStore::open) with the given durability.
    ///
    /// # Errors
    /// As [`open`](SqliteStore::open).
    pub fn open_with(
        path: impl AsRef<Path>,
        synchronous: Synchronous,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|err| StoreError::Database(Box::new(err)))?;
        match FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    what: path.display().to_string(),
                });
            }
            Err(fs4::TryLockError::Error(err)) => return Err(StoreError::Database(Box::new(err))),
        }
        let connection = Connection::open(path).map_err(database)?;
        let store = SqliteStore {
            connection,
            _lock: Some(lock),
            path: Some(path.to_owned()),
        };
        store.prepare(synchronous)?;
        Ok(store)
    }

    /// A store in memory, for tests and examples: it lasts as long as the value.
    ///
    /// # Errors
    /// [`StoreError::Database`] if SQLite cannot start.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let connection = Connection::open_in_memory().map_err(database)?;
        let store = SqliteStore {
            connection,
            _lock: None,
            path: None,
        };
        store.prepare(Synchronous::Full)?;
        Ok(store)
    }

    /// The file, if the store has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Pragmas, the schema if the file is new, and the schema version check.
    fn prepare(&self, synchronous: Synchronous) -> Result<(), StoreError> {
        let sync = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        self.connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
            ))
            .map_err(database)?;
        let has_schema: bool = self
            .connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(database)?
            > 0;
        if !has_schema {
            self.connection.execute_batch(SCHEMA).map_err(database)?;
            return Ok(());
        }
        let found: Option<i64> = self
            .connection
            .query_row("SELECT max(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(database)?
            .flatten();
        match found {
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            }),
            Some(found) => migrate(&self.connection, found),
            None => Err(StoreError::Corrupt {
                table: "schema_version",
                task: None,
                column: "version".to_owned(),
                why: "the table is empty".to_owned(),
            }),
        }
    }
}

/// Brings a store of an older schema version up to [`SCHEMA_VERSION`], one version at a time,
/// each step in its own transaction. There is only version 1 so far: a later version adds its
/// step here.
fn migrate(_connection: &Connection, found: i64) -> Result<(), StoreError> {
    match found {
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::Corrupt {
            table: "schema_version",
            task: None,
            column: "version".to_owned(),
            why: format!("{other} is no version this crate ever wrote"),
        }),
    }
}

/// Version 1 of the schema.
const SCHEMA: &str = "
BEGIN;
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL,
    max_task_failures INTEGER,
    coscheduled INTEGER
);
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    task_index INTEGER NOT NULL,
    state INTEGER NOT NULL,
    current_attempt_id INTEGER NOT NULL,
    max_retries_failure INTEGER NOT NULL,
    max_retries_preemption INTEGER NOT NULL,
    finished_at_ms INTEGER,
    error TEXT NOT NULL,
    seq INTEGER NOT NULL,
    queue_seq INTEGER,
    assign_seq INTEGER
);
CREATE TABLE task_attempts (
    task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    attempt_id INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    assigned_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    finished_at_ms INTEGER,
    exit_code INTEGER NOT NULL,
    error TEXT NOT NULL,
    is_worker_failure INTEGER NOT NULL,
    PRIMARY KEY (task_id, attempt_id)
);
CREATE INDEX tasks_by_job ON tasks (job_id);
COMMIT;
";

/// A column out of range for the type it stands for.
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

impl sealed::Sealed for SqliteStore {
    fn load(&mut self) -> Result<Stored, StoreError> {
        let transaction = self.connection.transaction().map_err(database)?;
        let mut stored = Stored::default();
        {
            let mut jobs = transaction
                .prepare("SELECT job_id, seq, max_task_failures, coscheduled FROM jobs")
                .map_err(database)?;
            let rows = jobs
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .map_err(database)?;
            for row in rows {
                let (job, seq, max_task_failures, coscheduled) = row.map_err(database)?;
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
                stored.jobs.push(JobRow { id, seq, policy });
            }
        }
        let mut statuses: Vec<TaskRow> = Vec::new();
        {
            let mut tasks = transaction
                .prepare(
                    "SELECT task_id, job_id, task_index, state, current_attempt_id, \
                     max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, \
                     queue_seq, assign_seq FROM tasks ORDER BY task_id",
                )
                .map_err(database)?;
            let rows = tasks
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, i64>(6)?,
                        row.get::<_, Option<i64>>(7)?,
                        row.get::<_, String>(8)?,
                        row.get::<_, i64>(9)?,
                        row.get::<_, Option<i64>>(10)?,
                        row.get::<_, Option<i64>>(11)?,
                    ))
                })
                .map_err(database)?;
            for row in rows {
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
                ) = row.map_err(database)?;
                let task = Some(task_id.as_str());
                let status = TaskStatus {
                    job_id,
                    task_index: i32::from_ne_bytes(
                        u32_of(index, "tasks", task, "task_index")?.to_ne_bytes(),
                    ),
                    state: i32_of(state, "tasks", task, "state")?,
                    current_attempt_id: i32_of(current, "tasks", task, "current_attempt_id")?,
                    finished_at_ms: finished,
                    error,
                    task_id: task_id.clone(),
                    ..TaskStatus::default()
                };
                let policy = RetryPolicy {
                    max_retries_failure: u32_of(failure, "tasks", task, "max_retries_failure")?,
                    max_retries_preemption: u32_of(
                        preemption,
                        "tasks",
                        task,
                        "max_retries_preemption",
                    )?,
                };
                statuses.push(TaskRow {
                    status,
                    policy,
                    seq,
                    queue_seq,
                    assign_seq,
                });
            }
        }
        {
            let mut attempts = transaction
                .prepare(
                    "SELECT task_id, attempt_id, worker_id, state, assigned_at_ms, started_at_ms, \
                     finished_at_ms, exit_code, error, is_worker_failure FROM task_attempts \
                     ORDER BY task_id, attempt_id",
                )
                .map_err(database)?;
            let rows = attempts
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, Option<i64>>(5)?,
                        row.get::<_, Option<i64>>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, String>(8)?,
                        row.get::<_, i64>(9)?,
                    ))
                })
                .map_err(database)?;
            let mut position = 0;
            for row in rows {
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
                ) = row.map_err(database)?;
                let task = Some(task_id.as_str());
                // Both tables are read in task_id order (their primary keys): each attempt
                // belongs to the task row the walk is at, or to a later one.
                while statuses
                    .get(position)
                    .is_some_and(|row| row.status.task_id.as_str() < task_id.as_str())
                {
                    position += 1;
                }
                if statuses
                    .get(position)
                    .is_none_or(|row| row.status.task_id != task_id)
                {
                    return Err(StoreError::Corrupt {
                        table: "task_attempts",
                        task: Some(task_id),
                        column: "task_id".to_owned(),
                        why: "an attempt of a task the tasks table does not hold".to_owned(),
                    });
                }
                let attempt = TaskAttempt {
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
                };
                if let Some(row) = statuses.get_mut(position) {
                    row.status.attempts.push(attempt);
                }
            }
        }
        stored.tasks = statuses;
        transaction.commit().map_err(database)?;
        Ok(stored)
    }

    fn commit(&mut self, writes: &Writes) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(database)?;
        {
            for job in &writes.removed_jobs {
                transaction
                    .execute(
                        "DELETE FROM task_attempts WHERE task_id IN (SELECT task_id FROM tasks WHERE job_id = ?1)",
                        params![job.as_str()],
                    )
                    .map_err(database)?;
                transaction
                    .execute("DELETE FROM tasks WHERE job_id = ?1", params![job.as_str()])
                    .map_err(database)?;
                transaction
                    .execute("DELETE FROM jobs WHERE job_id = ?1", params![job.as_str()])
                    .map_err(database)?;
            }
            let mut job = transaction
                .prepare_cached(
                    "INSERT INTO jobs (job_id, seq, max_task_failures, coscheduled) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (job_id) DO UPDATE SET seq = excluded.seq, \
                     max_task_failures = excluded.max_task_failures, coscheduled = excluded.coscheduled",
                )
                .map_err(database)?;
            for row in &writes.jobs {
                job.execute(params![
                    row.id.as_str(),
                    row.seq,
                    row.policy.map(|policy| i64::from(policy.max_task_failures)),
                    row.policy.map(|policy| i64::from(policy.coscheduled)),
                ])
                .map_err(database)?;
            }
            let mut task = transaction
                .prepare_cached(
                    "INSERT INTO tasks (task_id, job_id, task_index, state, current_attempt_id, \
                     max_retries_failure, max_retries_preemption, finished_at_ms, error, seq, queue_seq, assign_seq) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                     ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, \
                     current_attempt_id = excluded.current_attempt_id, finished_at_ms = excluded.finished_at_ms, \
                     error = excluded.error, seq = excluded.seq, queue_seq = excluded.queue_seq, \
                     assign_seq = excluded.assign_seq, max_retries_failure = excluded.max_retries_failure, \
                     max_retries_preemption = excluded.max_retries_preemption",
                )
                .map_err(database)?;
            let mut attempt = transaction
                .prepare_cached(
                    "INSERT INTO task_attempts (task_id, attempt_id, worker_id, state, assigned_at_ms, \
                     started_at_ms, finished_at_ms, exit_code, error, is_worker_failure) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (task_id, attempt_id) DO UPDATE SET worker_id = excluded.worker_id, \
                     state = excluded.state, assigned_at_ms = excluded.assigned_at_ms, \
                     started_at_ms = excluded.started_at_ms, finished_at_ms = excluded.finished_at_ms, \
                     exit_code = excluded.exit_code, error = excluded.error, \
                     is_worker_failure = excluded.is_worker_failure",
                )
                .map_err(database)?;
            for row in &writes.tasks {
                let status = &row.status;
                task.execute(params![
                    status.task_id,
                    status.job_id,
                    i64::from(from_wire_u32(status.task_index)),
                    status.state,
                    status.current_attempt_id,
                    i64::from(row.policy.max_retries_failure),
                    i64::from(row.policy.max_retries_preemption),
                    status.finished_at_ms,
                    status.error,
                    row.seq,
                    row.queue_seq,
                    row.assign_seq,
                ])
                .map_err(database)?;
                // The status holds only the attempts to write.
                for written in &status.attempts {
                    attempt
                        .execute(params![
                            status.task_id,
                            written.attempt_id,
                            written.worker_id,
                            written.state,
                            written.assigned_at_ms.unwrap_or_default(),
                            written.started_at_ms,
                            written.finished_at_ms,
                            written.exit_code,
                            written.error,
                            i64::from(written.is_worker_failure),
                        ])
                        .map_err(database)?;
                }
            }
        }
        transaction.commit().map_err(database)
    }
}

impl super::Store for SqliteStore {}
