"""How close a full `mltui check` comes to the time of its slowest library probe.

A full check probes every library in parallel (and reads the system and NVML beside them), so in
the best case it takes as long as the slowest single probe. This prints the wall time of a full
check as a ratio to the slowest library probe run alone, both measured in this run (each repeated,
medians taken, interleaved so that a change in machine load hits both). Goal: ratio <= 1.15.

Each round also times a full check with the two speed-ups turned off (every probe at the same
priority; Theano's failing C build tried afresh), for the before/after figure.

    python bench/check.py [--repeat N] [--python PATH] [--only LIBS] [--json] [--no-before]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.catalog import LIBRARIES, LibrarySpec, parse_library_list
from probes.check import run_check
from probes.libraries import probe_library
from probes.model import TargetPython
from probes.target import resolve_target

GOAL = 1.15


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _alone(
    target: TargetPython, spec: LibrarySpec, timeout: float
) -> tuple[float, float, str]:
    """Wall time, CPU time (probe and its children) and status of one probe run alone."""
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    report = await probe_library(target, spec, timeout=timeout)
    return time.perf_counter() - started, _children_cpu_s() - cpu_before, report.status


async def _full(target: TargetPython, specs: list[LibrarySpec], timeout: float) -> float:
    started = time.perf_counter()
    await run_check(target, specs, timeout=timeout, save=False)
    return time.perf_counter() - started


def _full_as_before(target: TargetPython, specs: list[LibrarySpec], timeout: float) -> float:
    """A full check without the two speed-ups (every probe at the same priority, and Theano's
    C build tried afresh), as mltui did before them."""
    saved = {name: os.environ.get(name) for name in _SPEED_UPS_OFF}
    os.environ.update(_SPEED_UPS_OFF)
    try:
        return asyncio.run(_full(target, specs, timeout))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_SPEED_UPS_OFF = {"MLTUI_PROBE_NICE": "0", "MLTUI_PROBE_CACHE_DIR": ""}


def main() -> int:
    """Run the benchmark and print the figures; exit 0 (the goal is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--python", help="target interpreter (default: this one)")
    parser.add_argument("--only", help="comma-separated libraries (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--no-before",
        action="store_true",
        help="skip the full check without the speed-ups (the before/after comparison)",
    )
    args = parser.parse_args()
    target = resolve_target(args.python)
    specs = parse_library_list(args.only) if args.only else list(LIBRARIES)

    alone: dict[str, list[float]] = {spec.id: [] for spec in specs}
    cpu: dict[str, list[float]] = {spec.id: [] for spec in specs}
    statuses: dict[str, str] = {}
    full: list[float] = []
    before: list[float] = []
    # A warm-up round: the first import of each library after boot reads it from disk.
    asyncio.run(_full(target, specs, args.timeout))
    for _ in range(args.repeat):
        for spec in specs:
            took, cpu_s, status = asyncio.run(_alone(target, spec, args.timeout))
            alone[spec.id].append(took)
            cpu[spec.id].append(cpu_s)
            statuses[spec.id] = status
        full.append(asyncio.run(_full(target, specs, args.timeout)))
        if not args.no_before:
            before.append(_full_as_before(target, specs, args.timeout))

    medians = {lib: statistics.median(times) for lib, times in alone.items()}
    slowest = max(medians, key=lambda lib: medians[lib])
    full_median = statistics.median(full)
    ratio = full_median / medians[slowest]
    cpu_medians = {lib: statistics.median(times) for lib, times in cpu.items()}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # However well scheduled, the probes together need this much CPU: on few cores it, not the
    # slowest probe, bounds the full check from below.
    floor_s = max(medians[slowest], sum(cpu_medians.values()) / max(1, cpus or 1))
    figures = {
        "cpus": cpus,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "repeat": args.repeat,
        "alone_median_s": {lib: round(t, 3) for lib, t in medians.items()},
        "statuses": statuses,
        "slowest": slowest,
        "slowest_alone_s": round(medians[slowest], 3),
        "full_check_median_s": round(full_median, 3),
        "full_check_runs_s": [round(t, 3) for t in full],
        "alone_cpu_median_s": {lib: round(t, 3) for lib, t in cpu_medians.items()},
        "cpu_total_s": round(sum(cpu_medians.values()), 3),
        "cpu_bound_floor_ratio": round(floor_s / medians[slowest], 3),
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "meets_goal": ratio <= GOAL,
    }
    if before:
        before_median = statistics.median(before)
        figures["before_speed_ups"] = {
            "full_check_median_s": round(before_median, 3),
            "full_check_runs_s": [round(t, 3) for t in before],
            "ratio": round(before_median / medians[slowest], 3),
            "after_to_before": round(full_median / before_median, 3),
        }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"target: {target.executable} (Python {target.version}), {cpus} CPUs, "
        f"load average {figures['load_average']}"
    )
    for lib, took in sorted(medians.items(), key=lambda item: -item[1]):
        print(
            f"  {lib:<11} alone {took:6.2f} s wall {cpu_medians[lib]:6.2f} s CPU  ({statuses[lib]})"
        )
    print(
        f"CPU of all probes: {figures['cpu_total_s']:.2f} s on {cpus} CPUs: no schedule can "
        f"beat a ratio of {figures['cpu_bound_floor_ratio']:.2f} here"
    )
    print(
        f"full check (all in parallel): {full_median:.2f} s  runs: {figures['full_check_runs_s']}"
    )
    if before:
        was = figures["before_speed_ups"]
        assert isinstance(was, dict)
        print(
            f"  before the speed-ups (same priorities, Theano's C build every time): "
            f"{was['full_check_median_s']:.2f} s, ratio {was['ratio']:.2f}; "
            f"now {was['after_to_before']:.2f}x of that"
        )
    verdict = "PASS" if ratio <= GOAL else "MISS"
    print(f"ratio full / slowest alone ({slowest}): {ratio:.2f} (goal <= {GOAL})  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
