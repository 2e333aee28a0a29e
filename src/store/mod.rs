//! [`DurableTable`]: a [`TaskTable`] whose every change is committed to a database before the
//! call that made it returns, and which a restarted controller reopens exactly as it was.
//!
//! The lifecycle rules stay in the pure core: the table decides, the store remembers. Each call
//! that changes tasks runs on the in-memory table, which reports what it changed ([`Changes`]);
//! the store then writes exactly those tasks (their rows and their last attempt) in one
//! transaction, and the call returns only once that transaction committed. If the commit fails,
//! the table is reloaded from the store, so memory never runs ahead of what is durable.
//!
//! # The schema
//!
//! In Iris's words, so operators can query it with `sqlite3`: `jobs` (a row per job the table
//! knows, with its policy), `tasks` (a row per task: `state` as the wire number,
//! `current_attempt_id` -1 before the first assignment, the retry limits, the task's own ending),
//! `task_attempts` (primary key `(task_id, attempt_id)`: worker, state, times, exit code, error,
//! `is_worker_failure`) and `schema_version`. Failure and preemption counts are not stored: they
//! are derived from the attempts. Three sequence columns keep what the rows alone do not say:
//! `tasks.seq` (insertion order), `tasks.queue_seq` (when the task last joined the pending queue)
//! and `tasks.assign_seq` (when it was last assigned), from which `open` rebuilds the pending
//! queue, each worker's list and the dispatch-deadline order, ties included. `records` holds
//! the controller's own data ([`Record`]: a job's spec, a bundle, a worker's registration), by
//! space and key, each optionally belonging to a job and deleted with it.
//!
//! # The files
//!
//! This file holds [`DurableTable`]: opening, committing, and its calls. `batch` records one
//! transaction's calls; `reopen` rebuilds a table from the rows; `rows` and `records` turn tasks
//! and records into rows; `upgrade` brings an older schema up to date; `sqlite` and `postgres`
//! are the two [`Store`]s; `error` is [`StoreError`].
//!
//! # Loading is strict
//!
//! `open` checks every row as [`AnyTask::from_proto`](crate::AnyTask::from_proto) checks a status:
//! a row that describes a task the lifecycle cannot produce is [`StoreError::Corrupt`], naming the
//! table, the task and the column. Nothing is repaired or defaulted.

mod batch;
mod error;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
mod reopen;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod upgrade;

use std::fmt;
use std::time::Duration;

use hashbrown::HashMap;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use records::Record;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, Synchronous};
pub use upgrade::SchemaUpgrade;

pub use batch::Batch;
use batch::Unwritten;
pub use error::StoreError;
pub use reopen::Rebuilder;
use reopen::rebuild;

use crate::any::{AnyTask, TaskEvent};
use crate::id::{JobId, TaskId, Timestamp, WorkerId};
use crate::policy::{JobPolicy, RetryPolicy};
use crate::proto::TaskStatus;
use crate::state::Assigned;
use crate::table::{Changes, IntoWorkers, JobState, Offer, TableError, TaskTable};
use crate::task::Task;

/// The schema version this crate writes and reads: 2 (0.3: each job's state and error). A store
/// of version 1 (written by 0.2) is upgraded when opened ([`DurableTable::upgrade`] says what
/// changed). A store whose `schema_version` is higher was written by a newer crate:
/// [`StoreError::NewerSchema`]; any other version is [`StoreError::Corrupt`].
pub const SCHEMA_VERSION: i64 = 2;

/// A database that holds a [`DurableTable`]: `SqliteStore` (feature `sqlite`) and
/// `PostgresStore` (feature `postgres`). The trait is sealed, so that every store keeps the
/// crate's rules (one writer, committed means durable, strict loading).
pub trait Store: sealed::Sealed {}

pub(crate) mod sealed {
    use super::{Rebuilder, StoreError, Writes};

