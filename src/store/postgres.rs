//! [`PostgresStore`]: the store for controllers that outgrow one machine or need a managed,
//! replicated database, through the blocking `postgres` client.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use postgres::{Client, IsolationLevel, NoTls, Portal, Row, Statement};

use super::{Rebuilder, StoreError, Writes, rows, sealed};

/// The advisory lock every [`PostgresStore`] of a database takes: one writer per database.
const LOCK_KEY: i64 = 0x6972_6973_7461_736b; // "iristask"

/// How long [`PostgresStore::connect`] waits for the one-writer lock: the session of a killed
/// controller may linger a moment on the server before its lock is released.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A [`DurableTable`](super::DurableTable) in a PostgreSQL database, written by one client at a
/// time: [`connect`](PostgresStore::connect) takes a session advisory lock, so a second
/// controller gets [`StoreError::Locked`].
///
/// The store keeps one session for its life (the lock and its prepared statements belong to
/// it): connect directly, or through a pooler in session mode, never in transaction mode.
///
/// The `postgres` client is blocking and runs its own tokio runtime inside: called from a thread
/// of an async runtime (a tokio task, say), it panics ("Cannot start a runtime from within a
/// runtime"), and the table is then [poisoned](StoreError::Poisoned) until opened again. Call it
/// from a plain thread, or through the runtime's blocking pool (`spawn_blocking`).
///
/// ```no_run
/// use iris_task::{DurableTable, PostgresStore};
///
/// let store = PostgresStore::connect("host=/var/run/postgresql user=iris dbname=iris")?;
/// let table = DurableTable::open(store)?;
/// # Ok::<(), iris_task::StoreError>(())
/// ```
pub struct PostgresStore {
    client: Client,
    /// A commit's statements, prepared once per connection: preparing them per commit would
    /// cost a round trip each. Prepared with the current schema, so only once a store of an
    /// older version has been upgraded.
    statements: Option<Statements>,
    /// The schema version the database holds.
    version: i64,
}

/// The statements of [`rows`], prepared on the server.
struct Statements {
    delete_attempts_of_job: Statement,
    delete_tasks_of_job: Statement,
    delete_job: Statement,
    upsert_job: Statement,
    upsert_task: Statement,
    upsert_attempt: Statement,
    delete_records_of_job: Statement,
    upsert_record: Statement,
    delete_record: Statement,
}

