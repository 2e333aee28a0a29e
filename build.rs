//! Generates the `iris.cluster` protobuf types from `proto/` with prost-build, fed by protox, a
//! protobuf compiler written in Rust: nobody who builds this crate needs `protoc`.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    // Cargo scans every file below the directory: codegen reruns when a .proto changes, and only then.
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["iris/cluster.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
