//! The network: reports in flight, delivered on time, twice or a minute late, as the encoded
//! bytes a worker would send.

use std::fmt::Write as _;

use iris_task::{TaskEvent, TaskId, Timestamp, proto};
use prost::Message;
use rand::Rng;

use super::{
    BUILD_MS, CONFIRM_MS, Cluster, LATE_MS, NETWORK_MS, P_DELIVERED_LATE, P_DELIVERED_TWICE,
    RUN_MS, STOPPED_ERROR, TICK_MS,
};

/// A report on its way from a worker to the controller.
///
/// It holds what the worker puts in its `ReportTaskStateRequest`; the controller gets the encoded
/// bytes. They are encoded on arrival rather than when sent (the same bytes either way), so that
/// the reports in flight, up to two simulated minutes of them, are not a heap allocation each.
#[derive(Clone, Copy)]
pub(super) struct InFlight {
    pub(super) deliver_at: i64,
    /// Reports due at the same time arrive in the order they were queued.
    pub(super) sequence: u64,
    pub(super) sent_at: i64,
    pub(super) worker: usize,
    pub(super) incarnation: u32,
    /// The task: its job's index in `Cluster::jobs`, and its index in the job.
    pub(super) job: usize,
    pub(super) task: u32,
    pub(super) attempt: u32,
    pub(super) state: proto::TaskState,
    pub(super) exit_code: i32,
}

/// The reports on their way, bucketed by the tick that delivers them (a timing wheel): queueing
/// and delivering a report costs O(1) however many are in flight, where a binary heap of 100,000
/// reports cost a cache miss per level of every pop.
pub(super) struct Network {
    /// The reports tick `t` delivers are in `buckets[t % buckets.len()]`; no report is due more
    /// than `buckets.len() - 1` ticks ahead.
    buckets: Vec<Vec<InFlight>>,
    /// Emptied buckets' vectors, for the next bucket that fills: a few hundred vectors go round
    /// instead of every bucket growing its own.
    spare: Vec<Vec<InFlight>>,
    pub(super) in_flight: usize,
    /// Reports queued so far.
    sequence: u64,
}

/// The tick whose step delivers a report due at `at`: the first whose time is `at` or later.
pub(super) fn delivering_tick(at: i64) -> i64 {
    at.div_euclid(TICK_MS) + i64::from(at.rem_euclid(TICK_MS) != 0)
}

impl Network {
    pub(super) fn new() -> Network {
        // The latest report is sent a confirmation, a build and a run after its dispatch, and
        // delivered late; two ticks more for the rounding.
        let horizon = CONFIRM_MS.end + BUILD_MS.end + RUN_MS.end + LATE_MS.end;
        let ticks = usize::try_from(horizon / TICK_MS + 2).unwrap_or(usize::MAX);
        Network {
            buckets: (0..ticks).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            in_flight: 0,
            sequence: 0,
        }
    }

    fn bucket(&mut self, tick: i64) -> Option<&mut Vec<InFlight>> {
        let len = i64::try_from(self.buckets.len()).ok()?;
        let index = usize::try_from(tick.rem_euclid(len)).ok()?;
        let bucket = self.buckets.get_mut(index)?;
        if bucket.capacity() == 0 {
            if let Some(spare) = self.spare.pop() {
                *bucket = spare;
            }
        }
        Some(bucket)
    }

    /// Queues a report; `now` is the current time, before the report's delivery.
    fn push(&mut self, now: i64, mut report: InFlight) {
        self.sequence += 1;
        report.sequence = self.sequence;
        let tick = delivering_tick(report.deliver_at);
        let ahead = tick - delivering_tick(now);
        assert!(
            ahead > 0 && ahead < self.buckets.len() as i64,
            "a report due {ahead} ticks ahead does not fit the wheel"
        );
        if let Some(bucket) = self.bucket(tick) {
            bucket.push(report);
            self.in_flight += 1;
        }
    }

