//! The one writer: a thread that owns the controller's state and runs every call in turn. Calls
//! that arrive while it commits wait in a bounded queue; it takes all of them (up to `GROUP`) as
//! one group, runs them, commits the group with one transaction and one fsync, and only then
//! answers them. A report is answered only once it is durable, and a thousand workers share a
//! commit instead of paying one fsync each.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iris_task::connect::{ConnectCode, ConnectError};
use iris_task::{Store, Timestamp};
use tokio::sync::oneshot;

use crate::state::{Core, Snapshot};

/// The most calls one commit answers.
pub const GROUP: usize = 2_048;
/// The most calls waiting for the writer; more are refused with RESOURCE_EXHAUSTED.
pub const QUEUE: usize = 16_384;

/// The controller's clock: milliseconds since the Unix epoch.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        });
    Timestamp::from_millis(millis)
}

/// What a call did, to be sent once the group's commit is known.
type Answer = Box<dyn FnOnce(Result<(), ConnectError>) + Send>;
/// A call waiting for the writer, run on the state at the writer's time; `None` if its caller
/// gave up waiting, and then it did not run.
type Call<S> = Box<dyn FnOnce(&mut Core<S>, Timestamp) -> Option<Answer> + Send>;

/// The handle the door and the Reconcile driver send calls through.
pub struct Writer<S: Store> {
    calls: SyncSender<Call<S>>,
    timeout: Duration,
}

impl<S: Store> Clone for Writer<S> {
    fn clone(&self) -> Self {
        Writer {
            calls: self.calls.clone(),
            timeout: self.timeout,
        }
    }
}

impl<S: Store + 'static> Writer<S> {
    /// Runs `f` on the state in the writer thread; its result comes back once it is durable.
    /// A call not answered within the writer's timeout gets DEADLINE_EXCEEDED; if the writer had
    /// not taken it yet, it never runs (as with any RPC, a call that timed out may or may not
    /// have taken effect: one the writer was running when the time ran out did).
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core<S>, Timestamp) -> Result<T, ConnectError> + Send + 'static,
    ) -> Result<T, ConnectError> {
        let (reply, answer) = oneshot::channel::<Result<T, ConnectError>>();
        let call: Call<S> = Box::new(move |core, now| {
            if reply.is_closed() {
                return None;
            }
            let result = f(core, now);
            Some(Box::new(move |committed: Result<(), ConnectError>| {
                let _ = reply.send(committed.and(result));
            }))
        });
        self.calls.try_send(call).map_err(|err| match err {
            TrySendError::Full(_) => ConnectError::new(
                ConnectCode::ResourceExhausted,
                "the controller is overloaded: retry later",
            ),
            TrySendError::Disconnected(_) => {
                ConnectError::new(ConnectCode::Unavailable, "the controller is stopping")
            }
        })?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(answered) => answered.map_err(|_| {
                ConnectError::new(
                    ConnectCode::Unavailable,
                    "the controller stopped before answering",
                )
            })?,
            Err(_) => Err(ConnectError::new(
                ConnectCode::DeadlineExceeded,
                format!(
                    "no answer within the controller's {} ms call timeout",
                    self.timeout.as_millis()
                ),
            )),
        }
    }
}

/// Starts the writer thread over `core`: it runs the scheduler every `tick` and publishes a
/// snapshot for the dashboard every `publish`.
pub fn start<S: Store + Send + 'static>(
    mut core: Core<S>,
    tick: Duration,
    publish: Duration,
    timeout: Duration,
    snapshot: Arc<Mutex<Arc<Snapshot>>>,
) -> std::io::Result<(Writer<S>, JoinHandle<()>)> {
    let (calls, inbox) = sync_channel::<Call<S>>(QUEUE);
    let thread = std::thread::Builder::new()
        .name("writer".to_owned())
        .spawn(move || run(&mut core, &inbox, tick, publish, &snapshot))?;
    Ok((Writer { calls, timeout }, thread))
}

fn run<S: Store>(
    core: &mut Core<S>,
    inbox: &Receiver<Call<S>>,
    tick: Duration,
    publish: Duration,
    snapshot: &Mutex<Arc<Snapshot>>,
) {
    let mut next_tick = Instant::now();
    let mut next_publish = Instant::now();
    let mut answers: Vec<Answer> = Vec::with_capacity(GROUP);
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let first = match inbox.recv_timeout(wait) {
            Ok(call) => Some(call),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        core.durable().begin();
        let now = core.stamp(now());
        let mut next = first;
        while let Some(call) = next.take() {
            // A caller that gave up (its call timed out) gets nothing run on its behalf.
            if let Some(answer) = call(core, now) {
                answers.push(answer);
            }
            if answers.len() < GROUP {
                next = inbox.try_recv().ok();
            }
        }
        let mut ticked = Ok(());
        if Instant::now() >= next_tick {
            ticked = core.tick(now);
            next_tick = Instant::now() + tick;
        }
        let committed = core.durable().commit().map_err(ConnectError::from);
        if let Err(err) = &ticked {
            eprintln!("controller: the scheduler's turn failed: {err}");
        }
        match &committed {
            // The group is durable: its changes to the worker map take effect now.
            Ok(()) => core.committed(),
            Err(err) => {
                eprintln!("controller: {}", err.message);
                // The table went back to what its store holds: so do the workers and specs.
                core.resync();
            }
        }
        for answer in answers.drain(..) {
            answer(committed.clone());
        }
        if Instant::now() >= next_publish {
            let fresh = Arc::new(core.snapshot(now));
            if let Ok(mut shared) = snapshot.lock() {
                *shared = fresh;
            }
            next_publish = Instant::now() + publish;
        }
    }
}
