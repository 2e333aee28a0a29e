"""Fixtures of today's wire written by the pinned Iris wheel's own code, for tests/today_fixtures.rs.

Run with the test venv's python (tests/iris/venv.sh):

    target/iris/venv/bin/python tests/today/fixtures.py write DIR   # Iris writes DIR/*.bin + DIR/fixtures.json
    target/iris/venv/bin/python tests/today/fixtures.py check DIR   # Iris reads DIR/crate_*.bin back

`write` drives Iris's controller kernel in process (tests/conformance/kernel.py, the same harness
the conformance test uses) through a scenario that leaves tasks in every state, then asks Iris's
own ControllerService for them: GetTaskStatus for each task, GetJobStatus and ListJobs for the
jobs. The Reconcile requests are the plans Iris's controller builds for its workers; the
LaunchJobRequest is the one Iris's client (`RemoteClusterClient.submit_job`, what `iris job run`
calls) builds, with its bundle inline; the RegisterRequest is built as the worker builds it, from
Iris's own metadata probe. Reconcile responses answer those plans, one per observation state a
worker sends (every attempt of the plan in that state), built with the wheel's `worker_pb2` as
`Worker.reconcile` builds them.

`check` decodes the crate's encodings of what it read (the Rust test writes them) and compares
them field by field with Iris's originals: every field the crate carries must come back as Iris
wrote it.
"""

import io
import json
import pathlib
import sys
import zipfile
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/conformance"))

import kernel  # noqa: E402  (patches Iris's clock, as the conformance test does)
from iris.cluster.controller.tasks import get_task_status  # noqa: E402,F401
from iris.rpc import controller_pb2, job_pb2, worker_pb2  # noqa: E402
from iris.testing.controller import make_controller_service, make_mock_controller  # noqa: E402

W = job_pb2
ACTIVE = (W.TASK_STATE_ASSIGNED, W.TASK_STATE_BUILDING, W.TASK_STATE_RUNNING)


def scenario():
    """Tasks in every state. Job `a` tolerates failures, so its tasks keep their own states;
    the states that end a job (UNSCHEDULABLE, KILLED, COSCHED_FAILED) have jobs of their own."""
    jobs = JOBS
    kernel.NOW[0] = 1_000
    script = kernel.Script({"now": 1_000, "workers": ["w1", "w2", "w3", "w4"], "jobs": jobs})
    return drive(script)


JOBS = [
    {"name": "/test-user/a", "tasks": 9, "max_retries_failure": 1, "max_retries_preemption": 0,
     "max_task_failures": 100, "coscheduled": False},
    {"name": "/test-user/b", "tasks": 2, "max_retries_failure": 0, "max_retries_preemption": 0,
     "max_task_failures": 0, "coscheduled": False},
    {"name": "/test-user/c", "tasks": 2, "max_retries_failure": 0, "max_retries_preemption": 0,
     "max_task_failures": 0, "coscheduled": True},
    {"name": "/test-user/d", "tasks": 1, "max_retries_failure": 0, "max_retries_preemption": 0,
     "max_task_failures": 0, "coscheduled": False},
]


