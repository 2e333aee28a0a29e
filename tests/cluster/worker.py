"""A real Iris worker as its own OS process, on Iris's process runtime (no docker).

The wheel's entry point (iris.cluster.worker.main) hard-codes the docker runtime, so this builds
the worker as Iris's own local cluster does (iris/cluster/platforms/gcp/fake.py): a WorkerConfig,
a BundleStore that fetches from the controller, ProcessRuntime, and fixed metadata. Nothing of
Iris is changed or mocked: the worker registers, serves WorkerService/Reconcile, fetches bundles
from GET /blobs/<sha256>, and runs each task as a subprocess.

    python worker.py --controller http://127.0.0.1:10000 --id w0 --port 0 --dir /tmp/w0 \
        [--attribute pod=a] [--cpu 8] [--token T]

Prints "worker <id> listening on 127.0.0.1:<port>" once it serves. Runs until SIGTERM/SIGINT.
"""

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path

from rigging.timing import Duration

from iris.cluster.bundle import BundleStore
from iris.cluster.runtime.process import ProcessRuntime
from iris.cluster.worker.env_probe import FixedEnvironmentProvider, HardwareProbe, build_worker_metadata
from iris.cluster.worker.worker import Worker, WorkerConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--controller", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--attribute", action="append", default=[])
    parser.add_argument("--cpu", type=int, default=8, help="advertised cores")
    parser.add_argument("--memory-gib", type=int, default=16)
    parser.add_argument("--token", default="")
    parser.add_argument("--heartbeat-timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"[{args.id}] %(levelname)s %(name)s: %(message)s")

    port = args.port or free_port()
    cache = Path(args.dir).resolve()
    for sub in ("cache", "bundles", "runtime"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    attributes = dict(pair.split("=", 1) for pair in args.attribute)
    hardware = HardwareProbe(
        hostname="local",
        ip_address="127.0.0.1",
        cpu_count=args.cpu,
        memory_bytes=args.memory_gib * 1024**3,
        disk_bytes=100 * 1024**3,
        gpu_count=0,
        gpu_name="",
        gpu_memory_mb=0,
        tpu_name="",
        tpu_type="",
        tpu_worker_hostnames="",
        tpu_worker_id="",
        tpu_chips_per_host_bounds="",
    )
    metadata = build_worker_metadata(hardware=hardware, worker_attributes=attributes, cpu_millicores=args.cpu * 1000)
    config = WorkerConfig(
        host="127.0.0.1",
        port=port,
        cache_dir=cache / "cache",
        controller_address=args.controller,
        worker_id=args.id,
        worker_attributes=attributes,
        default_task_image="process-runtime-unused",
        poll_interval=Duration.from_seconds(0.1),
        heartbeat_timeout=Duration.from_seconds(args.heartbeat_timeout),
        auth_token=args.token,
    )
    worker = Worker(
        config,
        bundle_store=BundleStore(storage_dir=str(cache / "bundles"), controller_address=args.controller),
        container_runtime=ProcessRuntime(cache_dir=cache / "runtime"),
        environment_provider=FixedEnvironmentProvider(metadata),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    print(f"worker {args.id} listening on 127.0.0.1:{port}", flush=True)
    stop.wait()
    worker.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
