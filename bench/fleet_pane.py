"""How fast the Fleet pane answers a key press with 1,000 node rows.

The real FleetPane runs under Textual's Pilot (headless, 120x40) in a host app with the
dashboard's stylesheet, filled with 1,000 rows built as bench/fleet.py builds them (this
machine's real check, the recorded H100 readings, some nodes varied, 1 % unreachable). Each
press (`f` filter, `s` sort, `r` reverse, in turn) is posted as the terminal driver posts it and
timed until the pane has changed and a screen refresh has followed. Baseline in the same run,
interleaved: the same presses on the same pane holding 10 rows. Goal: the median with 1,000 rows
< 100 ms (the 90th percentile is reported too).

    .venv/bin/python bench/fleet_pane.py [--rows 1000] [--presses 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pty import cpus, load_average
from fleet import local_check, parse_all, rows_of, synthetic_texts

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.model import NodeResult
from tui.presentation import dashboard_theme
from tui.widgets.fleet_pane import FleetPane

GOAL_MS = 100.0
ROOT = Path(__file__).resolve().parent.parent


class Host(App[None]):
    """Two Fleet panes, one above the other, with the dashboard's stylesheet: 10 rows, 1,000."""

    CSS_PATH = str(ROOT / "tui" / "app.tcss")

    def __init__(self) -> None:
        super().__init__()
        self.console.push_theme(dashboard_theme(self.get_css_variables()))

    def compose(self) -> ComposeResult:
        yield FleetPane(id="small")
        yield FleetPane(id="big")


def _state(pane: FleetPane) -> tuple[str, str, bool]:
    return (pane.filter, pane.sort_column, pane.sort_reverse)


async def _press(app: Host, pane: FleetPane, key: str) -> float:
    """Seconds from posting `key` to the refresh after the pane changed."""
    before = _state(pane)
    shown = asyncio.Event()
    started = time.perf_counter()
    app.post_message(events.Key(key, key))
    deadline = started + 30
    while _state(pane) == before:
        if time.perf_counter() > deadline:
            raise SystemExit(f"key {key!r} changed nothing")
        await asyncio.sleep(0.001)
    app.screen.call_after_refresh(shown.set)
    await asyncio.wait_for(shown.wait(), timeout=30)
    return time.perf_counter() - started


def _fill(pane: FleetPane, rows: list[NodeResult]) -> None:
    pane.begin(FleetAggregate("slurm", f"{len(rows)} synthetic nodes"))
    for row in rows:
        pane.add_node(row)
    pane.refresh_skew()


async def _measure(rows: list[NodeResult], presses: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"big": [], "small": []}
    keys = ["f", "s", "r"]
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        panes = {
            "small": app.query_one("#small", FleetPane),
            "big": app.query_one("#big", FleetPane),
        }
        _fill(panes["small"], rows[:10])
        _fill(panes["big"], rows)
        await pilot.pause(0.2)
        for round_ in range(presses):
            key = keys[round_ % len(keys)]
            for label in ("small", "big"):
                pane = panes[label]
                pane.table.focus()
                await pilot.pause(0.05)
                timings[label].append(await _press(app, pane, key))
                await asyncio.sleep(0.05)
    return timings


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = rows_of(parse_all(synthetic_texts(local_check(), args.rows)))
    load_before = load_average()
    timings = asyncio.run(_measure(rows, args.presses))
    big = statistics.median(timings["big"]) * 1000
    small = statistics.median(timings["small"]) * 1000
    result: dict[str, Any] = {
        "rows": args.rows,
        "median_ms": round(big, 1),
        "p90_ms": round(_p90(timings["big"]) * 1000, 1),
        "baseline_10_rows_ms": round(small, 1),
        "ratio": round(big / small, 2) if small else None,
        "goal_ms": GOAL_MS,
        "pass": big < GOAL_MS,
        "cpus": cpus(),
        "load": [load_before, load_average()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"Fleet pane key press with {args.rows} rows: median {big:.1f} ms, p90 "
            f"{result['p90_ms']} ms; with 10 rows {small:.1f} ms = {result['ratio']}x; "
            f"goal < {GOAL_MS:g} ms: {'PASS' if result['pass'] else 'MISS'}; load {result['load']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
