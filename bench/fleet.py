"""How long aggregating many fleet node reports takes: rows in, counts and skew out.

The reports are synthetic but built from real ones: this machine's own `mltui check --json`
with the NVML readings recorded on an 8-GPU H100 machine (tests/fixtures/nvml), varied the way a
fleet differs: 1 % of the nodes with another driver, 0.5 % with a GPU fewer, 1 % with another
torch-like library version, 2 % slow, 1 % without a report (unreachable). Each node row holds its
own parsed CheckResult, as the launchers deliver them.

Timed (medians of --rounds, interleaved): adding all N rows to a `FleetAggregate` and building
the `FleetReport` (counts and every skew finding). Baseline in the same run: `json.loads` of the
N report texts, the least any reader of the reports must do. Also reported, for the record: the
cost of parsing the N texts into CheckResults (spread over the run as reports stream in).
Goal: aggregating 10,000 reports <= 1 s.

    .venv/bin/python bench/fleet.py [--nodes 10000] [--rounds 5] [--json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pty import cpus, load_average

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.launch import parse_check
from probes.fleet.model import NodeResult
from probes.model import CheckResult, to_dict
from probes.nvml import read_nvml
from tests.fake_nvml import FakeNvml

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 1.0


def local_check() -> dict[str, Any]:
    """This machine's real check (the quick libraries), as JSON data."""
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "check", "--json", "--only", "sklearn,caffe"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MLTUI_CACHE_DIR": cache},
            timeout=300,
            check=False,
        )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def synthetic_texts(base: dict[str, Any], count: int) -> list[str]:
    """`count` report texts: the base with the recorded H100 readings, some varied."""
    normal = FakeNvml.from_fixture("h100_sxm_x8")
    other = FakeNvml.from_fixture("h100_sxm_x8")
    other.readings["system"]["nvmlSystemGetDriverVersion"] = "550.54.15"
    fewer = FakeNvml.from_fixture("h100_sxm_x8")
    fewer.readings["devices"].pop()
    fewer.readings["system"]["nvmlDeviceGetCount"] = len(fewer.readings["devices"])
    nvml = {
        name: to_dict(read_nvml(fake)) for name, fake in (("n", normal), ("o", other), ("f", fewer))
    }
    texts = []
    for k in range(count):
        data = json.loads(json.dumps(base))
        data["system"]["hostname"] = f"gpu{k:05d}"
        data["nvml"] = nvml["o" if k % 100 == 7 else "f" if k % 200 == 11 else "n"]
        if k % 100 == 13:
            for library in data["libraries"]:
                if library["version"]:
                    library["version"] = library["version"] + ".post1"
        texts.append(json.dumps(data))
    return texts


def parse_all(texts: list[str]) -> list[CheckResult]:
    """Each report text as the launchers parse it."""
    checks = []
    for text in texts:
        parsed = parse_check(text)
        assert isinstance(parsed, CheckResult), parsed
        checks.append(parsed)
    return checks


def rows_of(checks: list[CheckResult]) -> list[NodeResult]:
    """Node rows: 1 % unreachable, 2 % slow, the rest near 1000 units."""
    rows = []
    for k, check in enumerate(checks):
        name = f"gpu{k:05d}"
        if k % 100 == 42:
            rows.append(NodeResult(name, "unreachable", "ssh: connect to host: No route to host"))
            continue
        figure = 800.0 if k % 50 == 3 else 1000.0 + (k % 9)
        rows.append(NodeResult(name, "ok", check=check, throughput=figure, throughput_unit="u"))
    return rows


def aggregate(rows: list[NodeResult]) -> tuple[float, int]:
    """Seconds to add every row and build the report; the number of skew findings."""
    started = time.perf_counter()
    fleet = FleetAggregate("slurm", "bench")
    fleet.extend(rows)
    report = fleet.report()
    return time.perf_counter() - started, len(report.skew)


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    texts = synthetic_texts(local_check(), args.nodes)
    started = time.perf_counter()
    checks = parse_all(texts)
    parse_s = time.perf_counter() - started
    rows = rows_of(checks)
    load_before = load_average()
    agg, base = [], []
    findings = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        for text in texts:
            json.loads(text)
        base.append(time.perf_counter() - started)
        seconds, findings = aggregate(rows)
        agg.append(seconds)
    result = {
        "nodes": args.nodes,
        "aggregate_s": round(statistics.median(agg), 4),
        "json_loads_s": round(statistics.median(base), 4),
        "ratio": round(statistics.median(agg) / statistics.median(base), 2),
        "parse_into_checkresults_s": round(parse_s, 3),
        "skew_findings": findings,
        "goal_s": GOAL_S,
        "pass": statistics.median(agg) <= GOAL_S,
        "cpus": cpus(),
        "load": [load_before, load_average()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"aggregate {args.nodes} reports: {result['aggregate_s']:.3f} s (median of "
            f"{args.rounds}); json.loads of the same reports {result['json_loads_s']:.3f} s "
            f"= {result['ratio']}x; {findings} skew findings; parsing the reports into "
            f"CheckResults {parse_s:.2f} s (as they stream in); goal <= {GOAL_S:g} s: "
            f"{'PASS' if result['pass'] else 'MISS'}; load {result['load']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
