//! A reference Iris controller on iris-task: the `ControllerService` over gRPC (tonic), its state
//! in a `DurableTable<SqliteStore>` (kill it, start it again on the same `--store`, and nothing
//! is lost), a scheduler with a dispatch deadline, and a live dashboard over HTTP.
//!
//! ```text
//! cargo run --release --features grpc,sqlite --example controller -- --store /tmp/iris.db
//! cargo run --release --features grpc,sqlite --example workers -- --workers 50 --launch 10x1000
//! ```
//!
//! Workers pull their work with `PollTasks` (see the README). Exit codes: 2 when an address is
//! taken, 3 when another controller holds the store, 1 for any other failure.

mod dashboard;
mod noop;
mod serve;
mod service;
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