    /// What a store does for a [`DurableTable`](super::DurableTable).
    pub trait Sealed {
        /// The schema version the store holds: [`SCHEMA_VERSION`](super::SCHEMA_VERSION), or an
        /// older one that [`upgrade`](Sealed::upgrade) brings forward before anything else.
        fn version(&self) -> i64;
        /// Hands every row, as stored, to `into`: the jobs, then each task with its attempts.
        /// Reads a store of any version [`version`](Sealed::version) may be.
        fn load(&mut self, into: &mut Rebuilder) -> Result<(), StoreError>;
        /// Writes in one transaction: all land or none do.
        fn commit(&mut self, writes: &Writes) -> Result<(), StoreError>;
        /// Brings the schema one version forward, in one transaction: runs `ddl` (in the SQL of
        /// [`rows`](super::rows), `$INT` for the store's integer type), writes `writes` with the
        /// new schema's statements, and sets the version to `to`. All of it lands, or none.
        fn upgrade(&mut self, ddl: &str, writes: &Writes, to: i64) -> Result<(), StoreError>;
    }
}

/// A job's row.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub(crate) id: JobId,
    pub(crate) seq: i64,
    pub(crate) policy: Option<JobPolicy>,
    /// Its state and error; `None` as read from a version 1 store, which kept neither.
    pub(crate) state: Option<(JobState, Option<String>)>,
}

/// A task's row and its attempts, in the wire form the decoder checks.
#[derive(Clone, Debug)]
pub struct TaskRow {
    pub(crate) status: TaskStatus,
    pub(crate) policy: RetryPolicy,
    pub(crate) seq: i64,
    pub(crate) queue_seq: Option<i64>,
    pub(crate) assign_seq: Option<i64>,
}

/// What one transaction writes: the rows of the tasks and jobs a call (or a batch of calls)
/// changed, as they are after it. Each task's status holds only the attempts to write: those
/// the writes changed (the attempts before them have not changed, and are not even converted).
#[derive(Debug, Default)]
pub struct Writes {
    pub(crate) removed_jobs: Vec<JobId>,
    pub(crate) jobs: Vec<JobRow>,
    pub(crate) tasks: Vec<TaskRow>,
    /// Written after the jobs they may belong to.
    pub(crate) records: Vec<records::RecordRow>,
}

/// Where a task's sequence numbers stand.
#[derive(Clone, Copy, Debug, Default)]
struct Seqs {
    seq: i64,
    queue: Option<i64>,
    assign: Option<i64>,
}

/// Each task's sequence numbers, by the task's slot in the table: the table's own index leads
/// here, where a map of ids would hash each id a second time and keep a second copy of it. A slot
/// the table frees keeps its entry until the next task to take the slot overwrites it.
#[derive(Debug, Default)]
struct SeqsBySlot(Vec<Seqs>);

impl SeqsBySlot {
    fn get(&self, table: &TaskTable, id: &TaskId) -> Option<&Seqs> {
        self.0.get(table.slot_index(id)?)
    }

    fn get_mut(&mut self, table: &TaskTable, id: &TaskId) -> Option<&mut Seqs> {
        self.0.get_mut(table.slot_index(id)?)
    }

    /// The numbers of a task just inserted.
    fn set(&mut self, table: &TaskTable, id: &TaskId, seqs: Seqs) {
        let Some(slot) = table.slot_index(id) else {
            return;
        };
        if slot >= self.0.len() {
            self.0.resize(slot + 1, Seqs::default());
        }
        if let Some(entry) = self.0.get_mut(slot) {
            *entry = seqs;
        }
    }
}