def drive(script):
    t = [1_000]

    def step(op, **request):
        t[0] += 100
        kernel.NOW[0] = t[0]
        request["now"] = t[0]
        getattr(script, op)(request)

    def assign(task, worker):
        step("assign", assignments=[[task, worker]])

    def observe(task, worker, state, attempt=0, **extra):
        step("observe", task=task, worker=worker, attempt=attempt, state=state, **extra)

    a = "/test-user/a/{}".format
    # a/0 stays pending. a/1 assigned. a/2 building. a/3 running. a/4 succeeded.
    assign(a(1), "w1")
    assign(a(2), "w1")
    observe(a(2), "w1", W.TASK_STATE_BUILDING)
    assign(a(3), "w1")
    observe(a(3), "w1", W.TASK_STATE_RUNNING)
    assign(a(4), "w1")
    observe(a(4), "w1", W.TASK_STATE_RUNNING)
    observe(a(4), "w1", W.TASK_STATE_SUCCEEDED)
    # a/5 fails, is retried, fails again: FAILED with two attempts.
    assign(a(5), "w1")
    observe(a(5), "w1", W.TASK_STATE_RUNNING)
    observe(a(5), "w1", W.TASK_STATE_FAILED, exit_code=3, error="exit 3")
    assign(a(5), "w2")
    observe(a(5), "w2", W.TASK_STATE_RUNNING, attempt=1)
    observe(a(5), "w2", W.TASK_STATE_FAILED, attempt=1, exit_code=4, error="exit 4")
    # a/6 fails once: pending again, its failed attempt behind it.
    assign(a(6), "w2")
    observe(a(6), "w2", W.TASK_STATE_RUNNING)
    observe(a(6), "w2", W.TASK_STATE_FAILED, exit_code=1, error="exit 1")
    # a/7 preempted with no budget left: PREEMPTED; the worker confirms the stop.
    assign(a(7), "w2")
    observe(a(7), "w2", W.TASK_STATE_RUNNING)
    step("preempt", task=a(7))
    observe(a(7), "w2", W.TASK_STATE_KILLED)
    # a/8 running on w3 when w3 is lost, no preemption budget: WORKER_FAILED.
    assign(a(8), "w3")
    observe(a(8), "w3", W.TASK_STATE_RUNNING)
    step("worker_lost", worker="w3")
    # d/0 never placed before the scheduling deadline: UNSCHEDULABLE (and so is its job).
    step("sched_timeout", task="/test-user/d/0")
    # Job b is cancelled: b/0 running (its worker confirms the kill), b/1 pending: KILLED.
    assign("/test-user/b/0", "w4")
    observe("/test-user/b/0", "w4", W.TASK_STATE_RUNNING)
    step("cancel", job="/test-user/b")
    observe("/test-user/b/0", "w4", W.TASK_STATE_KILLED)
    # Gang c: c/0 fails for good, its running sibling c/1 ends COSCHED_FAILED.
    assign("/test-user/c/0", "w3")
    assign("/test-user/c/1", "w4")
    observe("/test-user/c/0", "w3", W.TASK_STATE_RUNNING)
    observe("/test-user/c/1", "w4", W.TASK_STATE_RUNNING)
    observe("/test-user/c/0", "w3", W.TASK_STATE_FAILED, exit_code=2, error="exit 2")
    return script


def service_for(script):
    logs = mock.Mock()
    logs.fetch_logs.return_value = mock.Mock(entries=[], lines=[])
    return make_controller_service(script.state, logs, make_mock_controller(), ROOT / "target/iris")


def launch_request():
    """What `iris job run` sends: Iris's client builds it, bundle inline; the call is captured."""
    from iris.cluster.client.remote_client import RemoteClusterClient
    from iris.cluster.types import Entrypoint, JobName

    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("ok.py", "print('ok')\n")
    client = RemoteClusterClient.__new__(RemoteClusterClient)
    captured = {}

    class Capture:
        def launch_job(self, request, timeout_ms=None):
            captured["request"] = request
            return controller_pb2.Controller.LaunchJobResponse(job_id=request.name)

    client._client = Capture()
    client._bundle_id = None
    client._bundle_blob = bundle.getvalue()
    client._workspace = None
    client._timeout_ms = 10_000
    client.submit_job(
        JobName.from_string("/test-user/hello"),
        Entrypoint.from_command("python", "/app/ok.py"),
        job_pb2.ResourceSpecProto(cpu_millicores=500, memory_bytes=1 << 30),
        replicas=2,
        max_retries_failure=1,
        max_task_failures=1,
    )
    return captured["request"]