impl Statements {
    fn prepare(client: &mut impl postgres::GenericClient) -> Result<Statements, StoreError> {
        let mut prepare = |sql: &str| client.prepare(&dollars(sql)).map_err(database);
        Ok(Statements {
            delete_attempts_of_job: prepare(rows::DELETE_ATTEMPTS_OF_JOB)?,
            delete_tasks_of_job: prepare(rows::DELETE_TASKS_OF_JOB)?,
            delete_job: prepare(rows::DELETE_JOB)?,
            upsert_job: prepare(rows::UPSERT_JOB)?,
            upsert_task: prepare(rows::UPSERT_TASK)?,
            upsert_attempt: prepare(rows::UPSERT_ATTEMPT)?,
            delete_records_of_job: prepare(rows::DELETE_RECORDS_OF_JOB)?,
            upsert_record: prepare(rows::UPSERT_RECORD)?,
            delete_record: prepare(rows::DELETE_RECORD)?,
        })
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn database(err: postgres::Error) -> StoreError {
    StoreError::Database(Box::new(Described(err)))
}

/// A `postgres::Error` whose message says what went wrong. The client's own message is only the
/// kind of error ("db error", "error connecting to server"); the server's words, or the I/O
/// error, are its source, which a plain `{}` never shows. This one's message has both, and its
/// source is the `postgres::Error` itself (and through it, a server's `DbError`).
#[derive(Debug)]
struct Described(postgres::Error);

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::error::Error;
        write!(f, "{}", self.0)?;
        match self.0.source() {
            Some(cause) => write!(f, ": {cause}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A statement in SQLite's `?N` placeholders, in PostgreSQL's `$N`.
fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

impl PostgresStore {
    /// Connects (`params` as libpq takes them, `host=... user=... dbname=...`, or a
    /// `postgresql://` URL), takes the one-writer lock, and creates the schema if the database
    /// has none.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another client holds the store (after waiting up to 10 s for a
    /// killed controller's session to go), [`StoreError::NewerSchema`] for a schema newer than
    /// this crate's, and [`StoreError::Database`] if the server cannot be reached.
    pub fn connect(params: &str) -> Result<PostgresStore, StoreError> {
        let mut client = Client::connect(params, NoTls).map_err(database)?;
        let started = Instant::now();
        loop {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
                .map_err(database)?
                .try_get(0)
                .map_err(database)?;
            if locked {
                break;
            }
            if started.elapsed() >= LOCK_WAIT {
                return Err(StoreError::Locked {
                    what: "the PostgreSQL database".to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let version = create_or_check_schema(&mut client)?;
        let statements = if version == super::SCHEMA_VERSION {
            Some(Statements::prepare(&mut client)?)
        } else {
            None
        };
        Ok(PostgresStore {
            client,
            statements,
            version,
        })
    }
}

/// Creates the schema in a database that has none, or checks the version of the one it has;
/// returns the version.
fn create_or_check_schema(client: &mut Client) -> Result<i64, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(database)?
        .try_get(0)
        .map_err(database)?;
    if !exists {
        let schema = rows::SCHEMA
            .replace("$INT", "BIGINT")
            .replace("$BLOB", "BYTEA");
        let mut transaction = client.transaction().map_err(database)?;
        transaction.batch_execute(&schema).map_err(database)?;
        transaction.commit().map_err(database)?;
        return Ok(super::SCHEMA_VERSION);
    }
    // A foreign table of that name (another tool's, with another type) is an error, not a panic.
    let found: Option<i64> = client
        .query_one("SELECT max(version) FROM schema_version", &[])
        .map_err(database)?
        .try_get(0)
        .map_err(database)?;
    rows::check_version(found)
}

/// The rows a portal reads, fetched `CHUNK` at a time as the iterator is drained.
const CHUNK: i32 = 1_000;

fn chunked<'t>(
    transaction: &'t RefCell<postgres::Transaction<'_>>,
    portal: &'t Portal,
) -> impl Iterator<Item = Result<Row, StoreError>> + 't {
    let mut chunk = std::collections::VecDeque::new();
    let mut done = false;
    std::iter::from_fn(move || {
        if chunk.is_empty() && !done {
            match transaction.borrow_mut().query_portal(portal, CHUNK) {
                Ok(rows) => {
                    done = rows.len() < CHUNK as usize;
                    chunk.extend(rows);
                }
                Err(err) => {
                    done = true;
                    return Some(Err(database(err)));
                }
            }
        }
        chunk.pop_front().map(Ok)
    })
}

/// The columns `$index…` of `$row`, as a tuple.
macro_rules! columns {
    ($row:expr; $($index:literal),+) => {
        ($($row.try_get($index).map_err(database)?,)+)
    };
}
impl sealed::Sealed for PostgresStore {
    fn version(&self) -> i64 {
        self.version
    }

    fn load(&mut self, into: &mut Rebuilder) -> Result<(), StoreError> {
        let (select_jobs, select_attempts) = match self.version {
            1 => (rows::SELECT_JOBS_V1, rows::SELECT_ATTEMPTS_V1),
            _ => (rows::SELECT_JOBS, rows::SELECT_ATTEMPTS),
        };
        // One snapshot for the three reads.
        let mut transaction = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(database)?;
        for row in transaction.query(select_jobs, &[]).map_err(database)? {
            into.job(rows::job_row(columns!(row; 0, 1, 2, 3, 4, 5))?)?;
        }
        // Byte order, as the merge of tasks and attempts compares ids: not the database's locale.
        let bytewise =
            |sql: &str| sql.replace("ORDER BY task_id", "ORDER BY task_id COLLATE \"C\"");
        // Two portals read side by side, a chunk at a time: the rows of a large store are never
        // all in memory at once.
        let tasks = transaction
            .bind(&bytewise(rows::SELECT_TASKS), &[])
            .map_err(database)?;
        let attempts = transaction
            .bind(&bytewise(select_attempts), &[])
            .map_err(database)?;
        let transaction = RefCell::new(transaction);
        rows::merge(
            chunked(&transaction, &tasks).map(|row| {
                let row = row?;
                Ok(columns!(row; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
            }),
            chunked(&transaction, &attempts).map(|row| {
                let row = row?;
                Ok(columns!(row; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
            }),
            into,
        )?;
        let mut transaction = transaction.into_inner();
        if self.version >= 2 {
            for row in transaction
                .query(rows::SELECT_RECORDS, &[])
                .map_err(database)?
            {
                into.record(columns!(row; 0, 1, 2, 3));
            }
        }
        transaction.commit().map_err(database)
    }

    fn commit(&mut self, writes: &Writes) -> Result<(), StoreError> {
        if self.statements.is_none() {
            self.statements = Some(Statements::prepare(&mut self.client)?);
        }
        let Some(prepared) = &self.statements else {
            return Ok(());
        };
        let mut transaction = self.client.transaction().map_err(database)?;
        write(&mut transaction, prepared, writes)?;
        transaction.commit().map_err(database)
    }

    fn upgrade(&mut self, ddl: &str, writes: &Writes, to: i64) -> Result<(), StoreError> {
        let mut transaction = self.client.transaction().map_err(database)?;
        transaction
            .batch_execute(&ddl.replace("$INT", "BIGINT").replace("$BLOB", "BYTEA"))
            .map_err(database)?;
        // The new schema's statements, prepared inside the transaction that made the schema.
        let prepared = Statements::prepare(&mut transaction)?;
        write(&mut transaction, &prepared, writes)?;
        transaction
            .execute(&dollars(rows::SET_VERSION), &[&to])
            .map_err(database)?;
        transaction.commit().map_err(database)?;
        self.version = to;
        // Prepared again outside the transaction at the next commit: a statement prepared in a
        // transaction lives on in the session, but is simplest kept to one place.
        self.statements = None;
        Ok(())
    }
}

/// The rows of `writes`, written in `transaction` with the statements `prepared`.
fn write(
    transaction: &mut postgres::Transaction<'_>,
    prepared: &Statements,
    writes: &Writes,
) -> Result<(), StoreError> {
    {
        for job in &writes.removed_jobs {
            for statement in [
                &prepared.delete_records_of_job,
                &prepared.delete_attempts_of_job,
                &prepared.delete_tasks_of_job,
                &prepared.delete_job,
            ] {
                transaction
                    .execute(statement, &[&job.as_str()])
                    .map_err(database)?;
            }
        }
        for row in &writes.jobs {
            let c = rows::job_columns(row);
            transaction
                .execute(&prepared.upsert_job, &[&c.0, &c.1, &c.2, &c.3, &c.4, &c.5])
                .map_err(database)?;
        }
        for row in &writes.tasks {
            let c = rows::task_columns(row);
            transaction
                .execute(
                    &prepared.upsert_task,
                    &[
                        &c.0, &c.1, &c.2, &c.3, &c.4, &c.5, &c.6, &c.7, &c.8, &c.9, &c.10, &c.11,
                    ],
                )
                .map_err(database)?;
            for written in &row.status.attempts {
                let a = rows::attempt_columns(&row.status.task_id, written);
                transaction
                    .execute(
                        &prepared.upsert_attempt,
                        &[
                            &a.0, &a.1, &a.2, &a.3, &a.4, &a.5, &a.6, &a.7, &a.8, &a.9, &a.10,
                            &a.11,
                        ],
                    )
                    .map_err(database)?;
            }
        }
        for row in &writes.records {
            match &row.value {
                Some(value) => transaction.execute(
                    &prepared.upsert_record,
                    &[&row.space, &row.key, &row.job, &&value[..]],
                ),
                None => transaction.execute(&prepared.delete_record, &[&row.space, &row.key]),
            }
            .map_err(database)?;
        }
    }
    Ok(())
}

impl super::Store for PostgresStore {}
