#!/usr/bin/env python3
"""Interop with Google's protobuf implementation, both ways.

1. Compiles the crate's own proto/iris/cluster.proto with grpcio-tools (Google's protoc, as a
   Python package), so both sides read the same schema.
2. Writes Python-encoded statuses, reports and a job status to fixtures/py_*.bin, with the fields
   it set in fixtures/py_fixtures.json. The Rust test tests/interop.rs decodes them with the crate
   and compares.
3. Runs that Rust test with IRIS_INTEROP_WRITE_DIR set, which makes it write the crate's own
   encodings of known tasks to fixtures/crate_*.bin.
4. Decodes those with Python and checks every field against what the scenarios say.

Rerun after changing the proto or the encoding (needs Python 3 and network access to PyPI once):

    python3 -m pip install protobuf grpcio-tools
    python3 tests/interop/interop.py

and commit the fixtures. CI does not need Python: tests/interop.rs checks the committed fixtures.
"""

import importlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = HERE / "fixtures"


def compile_proto():
    out = pathlib.Path(tempfile.mkdtemp(prefix="iris-interop-"))
    proto_dir = ROOT / "proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={out}",
            str(proto_dir / "iris" / "cluster.proto"),
        ]
    )
    if code != 0:
        sys.exit(f"protoc failed with {code}")
    sys.path.insert(0, str(out))
    return importlib.import_module("iris.cluster_pb2")


def attempt(pb, **fields):
    return pb.TaskAttempt(**fields)


