//! The controller process: flags, the store, the two listeners, the writer thread and the
//! servers. Kept apart from `main` so that tests can run a controller in a process of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use iris_task::grpc::controller_service_server::ControllerServiceServer;
use iris_task::{DurableTable, SqliteStore, StoreError};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::dashboard;
use crate::noop::Noop;
use crate::service::Service;
use crate::state::{Core, Rules, Snapshot};
use crate::writer::{self, now};

/// The controller's flags.
#[derive(Parser, Debug, Clone)]
#[command(about = "A reference Iris controller: gRPC, a durable task table, a live dashboard")]
pub struct Args {
    /// The gRPC address (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// The dashboard's HTTP address (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub dashboard: SocketAddr,
    /// The SQLite file that holds the task table; created if missing.
    #[arg(long, default_value = "iris-controller.db")]
    pub store: PathBuf,
    /// How long an ASSIGNED attempt waits for its worker's first report before it is requeued
    /// (free of charge), in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub dispatch_deadline_ms: u64,
    /// How long a worker may go without calling before it is declared lost, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub heartbeat_timeout_ms: u64,
    /// How often the scheduler runs, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub tick_ms: u64,
    /// The largest request a call may send, in bytes; larger ones get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_request_bytes: usize,
    /// How long a call may take before it gets DEADLINE_EXCEEDED, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub call_timeout_ms: u64,
    /// Serve the same gRPC service with handlers that do nothing (no table, no store): the
    /// baseline of the load figures.
    #[arg(long)]
    pub noop: bool,
}

/// Why the controller stopped: a message and the process's exit code.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, for people.
    pub message: String,
    /// 2: an address is taken; 3: the store is locked by another controller; 1: anything else.
    pub code: u8,
}

fn fail(code: u8, message: String) -> Failure {
    Failure { message, code }
}

/// Binds `addr` with room for a thousand workers connecting at once (a backlog of 1,024, where
/// the standard library's is 128), and `SO_REUSEADDR`, so that a restarted controller gets its
/// port back at once; or says clearly that the address is taken. Needs the runtime entered.
fn bind(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener, Failure> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    };
    socket
        .and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1_024)
        })
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AddrInUse => fail(
                2,
                format!("the {what} address {addr} is taken (is another controller running?)"),
            ),
            _ => fail(1, format!("cannot listen on {addr} for the {what}: {err}")),
        })
}

/// Runs the controller until the process is stopped.
pub fn run(args: Args) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| fail(1, format!("cannot start the runtime: {err}")))?;
    let entered = runtime.enter();
    let grpc = bind(args.listen, "gRPC")?;
    let http = bind(args.dashboard, "dashboard")?;
    let grpc_addr = grpc.local_addr().map_err(|err| fail(1, err.to_string()))?;
    let http_addr = http.local_addr().map_err(|err| fail(1, err.to_string()))?;

    let snapshot: dashboard::Shared = Arc::new(Mutex::new(Arc::new(Snapshot::default())));
    let writer = if args.noop {
        None
    } else {
        let store = SqliteStore::open(&args.store).map_err(|err| match err {
            // Its message names the store and what holds it.
            StoreError::Locked { .. } => fail(3, err.to_string()),
            other => fail(
                1,
                format!("cannot open the store {}: {other}", args.store.display()),
            ),
        })?;
        let table = DurableTable::open(store).map_err(|err| {
            fail(
                1,
                format!("cannot read the store {}: {err}", args.store.display()),
            )
        })?;
        let rules = Rules {
            dispatch_deadline: Duration::from_millis(args.dispatch_deadline_ms),
            heartbeat_timeout: Duration::from_millis(args.heartbeat_timeout_ms),
        };
        let tasks = table.table().len();
        let core = Core::new(table, rules, now());
        let (writer, _thread) = writer::start(
            core,
            Duration::from_millis(args.tick_ms),
            Duration::from_millis(250),
            Duration::from_millis(args.call_timeout_ms),
            Arc::clone(&snapshot),
        )
        .map_err(|err| fail(1, format!("cannot start the writer thread: {err}")))?;
        println!("store {} holds {tasks} tasks", args.store.display());
        Some(writer)
    };

    drop(entered);
    runtime.block_on(async move {
        // Tests and scripts read the chosen ports from this line.
        println!("controller listening: grpc={grpc_addr} dashboard=http://{http_addr}/");

        let app = dashboard::router(Arc::clone(&snapshot));
        let dashboard = tokio::spawn(async move { axum::serve(http, app).await });

        // The call timeout is the writer's (DEADLINE_EXCEEDED, and a call its caller gave up on
        // is not run); tonic's own would answer CANCELLED and run it anyway.
        let mut server = Server::builder()
            .concurrency_limit_per_connection(256)
            .layer(tower::util::MapResponseLayer::new(resource_exhausted));
        let incoming = TcpIncoming::from(grpc).with_nodelay(Some(true));
        let served = match writer {
            Some(writer) => {
                let service = ControllerServiceServer::new(Service::new(writer))
                    .max_decoding_message_size(args.max_request_bytes);
                server
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
            None => {
                let service = ControllerServiceServer::new(Noop::default())
                    .max_decoding_message_size(args.max_request_bytes);
                server
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
        };
        dashboard.abort();
        served.map_err(|err| fail(1, format!("the gRPC server stopped: {err}")))
    })
}

/// tonic answers a request above the size limit with OUT_OF_RANGE; the gRPC status codes
/// document RESOURCE_EXHAUSTED for it (as grpc-go, grpc-java and grpcio answer). This service
/// never answers OUT_OF_RANGE itself, so every 11 is that refusal.
fn resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    const OUT_OF_RANGE: &str = "11";
    const RESOURCE_EXHAUSTED: http::HeaderValue = http::HeaderValue::from_static("8");
    if response
        .headers()
        .get("grpc-status")
        .is_some_and(|status| status == OUT_OF_RANGE)
    {
        response
            .headers_mut()
            .insert("grpc-status", RESOURCE_EXHAUSTED);
    }
    response
}
