//! [`SqliteStore`]: the embedded store, SQLite through rusqlite (bundled: no system library).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::FileExt;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Rebuilder, StoreError, Writes, rows, sealed};

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
    /// The schema version the file holds.
    version: i64,
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

/// An error opening the file at `path`, whose message names the file (SQLite's own, "file is
/// not a database", does not).
#[derive(Debug)]
struct AtPath {
    path: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for AtPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.source)
    }
}

impl std::error::Error for AtPath {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// A row of `table`, read by `columns`. A value SQLite holds in another type than the schema's
/// (text in a number column, a NULL where the schema forbids one, written behind the store's
/// back) is corrupt, naming the column, and the task when column 0 is its id. The cells are read
/// with rusqlite's own error, and only a failure is looked at again: reading stays as cheap as
/// a bare `SELECT`'s.
fn read<T>(
    row: &rusqlite::Row<'_>,
    table: &'static str,
    columns: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    columns(row).map_err(|err| match err {
        rusqlite::Error::InvalidColumnType(_, column, found) => StoreError::Corrupt {
            table,
            task: (table != "jobs")
                .then(|| row.get::<_, String>(0).ok())
                .flatten(),
            column,
            why: format!("holds a value of type {found}, which the schema does not allow"),
        },
        other => database(other),
    })
}

/// The columns `$index…` of `$row`, as a tuple.
macro_rules! cells {
    ($row:expr; $($index:literal),+) => {
        ($($row.get($index)?,)+)
    };
}

fn job_columns(row: &rusqlite::Row<'_>) -> Result<rows::JobColumns, StoreError> {
    read(row, "jobs", |row| Ok(cells!(row; 0, 1, 2, 3, 4, 5)))
}

fn task_columns(row: &rusqlite::Row<'_>) -> Result<rows::TaskColumns, StoreError> {
    read(row, "tasks", |row| {
        Ok(cells!(row; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
    })
}

fn attempt_columns(row: &rusqlite::Row<'_>) -> Result<rows::AttemptColumns, StoreError> {
    read(row, "task_attempts", |row| {
        Ok(cells!(row; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
    })
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
        SqliteStore::open_at(path, synchronous).map_err(|err| match err {
            StoreError::Database(source) => StoreError::Database(Box::new(AtPath {
                path: path.display().to_string(),
                source,
            })),
            other => other,
        })
    }

    fn open_at(path: &Path, synchronous: Synchronous) -> Result<SqliteStore, StoreError> {
        // The file itself, whatever path leads to it (a symlink, `..`): one lock per database.
        let connection = Connection::open(path).map_err(database)?;
        let canonical = path
            .canonicalize()
            .map_err(|err| StoreError::Database(Box::new(err)))?;
        let mut lock_path = canonical.into_os_string();
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
        let mut store = SqliteStore {
            connection,
            _lock: Some(lock),
            path: Some(path.to_owned()),
            version: 0,
        };
        store.version = store.prepare(synchronous)?;
        Ok(store)
    }

    /// A store in memory, for tests and examples: it lasts as long as the value.
    ///
    /// # Errors
    /// [`StoreError::Database`] if SQLite cannot start.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let connection = Connection::open_in_memory().map_err(database)?;
        let mut store = SqliteStore {
            connection,
            _lock: None,
            path: None,
            version: 0,
        };
        store.version = store.prepare(Synchronous::Full)?;
        Ok(store)
    }

    /// The file, if the store has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Pragmas, the schema if the file is new, and the schema version check: the version the
    /// file holds.
    fn prepare(&self, synchronous: Synchronous) -> Result<i64, StoreError> {
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
            let schema = rows::SCHEMA
                .replace("$INT", "INTEGER")
                .replace("$BLOB", "BLOB");
            self.connection
                .execute_batch(&format!("BEGIN; {schema} COMMIT;"))
                .map_err(database)?;
            return Ok(super::SCHEMA_VERSION);
        }
        let found: Option<i64> = self
            .connection
            .query_row("SELECT max(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(database)?
            .flatten();
        rows::check_version(found)
    }
}

impl sealed::Sealed for SqliteStore {
    fn version(&self) -> i64 {
        self.version
    }

    fn load(&mut self, into: &mut Rebuilder) -> Result<(), StoreError> {
        let (select_jobs, select_attempts) = match self.version {
            1 => (rows::SELECT_JOBS_V1, rows::SELECT_ATTEMPTS_V1),
            _ => (rows::SELECT_JOBS, rows::SELECT_ATTEMPTS),
        };
        let transaction = self.connection.transaction().map_err(database)?;
        {
            let mut statement = transaction.prepare(select_jobs).map_err(database)?;
            let jobs = statement
                .query_map([], |row| Ok(job_columns(row)))
                .map_err(database)?;
            for columns in jobs {
                into.job(rows::job_row(columns.map_err(database)??)?)?;
            }
            // Both queries stay open and are read side by side, each in its primary key's order.
            let mut tasks = transaction.prepare(rows::SELECT_TASKS).map_err(database)?;
            let mut attempts = transaction.prepare(select_attempts).map_err(database)?;
            let tasks = tasks
                .query_map([], |row| Ok(task_columns(row)))
                .map_err(database)?;
            let attempts = attempts
                .query_map([], |row| Ok(attempt_columns(row)))
                .map_err(database)?;
            rows::merge(
                tasks.map(|columns| columns.map_err(database).and_then(|columns| columns)),
                attempts.map(|columns| columns.map_err(database).and_then(|columns| columns)),
                into,
            )?;
            if self.version >= 2 {
                let mut records = transaction
                    .prepare(rows::SELECT_RECORDS)
                    .map_err(database)?;
                let rows = records
                    .query_map([], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .map_err(database)?;
                for row in rows {
                    into.record(row.map_err(database)?);
                }
            }
        }
        transaction.commit().map_err(database)
    }

    fn commit(&mut self, writes: &Writes) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(database)?;
        write(&transaction, writes)?;
        transaction.commit().map_err(database)
    }

    fn upgrade(&mut self, ddl: &str, writes: &Writes, to: i64) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(database)?;
        transaction
            .execute_batch(&ddl.replace("$INT", "INTEGER").replace("$BLOB", "BLOB"))
            .map_err(database)?;
        write(&transaction, writes)?;
        transaction
            .execute(rows::SET_VERSION, params![to])
            .map_err(database)?;
        transaction.commit().map_err(database)?;
        self.version = to;
        Ok(())
    }
}

/// The rows of `writes`, written in `transaction`.
fn write(transaction: &rusqlite::Transaction<'_>, writes: &Writes) -> Result<(), StoreError> {
    {
        for job in &writes.removed_jobs {
            for statement in [
                rows::DELETE_RECORDS_OF_JOB,
                rows::DELETE_ATTEMPTS_OF_JOB,
                rows::DELETE_TASKS_OF_JOB,
                rows::DELETE_JOB,
            ] {
                transaction
                    .execute(statement, params![job.as_str()])
                    .map_err(database)?;
            }
        }
        let mut job = transaction
            .prepare_cached(rows::UPSERT_JOB)
            .map_err(database)?;
        for row in &writes.jobs {
            let c = rows::job_columns(row);
            job.execute(params![c.0, c.1, c.2, c.3, c.4, c.5])
                .map_err(database)?;
        }
        let mut task = transaction
            .prepare_cached(rows::UPSERT_TASK)
            .map_err(database)?;
        let mut attempt = transaction
            .prepare_cached(rows::UPSERT_ATTEMPT)
            .map_err(database)?;
        for row in &writes.tasks {
            let c = rows::task_columns(row);
            task.execute(params![
                c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7, c.8, c.9, c.10, c.11
            ])
            .map_err(database)?;
            // The status holds only the attempts to write.
            for written in &row.status.attempts {
                let a = rows::attempt_columns(&row.status.task_id, written);
                attempt
                    .execute(params![
                        a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11
                    ])
                    .map_err(database)?;
            }
        }
        for row in &writes.records {
            match &row.value {
                Some(value) => transaction
                    .prepare_cached(rows::UPSERT_RECORD)
                    .and_then(|mut put| {
                        put.execute(params![row.space, row.key, row.job, &value[..]])
                    })
                    .map_err(database)?,
                None => transaction
                    .prepare_cached(rows::DELETE_RECORD)
                    .and_then(|mut delete| delete.execute(params![row.space, row.key]))
                    .map_err(database)?,
            };
        }
    }
    Ok(())
}

impl super::Store for SqliteStore {}
