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
from probes.perf.keep import Kept
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
from tui.perf_view import behind_best, peak_bases
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
        keep_perf=lambda report, _target: saved.append(report) or Kept(report, Path("/saved")),
        **overrides,
    )
    app = MltuiApp(target=target, services=services, refresh=3600)
    app.saved_perf = saved  # type: ignore[attr-defined]
    return app


async def _shown(report: PerfReport, size: tuple[int, int]) -> str:
    """The screen of the Perf pane showing `report`, kept with the check (no run of its own)."""
    target = fixed_target()
    check = replace(canned_check(target), perf=report)
    app = MltuiApp(target=target, services=make_services(check=check), refresh=3600)
    async with app.run_test(size=size) as pilot:
        pane = await _open(pilot)
        await wait_for(pilot, lambda: pane.report is report)
        return screen_text(app)


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
        options = PerfOptions(devices="cuda", seconds=60, libraries=("torch",), force=True)
        report = await run_perf(
            target, options, nvml=fake, cancel=kwargs["cancel"], on_event=kwargs["on_event"]
        )
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
        # The strip goes with the next frame after the run ends.
        await wait_for(pilot, lambda: "NVML, live" not in screen_text(app), 10)
        text = screen_text(app)
        # This machine's torch is a CPU build: a library state, the GPUs not measured (not failed).
        assert "CPU-only build" in text and "skipped" in text


async def test_the_run_kept_with_the_check_is_shown_before_any_run() -> None:
    text = await _shown(canned_report(), (100, 40))
    assert "verdict slow" in text and "gpu-node-07, 2026-11-27T10:00:00Z" in text
    assert "BF16 GEMM" in text and "989 TFLOP/s" in text
    assert "BF16 GEMM 12% below the median of its 2 NVIDIA H100 80GB HBM3 siblings" in text
    assert "power brake active in 100% of samples" in text
    assert "not measured" not in text.lower()


def _lagging_cpu_report() -> PerfReport:
    """The canned report with TensorFlow's CPU GEMM at 13 % of the estimated peak (NumPy's
    figure keeps the CPU healthy)."""
    from probes.perf.judge import judge_device

    report = canned_report()
    cpu = next(d for d in report.devices if d.device == "cpu")
    peak = cpu.peaks["gemm:fp32"].value
    for m in cpu.measurements:
        m.value = (0.13 if m.library == "tensorflow" else 0.8) * peak
    cpu.reasons = []
    judge_device(cpu)
    assert cpu.verdict == "healthy"
    return report


def test_a_library_far_below_the_best_is_explained_and_the_peak_basis_is_said() -> None:
    cpu = next(d for d in _lagging_cpu_report().devices if d.device == "cpu")
    (note,) = behind_best(cpu)
    assert note.startswith("tensorflow FP32 GEMM at 13% of peak: the device is judged by ")
    assert "80%" in note
    (basis,) = peak_bases(cpu)
    assert basis.startswith("peak gemm:fp32: estimated: 8 cores × 3.52 GHz")
    assert "AVX2 + FMA3" in basis  # the assumption behind the estimate


async def test_the_pane_shows_the_cpu_peak_assumption_and_why_healthy_beside_13_percent() -> None:
    text = await _shown(_lagging_cpu_report(), (160, 60))
    assert "tensorflow FP32 GEMM at 13% of peak: the device is judged by" in text
    assert "peak gemm:fp32: estimated: 8 cores" in text and "FMA3" in text


def test_the_cli_shows_the_same_notes() -> None:
    from io import StringIO

    from rich.console import Console

    from tui.cli.perf import render_perf

    out = StringIO()
    Console(file=out, width=200, color_system=None).print(render_perf(_lagging_cpu_report()))
    text = out.getvalue()
    assert "tensorflow FP32 GEMM at 13% of peak: the device is judged by" in text
    assert "peak gemm:fp32: estimated: 8 cores" in text


async def test_run_events_reach_the_pane_as_messages_and_late_ones_are_dropped() -> None:
    """Every event of a run is a typed `Progress` message to the pane (samples posted from a
    thread as the NVML sampler does); news of a run that has ended changes nothing."""
    import threading

    from probes.model import NvmlReport
    from probes.perf.events import GpusRead, LibraryDone, LibraryStarted, Measured, Sampled
    from probes.perf_model import LibraryRun, Measurement, NvmlSample

    gate = asyncio.Event()
    late: list[Any] = []

    async def run(target: Any, _options: Any = None, **kwargs: Any) -> PerfReport:
        on_event = kwargs["on_event"]
        on_event(GpusRead(NvmlReport()))
        on_event(LibraryStarted("numpy"))
        sampler = threading.Thread(
            target=lambda: [on_event(Sampled({0: [NvmlSample(t=i / 10)]})) for i in range(5)]
        )
        sampler.start()
        await asyncio.to_thread(sampler.join)
        on_event(Measured(Measurement("numpy", "cpu", "gemm", "fp32", value=2e11)))
        on_event(LibraryDone(LibraryRun("numpy", "timeout")))
        await gate.wait()
        late.append(on_event)
        return PerfReport(hostname="host")

    seen: list[Any] = []
    app = _app(run_perf=run)
    async with app.run_test(size=(100, 40), message_hook=seen.append) as pilot:
        pane = await _open(pilot)
        await pilot.press("r")
        progress = lambda: [m.event for m in seen if isinstance(m, PerfPane.Progress)]  # noqa: E731
        await wait_for(pilot, lambda: any(isinstance(e, LibraryDone) for e in progress()))
        kinds = [type(e).__name__ for e in progress()]
        assert kinds.count("Sampled") == 5
        assert kinds[:2] == ["GpusRead", "LibraryStarted"] and kinds[-2:] == [
            "Measured",
            "LibraryDone",
        ]
        await wait_for(pilot, lambda: "numpy: timed out" in screen_text(app))
        await wait_for(pilot, lambda: "FP32 GEMM" in screen_text(app))
        gate.set()
        await wait_for(pilot, lambda: pane.report is not None and not pane.running)
        late[0](Measured(Measurement("jax", "cpu", "gemm", "fp32", value=1.0)))
        await wait_for(pilot, lambda: len(progress()) == 10)
        await pilot.pause()
        assert all(m.library != "jax" for m in pane._live)
