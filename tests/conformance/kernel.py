# Drives Iris's own controller kernel (marin-iris, pinned) for tests/conformance: one JSON request
# per line on stdin, one JSON answer per line on stdout. Each script starts with `reset`, which
# builds a fresh controller state (its SQLite database in a temporary directory); each later
# request is one step, applied through Iris's public ops and testing helpers, with Iris's clock
# patched to the step's time; every answer is the whole state of the script's jobs and tasks.
#
# Iris's own code decides everything here; this file only translates requests into its calls, as
# its controller would make them:
# - assignments go through `ops.task.assign` in one transaction (as the scheduler's tick commits
#   them);
# - a worker's observation goes through the production reconcile path: the worker's plan is built
#   by `plans_from_snapshot` from the controller snapshot (so an observation of an attempt the
#   worker does not hold, or no longer holds live, is dropped as Iris drops it), then
#   `commit_reconcile` applies it;
# - a lost worker is `ops.worker.fail`, then the worker registers again (a restarted worker);
# - preemption, scheduling and execution timeouts are `ops.task.finalize` decisions, issued only
#   when Iris's controller would issue them (a timeout of an executing task, the scheduling
#   deadline of a pending one);
# - a cancel is `ops.job.cancel`.
import json
import logging
import sys

logging.disable(logging.CRITICAL)

from rigging import timing  # noqa: E402

NOW = [0]
# Iris reads its clock through `Timestamp.now()`: the script's time instead.
timing.Timestamp.now = classmethod(lambda cls: cls.from_ms(NOW[0]))

from rigging.timing import Timestamp  # noqa: E402

from iris.cluster.controller import ops, reads  # noqa: E402
from iris.cluster.controller.backend import plans_from_snapshot  # noqa: E402
from iris.cluster.controller.ops.task import Assignment  # noqa: E402
from iris.cluster.controller.projections.run_templates import RunTemplatesProjection  # noqa: E402
from iris.cluster.controller.reconcile import TerminalDecision, TerminalKind  # noqa: E402
from iris.cluster.controller.reconcile.worker import WorkerReconcileResult  # noqa: E402
from iris.cluster.controller.schema import jobs_table, task_attempts_table, tasks_table  # noqa: E402
from iris.cluster.types import JobName, WorkerId  # noqa: E402
from iris.rpc import job_pb2, worker_pb2  # noqa: E402
from iris.testing.controller import (  # noqa: E402
    make_controller_state,
    make_job_request,
    make_worker_metadata,
    register_worker,
    submit_job,
)
from iris.testing.transitions import commit_reconcile  # noqa: E402
from sqlalchemy import select  # noqa: E402

USER = "test-user"