def register_request():
    """As `Worker._register` builds it, with Iris's own metadata probe of this machine."""
    from iris.cluster.worker.env_probe import build_worker_metadata, probe_hardware

    metadata = build_worker_metadata(probe_hardware())
    return controller_pb2.Controller.RegisterRequest(
        address="127.0.0.1:10001", metadata=metadata, worker_id="worker-1", slice_id="", scale_group=""
    )


OBSERVED = [
    (W.TASK_STATE_BUILDING, {}),
    (W.TASK_STATE_RUNNING, {}),
    (W.TASK_STATE_SUCCEEDED, {"exit_code": 0}),
    (W.TASK_STATE_FAILED, {"exit_code": 3, "error": "exit 3"}),
    (W.TASK_STATE_KILLED, {"error": "killed"}),
    (W.TASK_STATE_WORKER_FAILED, {"error": "spec not delivered"}),
    (W.TASK_STATE_PREEMPTED, {"error": "node drained"}),
    (W.TASK_STATE_MISSING, {}),
]


def observations(plan, state, extra):
    """The answer of a worker that sees every attempt of `plan` in `state`, built as
    `Worker.reconcile` builds one (a MISSING observation carries the uid alone)."""
    observed = []
    for desired in plan.request.desired:
        observation = worker_pb2.Worker.AttemptObservation(attempt_uid=desired.attempt_uid, state=state, **extra)
        if state in (W.TASK_STATE_SUCCEEDED, W.TASK_STATE_FAILED, W.TASK_STATE_KILLED):
            observation.finished_at.epoch_ms = 9_000
        observed.append(observation)
    return worker_pb2.Worker.ReconcileResponse(
        worker_id=plan.worker_id,
        observed=observed,
        health=worker_pb2.Worker.WorkerHealth(healthy=True),
    )


def write(out):
    out.mkdir(parents=True, exist_ok=True)
    script = scenario()
    service = service_for(script)
    expected = {}

    def save(name, message, **facts):
        (out / f"{name}.bin").write_bytes(message.SerializeToString())
        expected[name] = {"type": type(message).DESCRIPTOR.full_name, **facts}

    for job, count in script.jobs:
        for index in range(count):
            task_id = job.task(index).to_wire()
            response = service.get_task_status(
                controller_pb2.Controller.GetTaskStatusRequest(task_id=task_id), None
            )
            task = response.task
            name = "task_" + task_id.strip("/").replace("/", "_")
            save(name, task, state=job_pb2.TaskState.Name(task.state), attempts=len(task.attempts))
        status = service.get_job_status(controller_pb2.Controller.GetJobStatusRequest(job_id=job.to_wire()), None)
        spec = next(spec for spec in JOBS if spec["name"] == job.to_wire())
        save(
            "job_" + job.name,
            status.job,
            state=job_pb2.JobState.Name(status.job.state),
            max_task_failures=spec["max_task_failures"],
            coscheduled=spec["coscheduled"],
            max_retries_failure=spec["max_retries_failure"],
            max_retries_preemption=spec["max_retries_preemption"],
        )
    listed = service.list_jobs(controller_pb2.Controller.ListJobsRequest(), None)
    save("list_jobs", listed, jobs=len(listed.jobs))
    for worker in ["w1", "w2", "w4"]:
        plan = script.plan(worker)
        if plan is None:
            continue
        save(f"reconcile_request_{worker}", plan.request, desired=len(plan.request.desired))
        if not plan.request.desired:
            continue
        for state, extra in OBSERVED:
            name = job_pb2.TaskState.Name(state).removeprefix("TASK_STATE_").lower()
            save(f"reconcile_response_{worker}_{name}", observations(plan, state, extra),
                 observed=len(plan.request.desired), state=job_pb2.TaskState.Name(state))
    save("launch_job", launch_request())
    save("register", register_request())
    script.close()
    (out / "fixtures.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(expected)} fixtures from marin-iris's own code into {out}")


