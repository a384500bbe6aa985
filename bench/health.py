"""`mltui health` (the quick level) against `mltui check`, the command it stands in for.

slurmd kills its health program after 60 s; the goal is a quick health check in <= 10 s on a GPU
node, which on this 2-CPU machine is <= 15 s. Timed as whole commands (`python -m tui.cli`, as
slurmd starts them), interleaved in the same rounds (the check first in one round, last in the
next) so a change in load hits all three:

- `mltui check --json` (every library, an empty cache): the baseline;
- `mltui health --baseline B` cold: an empty cache, so every library the baseline names is probed
  (by default the baseline names all of them: the worst case; `--only torch` makes a baseline of
  a fleet checked with `mltui fleet --only torch`);
- `mltui health --baseline B` warm: the library results of the last run reused (--max-age),
  the machine (system, NVML) read afresh: every run after the first in a HealthCheckInterval.

    python bench/health.py [--repeat N] [--only LIBS] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.fleet.model import NodeResult  # noqa: E402
from probes.health.baseline import baseline_from_nodes  # noqa: E402
from probes.model import parse_check, to_json  # noqa: E402

GOAL_S = 15.0


def _timed(argv: list[str], cache: str) -> tuple[float, int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLTUI_CACHE_DIR": cache}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout


def main() -> int:
    """Run the benchmark and print the figures; exit 0 (the goal is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--only",
        metavar="LIBS",
        help="the libraries the baseline names (as `mltui fleet --only`; default: all)",
    )
    args = parser.parse_args()
    only = ["--only", args.only] if args.only else []
    mltui = [sys.executable, "-m", "tui.cli"]
    work = Path(tempfile.mkdtemp(prefix="mltui-bench-health-"))
    try:
        # A warm-up check (the first import after boot reads each library from disk); its
        # report is the node the baseline is made of.
        _, _, out = _timed([*mltui, "check", "--json", *only], str(work / "warm-up"))
        check = parse_check(json.loads(out))
        baseline = work / "baseline.json"
        baseline.write_text(to_json(baseline_from_nodes([NodeResult("here", "ok", check=check)])))
        health = [*mltui, "health", "--baseline", str(baseline), "--max-age", "3600"]
        times: dict[str, list[float]] = {"check": [], "health_cold": [], "health_warm": []}
        statuses: dict[str, set[int]] = {name: set() for name in times}
        loads = []
        for round_no in range(args.repeat):
            cache = str(work / f"cache-{round_no}")
            loads.append(os.getloadavg()[0])
            runs = [
                ("check", [*mltui, "check", "--json"], cache + "-check"),
                ("health_cold", health, cache),
                ("health_warm", health, cache),
            ]
            if round_no % 2:  # every other round the health runs go first
                runs = [*runs[1:], runs[0]]
            for name, argv, where in runs:
                took, status, _ = _timed(argv, where)
                times[name].append(took)
                statuses[name].add(status)
        medians = {name: statistics.median(values) for name, values in times.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "medians_s": {k: round(v, 2) for k, v in medians.items()},
        "runs_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "cold_vs_check": round(medians["health_cold"] / medians["check"], 2),
        "warm_vs_check": round(medians["health_warm"] / medians["check"], 2),
        "exit_statuses": {k: sorted(v) for k, v in statuses.items()},
        "load_1min": [round(x, 2) for x in loads],
        "baseline_libraries": len(check.libraries),
        "goal_s": GOAL_S,
        "result": "PASS" if medians["health_cold"] <= GOAL_S else "MISS",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"mltui check --json (every library): {medians['check']:.2f} s")
    print(f"baseline names {figures['baseline_libraries']} libraries")
    print(f"mltui health cold: {medians['health_cold']:.2f} s = {figures['cold_vs_check']}x check")
    print(f"mltui health warm: {medians['health_warm']:.2f} s = {figures['warm_vs_check']}x check")
    print(f"load (1 min) per round: {figures['load_1min']}")
    print(f"goal: cold <= {GOAL_S:g} s on this machine: {figures['result']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
