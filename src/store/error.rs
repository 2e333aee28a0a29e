//! [`StoreError`]: why a store could not be opened, read or written.

use crate::table::TableError;

/// Why a store could not be opened, read or written. After an error from a call, the
/// [`DurableTable`](super::DurableTable) holds what the store holds, or, if even that cannot be
/// had, is [poisoned](StoreError::Poisoned) and refuses every call until reopened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another open store holds it, in another process or in this one: two controllers writing
    /// one store would be split brain.
    #[error(
        "the store {what} is already open for writing (in another process, or by another store in this one): only one controller may write it"
    )]
    Locked {
        /// The store: a path or a connection.
        what: String,
    },
    /// A row that describes a task the lifecycle cannot produce.
    #[error("{table}{}: column {column}: {why}", task.as_ref().map(|task| format!(" (task {task})")).unwrap_or_default())]
    Corrupt {
        /// The table: `"tasks"`, `"task_attempts"`, `"jobs"` or `"schema_version"`.
        table: &'static str,
        /// The task, when the row is a task's.
        task: Option<String>,
        /// The column found wrong.
        column: String,
        /// What is wrong with it.
        why: String,
    },
    /// The store was written by a newer version of this crate.
    #[error("the store has schema version {found}, newer than the {known} this crate knows")]
    NewerSchema {
        /// The store's version.
        found: i64,
        /// The newest this crate knows ([`SCHEMA_VERSION`](super::SCHEMA_VERSION)).
        known: i64,
    },
    /// The table refused the call: nothing was written.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The table may differ from its store (a call panicked mid-way, or a failed commit could not
    /// be undone because the store could not be read either): every call refuses until the store
    /// is opened again.
    #[error("the table can no longer be trusted to equal its store: {why}; open the store again")]
    Poisoned {
        /// What happened.
        why: String,
    },
    /// The database failed (a file that is not a database, a full disk, a lost connection, …).
    /// The message includes the database's own words (for PostgreSQL, the server's error); the
    /// source is the client's error (`rusqlite::Error`, or a wrapper whose source is the
    /// `postgres::Error`, whose source in turn is a server's `postgres::error::DbError`, with its
    /// SQLSTATE).
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// The table's own reason, when the table (not the store) refused the call.
    pub fn table(&self) -> Option<&TableError> {
        match self {
            StoreError::Table(err) => Some(err),
            _ => None,
        }
    }
}