def carried(status):
    """The fields of a TaskStatus the crate carries, as Iris wrote them."""
    def ms(message, field):
        return getattr(message, field).epoch_ms if message.HasField(field) else None

    return {
        "task_id": status.task_id,
        "state": status.state,
        "worker_id": status.worker_id,
        "started_at": ms(status, "started_at"),
        "finished_at": ms(status, "finished_at"),
        "current_attempt_id": status.current_attempt_id,
        "attempts": [
            {
                "attempt_id": a.attempt_id,
                "worker_id": a.worker_id,
                "state": a.state,
                "attempt_uid": a.attempt_uid,
                "exit_code": a.exit_code if a.state == W.TASK_STATE_FAILED else None,
                "error": a.error,
                "started_at": ms(a, "started_at"),
                "finished_at": ms(a, "finished_at"),
                "is_worker_failure": a.is_worker_failure,
            }
            for a in status.attempts
        ],
    }


def check(out):
    expected = json.loads((out / "fixtures.json").read_text())
    checked = 0
    for name, facts in sorted(expected.items()):
        crate = out / f"crate_{name}.bin"
        if not crate.exists():
            continue
        iris_message = {
            "iris.job.TaskStatus": job_pb2.TaskStatus,
            "iris.job.JobStatus": job_pb2.JobStatus,
        }[facts["type"]]
        original = iris_message()
        original.ParseFromString((out / f"{name}.bin").read_bytes())
        ours = iris_message()
        ours.ParseFromString(crate.read_bytes())
        if facts["type"] == "iris.job.TaskStatus":
            want, got = carried(original), carried(ours)
            # Kind J (declared): an attempt the controller ended is terminal with no finish in
            # Iris until its worker confirms the stop; the crate closes it at once, dated when the
            # status was received. Only that finish may differ.
            for w, g in zip(want["attempts"], got["attempts"]):
                if w["finished_at"] is None and w["state"] not in ACTIVE and g["finished_at"] is not None:
                    if w["started_at"] is not None and g["finished_at"] < w["started_at"]:
                        sys.exit(f"{name}: the crate dated a stop before the attempt started")
                    w["finished_at"] = g["finished_at"]
            if want != got:
                sys.exit(f"{name}: the crate wrote\n{got}\nIris wrote\n{want}")
        else:
            # Kind F (declared): Iris counts a started attempt the controller killed as a
            # preemption; the crate does not. The job's tasks, as Iris wrote them, say how many.
            prefix = "task_" + original.job_id.strip("/").replace("/", "_") + "_"
            killed_started = 0
            for task_name in expected:
                if task_name.startswith(prefix):
                    task = job_pb2.TaskStatus()
                    task.ParseFromString((out / f"{task_name}.bin").read_bytes())
                    killed_started += sum(
                        1 for a in task.attempts
                        if a.state == W.TASK_STATE_KILLED and a.HasField("started_at") and not a.is_worker_failure
                    )
            if ours.preemption_count + killed_started != original.preemption_count:
                sys.exit(f"{name}.preemption_count: the crate wrote {ours.preemption_count}, Iris "
                         f"{original.preemption_count}, of which kind F explains {killed_started}")
            for field in ["job_id", "state", "error", "failure_count", "task_count", "completed_count"]:
                if getattr(ours, field) != getattr(original, field):
                    sys.exit(f"{name}.{field}: the crate wrote {getattr(ours, field)!r}, Iris {getattr(original, field)!r}")
            # Iris's GetJobStatus lists no tasks; a peer's that does must list the same.
            if original.tasks and [carried(t) for t in ours.tasks] != [carried(t) for t in original.tasks]:
                sys.exit(f"{name}.tasks differ")
            for state, count in original.task_state_counts.items():
                if ours.task_state_counts.get(state, 0) != count:
                    sys.exit(f"{name}.task_state_counts[{state}]: {ours.task_state_counts.get(state, 0)} vs {count}")
        checked += 1
    print(f"Iris read back {checked} of the crate's encodings, field by field")


if __name__ == "__main__":
    command, directory = sys.argv[1], pathlib.Path(sys.argv[2])
    {"write": write, "check": check}[command](directory)