    /// The reports the step at `now` (a whole tick) delivers, in the order they arrive: by time,
    /// then in the order they were queued. Hand the emptied vector back with `recycle`.
    fn due(&mut self, now: i64) -> Vec<InFlight> {
        let len = i64::try_from(self.buckets.len()).unwrap_or(i64::MAX);
        let mut due = usize::try_from(delivering_tick(now).rem_euclid(len))
            .ok()
            .and_then(|index| self.buckets.get_mut(index))
            .map(std::mem::take)
            .unwrap_or_default();
        self.in_flight -= due.len();
        // Unstable, on a unique key: a stable sort would allocate a scratch buffer every tick.
        due.sort_unstable_by_key(|report| (report.deliver_at, report.sequence));
        due
    }

    /// Keeps the delivered bucket's allocation for the next bucket that fills, so the wheel
    /// stops allocating once warm.
    fn recycle(&mut self, mut emptied: Vec<InFlight>) {
        emptied.clear();
        if emptied.capacity() > 0 {
            self.spare.push(emptied);
        }
    }
}

impl Cluster {
    /// Queues a worker's report, sent at `report.sent_at`: maybe twice, maybe late.
    pub(super) fn send(&mut self, report: InFlight) {
        let copies = if self.rng.random_bool(P_DELIVERED_TWICE) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.rng.random_bool(P_DELIVERED_LATE) {
                self.rng.random_range(LATE_MS)
            } else {
                self.rng.random_range(NETWORK_MS)
            };
            self.stats.reports_queued += 1;
            let copy = InFlight {
                deliver_at: report.sent_at + delay,
                ..report
            };
            self.network.push(self.now, copy);
        }
    }

    /// The `ReportTaskStateRequest` bytes the worker sent, in `self.wire`.
    fn encode(&mut self, sent: &InFlight) {
        self.wire.clear();
        let (Some(from), Some(job)) = (self.workers.get(sent.worker), self.jobs.get(sent.job))
        else {
            return;
        };
        let terminal = matches!(
            sent.state,
            proto::TaskState::Succeeded | proto::TaskState::Failed
        );
        // One message for every report, refilled: its strings keep their allocations.
        let report = &mut self.report;
        report.worker_id.clear();
        report.worker_id.push_str(from.id.as_str());
        report.task_id.clear();
        let _ = write!(report.task_id, "{}", TaskId::new(job.id.clone(), sent.task));
        report.job_id.clear();
        report.job_id.push_str(job.id.as_str());
        report.task_index = i32::try_from(sent.task).unwrap_or(i32::MAX);
        report.state = sent.state as i32;
        report.exit_code = sent.exit_code;
        report.error.clear();
        if sent.exit_code != 0 {
            let _ = write!(report.error, "exit {}", sent.exit_code);
        }
        if sent.state == proto::TaskState::Killed {
            report.error.push_str(STOPPED_ERROR);
        }
        report.finished_at_ms = if terminal { sent.sent_at } else { 0 };
        report.attempt_id = i32::try_from(sent.attempt).unwrap_or(i32::MAX);
        if let Err(err) = report.encode(&mut self.wire) {
            panic!("a report does not encode: {err}");
        }
    }

    /// Delivers every report due by now, decoding its bytes as the controller's RPC handler
    /// would.
    pub(super) fn deliver_reports(&mut self) {
        let mut due = self.network.due(self.now);
        for report in due.drain(..) {
            let Some(worker) = self.workers.get(report.worker) else {
                continue;
            };
            // A worker that died before the send time never sent it.
            let died = worker.deaths.get(report.incarnation as usize);
            if died.is_some_and(|&died| report.sent_at >= died) {
                self.stats.reports_never_sent += 1;
                continue;
            }
            self.stats.reports_delivered += 1;
            self.encode(&report);
            let received_at = Timestamp::from_millis(report.deliver_at);
            match TaskEvent::decode_report(&self.wire, received_at) {
                Ok((id, event)) => {
                    // `after` frees the worker of every attempt the report closed.
                    self.apply(&id, event);
                }
                Err(err) => panic!("a well-formed report failed to decode: {err}"),
            }
        }
        self.network.recycle(due);
    }
}