/// A [`TaskTable`] and its store: every call that changes tasks returns only after its
/// transaction committed, and [`open`](DurableTable::open) rebuilds the table exactly (the same
/// tasks, pending order, dispatch-deadline order, per-worker lists, job policies, job states and
/// errors, and counts) after a stop or a crash.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, StateKind, Task, TaskId, Timestamp,
///     WorkerId};
///
/// let dir = std::env::temp_dir().join(format!("iris-task-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("controller.db");
/// # let _ = std::fs::remove_file(&path);
/// {
///     let mut table = DurableTable::open(SqliteStore::open(&path)?)?;
///     let id = TaskId::new(JobId::new("train")?, 0);
///     table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
///     table.assign(&id, WorkerId::new("w1")?, Timestamp::from_millis(1))?;
/// } // the controller stops (or crashes: what returned Ok was committed)
/// let table = DurableTable::open(SqliteStore::open(&path)?)?;
/// assert_eq!(table.table().counts().get(StateKind::Assigned), 1);
/// # drop(table);
/// # std::fs::remove_dir_all(&dir)?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DurableTable<S: Store> {
    table: TaskTable,
    store: S,
    seqs: SeqsBySlot,
    jobs: HashMap<JobId, i64>,
    next: i64,
    /// The calls since [`begin`](DurableTable::begin), not yet written.
    group: Option<Unwritten>,
    /// Why the table can no longer be trusted to equal its store (a call panicked mid-way, or a
    /// failed commit could not be undone by reloading): every later call refuses until reopened.
    poisoned: Option<String>,
    /// Transactions committed since `open`.
    commits: u64,
    /// What `open` did to a store written by an older crate.
    upgrade: Option<SchemaUpgrade>,
    /// The controller's own records ([`Record`]), as committed or grouped.
    records: records::RecordMap,
}

/// What `poisoned` says while a call runs: if it panics, that stays.
const PANICKED: &str = "a call panicked mid-way, so the table may be ahead of its store";