class Script:
    """One script's controller state: Iris's database, its jobs and workers."""

    def __init__(self, request):
        self.context = make_controller_state()
        self.state = self.context.__enter__()
        NOW[0] = request["now"]
        self.workers = request["workers"]
        for worker in self.workers:
            self.register(worker)
        self.held = False
        self.jobs = []
        for spec in request["jobs"]:
            name = JobName.from_string(spec["name"])
            job_request = make_job_request(
                name=spec["name"],
                replicas=spec["tasks"],
                max_retries_failure=spec["max_retries_failure"],
                max_retries_preemption=spec["max_retries_preemption"],
                max_task_failures=spec["max_task_failures"],
            )
            if spec["coscheduled"]:
                job_request.coscheduling.group_by = "pool"
            submit_job(self.state, spec["name"], job_request, timestamp_ms=NOW[0])
            self.jobs.append((name, spec["tasks"]))

    def close(self):
        self.context.__exit__(None, None, None)

    def register(self, worker):
        register_worker(self.state, worker, f"{worker}:8080", make_worker_metadata())

    def task(self, name):
        return JobName.from_string(name)

    def row(self, task):
        with self.state._db.read_snapshot() as tx:
            return reads.get_task_detail(tx, task)

    def assign(self, request):
        assignments = [
            Assignment(task_id=self.task(task), worker_id=WorkerId(worker))
            for task, worker in request["assignments"]
        ]
        with self.state._db.transaction() as cur:
            ops.task.assign(cur, assignments, health=self.state._health)

    def plan(self, worker):
        """The Reconcile plan Iris's controller would send `worker` now: its desired set."""
        with self.state._db.read_snapshot() as tx:
            control = reads.load_control_snapshot(tx, self.state._health, scan_timeouts=False)
            specs = {}
            for row in control.reconcile_rows:
                if row.task_state == job_pb2.TASK_STATE_ASSIGNED and row.job_id not in specs:
                    specs[row.job_id] = tx.caches[RunTemplatesProjection].get(tx, row.job_id)
        snapshot = reads.ControlSnapshot(
            worker_addresses=control.worker_addresses,
            reconcile_rows=control.reconcile_rows,
            timeout_rows=[],
            job_specs={job: spec for job, spec in specs.items() if spec is not None},
        )
        plans = {plan.worker_id: plan for plan in plans_from_snapshot(snapshot)}
        return plans.get(worker)

    def deliver(self, plan, observations):
        result = WorkerReconcileResult(worker_id=plan.worker_id, observations=observations)
        with self.state._db.transaction() as cur:
            commit_reconcile(cur, [(plan, result)], now=Timestamp.now())

    def observe(self, request):
        worker = WorkerId(request["worker"])
        task = self.task(request["task"])
        with self.state._db.read_snapshot() as tx:
            uid_row = tx.execute(
                select(task_attempts_table.c.attempt_uid).where(
                    task_attempts_table.c.task_id == task,
                    task_attempts_table.c.attempt_id == request["attempt"],
                )
            ).first()
        plan = self.plan(worker)
        if plan is None:
            return
        # An attempt that never existed has no uid: the worker names one nobody minted.
        uid = uid_row.attempt_uid if uid_row is not None else "ffffffffffffffff"
        desired = {attempt.attempt_uid for attempt in plan.request.desired}
        if uid not in desired and any(row.attempt_uid == uid for row in plan.attempts):
            # Iris withholds the attempt from the worker while the worker still holds an attempt
            # the controller preempted and the worker has not confirmed stopping (kind J). A
            # worker that reports on the attempt got it, so it confirmed the stop first.
            victims = [
                worker_pb2.Worker.AttemptObservation(
                    attempt_uid=row.attempt_uid, state=job_pb2.TASK_STATE_KILLED
                )
                for row in plan.attempts
                if row.attempt_state == job_pb2.TASK_STATE_PREEMPTED
            ]
            self.deliver(plan, victims)
            self.held = True
            plan = self.plan(worker)
        observation = worker_pb2.Worker.AttemptObservation(
            attempt_uid=uid,
            state=request["state"],
            exit_code=request.get("exit_code", 0),
            error=request.get("error", ""),
        )
        self.deliver(plan, [observation])

    def worker_lost(self, request):
        worker = request["worker"]
        ops.worker.fail(
            self.state._db, worker_ids=[worker], reason="lost", health=self.state._health
        )
        # The worker comes back, as a restarted worker registers again.
        self.register(worker)

    def finalize(self, kind, task, reason):
        with self.state._db.transaction() as cur:
            ops.task.finalize(
                cur, [TerminalDecision(kind=kind, task_id=task, reason=reason)], now=Timestamp.now()
            )

    def preempt(self, request):
        self.finalize(TerminalKind.PREEMPT, self.task(request["task"]), "priority")

    def sched_timeout(self, request):
        task = self.task(request["task"])
        row = self.row(task)
        # Iris's controller marks only pending tasks past their job's scheduling deadline.
        if row is not None and row.state == job_pb2.TASK_STATE_PENDING:
            # The kernel's own words, which the crate uses; Iris's controller appends the job's
            # timeout, `(5m)`, which the crate's event does not carry (declared in the guide).
            self.finalize(TerminalKind.UNSCHEDULABLE, task, "Scheduling timeout exceeded")

    def exec_timeout(self, request):
        task = self.task(request["task"])
        row = self.row(task)
        # Iris's controller times out only executing tasks (`scan_execution_timeout_rows`).
        if row is not None and row.state in (
            job_pb2.TASK_STATE_BUILDING,
            job_pb2.TASK_STATE_RUNNING,
        ):
            self.finalize(TerminalKind.TIMEOUT, task, "Execution timeout exceeded")

    def cancel(self, request):
        with self.state._db.transaction() as cur:
            ops.job.cancel(cur, job_id=JobName.from_string(request["job"]), reason="cancelled")

    def snapshot(self):
        """Every task of the script's jobs (state, counts, attempts), every job's state and
        error."""
        out = {"tasks": {}, "jobs": {}, "errors": {}}
        with self.state._db.read_snapshot() as tx:
            for job, count in self.jobs:
                row = tx.execute(
                    select(jobs_table.c.state, jobs_table.c.error).where(jobs_table.c.job_id == job)
                ).first()
                out["jobs"][job.to_wire()] = int(row.state) if row is not None else None
                out["errors"][job.to_wire()] = (row.error or None) if row is not None else None
                ids = [job.task(index) for index in range(count)]
                details = reads.bulk_get_task_detail(tx, ids)
                attempts = {}
                for row in tx.execute(
                    select(
                        task_attempts_table.c.task_id,
                        task_attempts_table.c.attempt_id,
                        task_attempts_table.c.state,
                        task_attempts_table.c.started_at_ms,
                        task_attempts_table.c.finished_at_ms,
                    )
                    .where(task_attempts_table.c.task_id.in_(ids))
                    .order_by(task_attempts_table.c.task_id, task_attempts_table.c.attempt_id)
                ).all():
                    attempts.setdefault(row.task_id, []).append(
                        [
                            int(row.state),
                            row.started_at_ms is not None,
                            row.finished_at_ms is not None,
                        ]
                    )
                for task in ids:
                    detail = details[task]
                    out["tasks"][task.to_wire()] = {
                        "state": int(detail.state),
                        "failures": int(detail.failure_count),
                        "preemptions": int(detail.preemption_count),
                        "attempts": attempts.get(task, []),
                    }
        return out


def main():
    script = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "reset":
                if script is not None:
                    script.close()
                script = Script(request)
            else:
                NOW[0] = request["now"]
                script.held = False
                getattr(script, op)(request)
            answer = script.snapshot()
            answer["held"] = script.held
        except Exception as err:  # reported to the Rust side, which fails the test with it
            answer = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    if script is not None:
        script.close()


if __name__ == "__main__":
    main()