def python_fixtures(pb):
    """(name, message, expected) triples. `expected` names the fields set, in proto names, and
    what the crate must make of the message."""
    S = pb.TaskState
    fixtures = []

    # A new task: -1 for "no attempt yet".
    status = pb.TaskStatus(
        task_id="train/shard/task-3",
        job_id="train/shard",
        task_index=3,
        state=S.Value("TASK_STATE_PENDING"),
        current_attempt_id=-1,
        can_be_scheduled=True,
    )
    fixtures.append(
        (
            "py_pending_new",
            status,
            {
                "kind": "status",
                "fields": {"task_id": "train/shard/task-3", "state": 1, "current_attempt_id": -1},
                "typed": {"state": "pending", "attempts": 0},
            },
        )
    )

    # ASSIGNED = 9, with this crate's assigned_at_ms (field 100).
    status = pb.TaskStatus(
        task_id="train/task-0",
        job_id="train",
        task_index=0,
        state=S.Value("TASK_STATE_ASSIGNED"),
        worker_id="worker-1",
        current_attempt_id=0,
        attempts=[
            attempt(
                pb,
                attempt_id=0,
                worker_id="worker-1",
                state=S.Value("TASK_STATE_ASSIGNED"),
                assigned_at_ms=1_700_000_000_000,
            )
        ],
    )
    fixtures.append(
        (
            "py_assigned",
            status,
            {
                "kind": "status",
                "fields": {"state": 9, "worker_id": "worker-1", "current_attempt_id": 0},
                "typed": {
                    "state": "assigned",
                    "attempts": 1,
                    "worker": "worker-1",
                    "assigned_at": 1_700_000_000_000,
                },
            },
        )
    )

    # An Iris peer: no field 100, and the fields the typed task does not model.
    status = pb.TaskStatus(
        task_id="parent/child/task-1",
        job_id="parent/child",
        task_index=1,
        state=S.Value("TASK_STATE_RUNNING"),
        worker_id="worker-2",
        worker_address="10.0.0.2:8080",
        started_at_ms=2_000,
        ports={"http": 8080, "grpc": 9090},
        resource_usage=pb.ResourceUsage(memory_mb=512, cpu_millicores=1500, process_count=3),
        build_metrics=pb.BuildMetrics(build_started_ms=1_900, build_finished_ms=1_950, from_cache=True, image_tag="v1"),
        current_attempt_id=1,
        attempts=[
            attempt(
                pb,
                attempt_id=0,
                worker_id="worker-1",
                state=S.Value("TASK_STATE_WORKER_FAILED"),
                error="task not found",
                finished_at_ms=1_500,
                is_worker_failure=True,
            ),
            attempt(
                pb,
                attempt_id=1,
                worker_id="worker-2",
                state=S.Value("TASK_STATE_RUNNING"),
                started_at_ms=2_000,
            ),
        ],
    )
    fixtures.append(
        (
            "py_iris_running",
            status,
            {
                "kind": "status",
                "fields": {
                    "state": 3,
                    "current_attempt_id": 1,
                    "ports": {"http": 8080, "grpc": 9090},
                    "worker_address": "10.0.0.2:8080",
                },
                "typed": {
                    "state": "running",
                    "attempts": 2,
                    "worker": "worker-2",
                    "preemptions": 0,
                    "assigned_at": 2_000,
                },
            },
        )
    )

    # Today's Iris: PREEMPTED = 10, its preemption budget spent on a started attempt.
    status = pb.TaskStatus(
        task_id="batch/task-0",
        job_id="batch",
        task_index=0,
        state=S.Value("TASK_STATE_PREEMPTED"),
        worker_id="worker-3",
        error="priority: prod needs worker-3",
        started_at_ms=1_100,
        finished_at_ms=1_500,
        current_attempt_id=0,
        attempts=[
            attempt(
                pb,
                attempt_id=0,
                worker_id="worker-3",
                state=S.Value("TASK_STATE_PREEMPTED"),
                error="priority: prod needs worker-3",
                started_at_ms=1_100,
                finished_at_ms=1_500,
                is_worker_failure=True,
            )
        ],
    )
    fixtures.append(
        (
            "py_preempted",
            status,
            {
                "kind": "status",
                "fields": {"state": 10, "current_attempt_id": 0},
                "typed": {"state": "preempted", "attempts": 1, "worker": "worker-3", "preemptions": 1},
            },
        )
    )

    # COSCHED_FAILED = 11: stopped with its gang on its worker, no budget charged.
    status = pb.TaskStatus(
        task_id="slice/task-1",
        job_id="slice",
        task_index=1,
        state=S.Value("TASK_STATE_COSCHED_FAILED"),
        worker_id="worker-4",
        error="Coscheduled sibling slice/0 failed",
        started_at_ms=1_200,
        finished_at_ms=1_600,
        current_attempt_id=0,
        attempts=[
            attempt(
                pb,
                attempt_id=0,
                worker_id="worker-4",
                state=S.Value("TASK_STATE_COSCHED_FAILED"),
                error="Coscheduled sibling slice/0 failed",
                started_at_ms=1_200,
                finished_at_ms=1_600,
            )
        ],
    )
    fixtures.append(
        (
            "py_cosched_failed",
            status,
            {
                "kind": "status",
                "fields": {"state": 11, "current_attempt_id": 0},
                "typed": {"state": "cosched_failed", "attempts": 1, "worker": "worker-4", "preemptions": 0},
            },
        )
    )

    # MISSING = 12 is a report, never a task's state: rejected.
    status = pb.TaskStatus(
        task_id="train/task-1",
        job_id="train",
        task_index=1,
        state=S.Value("TASK_STATE_MISSING"),
        current_attempt_id=-1,
    )
    fixtures.append(
        (
            "py_missing_state",
            status,
            {"kind": "status", "fields": {"state": 12}, "error": "report_only"},
        )
    )

    # A newer peer's state number: rejected, never a default.
    status = pb.TaskStatus(task_id="train/task-1", job_id="train", task_index=1, state=13, current_attempt_id=-1)
    fixtures.append(
        (
            "py_unknown_state",
            status,
            {"kind": "status", "fields": {"state": 13}, "error": "unknown_state"},
        )
    )

    # Worker reports.
    report = pb.ReportTaskStateRequest(
        worker_id="worker-2",
        task_id="parent/child/task-1",
        job_id="parent/child",
        task_index=1,
        state=S.Value("TASK_STATE_FAILED"),
        exit_code=3,
        error="exit 3",
        finished_at_ms=2_500,
        attempt_id=1,
    )
    fixtures.append(
        (
            "py_report_failed",
            report,
            {
                "kind": "report",
                "fields": {"state": 5, "exit_code": 3, "attempt_id": 1, "finished_at_ms": 2_500},
                # Stamped with the controller's receive time (3_000 in tests/interop.rs), never
                # the worker's finished_at_ms: worker clocks are not trusted.
                "typed": {"task": "parent/child/task-1", "attempt": 1, "report": "failed", "at": 3_000},
            },
        )
    )
    report = pb.ReportTaskStateRequest(
        worker_id="worker-2",
        task_id="parent/child/task-1",
        job_id="parent/child",
        task_index=1,
        state=S.Value("TASK_STATE_ASSIGNED"),
        attempt_id=1,
    )
    fixtures.append(
        (
            "py_report_assigned",
            report,
            {"kind": "report", "fields": {"state": 9}, "error": "not_reportable"},
        )
    )

    # Today's Iris reports: PREEMPTED (10), KILLED on the worker (6), MISSING (12); and a newer
    # peer's number (13), still an error.
    for name, state, number, error, kind in [
        ("py_report_preempted", "TASK_STATE_PREEMPTED", 10, "evicted", "preempted"),
        ("py_report_killed", "TASK_STATE_KILLED", 6, "OOM killer", "killed"),
        ("py_report_missing", "TASK_STATE_MISSING", 12, "", "missing"),
    ]:
        report = pb.ReportTaskStateRequest(
            worker_id="worker-2",
            task_id="parent/child/task-1",
            job_id="parent/child",
            task_index=1,
            state=S.Value(state),
            error=error,
            attempt_id=1,
        )
        fixtures.append(
            (
                name,
                report,
                {
                    "kind": "report",
                    "fields": {"state": number, "attempt_id": 1},
                    "typed": {"task": "parent/child/task-1", "attempt": 1, "report": kind, "at": 3_000, "error": error},
                },
            )
        )
    report = pb.ReportTaskStateRequest(
        worker_id="worker-2",
        task_id="parent/child/task-1",
        job_id="parent/child",
        task_index=1,
        state=13,
        attempt_id=1,
    )
    fixtures.append(
        (
            "py_report_newer",
            report,
            {"kind": "report", "fields": {"state": 13}, "error": "unknown_state"},
        )
    )

    # A job, with the dashboard's counts map.
    job = pb.JobStatus(
        job_id="train",
        state=pb.JobState.Value("JOB_STATE_RUNNING"),
        failure_count=1,
        preemption_count=2,
        tasks=[fixtures[1][1]],
        task_state_counts={"pending": 5, "assigned": 2, "running": 1},
    )
    fixtures.append(
        (
            "py_job",
            job,
            {
                "kind": "job",
                "fields": {
                    "job_id": "train",
                    "state": 3,
                    "failure_count": 1,
                    "preemption_count": 2,
                    "task_state_counts": {"pending": 5, "assigned": 2, "running": 1},
                },
                "typed": {"tasks": 1},
            },
        )
    )
    return fixtures


