#!/usr/bin/env python3
"""A client nobody on this crate wrote: Google's grpcio, against the reference controller.

Compiles the crate's own proto/iris/{cluster,controller}.proto with grpcio-tools (protoc as a
Python package) into a temporary directory, then, against the controller at the address given:
launches a job, registers as a worker, collects its attempts with PollTasks, tries every
security case at the door (each must get its gRPC status and leave the task unchanged), reports
the attempts to the end, and reads the job back with GetJobStatus.

    python3 -m pip install grpcio grpcio-tools protobuf
    python3 tests/grpc/client.py 127.0.0.1:50051

tests/grpc.rs runs it against a controller it starts; exit status 0 means every check held.
"""

import importlib
import pathlib
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
TOKEN = "x-iris-worker-token"


def compile_protos():
    out = pathlib.Path(tempfile.mkdtemp(prefix="iris-grpc-py-"))
    proto_dir = ROOT / "proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(proto_dir / "iris" / "cluster.proto"),
            str(proto_dir / "iris" / "controller.proto"),
        ]
    )
    if code != 0:
        sys.exit(f"protoc failed with {code}")
    sys.path.insert(0, str(out))
    return (
        importlib.import_module("iris.cluster_pb2"),
        importlib.import_module("iris.controller_pb2"),
        importlib.import_module("iris.controller_pb2_grpc"),
    )


checks = 0


def check(condition, what):
    global checks
    if not condition:
        sys.exit(f"FAILED: {what}")
    checks += 1


def refused(call, code, what):
    """`call` must fail with `code`."""
    try:
        call()
    except grpc.RpcError as err:
        check(err.code() == code, f"{what}: expected {code}, got {err.code()}: {err.details()}")
        print(f"  {what}: {err.code().name} ({err.details()})")
        return
    sys.exit(f"FAILED: {what}: the call succeeded, expected {code}")


