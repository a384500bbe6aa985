"""Pilot tests of the Hardware pane: GPU cards from replayed readings, no driver, a lost GPU,
polling that never overlaps, and the libraries matrix with its cached and fresh check."""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial
from typing import Any

import pytest
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from probes.model import CheckResult, SystemInfo, TargetPython
from tests.fake_nvml import FakeNvml
from tests.support import (
    canned_check,
    fixed_system,
    fixed_target,
    fresh_check_shown,
    make_services,
    screen_text,
    wait_for,
)
from tui.app import MltuiApp
from tui.screens.library_detail import LibraryDetailScreen
from tui.services import NvmlReader
from tui.widgets.gpu_card import GpuCard
from tui.widgets.hardware_pane import HardwarePane
from tui.widgets.libraries_matrix import LibrariesMatrix


def nvml_from(fake: FakeNvml) -> Any:
    """A factory of NvmlSessions over one fake (so a test can change the fake mid-run)."""
    from probes.nvml import NvmlSession

    def open_session() -> NvmlReader:
        return NvmlSession(nvml=fake)

    return open_session


async def test_one_card_per_gpu_with_readings() -> None:
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    gpu_count = len(fake.readings["devices"])
    app = MltuiApp(
        target=fixed_target(), services=make_services(nvml=nvml_from(fake)), refresh=3600
    )
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()
        cards = list(app.query(GpuCard))
        assert len(cards) == gpu_count
        text = screen_text(app)
        assert "GPU 0: NVIDIA A100" in text
        assert "slowdown at" in text
        assert "PCIe" in text and "events" in text
        assert "AMD EPYC 7763" in text  # the injected system reading


async def test_no_driver_is_said_plainly_with_the_explanations() -> None:
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(nvml=nvml_from(FakeNvml.no_driver())),
        refresh=3600,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()  # the frame that shows the reading
        text = screen_text(app)
        assert "No NVIDIA GPU driver" in text
        assert not app.query(GpuCard)


async def test_a_lost_gpu_becomes_a_placeholder_and_the_others_still_read() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    app = MltuiApp(target=fixed_target(), services=make_services(nvml=nvml_from(fake)), refresh=0.1)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        fake.lose_gpu(0)
        drawn = pane.readings_drawn
        await wait_for(pilot, lambda: pane.readings_drawn >= drawn + 2)
        cards = list(app.query(GpuCard))
        assert cards[0].gpu.state == "lost"
        assert cards[1].gpu.state == "ok"
        assert "GPU lost" in screen_text(app)


async def test_polls_never_overlap_and_stop_drawing_while_hidden() -> None:
    active = 0
    most_active = 0
    reads = 0
    lock = threading.Lock()

    def slow_read_system() -> SystemInfo:
        nonlocal active, most_active, reads
        with lock:
            active += 1
            most_active = max(most_active, active)
        time.sleep(0.15)  # waits-for: a read slower than the refresh interval (the point)
        with lock:
            active -= 1
            reads += 1
        return fixed_system()

    app = MltuiApp(
        target=fixed_target(), services=make_services(read_system=slow_read_system), refresh=0.01
    )
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 4)
        await pilot.press("2")
        await wait_for(pilot, lambda: not pane.shown)
        hidden_at, reads_at = pane.readings_drawn, reads
        # Polling goes on while hidden (the history is fed): three more reads, none drawn. A
        # poll starts only after the last reading was handled, so at least two were handled.
        await wait_for(pilot, lambda: reads >= reads_at + 3)
        assert pane.readings_drawn == hidden_at
        await pilot.press("1")
        await wait_for(pilot, lambda: pane.readings_drawn > hidden_at)
    assert most_active == 1


async def test_plus_and_minus_change_the_refresh_interval() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await pilot.press("plus")
        assert pane.interval == 2.0
        await pilot.press("minus", "minus")
        assert pane.interval == 0.5
        await pilot.pause()
        assert "refresh 0.5 s" in screen_text(app)


async def test_cached_check_shows_at_once_with_its_age_then_the_fresh_one() -> None:
    release = asyncio.Event()
    fresh = canned_check()
    fresh.libraries[0].version = "9.9.9"

    async def slow_check(target: TargetPython, **_: Any) -> CheckResult:
        await release.wait()
        return fresh

    app = MltuiApp(
        target=fixed_target(),
        services=make_services(run_check=slow_check, cached=canned_check(), cached_age_s=600),
        refresh=3600,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "(cached)" in screen_text(app))
        await wait_for(pilot, lambda: "1.9.0" in screen_text(app))
        text = screen_text(app)
        assert "checked 10 min ago (cached)" in text
        assert "checking again: 0 of 8 checked" in text
        assert "1.9.0" in text
        release.set()
        await wait_for(pilot, lambda: "9.9.9" in screen_text(app))
        assert "(cached)" not in screen_text(app)


async def test_selecting_a_library_shows_its_probe_result_and_fix() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        matrix = app.query_one(LibrariesMatrix)
        matrix.focus()
        torch_row = matrix.get_row_index("torch")
        matrix.move_cursor(row=torch_row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LibraryDetailScreen))
        text = screen_text(app)
        assert "2.13.0+cpu" in text
        assert "CPU-only build" in text
        assert "download.pytorch.org" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LibraryDetailScreen)


