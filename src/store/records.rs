//! Records: a controller's own data, kept in the table's store and committed in the table's
//! transactions. A controller keeps more than tasks: the request that launched each job, the
//! bundle its workers fetch, the workers it has registered. Kept in a second database, they
//! could disagree with the table after a crash (a task whose job spec was never written). Kept
//! as records, they land in the same transaction as the table's changes, or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Batch, DurableTable, Store, StoreError};
use crate::id::JobId;
use crate::table::TableError;

/// One record: its bytes, and the job it belongs to, if any (it is removed with that job by
/// [`remove_job`](DurableTable::remove_job)). Get them with [`DurableTable::record`] and
/// [`DurableTable::records`]; write them with [`Batch::put_record`]. The bytes are shared, not
/// copied, by [`shared_value`](Record::shared_value): a controller can hand a large record (a
/// bundle) to another thread without holding up the one that owns the table.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskId};
///
/// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
/// let job = JobId::from_path("/alice/train")?;
/// table.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
/// table.put_record("bundle", job.as_str(), Some(&job), vec![0x50, 0x4b])?;
/// table.put_record("worker", "w1", None, b"127.0.0.1:9000".to_vec())?;
/// let bundle = table.record("bundle", "/alice/train").unwrap();
/// assert_eq!((bundle.job(), bundle.value()), (Some(&job), &[0x50, 0x4b][..]));
/// let shared = bundle.shared_value(); // no copy
/// assert_eq!(table.record("worker", "w1").and_then(|r| r.job()), None, "the controller's own");
/// # drop(shared);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    job: Option<JobId>,
    value: Arc<[u8]>,
}

impl Record {
    /// The job the record belongs to; `None` for a record of the controller's own (a worker
    /// registry, say), which stays until it is removed.
    pub fn job(&self) -> Option<&JobId> {
        self.job.as_ref()
    }

    /// The record's bytes, as they were put (the crate does not read them).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The record's bytes, shared: a clone of a reference count, not of the bytes.
    pub fn shared_value(&self) -> Arc<[u8]> {
        Arc::clone(&self.value)
    }
}

/// A record's place: its space (a kind of record, `"spec"` or `"worker"`) and its key there.
pub(crate) type RecordKey = (String, String);

/// Every record, by space then key.
pub(crate) type RecordMap = BTreeMap<RecordKey, Record>;

/// A record to write: its bytes, or `None` to delete its row.
#[derive(Clone, Debug)]
pub(crate) struct RecordRow {
    pub(crate) space: String,
    pub(crate) key: String,
    pub(crate) job: Option<String>,
    pub(crate) value: Option<Arc<[u8]>>,
}

/// The rows of the records `changed` names, as `records` holds them now.
pub(crate) fn rows(records: &RecordMap, changed: &BTreeSet<RecordKey>) -> Vec<RecordRow> {
    changed
        .iter()
        .map(|(space, key)| {
            let now = records.get(&(space.clone(), key.clone()));
            RecordRow {
                space: space.clone(),
                key: key.clone(),
                job: now
                    .and_then(|r| r.job.as_ref())
                    .map(|j| j.as_str().to_owned()),
                value: now.map(|r| Arc::clone(&r.value)),
            }
        })
        .collect()
}

/// A record row as a store reads it, checked against the jobs it holds.
pub(crate) fn read(
    (space, key, job, value): (String, String, Option<String>, Vec<u8>),
    jobs: &hashbrown::HashMap<JobId, i64>,
) -> Result<(RecordKey, Record), StoreError> {
    let corrupt = |column: &str, why: String| StoreError::Corrupt {
        table: "records",
        task: None,
        column: column.to_owned(),
        why,
    };
    if space.is_empty() {
        return Err(corrupt(
            "space",
            format!("record {key:?} has an empty space"),
        ));
    }
    let job = match job {
        None => None,
        Some(name) => {
            let id = JobId::new(name.as_str())
                .map_err(|err| corrupt("job_id", format!("record {space}/{key}: {err}")))?;
            if !jobs.contains_key(&id) {
                return Err(corrupt(
                    "job_id",
                    format!("record {space}/{key} belongs to job {id}, which has no row in jobs"),
                ));
            }
            Some(id)
        }
    };
    Ok((
        (space, key),
        Record {
            job,
            value: Arc::from(value),
        },
    ))
}

