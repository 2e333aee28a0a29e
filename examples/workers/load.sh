#!/usr/bin/env bash
# The load figures of the README: the reference controller against the do-nothing Connect
# baseline (`controller --noop`: the same door and Reconcile calls, no table, no store, no rules),
# at 100 and 1,000 workers, alternately, three runs each; then the same fleet and the same jobs
# against Iris's own controller (examples/workers/iris_peer.py: the pinned wheel's Controller
# with its RPC backend, without the autoscaler), one run each (it is slow), as its local cluster
# configures it and with its two throughput limits lifted (--tuned). Release builds; the
# fleet (examples/workers, --load: no faults, every attempt succeeds) and the server share this
# machine's cores. Prints one JSON line per run, then a summary.
#
#   bash examples/workers/load.sh [SECONDS]      (default 15 per run)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
cargo build --quiet --release --features sqlite --example controller --example workers
python=target/iris/venv/bin/python
[ -x "$python" ] || python=$(bash tests/iris/venv.sh)
tmp=$(mktemp -d)
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT

# Starts a server and waits for its listening line; sets $server (its pid) and $url.
start() {
    local log=$tmp/server.log
    : >"$log"
    "$@" >"$log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
        if grep -q 'listening' "$log"; then break; fi
        sleep 0.1
    done
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
    dashboard=$(sed -n 's/.*dashboard=\(http:[0-9.:/]*\).*/\1/p' "$log" | sed 's:/$::')
    # Iris's controller is a Python process started by `python`: the pid it prints is its own.
    if grep -q 'pid=' "$log"; then server=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$log"); fi
}

stop() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

# One run: the fleet of $1 workers for $2 seconds against $url; extra flags after.
fleet() {
    local workers=$1 secs=$2
    shift 2
    target/release/examples/workers --controller "$url" --workers "$workers" --cpu 4 --load \
        --seconds "$secs" --server-pid "$server" "$@" 2>/dev/null | tail -1
}

for workers in 100 1000; do
    # Enough tasks to keep every slot busy for the whole run, spread over users so that none
    # has more than Iris's cap of 16,000 active tasks.
    jobs=$(( workers * 4 * seconds / 1000 + 1 ))
    users=$(( jobs / 8 + 1 ))
    for run in 1 2 3; do
        start target/release/examples/controller --store "$tmp/c$workers-$run.db" \
            --listen 127.0.0.1:0 --dashboard 127.0.0.1:0
        echo "controller $workers $run $(fleet "$workers" "$seconds" --launch "${jobs}x2000" --users "$users" --rounds "$dashboard/api/rounds")"
        stop
        start target/release/examples/controller --noop --listen 127.0.0.1:0 --dashboard 127.0.0.1:0
        echo "baseline $workers $run $(fleet "$workers" "$seconds" --rounds "$dashboard/api/rounds")"
        stop
    done
    for variant in "" --tuned; do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        start "$python" examples/workers/iris_peer.py "$port" $variant
        echo "iris$variant $workers 1 $(fleet "$workers" $(( seconds * 2 )) --launch "${jobs}x2000" --users "$users")"
        stop
    done
done | tee "$tmp/runs.txt"

# The summary: medians of the three runs, and the ratios.
python3 - "$tmp/runs.txt" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    kind, workers, _, data = line.split(" ", 3)
    runs.setdefault((kind, int(workers)), []).append(json.loads(data))
def med(kind, workers, key):
    values = [r[key] for r in runs.get((kind, workers), []) if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")
print("\n| workers | server | observations/s | finished/s | round p50 / p99 (ms) | gap p50 / p99 (ms) | server CPU per observation | per finished task |")
print("|---|---|---|---|---|---|---|---|")
for workers in (100, 1000):
    for kind in ("controller", "baseline", "iris", "iris--tuned"):
        if (kind, workers) not in runs:
            continue
        print(f"| {workers} | {kind} | {med(kind, workers, 'observations_per_s'):,.0f} | {med(kind, workers, 'finished_per_s'):,.0f} "
              f"| {med(kind, workers, 'round_p50_ms'):.1f} / {med(kind, workers, 'round_p99_ms'):.1f} "
              f"| {med(kind, workers, 'gap_p50_ms'):.0f} / {med(kind, workers, 'gap_p99_ms'):.0f} "
              f"| {med(kind, workers, 'server_us_per_observation'):.0f} µs | {med(kind, workers, 'server_ms_per_finished'):.2f} ms |")
    c, b = med("controller", workers, "observations_per_s"), med("baseline", workers, "observations_per_s")
    print(f"| {workers} | controller / baseline | **{c / b:.2f}** | | | | {med('controller', workers, 'server_us_per_observation') / med('baseline', workers, 'server_us_per_observation'):.2f} | |")
PY
