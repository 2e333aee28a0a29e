//! The states of the task lifecycle, at compile time and at run time.
//!
//! Each state is a zero-sized marker type ([`Pending`], [`Assigned`], …) used as the parameter of
//! [`Task<S>`](crate::Task). The transitions a state allows are methods on `Task<ThatState>`, or
//! on `Task<S>` for every `S` with a capability:
//!
//! - [`Active`]: the task holds a worker and an open attempt (ASSIGNED, BUILDING, RUNNING);
//! - [`Executing`]: the worker confirmed the attempt (BUILDING, RUNNING);
//! - [`Terminal`]: the task has ended and allows no transition at all.
//!
//! [`StateKind`] names the same eleven states at run time: what [`AnyTask::state`] returns, what
//! dashboards count, what the wire carries.
//!
//! [`AnyTask::state`]: crate::AnyTask::state

use std::fmt;
use std::str::FromStr;

use crate::any::AnyTask;
use crate::task::Task;

pub(crate) mod sealed {
    use crate::any::AnyTask;
    use crate::task::Task;

    /// Seals [`State`](super::State), and carries the hooks that move a typed task in and out of
    /// [`AnyTask`], so that `From<Task<S>>` and `TryFrom<AnyTask>` are one generic impl each.
    pub trait Sealed: Sized {
        /// Wraps a task in the `AnyTask` variant of its state.
        fn into_any(task: Task<Self>) -> AnyTask
        where
            Self: super::State;

        /// Unwraps the `AnyTask` variant of this state, or gives the task back.
        fn from_any(task: AnyTask) -> Result<Task<Self>, AnyTask>
        where
            Self: super::State;
    }
}

/// A state of the task lifecycle, as a type parameter of [`Task<S>`](crate::Task).
///
/// The trait is sealed: the eleven states of this module are all there are, and no other crate can
/// add one. A controller that could invent states could also invent transitions.
///
/// ```
/// use iris_task::{Assigned, State, StateKind};
///
/// assert_eq!(Assigned::KIND, StateKind::Assigned);
/// ```
pub trait State: sealed::Sealed + 'static {
    /// The run-time name of this state.
    const KIND: StateKind;
}

/// A state in which the task holds a worker and an open attempt: [`Assigned`], [`Building`],
/// [`Running`]. Such a task can be killed, and its worker can fail.
pub trait Active: State {}

/// An active state in which the worker confirmed the attempt: [`Building`], [`Running`]. Only
/// here can a task fail, and only here does a lost worker charge the preemption budget.
pub trait Executing: Active {}

/// A state the task never leaves: [`Succeeded`], [`Failed`], [`Killed`], [`WorkerFailed`],
/// [`Unschedulable`], [`Preempted`], [`CoschedFailed`]. A `Task<S: Terminal>` has no transitions,
/// only its outcome.
pub trait Terminal: State {}

/// Implements `State` and its `AnyTask` hooks for each marker type.
macro_rules! states {
    ($($name:ident),*) => {$(
        impl sealed::Sealed for $name {
            fn into_any(task: Task<Self>) -> AnyTask {
                AnyTask::$name(task)
            }

            fn from_any(task: AnyTask) -> Result<Task<Self>, AnyTask> {
                match task {
                    AnyTask::$name(task) => Ok(task),
                    other => Err(other),
                }
            }
        }

        impl State for $name {
            const KIND: StateKind = StateKind::$name;
        }
    )*};
}

// The markers are written out, not generated, so that compiler errors about a state point at a
// declaration a reader can recognise.

/// Created or requeued, not yet matched to a worker: the only state a scheduler may pick from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pending;

/// Matched to a worker: an attempt exists, resources are committed, and the RunTask RPC may be in
/// flight, but the worker has not confirmed that execution started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Assigned;

/// The worker confirmed the attempt and is building its environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Building;

/// The worker confirmed that execution started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Running;

/// Finished with exit code 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Succeeded;

/// Failed, with its failure budget spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Failed;

/// Cancelled by the user or the controller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Killed;

/// Its attempts kept ending on the worker side (the worker lost, a kill the controller did not
/// ask for, an attempt the worker forgot), and its preemption budget is spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WorkerFailed;

/// No worker could take it before its scheduling deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Unschedulable;

