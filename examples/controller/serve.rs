//! The controller process: flags, the store, the listeners, the writer thread, the Reconcile
//! driver and the routes of Iris's door. Kept apart from `main` so that tests can run a
//! controller in a process of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use iris_task::connect::{ConnectCode, ConnectError};
use iris_task::today::cluster::controller::ListEndpointsResponse;
use iris_task::{DurableTable, SqliteStore, StoreError};
use subtle::ConstantTimeEq;

use crate::dashboard;
use crate::door;
use crate::reconcile::{self, Driving, Rounds};
use crate::state::{Core, Rules, Snapshot};
use crate::writer::{self, Writer, now};

/// The controller's flags.
#[derive(Parser, Debug, Clone)]
#[command(
    about = "A reference Iris controller: Iris's Connect door, Reconcile, a durable table, a live dashboard"
)]
pub struct Args {
    /// The address Iris's workers and clients call (port 0: any free port; the chosen one is
    /// printed). Loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:10000")]
    pub listen: SocketAddr,
    /// The dashboard's HTTP address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub dashboard: SocketAddr,
    /// The SQLite file that holds the table, the job specs, the bundles and the workers.
    #[arg(long, default_value = "iris-controller.db")]
    pub store: PathBuf,
    /// One Reconcile per worker per this many milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub reconcile_ms: u64,
    /// How long a Reconcile call may take, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub reconcile_timeout_ms: u64,
    /// A worker is reaped after this many failed Reconcile calls in a row…
    #[arg(long, default_value_t = 3)]
    pub reap_failures: u32,
    /// …spanning at least this many milliseconds (Iris: 50 s).
    #[arg(long, default_value_t = 50_000)]
    pub reap_after_ms: u64,
    /// How long an ASSIGNED attempt waits for its worker to take it before it is requeued,
    /// free of charge, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub dispatch_deadline_ms: u64,
    /// The most tasks one worker runs at once, whatever its resources.
    #[arg(long, default_value_t = 256)]
    pub max_tasks_per_worker: usize,
    /// How long an ended job (its tasks, spec and bundle) is kept before it is removed, in
    /// milliseconds (Iris: 7 days).
    #[arg(long, default_value_t = 7 * 24 * 3_600_000)]
    pub job_retention_ms: u64,
    /// How often the scheduler runs, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub tick_ms: u64,
    /// The largest request body, in bytes (a LaunchJob carries its bundle).
    #[arg(long, default_value_t = 64 << 20)]
    pub max_request_bytes: usize,
    /// How long a call may take before it gets `deadline_exceeded`, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub call_timeout_ms: u64,
    /// The bearer token workers and clients must present (`authorization: Bearer …`); without
    /// it, the door is open, as Iris's is by default. Also read from `IRIS_CONTROLLER_TOKEN`.
    #[arg(long, env = "IRIS_CONTROLLER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve the same door with handlers that do nothing (no table, no store): the baseline of
    /// the load figures.
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

/// Binds `addr` with room for a thousand workers connecting at once and `SO_REUSEADDR`, so that
/// a restarted controller gets its port back at once; or says clearly that the address is taken.
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

/// What the door's handlers share.
#[derive(Clone)]
struct Door {
    writer: Writer<SqliteStore>,
    timeout: Duration,
    max_bytes: usize,
    token: Option<Arc<str>>,
}

impl Door {
    /// `unauthenticated` unless the call presents the door's token (when it has one).
    fn admit(&self, headers: &HeaderMap) -> Result<(), ConnectError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let presented = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(ConnectError::new(
                ConnectCode::Unauthenticated,
                "present the controller's token: authorization: Bearer <token>",
            ))
        }
    }
}

