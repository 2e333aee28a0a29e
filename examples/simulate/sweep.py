#!/usr/bin/env python3
"""Runs the simulate example over a grid of task and worker counts and prints its events per second
as a markdown table (rows: tasks, columns: workers), with the ratio of the fastest cell to the
slowest.

    python3 examples/simulate/sweep.py [--tasks 100000,1000000] [--workers 500,5000] [--seed 1]
                                       [--repeat 1] [--timeout 180]

Each cell runs `cargo run --release --example simulate -- --tasks T --workers W --seed S` and
reads the figure the report prints before "events/s" (events over the whole wall time of the run,
setup included). With --repeat N a cell runs N times and shows the median. A run that fails (its
invariants broke) or outlasts --timeout stops the sweep with exit status 1. Standard library only.
"""

import argparse
import re
import statistics
import subprocess
import sys
import time

EVENTS_PER_SECOND = re.compile(r"([0-9][0-9,]*) events/s\b")


def counts(text):
    """'100000,1_000_000' -> [100000, 1000000]"""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers of at least 1")
    return values


def run_once(tasks, workers, seed, timeout):
    """Runs one simulation and returns its events per second and its wall time in seconds."""
    command = [
        "cargo", "run", "--quiet", "--release", "--example", "simulate", "--",
        "--tasks", str(tasks), "--workers", str(workers), "--seed", str(seed),
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"{tasks} tasks on {workers} workers took over {timeout} s: stopped")
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(
            f"{' '.join(command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    found = EVENTS_PER_SECOND.search(done.stdout)
    if not found:
        sys.exit(f"no events/s figure in the report:\n{done.stdout}")
    return int(found.group(1).replace(",", "")), elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=counts, default=[100_000, 1_000_000],
                        help="comma-separated task counts (rows)")
    parser.add_argument("--workers", type=counts, default=[500, 5_000],
                        help="comma-separated worker counts (columns)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per cell; the table shows the median")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds one run may take")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    # Build first, so that no cell's timeout includes compiling.
    build = ["cargo", "build", "--quiet", "--release", "--example", "simulate"]
    if subprocess.run(build).returncode != 0:
        sys.exit("the example does not build")

    rates = {}
    for tasks in args.tasks:
        for workers in args.workers:
            runs = [run_once(tasks, workers, args.seed, args.timeout) for _ in range(args.repeat)]
            rates[tasks, workers] = statistics.median(rate for rate, _ in runs)
            wall = ", ".join(f"{elapsed:.1f} s" for _, elapsed in runs)
            print(f"{tasks:,} tasks on {workers:,} workers: "
                  f"{rates[tasks, workers]:,.0f} events/s ({wall})", file=sys.stderr)

    print(f"events/s, seed {args.seed}" + (f", median of {args.repeat} runs" if args.repeat > 1 else ""))
    print()
    print("| tasks \\ workers | " + " | ".join(f"{w:,}" for w in args.workers) + " |")
    print("|---:|" + "---:|" * len(args.workers))
    for tasks in args.tasks:
        cells = " | ".join(f"{rates[tasks, w]:,.0f}" for w in args.workers)
        print(f"| {tasks:,} | {cells} |")
    fastest, slowest = max(rates.values()), min(rates.values())
    print()
    print(f"max/min across all cells: {fastest / max(slowest, 1):.2f}x")


if __name__ == "__main__":
    main()