/// The scheduler or the cluster took the task's resources (a higher-priority task, an eviction)
/// once too often: its preemption budget is spent and the last of its attempts was preempted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Preempted;

/// A task of the same coscheduled job (gang) ended for good, and this one was stopped with it.
/// No budget was charged: the task did nothing wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CoschedFailed;

states!(
    Pending,
    Assigned,
    Building,
    Running,
    Succeeded,
    Failed,
    Killed,
    WorkerFailed,
    Unschedulable,
    Preempted,
    CoschedFailed
);

impl Active for Assigned {}
impl Active for Building {}
impl Active for Running {}
impl Executing for Building {}
impl Executing for Running {}
impl Terminal for Succeeded {}
impl Terminal for Failed {}
impl Terminal for Killed {}
impl Terminal for WorkerFailed {}
impl Terminal for Unschedulable {}
impl Terminal for Preempted {}
impl Terminal for CoschedFailed {}

/// The eleven states of the lifecycle, as a run-time value.
///
/// The order of the variants (and of [`StateKind::ALL`], and of `Ord`) is the lifecycle's:
/// pending, assigned, building, running, then the terminal states, with the two of release 0.2
/// (preempted, cosched_failed) last, in wire order.
///
/// ```
/// use iris_task::StateKind;
///
/// let assigned: StateKind = "assigned".parse()?;
/// assert_eq!(assigned, StateKind::Assigned);
/// assert!(assigned.is_active() && !assigned.is_schedulable());
/// assert_eq!(assigned.to_string(), "assigned");
/// assert_eq!(assigned.css_class(), "status-assigned");
/// assert_eq!(assigned.color(), "#bc4c00");
/// # Ok::<(), iris_task::ParseStateKindError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StateKind {
    /// See [`Pending`].
    Pending,
    /// See [`Assigned`].
    Assigned,
    /// See [`Building`].
    Building,
    /// See [`Running`].
    Running,
    /// See [`Succeeded`].
    Succeeded,
    /// See [`Failed`].
    Failed,
    /// See [`Killed`].
    Killed,
    /// See [`WorkerFailed`].
    WorkerFailed,
    /// See [`Unschedulable`].
    Unschedulable,
    /// See [`Preempted`].
    Preempted,
    /// See [`CoschedFailed`].
    CoschedFailed,
}

impl StateKind {
    /// Every state, in lifecycle order.
    pub const ALL: [StateKind; 11] = [
        StateKind::Pending,
        StateKind::Assigned,
        StateKind::Building,
        StateKind::Running,
        StateKind::Succeeded,
        StateKind::Failed,
        StateKind::Killed,
        StateKind::WorkerFailed,
        StateKind::Unschedulable,
        StateKind::Preempted,
        StateKind::CoschedFailed,
    ];

