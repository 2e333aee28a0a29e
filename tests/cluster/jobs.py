"""Runs the same five jobs on an Iris controller through Iris's own CLI and client, waits for
them to end, and prints what the controller says of each as one JSON line.

    python jobs.py CONTROLLER_URL WORKDIR

- ok: `iris job run -- python /app/ok.py`, which succeeds;
- fail: `iris job run --max-retries 2 -- python /app/fail.py`, exit 1 on every attempt;
- long: `iris job run --no-wait -- python /app/long.py`, cancelled with `iris job cancel`
  once it runs;
- four: `iris job run --replicas 4 -- python /app/ok.py`;
- gang: a coscheduled job of 2 (group_by "pod"), submitted with IrisClient.submit: task 1
  exits 1 at once, task 0 sleeps (the CLI sets coscheduling only for multi-host accelerators).

The JSON maps each job to its state as `iris job list` prints it, and its status as
GetJobStatus and ListTasks give it: state, failure and preemption counts, task states.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from iris.client.client import IrisClient
from iris.cluster.types import CoschedulingConfig, Entrypoint, ResourceSpec
from iris.rpc import controller_pb2, job_pb2
from iris.rpc.controller_connect import ControllerServiceClientSync

url, workdir = sys.argv[1], Path(sys.argv[2])
app = workdir / "app"
app.mkdir(parents=True, exist_ok=True)
(app / "ok.py").write_text('print("ok")\n')
(app / "fail.py").write_text("import sys\nsys.exit(1)\n")
(app / "long.py").write_text("import time\ntime.sleep(600)\n")
iris = [str(Path(sys.executable).parent / "iris"), "--controller-url", url]
user = os.environ.get("USER") or subprocess.run(["whoami"], capture_output=True, text=True).stdout.strip()
names = {name: f"/{user}/{name}" for name in ["ok", "fail", "long", "four", "gang"]}
rpc = ControllerServiceClientSync(address=url, timeout_ms=30_000)


def run(*args: str) -> subprocess.Popen:
    return subprocess.Popen(iris + ["job", "run", "--no-sync", *args], cwd=app,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def state(job: str) -> int:
    states = rpc.get_job_state(controller_pb2.Controller.GetJobStateRequest(job_ids=[job])).states
    return states.get(job, 0)


def task_states(job: str) -> list[int]:
    tasks = rpc.list_tasks(controller_pb2.Controller.ListTasksRequest(job_id=job)).tasks
    return [t.state for t in sorted(tasks, key=lambda t: t.task_id)]


ended = {job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_KILLED,
         job_pb2.JOB_STATE_WORKER_FAILED, job_pb2.JOB_STATE_UNSCHEDULABLE}

started = time.monotonic()
running = [
    run("--job-name", "ok", "--", "python", "/app/ok.py"),
    run("--job-name", "fail", "--max-retries", "2", "--", "python", "/app/fail.py"),
    run("--job-name", "four", "--replicas", "4", "--", "python", "/app/ok.py"),
]
subprocess.run(iris + ["job", "run", "--no-sync", "--no-wait", "--job-name", "long", "--", "python", "/app/long.py"],
               cwd=app, check=True, capture_output=True)
client = IrisClient.remote(url, workspace=app)
code = ("import os,sys,time; t=os.environ['IRIS_TASK_ID'].split(':')[0]; "
        "sys.exit(1) if t.endswith('/1') else time.sleep(600)")
client.submit(Entrypoint.from_command("python", "-c", code), name="gang",
              resources=ResourceSpec(cpu=0.5, memory="256m"),
              coscheduling=CoschedulingConfig(group_by="pod"), replicas=2)
# The long job is cancelled once its task runs.
deadline = time.monotonic() + 120
while job_pb2.TASK_STATE_RUNNING not in task_states(names["long"]):
    if time.monotonic() > deadline:
        sys.exit("the long job never ran")
    time.sleep(0.2)
subprocess.run(iris + ["job", "cancel", names["long"]], check=True, capture_output=True)
for process in running:
    process.wait(timeout=180)
while any(state(job) not in ended for job in names.values()):
    if time.monotonic() > deadline + 60:
        sys.exit(f"jobs did not end: { {j: state(j) for j in names.values()} }")
    time.sleep(0.2)

listed = {}
for line in subprocess.run(iris + ["job", "list"], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if parts and parts[0] in names.values():
        listed[parts[0]] = parts[1]
result = {}
for name, job in names.items():
    status = rpc.get_job_status(controller_pb2.Controller.GetJobStatusRequest(job_id=job)).job
    result[name] = {
        "listed": listed.get(job),
        "state": job_pb2.JobState.Name(status.state),
        "failure_count": status.failure_count,
        "preemption_count": status.preemption_count,
        "tasks": [job_pb2.TaskState.Name(s) for s in task_states(job)],
    }
print(json.dumps({"seconds": round(time.monotonic() - started, 1), "jobs": result}, sort_keys=True), flush=True)
