//! A reference Iris controller on iris-task, for Iris's own workers and CLI: Iris's
//! `ControllerService` over the Connect protocol, workers driven by `Reconcile`, its state in a
//! `DurableTable<SqliteStore>` with the job specs, bundles and workers as records in the same
//! transactions (kill it, start it again on the same `--store`, and nothing is lost), a
//! scheduler by CPU and memory, and a live dashboard over HTTP.
//!
//! ```text
//! cargo run --release --features sqlite --example controller -- --store /tmp/iris.db
//! iris --controller-url http://127.0.0.1:10000 job run --no-sync -- python /app/ok.py
//! ```
//!
//! Exit codes: 2 when an address is taken, 3 when another controller holds the store, 1 for any
//! other failure.

mod dashboard;
mod door;
mod noop;
mod reconcile;
mod serve;
mod state;
mod writer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = serve::Args::parse();
    match serve::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("controller: {}", err.message);
            ExitCode::from(err.code)
        }
    }
}
