"""What the dashboard's first frame holds, and what it does not redo while it starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from textual.app import ComposeResult

from probes.model import NvmlReport
from tests.support import fixed_system, fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.services import NvmlReader
from tui.widgets.hardware_pane import HardwarePane
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.processes_table import ProcessesTable


class HeldNvml:
    """An NVML that answers only when the test lets it (a slow driver)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def read(self, *, with_processes: bool = True) -> NvmlReport:
        """Wait for the test, then say there is no driver."""
        self.release.wait(30)
        return NvmlReport(status="no_driver", reason="held by the test")

    def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave the poll's thread waiting


async def test_the_cpu_and_memory_are_in_the_first_frame_before_nvml_answers(
    release: threading.Event,
) -> None:
    def open_nvml() -> NvmlReader:
        return HeldNvml(release)

    app = MltuiApp(target=fixed_target(), services=make_services(nvml=open_nvml), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(HardwarePane)
        text = screen_text(app)
        assert pane.readings_drawn == 0  # NVML has not answered: no poll has been drawn
        assert fixed_system().cpu.model in text
        assert "reading the GPUs..." in text
        # The GPU processes come after the first frame, and are then shown as usual.
        await wait_for(pilot, lambda: app.query(ProcessesTable))
        release.set()
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await wait_for(pilot, lambda: "held by the test" in screen_text(app))


async def test_the_footer_composes_its_keys_once_while_the_app_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    composed: list[int] = []
    compose = KeysFooter.compose

    def counting(self: KeysFooter) -> ComposeResult:
        keys = list(compose(self))
        if keys:
            composed.append(len(keys))
        yield from keys

    monkeypatch.setattr(KeysFooter, "compose", counting)
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await wait_for(pilot, lambda: app.check_state and app.check_state.result is not None)
        await wait_for(pilot, lambda: "l Libraries" in screen_text(app).splitlines()[-1])
        assert len(composed) == 1, composed
        # A change of the keys shown still composes them again.
        await pilot.press("2")
        await wait_for(pilot, lambda: "a Run all" in screen_text(app).splitlines()[-1])
        assert len(composed) == 2, composed