impl<S: Store> DurableTable<S> {
    /// The record `key` of `space`, as committed (or as the open group holds it).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, JobId, RetryPolicy, SqliteStore, Task, TaskId};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// let job = JobId::new("train")?;
    /// table.batch(|batch| {
    ///     batch.insert(Task::new(TaskId::new(job.clone(), 0), RetryPolicy::default()))?;
    ///     // The job's spec lands with its tasks, or neither does.
    ///     batch.put_record("spec", job.as_str(), Some(&job), b"the launch request".to_vec())
    /// })??;
    /// assert_eq!(table.record("spec", "train").map(|r| r.value()), Some(&b"the launch request"[..]));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record(&self, space: &str, key: &str) -> Option<&Record> {
        self.records.get(&(space.to_owned(), key.to_owned()))
    }

    /// Every record of `space`, by key.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, SqliteStore};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// for (id, address) in [("w2", "10.0.0.2:9000"), ("w1", "10.0.0.1:9000")] {
    ///     table.put_record("worker", id, None, address.as_bytes().to_vec())?;
    /// }
    /// table.put_record("other", "w0", None, Vec::new())?;
    /// let workers: Vec<&str> = table.records("worker").map(|(id, _)| id).collect();
    /// assert_eq!(workers, ["w1", "w2"]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records<'a>(&'a self, space: &'a str) -> impl Iterator<Item = (&'a str, &'a Record)> {
        self.records
            .range((space.to_owned(), String::new())..)
            .take_while(move |((s, _), _)| s == space)
            .map(|((_, key), record)| (key.as_str(), record))
    }

    /// [`Batch::put_record`], committed (or joined to the open group). The example of
    /// [`Record`] shows it.
    ///
    /// # Errors
    /// [`StoreError::Table`] with [`TableError::UnknownJob`] for a job the table does not
    /// know, or the store's error.
    pub fn put_record(
        &mut self,
        space: &str,
        key: &str,
        job: Option<&JobId>,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.one(|batch| batch.put_record(space, key, job, value))
    }

    /// [`Batch::remove_record`], committed (or joined to the open group).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use iris_task::{DurableTable, SqliteStore};
    ///
    /// let mut table = DurableTable::open(SqliteStore::open_in_memory()?)?;
    /// table.put_record("worker", "w1", None, b"10.0.0.1:9000".to_vec())?;
    /// let gone = table.remove_record("worker", "w1")?;
    /// assert_eq!(gone.map(|r| r.value().to_vec()), Some(b"10.0.0.1:9000".to_vec()));
    /// assert!(table.remove_record("worker", "w1")?.is_none());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub fn remove_record(&mut self, space: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.one(|batch| Ok(batch.remove_record(space, key)))
    }
}

impl<S: Store> Batch<'_, S> {
    /// Puts the record `key` of `space` (replacing the one there), written in the batch's
    /// transaction. A space is a kind of record, named by the controller (`"spec"` for job
    /// specs, `"bundle"`, `"worker"`); the bytes are the controller's own encoding (a protobuf
    /// message, say), which the crate never reads. A record that belongs to `job` is removed with it
    /// ([`remove_job`](Batch::remove_job)); the job must be one the table knows (insert its
    /// tasks or set its policy first, in the same batch if you like).
    ///
    /// See [`DurableTable::record`] for an example.
    ///
    /// # Errors
    /// [`TableError::UnknownJob`] for a job the table does not know; the batch goes on, and
    /// nothing was put.
    pub fn put_record(
        &mut self,
        space: &str,
        key: &str,
        job: Option<&JobId>,
        value: Vec<u8>,
    ) -> Result<(), TableError> {
        if let Some(job) = job {
            if !self.durable.jobs.contains_key(job) {
                return Err(TableError::UnknownJob(job.clone()));
            }
        }
        let place = (space.to_owned(), key.to_owned());
        let record = Record {
            job: job.cloned(),
            value: Arc::from(value),
        };
        self.durable.records.insert(place.clone(), record);
        self.writes.records.insert(place);
        Ok(())
    }

    /// Removes the record `key` of `space`, in the batch's transaction; returns it, or `None`
    /// if there was none. [`DurableTable::remove_record`] has an example.
    pub fn remove_record(&mut self, space: &str, key: &str) -> Option<Record> {
        let place = (space.to_owned(), key.to_owned());
        let removed = self.durable.records.remove(&place);
        if removed.is_some() {
            self.writes.records.insert(place);
        }
        removed
    }

    /// The record `key` of `space`, as the batch has it so far (its puts and removals
    /// included).
    pub fn record(&self, space: &str, key: &str) -> Option<&Record> {
        self.durable.record(space, key)
    }

    /// Drops the records of a removed job from memory; the store deletes their rows with the
    /// job's.
    pub(crate) fn forget_records_of(&mut self, job: &JobId) {
        let owned: Vec<RecordKey> = self
            .durable
            .records
            .iter()
            .filter(|(_, record)| record.job.as_ref() == Some(job))
            .map(|(place, _)| place.clone())
            .collect();
        for place in owned {
            self.durable.records.remove(&place);
            // Written as a delete: the store deletes the job's rows, and a row this batch put
            // for the job over an older record of the same key must not leave that older one.
            self.writes.records.insert(place);
        }
    }
}
