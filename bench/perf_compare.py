"""Compare a recorded `mltui perf --json` with NVIDIA's datasheet peaks: what fraction was reached.

    python bench/perf_compare.py gpu-session-out/perf.json [--json]

For every GPU of a product in tests/perf_fixtures.py's datasheet table it prints, per figure,
the best measured value, the peak mltui derived from NVML, the datasheet figure, and the
fractions measured/derived and measured/datasheet. BENCHMARKS.md quotes these after a GPU
session (bench/gpu_session.sh writes the perf.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.model import from_dict
from probes.perf.judge import best_figures
from probes.perf_model import PerfReport
from tests.perf_fixtures import datasheet_for


def compare(report: PerfReport) -> list[dict[str, Any]]:
    """One row per GPU figure: measured, derived peak, datasheet, and the two fractions."""
    rows: list[dict[str, Any]] = []
    for device in report.devices:
        if device.device == "cpu":
            continue
        datasheet = datasheet_for(device.name) or {}
        for _key, m in sorted(best_figures(device).items()):
            sheet = datasheet.get(m.key)
            rows.append(
                {
                    "device": device.device,
                    "name": device.name,
                    "figure": m.label,
                    "library": m.library,
                    "measured": m.value,
                    "derived_peak": m.peak,
                    "datasheet": sheet,
                    "of_derived": m.ratio,
                    "of_datasheet": round(m.value / sheet, 4) if sheet and m.value else None,
                    "verdict": device.verdict,
                }
            )
    return rows


def main() -> int:
    """Print the comparison of one perf.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("perf_json")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = from_dict(PerfReport, json.loads(Path(args.perf_json).read_text()))
    rows = compare(report)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{report.hostname} {report.created_at}: verdict {report.verdict}")
    for row in rows:
        sheet = f"{row['datasheet']:.4g}" if row["datasheet"] else "n/a"
        of_sheet = f"{row['of_datasheet']:.0%}" if row["of_datasheet"] else "n/a"
        of_derived = f"{row['of_derived']:.0%}" if row["of_derived"] else "n/a"
        print(
            f"{row['device']} {row['figure']:<22} {row['library']:<10} "
            f"{row['measured']:.4g}  derived {row['derived_peak'] or 0:.4g} ({of_derived})  "
            f"datasheet {sheet} ({of_sheet})"
        )
    if report.allreduce is not None and report.allreduce.value:
        print(
            f"all-reduce {report.allreduce.device}: bus bandwidth {report.allreduce.value:.4g} B/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