    /// The state absorbs every event: succeeded, failed, killed, worker failed, unschedulable,
    /// preempted or cosched failed.
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// assert!(StateKind::Unschedulable.is_terminal());
    /// assert!(!StateKind::Assigned.is_terminal());
    /// ```
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            StateKind::Succeeded
                | StateKind::Failed
                | StateKind::Killed
                | StateKind::WorkerFailed
                | StateKind::Unschedulable
                | StateKind::Preempted
                | StateKind::CoschedFailed
        )
    }

    /// The task holds a worker and an open attempt: assigned, building or running.
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// assert!(StateKind::Assigned.is_active() && StateKind::Running.is_active());
    /// assert!(!StateKind::Pending.is_active());
    /// ```
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            StateKind::Assigned | StateKind::Building | StateKind::Running
        )
    }

    /// The worker confirmed the attempt: building or running.
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// assert!(StateKind::Building.is_executing());
    /// assert!(!StateKind::Assigned.is_executing(), "not confirmed yet");
    /// ```
    pub const fn is_executing(self) -> bool {
        matches!(self, StateKind::Building | StateKind::Running)
    }

    /// A scheduler may pick the task: pending, and only pending.
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// let schedulable: Vec<StateKind> = StateKind::ALL.into_iter().filter(|s| s.is_schedulable()).collect();
    /// assert_eq!(schedulable, [StateKind::Pending]);
    /// ```
    pub const fn is_schedulable(self) -> bool {
        matches!(self, StateKind::Pending)
    }

    /// The label, CSS class and colour of the state: one row per state, so they cannot disagree.
    const fn style(self) -> (&'static str, &'static str, &'static str) {
        macro_rules! row {
            ($label:literal, $color:literal) => {
                ($label, concat!("status-", $label), $color)
            };
        }
        match self {
            StateKind::Pending => row!("pending", "#9a6700"),
            StateKind::Assigned => row!("assigned", "#bc4c00"),
            StateKind::Building => row!("building", "#8250df"),
            StateKind::Running => row!("running", "#0969da"),
            StateKind::Succeeded => row!("succeeded", "#1a7f37"),
            StateKind::Failed => row!("failed", "#cf222e"),
            StateKind::Killed => row!("killed", "#6e7781"),
            StateKind::WorkerFailed => row!("worker_failed", "#a40e26"),
            StateKind::Unschedulable => row!("unschedulable", "#bf3989"),
            StateKind::Preempted => row!("preempted", "#1b7c83"),
            StateKind::CoschedFailed => row!("cosched_failed", "#6c3f1d"),
        }
    }

    /// The lower-case name: `"pending"`, `"assigned"`, `"worker_failed"`, …
    ///
    /// This is the key of the dashboard's state counts on the wire, and the text of `Display`.
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// assert_eq!(StateKind::WorkerFailed.label(), "worker_failed");
    /// ```
    pub const fn label(self) -> &'static str {
        self.style().0
    }

    /// The CSS class dashboards style the state with: `"status-"` and the [label](Self::label).
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// assert_eq!(StateKind::Assigned.css_class(), "status-assigned");
    /// ```
    pub const fn css_class(self) -> &'static str {
        self.style().1
    }

    /// The dashboard colour of the state, as a CSS hex colour.
    ///
    /// ASSIGNED is amber (`#bc4c00`), distinct from pending (`#9a6700`), building (`#8250df`) and
    /// running (`#0969da`), so that a task waiting for its worker's confirmation never looks like
    /// one waiting for a worker. The ended states: succeeded `#1a7f37` (green), failed `#cf222e`
    /// (red), killed `#6e7781` (grey), worker_failed `#a40e26` (crimson), unschedulable `#bf3989`
    /// (pink), preempted `#1b7c83` (teal), cosched_failed `#6c3f1d` (brown).
    ///
    /// ```
    /// use iris_task::StateKind;
    ///
    /// let row = format!(
    ///     "<span class=\"{}\" style=\"color: {}\">{}</span>",
    ///     StateKind::Assigned.css_class(),
    ///     StateKind::Assigned.color(),
    ///     StateKind::Assigned,
    /// );
    /// assert_eq!(row, r#"<span class="status-assigned" style="color: #bc4c00">assigned</span>"#);
    /// ```
    pub const fn color(self) -> &'static str {
        self.style().2
    }
}

impl fmt::Display for StateKind {
    /// The [label](StateKind::label), padded to the formatter's width and fill, so dashboards can
    /// align columns: `format!("{:>13}", StateKind::Pending)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

impl FromStr for StateKind {
    type Err = ParseStateKindError;

    /// Parses a [label](StateKind::label); anything else, upper case included, is an error.
    fn from_str(label: &str) -> Result<StateKind, ParseStateKindError> {
        StateKind::ALL
            .into_iter()
            .find(|kind| kind.label() == label)
            .ok_or_else(|| ParseStateKindError {
                input: label.to_owned(),
            })
    }
}

/// Text that is not the [label](StateKind::label) of a state.
///
/// ```
/// use iris_task::StateKind;
///
/// let err = "ASSIGNED".parse::<StateKind>().unwrap_err();
/// assert_eq!(err.to_string(), "\"ASSIGNED\" is not a task state; expected one of pending, assigned, building, running, succeeded, failed, killed, worker_failed, unschedulable, preempted, cosched_failed");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a task state; expected one of pending, assigned, building, running, succeeded, failed, killed, worker_failed, unschedulable, preempted, cosched_failed"
)]
pub struct ParseStateKindError {
    pub(crate) input: String,
}

impl ParseStateKindError {
    /// The rejected text.
    pub fn input(&self) -> &str {
        &self.input
    }
}
