#!/usr/bin/env bash
# The README's load figures: the fleet (examples/workers --load) at 1,000 workers on loopback,
# against the reference controller and against the same tonic server with handlers that do
# nothing (--noop), alternately, RUNS times each, so that both see the same machine.
#
#     bash examples/workers/load.sh            # WORKERS=1000 SECONDS_EACH=15 RUNS=3
#
# Prints each run, then the medians and their ratio. Each run also prints the server's CPU time
# per accepted report (from /proc): the fleet shares the machine, and when it is the bottleneck
# the throughput ratio says little about the server. The controller's runs also print how many
# reports each commit (one transaction, one fsync) carried, read from its dashboard's data.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${WORKERS:-1000}
SECONDS_EACH=${SECONDS_EACH:-15}
RUNS=${RUNS:-3}
TASKS=${TASKS:-100000}

cargo build --quiet --release --features grpc,sqlite --example controller --example workers
bin=target/release/examples
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

# Starts the controller with the given flags; sets $grpc and $dashboard.
start() {
    "$bin/controller" --listen 127.0.0.1:0 --dashboard 127.0.0.1:0 "$@" >"$dir/controller.log" 2>&1 &
    controller=$!
    for _ in $(seq 100); do
        if grep -q 'controller listening' "$dir/controller.log"; then break; fi
        sleep 0.1
    done
    grpc=$(sed -n 's/.*grpc=\([0-9.:]*\).*/\1/p' "$dir/controller.log")
    dashboard=$(sed -n 's/.*dashboard=\(http:[^ ]*[0-9]\)\/*$/\1/p' "$dir/controller.log")
}

results=()
for run in $(seq "$RUNS"); do
    for mode in controller noop; do
        if [ "$mode" = controller ]; then
            rm -f "$dir"/load.db*
            start --store "$dir/load.db" --tick-ms 10
            launch=(--launch "4x$TASKS")
        else
            start --noop
            launch=()
        fi
        # The server's CPU time (user + system, in clock ticks) around the fleet's run.
        ticks_before=$(awk '{print $14 + $15}' "/proc/$controller/stat")
        line=$("$bin/workers" --controller "http://$grpc" --workers "$WORKERS" --slots 4 --load \
            "${launch[@]}" --seconds "$SECONDS_EACH" | grep '^fleet:')
        ticks=$(($(awk '{print $14 + $15}' "/proc/$controller/stat") - ticks_before))
        reports=$(sed -n 's/.* \([0-9]*\) reports accepted.*/\1/p' <<<"$line")
        # Server CPU per report, in microseconds: what the handlers cost, whoever is the bottleneck.
        cpu=$(awk -v t="$ticks" -v r="$reports" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / r}')
        rate=$(sed -n 's/.* = \([0-9]*\) reports\/s.*/\1/p' <<<"$line")
        p50=$(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' <<<"$line")
        p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$line")
        extra=""
        if [ "$mode" = controller ]; then
            commits=$(curl -s "$dashboard/api/state" | sed -n 's/.*"commits":\([0-9]*\).*/\1/p')
            extra=" commits=$commits reports/commit=$((reports / (commits > 0 ? commits : 1)))"
        fi
        kill "$controller"
        wait "$controller" 2>/dev/null || true
        printf 'run %s %-10s %6s reports/s  p50 %7s ms  p99 %7s ms  server CPU %6s us/report%s\n' \
            "$run" "$mode" "$rate" "$p50" "$p99" "$cpu" "$extra"
        results+=("$mode $rate $p50 $p99 $cpu")
    done
done

# The median of field $2 over the runs of mode $1.
median() {
    printf '%s\n' "${results[@]}" | awk -v m="$1" -v f="$2" '$1 == m {print $f}' | sort -n |
        awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
for mode in controller noop; do
    printf 'median %-10s %6s reports/s  p50 %7s ms  p99 %7s ms  server CPU %6s us/report\n' "$mode" \
        "$(median "$mode" 2)" "$(median "$mode" 3)" "$(median "$mode" 4)" "$(median "$mode" 5)"
done
awk -v a="$(median controller 2)" -v b="$(median noop 2)" \
    'BEGIN {printf "controller / baseline throughput: %.2f\n", a / b}'
