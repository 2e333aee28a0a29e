//! The Iris `ControllerService` as tonic code (the `grpc` feature): a server trait to implement
//! and a client, over the messages of [`proto`](crate::proto).
//!
//! Generated at build time from `proto/iris/controller.proto` by tonic-prost-build, fed by
//! protox (no `protoc`).

generated_code!(mod generated = "/grpc/iris.cluster.rs");

pub use generated::*;
