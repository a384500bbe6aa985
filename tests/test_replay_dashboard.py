"""The dashboard on a recorded machine: MLTUI_REPLAY reaches the Hardware pane's NVML reading.

The pane opens NVML the way the real dashboard does (`NvmlSession()`, no fake passed in), so
what it shows comes through probes.replay's one mechanism, as `mltui` itself would read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.nvml import NvmlSession
from probes.replay import REPLAY_VARIABLE, STATE_VARIABLE
from tests.support import fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.widgets.gpu_card import GpuCard
from tui.widgets.hardware_pane import HardwarePane

GPUS = Path(__file__).resolve().parent / "fixtures" / "gpus"


@pytest.mark.parametrize(
    ("machine", "count", "first"),
    [
        ("h100-sxm-8", 8, "GPU 0: NVIDIA H100 80GB HBM3"),
        ("a100-mig", 2, "GPU 0: NVIDIA A100-SXM4-80GB"),
        ("rtx-pro-6000", 1, "GPU 0: NVIDIA RTX PRO 6000 Blackwell Server Edition"),
    ],
)
async def test_the_hardware_pane_shows_the_recorded_machine(
    machine: str, count: int, first: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REPLAY_VARIABLE, str(GPUS / f"{machine}.json"))
    monkeypatch.setenv(STATE_VARIABLE, str(tmp_path))
    app = MltuiApp(
        target=fixed_target(), services=make_services(open_nvml=NvmlSession), refresh=3600
    )
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()
        assert len(list(app.query(GpuCard))) == count
        assert first in screen_text(app)
