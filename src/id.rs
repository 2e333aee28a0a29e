//! Identifiers and time: [`JobId`], [`TaskId`], [`WorkerId`], [`AttemptId`] and [`Timestamp`].
//!
//! Ids are small opaque types whose constructors validate, in the manner of `http::HeaderName`: a
//! value of one of these types is always well formed, so code that holds one never checks again.
//! Parse them from text with [`str::parse`] or build them with `new`; both reject what is malformed
//! with an [`IdError`] that names the problem.
//!
//! The library never reads a clock. Every transition takes the time it happened at as a
//! [`Timestamp`], milliseconds since the Unix epoch as on the wire, so the same events always give
//! the same tasks.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Checks an id: not empty; a worker id has no whitespace; a job id (and so a task id) has no
/// part between `/`s made only of whitespace, as Iris names jobs (`/alice/my job` is a name).
fn validate(kind: IdKind, id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if kind != IdKind::Worker {
        let blank = |part: &str| !part.is_empty() && part.chars().all(char::is_whitespace);
        if id.split('/').any(blank) {
            return Err(IdError::BlankPart {
                kind,
                id: id.to_owned(),
            });
        }
        return Ok(());
    }
    // Most ids are ASCII: test their bytes, and only other text char by char.
    let whitespace = if id.is_ascii() {
        id.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b)
    } else {
        id.chars().any(char::is_whitespace)
    };
    if whitespace {
        return Err(IdError::Whitespace {
            kind,
            id: id.to_owned(),
        });
    }
    Ok(())
}

/// The id of a job: not empty, and no part between `/`s made only of whitespace. A `/` is
/// allowed, for child jobs (`"parent/child"`), and so are spaces within a part: today's Iris names
/// jobs by paths such as `/alice/my job/child`, and every name it accepts is a `JobId`.
///
/// ```
/// use iris_task::JobId;
///
/// let job = JobId::new("training/eval")?;
/// assert_eq!(job.as_str(), "training/eval");
/// assert!(JobId::new("/alice/my job").is_ok());
/// assert!(JobId::new("").is_err());
/// assert!("/alice/ /child".parse::<JobId>().is_err());
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Eq)]
pub struct JobId(
    /// `None` only in the placeholder of `TaskId::vacant`, which never leaves the crate: it lets
    /// a task's data move without allocating.
    Option<Arc<str>>,
);

