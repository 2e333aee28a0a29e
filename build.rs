//! Generates the `iris.cluster` protobuf types from `proto/` with prost-build, fed by protox, a
//! protobuf compiler written in Rust: nobody who builds this crate needs `protoc`.
//!
//! With the `grpc` feature it also generates, from `proto/iris/controller.proto`, the controller's
//! messages (into `OUT_DIR/controller`, for `proto`) and the tonic service code (into
//! `OUT_DIR/grpc`, for `grpc`), each in its own directory so that the cluster types' code stays
//! exactly what it is without the feature.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    // Cargo scans every file below the directory: codegen reruns when a .proto changes, and only then.
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["iris/cluster.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    today()?;
    #[cfg(feature = "grpc")]
    grpc::generate()?;
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

#[cfg(feature = "grpc")]
mod grpc {
    use std::error::Error;
    use std::path::PathBuf;

    use prost_types::FileDescriptorSet;

    const CONTROLLER: &str = "iris/controller.proto";

    /// Every message and enum of the files in `fds` named `file`, as (proto path, Rust path in
    /// `crate::proto`) pairs: the `extern_path`s that make generated code use the existing types.
    fn types_of(fds: &FileDescriptorSet, file: &str) -> Vec<(String, String)> {
        fds.file
            .iter()
            .filter(|f| f.name() == file)
            .flat_map(|f| {
                let package = f.package().to_owned();
                let messages = f.message_type.iter().map(|m| m.name().to_owned());
                let enums = f.enum_type.iter().map(|e| e.name().to_owned());
                messages
                    .chain(enums)
                    .map(move |name| {
                        (
                            format!(".{package}.{name}"),
                            format!("crate::proto::{name}"),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn generate() -> Result<(), Box<dyn Error>> {
        let out = PathBuf::from(std::env::var("OUT_DIR")?);
        let descriptors = protox::compile([CONTROLLER], ["proto"])?;
        // prost-build writes one file per package, and both files are `iris.cluster`: it skips
        // the types given an `extern_path`, so cluster.proto's types are not generated twice.
        let cluster = types_of(&descriptors, "iris/cluster.proto");
        let controller = types_of(&descriptors, CONTROLLER);

        // The controller's messages, for `proto`.
        let messages = out.join("controller");
        std::fs::create_dir_all(&messages)?;
        let mut config = prost_build::Config::new();
        // No service generator: prost-build writes messages only.
        config.out_dir(&messages);
        for (proto, rust) in &cluster {
            config.extern_path(proto, rust);
        }
        config.compile_fds(descriptors.clone())?;

        // The service (server and client), for `grpc`: every message is an existing type.
        let service = out.join("grpc");
        std::fs::create_dir_all(&service)?;
        let mut builder = tonic_prost_build::configure().out_dir(&service);
        for (proto, rust) in cluster.iter().chain(&controller) {
            builder = builder.extern_path(proto, rust);
        }
        builder.compile_fds(descriptors)?;
        Ok(())
    }
}
