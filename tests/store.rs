//! `DurableTable` over SQLite: the store suite (`suite/mod.rs`, which `postgres.rs` runs on
//! PostgreSQL too), a test per part so each fails by name, then what only a file can show: one
//! writer per file, and a file that is not a database, or half of one, is an error, not a panic.
#![cfg(feature = "sqlite")]

mod suite;

use std::path::PathBuf;

use iris_task::{DurableTable, RetryPolicy, SqliteStore, StoreError, Task};
use suite::{Backend, id};

/// A fresh directory for one test's database.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-task-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("controller.db")
}

struct Sqlite;

impl Backend for Sqlite {
    type Store = SqliteStore;
    const NAME: &'static str = "SQLite";
    const INT: &'static str = "INTEGER";
    const BYTE: &'static str = "X'78'";

    fn fresh(&self, name: &str) -> String {
        scratch(name).display().to_string()
    }
    fn open(&self, place: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(place)
    }
    fn side(&self, place: &str, sql: &str) {
        rusqlite::Connection::open(place)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    fn read(&self, place: &str, sql: &str) -> i64 {
        rusqlite::Connection::open(place)
            .unwrap()
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    }
    fn failing_insert(&self, task: &str) -> String {
        format!(
            "CREATE TRIGGER full_disk BEFORE INSERT ON tasks WHEN NEW.task_id = '{task}' \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
        )
    }
    fn unchecked(&self, sql: &str) -> String {
        format!("PRAGMA foreign_keys = OFF; {sql}")
    }
    /// SQLite folds its log into the file every 1,000 pages on its own; checkpoint now, from
    /// another connection as an operator's reader could, so that the figure is the file's, not
    /// how far the log has got. Then the file and its log.
    fn settled_bytes(&self, place: &str) -> u64 {
        self.side(place, "PRAGMA wal_checkpoint(TRUNCATE);");
        let path = PathBuf::from(place);
        [path.clone(), path.with_extension("db-wal")]
            .iter()
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|meta| meta.len())
            .sum()
    }
}

#[test]
fn a_reopened_table_equals_the_replay() {
    suite::a_reopened_table_equals_the_replay(&Sqlite, 200);
}

#[test]
fn tasks_inserted_in_any_state_come_back() {
    suite::tasks_inserted_in_any_state_come_back(&Sqlite);
}

#[test]
fn a_store_larger_than_a_read_chunk_comes_back_exactly() {
    suite::a_store_larger_than_a_read_chunk_comes_back_exactly(&Sqlite);
}

#[test]
fn a_batch_is_one_transaction_and_a_refused_call_inside_it_writes_nothing() {
    suite::a_batch_is_one_transaction_and_a_refused_call_inside_it_writes_nothing(&Sqlite);
}

#[test]
fn a_failed_commit_leaves_memory_equal_to_the_store() {
    suite::a_failed_commit_leaves_memory_equal_to_the_store(&Sqlite);
}

#[test]
fn a_failed_commit_that_cannot_be_undone_poisons_the_table() {
    suite::a_failed_commit_that_cannot_be_undone_poisons_the_table(&Sqlite);
}

#[test]
fn a_group_is_written_at_its_commit_and_a_failed_commit_drops_the_whole_group() {
    suite::a_group_is_written_at_its_commit_and_a_failed_commit_drops_the_whole_group(&Sqlite);
}

#[test]
fn a_call_that_panics_mid_way_poisons_the_table_until_it_is_reopened() {
    suite::a_call_that_panics_mid_way_poisons_the_table_until_it_is_reopened(&Sqlite);
}

#[test]
fn a_durable_table_that_removes_finished_jobs_stays_flat_on_disk() {
    suite::a_durable_table_that_removes_finished_jobs_stays_flat_on_disk(&Sqlite);
}

#[test]
fn the_untouched_store_opens() {
    suite::the_untouched_store_opens(&Sqlite);
}

#[test]
fn each_impossible_row_is_corrupt_naming_table_task_and_column() {
    suite::each_impossible_row_is_corrupt_naming_table_task_and_column(&Sqlite);
}

#[test]
fn a_schema_newer_than_the_crate_is_refused() {
    suite::a_schema_newer_than_the_crate_is_refused(&Sqlite);
}

#[test]
fn a_version_1_store_upgrades_in_place() {
    suite::a_version_1_store_upgrades_in_place(&Sqlite);
}

#[test]
fn records_commit_with_the_table_and_go_with_their_job() {
    suite::records_commit_with_the_table_and_go_with_their_job(&Sqlite);
}

#[test]
fn a_lowered_limit_is_judged_at_the_next_task_change_across_a_reopen() {
    suite::a_lowered_limit_is_judged_at_the_next_task_change_across_a_reopen(&Sqlite);
}

// ----- what only a file can show -----

/// Committed means durable: the store writes ahead to a log (so `sqlite3` can read while the
/// controller writes), as the file itself says to any connection.
#[test]
fn the_store_writes_ahead_to_a_log() {
    let place = Sqlite.fresh("wal");
    let table = Sqlite.table(&place).unwrap();
    let mode: String = rusqlite::Connection::open(&place)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(table);
}

/// SQLite keeps any value in any column: text where the schema has a number is corrupt, naming
/// the task and the column (PostgreSQL refuses such a write itself).
#[test]
fn a_value_of_the_wrong_type_is_corrupt_naming_task_and_column() {
    let edit = "UPDATE tasks SET task_index = 'seven' WHERE task_id = 'a/task-0';";
    match suite::open_after(&Sqlite, "wrong-type", edit) {
        Err(StoreError::Corrupt {
            table,
            task,
            column,
            ..
        }) => assert_eq!(
            (table, task.as_deref(), column.as_str()),
            ("tasks", Some("a/task-0"), "task_index")
        ),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_lives() {
    let path = scratch("locked");
    let first = SqliteStore::open(&path).unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Locked { what }) => assert!(what.contains("controller.db")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    assert!(
        SqliteStore::open(&path).is_ok(),
        "the lock goes with the store"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    for (name, bytes) in [
        (
            "random",
            (0..4096u32)
                .map(|n| (n.wrapping_mul(2654435761) >> 13) as u8)
                .collect::<Vec<u8>>(),
        ),
        ("text", b"this is not a database\n".repeat(300)),
    ] {
        let path = scratch(name);
        std::fs::write(&path, bytes).unwrap();
        let result = SqliteStore::open(&path).and_then(DurableTable::open);
        match result {
            Err(StoreError::Database(err)) => assert!(!err.to_string().is_empty()),
            other => panic!("{name}: expected a database error, got {other:?}"),
        }
    }
}

#[test]
fn a_truncated_file_is_an_error_not_a_panic() {
    let path = scratch("truncated");
    {
        let mut table = DurableTable::open(SqliteStore::open(&path).unwrap()).unwrap();
        table
            .batch(|batch| {
                for index in 0..200 {
                    batch
                        .insert(Task::new(id(0, index), RetryPolicy::default()))
                        .unwrap();
                }
            })
            .unwrap();
    }
    // Fold the log into the file, then cut the file in half.
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(side);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let result = SqliteStore::open(&path).and_then(DurableTable::open);
    assert!(
        matches!(
            result,
            Err(StoreError::Database(_)) | Err(StoreError::Corrupt { .. })
        ),
        "{result:?}"
    );
}

#[test]
fn the_lock_follows_the_file_not_the_path() {
    let path = scratch("symlinked");
    let first = SqliteStore::open(&path).unwrap();
    let link = path.with_file_name("another-name.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(matches!(
        SqliteStore::open(&link),
        Err(StoreError::Locked { .. })
    ));
    drop(first);
}
