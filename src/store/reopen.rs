//! Reopening: a table rebuilt from a store's rows as they are read, each checked as it comes,
//! with the pending queue, the workers' lists and the deadline order restored from the sequences.

use hashbrown::HashMap;

use super::{JobRow, Seqs, SeqsBySlot, Store, StoreError, TaskRow, records};
use crate::any::AnyTask;
use crate::id::{JobId, Timestamp, WorkerId};
use crate::proto::{Interner, ProtoError};
use crate::state::StateKind;
use crate::table::{JobRecord, Layout, Nth, RestoreError, TableError, TaskTable};

/// The table, the sequence numbers and the next free one, from what a store holds.
type Rebuilt = (
    TaskTable,
    SeqsBySlot,
    HashMap<JobId, i64>,
    i64,
    records::RecordMap,
);

/// In `(number, position)` pairs sorted by number, the position of the second of the first two
/// that share a number.
fn tie(sorted: &[(i64, u32)]) -> Option<u32> {
    sorted
        .windows(2)
        .find(|pair| pair[0].0 == pair[1].0)
        .map(|pair| pair[1].1)
}

/// Loads `store` into a table.
pub(super) fn rebuild<S: Store>(store: &mut S) -> Result<Rebuilt, StoreError> {
    let mut rebuilder = Rebuilder::default();
    store.load(&mut rebuilder)?;
    rebuilder.finish()
}

/// Builds a table from a store's rows as they are read: each task decoded (and so checked) as it
/// comes, the orders kept as positions among the tasks read, never as ids to look up again.
#[derive(Debug, Default)]
pub struct Rebuilder {
    jobs: Vec<JobRow>,
    /// The tasks in the order read (by id), each with its sequence numbers.
    tasks: Vec<(AnyTask, Seqs)>,
    /// (queue_seq, position) of each pending task.
    pending: Vec<(i64, u32)>,
    /// (assign_seq, position) of each active task.
    active: Vec<(i64, u32)>,
    /// The greatest sequence number seen.
    next: i64,
    /// The ids decoded so far, for the next tasks to share.
    ids: Interner,
    /// The records' rows, checked against the jobs once all are read.
    records: Vec<(String, String, Option<String>, Vec<u8>)>,
}

/// The greatest sequence number `open` accepts: half of i64's range, so that the numbers a
/// table hands out after it can never overflow.
const SEQ_MAX: i64 = i64::MAX / 2;

/// A sequence number the store holds, checked: this crate writes 1, 2, 3, …
fn seq_of(
    value: i64,
    table: &'static str,
    task: Option<&str>,
    column: &str,
) -> Result<i64, StoreError> {
    if (1..=SEQ_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(StoreError::Corrupt {
            table,
            task: task.map(str::to_owned),
            column: column.to_owned(),
            why: format!("{value} is not a sequence number (1 to {SEQ_MAX})"),
        })
    }
}

impl Rebuilder {
    /// A record's row: space, key, job_id, value.
    pub(crate) fn record(&mut self, row: (String, String, Option<String>, Vec<u8>)) {
        self.records.push(row);
    }

    pub(crate) fn job(&mut self, row: JobRow) -> Result<(), StoreError> {
        let seq = seq_of(row.seq, "jobs", None, "seq")?;
        self.next = self.next.max(seq);
        self.jobs.push(row);
        Ok(())
    }

    pub(crate) fn task(&mut self, row: TaskRow) -> Result<(), StoreError> {
        let TaskRow {
            status,
            policy,
            seq,
            queue_seq,
            assign_seq,
        } = row;
        let name = status.task_id.clone();
        for (value, column) in [
            (Some(seq), "seq"),
            (queue_seq, "queue_seq"),
            (assign_seq, "assign_seq"),
        ] {
            if let Some(value) = value {
                seq_of(value, "tasks", Some(&name), column)?;
            }
        }
        let task = AnyTask::from_proto_interned(status, policy, &mut self.ids)
            .map_err(|err| corrupt_task(&name, &err))?;
        let column = |column: &str, why: &str| StoreError::Corrupt {
            table: "tasks",
            task: Some(name.clone()),
            column: column.to_owned(),
            why: why.to_owned(),
        };
        let position = u32::try_from(self.tasks.len())
            .map_err(|_| column("task_id", "more tasks than a table holds"))?;
        let state = task.state();
        if state == StateKind::Pending {
            let queue = queue_seq
                .ok_or_else(|| column("queue_seq", "a pending task has its place in the queue"))?;
            self.pending.push((queue, position));
        }
        if state.is_active() {
            let assign = assign_seq.ok_or_else(|| {
                column("assign_seq", "an active task has its place on its worker")
            })?;
            self.active.push((assign, position));
        }
        for seq in [Some(seq), queue_seq, assign_seq].into_iter().flatten() {
            self.next = self.next.max(seq);
        }
        let seqs = Seqs {
            seq,
            queue: queue_seq,
            assign: assign_seq,
        };
        self.tasks.push((task, seqs));
        Ok(())
    }