impl PartialEq for JobId {
    fn eq(&self, other: &JobId) -> bool {
        match (&self.0, &other.0) {
            // Clones of one id share their text: equal without reading it.
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

impl std::hash::Hash for JobId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for JobId {
    fn partial_cmp(&self, other: &JobId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JobId {
    fn cmp(&self, other: &JobId) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JobId").field(&self.as_str()).finish()
    }
}

impl JobId {
    /// Validates `id` as a job id.
    ///
    /// Clones share one allocation (the text is reference-counted): the tasks of a job built
    /// from clones of one `JobId` hold its text once, and cloning is a counter increment.
    ///
    /// # Errors
    /// [`IdError::Empty`] for an empty string, [`IdError::Whitespace`] if it contains whitespace.
    pub fn new(id: impl Into<String>) -> Result<JobId, IdError> {
        let id = id.into();
        validate(IdKind::Job, &id)?;
        Ok(JobId(Some(Arc::from(id))))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

/// The id of a task: its job and its index within the job, written `"{job_id}/task-{index}"`.
///
/// Parsing splits at the last `"/task-"`, so job ids may themselves contain `/`. The index is a
/// decimal number without sign or leading zeros, so that every task id has exactly one spelling.
///
/// ```
/// use iris_task::{JobId, TaskId};
///
/// let id = TaskId::new(JobId::new("train/shard")?, 3);
/// assert_eq!(id.to_string(), "train/shard/task-3");
/// assert_eq!("train/shard/task-3".parse::<TaskId>()?, id);
/// assert!("train/task-x".parse::<TaskId>().is_err());
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    // Field order matters: the derived `Ord` sorts by job id, then index, the tie-break the table
    // gives for events that touch several tasks.
    job: JobId,
    index: u32,
}

impl TaskId {
    /// The id of task `index` of `job`.
    ///
    /// ```
    /// use iris_task::{JobId, TaskId};
    ///
    /// let id = TaskId::new(JobId::new("job")?, 4);
    /// assert_eq!((id.job().as_str(), id.index()), ("job", 4));
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    pub fn new(job: JobId, index: u32) -> TaskId {
        TaskId { job, index }
    }

    /// An id that owns nothing, for a placeholder that never leaves the crate: a task's place
    /// while its data moves.
    pub(crate) fn vacant() -> TaskId {
        TaskId {
            job: JobId(None),
            index: 0,
        }
    }

    /// The job the task belongs to.
    pub fn job(&self) -> &JobId {
        &self.job
    }

    /// The task's index within its job, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Reads a task id as today's Iris writes one: a path, its job's name followed by the
    /// index, `/alice/train/0` (and a child job's task `/alice/train/eval/0`). The job's part
    /// must be an Iris job name: `/`, a user, a job, any child jobs, none of them empty or
    /// only whitespace. The index has no sign or leading zeros, so every path the crate accepts
    /// prints back as it came ([`path`](Self::path)).
    ///
    /// The seed-era wire's `job/task-0` form is [`str::parse`]'s.
    ///
    /// ```
    /// use iris_task::{JobId, TaskId};
    ///
    /// let id = TaskId::from_path("/alice/train/eval/3")?;
    /// assert_eq!((id.job().as_str(), id.index()), ("/alice/train/eval", 3));
    /// assert_eq!(id.path(), "/alice/train/eval/3");
    /// assert!(TaskId::from_path("/alice/3").is_err(), "a task of no job");
    /// assert!(TaskId::from_path("alice/train/3").is_err(), "not a path");
    /// assert!(TaskId::from_path("/alice/train/03").is_err(), "two spellings of 3");
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    ///
    /// # Errors
    /// [`IdError::NotAPath`] for text that is not `/<user>/<job>[/<child>...]/<index>`,
    /// [`IdError::BadTaskIndex`] for an index that is not a number from 0 to 4294967295 in
    /// one spelling, [`IdError::BlankPart`] for a part made only of whitespace.
    pub fn from_path(path: &str) -> Result<TaskId, IdError> {
        let not_a_path = |why| IdError::NotAPath {
            kind: IdKind::Task,
            id: path.to_owned(),
            why,
        };
        let (job, index) = path
            .rsplit_once('/')
            .ok_or_else(|| not_a_path("it has no `/`"))?;
        check_path(IdKind::Task, path, job)?;
        if !index.is_empty() && index.chars().all(char::is_whitespace) {
            return Err(IdError::BlankPart {
                kind: IdKind::Task,
                id: path.to_owned(),
            });
        }
        if index.is_empty() {
            return Err(not_a_path("it ends in `/`, with no index"));
        }
        let index = parse_index(path, index)?;
        Ok(TaskId::new(JobId::checked(job), index))
    }

    /// The task's id as today's Iris writes it: its job's name, `/`, its index
    /// (`/alice/train/0`). See [`from_path`](Self::from_path). Only a job named by an Iris path
    /// gives a path Iris reads: a seed-era name such as `train` (a 0.2 store's jobs) gives
    /// `train/0`, which neither Iris nor `from_path` accepts. Check names that come from
    /// elsewhere with [`JobId::from_path`].
    pub fn path(&self) -> String {
        format!("{}/{}", self.job.as_str(), self.index)
    }
}

/// Checks that `job` (the job's part of `id`) is an Iris job name: `/<user>/<job>[/<child>...]`,
/// no part empty or only whitespace.
pub(crate) fn check_path(kind: IdKind, id: &str, job: &str) -> Result<(), IdError> {
    let not_a_path = |why| IdError::NotAPath {
        kind,
        id: id.to_owned(),
        why,
    };
    let Some(parts) = job.strip_prefix('/') else {
        return Err(not_a_path("it does not start with `/`"));
    };
    let mut count = 0;
    let mut blank = false;
    // One pass over the parts: empty ones are refused first, then blank ones, as `validate`
    // refuses them (a task's index, the path's last part, is checked by its caller).
    for part in parts.split('/') {
        if part.is_empty() {
            return Err(not_a_path("it has an empty part"));
        }
        blank = blank || part.chars().all(char::is_whitespace);
        count += 1;
    }
    if count < 2 {
        return Err(not_a_path(
            "a job's name is `/<user>/<job>`, at least two parts",
        ));
    }
    if blank {
        return Err(IdError::BlankPart {
            kind,
            id: id.to_owned(),
        });
    }
    Ok(())
}

impl JobId {
    /// Reads a job id as today's Iris writes one: `/<user>/<job>`, and a child job's
    /// `/<user>/<job>/<child>...`, no part empty or only whitespace.
    ///
    /// ```
    /// use iris_task::JobId;
    ///
    /// assert_eq!(JobId::from_path("/alice/my job/eval")?.as_str(), "/alice/my job/eval");
    /// assert!(JobId::from_path("/alice").is_err(), "a user, no job");
    /// assert!(JobId::from_path("/alice//eval").is_err());
    /// # Ok::<(), iris_task::IdError>(())
    /// ```
    ///
    /// # Errors
    /// [`IdError::NotAPath`] or [`IdError::BlankPart`], naming the id.
    pub fn from_path(path: &str) -> Result<JobId, IdError> {
        check_path(IdKind::Job, path, path)?;
        Ok(JobId::checked(path))
    }

    /// A job id from text already checked at least as strictly as [`JobId::new`] checks it:
    /// a path [`check_path`] accepted, or the job part of a task id [`split_task_id`] accepted.
    /// One allocation, and no second check.
    pub(crate) fn checked(text: impl Into<Arc<str>>) -> JobId {
        JobId(Some(text.into()))
    }
}

/// The separator between a task id's job and index.
const TASK_SEPARATOR: &str = "/task-";

/// Parses a task index: ASCII digits only, no leading zero unless the index is 0.
fn parse_index(id: &str, index: &str) -> Result<u32, IdError> {
    let bad = || IdError::BadTaskIndex {
        id: id.to_owned(),
        index: index.to_owned(),
    };
    // `u32::from_str` alone would take "+1" and "007", two more spellings of one id.
    if index.is_empty()
        || !index.bytes().all(|b| b.is_ascii_digit())
        || (index.len() > 1 && index.starts_with('0'))
    {
        return Err(bad());
    }
    index.parse().map_err(|_| bad())
}

/// Splits a task id into its job id (unchecked) and its index, at the last `"/task-"`.
pub(crate) fn split_task_id(id: &str) -> Result<(&str, u32), IdError> {
    validate(IdKind::Task, id)?;
    let separator = TASK_SEPARATOR.as_bytes();
    let Some(at) = id
        .as_bytes()
        .windows(separator.len())
        .rposition(|window| window == separator)
    else {
        return Err(IdError::NoTaskIndex { id: id.to_owned() });
    };
    // The separator is ASCII, so `at` is a character boundary.
    let split = id
        .split_at_checked(at)
        .and_then(|(job, rest)| Some((job, rest.strip_prefix(TASK_SEPARATOR)?)));
    match split {
        Some((job, index)) if !job.is_empty() => Ok((job, parse_index(id, index)?)),
        _ => Err(IdError::NoTaskIndex { id: id.to_owned() }),
    }
}

impl FromStr for TaskId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<TaskId, IdError> {
        let (job, index) = split_task_id(id)?;
        // The whole id has no whitespace, so neither has its job part, which is not empty.
        Ok(TaskId {
            job: JobId::checked(job),
            index,
        })
    }
}

impl fmt::Display for TaskId {
    /// `"{job_id}/task-{index}"`, padded to the formatter's width and fill (`{:>20}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() && f.precision().is_none() {
            write!(f, "{}{TASK_SEPARATOR}{}", self.job.as_str(), self.index)
        } else {
            f.pad(&format!(
                "{}{TASK_SEPARATOR}{}",
                self.job.as_str(),
                self.index
            ))
        }
    }
}

/// The id of a worker: not empty, no whitespace.
///
/// Clones share one allocation (the text is reference-counted), so the attempts of a worker, the
/// events that name it and a table's index of its tasks all hold the same few bytes: cloning is
/// a counter increment, and comparing two clones does not read the text.
///
/// ```
/// use iris_task::WorkerId;
///
/// let worker: WorkerId = "worker-7".parse()?;
/// assert_eq!(worker.as_str(), "worker-7");
/// assert!(WorkerId::new(" worker-7").is_err());
/// # Ok::<(), iris_task::IdError>(())
/// ```
#[derive(Clone, Debug, Eq, PartialOrd, Ord)]
pub struct WorkerId(Arc<str>);

impl std::hash::Hash for WorkerId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the text hashes, so that equal ids (compared by text) hash equal.
        self.as_str().hash(state);
    }
}

