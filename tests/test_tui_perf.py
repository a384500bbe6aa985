"""The Perf pane under Textual's pilot: a real CPU run, cancel, the live NVML strip, the kept run.

The CPU runs are real (`mltui perf` on this machine's libraries); the GPU run replays two H100s
under load through the fake NVML while this machine's CPU-only torch fails on them, so the strip
shows real sampling of the replayed readings during a real run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from probes.perf import PerfOptions, run_perf
from probes.perf_model import PerfReport
from tests.fake_nvml import FakeNvml
from tests.perf_fixtures import (
    POWER_BRAKE,
    canned_report,
    carrying,
    marked_environment,
    node,
    under_load,
)
from tests.support import canned_check, fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.widgets.perf_pane import PerfPane

MARKER = "MLTUI_TUI_PERF_MARKER"


@pytest.fixture
def marker() -> Iterator[str]:
    """An environment marker inherited by every load process; none may outlive the test."""
    yield from marked_environment(MARKER)


def _carrying(word: str) -> list[psutil.Process]:
    return carrying(MARKER, word)


def _cpu_only(options: PerfOptions | None = None) -> Any:
    """A perf runner on this machine's CPU (NVML: no driver), as the dashboard would call it."""

    async def run(target: Any, _options: Any = None, **kwargs: Any) -> PerfReport:
        chosen = options or PerfOptions(devices="cpu", seconds=90)
        return await run_perf(target, chosen, nvml=FakeNvml.no_driver(), **kwargs)

    return run


def _app(**overrides: Any) -> MltuiApp:
    target = fixed_target()
    saved: list[PerfReport] = []
    services = make_services(
        check=canned_check(target),
        save_perf=lambda report, _target: saved.append(report) or Path("/saved"),
        **overrides,
    )
    app = MltuiApp(target=target, services=services, refresh=3600)
    app.saved_perf = saved  # type: ignore[attr-defined]
    return app


async def _open(pilot: Any) -> PerfPane:
    app = pilot.app
    await wait_for(pilot, lambda: app.check_state is not None and not app.check_state.running)
    await pilot.press("5")
    await wait_for(pilot, lambda: app.query(PerfPane) and app.query_one(PerfPane).is_mounted)
    return app.query_one(PerfPane)


@pytest.mark.frameworks
async def test_a_real_cpu_run_shows_bars_comparison_and_verdict(
    marker: str, cache_in_tmp: Path
) -> None:
    app = _app(run_perf=_cpu_only())
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _open(pilot)
        await wait_for(pilot, lambda: "Not measured yet" in screen_text(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: pane.running)
        # Figures appear as they are measured, before the run ends.
        await wait_for(pilot, lambda: "FP32 GEMM" in screen_text(app) and pane.running, 90)
        assert "c: cancel" in screen_text(app)
        await wait_for(pilot, lambda: pane.report is not None and not pane.running, 120)
        text = screen_text(app)
        assert "verdict " in text and "cpu" in text
        assert "the same matrix multiply in every library (cpu)" in text
        for library in ("numpy", "torch", "tensorflow", "jax"):
            assert library in text
        assert "% of peak" in text and "~" in text  # the CPU's peak is an estimate
        # The run joins the check (the Knowledge comparison reads it) and is kept.
        await wait_for(pilot, lambda: app.check_state.result.perf is pane.report)
        await wait_for(pilot, lambda: app.saved_perf == [pane.report])  # type: ignore[attr-defined]


@pytest.mark.frameworks
async def test_cancel_kills_the_load_and_keeps_what_was_measured(
    marker: str, cache_in_tmp: Path
) -> None:
    app = _app(run_perf=_cpu_only())
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _open(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(_carrying(marker)) >= 2, 60)  # load processes run
        started = time.monotonic()
        await pilot.press("c")
        await wait_for(pilot, lambda: pane.report is not None and not pane.running, 15)
        assert time.monotonic() - started < 8
        report = pane.report
        assert report is not None and report.cancelled and report.verdict != "healthy"
        assert "cancelled" in screen_text(app)


@pytest.mark.frameworks
async def test_the_live_strip_shows_each_gpu_while_the_load_runs(marker: str) -> None:
    fake = node(count=2, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1980, power_w=640)
    under_load(fake, 1, sm_mhz=1100, power_w=700, reasons=POWER_BRAKE)
    gate = asyncio.Event()

    async def run(target: Any, _options: Any = None, **kwargs: Any) -> PerfReport:
        on_event = kwargs["on_event"]

        def hold(kind: str, payload: Any) -> None:
            on_event(kind, payload)

        options = PerfOptions(devices="cuda", seconds=60, libraries=("torch",), force=True)
        report = await run_perf(target, options, nvml=fake, cancel=kwargs["cancel"], on_event=hold)
        await gate.wait()  # the test reads the strip before the run is shown as ended
        return report

    app = _app(run_perf=run)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _open(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: "NVML, live" in screen_text(app), 60)
        await wait_for(pilot, lambda: "GPU 1" in screen_text(app), 10)
        text = screen_text(app)
        assert "SM 1980/1980 MHz" in text and "640/700 W" in text
        assert "SM 1100/1980 MHz" in text and "hardware power brake slowdown" in text
        gate.set()
        await wait_for(pilot, lambda: pane.report is not None and not pane.running, 60)
        text = screen_text(app)
        assert "NVML, live" not in text
        assert "torch sees no CUDA device" in text and "failed" in text


async def test_the_run_kept_with_the_check_is_shown_before_any_run() -> None:
    report = canned_report()
    target = fixed_target()
    check = replace(canned_check(target), perf=report)
    app = MltuiApp(target=target, services=make_services(check=check), refresh=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _open(pilot)
        await wait_for(pilot, lambda: pane.report is report)
        text = screen_text(app)
        assert "verdict slow" in text and "gpu-node-07, 2026-11-27T10:00:00Z" in text
        assert "BF16 GEMM" in text and "989 TFLOP/s" in text
        assert "BF16 GEMM 12% below the median of its 2 NVIDIA H100 80GB HBM3 siblings" in text
        assert "power brake active in 100% of samples" in text
        assert "not measured" not in text.lower()