    fn finish(self) -> Result<Rebuilt, StoreError> {
        let Rebuilder {
            mut jobs,
            tasks,
            mut pending,
            mut active,
            next,
            ids: _,
            records: record_rows,
        } = self;
        jobs.sort_by_key(|job| job.seq);
        if let Some(pair) = jobs.windows(2).find(|pair| pair[0].seq == pair[1].seq) {
            return Err(StoreError::Corrupt {
                table: "jobs",
                task: None,
                column: "seq".to_owned(),
                why: format!(
                    "jobs {} and {} have the same place in the job order",
                    pair[0].id, pair[1].id
                ),
            });
        }
        let mut job_seqs = HashMap::with_capacity(jobs.len());
        for job in &jobs {
            job_seqs.insert(job.id.clone(), job.seq);
        }
        let named = |position: u32| {
            tasks
                .get(position as usize)
                .map(|(task, _)| task.id().to_string())
        };
        // Two tasks with one place are not ordered by anything the store says: refuse, not guess.
        let twice = |column: &str, position: u32| StoreError::Corrupt {
            table: "tasks",
            task: named(position),
            column: column.to_owned(),
            why: "another task has the same place".to_owned(),
        };
        pending.sort_unstable();
        if let Some(position) = tie(&pending) {
            return Err(twice("queue_seq", position));
        }
        active.sort_unstable();
        if let Some(position) = tie(&active) {
            return Err(twice("assign_seq", position));
        }
        // Insertion order: the positions sorted by `seq`; the task at position p goes to slot
        // `slot[p]`, where `restore` puts the n-th task it is given.
        let mut order: Vec<(i64, u32)> = tasks
            .iter()
            .zip(0u32..)
            .map(|((_, seqs), position)| (seqs.seq, position))
            .collect();
        order.sort_unstable();
        if let Some(position) = tie(&order) {
            return Err(twice("seq", position));
        }
        let mut slot = vec![Nth(0); tasks.len()];
        for (n, &(_, position)) in (0u32..).zip(&order) {
            if let Some(entry) = slot.get_mut(position as usize) {
                *entry = Nth(n);
            }
        }
        let at = |position: u32| slot.get(position as usize).copied().unwrap_or_default();
        let mut by_worker: HashMap<WorkerId, Vec<Nth>> = HashMap::new();
        let mut assigned: Vec<(Option<Timestamp>, i64, Nth)> = Vec::new();
        for &(seq, position) in &active {
            let Some((task, _)) = tasks.get(position as usize) else {
                continue;
            };
            if let Some(worker) = task.worker() {
                match by_worker.get_mut(worker) {
                    Some(list) => list.push(at(position)),
                    None => {
                        by_worker.insert(worker.clone(), vec![at(position)]);
                    }
                }
            }
            if task.state() == StateKind::Assigned {
                let assigned_at = task.current_attempt().map(|a| a.assigned_at());
                assigned.push((assigned_at, seq, at(position)));
            }
        }
        assigned.sort_unstable_by_key(|&(at, seq, _)| (at, seq));
        let layout = Layout {
            pending: pending.iter().map(|&(_, position)| at(position)).collect(),
            assigned: assigned.into_iter().map(|(_, _, slot)| slot).collect(),
            workers: by_worker.into_iter().collect(),
        };
        // Move the tasks into insertion order, and their numbers with them.
        let mut tasks: Vec<Option<(AnyTask, Seqs)>> = tasks.into_iter().map(Some).collect();
        let mut seqs = Vec::with_capacity(tasks.len());
        let mut ordered = Vec::with_capacity(tasks.len());
        for &(_, position) in &order {
            if let Some((task, numbers)) = tasks.get_mut(position as usize).and_then(Option::take) {
                ordered.push(task);
                seqs.push(numbers);
            }
        }
        let table = TaskTable::restore(
            jobs.into_iter().map(|job| JobRecord {
                id: job.id,
                policy: job.policy,
                state: job.state,
            }),
            ordered,
            layout,
        )
        .map_err(|err| match err {
            RestoreError::Table(TableError::DuplicateAttemptUid { task, uid, holder }) => {
                StoreError::Corrupt {
                    table: "task_attempts",
                    task: Some(task.to_string()),
                    column: "attempt_uid".to_owned(),
                    why: format!("{uid} is also the uid of an attempt of task {holder}"),
                }
            }
            RestoreError::Table(err) => StoreError::Corrupt {
                table: "tasks",
                task: None,
                column: "task_id".to_owned(),
                why: err.to_string(),
            },
            RestoreError::UnlistedJob(task) => StoreError::Corrupt {
                table: "tasks",
                column: "job_id".to_owned(),
                why: format!("job {} has no row in jobs", task.job()),
                task: Some(task.to_string()),
            },
            RestoreError::Layout(why) => StoreError::Corrupt {
                table: "tasks",
                task: None,
                column: "job_id".to_owned(),
                why,
            },
            RestoreError::JobState(job, why) => StoreError::Corrupt {
                table: "jobs",
                task: None,
                column: "state".to_owned(),
                why: format!("job {job}: {why}"),
            },
        })?;
        let mut records = records::RecordMap::new();
        for row in record_rows {
            let (place, record) = records::read(row, &job_seqs)?;
            records.insert(place, record);
        }
        Ok((table, SeqsBySlot(seqs), job_seqs, next, records))
    }
}

/// A decoding error of a stored task, as the table and column it names.
fn corrupt_task(task: &str, err: &ProtoError) -> StoreError {
    let text = err.to_string();
    // The decoder names fields as `TaskStatus.attempts[2].finished_at_ms` or `TaskStatus.state`.
    let field = text.split(':').next().unwrap_or_default();
    let (table, column) = match field.strip_prefix("TaskStatus.attempts[") {
        Some(rest) => (
            "task_attempts",
            rest.split_once("].")
                .map_or(rest, |(_, column)| column)
                .split(' ')
                .next()
                .unwrap_or_default(),
        ),
        None => (
            "tasks",
            field
                .strip_prefix("TaskStatus.")
                .unwrap_or(field)
                .split(' ')
                .next()
                .unwrap_or_default(),
        ),
    };
    StoreError::Corrupt {
        table,
        task: Some(task.to_owned()),
        column: column.to_owned(),
        why: text,
    }
}
