"""What watching a perf run costs the dashboard: its process's CPU with the Perf pane showing the
live NVML strip of 8 GPUs (sampled at 10 Hz, the screen refreshed at 4 Hz), against the same app
idle on the same pane, in alternating windows.

The GPUs are the recorded 8x H100 readings replayed through the fake binding (no GPU here), and
the run is held open without load processes, so the figure is mltui's own cost: the sampler
thread and the pane's drawing (headless: Textual renders, nothing is written to a terminal).
Goal: < 2 % of one core above idle.

    python bench/perf_pane.py [--window-s S] [--rounds N] [--json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.nvml import NvmlSession
from probes.perf.events import GpusRead, Sampled
from probes.perf.sampler import NvmlSampler
from probes.perf_model import PerfReport
from tests.perf_fixtures import node, under_load
from tests.support import canned_check, fixed_target, make_services, wait_for
from tui.app import MltuiApp
from tui.widgets.perf_pane import PerfPane


def _held_run(gpus: int) -> Any:
    """A perf runner that only samples NVML (8 replayed GPUs) until cancelled."""

    async def run(target: Any, _options: Any = None, **kwargs: Any) -> PerfReport:
        fake = node(count=gpus, product="h100_sxm")
        for index in range(gpus):
            under_load(fake, index)
        on_event = kwargs["on_event"]
        cancel: asyncio.Event = kwargs["cancel"]
        with NvmlSession(fake) as session:
            report = session.read()
            on_event(GpusRead(report))
            sampler = NvmlSampler(
                session, report.gpus, on_readings=lambda readings: on_event(Sampled(readings))
            )
            sampler.start()
            await cancel.wait()
            await asyncio.to_thread(sampler.stop)
        return PerfReport(hostname="bench", cancelled=True)

    return run


async def measure(window_s: float, rounds: int, gpus: int) -> dict[str, Any]:
    """Alternate idle and live windows on the Perf pane; CPU share of one core in each."""
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(check=canned_check(fixed_target()), run_perf=_held_run(gpus)),
        refresh=3600,
    )
    idle: list[float] = []
    live: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and not app.check_state.running)
        await pilot.press("5")
        await wait_for(pilot, lambda: bool(app.query(PerfPane)))
        pane = app.query_one(PerfPane)
        for _ in range(rounds):
            await pilot.pause(0.5)
            before, started = time.process_time(), time.monotonic()
            await asyncio.sleep(window_s)
            idle.append(100 * (time.process_time() - before) / (time.monotonic() - started))
            await pilot.press("r")
            await wait_for(pilot, lambda: pane.running)
            await pilot.pause(0.5)
            before, started = time.process_time(), time.monotonic()
            draws = pane.draws
            await asyncio.sleep(window_s)
            live.append(100 * (time.process_time() - before) / (time.monotonic() - started))
            drawn = pane.draws - draws
            await pilot.press("c")
            await wait_for(pilot, lambda: not pane.running)
    return {
        "gpus": gpus,
        "window_s": window_s,
        "idle_percent": [round(v, 2) for v in idle],
        "live_percent": [round(v, 2) for v in live],
        "extra_median_percent": round(statistics.median(live) - statistics.median(idle), 2),
        "draws_in_last_window": drawn,
    }


def main() -> int:
    """Print the figures (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.window_s, args.rounds, args.gpus))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    extra = figures["extra_median_percent"]
    print(
        f"Perf pane, live strip of {figures['gpus']} GPUs: {figures['live_percent']} % of a core; "
        f"idle on the pane {figures['idle_percent']} %; extra (medians) {extra} % "
        f"({figures['draws_in_last_window']} draws in the last {figures['window_s']} s window); "
        f"goal < 2 %: {'PASS' if extra < 2 else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