impl PartialEq for WorkerId {
    fn eq(&self, other: &WorkerId) -> bool {
        // Clones of one id share their text: equal without reading it.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// A worker id compares, orders and hashes as its text, so a map or set of `WorkerId`s can be
/// looked up by a `&str` (a worker id just read off the wire) without making a `WorkerId` first.
///
/// ```
/// use std::collections::HashSet;
/// use iris_task::WorkerId;
///
/// let live: HashSet<WorkerId> = [WorkerId::new("w1")?].into_iter().collect();
/// assert!(live.contains("w1"));
/// # Ok::<(), iris_task::IdError>(())
/// ```
impl std::borrow::Borrow<str> for WorkerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl WorkerId {
    /// Validates `id` as a worker id.
    ///
    /// # Errors
    /// [`IdError::Empty`] for an empty string, [`IdError::Whitespace`] if it contains whitespace.
    pub fn new(id: impl Into<String>) -> Result<WorkerId, IdError> {
        let id = id.into();
        validate(IdKind::Worker, &id)?;
        Ok(WorkerId(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `FromStr`, `Display` and `AsRef<str>` for the string ids, which all validate through `new`.
macro_rules! string_id {
    ($($id:ident),*) => {$(
        impl FromStr for $id {
            type Err = IdError;

            fn from_str(id: &str) -> Result<$id, IdError> {
                $id::new(id)
            }
        }

        impl fmt::Display for $id {
            /// The id, padded to the formatter's width and fill (`{:<12}`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl AsRef<str> for $id {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}

string_id!(JobId, WorkerId);

/// The id of one attempt of a task: 0 for the first, one more for each assignment after it.
///
/// ```
/// use iris_task::AttemptId;
///
/// let first = AttemptId::new(0);
/// assert!(first < AttemptId::new(1));
/// assert_eq!(first.get(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(u32);

impl AttemptId {
    /// The attempt numbered `n`.
    pub const fn new(n: u32) -> AttemptId {
        AttemptId(n)
    }

    /// The attempt's number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A point in time: milliseconds since the Unix epoch, as on the wire.
///
/// The library never reads a clock; callers pass the time an event happened at.
///
/// ```
/// use iris_task::Timestamp;
///
/// let at = Timestamp::from_millis(1_700_000_000_000);
/// assert_eq!(at.as_millis(), 1_700_000_000_000);
/// assert!(at < Timestamp::from_millis(1_700_000_000_001));
/// assert_eq!(at.to_string(), "1700000000000ms");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The time `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The time `after` later, in whole milliseconds (a fraction of one is dropped), saturating
    /// at the latest time a `Timestamp` holds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use iris_task::Timestamp;
    ///
    /// let t = Timestamp::from_millis(1_000);
    /// assert_eq!(t.saturating_add(Duration::from_secs(30)), Timestamp::from_millis(31_000));
    /// assert_eq!(t.saturating_sub(Duration::from_millis(1_500)), Timestamp::from_millis(-500));
    /// assert_eq!(Timestamp::from_millis(31_000).duration_since(t), Some(Duration::from_secs(30)));
    /// assert_eq!(t.duration_since(Timestamp::from_millis(31_000)), None);
    /// ```
    pub fn saturating_add(self, after: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(whole_millis(after)))
    }

    /// The time `before` earlier, in whole milliseconds, saturating at the earliest time a
    /// `Timestamp` holds.
    pub fn saturating_sub(self, before: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(whole_millis(before)))
    }

    /// How long after `earlier` this time is; `None` if `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Option<Duration> {
        let ms = i128::from(self.0) - i128::from(earlier.0);
        u64::try_from(ms).ok().map(Duration::from_millis)
    }
}

/// A duration in whole milliseconds, as many as an `i64` holds.
fn whole_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Display for Timestamp {
    /// `"{millis}ms"`, padded to the formatter's width and fill.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() && f.precision().is_none() {
            write!(f, "{}ms", self.0)
        } else {
            f.pad(&format!("{}ms", self.0))
        }
    }
}

/// Which kind of id an [`IdError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// A [`JobId`](crate::JobId).
    Job,
    /// A [`TaskId`](crate::TaskId).
    Task,
    /// A [`WorkerId`](crate::WorkerId).
    Worker,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Job => "job",
            IdKind::Task => "task",
            IdKind::Worker => "worker",
        })
    }
}

/// A malformed job, task or worker id.
///
/// ```
/// use iris_task::{IdError, IdKind, WorkerId};
///
/// let err = WorkerId::new("").unwrap_err();
/// assert_eq!(err, IdError::Empty { kind: IdKind::Worker });
/// assert_eq!(err.to_string(), "worker id is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is the empty string.
    #[error("{kind} id is empty")]
    Empty {
        /// The kind of id.
        kind: IdKind,
    },
    /// The id contains a space, tab, newline or other whitespace.
    #[error("{kind} id {id:?} contains whitespace")]
    Whitespace {
        /// The kind of id.
        kind: IdKind,
        /// The rejected id.
        id: String,
    },
    /// A task id without `"/task-"` after a non-empty job id.
    #[error("task id {id:?} is not of the form \"{{job_id}}/task-{{index}}\"")]
    NoTaskIndex {
        /// The rejected id.
        id: String,
    },
    /// A task id whose index is not a decimal number from 0 to 4294967295 without sign or leading
    /// zeros.
    #[error("task id {id:?} has index {index:?}, which is not a number from 0 to 4294967295")]
    BadTaskIndex {
        /// The rejected id.
        id: String,
        /// The text after the last `"/task-"`.
        index: String,
    },
    /// A job or task id with a part between `/`s made only of whitespace (Iris refuses such a
    /// name too).
    #[error("{kind} id {id:?} has a part that is only whitespace")]
    BlankPart {
        /// The kind of id.
        kind: IdKind,
        /// The rejected id.
        id: String,
    },
    /// A job or task id read as today's Iris writes them (a path) that is not one.
    #[error("{kind} id {id:?} is not an Iris path: {why}")]
    NotAPath {
        /// The kind of id.
        kind: IdKind,
        /// The rejected id.
        id: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An attempt uid that is not exactly 16 lowercase hex characters.
    #[error("attempt uid {uid:?} is not 16 lowercase hex characters")]
    BadAttemptUid {
        /// The rejected uid.
        uid: String,
    },
}
