//! Generates the `iris.cluster` protobuf types from `proto/` with prost-build, fed by protox, a
//! protobuf compiler written in Rust: nobody who builds this crate needs `protoc`.
//!
//! It also generates today's Iris wire from `proto/today/` (see `today` below).

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    // Cargo scans every file below the directory: codegen reruns when a .proto changes, and only then.
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["iris/cluster.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    today()?;
    Ok(())
}

/// Today's Iris wire (`proto/today/`, transcribed from the pinned wheel): a prost-build run of its
/// own into `OUT_DIR/today`, with a module tree per package (`iris.job`, `iris.time`,
/// `iris.cluster`, ...). Its `iris.cluster` holds other messages than the seed-era
/// `iris.cluster`, so the two never share a file.
fn today() -> Result<(), Box<dyn Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("today");
    std::fs::create_dir_all(&out)?;
    let descriptors = protox::compile(["controller.proto", "worker.proto"], ["proto/today"])?;
    prost_build::Config::new()
        .out_dir(&out)
        .include_file("today.rs")
        .compile_fds(descriptors)?;
    Ok(())
}
