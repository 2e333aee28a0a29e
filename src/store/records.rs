//! Records: a controller's own data, kept in the table's store and committed in the table's
//! transactions. A controller keeps more than tasks: the request that launched each job, the
//! bundle its workers fetch, the workers it has registered. Kept in a second database, they
//! could disagree with the table after a crash (a task whose job spec was never written). Kept
//! as records, they land in the same transaction as the table's changes, or not at all.

use std::collections::{BTreeMap, BTreeSet};

use super::{Batch, DurableTable, Store, StoreError};
use crate::id::JobId;
use crate::table::TableError;

/// One record: its bytes, and the job it belongs to, if any (it is removed with that job by
/// [`remove_job`](DurableTable::remove_job)). Get them with [`DurableTable::record`] and
/// [`DurableTable::records`]; write them with [`Batch::put_record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    job: Option<JobId>,
    value: Vec<u8>,
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
    pub(crate) value: Option<Vec<u8>>,
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
                value: now.map(|r| r.value.clone()),
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
    Ok(((space, key), Record { job, value }))
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
    pub fn records<'a>(&'a self, space: &'a str) -> impl Iterator<Item = (&'a str, &'a Record)> {
        self.records
            .range((space.to_owned(), String::new())..)
            .take_while(move |((s, _), _)| s == space)
            .map(|((_, key), record)| (key.as_str(), record))
    }

    /// [`Batch::put_record`], committed (or joined to the open group).
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
    /// # Errors
    /// The store's error.
    pub fn remove_record(&mut self, space: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.one(|batch| Ok(batch.remove_record(space, key)))
    }
}

impl<S: Store> Batch<'_, S> {
    /// Puts the record `key` of `space` (replacing the one there), written in the batch's
    /// transaction. A record that belongs to `job` is removed with it
    /// ([`remove_job`](Batch::remove_job)); the job must be one the table knows (insert its
    /// tasks or set its policy first, in the same batch if you like).
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
            value,
        };
        self.durable.records.insert(place.clone(), record);
        self.writes.records.insert(place);
        Ok(())
    }

    /// Removes the record `key` of `space`, in the batch's transaction; returns it, or `None`
    /// if there was none.
    pub fn remove_record(&mut self, space: &str, key: &str) -> Option<Record> {
        let place = (space.to_owned(), key.to_owned());
        let removed = self.durable.records.remove(&place);
        if removed.is_some() {
            self.writes.records.insert(place);
        }
        removed
    }

    /// The records of the table, as the batch has them so far.
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
            self.writes.records.remove(&place);
        }
    }
}
