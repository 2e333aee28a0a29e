"""Every error path of the Rust controller's Connect door, through connect-python's own client
(the one Iris uses), and what the client makes of each answer.

    python door.py CONTROLLER_URL [TOKEN]

Prints one JSON line: case -> [code, message] as the client raised it (or ["ok", ""]). With
TOKEN, the calls present it (authorization: Bearer), except the case that checks its absence.
"""

import json
import os
import sys
import time
import urllib.request

from connectrpc.errors import ConnectError
from rigging.auth import BearerTokenInjector, StaticTokenProvider

from iris.rpc import controller_pb2, job_pb2
from iris.rpc.controller_connect import ControllerServiceClientSync

C = controller_pb2.Controller
url = sys.argv[1]
token = sys.argv[2] if len(sys.argv) > 2 else ""


def client(with_token: bool = True, **kwargs) -> ControllerServiceClientSync:
    interceptors = (BearerTokenInjector(StaticTokenProvider(token), "authorization"),) if token and with_token else ()
    return ControllerServiceClientSync(address=url, timeout_ms=10_000, interceptors=interceptors, **kwargs)


rpc = client()
results = {}


def case(name: str, call) -> None:
    try:
        call()
        results[name] = ["ok", ""]
    except ConnectError as err:
        results[name] = [err.code.value, err.message]


def launch(name: str, replicas: int = 1, entrypoint=None, **kwargs) -> C.LaunchJobRequest:
    entrypoint = entrypoint or job_pb2.RuntimeEntrypoint(run_command=job_pb2.CommandEntrypoint(argv=["true"]))
    return C.LaunchJobRequest(
        name=name, replicas=replicas, entrypoint=entrypoint,
        resources=job_pb2.ResourceSpecProto(cpu_millicores=100, memory_bytes=1 << 20), **kwargs)


case("launch", lambda: rpc.launch_job(launch("/door/ok")))
# The job runs on whatever worker is there (the test's, which presented the token).
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    state = rpc.get_job_state(C.GetJobStateRequest(job_ids=["/door/ok"])).states.get("/door/ok", 0)
    if state in (job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_KILLED):
        break
    time.sleep(0.2)
results["the job's end"] = [job_pb2.JobState.Name(state), ""]
case("launch a child of an ended job", lambda: rpc.launch_job(launch("/door/ok/child")))
case("launch twice, policy ERROR", lambda: rpc.launch_job(
    launch("/door/ok", existing_job_policy=job_pb2.EXISTING_JOB_POLICY_ERROR)))
# An ended job of the same name is replaced, as Iris's default policy does.
case("launch an ended job again", lambda: rpc.launch_job(launch("/door/ok")))
case("launch a bad name", lambda: rpc.launch_job(launch("no-leading-slash")))
case("launch no replicas", lambda: rpc.launch_job(launch("/door/none", replicas=0)))
case("launch a gang without group_by", lambda: rpc.launch_job(
    launch("/door/gang", replicas=2, coscheduling=job_pb2.CoschedulingConfig())))
case("launch a child of no job", lambda: rpc.launch_job(launch("/door/nobody/child")))
case("job status of no job", lambda: rpc.get_job_status(C.GetJobStatusRequest(job_id="/door/nothing")))
case("job status of a bad id", lambda: rpc.get_job_status(C.GetJobStatusRequest(job_id="door")))
case("task status of no task", lambda: rpc.get_task_status(C.GetTaskStatusRequest(task_id="/door/ok/7")))
case("task status of a bad id", lambda: rpc.get_task_status(C.GetTaskStatusRequest(task_id="/door/ok/x")))
case("list tasks of no job", lambda: rpc.list_tasks(C.ListTasksRequest(job_id="/door/nothing")))
# Clamped to the most, as Iris clamps it.
case("list jobs with a negative limit", lambda: rpc.list_jobs(C.ListJobsRequest(query=C.JobQuery(limit=-1))))
case("terminate no job", lambda: rpc.terminate_job(C.TerminateJobRequest(job_id="/door/nothing")))
case("register without an id", lambda: rpc.register(C.RegisterRequest(address="127.0.0.1:1")))
case("register", lambda: rpc.register(C.RegisterRequest(
    worker_id="door-w", address="127.0.0.1:9", metadata=job_pb2.WorkerMetadata(cpu_count=1, memory_bytes=1 << 30))))
