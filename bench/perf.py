"""`mltui perf` on this machine: the whole CPU check's time, torch's FP32 GEMM against the
estimated CPU peak, and what NVML sampling costs mltui's process.

1. The whole check: `mltui perf --device cpu --json` (every installed library, each alone on the
   CPU), wall time from launch to exit, `--rounds` times; goal <= 15 s on this 2-CPU machine.
2. torch FP32 GEMM / estimated CPU peak, from the same runs (median).
3. NVML sampling: the sampler mltui runs during the load, at 10 Hz over 8 GPUs for `--sample-s`
   seconds, replaying the recorded 8x H100 readings (tests/fixtures/nvml) through the fake
   binding; the sampling thread's CPU time over wall time. Goal < 2 % of a core. (The fake
   stands in for libnvidia-ml: real NVML calls add the driver's own time, to be measured on a
   GPU machine, where `mltui perf` reports `sampler_cpu_percent` for its whole process.)

    python bench/perf.py [--rounds N] [--sample-s S] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.nvml import NvmlSession  # noqa: E402
from probes.perf.sampler import NvmlSampler  # noqa: E402
from tests.perf_fixtures import node, under_load  # noqa: E402

MLTUI = ROOT / ".venv" / "bin" / "mltui"


def whole_check(rounds: int) -> dict[str, Any]:
    """Time `mltui perf --device cpu --json` end to end, `rounds` times."""
    walls: list[float] = []
    ratios: list[float] = []
    per_library: dict[str, list[float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MLTUI_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        for _ in range(rounds):
            loads.append(os.getloadavg()[0])
            started = time.monotonic()
            done = subprocess.run(
                [str(MLTUI), "perf", "--device", "cpu", "--json"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            walls.append(time.monotonic() - started)
            report = json.loads(done.stdout)
            for run in report["libraries"]:
                per_library.setdefault(run["library"], []).append(run["elapsed_s"] or 0.0)
            (cpu,) = report["devices"]
            for m in cpu["measurements"]:
                if m["library"] == "torch" and m["dtype"] == "fp32" and m["ratio"]:
                    ratios.append(m["ratio"])
                    peak_basis = cpu["peaks"]["gemm:fp32"]["basis"]
                    torch_value = m["value"]
    return {
        "wall_s": [round(w, 2) for w in walls],
        "wall_median_s": round(statistics.median(walls), 2),
        "per_library_median_s": {k: round(statistics.median(v), 2) for k, v in per_library.items()},
        "torch_fp32_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
        "torch_fp32_ratios": ratios,
        "torch_fp32_last_gflops": round(torch_value / 1e9, 1) if ratios else None,
        "cpu_peak_basis": peak_basis if ratios else None,
        "load_1min": loads,
    }


def sampler_cost(seconds: float, gpus: int = 8) -> dict[str, Any]:
    """CPU share of one core the 10 Hz sampler costs over `gpus` replayed GPUs."""
    fake = node(count=gpus, product="h100_sxm")
    for index in range(gpus):
        under_load(fake, index)
    with NvmlSession(fake) as session:
        found = session.read().gpus
        sampler = NvmlSampler(session, found)
        sampler.start()
        started = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - started
        sampler.stop()
    return {
        "gpus": gpus,
        "seconds": round(wall, 2),
        "rounds": sampler.rounds,
        "cpu_percent_of_a_core": round(100 * sampler.cpu_seconds / wall, 3),
    }


def main() -> int:
    """Run the benchmarks and print the figures (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {"whole_cpu_check": whole_check(args.rounds), "sampler": sampler_cost(args.sample_s)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    check = figures["whole_cpu_check"]
    sampler = figures["sampler"]
    ok_time = check["wall_median_s"] <= 15
    ok_sampler = sampler["cpu_percent_of_a_core"] < 2
    print(f"whole CPU check: {check['wall_s']} s, median {check['wall_median_s']} s (goal <= 15 s)")
    print(f"  per library (median s): {check['per_library_median_s']}")
    print(f"  load average: {check['load_1min']}")
    print(f"  {'PASS' if ok_time else 'MISS'}")
    print(
        f"torch FP32 GEMM: {check['torch_fp32_last_gflops']} GFLOP/s, "
        f"{check['torch_fp32_ratio_median']} of the estimated peak ({check['cpu_peak_basis']})"
    )
    print(
        f"NVML sampler: {sampler['cpu_percent_of_a_core']} % of a core, {sampler['gpus']} GPUs, "
        f"{sampler['rounds']} rounds in {sampler['seconds']} s (goal < 2 %) "
        f"{'PASS' if ok_sampler else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
