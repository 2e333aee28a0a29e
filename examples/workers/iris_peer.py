"""Iris's own controller, for the load figures' side-by-side: the pinned wheel's Controller with
its RPC backend (it pushes Reconcile to workers, as the reference controller does), started as
`iris cluster start --local` starts it (iris/cluster/local_cluster.py), without the autoscaler:
the fleet's workers register themselves.

    python iris_peer.py PORT [--tuned]

With --tuned, two of its defaults that bound throughput are lifted: a job's tasks considered per
scheduling cycle (`max_tasks_per_job_per_cycle`, 4 by default: unlimited) and the full schedule
pass's cadence (`scheduler_min_interval`, 10 s by default: 1 s, its Reconcile cadence).

Prints "iris controller listening: http://127.0.0.1:PORT pid=PID" and runs until killed.
"""

import os
import sys
import tempfile
import threading
from pathlib import Path

from rigging.timing import Duration

from iris.cluster.backends.rpc.backend import RpcTaskBackend, RpcWorkerStubFactory
from iris.cluster.config import IrisClusterConfig
from iris.cluster.controller.auth import create_controller_auth
from iris.cluster.controller.backend import BackendCapability, BackendDescriptor, BackendKind
from iris.cluster.controller.controller import Controller, ControllerConfig
from iris.cluster.controller.db import ControllerDB
from iris.cluster.controller.log_stack import build_log_stack
from iris.cluster.types import DEFAULT_BACKEND_ID

port = int(sys.argv[1])
tuned = "--tuned" in sys.argv[2:]
state = Path(tempfile.mkdtemp(prefix="iris_peer_"))
(state / "remote").mkdir()
config = IrisClusterConfig()
auth = create_controller_auth(config.auth, cluster_name="iris-peer")
log_stack = build_log_stack(
    log_service_address="",
    local_log_dir=state / "log-server",
    host="127.0.0.1",
    worker_token_provider=auth.worker_token_provider,
)
controller = Controller(
    config=ControllerConfig(
        host="127.0.0.1",
        port=port,
        remote_state_dir=f"file://{state / 'remote'}",
        local_state_dir=state,
        auth_verifier=auth.verifier,
        auth_provider=auth.provider,
        auth=auth,
        **(
            {"max_tasks_per_job_per_cycle": 0, "scheduler_min_interval": Duration.from_seconds(1.0)}
            if tuned
            else {}
        ),
    ),
    log_stack=log_stack,
    db=ControllerDB(db_dir=state / "db"),
)
controller.register_backend(
    RpcTaskBackend(
        descriptor=BackendDescriptor(
            backend_id=DEFAULT_BACKEND_ID,
            display_name="worker",
            kind=BackendKind.WORKER,
            scale_groups=frozenset(),
            capabilities=frozenset({BackendCapability.WORKER_FLEET}),
        ),
        stub_factory=RpcWorkerStubFactory(),
        autoscaler=None,
    )
)
controller.start()
print(f"iris controller listening: {controller.url} pid={os.getpid()}", flush=True)
threading.Event().wait()