async def test_the_real_check_of_one_library_fills_its_row(cache_in_tmp: Any) -> None:
    """No canned result: the real probe of scikit-learn runs in a subprocess of this Python."""
    from probes.catalog import get_library
    from probes.check import run_check
    from tui.services import default_services

    services = default_services()
    services.run_check = partial(
        run_check, specs=[get_library("sklearn")], nvml=FakeNvml.no_driver()
    )
    services.open_nvml = nvml_from(FakeNvml.no_driver())
    app = MltuiApp(target=fixed_target(), services=services, refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot,
            lambda: app.check_state is not None and app.check_state.result is not None,
            timeout=120,
        )
        report = app.check_state.reports()["sklearn"]  # type: ignore[union-attr]
        assert report.status == "ok"
        import importlib.metadata

        import sklearn  # noqa: F401 - only to read the version the probe must have found

        assert report.version == importlib.metadata.version("scikit-learn")
        await wait_for(pilot, lambda: report.version in screen_text(app))
        assert list(cache_in_tmp.iterdir())  # the check was cached for the next start


async def test_findings_show_under_the_matrix_with_their_fix() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane._check is not None and pane._check.result is not None)
        await pilot.press("l")
        finding = canned_check().findings[0]
        await wait_for(pilot, lambda: finding.title in screen_text(app))
        text = screen_text(app)
        assert "Findings (1)" in text
        assert finding.title in text  # seen without opening a row
        assert "fix" in text and "pip install torch" in text


async def test_l_goes_to_the_matrix_and_enter_opens_the_row() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane._check is not None and pane._check.result is not None)
        matrix = app.query_one(LibrariesMatrix)
        assert not matrix.has_focus
        await pilot.press("l")
        assert matrix.has_focus
        await wait_for(pilot, lambda: "scikit-learn" in screen_text(app))  # scrolled into view
        torch_row = matrix.get_row_index("torch")
        await pilot.press(*["down"] * torch_row, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LibraryDetailScreen))
        assert isinstance(app.screen, LibraryDetailScreen) and app.screen.library == "torch"
        assert "probe result: PyTorch" in screen_text(app)


async def test_no_driver_is_one_sentence_then_what_was_checked() -> None:
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(nvml=nvml_from(FakeNvml.no_driver())),
        refresh=3600,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await wait_for(pilot, lambda: "What was checked:" in screen_text(app))
        text = screen_text(app)
        assert "No NVIDIA GPU driver:" in text
        assert "no NVIDIA driver" not in text  # the probe's own prefix is not said twice
        assert "What was checked:" in text


def test_device_lists_collapse_consecutive_gpus() -> None:
    from tui.widgets.libraries_matrix import device_list

    eight = [("cpu", None), *(("cuda", i) for i in range(8))]
    assert device_list(eight) == "cpu, cuda:0-7"
    assert device_list([("cuda", 0), ("cuda", 2), ("cuda", 3)]) == "cuda:0, cuda:2-3"
    assert device_list([("cpu", None)]) == "cpu"
    assert device_list([]) == ""


def _lines(count: int) -> RenderableType:
    """`count` rows: a heading and a grid of the rest (as the findings are drawn)."""
    grid = Table.grid()
    grid.add_column()
    for row in range(count - 1):
        grid.add_row(f"row {row}")
    return Group(Text("heading"), grid) if count > 1 else Text("heading")


@pytest.mark.parametrize(("first", "second"), [(1, 4), (4, 1), (2, 5), (6, 3)])
async def test_a_second_update_before_the_layout_still_resizes_the_static(
    first: int, second: int
) -> None:
    """At start the findings were set twice in a row (placeholder, then the cached check) and
    kept the placeholder's height: Textual measured the first content in a layout that ran
    between the two updates and reused that measure after the second one."""
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        # The fresh check would draw its own findings over the ones set below.
        await wait_for(pilot, lambda: fresh_check_shown(app))
        await pilot.pause()
        findings = app.query_one("#findings", Static)
        pane._update_static(findings, _lines(first), ("first", first))
        # A layout of the column while the first update's own layout request is still pending
        # (at start another section's update brings one); forced here through Textual's private
        # hooks so that the order is the same on every run.
        assert findings.parent is not None
        findings.parent._clear_arrangement_cache()
        app.screen._refresh_layout()
        assert findings.size.height == first
        pane._update_static(findings, _lines(second), ("second", second))
        await wait_for(pilot, lambda: findings.size.height == second, timeout=5.0)
        await pilot.pause()
        assert findings.size.height == second


async def test_a_check_arriving_while_the_pane_is_taken_down_is_not_a_crash() -> None:
    """The app may quit while the Hardware pane is still being built: its sections are gone
    when the check state changes. That is no NoMatches error, in the matrix or the status."""
    import dataclasses

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: bool(pane.query(LibrariesMatrix)))
        await wait_for(pilot, lambda: app.check_state is not None)
        await pane.query_one(LibrariesMatrix).remove()
        await pane.query_one("#check-status").remove()
        state = app.check_state
        assert state is not None
        app.check_state = dataclasses.replace(state, running=not state.running)
        await pilot.pause()
        assert app.is_running and app.return_code is None
