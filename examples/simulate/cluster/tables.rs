//! The controller's table as the simulation calls it: in memory, or durable over SQLite or
//! PostgreSQL, behind one trait.

use std::time::Duration;

use iris_task::{
    Changes, JobId, JobPolicy, Offer, TableError, Task, TaskEvent, TaskId, TaskTable, Timestamp,
    WorkerId,
};

use super::Config;

/// The controller's table as the simulation calls it: a `TaskTable` in memory, or a
/// `DurableTable` over either store (one transaction per tick). A store error ends the run: the
/// example's controller has nothing better to do.
pub trait Table {
    fn view(&self) -> &TaskTable;
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError>;
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy);
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes;
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError>;
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes;
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes;
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes;
    /// Opens the tick's transaction (durable tables only).
    fn begin(&mut self);
    /// Commits the tick's transaction; true if there was one to commit.
    fn commit(&mut self) -> bool;
    /// Transactions committed since the store was opened; 0 in memory.
    fn commits(&self) -> u64;
    fn into_table(self: Box<Self>) -> TaskTable;
}

impl Table for TaskTable {
    fn view(&self) -> &TaskTable {
        self
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError> {
        TaskTable::insert(self, task).map(drop)
    }
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        TaskTable::set_job_policy(self, job, policy);
    }
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes {
        TaskTable::schedule(self, at, place)
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        TaskTable::apply(self, id, event)
    }
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        TaskTable::worker_lost(self, worker, error, at)
    }
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        TaskTable::expire_assigned(self, now, max_wait)
    }
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        TaskTable::kill_job(self, job, reason, at)
    }
    fn begin(&mut self) {}
    fn commit(&mut self) -> bool {
        false
    }
    fn commits(&self) -> u64 {
        0
    }
    fn into_table(self: Box<Self>) -> TaskTable {
        *self
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn committed<T>(result: Result<T, iris_task::StoreError>) -> Result<T, TableError> {
    match result {
        Ok(value) => Ok(value),
        Err(iris_task::StoreError::Table(err)) => Err(err),
        Err(err) => panic!("the store failed: {err}"),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<S: iris_task::Store> Table for iris_task::DurableTable<S> {
    fn view(&self) -> &TaskTable {
        self.table()
    }
    fn insert(&mut self, task: Task<iris_task::Pending>) -> Result<(), TableError> {
        committed(iris_task::DurableTable::insert(self, task).map(drop))
    }
    fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) {
        committed(iris_task::DurableTable::set_job_policy(self, job, policy)).unwrap_or(());
    }
    fn schedule(
        &mut self,
        at: Timestamp,
        place: &mut dyn FnMut(&Offer<'_>) -> Option<Vec<WorkerId>>,
    ) -> Changes {
        committed(iris_task::DurableTable::schedule(self, at, place)).unwrap_or_default()
    }
    fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, TableError> {
        committed(iris_task::DurableTable::apply(self, id, event))
    }
    fn worker_lost(&mut self, worker: &WorkerId, error: &str, at: Timestamp) -> Changes {
        committed(iris_task::DurableTable::worker_lost(
            self, worker, error, at,
        ))
        .unwrap_or_default()
    }
    fn expire_assigned(&mut self, now: Timestamp, max_wait: Duration) -> Changes {
        committed(iris_task::DurableTable::expire_assigned(
            self, now, max_wait,
        ))
        .unwrap_or_default()
    }
    fn kill_job(&mut self, job: &JobId, reason: &str, at: Timestamp) -> Changes {
        committed(iris_task::DurableTable::kill_job(self, job, reason, at)).unwrap_or_default()
    }
    fn begin(&mut self) {
        iris_task::DurableTable::begin(self);
    }
    fn commit(&mut self) -> bool {
        committed(iris_task::DurableTable::commit(self)).unwrap_or(());
        true
    }
    fn commits(&self) -> u64 {
        iris_task::DurableTable::commits(self)
    }
    fn into_table(self: Box<Self>) -> TaskTable {
        iris_task::DurableTable::into_table(*self)
    }
}

/// The table the run keeps: in memory, or in the store `--store` names.
pub(super) fn open_tables(config: &Config) -> Box<dyn Table> {
    match &config.store {
        None => Box::new(TaskTable::with_capacity(config.tasks)),
        #[cfg(feature = "sqlite")]
        Some(super::StoreAt::Sqlite(path)) => {
            let store = iris_task::SqliteStore::open(path)
                .unwrap_or_else(|err| panic!("cannot open the store {}: {err}", path.display()));
            Box::new(
                iris_task::DurableTable::open(store).unwrap_or_else(|err| {
                    panic!("cannot load the store {}: {err}", path.display())
                }),
            )
        }
        #[cfg(feature = "postgres")]
        Some(super::StoreAt::Postgres(params)) => {
            let store = iris_task::PostgresStore::connect(params)
                .unwrap_or_else(|err| panic!("cannot connect to the store: {err}"));
            Box::new(
                iris_task::DurableTable::open(store)
                    .unwrap_or_else(|err| panic!("cannot load the store: {err}")),
            )
        }
        #[allow(unreachable_patterns)]
        Some(other) => panic!(
            "--store {other:?} needs its feature: cargo run --release --features sqlite,postgres --example simulate"
        ),
    }
}