impl<S: Store> fmt::Debug for DurableTable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableTable")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<S: Store> DurableTable<S> {
    /// Loads every row of `store`, checks it, and rebuilds the table exactly as it was committed:
    /// the same tasks, pending queue, dispatch-deadline order, per-worker lists, job policies,
    /// job states and errors, and counts. ([`TaskTable::iter`] lists the tasks in the order they were inserted; before the
    /// reopen, tasks inserted after a `remove_job` could stand in removed ones' places.)
    ///
    /// After a restart, the ASSIGNED, BUILDING and RUNNING tasks come back on their workers as
    /// they were, but the reports sent while no controller listened are gone. Ask the workers
    /// what they run, or declare lost ([`worker_lost`](DurableTable::worker_lost)) those that do
    /// not answer; ASSIGNED tasks whose workers never start them are requeued, free of charge, by
    /// [`expire_assigned`](DurableTable::expire_assigned) as usual.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a row that describes an impossible task (naming the table, the
    /// task and the column), and the store's own errors.
    pub fn open(mut store: S) -> Result<DurableTable<S>, StoreError> {
        let upgrade = upgrade::run(&mut store)?;
        let (table, seqs, jobs, next, records) = rebuild(&mut store)?;
        Ok(DurableTable {
            table,
            store,
            seqs,
            jobs,
            next,
            group: None,
            poisoned: None,
            commits: 0,
            upgrade,
            records,
        })
    }

    /// What [`open`](DurableTable::open) did to a store written by an older version of this
    /// crate (schema version 1: 0.2): `None` for a store that was current. The upgrade ran in
    /// one transaction before the table was loaded (a crash during it leaves the store as it
    /// was, and the next `open` upgrades it again). It judged every job's state once under the
    /// current rules and recorded it; [`SchemaUpgrade::jobs`] lists those whose state changed.
    /// It changed no task, so a job it ended keeps the tasks that had not ended as they were,
    /// waiting or running: stop them as the job-end rule would have, with
    /// [`stop_ended_job`](DurableTable::stop_ended_job) (the job keeps its state and error).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, SqliteStore, Timestamp};
    ///
    /// # let path = std::env::temp_dir().join(format!("iris-task-upgrade-doc-{}.db", std::process::id()));
    /// let mut table = DurableTable::open(SqliteStore::open(&path)?)?;
    /// if let Some(upgrade) = table.upgrade().cloned() {
    ///     for (job, step) in upgrade.jobs() {
    ///         println!("{job}: {} under 0.2, {} now", step.from, step.to);
    ///         table.stop_ended_job(job, Timestamp::from_millis(0))?;
    ///     }
    /// }
    /// # drop(table);
    /// # let _ = std::fs::remove_file(&path);
    /// # }
    /// # Ok::<(), iris_task::StoreError>(())
    /// ```
    pub fn upgrade(&self) -> Option<&SchemaUpgrade> {
        self.upgrade.as_ref()
    }

    /// Mints the uids of the attempts assignments open with `minter` from now on, as
    /// [`TaskTable::set_uid_minter`] does. Nothing is written: the uids minted are, with their
    /// attempts. A reopened table mints with a fresh [`UidMinter::random`](crate::UidMinter::random).
    pub fn set_uid_minter(&mut self, minter: crate::UidMinter) {
        self.table.set_uid_minter(minter);
    }

    /// The table, as committed.
    pub fn table(&self) -> &TaskTable {
        &self.table
    }

    /// The transactions this table has committed since it was opened: one per call, batch or
    /// group that changed something (one that changed nothing writes nothing). For a
    /// controller's metrics.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// let id = TaskId::new(JobId::new("job")?, 0);
    /// table.insert(Task::new(id, RetryPolicy::default()))?;
    /// table.batch(|batch| batch.schedule(Timestamp::from_millis(1), |_| None::<WorkerId>))?; // assigns nothing
    /// assert_eq!(table.commits(), 1);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The table, as committed, without its store (which closes, releasing its lock). An open
    /// [group](DurableTable::begin) that was not committed is not in the store: its calls are in
    /// the table returned, and lost to the store.
    pub fn into_table(self) -> TaskTable {
        self.table
    }

    /// Runs several calls in one transaction (a controller's tick): all land or none do. A call
    /// rejected inside the batch (a [`TableError`]) changes nothing and the batch goes on; only a
    /// database error aborts it, and then the table returns to where it was before the batch.
    /// Inside an open [group](DurableTable::begin), the batch joins the group instead. The calls
    /// the closure made are committed whatever it returns: an early `return Err(..)` from it does
    /// not undo them.
    ///
    /// # Errors
    /// The store's error if the transaction did not commit.
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut Batch<'_, S>) -> R) -> Result<R, StoreError> {
        self.usable()?;
        self.poisoned = Some(PANICKED.to_owned());
        let grouped = self.group.is_some();
        let open = self.group.take().unwrap_or_default();
        let mut batch = Batch {
            durable: self,
            writes: open,
        };
        let result = f(&mut batch);
        let writes = std::mem::take(&mut batch.writes);
        self.poisoned = None;
        if grouped {
            // Inside an open group, the batch is part of it: the group's commit writes it.
            self.group = Some(writes);
        } else {
            self.write(writes)?;
        }
        Ok(result)
    }

    /// Refuses to go on with a table that may differ from its store.
    fn usable(&self) -> Result<(), StoreError> {
        match &self.poisoned {
            Some(why) => Err(StoreError::Poisoned { why: why.clone() }),
            None => Ok(()),
        }
    }

    /// Opens a group: the calls that follow change the table at once, as always, but are written
    /// together by the next [`commit`](DurableTable::commit), in one transaction. The way to
    /// commit in groups from a loop whose calls do not fit in one [`batch`](DurableTable::batch)
    /// closure (a controller's tick spread over several functions, a writer that commits every
    /// few milliseconds for many clients). Until the commit, nothing of the group is durable:
    /// acknowledge the calls to others only after it, and commit before dropping the table (a
    /// group dropped uncommitted is lost, as a crash would lose it). Opening an open group does
    /// nothing.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskId};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// table.begin();
    /// for index in 0..100 {
    ///     table.insert(Task::new(TaskId::new(JobId::new("job")?, index), RetryPolicy::default()))?;
    /// }
    /// assert!(table.in_group());
    /// table.commit()?; // one transaction for the hundred
    /// assert_eq!(table.table().len(), 100);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin(&mut self) {
        if self.group.is_none() {
            self.group = Some(Unwritten::default());
        }
    }

    /// A group is open: calls are not durable until [`commit`](DurableTable::commit).
    pub fn in_group(&self) -> bool {
        self.group.is_some()
    }

    /// Writes the open group in one transaction and closes it; without a group, does nothing.
    /// If the transaction fails, the table returns to what the store holds (the whole group is
    /// gone) and the group is closed.
    ///
    /// # Errors
    /// The store's error if the transaction did not commit.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.usable()?;
        match self.group.take() {
            Some(group) => self.write(group),
            None => Ok(()),
        }
    }

    /// Runs one call: in its own transaction, or in the open group. A call the table refuses
    /// changed nothing, so its batch writes nothing.
    fn one<R>(
        &mut self,
        call: impl FnOnce(&mut Batch<'_, S>) -> Result<R, TableError>,
    ) -> Result<R, StoreError> {
        self.batch(call)?.map_err(StoreError::Table)
    }

    /// Writes what a call or batch changed; on failure, reloads the table from the store so that
    /// memory is never ahead of it.
    fn write(&mut self, pending: Unwritten) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        // A panic from here on (in the store's client, say: the `postgres` client panics when
        // called from inside an async runtime) would leave the table ahead of its store.
        self.poisoned = Some(PANICKED.to_owned());
        let writes = match self.materialize(&pending) {
            Ok(writes) => writes,
            Err(why) => {
                self.poisoned = Some(why.clone());
                return Err(StoreError::Poisoned { why });
            }
        };
        if let Err(err) = self.store.commit(&writes) {
            match rebuild(&mut self.store) {
                Ok((table, seqs, jobs, next, records)) => {
                    self.table = table;
                    self.seqs = seqs;
                    self.jobs = jobs;
                    self.next = next;
                    self.records = records;
                    self.poisoned = None;
                }
                // The store is unreachable: memory cannot be brought back to it. Refuse every
                // later call rather than run ahead of it.
                Err(reload) => {
                    self.poisoned = Some(format!(
                        "a commit failed ({err}) and reloading failed ({reload})"
                    ));
                }
            }
            return Err(err);
        }
        self.poisoned = None;
        self.commits += 1;
        Ok(())
    }

    /// The rows of what `pending` names, as the table holds them now. A task or job the table
    /// knows without its sequence numbers would be written without its place: that is a bug in
    /// this crate, and the error says so rather than commit less than the call changed.
    fn materialize(&self, pending: &Unwritten) -> Result<Writes, String> {
        let missing = |what: String| {
            format!("{what} has no sequence number (a bug in iris-task): nothing was written")
        };
        let mut writes = Writes {
            removed_jobs: pending.removed_jobs.clone(),
            records: records::rows(&self.records, &pending.records),
            ..Writes::default()
        };
        for job in &pending.jobs {
            let Some(&seq) = self.jobs.get(job) else {
                return Err(missing(format!("job {job}")));
            };
            let Some(kept) = self.table.job(job) else {
                return Err(missing(format!("job {job}")));
            };
            writes.jobs.push(JobRow {
                id: job.clone(),
                seq,
                policy: kept.policy().copied(),
                state: Some((kept.state(), kept.error().map(str::to_owned))),
            });
        }
        for (id, attempts_from) in &pending.tasks {
            // A task removed after it changed is gone from the table: its rows were deleted.
            let Some(task) = self.table.get(id) else {
                continue;
            };
            let Some(seqs) = self.seqs.get(&self.table, id) else {
                return Err(missing(format!("task {id}")));
            };
            writes.tasks.push(TaskRow {
                status: crate::proto::status_with_attempts_from(task, *attempts_from),
                policy: *task.policy(),
                seq: seqs.seq,
                queue_seq: seqs.queue,
                assign_seq: seqs.assign,
            });
        }
        Ok(writes)
    }
}