# What the crate's own encodings (written by tests/interop.rs) must decode to in Python.
CRATE_EXPECTATIONS = {
    "crate_pending_new": (
        "TaskStatus",
        {
            "task_id": "train/shard/task-3",
            "job_id": "train/shard",
            "task_index": 3,
            "state": 1,
            "current_attempt_id": -1,
            "can_be_scheduled": True,
            "attempts": [],
        },
    ),
    "crate_assigned": (
        "TaskStatus",
        {
            "state": 9,
            "worker_id": "worker-1",
            "current_attempt_id": 0,
            "can_be_scheduled": False,
            "attempts": [
                {
                    "attempt_id": 0,
                    "worker_id": "worker-1",
                    "state": 9,
                    "assigned_at_ms": 1_000,
                    "attempt_uid": "1700000000000001",
                },
            ],
        },
    ),
    "crate_running_after_dispatch_failure": (
        "TaskStatus",
        {
            "state": 3,
            "worker_id": "worker-2",
            "current_attempt_id": 1,
            "started_at_ms": 2_100,
            "attempts": [
                {
                    "attempt_id": 0,
                    "worker_id": "worker-1",
                    "state": 7,
                    "error": "RunTask: connection refused",
                    "finished_at_ms": 1_050,
                    "is_worker_failure": True,
                    "assigned_at_ms": 1_000,
                    "attempt_uid": "1700000000000002",
                },
                {
                    "attempt_id": 1,
                    "worker_id": "worker-2",
                    "state": 3,
                    "started_at_ms": 2_100,
                    "assigned_at_ms": 2_000,
                    "attempt_uid": "1700000000000003",
                },
            ],
        },
    ),
    "crate_epoch": (
        "TaskStatus",
        {
            "state": 4,
            "finished_at_ms": 0,
            "attempts": [
                {"attempt_id": 0, "state": 4, "started_at_ms": 0, "finished_at_ms": 0, "assigned_at_ms": 0},
            ],
        },
    ),
    "crate_unschedulable": (
        "TaskStatus",
        {"state": 8, "error": "no worker has 8 GPUs", "finished_at_ms": 60_000, "current_attempt_id": -1},
    ),
    "crate_preempted": (
        "TaskStatus",
        {
            "state": 10,
            "error": "priority",
            "finished_at_ms": 1_300,
            "attempts": [
                {
                    "attempt_id": 0,
                    "worker_id": "worker-1",
                    "state": 10,
                    "error": "priority",
                    "started_at_ms": 1_100,
                    "finished_at_ms": 1_300,
                    "is_worker_failure": True,
                    "assigned_at_ms": 1_000,
                },
            ],
        },
    ),
    "crate_cosched_failed": (
        "TaskStatus",
        {
            "state": 11,
            "error": "Coscheduled sibling train/1 failed",
            "finished_at_ms": 1_300,
            "attempts": [
                {
                    "attempt_id": 0,
                    "state": 11,
                    "error": "Coscheduled sibling train/1 failed",
                    "finished_at_ms": 1_300,
                    "is_worker_failure": False,
                },
            ],
        },
    ),
    "crate_killed_on_worker": (
        "TaskStatus",
        {
            "state": 1,
            "can_be_scheduled": True,
            "attempts": [
                {"attempt_id": 0, "state": 6, "error": "OOM killer", "is_worker_failure": True},
            ],
        },
    ),
    "crate_job": (
        "JobStatus",
        {
            "job_id": "train",
            "state": 3,
            "task_state_counts": {
                "pending": 1,
                "assigned": 1,
                "building": 0,
                "running": 1,
                "succeeded": 0,
                "failed": 0,
                "killed": 0,
                "worker_failed": 0,
                "unschedulable": 0,
                "preempted": 0,
                "cosched_failed": 0,
            },
        },
    ),
}