def main():
    address = sys.argv[1]
    cluster, controller, service = compile_protos()
    S = cluster.TaskState
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = service.ControllerServiceStub(channel)
    timeout = 10

    job = stub.LaunchJob(
        controller.LaunchJobRequest(name="py-job", replicas=2, max_retries_failure=1),
        timeout=timeout,
    )
    check(job.job_id == "py-job", "LaunchJob returns the job id")

    def register(worker, slots):
        response = stub.RegisterWorker(
            controller.RegisterWorkerRequest(
                worker_id=worker,
                address=f"py://{worker}",
                metadata=controller.WorkerMetadata(hostname="py", slots=slots),
            ),
            timeout=timeout,
        )
        check(response.accepted and len(response.token) == 32, f"{worker} registered")
        return response.token

    token = register("py-w", 2)

    def signed(tok):
        return [(TOKEN, tok)]

    deadline = time.time() + 10
    run = []
    while len(run) < 2:
        check(time.time() < deadline, "the scheduler assigned both tasks within 10 s")
        polled = stub.PollTasks(
            controller.PollTasksRequest(worker_id="py-w"), metadata=signed(token), timeout=timeout
        )
        run = list(polled.run)
        time.sleep(0.05)
    check(all(t.state == S.TASK_STATE_ASSIGNED for t in run), "polled attempts are ASSIGNED (9)")
    check(all(S.Value("TASK_STATE_ASSIGNED") == 9 for _ in run), "ASSIGNED is 9 on the wire")
    first = run[0]
    # A second worker, registered once the first holds both tasks, so that it gets none.
    other = register("py-other", 1)

    def task(task_id):
        return stub.GetTaskStatus(
            controller.GetTaskStatusRequest(task_id=task_id), timeout=timeout
        ).task

    def report(worker, status, state, **fields):
        return cluster.ReportTaskStateRequest(
            worker_id=worker,
            task_id=status.task_id,
            job_id=status.job_id,
            task_index=status.task_index,
            state=state,
            attempt_id=status.current_attempt_id,
            **fields,
        )

    before = task(first.task_id)
    running = report("py-w", first, S.TASK_STATE_RUNNING)
    print("security cases:")
    cases = [
        (
            "a worker that never registered",
            lambda: stub.ReportTaskState(
                report("py-ghost", first, S.TASK_STATE_RUNNING), metadata=signed(token)
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            "no token",
            lambda: stub.ReportTaskState(running, timeout=timeout),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            "a bad token",
            lambda: stub.ReportTaskState(running, metadata=signed("f" * 32), timeout=timeout),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            "a report signed with another worker's token",
            lambda: stub.ReportTaskState(running, metadata=signed(other), timeout=timeout),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            "a report about another worker's attempt",
            lambda: stub.ReportTaskState(
                report("py-other", first, S.TASK_STATE_SUCCEEDED),
                metadata=signed(other),
                timeout=timeout,
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            "a malformed request (task id without an index)",
            lambda: stub.ReportTaskState(
                cluster.ReportTaskStateRequest(
                    worker_id="py-w", task_id="py-job", job_id="py-job", state=S.TASK_STATE_RUNNING
                ),
                metadata=signed(token),
                timeout=timeout,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "a malformed request (a negative attempt id)",
            lambda: stub.ReportTaskState(
                cluster.ReportTaskStateRequest(
                    worker_id="py-w",
                    task_id=first.task_id,
                    job_id=first.job_id,
                    task_index=first.task_index,
                    state=S.TASK_STATE_RUNNING,
                    attempt_id=-1,
                ),
                metadata=signed(token),
                timeout=timeout,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "a malformed request (a state workers do not report: PENDING)",
            lambda: stub.ReportTaskState(
                report("py-w", first, S.TASK_STATE_PENDING),
                metadata=signed(token),
                timeout=timeout,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "a registration that takes over a live worker's id",
            lambda: stub.RegisterWorker(
                controller.RegisterWorkerRequest(worker_id="py-w"), timeout=timeout
            ),
            grpc.StatusCode.ALREADY_EXISTS,
        ),
        (
            "a malformed request (bytes that are no protobuf message)",
            lambda: channel.unary_unary(
                "/iris.cluster.ControllerService/ReportTaskState",
                request_serializer=None,
                response_deserializer=None,
            )(b"\xff\xff\xff", metadata=signed(token), timeout=timeout),
            grpc.StatusCode.INTERNAL,
        ),
        (
            "an oversized message (100 KB; the limit is 64 KiB)",
            lambda: stub.ReportTaskState(
                report("py-w", first, S.TASK_STATE_FAILED, exit_code=1, error="x" * 100_000),
                metadata=signed(token),
                timeout=timeout,
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
    ]
    for what, call, code in cases:
        refused(call, code, what)
        check(task(first.task_id) == before, f"{what}: the task is unchanged")

    # The worker's own reports go through; a duplicate is absorbed.
    for status in run:
        stub.ReportTaskState(
            report("py-w", status, S.TASK_STATE_RUNNING), metadata=signed(token), timeout=timeout
        )
    stub.ReportTaskState(running, metadata=signed(token), timeout=timeout)
    check(task(first.task_id).state == S.TASK_STATE_RUNNING, "RUNNING after the report")
    for status in run:
        stub.ReportTaskState(
            report("py-w", status, S.TASK_STATE_SUCCEEDED), metadata=signed(token), timeout=timeout
        )

    status = stub.GetJobStatus(controller.GetJobStatusRequest(job_id="py-job"), timeout=timeout).job
    check(status.state == cluster.JobState.Value("JOB_STATE_SUCCEEDED"), "the job SUCCEEDED")
    check(dict(status.task_state_counts).get("succeeded") == 2, "two tasks succeeded")
    check(len(status.tasks) == 2, "GetJobStatus lists the tasks")
    check(
        all(t.state == S.TASK_STATE_SUCCEEDED and len(t.attempts) == 1 for t in status.tasks),
        "each task succeeded on its first attempt",
    )
    listed = stub.ListTasks(controller.ListTasksRequest(job_id="py-job", limit=1), timeout=timeout)
    check(len(listed.tasks) == 1 and listed.total_count == 2, "ListTasks pages")
    refused(
        lambda: stub.GetJobStatus(controller.GetJobStatusRequest(job_id="nope"), timeout=timeout),
        grpc.StatusCode.NOT_FOUND,
        "an unknown job",
    )
    print(f"python client: {checks} checks passed")


if __name__ == "__main__":
    main()