case("register again, same address", lambda: rpc.register(C.RegisterRequest(
    worker_id="door-w", address="127.0.0.1:9", metadata=job_pb2.WorkerMetadata(cpu_count=1, memory_bytes=1 << 30))))
case("take over a live worker's id", lambda: rpc.register(C.RegisterRequest(
    worker_id="door-w", address="127.0.0.1:10", metadata=job_pb2.WorkerMetadata(cpu_count=1, memory_bytes=1 << 30))))
case("an unserved method", lambda: rpc.list_users(C.ListUsersRequest()))
case("a request over the size limit", lambda: rpc.launch_job(launch("/door/huge", bundle_blob=b"x" * (80 << 20))))
case("json codec", lambda: client(proto_json=True).get_job_state(C.GetJobStateRequest(job_ids=["/door/ok"])))
if token:
    case("no token", lambda: client(with_token=False).get_job_state(C.GetJobStateRequest()))
    case("a wrong token", lambda: ControllerServiceClientSync(
        address=url, interceptors=(BearerTokenInjector(StaticTokenProvider("wrong"), "authorization"),),
    ).get_job_state(C.GetJobStateRequest()))
case("terminate", lambda: rpc.terminate_job(C.TerminateJobRequest(job_id="/door/ok")))
# Cancelling a job cancels its child jobs, as Iris does.
sleeper = job_pb2.RuntimeEntrypoint(run_command=job_pb2.CommandEntrypoint(argv=["sleep", "60"]))
case("launch a parent", lambda: rpc.launch_job(launch("/door/parent", entrypoint=sleeper)))
case("launch its child", lambda: rpc.launch_job(launch("/door/parent/child", entrypoint=sleeper)))
case("launch a running job again", lambda: rpc.launch_job(launch("/door/parent", entrypoint=sleeper)))
case("launch a running job again, policy KEEP", lambda: rpc.launch_job(
    launch("/door/parent", entrypoint=sleeper, existing_job_policy=job_pb2.EXISTING_JOB_POLICY_KEEP)))
case("terminate the parent", lambda: rpc.terminate_job(C.TerminateJobRequest(job_id="/door/parent")))
states = rpc.get_job_state(C.GetJobStateRequest(job_ids=["/door/parent", "/door/parent/child"])).states
results["the child after its parent's cancel"] = [job_pb2.JobState.Name(states.get("/door/parent/child", 0)), ""]
# A bundle nobody launched.
try:
    urllib.request.urlopen(f"{url}/blobs/{'0' * 64}", timeout=10)
    results["an unknown blob"] = ["ok", ""]
except urllib.error.HTTPError as err:
    results["an unknown blob"] = [str(err.code), ""]
# A worker registered at another worker's address (a recycled address): the worker there answers
# Reconcile with its own id, and the controller refuses the answer.
ghost = os.environ.get("GHOST_ADDRESS")
if ghost:
    case("register a ghost", lambda: rpc.register(C.RegisterRequest(
        worker_id="ghost", address=ghost, metadata=job_pb2.WorkerMetadata(cpu_count=1, memory_bytes=1 << 30))))
    time.sleep(3)
    workers = rpc.list_workers(C.ListWorkersRequest()).workers
    seen = [w for w in workers if w.worker_id == "ghost"]
    results["the ghost's Reconcile"] = [str(seen[0].healthy), seen[0].status_message] if seen else ["gone", ""]
print(json.dumps(results, sort_keys=True), flush=True)