def check(message, expected, where):
    """Every field in `expected` (recursively) equals the message's, presence included."""
    for name, want in expected.items():
        got = getattr(message, name)
        if isinstance(want, list):
            if len(got) != len(want):
                sys.exit(f"{where}.{name}: {len(got)} items, expected {len(want)}")
            for index, (item, item_want) in enumerate(zip(got, want)):
                check(item, item_want, f"{where}.{name}[{index}]")
        elif isinstance(want, dict):
            if dict(got) != want:
                sys.exit(f"{where}.{name}: {dict(got)}, expected {want}")
        else:
            if message.DESCRIPTOR.fields_by_name[name].has_presence and not message.HasField(name):
                sys.exit(f"{where}.{name}: absent, expected {want!r}")
            if got != want:
                sys.exit(f"{where}.{name}: {got!r}, expected {want!r}")


def main():
    pb = compile_proto()
    FIXTURES.mkdir(exist_ok=True)

    expectations = {}
    for name, message, expected in python_fixtures(pb):
        (FIXTURES / f"{name}.bin").write_bytes(message.SerializeToString())
        expectations[f"{name}.bin"] = expected
    (FIXTURES / "py_fixtures.json").write_text(json.dumps(expectations, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(expectations)} Python fixtures")

    env = dict(os.environ, IRIS_INTEROP_WRITE_DIR=str(FIXTURES))
    subprocess.run(["cargo", "test", "--quiet", "--test", "interop"], cwd=ROOT, env=env, check=True)

    for name, (message_type, expected) in CRATE_EXPECTATIONS.items():
        message = getattr(pb, message_type)()
        message.ParseFromString((FIXTURES / f"{name}.bin").read_bytes())
        check(message, expected, name)
    print(f"checked {len(CRATE_EXPECTATIONS)} crate encodings with Python protobuf")


if __name__ == "__main__":
    main()
