#!/usr/bin/env python3
"""Runs the criterion benchmarks several times and prints each candidate's time as a ratio of the
baseline in its group, with the median over the runs.

On a shared, noisy machine one run's ratio can be off by half; the median of several runs, each
ratio taken from the same run, is the figure the README reports.

    python3 benches/ratios.py [--runs 5] [--measurement-time 3] [BENCH ...]
    python3 benches/ratios.py --instructions

BENCH names the bench targets (lifecycle, table, wire; default: all). Reads criterion's own
estimates (target/criterion/**/new/estimates.json, the median of each benchmark).

--instructions runs benches/instructions.rs under valgrind's callgrind instead, and prints the
ratio of instructions executed by each candidate_* function to its baseline_* twin: the same
figure every run, whatever the machine's load.
"""

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"


def estimates(since):
    """{(group, function): median seconds} of the benchmarks measured after `since`."""
    found = {}
    for path in CRITERION.glob("**/new/benchmark.json"):
        if path.stat().st_mtime < since:
            continue
        meta = json.loads(path.read_text())
        est = json.loads((path.parent / "estimates.json").read_text())
        found[(meta["group_id"], meta["function_id"])] = est["median"]["point_estimate"] * 1e-9
    return found


def ratios(found):
    """{(group, "candidate vs baseline"): candidate / baseline}, for every baseline of the group."""
    out = {}
    for (group, function), seconds in found.items():
        if "(baseline)" in function:
            continue
        baselines = [(f, s) for (g, f), s in found.items() if g == group and "(baseline)" in f]
        for name, base in baselines:
            label = function if len(baselines) == 1 else f"{function} vs {name.replace(' (baseline)', '')}"
            out[(group, label)] = seconds / base
    return out


def instructions():
    built = subprocess.run(
        ["cargo", "bench", "--bench", "instructions", "--no-run", "--message-format=json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    executable = None
    for line in built.stdout.splitlines():
        message = json.loads(line)
        if message.get("target", {}).get("name") == "instructions" and message.get("executable"):
            executable = message["executable"]
    if executable is None:
        sys.exit("cannot find the instructions bench binary")
    out = ROOT / "target" / "callgrind.instructions.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", executable],
        check=True, capture_output=True,
    )
    report = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
        check=True, capture_output=True, text=True,
    ).stdout
    counts = {}
    for line in report.splitlines():
        match = re.search(r"^\s*([\d,]+) .*instructions::(baseline|candidate)_(\w+)", line)
        if match:
            counts[(match.group(3), match.group(2))] = int(match.group(1).replace(",", ""))
    print("instructions executed, candidate / baseline (callgrind):")
    # A candidate is compared with every baseline named like it: baseline_apply and
    # baseline_direct_apply are both baselines of candidate_apply.
    for name in sorted({name for name, kind in counts if kind == "candidate"}):
        cand = counts[(name, "candidate")]
        for base_name in sorted(b for b, kind in counts if kind == "baseline" and (b == name or b.endswith("_" + name))):
            base = counts[(base_name, "baseline")]
            print(f"  {name} vs baseline_{base_name}: {cand / base:.2f}  ({cand:,} / {base:,})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--measurement-time", type=float, default=3)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("benches", nargs="*", default=["lifecycle", "wire", "table"])
    args = parser.parse_args()
    if args.instructions:
        instructions()
        return

    per_run = []
    for run in range(args.runs):
        command = ["cargo", "bench", "--quiet"]
        for bench in args.benches:
            command += ["--bench", bench]
        command += ["--", "--measurement-time", str(args.measurement_time)]
        print(f"run {run + 1}/{args.runs}: {' '.join(command)}", file=sys.stderr)
        started = time.time()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stderr)
        for line in result.stdout.splitlines():
            if line.startswith("memory per"):
                print(line)
        found = estimates(started)
        per_run.append((found, ratios(found)))

    print(f"\nratio to the baseline of the same run, median of {args.runs} runs (min–max):")
    keys = sorted({key for _, r in per_run for key in r})
    for key in keys:
        values = [r[key] for _, r in per_run if key in r]
        print(
            f"  {key[0]} / {key[1]}: {statistics.median(values):.2f}"
            f"  ({min(values):.2f}–{max(values):.2f})"
        )

    # Growth of the per-task cost from 10k to 1M tasks, table against HashMap.
    growth = []
    for found, _ in per_run:
        def per_task(size, table):
            group = f"table lifecycle/{size} tasks"
            name = "TaskTable" if table else "HashMap<TaskId, hand-written> (baseline)"
            seconds = found.get((group, name))
            return seconds / size if seconds else None

        small_t, big_t = per_task(10_000, True), per_task(1_000_000, True)
        small_h, big_h = per_task(10_000, False), per_task(1_000_000, False)
        if None not in (small_t, big_t, small_h, big_h):
            growth.append(((big_t / small_t), (big_h / small_h)))
    if growth:
        table = statistics.median(g[0] for g in growth)
        hashmap = statistics.median(g[1] for g in growth)
        print(
            f"  per-task cost growth 10k → 1M: TaskTable {table:.2f}×, HashMap {hashmap:.2f}×,"
            f" ratio {statistics.median(g[0] / g[1] for g in growth):.2f}"
        )


if __name__ == "__main__":
    main()