/// Runs the controller until the process is stopped.
pub fn run(args: Args) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| fail(1, format!("cannot start the runtime: {err}")))?;
    let entered = runtime.enter();
    let door = bind(args.listen, "controller")?;
    let http = bind(args.dashboard, "dashboard")?;
    let door_addr = door.local_addr().map_err(|err| fail(1, err.to_string()))?;
    let http_addr = http.local_addr().map_err(|err| fail(1, err.to_string()))?;
    let snapshot: dashboard::Shared = Arc::new(Mutex::new(Arc::new(Snapshot::default())));
    let rounds = Arc::new(Mutex::new(Rounds::default()));
    let limit = args.max_request_bytes;

    let driving = Driving {
        interval: Duration::from_millis(args.reconcile_ms),
        timeout: Duration::from_millis(args.reconcile_timeout_ms),
    };
    let routes = if args.noop {
        let registry = Arc::new(crate::noop::Registry::default());
        tokio::spawn(crate::noop::drive(
            Arc::clone(&registry),
            driving,
            Arc::clone(&rounds),
        ));
        crate::noop::router(registry)
    } else {
        let store = SqliteStore::open(&args.store).map_err(|err| match err {
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
            reap_failures: args.reap_failures,
            reap_after: Duration::from_millis(args.reap_after_ms),
            max_tasks_per_worker: args.max_tasks_per_worker,
            job_retention: Duration::from_millis(args.job_retention_ms),
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
        tokio::spawn(reconcile::drive(
            writer.clone(),
            driving,
            Arc::clone(&rounds),
        ));
        let door = Door {
            writer,
            timeout: Duration::from_millis(args.call_timeout_ms),
            max_bytes: limit,
            token: args.token.clone().map(Arc::from),
        };
        Router::new()
            .route("/{service}/{method}", post(calls))
            .route("/blobs/{id}", get(blob))
            .with_state(door)
    };
    let routes = routes
        .fallback(|uri: axum::http::Uri| async move { door::unimplemented(uri.path()) })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::decompression::RequestDecompressionLayer::new());
    drop(entered);
    runtime.block_on(async move {
        // Tests and scripts read the chosen ports from this line.
        println!("controller listening: connect=http://{door_addr} dashboard=http://{http_addr}/");
        let app = dashboard::router(Arc::clone(&snapshot), rounds);
        let dashboard = tokio::spawn(async move { axum::serve(http, app).await });
        let served = axum::serve(door, routes).await;
        dashboard.abort();
        served.map_err(|err| fail(1, format!("the server stopped: {err}")))
    })
}

/// `GET /blobs/<sha256>`: the bundle a LaunchJob carried, as workers fetch it.
async fn blob(State(door): State<Door>, Path(id): Path<String>) -> Response {
    let found = door.writer.call(move |core, _| Ok(core.blob(&id))).await;
    match found {
        Ok(Some(bytes)) => {
            let body = axum::body::Bytes::from_owner(bytes);
            (StatusCode::OK, [("content-type", "application/zip")], body).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such bundle").into_response(),
        Err(err) => door::error(&err),
    }
}

/// Runs `$handler` (a `Core` method) in the writer for a unary call of the ControllerService.
macro_rules! in_writer {
    ($door:expr, $headers:expr, $body:expr, |$core:ident, $request:ident : $type:ty, $now:ident| $call:expr) => {{
        let writer = $door.writer.clone();
        door::unary(
            &$headers,
            $body,
            ($door.timeout, $door.max_bytes),
            move |$request: $type| async move { writer.call(move |$core, $now| $call).await },
        )
        .await
    }};
}

/// `ControllerService`: the calls a worker and the CLI make; `EndpointService/ListEndpoints`: an
/// empty registry (workers then run tasks without shipping logs). Every other method answers
/// `unimplemented`.
async fn calls(
    State(door): State<Door>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    use iris_task::today::cluster::controller as c;
    if let Err(err) = door.admit(&headers) {
        return door::error(&err);
    }
    let limits = (door.timeout, door.max_bytes);
    match (service.as_str(), method.as_str()) {
        ("iris.cluster.EndpointService", "ListEndpoints") => {
            return door::unary(&headers, body, limits, |_: c::ListEndpointsRequest| async {
                Ok(ListEndpointsResponse::default())
            })
            .await;
        }
        ("iris.cluster.ControllerService", _) => {}
        _ => return door::unimplemented(&format!("{service}/{method}")),
    }
    match method.as_str() {
        "Register" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::RegisterRequest, now| core.register(request, now)
        ),
        "LaunchJob" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::LaunchJobRequest, now| core.launch(request, now)
        ),
        "GetJobState" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::GetJobStateRequest, _now| Ok(core.job_states(&request))
        ),
        "GetJobStatus" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::GetJobStatusRequest, _now| core.job_status(&request)
        ),
        "ListJobs" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::ListJobsRequest, _now| Ok(core.list_jobs(&request))
        ),
        "TerminateJob" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::TerminateJobRequest, now| core.terminate(&request, now)
        ),
        "GetTaskStatus" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::GetTaskStatusRequest, _now| core.task_status(&request)
        ),
        "ListTasks" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::ListTasksRequest, _now| core.list_tasks(&request)
        ),
        "ListWorkers" => in_writer!(
            door,
            headers,
            body,
            |core, request: c::ListWorkersRequest, _now| Ok(core.list_workers(&request))
        ),
        _ => door::unimplemented(&format!("{service}/{method}")),
    }
}
