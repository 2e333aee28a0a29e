"""Many short jobs through Iris's own client, for the crash test of tests/cluster.rs.

    python burst.py submit URL MARKS JOBS TASKS [SLEEP]   submits JOBS jobs of TASKS tasks each
    python burst.py wait URL MARKS JOBS           waits for them to end; prints one JSON line

Each task sleeps SLEEP seconds (1 by default) and leaves a mark named by its attempt uid in MARKS (opened with
O_EXCL: a second run of the same attempt fails and leaves a second line in MARKS/runs). The JSON
says each job's state, each task's state and attempt count, and every mark. (MARKS travels as
`dir:PATH`: the process runtime rewrites environment values under /tmp to its own mounts.)
"""

import json
import os
import sys
import time
from pathlib import Path

from iris.client.client import IrisClient
from iris.cluster.types import Entrypoint, ResourceSpec
from iris.rpc import controller_pb2, job_pb2
from iris.rpc.controller_connect import ControllerServiceClientSync

command, url, marks = sys.argv[1], sys.argv[2], Path(sys.argv[3])
user = os.environ.get("USER", "root")
ended = {job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_KILLED,
         job_pb2.JOB_STATE_WORKER_FAILED, job_pb2.JOB_STATE_UNSCHEDULABLE}

if command == "submit":
    jobs, tasks = int(sys.argv[4]), int(sys.argv[5])
    sleep = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
    marks.mkdir(parents=True, exist_ok=True)
    code = (
        "import os,time; uid=os.environ['IRIS_ATTEMPT_UID']; d=os.environ['MARKS'].removeprefix('dir:'); "
        "open(os.path.join(d,'runs'),'a').write(uid+'\\n'); "
        f"os.close(os.open(os.path.join(d,uid),os.O_CREAT|os.O_EXCL|os.O_WRONLY)); time.sleep({sleep})"
    )
    from iris.cluster.types import EnvironmentSpec
    client = IrisClient.remote(url, workspace=marks)
    for n in range(jobs):
        client.submit(Entrypoint.from_command("python", "-c", code), name=f"burst-{n:02}",
                      resources=ResourceSpec(cpu=0.5, memory="128m"), replicas=tasks,
                      environment=EnvironmentSpec(env_vars={"MARKS": f"dir:{marks}"}))
    print(json.dumps({"submitted": jobs * tasks}), flush=True)
elif command == "wait":
    jobs = int(sys.argv[4])
    names = [f"/{user}/burst-{n:02}" for n in range(jobs)]
    rpc = ControllerServiceClientSync(address=url, timeout_ms=30_000)
    deadline = time.monotonic() + 240
    while True:
        try:
            states = rpc.get_job_state(controller_pb2.Controller.GetJobStateRequest(job_ids=names)).states
            if all(states.get(name, 0) in ended for name in names):
                break
        except Exception as err:  # the controller is restarting
            print(f"waiting: {err}", file=sys.stderr)
        if time.monotonic() > deadline:
            sys.exit(f"jobs did not end: {dict(states)}")
        time.sleep(0.5)
    result = {}
    for name in names:
        tasks = rpc.list_tasks(controller_pb2.Controller.ListTasksRequest(job_id=name)).tasks
        result[name] = {
            "state": job_pb2.JobState.Name(states[name]),
            "tasks": [[job_pb2.TaskState.Name(t.state), len(t.attempts)] for t in sorted(tasks, key=lambda t: t.task_id)],
        }
    runs = (marks / "runs").read_text().split() if (marks / "runs").exists() else []
    print(json.dumps({"jobs": result, "runs": runs}), flush=True)