impl<S: Store> DurableTable<S> {
    /// The next sequence number.
    fn tick(&mut self) -> i64 {
        // `open` refuses numbers above `SEQ_MAX`, half of i64's range: the other half is more
        // calls than a controller makes in any lifetime, so this cannot overflow.
        self.next += 1;
        self.next
    }

    /// [`TaskTable::insert`], committed.
    ///
    /// # Errors
    /// [`StoreError::Table`] if the table refuses the task (nothing is written), or the store's
    /// error.
    pub fn insert(&mut self, task: impl Into<AnyTask>) -> Result<Changes, StoreError> {
        let task = task.into();
        self.one(|batch| batch.insert(task))
    }

    /// [`TaskTable::insert_job`], committed: the job and all its tasks in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Table`] if the table refuses (nothing is written), or the store's error.
    pub fn insert_job<T: Into<AnyTask>>(
        &mut self,
        job: JobId,
        policy: JobPolicy,
        tasks: impl IntoIterator<Item = T>,
    ) -> Result<Changes, StoreError> {
        let tasks: Vec<AnyTask> = tasks.into_iter().map(Into::into).collect();
        self.one(|batch| batch.insert_job(job, policy, tasks))
    }

    /// [`TaskTable::set_job_policy`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn set_job_policy(&mut self, job: JobId, policy: JobPolicy) -> Result<(), StoreError> {
        self.one(|batch| {
            batch.set_job_policy(job, policy);
            Ok(())
        })
    }

    /// [`TaskTable::assign`], committed.
    ///
    /// # Errors
    /// [`StoreError::Table`] if the table refuses (nothing is written), or the store's error.
    pub fn assign(
        &mut self,
        id: &TaskId,
        worker: WorkerId,
        at: Timestamp,
    ) -> Result<&Task<Assigned>, StoreError> {
        self.one(|batch| batch.assign(id, worker, at).map(|_| ()))?;
        match self.table.get(id) {
            Some(AnyTask::Assigned(task)) => Ok(task),
            _ => Err(StoreError::Table(TableError::UnknownTask(id.clone()))),
        }
    }

    /// [`TaskTable::schedule`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn schedule<P: IntoWorkers>(
        &mut self,
        at: Timestamp,
        place: impl FnMut(&Offer<'_>) -> Option<P>,
    ) -> Result<Changes, StoreError> {
        self.one(|batch| Ok(batch.schedule(at, place)))
    }

    /// [`TaskTable::apply`], committed.
    ///
    /// # Errors
    /// [`StoreError::Table`] for an event the table rejects (nothing is written), or the store's
    /// error.
    pub fn apply(&mut self, id: &TaskId, event: TaskEvent) -> Result<Changes, StoreError> {
        self.one(|batch| batch.apply(id, event))
    }

    /// [`TaskTable::reconcile_request`]: `worker`'s desired set, from the committed table (a
    /// read; nothing to commit).
    pub fn reconcile_request(
        &self,
        worker: &WorkerId,
        spec: impl FnMut(&crate::AnyTask) -> Option<crate::today::job::RunTaskRequest>,
    ) -> crate::today::cluster::worker::ReconcileRequest {
        self.table.reconcile_request(worker, spec)
    }

    /// [`TaskTable::reconcile`], committed: the tasks the answer moved and the stops it
    /// confirmed are written in one transaction.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::today::cluster::worker::{AttemptObservation, ReconcileResponse};
    /// use iris_task::today::job::TaskState;
    /// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, StateKind, Task, TaskId, Timestamp, WorkerId};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// let id = TaskId::from_path("/alice/train/0")?;
    /// let w1 = WorkerId::new("w1")?;
    /// table.insert(Task::new(id.clone(), RetryPolicy::default()))?;
    /// let uid = table.assign(&id, w1.clone(), Timestamp::from_millis(1))?.attempts()[0].uid();
    /// let answer = ReconcileResponse {
    ///     worker_id: Some("w1".into()),
    ///     observed: vec![AttemptObservation {
    ///         attempt_uid: Some(uid.to_string()),
    ///         state: Some(TaskState::Running as i32),
    ///         ..Default::default()
    ///     }],
    ///     ..Default::default()
    /// };
    /// let reconciled = table.reconcile(&w1, answer, Timestamp::from_millis(2))?.unwrap();
    /// assert!(reconciled.refused.is_empty());
    /// assert_eq!(table.table().get(&id).map(|task| task.state()), Some(StateKind::Running));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The store's error; the answer's own refusal is the inner `Result`, and changes nothing.
    pub fn reconcile(
        &mut self,
        worker: &WorkerId,
        response: crate::today::cluster::worker::ReconcileResponse,
        at: Timestamp,
    ) -> Result<Result<crate::Reconciled, crate::ReconcileError>, StoreError> {
        self.one(|batch| Ok(batch.reconcile(worker, response, at)))
    }

    /// [`TaskTable::confirm_stop`], committed.
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Table`] as `confirm_stop` refuses.
    pub fn confirm_stop(
        &mut self,
        worker: &WorkerId,
        uid: crate::AttemptUid,
    ) -> Result<Changes, StoreError> {
        self.one(|batch| batch.confirm_stop(worker, uid))
    }

    /// [`TaskTable::worker_lost`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn worker_lost(
        &mut self,
        worker: &WorkerId,
        error: &str,
        at: Timestamp,
    ) -> Result<Changes, StoreError> {
        self.one(|batch| Ok(batch.worker_lost(worker, error, at)))
    }

    /// [`TaskTable::expire_assigned`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn expire_assigned(
        &mut self,
        now: Timestamp,
        max_wait: Duration,
    ) -> Result<Changes, StoreError> {
        self.one(|batch| Ok(batch.expire_assigned(now, max_wait)))
    }

    /// [`TaskTable::kill_job`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn kill_job(
        &mut self,
        job: &JobId,
        reason: &str,
        at: Timestamp,
    ) -> Result<Changes, StoreError> {
        self.one(|batch| Ok(batch.kill_job(job, reason, at)))
    }

    /// [`TaskTable::stop_ended_job`], committed.
    ///
    /// # Errors
    /// The store's error.
    pub fn stop_ended_job(&mut self, job: &JobId, at: Timestamp) -> Result<Changes, StoreError> {
        self.one(|batch| Ok(batch.stop_ended_job(job, at)))
    }

    /// [`TaskTable::remove_job`], committed: the job's rows are deleted in the same transaction,
    /// so a controller that removes finished jobs stays flat in memory and on disk.
    ///
    /// # Errors
    /// [`StoreError::Table`] for a job with a task that has not ended (nothing is written), or
    /// the store's error.
    pub fn remove_job(&mut self, job: &JobId) -> Result<Vec<AnyTask>, StoreError> {
        self.one(|batch| batch.remove_job(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// A store whose client panics in the commit, as the blocking `postgres` client does when
    /// called from inside an async runtime.
    struct Panicking;

    impl sealed::Sealed for Panicking {
        fn version(&self) -> i64 {
            SCHEMA_VERSION
        }
        fn upgrade(&mut self, _: &str, _: &Writes, _: i64) -> Result<(), StoreError> {
            Ok(())
        }
        fn load(&mut self, _: &mut Rebuilder) -> Result<(), StoreError> {
            Ok(())
        }
        fn commit(&mut self, _: &Writes) -> Result<(), StoreError> {
            panic!("the client panicked")
        }
    }

    impl Store for Panicking {}

    #[test]
    fn a_panic_inside_the_commit_poisons_the_table() {
        let mut table = DurableTable::open(Panicking).unwrap();
        let task = |index| {
            Task::new(
                TaskId::new(JobId::new("job").unwrap(), index),
                RetryPolicy::default(),
            )
        };
        let panicked = catch_unwind(AssertUnwindSafe(|| table.insert(task(0))));
        assert!(panicked.is_err());
        // The table holds a task its store may not: every later call refuses.
        match table.insert(task(1)) {
            Err(StoreError::Poisoned { why }) => assert!(why.contains("panicked"), "{why}"),
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
}
